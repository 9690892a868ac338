//! Parses the command line, starts logging, runs the command. No logic lives here.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_on_closed_pipe();
    }
    // The server logs requests at info; one-shot commands stay quiet unless something is wrong.
    let level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    intake::logging::init(cli.log_format, level);
    match intake::cli::run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
