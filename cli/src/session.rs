//! The one shape every command has: open the profile's client (offline, or against its courier
//! with an optional progress bar), resume what an earlier command left, do one thing, print
//! what it did (for people, or with `--json` one JSON object per line), and turn the library's
//! typed errors into one line for the user.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::anyhow;
use chat_client::{Client, ClientError, Sent, Wait};
use groupchat::channel::GroupId;
use groupchat::roster::MemberId;
use groupchat::Event;
use pigeonhole::store::StoreError;
use pigeonhole::stream::StreamError;
use pigeonhole::transport::Transport;
use serde_json::json;

use crate::output::{self, emit, gid};
use crate::profile::{self, Global, Profile, TransportKind};
use crate::progress::{self, Progress};
use crate::resolve;

/// An open profile and its client.
pub struct Session {
    /// The profile.
    pub profile: Profile,
    /// Its client.
    pub client: Client,
    courier: String,
    json: bool,
}

/// How long a command waits for what it sends without `--wait`.
pub const TRY: std::time::Duration = std::time::Duration::from_millis(500);

/// A single-threaded runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Runs `command` on the profile opened without a courier.
pub fn offline(
    global: &Global,
    command: impl FnOnce(&mut Session) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let mut s = Session::offline(global)?;
    command(&mut s)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a network command on the profile opened against its courier (counting boxes into
/// `progress`, if any): `resolve` checks the command's arguments against the profile first, so
/// a mistake is reported at once; then what earlier commands left pending resumes, and
/// `command` runs with what `resolve` found.
pub fn online<T>(
    global: &Global,
    progress: Option<Progress>,
    resolve: impl FnOnce(&Session) -> anyhow::Result<T>,
    command: impl AsyncFnOnce(&mut Session, T) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(online_in(global, progress, resolve, command))?;
    Ok(ExitCode::SUCCESS)
}

/// [`online`], inside a runtime.
pub async fn online_in<T>(
    global: &Global,
    progress: Option<Progress>,
    resolve: impl FnOnce(&Session) -> anyhow::Result<T>,
    command: impl AsyncFnOnce(&mut Session, T) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let bar = progress.as_ref().map(|p| p.bar.clone());
    let result = async {
        let mut s = Session::online(global, progress)?;
        let args = resolve(&s)?;
        s.client.set_wait(if global.wait {
            Wait::Landed
        } else {
            Wait::AtMost(TRY)
        });
        match command(&mut s, args).await {
            Ok(()) => Ok(()),
            Err(e) => match e.downcast::<ClientError>() {
                // Without --wait, what did not land waits in the outbox: not a failure.
                Ok(ClientError::Queued(why))
                    if !global.wait
                        && !matches!(why, StreamError::Store(StoreError::Untrusted(_))) =>
                {
                    s.queued(None, Some(why));
                    Ok(())
                }
                Ok(e) => Err(s.net(e)),
                Err(e) => Err(e),
            },
        }
    }
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

impl Session {
    /// Opens the profile without needing a courier.
    pub fn offline(global: &Global) -> anyhow::Result<Self> {
        let profile = Profile::existing(global)?;
        let client = profile::open_client(&profile.dir, None)?;
        Ok(Self {
            profile,
            client,
            courier: String::new(),
            json: global.json,
        })
    }

    /// Opens the profile against its courier (or kpclientd, with `--transport katzenpost`).
    pub fn online(global: &Global, progress: Option<Progress>) -> anyhow::Result<Self> {
        let profile = Profile::existing(global)?;
        let (transport, courier) = match global.transport {
            TransportKind::Simulator => {
                let courier = profile.courier_url(global)?;
                let store =
                    profile::http_store(&courier, global.attempts, &profile.trust(global)?)?;
                let store = match progress {
                    Some(p) => progress::Counting::wrap(store, p.bar),
                    None => store,
                };
                (profile::transport(store), courier)
            }
            TransportKind::Katzenpost => {
                let hook = progress.map(|p| {
                    let bar = p.bar;
                    Arc::new(move || bar.inc(1)) as katzenpost_transport::BoxHook
                });
                let t = profile::katzenpost(global, hook)?;
                let courier = format!("kpclientd {}", t.addr());
                (t as Arc<dyn Transport>, courier)
            }
        };
        let client = profile::open_client(&profile.dir, Some(transport))?;
        Ok(Self {
            profile,
            client,
            courier,
            json: global.json,
        })
    }

    /// Where the boxes go: the courier's URL, or kpclientd's address.
    pub fn courier(&self) -> &str {
        &self.courier
    }

    /// A client error as the user should read it (see [`Session::net`]).
    pub fn explain(&self, e: ClientError) -> anyhow::Error {
        self.net(e)
    }

    /// Whether output is JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// A client error as the user should read it: network trouble names the courier and says
    /// what happens to the operation.
    fn net(&self, e: ClientError) -> anyhow::Error {
        let courier = &self.courier;
        let untrusted = |m: &str, saved: &str| {
            anyhow!(
                "courier at {courier} not trusted: {m}; give the certificate of its CA with \
                 --courier-ca FILE (`profile init --courier-ca FILE` saves it){saved}"
            )
        };
        match e {
            ClientError::Queued(StreamError::Store(StoreError::Untrusted(m))) => untrusted(
                &m,
                "; the operation is saved and the next command that reaches the courier \
                 completes it",
            ),
            ClientError::Stream(StreamError::Store(StoreError::Untrusted(m))) => untrusted(&m, ""),
            ClientError::Queued(StreamError::Store(
                StoreError::Unavailable(m) | StoreError::Unreachable(m),
            )) => anyhow!(
                "courier unreachable at {courier} ({m}); the operation is saved and the next \
                 command that reaches the courier (e.g. `bacap-chat poll`) completes it"
            ),
            ClientError::Queued(inner) => anyhow!(
                "the courier at {courier} did not confirm ({inner}); the operation is saved and \
                 the next command that reaches the courier (e.g. `bacap-chat poll`) completes it"
            ),
            ClientError::Stream(StreamError::Store(
                StoreError::Unavailable(m) | StoreError::Unreachable(m),
            )) => {
                anyhow!("courier unreachable at {courier}: {m}")
            }
            ClientError::Stream(StreamError::Conflict { .. }) => anyhow!(
                "not sent: our stream's next box already holds something else, so another copy \
                 of this profile (in use elsewhere, or this one restored from an older backup) \
                 wrote there; the operation was dropped"
            ),
            other => anyhow!(other),
        }
    }

    /// Says what still waits in the outbox after a poll, if anything (people only: JSON
    /// readers have the events).
    pub fn outbox_note(&self) {
        let entries = self.client.outbox();
        if entries.is_empty() || self.json {
            return;
        }
        let why = entries
            .iter()
            .find_map(|e| e.last_error.clone())
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        println!(
            "{} waiting in the outbox{why}; `bacap-chat outbox` lists them",
            entries.len()
        );
    }

    /// Prints what a sending command achieved: `text` (or `v`) if it landed, else that it
    /// waits in the outbox.
    pub fn sent(&self, sent: Sent, text: impl Into<String>, v: serde_json::Value) {
        match sent {
            Sent::Landed => self.done(text, v),
            Sent::Queued { entry } => self.queued(Some(entry), None),
        }
    }

    /// Says that what the command sends waits in the outbox (as entry `entry`, if known), and
    /// why if it was tried.
    pub fn queued(&self, entry: Option<u64>, why: Option<StreamError>) {
        let waiting = self.client.pending_count();
        let courier = &self.courier;
        let reason = match &why {
            Some(StreamError::Store(StoreError::Unreachable(m))) => {
                format!("cannot connect to the courier at {courier} ({m})")
            }
            Some(StreamError::Store(StoreError::Unavailable(m))) => {
                format!("the courier at {courier} did not answer ({m})")
            }
            Some(why) => format!("the courier at {courier} did not take it ({why})"),
            None => format!(
                "the courier at {courier} did not confirm within {} ms",
                TRY.as_millis()
            ),
        };
        let why = why.map(|e| e.to_string());
        self.done(
            format!(
                "queued{}: {reason}; {waiting} in the outbox go out with the next command \
                 that reaches the courier (`bacap-chat poll`, `watch` or `outbox send`)",
                entry
                    .map(|e| format!(" as outbox entry {e}"))
                    .unwrap_or_default()
            ),
            json!({"event": "queued", "entry": entry, "reason": why, "outbox": waiting}),
        );
    }

    /// The group a command names: its name, its ID, or a unique ID prefix.
    pub fn group(&self, arg: &str) -> anyhow::Result<GroupId> {
        resolve::group(&self.client, arg)
    }

    /// A group's name, or the start of its ID if it is gone.
    pub fn group_name(&self, id: &GroupId) -> String {
        self.client
            .group_info(id)
            .map(|g| g.name)
            .unwrap_or_else(|_| gid(id)[..8].to_owned())
    }

    /// A member's display name in group `id`, or the start of its ID.
    pub fn member_name(&self, id: &GroupId, member: &MemberId) -> String {
        self.client
            .group_info(id)
            .ok()
            .and_then(|g| g.members.into_iter().find(|m| m.id == *member))
            .map(|m| m.name)
            .unwrap_or_else(|| member.short())
    }

    /// Prints what a poll found.
    pub fn print_events(&self, events: &[Event]) {
        let name_of = |id: &GroupId| self.group_name(id);
        for ev in events {
            if self.json {
                emit(output::event_json(ev, &name_of));
            } else {
                println!("{}", output::event_line(ev, &name_of));
            }
        }
    }

    /// Prints one result: `text` for people, `v` with `--json`.
    pub fn done(&self, text: impl Into<String>, v: serde_json::Value) {
        if self.json {
            emit(v);
        } else {
            println!("{}", text.into());
        }
    }
}
