//! `poll` and `watch`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::profile::{Global, Profile, TransportKind};
use crate::progress::Progress;
use crate::session::{self, Session};

/// Options of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Pause between polls, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub interval: u64,
    /// Stop after this many polls (default: until interrupted).
    #[arg(long, value_name = "N")]
    pub polls: Option<u64>,
}

/// Polls once and prints what arrived.
async fn poll_once(s: &mut Session) -> anyhow::Result<()> {
    let events = s.client.poll().await?;
    s.print_events(&events);
    if events.is_empty() && !s.json() {
        println!("nothing new");
    }
    s.outbox_note();
    Ok(())
}

fn polling(global: &Global) -> Progress {
    Progress::boxes(None, "polling", global.json)
}

/// `poll`
pub fn poll(global: &Global) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        Some(polling(global)),
        |_| Ok(()),
        async |s, ()| poll_once(s).await,
    )
}

/// `watch`: polls until interrupted, opening the profile only while polling so other commands
/// on the same profile (a `post` from another terminal) can run in between.
pub fn watch(global: &Global, a: WatchArgs) -> anyhow::Result<ExitCode> {
    // Fail early on a missing profile or courier (kpclientd has a default address).
    let profile = Profile::existing(global)?;
    if global.transport == TransportKind::Simulator {
        profile.courier_url(global)?;
    }
    if !global.json {
        eprintln!("watching; Ctrl-C to stop");
    }
    let rt = session::runtime()?;
    // One SIGINT stream for the whole run, so a Ctrl-C during a poll is not lost. Stopping in
    // the middle of a poll is safe: each round is stored atomically, and a persisted operation
    // resumes on the next command.
    let mut interrupt = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    })?;
    let mut n = 0u64;
    loop {
        let interrupted = rt.block_on(async {
            tokio::select! {
                r = session::online_in(global, Some(polling(global)), |_| Ok(()), async |s, ()| {
                    let events = s.client.poll().await?;
                    s.print_events(&events);
                    s.outbox_note();
                    Ok(())
                }) => {
                    // A courier that went away may come back: say so and keep watching.
                    if let Err(e) = r {
                        let line = format!("{e:#}").replace('\n', " ");
                        eprintln!("bacap-chat: {}", crate::safe_text::safe(&line));
                    }
                    false
                }
                _ = interrupt.recv() => true,
            }
        });
        n += 1;
        if interrupted || a.polls.is_some_and(|max| n >= max) {
            return Ok(ExitCode::SUCCESS);
        }
        let interrupted = rt.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => true,
                _ = tokio::time::sleep(Duration::from_millis(a.interval)) => false,
            }
        });
        if interrupted {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
