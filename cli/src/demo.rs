//! `bacap-chat demo`: a writer and a reader exchange boxes through storage, end to end.

use std::process::ExitCode;

use anyhow::{bail, Context};
use bacap::store::{BoxStore, MemoryStore, ReadOutcome, WriteOutcome};
use bacap::{Geometry, Opened, ReadCap, StatefulReader, StatefulWriter, WriteCap};
use clap::Args as ClapArgs;
use rand_core::OsRng;

/// Options of the demo.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// How many messages the writer sends.
    #[arg(long, default_value_t = 5)]
    messages: usize,
}

const CTX: &[u8] = b"bacap-chat-demo";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = MemoryStore::new(Geometry::default());
    runtime.block_on(exchange(&store, args.messages))?;
    Ok(ExitCode::SUCCESS)
}

async fn exchange(store: &dyn BoxStore, count: usize) -> anyhow::Result<()> {
    let cap = WriteCap::generate(&mut OsRng);
    // The ReadCap travels to the reader as its 136-byte encoding.
    let shared = cap.read_cap().to_bytes();
    let mut writer = StatefulWriter::new(cap, CTX);
    let mut reader = StatefulReader::new(ReadCap::from_bytes(shared.as_ref())?, CTX);
    println!(
        "writer: stream starts at index {}",
        writer.next_index().idx()
    );

    let sent: Vec<String> = (1..=count)
        .map(|i| format!("message {i} of {count}"))
        .collect();
    for text in &sent {
        let sealed = writer.prepare_next(text.as_bytes());
        match store.write(&sealed).await.context("write")? {
            WriteOutcome::Stored | WriteOutcome::AlreadyExists { identical: true } => {
                writer.advance()?
            }
            other => bail!("storage did not accept box {:?}: {other:?}", sealed.box_id),
        }
        println!(
            "writer: stored {:?} ({} bytes on the wire)",
            sealed.box_id,
            sealed.payload.len()
        );
    }

    let mut received = Vec::new();
    loop {
        let id = reader.next_box_id();
        match store.read(&id).await.context("read")? {
            ReadOutcome::NotFound => break,
            ReadOutcome::Found(b) | ReadOutcome::Tombstone(b) => {
                match reader.decrypt_next(&b.signature, &b.payload)? {
                    Opened::Message(pt) => {
                        let text = String::from_utf8_lossy(&pt).into_owned();
                        println!("reader: {id:?} -> {text:?}");
                        received.push(text);
                    }
                    Opened::Tombstone => println!("reader: {id:?} was deleted"),
                }
            }
        }
    }
    if received != sent {
        bail!(
            "the reader got {} of {} messages",
            received.len(),
            sent.len()
        );
    }
    println!("demo: all {count} messages arrived intact and in order");
    Ok(())
}
