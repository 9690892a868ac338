//! Parses the command line, starts logging, runs the command. No logic lives here.

use std::process::ExitCode;

use clap::Parser;
use intake::cli::{Cli, Command};

/// mimalloc instead of the system allocator: request buffers are allocated on HTTP workers
/// and freed on the writer thread, where glibc's per-arena locks cost more, and it returns
/// argon2's 19 MiB working memory promptly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A one-shot command whose reader has gone (`intake incidents list | head -1`) ends at once
/// and quietly, as Unix tools do, instead of failing on its next write. The server keeps
/// Rust's default (SIGPIPE ignored), so a client closing a socket never stops it.
fn quiet_on_closed_pipe() {
    // SAFETY: restoring a signal's default disposition, before any other thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_on_closed_pipe();
    }
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
