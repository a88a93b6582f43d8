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
    /// A group chat vector file in the format of katzenqt's output (katzenqt-groupchat.json):
    /// messages, membership hashes and box framing.
    Groupchat {
        /// The vector file.
        file: PathBuf,
    },
    /// A sealed-cap vector file (sealed-cap.json): ReadCaps sealed with HPKE to a member's key,
    /// each to be opened, or refused when the case says so.
    Sealed {
        /// The vector file.
        file: PathBuf,
    },
}

/// A vector file checker.
type Checker = fn(&str) -> Result<Report, testvectors::LoadError>;

pub fn run(kind: Kind) -> anyhow::Result<ExitCode> {
    let (file, kind_name, check): (PathBuf, &str, Checker) = match kind {
        Kind::Bacap { file } => (file, "bacap", testvectors::bacap_vectors::check_json),
        Kind::Groupchat { file } => (
            file,
            "groupchat",
            testvectors::groupchat_vectors::check_json,
        ),
        Kind::Sealed { file } => (file, "sealed-cap", testvectors::sealed_vectors::check_json),
    };
    let json = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let report = check(&json)
        .with_context(|| format!("{} is not a {kind_name} vector file", file.display()))?;
    Ok(print_report(&report, kind_name))
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
