//! `bacap-chat conformance`: reproduce a vector file and report every mismatch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use testvectors::Report;

/// Which kind of vector file to check.
#[derive(Debug, Subcommand)]
pub enum Kind {
    /// A BACAP vector file in the format of the Go reference's output (bacap-hpqc.json).
    Bacap {
        /// The vector file.
        file: PathBuf,
    },
}

pub fn run(kind: Kind) -> anyhow::Result<ExitCode> {
    match kind {
        Kind::Bacap { file } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report = testvectors::bacap_vectors::check_json(&json)
                .with_context(|| format!("{} is not a BACAP vector file", file.display()))?;
            Ok(print_report(&report, "bacap"))
        }
    }
}

fn print_report(report: &Report, kind: &str) -> ExitCode {
    for m in &report.mismatches {
        eprintln!("mismatch: {m}");
    }
    println!(
        "{}/{} {kind} vectors reproduced",
        report.reproduced, report.total
    );
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
