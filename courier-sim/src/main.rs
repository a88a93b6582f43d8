//! `courier-sim`: the Pigeonhole courier simulator, and its load generator.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use clap::{Parser, Subcommand};
use courier_sim::loadgen::{self, LoadgenArgs};
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
    /// Load a simulator with concurrent writers and batch readers and print the figures.
    Loadgen(LoadgenArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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

/// Turns transparent huge pages off for this process. mimalloc asks for them on the 1-GiB arena
/// it reserves (`madvise(MADV_HUGEPAGE)`), and the kernel then faults its memory in 2 MiB at a
/// time, zeroing (and, to find free huge pages, compacting memory) in the thread that touched
/// it: while the heap grows, early in a run, queries wait for that (docs/perf-history.md).
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!("transparent huge pages stay on: {e}");
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    disable_transparent_huge_pages();
    match cli.command {
        Command::Serve(config) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let server = courier_sim::serve(config).await?;
                // Scripts and tests read the bound address (useful with port 0) from stdout.
                println!("listening on {}", server.url());
                wait_for_signal().await;
                server.shutdown().await
            })
        }
        Command::Loadgen(args) => {
            let report = loadgen::run(&args)?;
            println!(
                "courier-sim loadgen: {} writers, {} readers (batch {}), {} server, {} client",
                args.writers,
                args.readers,
                args.batch,
                args.url.as_deref().unwrap_or("embedded"),
                args.client.name()
            );
            println!("{report}");
            if args.per_second {
                print!("{}", report.per_second_table());
            }
            if report.write_errors + report.read_errors > 0 {
                anyhow::bail!("the run had errors");
            }
            Ok(())
        }
    }
}
