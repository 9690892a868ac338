//! Parses the command line, starts logging, runs the command. No logic lives here.

use std::process::ExitCode;

use clap::Parser;
use intake::cli::{Cli, Command};

/// mimalloc instead of the system allocator: request buffers are allocated on HTTP workers
/// and freed on the writer thread, where glibc's per-arena locks cost more, and it returns
/// argon2's 19 MiB working memory promptly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs requests at info; one-shot commands stay quiet unless something is wrong.
    let level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    match intake::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
