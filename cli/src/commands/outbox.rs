//! `outbox`: what waits to be sent, sending it, and dropping an entry.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use crate::output::{outbox_json, outbox_what};
use crate::profile::Global;
use crate::session::{self, Session};

/// `outbox` subcommands (none: list).
#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// List what waits, oldest first (the default).
    List,
    /// Send what waits now (each entry tried once; with --wait, fail if any stays).
    Send,
    /// Drop an entry that none of whose boxes can have landed yet.
    Drop {
        /// The entry's number, as `outbox` lists it.
        entry: u64,
    },
}

/// `outbox [list|send|drop N]`
pub fn run(global: &Global, cmd: Option<OutboxCmd>) -> anyhow::Result<ExitCode> {
    match cmd.unwrap_or(OutboxCmd::List) {
        OutboxCmd::List => session::offline(global, |s| {
            list(s);
            Ok(())
        }),
        OutboxCmd::Drop { entry } => session::offline(global, |s| {
            let gone = s.client.drop_entry(entry)?;
            let name_of = |id: &_| s.group_name(id);
            let mut v = outbox_json(&gone, &name_of);
            v["event"] = json!("dropped");
            s.done(
                format!(
                    "dropped outbox entry {entry}: {}",
                    outbox_what(&gone, &name_of)
                ),
                v,
            );
            Ok(())
        }),
        OutboxCmd::Send => session::online(
            global,
            None,
            |_| Ok(()),
            async |s, ()| {
                let before = s.client.pending_count();
                let events = s.client.flush().await?;
                s.print_events(&events);
                let left = s.client.pending_count();
                if left > 0 && global.wait {
                    anyhow::bail!(
                        "{left} of {before} outbox entries could not be sent now; \
                         `bacap-chat outbox` shows why"
                    );
                }
                s.done(
                    format!("{} sent, {left} waiting", before.saturating_sub(left)),
                    json!({"event": "outbox", "waiting": left}),
                );
                Ok(())
            },
        ),
    }
}

/// Prints every entry, or that the outbox is empty.
fn list(s: &Session) {
    let entries = s.client.outbox();
    if entries.is_empty() && !s.json() {
        println!("the outbox is empty");
    }
    let name_of = |id: &_| s.group_name(id);
    for e in &entries {
        let mut line = format!(
            "{:>6}  {}  {} box{}",
            e.entry,
            outbox_what(e, &name_of),
            e.boxes,
            if e.boxes == 1 { "" } else { "es" }
        );
        if e.attempts > 0 {
            line.push_str(&format!(
                ", {} tr{}",
                e.attempts,
                if e.attempts == 1 { "y" } else { "ies" }
            ));
        }
        if let Some(err) = &e.last_error {
            line.push_str(&format!(", last error: {err}"));
        }
        if e.queued_ms > 0 {
            line.push_str(&format!(", waiting {}", age(e.queued_ms)));
        }
        s.done(line, outbox_json(e, &name_of));
    }
}

/// How long ago `ms` (Unix milliseconds) was, roughly.
fn age(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let s = now.saturating_sub(ms) / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}
