//! Reading: one batched read per round over every stream we read (every other member of every
//! group, every channel peer), and what the boxes that arrived do.
//!
//! A round moves readers and applies messages in memory; the client stores the round's changes
//! in one batch, so reader states advance together with the history of what they read, and a
//! kill loses nothing and records nothing twice.

use std::collections::{HashMap, HashSet};

use bacap::StatefulReader;
use pigeonhole::stream::{Polled, StreamError};
use pigeonhole::transport::BoxContent;
use rand_core::{CryptoRng, RngCore};

use super::{Chat, OpId};
use crate::channel::{ChannelMessage, GroupId};
use crate::error::Error;
use crate::events::Event;
use crate::group::Context;
use crate::messages::Body;
use crate::records::{Completion, TargetRecord};
use crate::roster::{History, MemberId};

/// A stream a round reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Member(GroupId, MemberId),
    /// The substream box a member's ROTATE put our sealed cap in.
    Lookup(GroupId, MemberId),
    Channel(String),
}

/// The boxes one round reads: pass [`ReadRound::reads`] to the transport and what they hold
/// to [`Chat::handle_reads`].
#[derive(Debug)]
pub struct ReadRound {
    slots: Vec<(Slot, usize)>,
    reads: Vec<StatefulReader>,
}

impl ReadRound {
    /// The boxes to read, in order.
    pub fn reads(&self) -> &[StatefulReader] {
        &self.reads
    }

    /// Whether there is nothing to read (no stream to poll).
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }
}

/// What one poll (several rounds) has counted so far: a stuck stream counts once per poll, and
/// each stream's boxes count against [`crate::Config::max_boxes_per_stream_per_poll`].
#[derive(Debug, Default)]
pub struct PollProgress {
    counted: HashSet<String>,
    boxes: HashMap<Slot, usize>,
}

impl Chat {
    /// The boxes to read next: the next box of every stream we read, or a batch of the chain
    /// a stream's reader is following.
    pub fn poll_reads(&self) -> ReadRound {
        self.poll_reads_within(&PollProgress::default())
    }

    /// [`Chat::poll_reads`] in a poll that has read what `progress` counted: streams that used
    /// up their boxes for this poll wait for the next.
    pub fn poll_reads_within(&self, progress: &PollProgress) -> ReadRound {
        let budget = self.config.max_boxes_per_stream_per_poll.max(1);
        let spent = |s: &Slot| progress.boxes.get(s).copied().unwrap_or(0) >= budget;
        let mut slots = Vec::new();
        let mut reads = Vec::new();
        for (gid, g) in self.groups.iter().filter(|(_, g)| g.is_live()) {
            for (k, m) in &g.members {
                if let Some((_, at)) = &m.lookup {
                    slots.push((Slot::Lookup(*gid, *k), 1));
                    reads.push(at.clone());
                } else if let Some(r) = m
                    .reader
                    .as_ref()
                    .filter(|_| !spent(&Slot::Member(*gid, *k)))
                {
                    let w = r.wanted();
                    slots.push((Slot::Member(*gid, *k), w.len()));
                    reads.extend(w);
                }
            }
        }
        for (label, c) in self.channels.iter() {
            if let Some(r) = c
                .reader
                .as_ref()
                .filter(|_| !spent(&Slot::Channel(label.clone())))
            {
                let w = r.wanted();
                slots.push((Slot::Channel(label.clone()), w.len()));
                reads.extend(w);
            }
        }
        ReadRound { slots, reads }
    }

    /// Takes what the boxes of `round` hold, in order: moves the readers and applies the
    /// messages. Returns whether any stream moved (poll again) and the events for the user.
    pub fn handle_reads(
        &mut self,
        round: ReadRound,
        contents: &[BoxContent],
        progress: &mut PollProgress,
        now_ms: u64,
    ) -> Result<(bool, Vec<Event>), Error> {
        if contents.len() != round.reads.len() {
            return Err(StreamError::OutcomeCount {
                expected: round.reads.len(),
                got: contents.len(),
            }
            .into());
        }
        self.log.set_now(now_ms);
        let mut moved = false;
        let mut at = 0;
        for (slot, n) in round.slots {
            let chunk = &contents[at..at + n];
            at += n;
            *progress.boxes.entry(slot.clone()).or_default() += chunk
                .iter()
                .filter(|c| !matches!(c, BoxContent::NotFound))
                .count();
            moved |= self.handle_slot(slot, chunk, progress, now_ms)?;
        }
        Ok((moved, std::mem::take(&mut self.log.events)))
    }

    /// Feeds one stream's boxes to its reader and applies what it yields.
    fn handle_slot(
        &mut self,
        slot: Slot,
        chunk: &[BoxContent],
        progress: &mut PollProgress,
        now_ms: u64,
    ) -> Result<bool, Error> {
        if let Slot::Lookup(gid, member) = slot {
            return Ok(self.on_lookup(gid, member, &chunk[0]));
        }
        let (reader, source) = match &slot {
            Slot::Member(gid, k) => {
                let Some(reader) = self
                    .groups
                    .get_mut(gid)
                    .and_then(|g| g.members.get_mut(k))
                    .and_then(|m| m.reader.as_mut())
                else {
                    return Ok(false);
                };
                (reader, format!("group {gid:?} member {k}"))
            }
            Slot::Lookup(..) => unreachable!("handled above"),
            Slot::Channel(l) => {
                let Some(reader) = self.channels.reader_mut(l) else {
                    return Ok(false);
                };
                (reader, format!("channel {l}"))
            }
        };
        let result = reader.accept(chunk);
        // A stream is unstuck once a message (or nothing) comes through; following a pointer
        // again after a restart is not progress past the box it was stuck at.
        let through = matches!(
            result,
            Ok(Polled::Message(_) | Polled::Nothing) | Err(StreamError::Rejected(_))
        );
        if through && self.stuck.remove(&source).is_some() {
            self.stuck_changed.insert(source.clone());
        }
        let moved = match result {
            Ok(Polled::Nothing) => return Ok(false),
            Ok(Polled::Progress) => true,
            Ok(Polled::Message(bytes)) => {
                match &slot {
                    Slot::Member(gid, k) => self.on_group_box(*gid, *k, &bytes),
                    Slot::Lookup(..) => {}
                    Slot::Channel(l) => self.on_channel_box(l, &bytes)?,
                }
                true
            }
            Err(e @ StreamError::Rejected(_)) => {
                self.log.problem(source, e.to_string());
                true
            }
            Err(e) => {
                // The reader stays (a bad box, a chain not all there): report it; the other
                // streams carry on and a later poll retries, until the stream has been stuck
                // for `stuck_polls_before_skip` polls and `stuck_time_before_skip`: then move
                // past.
                if !progress.counted.insert(source.clone()) {
                    return Ok(false);
                }
                let limit = self.config.stuck_polls_before_skip.max(1);
                let wait = self.config.stuck_time_before_skip.as_millis() as u64;
                let (n, since) = self.stuck.entry(source.clone()).or_insert((0, now_ms));
                *n += 1;
                self.stuck_changed.insert(source.clone());
                if *n < limit || now_ms.saturating_sub(*since) < wait {
                    self.log.problem(source, e.to_string());
                    return Ok(false);
                }
                self.stuck.remove(&source);
                reader.skip()?;
                self.log
                    .problem(source, format!("{e}; skipped after {limit} polls"));
                true
            }
        };
        match slot {
            Slot::Member(gid, _) | Slot::Lookup(gid, _) => self.changed_groups.insert(gid),
            Slot::Channel(l) => {
                self.channels.mark_changed(&l);
                true
            }
        };
        Ok(moved)
    }

    /// Runs `f` on group `gid` with the context its handlers need; `None` if there is none.
    fn in_group<T>(
        &mut self,
        gid: &GroupId,
        f: impl FnOnce(&mut crate::group::Group, &mut Context<'_>) -> T,
    ) -> Option<T> {
        let limits = self.limits();
        let group = self.groups.get_mut(gid)?;
        let mut cx = Context {
            log: &mut self.log,
            limits,
            max_members: self.config.max_group_members,
            auto_admit: self.config.auto_admit_members,
            max_file_len: self.config.max_file_len,
            profile_dir: &self.profile_dir,
            forgot: &mut self.forgot,
        };
        Some(f(group, &mut cx))
    }

    fn on_lookup(&mut self, gid: GroupId, member: MemberId, content: &BoxContent) -> bool {
        let moved = self
            .in_group(&gid, |g, cx| g.handle_lookup(member, content, cx))
            .unwrap_or(false);
        if moved {
            self.changed_groups.insert(gid);
        }
        moved
    }

    fn on_group_box(&mut self, gid: GroupId, sender: MemberId, bytes: &[u8]) {
        if self
            .in_group(&gid, |g, cx| g.handle_box(sender, bytes, cx))
            .is_some()
        {
            self.changed_groups.insert(gid);
        }
    }

    /// A message of the channel `label`'s peer: each kind to its handler.
    fn on_channel_box(&mut self, label: &str, bytes: &[u8]) -> Result<(), Error> {
        let msg = match ChannelMessage::from_cbor(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.log.problem(format!("channel {label}"), e.to_string());
                return Ok(());
            }
        };
        match msg {
            ChannelMessage::Text(t) => self.on_channel_text(label, t),
            ChannelMessage::Invitation(inv) => self.on_invitation(label, inv),
            ChannelMessage::SignedPleaseAdd(s) => self.on_join_request(label, s),
            ChannelMessage::PleaseReviseDisplayName(p) => self.on_revise_request(label, p),
            ChannelMessage::Welcome(w) => self.on_welcome(label, w)?,
            ChannelMessage::Decline(id) => self.on_decline(label, id),
            ChannelMessage::Reject(id, reason) => self.on_reject(label, id, reason),
        }
        Ok(())
    }

    /// Queues the next operation a group owes, if any: tombstoning our boxes of a deleted
    /// group, a rotation (a member left or was removed, a member lacks our cap, or our policy
    /// says so), or the answer to a WHO.
    pub fn queue_owed<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
    ) -> Result<Option<OpId>, Error> {
        for g in self.groups.values_mut() {
            if g.is_live() && !g.owe_rotation && g.rotation_due(now_ms) {
                g.owe_rotation = true;
                self.changed_groups.insert(g.id);
            }
        }
        // A group whose stream has an operation waiting owes nothing more until it landed.
        let busy = self.busy_lanes();
        let owed = self.groups.values().find_map(|g| {
            if busy.contains(&TargetRecord::Group(g.id.0.to_vec())) {
                None
            } else if g.owe_tombstones {
                Some((g.id, Owed::Tombstones))
            } else if !g.is_live() {
                None
            } else if g.owe_rotation && g.next.is_none() {
                Some((g.id, Owed::Rotation))
            } else if g.owe_who_reply {
                Some((g.id, Owed::WhoReply))
            } else if g.owe_who {
                Some((g.id, Owed::Who))
            } else {
                None
            }
        });
        let Some((id, owed)) = owed else {
            return Ok(None);
        };
        let op = match owed {
            Owed::Tombstones => self.queue_tombstones(id)?,
            Owed::Rotation => self.queue_rotation(rng, id, Vec::new(), None)?,
            Owed::Who => {
                self.group_mut(&id)?.owe_who = false;
                self.queue_group(rng, id, Body::Who(String::new()), Completion::Nothing)?
            }
            Owed::WhoReply => {
                let list = self.group(&id)?.member_list(History::FromJoining);
                let completion = Completion::WhoReplied {
                    group: id.0.to_vec(),
                };
                self.queue_group(rng, id, Body::WhoReply(list), completion)?
            }
        };
        Ok(Some(op))
    }
}

/// What a group owes.
enum Owed {
    Tombstones,
    Rotation,
    Who,
    WhoReply,
}
