//! Draining the outbox: running pending operations, and polling, concurrently.
//!
//! One loop owns the client. It starts the first pending operation of every stream (up to
//! [`MAX_IN_FLIGHT`] at once) and, when polling, one round of reads; as each comes back it
//! stores the outcome in one batch and starts what became possible. Each operation is tried at
//! most once per drain, so an unreachable courier ends the drain instead of spinning. While a
//! round of reads is out, outcomes of writes that come back are held and applied after it, so
//! the core always takes a round against the state it was asked from.

use std::collections::HashSet;
use std::time::Duration;

use bacap::StatefulWriter;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use groupchat::chat::{OpId, PollProgress, ReadRound, Write, Written};
use groupchat::Event;
use pigeonhole::stream::StreamError;
use pigeonhole::transport::BoxContent;
use pigeonhole::transport::{CopyOptions, Transport};
use rand_core::OsRng;

use super::{now_ms, tombstone, Client};
use crate::error::ClientError;

/// How many operations on different streams go out at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// How long a sending command waits for what it queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Until it landed, or its try (with the transport's own resends) failed.
    #[default]
    Landed,
    /// At most this long; then it stays in the outbox for a later command.
    AtMost(Duration),
}

/// What a sending command achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// It landed.
    Landed,
    /// It waits in the outbox as entry `entry` (it was not confirmed within the wait), and
    /// goes out with a later command that reaches the courier.
    Queued {
        /// Its outbox entry.
        entry: u64,
    },
}

/// What one drain should do.
pub(super) struct Goal {
    /// The outbox entry the caller waits for: the drain stops starting new work once it is
    /// done.
    pub target: Option<u64>,
    /// Also poll every stream we read.
    pub reads: bool,
    /// Also queue what the groups owe (WHO answers, rotations, tombstones).
    pub owed: bool,
    /// How long to wait in all.
    pub wait: Wait,
}

/// What a drain did.
#[derive(Default)]
pub(super) struct Drained {
    /// What the user should see: messages read, entries sent or dropped.
    pub events: Vec<Event>,
    /// Why the target did not land, if it was tried and failed (then still queued) or was
    /// dropped.
    pub target_error: Option<ClientError>,
    /// The last error of any operation that stays queued.
    pub kept_error: Option<StreamError>,
}

enum Done {
    Write(OpId, Result<Vec<StatefulWriter>, StreamError>),
    Read(Result<Vec<BoxContent>, StreamError>),
}

async fn run_write(
    transport: &dyn Transport,
    write: Write,
    options: CopyOptions,
) -> Result<Vec<StatefulWriter>, StreamError> {
    match write {
        Write::Message(out) => out.execute(transport, options).await.map(|w| vec![w]),
        Write::AllOrNothing(plan) => plan.execute(transport, options).await,
        Write::Tombstones { from, count } => tombstone(transport, from, count).await,
    }
}

impl Client {
    /// Runs the outbox (and, with `goal.reads`, polls) until nothing more can be done now, the
    /// target is done, or the wait is over. Work abandoned at the deadline stays in the outbox:
    /// sealing is deterministic and plans resume, so the next drain completes it exactly once.
    pub(super) async fn drain(&mut self, goal: Goal) -> Result<Drained, ClientError> {
        let transport = self.transport()?;
        let options = self.chat.config().copy_options;
        let deadline = match goal.wait {
            Wait::AtMost(d) => Some(tokio::time::Instant::now() + d),
            Wait::Landed => None,
        };
        let mut tasks: FuturesUnordered<LocalBoxFuture<'static, Done>> = FuturesUnordered::new();
        let mut running: HashSet<OpId> = HashSet::new();
        let mut tried: HashSet<OpId> = HashSet::new();
        let mut round: Option<ReadRound> = None;
        let mut reads_done = !goal.reads;
        let mut held = Vec::new();
        let mut progress = PollProgress::default();
        let mut out = Drained::default();
        let mut read_error = None;
        loop {
            let target_done = goal.target.is_some_and(|t| !self.chat.in_outbox(t));
            if !target_done {
                let dropped = self.apply(|c| Ok(c.prepare_ready(&mut OsRng, now_ms())))?;
                self.note_dropped(&goal, dropped, &mut out);
                if goal.owed && round.is_none() {
                    let expired = self.apply(|c| Ok(c.expire_invitations(now_ms())))?;
                    out.events.extend(expired);
                    while self
                        .apply(|c| c.queue_owed(&mut OsRng, now_ms()))?
                        .is_some()
                    {}
                }
                for id in self.chat.runnable() {
                    if running.len() >= MAX_IN_FLIGHT {
                        break;
                    }
                    if running.contains(&id) || !tried.insert(id) {
                        continue;
                    }
                    self.apply(|c| c.start_attempt(id))?;
                    let write = self.chat.operation(id)?.write;
                    let t = transport.clone();
                    running.insert(id);
                    tasks.push(Box::pin(async move {
                        Done::Write(id, run_write(&*t, write, options).await)
                    }));
                }
            }
            if round.is_none() && !reads_done {
                let next = self.chat.poll_reads_within(&progress);
                if next.is_empty() {
                    reads_done = true;
                } else {
                    let readers = next.reads().to_vec();
                    let t = transport.clone();
                    round = Some(next);
                    tasks.push(Box::pin(async move {
                        Done::Read(t.read_many(&readers).await.map_err(StreamError::from))
                    }));
                }
            }
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, tasks.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => tasks.next().await,
            };
            let Some(done) = next else { break };
            match done {
                Done::Write(id, outcome) => {
                    running.remove(&id);
                    if round.is_some() {
                        held.push((id, outcome));
                    } else {
                        self.written(&goal, id, outcome, &mut out)?;
                    }
                }
                Done::Read(result) => {
                    let this = round.take().expect("a read round is out");
                    match result {
                        Ok(contents) => {
                            let (moved, found) = self.apply(|c| {
                                c.handle_reads(this, &contents, &mut progress, now_ms())
                            })?;
                            out.events.extend(found);
                            reads_done |= !moved;
                        }
                        Err(e) => {
                            read_error = Some(e);
                            reads_done = true;
                        }
                    }
                    for (id, outcome) in std::mem::take(&mut held) {
                        self.written(&goal, id, outcome, &mut out)?;
                    }
                }
            }
        }
        for (id, outcome) in held {
            self.written(&goal, id, outcome, &mut out)?;
        }
        if let Some(e) = read_error {
            return Err(e.into());
        }
        Ok(out)
    }

    /// Stores the outcome of operation `id`.
    fn written(
        &mut self,
        goal: &Goal,
        id: OpId,
        outcome: Result<Vec<StatefulWriter>, StreamError>,
        out: &mut Drained,
    ) -> Result<(), ClientError> {
        let entry = self.chat.entry_of_op(id);
        let is_target = entry.is_some() && entry == goal.target;
        let written = self.apply(|c| c.handle_written(id, outcome, now_ms()))?;
        out.events.extend(self.chat.take_events());
        match written {
            Written::Landed => {}
            Written::Dropped(e) => {
                if is_target {
                    out.target_error = Some(ClientError::Stream(e));
                }
            }
            Written::Kept(e) => {
                if is_target {
                    out.target_error = Some(ClientError::Queued(e.clone()));
                }
                out.kept_error = Some(e);
            }
        }
        Ok(())
    }

    /// Keeps the events of requests dropped before they were prepared; the target's is also
    /// its error.
    fn note_dropped(&self, goal: &Goal, dropped: Vec<Event>, out: &mut Drained) {
        for ev in dropped {
            if let Event::OutboxDropped { entry, reason } = &ev {
                if Some(entry.entry) == goal.target {
                    out.target_error = Some(ClientError::Dropped(reason.clone()));
                }
            }
            out.events.push(ev);
        }
    }
}
