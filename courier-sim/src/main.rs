//! `courier-sim`: the Pigeonhole courier simulator.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use courier_sim::Config;

// The courier allocates a few buffers per query (bodies, replies, decoded boxes) from many
// threads; mimalloc serves that pattern with less CPU than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "courier-sim",
    version,
    about = "A local stand-in for Katzenpost's Pigeonhole couriers and storage replicas",
    after_help = "Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=courier_sim=debug) to change \
                  the level (default: info).\nSee courier-sim/README.md for the HTTP/CBOR protocol."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the simulator until interrupted (Ctrl-C or SIGTERM).
    Serve(Config),
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    courier_sim::process::init_logging();
    courier_sim::process::disable_transparent_huge_pages();
    courier_sim::process::exit("courier-sim", run(cli))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let server = courier_sim::serve(config).await?;
                // Scripts and tests read the bound address (useful with port 0) from stdout.
                println!("listening on {}", server.url());
                wait_for_signal().await;
                server.shutdown().await
            })?;
            Ok(())
        }
    }
}
