//! `bacap-chat demo`: two parties exchange messages through the bundled courier simulator,
//! started on an ephemeral loopback port with simulated mixnet latency and loss.

use std::process::ExitCode;

use anyhow::{bail, Context};
use bacap::store::{BoxStore, HttpStore};
use bacap::stream::{StreamReader, StreamWriter};
use bacap::{Geometry, ReadCap, StatefulWriter, WriteCap};
use clap::Args as ClapArgs;
use rand_core::OsRng;

/// Options of the demo.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// How many short messages the writer sends.
    #[arg(long, default_value_t = 5)]
    messages: usize,
    /// Size of the one long message (spanning many boxes), in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 24)]
    long_kib: usize,
    /// Simulated mixnet latency of every reply, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    latency: u64,
    /// Probability that a reply is lost and the query must be resent.
    #[arg(long, default_value_t = 0.1)]
    loss: f64,
    /// Seed of the simulated faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

const CTX: &[u8] = b"bacap-chat-demo";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = courier_sim::Config::ephemeral();
        config.latency = args.latency;
        config.jitter = args.latency / 2;
        config.loss = args.loss;
        config.seed = args.seed;
        let server = courier_sim::serve(config)
            .await
            .context("starting the bundled courier")?;
        println!(
            "courier: simulator on {} ({} ms latency, {:.0}% of replies lost)",
            server.url(),
            args.latency,
            args.loss * 100.0
        );
        let store = HttpStore::new(&server.url())?;
        let result = exchange(&store, &args).await;
        server.shutdown().await?;
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn exchange(store: &dyn BoxStore, args: &Args) -> anyhow::Result<()> {
    let geometry = Geometry::default();
    let cap = WriteCap::generate(&mut OsRng);
    // The ReadCap travels to the reader as its 136-byte encoding.
    let shared = cap.read_cap().to_bytes();
    let mut writer = StreamWriter::new(StatefulWriter::new(cap, CTX), geometry);
    let mut reader = StreamReader::new(ReadCap::from_bytes(shared.as_ref())?, CTX);
    println!(
        "alice: stream starts at index {}",
        writer.writer().next_index().idx()
    );

    let mut sent: Vec<Vec<u8>> = (1..=args.messages)
        .map(|i| format!("message {i} of {}", args.messages).into_bytes())
        .collect();
    let long: Vec<u8> = (0..args.long_kib * 1024).map(|i| (i % 251) as u8).collect();
    sent.insert(sent.len() / 2, long);
    for message in &sent {
        writer
            .send(store, &mut OsRng, message)
            .await
            .context("sending")?;
        if message.len() < geometry.box_plaintext_len {
            println!("alice: sent {:?}", String::from_utf8_lossy(message));
        } else {
            let boxes = message.len().div_ceil(geometry.box_plaintext_len - 1);
            println!(
                "alice: sent a {} byte message as {boxes} boxes in one all-or-nothing copy",
                message.len()
            );
        }
    }

    let mut received = Vec::new();
    while let Some(message) = reader.poll(store).await.context("polling")? {
        if message.len() < geometry.box_plaintext_len {
            println!("bob:   got  {:?}", String::from_utf8_lossy(&message));
        } else {
            println!("bob:   got  a {} byte message", message.len());
        }
        received.push(message.to_vec());
    }
    if received != sent {
        bail!(
            "bob got {} of {} messages intact",
            received.iter().zip(&sent).filter(|(a, b)| a == b).count(),
            sent.len()
        );
    }
    println!(
        "demo: all {} messages arrived intact and in order",
        sent.len()
    );
    Ok(())
}
