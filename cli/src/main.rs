//! `bacap-chat`: group chat over a mixnet, in the Katzenpost style.

#![forbid(unsafe_code)]

mod conformance;
mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Group chat over a mixnet, in the Katzenpost style.
#[derive(Debug, Parser)]
#[command(name = "bacap-chat", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check this implementation against a file of conformance vectors.
    #[command(subcommand)]
    Conformance(conformance::Kind),
    /// Run a short demonstration: a writer and a reader exchanging boxes through storage.
    Demo(demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Conformance(kind) => conformance::run(kind),
        Command::Demo(args) => demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bacap-chat: {e:#}");
            ExitCode::FAILURE
        }
    }
}
