//! Process-wide settings shared by the courier's binaries (`courier-sim` and
//! `courier-loadgen`): logging, transparent huge pages, and how an error ends the process.

use std::process::ExitCode;

/// Logs to stderr at the level `RUST_LOG` asks for (default: info).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Turns transparent huge pages off for this process. mimalloc asks for them on the arena it
/// reserves, and faulting in 2-MiB pages stalls query threads while the heap grows (figures in
/// `docs/perf-history.md`).
pub fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!("transparent huge pages stay on: {e}");
    }
}

/// The exit of a binary named `program` that ends with `result`: on an error, its chain of
/// causes on one line of stderr (`program: what: why`) and exit status 1. Never a backtrace,
/// whatever `RUST_BACKTRACE` says: an error is for the person who ran the program.
pub fn exit(program: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// `e` and its causes on one line, as `{:#}` writes them, with any line break inside a message
/// turned into a space.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_is_one_line_without_a_backtrace() {
        let e = anyhow::anyhow!("no such\naddress").context("starting the courier");
        assert_eq!(one_line(&e), "starting the courier: no such address");
    }
}
