//! Process-wide settings shared by the courier's binaries (`courier-sim` and
//! `courier-loadgen`): logging, and transparent huge pages.

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
