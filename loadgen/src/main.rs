//! `courier-loadgen`: loads a courier simulator (embedded, or one at a loopback URL) with
//! concurrent writers and batch readers and prints writes/s, reads/s and latency percentiles.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
#[cfg(test)]
mod end_to_end;
mod generator;

use std::process::ExitCode;

use clap::Parser;

use generator::LoadgenArgs;

// The same allocator as `courier-sim`, so an embedded courier measures as the real one runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Loads a courier simulator with concurrent writers and batch readers and prints the figures.
#[derive(Parser)]
#[command(
    name = "courier-loadgen",
    version,
    after_help = "Logs go to stderr; set RUST_LOG to change the level (default: info).\nSee \
                  courier-sim/README.md for what the figures mean and the commands behind them."
)]
struct Cli {
    #[command(flatten)]
    args: LoadgenArgs,
}

fn main() -> ExitCode {
    let args = Cli::parse().args;
    courier_sim::process::init_logging();
    courier_sim::process::disable_transparent_huge_pages();
    courier_sim::process::exit("courier-loadgen", run(&args))
}

fn run(args: &LoadgenArgs) -> anyhow::Result<()> {
    let report = generator::run(args)?;
    println!(
        "courier-loadgen: {} writers, {} readers (batch {}), {} server, {} client",
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
