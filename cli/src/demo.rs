//! `bacap-chat demo`: three members (alice, bob, carol) chat through the bundled courier
//! simulator, started on an ephemeral loopback port with simulated mixnet latency and loss, or
//! with `--transport katzenpost` through a Katzenpost mixnet's client daemon (kpclientd).
//!
//! Alice creates a group and invites Bob and Carol over 1:1 channels; Bob first asks for a name
//! that is taken and Alice asks him to revise it; Alice approves both. Everyone posts, Bob sends
//! a file spanning many boxes, Carol asks WHO. The demo prints the transcript as each member saw
//! it and succeeds only if every member received every message and the file intact.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chat_client::Client;
use clap::Args as ClapArgs;
use courier_protocol::HttpStore;
use groupchat::channel::{ChannelToken, GroupId};
use groupchat::messages::FileType;
use groupchat::records::Content;
use groupchat::Event;
use pigeonhole::store::BoxStore;
use pigeonhole::transport::{Sealing, Transport};

use crate::output;
use crate::profile::{self, Global, TransportKind};

/// Whether the demo prints JSON lines instead of prose.
static JSON: AtomicBool = AtomicBool::new(false);

/// Prints a line of prose (not with `--json`).
macro_rules! say {
    ($($t:tt)*) => {
        if !JSON.load(Ordering::Relaxed) {
            println!($($t)*);
        }
    };
}

fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Options of the demo.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Size of the file Bob sends, in KiB (a box carries about 1.5 KiB).
    #[arg(long, value_name = "KIB", default_value_t = 24)]
    file_kib: usize,
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

/// Runs the demo over the bundled courier simulator, or with `--transport katzenpost` over a
/// Katzenpost mixnet through kpclientd; with `--json`, prints the events and transcripts as
/// JSON lines (each with the `member` who saw it) and a closing `{"demo": "ok" | "failed"}`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    JSON.store(global.json, Ordering::Relaxed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime
        .block_on(async {
            let dir = tempfile::tempdir().context("making a temporary directory")?;
            let started = Instant::now();
            let ok = match global.transport {
                TransportKind::Simulator => {
                    let mut config = courier_sim::Config::ephemeral();
                    config.latency = args.latency;
                    config.jitter = args.latency / 2;
                    config.loss = args.loss;
                    config.seed = args.seed;
                    let server = courier_sim::serve(config)
                        .await
                        .context("starting the bundled courier")?;
                    say!(
                        "courier: simulator on {} ({} ms latency, {:.0}% of replies lost)",
                        server.url(),
                        args.latency,
                        args.loss * 100.0
                    );
                    let store: Arc<dyn BoxStore> = Arc::new(HttpStore::new(&server.url())?);
                    let transport: Arc<dyn Transport> = Arc::new(Sealing::new(store));
                    let result = chat(transport, true, dir.path(), &args).await;
                    server.shutdown().await?;
                    result?
                }
                TransportKind::Katzenpost => {
                    let transport = profile::katzenpost(global, None)?;
                    transport
                        .connection()
                        .await
                        .context("reaching Katzenpost's client daemon")?;
                    say!(
                        "courier: a Katzenpost mixnet through kpclientd at {} ({}-byte boxes; \
                         every box takes seconds)",
                        transport.addr(),
                        transport.geometry().box_plaintext_len
                    );
                    chat(transport, false, dir.path(), &args).await?
                }
            };
            say!("demo: finished in {:.1} s", started.elapsed().as_secs_f64());
            Ok::<_, anyhow::Error>(ok)
        })
        .map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        })
}

/// Bootstraps a channel: tokens travel as text, as people copy them.
fn connect(a: &mut Client, a_label: &str, b: &mut Client, b_label: &str) -> anyhow::Result<()> {
    let ta = a.make_channel(a_label)?;
    let tb = b.accept_channel(b_label, &ChannelToken::parse(&ta.to_text())?)?;
    a.accept_channel(a_label, &ChannelToken::parse(&tb.to_text())?)?;
    Ok(())
}

/// Polls until a poll finds nothing (at most 10 polls), printing what `who` saw.
async fn settle(who: &str, c: &mut Client) -> anyhow::Result<Vec<Event>> {
    let mut all = Vec::new();
    for _ in 0..10 {
        let ev = c.poll().await.with_context(|| format!("{who} polling"))?;
        if ev.is_empty() {
            break;
        }
        for e in &ev {
            let name_of = |id: &GroupId| {
                c.group_info(id)
                    .map(|g| g.name)
                    .unwrap_or_else(|_| "?".into())
            };
            if json() {
                let mut v = output::event_json(e, &name_of);
                v["member"] = serde_json::json!(who);
                output::emit(v);
            } else {
                println!("{who:>5} sees: {}", output::event_line(e, &name_of));
            }
        }
        all.extend(ev);
    }
    Ok(all)
}

/// The three members' chat over `transport`; `copy_command` says whether a file lands all at
/// once.
async fn chat(
    transport: Arc<dyn Transport>,
    copy_command: bool,
    dir: &Path,
    args: &Args,
) -> anyhow::Result<bool> {
    let mut alice = Client::open(&dir.join("alice"), transport.clone())?;
    let mut bob = Client::open(&dir.join("bob"), transport.clone())?;
    let mut carol = Client::open(&dir.join("carol"), transport.clone())?;
    say!("profiles: alice, bob and carol in {}", dir.display());

    connect(&mut alice, "bob", &mut bob, "alice")?;
    connect(&mut alice, "carol", &mut carol, "alice")?;
    say!("channels: alice-bob and alice-carol, tokens exchanged");
    let group = alice.create_group("demo", "alice")?;
    say!("alice: created group \"demo\"");

    alice.invite(&group, "bob").await?;
    alice.invite(&group, "carol").await?;
    say!("alice: invited bob and carol");
    settle("bob", &mut bob).await?;
    settle("carol", &mut carol).await?;
    bob.accept_invitation(&group, "alice").await?;
    say!("bob: asked to join as \"alice\"");
    carol.accept_invitation(&group, "carol").await?;
    say!("carol: asked to join as \"carol\"");
    settle("alice", &mut alice).await?;
    alice
        .ask_revise(&group, "bob", "alice is taken, please pick another name")
        .await?;
    say!("alice: asked bob to revise his display name");
    alice.approve(&group, "carol").await?;
    say!("alice: approved carol");
    settle("bob", &mut bob).await?;
    bob.accept_invitation(&group, "bob").await?;
    say!("bob: asked to join as \"bob\"");
    settle("alice", &mut alice).await?;
    alice.approve(&group, "bob").await?;
    say!("alice: approved bob");
    for _ in 0..2 {
        settle("bob", &mut bob).await?;
        settle("carol", &mut carol).await?;
        settle("alice", &mut alice).await?;
    }

    let texts = [
        ("alice", "welcome, bob and carol!"),
        ("bob", "thanks alice, hi carol"),
        ("carol", "hello both"),
    ];
    alice.post_text(&group, texts[0].1).await?;
    bob.post_text(&group, texts[1].1).await?;
    carol.post_text(&group, texts[2].1).await?;
    say!("all: posted a text each");
    let file: Vec<u8> = (0..args.file_kib * 1024)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    bob.send_file(&group, "notes.bin", FileType::Arbitrary, file.clone())
        .await?;
    say!(
        "bob: sent notes.bin, {} bytes (about {} boxes, {})",
        file.len(),
        file.len().div_ceil(transport.geometry().box_plaintext_len),
        if copy_command {
            "landing all at once"
        } else {
            "written one by one, the pointer last: no copy command in kpclientd v0.0.70"
        }
    );
    carol.who(&group).await?;
    say!("carol: asked WHO");
    for _ in 0..2 {
        settle("alice", &mut alice).await?;
        settle("bob", &mut bob).await?;
        settle("carol", &mut carol).await?;
    }

    let mut ok = true;
    let hashes: Vec<_> = [&alice, &bob, &carol]
        .iter()
        .map(|c| c.group_info(&group).map(|g| g.membership_hash))
        .collect::<Result<_, _>>()?;
    for (name, c) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        say!("--- transcript as {name} saw it ---");
        let history = c.history(&group)?;
        for e in &history {
            if json() {
                let mut v = output::entry_json("group", &output::gid(&group), e);
                v["member"] = serde_json::json!(name);
                v["transcript"] = serde_json::json!(true);
                output::emit(v);
            } else {
                println!("{}", output::entry_line(e));
            }
        }
        for (sender, text) in texts {
            let got = history.iter().any(|e| {
                e.sender_name == sender && matches!(&e.content, Content::Text(t) if t == text)
            });
            if !got {
                say!("MISSING at {name}: {sender}'s {text:?}");
                ok = false;
            }
        }
        let members = c.group_info(&group)?.members.len();
        if members != 3 {
            say!("WRONG at {name}: {members} members, not 3");
            ok = false;
        }
        if name != "bob" {
            let intact = history.iter().any(|e| match &e.content {
                Content::File { path, .. } if e.sender_name == "bob" && !path.is_empty() => {
                    std::fs::read(path).is_ok_and(|b| b == file)
                }
                _ => false,
            });
            if intact {
                say!("{name}: the file arrived intact");
            } else {
                say!("MISSING at {name}: bob's file, intact");
                ok = false;
            }
        }
    }
    if hashes.iter().any(|h| *h != hashes[0]) {
        say!("WRONG: the members' membership hashes differ");
        ok = false;
    }
    if json() {
        output::emit(serde_json::json!({"demo": if ok { "ok" } else { "failed" }}));
    }
    if ok {
        say!(
            "demo: every member received every message and the file intact; all three agree on \
             the member list"
        );
    } else {
        say!("demo: FAILED");
    }
    drop((alice, bob, carol));
    if !ok {
        bail!("some member missed a message or the file");
    }
    Ok(ok)
}
