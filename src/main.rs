//! Parses the command line, starts logging, runs the command. No logic lives here.

use std::process::ExitCode;

use clap::Parser;
use intake::cli::{Cli, Command};

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
