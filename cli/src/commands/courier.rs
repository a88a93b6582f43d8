//! `courier`: the bundled courier simulator.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::output::emit;
use crate::profile::Global;

/// Runs the courier until Ctrl-C or SIGTERM. Prints `listening on URL` (with `--json`,
/// `{"listening": URL}`) once it accepts queries.
pub fn run(global: &Global, config: courier_sim::Config) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let server = courier_sim::serve(config)
            .await
            .context("starting the courier")?;
        if global.json {
            emit(json!({ "listening": server.url() }));
        } else {
            println!("listening on {}", server.url());
        }
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        server.shutdown().await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
