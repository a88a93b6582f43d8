//! Network operations, persisted before they run and completed atomically.
//!
//! A command prepares its operation (an [`Outgoing`] message or an [`AllOrNothingPlan`]) and
//! stores it as a pending record together with what it needs locally (the WriteCap an invitee
//! signs with, say), in the same batch as the command's other changes. The client then runs it
//! and hands the outcome to [`Chat::handle_written`]: once it landed, one batch deletes the
//! pending record, stores the advanced writer(s) and records what the operation means locally
//! (our message in history, an approved member). Writers never advance before storage
//! acknowledged. Sealing is deterministic and plans resume, so after a kill the client runs the
//! pending operation again and the message lands exactly once. Only the first pending operation
//! of a stream runs ([`Chat::runnable`]); the ones behind it wait as requests ([`super::requests`]).

use std::collections::{BTreeMap, BTreeSet};

use bacap::{Geometry, StatefulWriter};
use pigeonhole::store::StoreError;
use pigeonhole::stream::{AllOrNothingPlan, Outgoing, StreamError};
use zeroize::Zeroizing;

use super::requests::{lane, OutboxEntry};
use super::{Changes, Chat, Log};
use crate::channel::GroupId;
use crate::error::Error;
use crate::events::Event;
use crate::group::{Departure, Standing};
use crate::keys;
use crate::messages::PleaseAdd;
use crate::records::{
    self, check_version, Completion, Content, PendingRecord, RequestMeta, TargetRecord,
    RECORD_VERSION,
};
use crate::roster::{MemberId, Role};

const KIND_OUTGOING: u8 = 1;
const KIND_PLAN: u8 = 2;
const KIND_TOMBSTONES: u8 = 3;

/// A pending operation, by the sequence number it was stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// The write an operation makes.
#[derive(Debug)]
pub enum Write {
    /// One message to one of our streams: returns that stream's writer, advanced.
    Message(Outgoing),
    /// Boxes to several streams, all or nothing: returns their writers, advanced, in order.
    AllOrNothing(AllOrNothingPlan),
    /// Tombstones of `count` boxes of one of our streams, from `from`'s next index on:
    /// returns no writer.
    Tombstones {
        /// The writer at the first box to tombstone.
        from: StatefulWriter,
        /// How many.
        count: u64,
    },
}

/// An operation for the client to run.
#[derive(Debug)]
pub struct Operation {
    /// Which.
    pub id: OpId,
    /// What to write.
    pub write: Write,
}

/// What [`Chat::handle_written`] made of an operation's outcome.
#[derive(Debug)]
pub enum Written {
    /// It landed and is completed.
    Landed,
    /// It can never land (a conflict, a failed copy): dropped, so it does not block the
    /// profile.
    Dropped(StreamError),
    /// It did not land yet (storage unreachable, a copy in progress): still pending, to run
    /// again.
    Kept(StreamError),
}

/// The streams an operation holds while it waits: those it advances (a rotation's new stream
/// counts as its group's), or for tombstones, which advance nothing, their group's.
pub(super) fn op_lanes(rec: &PendingRecord) -> Vec<TargetRecord> {
    match &rec.completion {
        Completion::Tombstoned { group } => vec![TargetRecord::Group(group.clone())],
        _ => rec.targets.iter().map(lane).collect(),
    }
}

/// Whether retrying the same operation can never succeed.
fn permanent(e: &StreamError) -> bool {
    !matches!(e, StreamError::Store(_) | StreamError::CopyInProgress)
}

fn member_id_from(bytes: &[u8]) -> Result<MemberId, Error> {
    MemberId::from_slice(bytes).map_err(|e| Error::corrupt("pending operation", e.to_string()))
}

fn group_id_from(bytes: &[u8]) -> Result<GroupId, Error> {
    Ok(GroupId(bytes.try_into().map_err(|_| {
        Error::corrupt("pending operation", "group ID is not 32 bytes")
    })?))
}

/// The pending operations, by sequence number.
#[derive(Default)]
pub(crate) struct Outbox {
    pub(super) pending: BTreeMap<u64, PendingRecord>,
    added: BTreeSet<u64>,
    removed: BTreeSet<u64>,
}

impl Outbox {
    pub(crate) fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let seq = u64::from_be_bytes(
            key[keys::PENDING.len()..]
                .try_into()
                .map_err(|_| Error::corrupt("pending operation", "key"))?,
        );
        let rec: PendingRecord = records::decode("pending operation", value)?;
        check_version("pending operation", rec.v)?;
        self.pending.insert(seq, rec);
        Ok(())
    }

    pub(crate) fn take_changes(&mut self, c: &mut Changes) {
        for seq in std::mem::take(&mut self.added) {
            if let Some(rec) = self.pending.get(&seq) {
                c.puts.push((keys::pending(seq), records::encode(rec)));
            }
        }
        for seq in std::mem::take(&mut self.removed) {
            c.deletes.push(keys::pending(seq));
        }
    }

    fn submit(
        &mut self,
        log: &mut Log,
        kind: u8,
        op: Zeroizing<Vec<u8>>,
        targets: Vec<TargetRecord>,
        completion: Completion,
    ) -> OpId {
        let seq = log.alloc_seq();
        self.pending.insert(
            seq,
            PendingRecord {
                v: RECORD_VERSION,
                kind,
                op: op.to_vec(),
                targets,
                completion,
                from: None,
                attempts: 0,
                reached: 0,
                last_error: String::new(),
            },
        );
        self.added.insert(seq);
        OpId(seq)
    }

    /// Records which user request operation `id` was prepared from.
    pub(super) fn set_origin(&mut self, id: OpId, meta: RequestMeta) {
        if let Some(rec) = self.pending.get_mut(&id.0) {
            rec.from = Some(meta);
            self.added.insert(id.0);
        }
    }

    /// How many boxes operation `rec` writes.
    pub(super) fn box_count(&self, rec: &PendingRecord, geometry: Geometry) -> u64 {
        match rec.kind {
            KIND_OUTGOING => match Outgoing::from_bytes(&rec.op, geometry) {
                Ok(Outgoing::AllOrNothing(p)) => p.box_count() as u64,
                _ => 1,
            },
            KIND_PLAN => AllOrNothingPlan::from_bytes(&rec.op)
                .map(|p| p.box_count() as u64)
                .unwrap_or(0),
            KIND_TOMBSTONES => rec
                .op
                .len()
                .checked_sub(8)
                .and_then(|at| rec.op[at..].try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// Queues one message to one stream.
    pub(crate) fn submit_outgoing(
        &mut self,
        log: &mut Log,
        out: &Outgoing,
        target: TargetRecord,
        completion: Completion,
    ) -> OpId {
        self.submit(log, KIND_OUTGOING, out.to_bytes(), vec![target], completion)
    }

    /// Queues the tombstones of `count` boxes from `from`'s next index on.
    pub(crate) fn submit_tombstones(
        &mut self,
        log: &mut Log,
        from: &StatefulWriter,
        count: u64,
        completion: Completion,
    ) -> OpId {
        let mut op = Zeroizing::new(from.to_bytes().to_vec());
        op.extend_from_slice(&count.to_be_bytes());
        self.submit(log, KIND_TOMBSTONES, op, Vec::new(), completion)
    }

    /// Queues an all-or-nothing write to the `targets`, in the plan's order.
    pub(crate) fn submit_plan(
        &mut self,
        log: &mut Log,
        plan: &AllOrNothingPlan,
        targets: Vec<TargetRecord>,
        completion: Completion,
    ) -> OpId {
        self.submit(log, KIND_PLAN, plan.to_bytes(), targets, completion)
    }

    pub(super) fn remove(&mut self, id: OpId) -> Option<PendingRecord> {
        self.removed.insert(id.0);
        self.added.remove(&id.0);
        self.pending.remove(&id.0)
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

impl Chat {
    /// How many entries the outbox holds: operations prepared to run and requests behind them.
    pub fn pending_count(&self) -> usize {
        self.outbox_len()
    }

    /// The pending operations that may run now, oldest first: the first of each stream (an
    /// operation waits while an older one shares a stream with it).
    pub fn runnable(&self) -> Vec<OpId> {
        let mut busy = BTreeSet::new();
        let mut out = Vec::new();
        for (&seq, rec) in &self.outbox.pending {
            let lanes = op_lanes(rec);
            if lanes.iter().all(|l| !busy.contains(l)) {
                out.push(OpId(seq));
            }
            busy.extend(lanes);
        }
        out
    }

    /// Counts a try of operation `id`, stored before it goes out: until the try comes back
    /// unable to connect, some of its boxes may land.
    pub fn start_attempt(&mut self, id: OpId) -> Result<(), Error> {
        let rec = self
            .outbox
            .pending
            .get_mut(&id.0)
            .ok_or_else(|| Error::corrupt("pending operation", "not pending"))?;
        rec.attempts = rec.attempts.saturating_add(1);
        rec.reached = rec.reached.saturating_add(1);
        self.outbox.added.insert(id.0);
        Ok(())
    }

    /// Drops the pending operations of groups we no longer write (we were removed, or the
    /// group was deleted, while they waited); returns an event for each the user asked for.
    pub(crate) fn drop_stale(&mut self) -> Vec<Event> {
        let stale: Vec<u64> = self
            .outbox
            .pending
            .iter()
            .filter(|(_, rec)| {
                !matches!(rec.completion, Completion::Tombstoned { .. })
                    && rec.targets.iter().any(|t| match t {
                        TargetRecord::Group(id) | TargetRecord::GroupNext(id) => group_id_from(id)
                            .ok()
                            .and_then(|id| self.groups.get(&id))
                            .is_some_and(|g| !g.is_live()),
                        _ => false,
                    })
            })
            .map(|(&seq, _)| seq)
            .collect();
        let mut events = Vec::new();
        for seq in stale {
            let entry = self.op_entry_of(seq);
            if let Some(rec) = self.outbox.remove(OpId(seq)) {
                if rec.from.is_some() {
                    if let Some(entry) = entry {
                        events.push(Event::OutboxDropped {
                            entry,
                            reason: "no longer a member of the group".into(),
                        });
                    }
                }
            }
        }
        events
    }

    /// The oldest pending operation, checked against the writers it advances.
    pub fn next_operation(&self) -> Result<Option<Operation>, Error> {
        match self.outbox.pending.keys().next() {
            Some(&seq) => self.operation(OpId(seq)).map(Some),
            None => Ok(None),
        }
    }

    /// The pending operation `id`, checked against the writers it advances.
    pub fn operation(&self, id: OpId) -> Result<Operation, Error> {
        let rec = self
            .outbox
            .pending
            .get(&id.0)
            .ok_or_else(|| Error::corrupt("pending operation", "not pending"))?;
        let (write, before): (Write, Vec<StatefulWriter>) = match rec.kind {
            KIND_OUTGOING => {
                let out = Outgoing::from_bytes(&rec.op, self.geometry)?;
                let before = vec![out.writer_before().clone()];
                (Write::Message(out), before)
            }
            KIND_PLAN => {
                let plan = AllOrNothingPlan::from_bytes(&rec.op)?;
                let before = plan.destinations().cloned().collect();
                (Write::AllOrNothing(plan), before)
            }
            KIND_TOMBSTONES => {
                let split = rec
                    .op
                    .len()
                    .checked_sub(8)
                    .ok_or_else(|| Error::corrupt("pending operation", "tombstones"))?;
                let from = StatefulWriter::from_bytes(&rec.op[..split])?;
                let count = u64::from_be_bytes(rec.op[split..].try_into().expect("8 bytes"));
                (Write::Tombstones { from, count }, Vec::new())
            }
            k => {
                return Err(Error::corrupt(
                    "pending operation",
                    format!("unknown kind {k}"),
                ))
            }
        };
        if rec.targets.len() != before.len() {
            return Err(Error::corrupt("pending operation", "targets"));
        }
        for (t, b) in rec.targets.iter().zip(&before) {
            if self.writer(t)? != b {
                return Err(Error::corrupt(
                    "pending operation",
                    "prepared for another writer state",
                ));
            }
        }
        Ok(Operation { id, write })
    }

    /// Takes the outcome of running operation `id`: the advanced writers of its targets, in
    /// order, or why it did not land.
    pub fn handle_written(
        &mut self,
        id: OpId,
        outcome: Result<Vec<StatefulWriter>, StreamError>,
        now_ms: u64,
    ) -> Result<Written, Error> {
        self.log.set_now(now_ms);
        let shown = self.op_entry_of(id.0);
        match outcome {
            Ok(writers) => {
                let rec = self
                    .outbox
                    .remove(id)
                    .ok_or_else(|| Error::corrupt("pending operation", "ran twice"))?;
                if rec.targets.len() != writers.len() {
                    return Err(Error::corrupt("pending operation", "targets"));
                }
                for (t, w) in rec.targets.iter().zip(writers) {
                    self.set_writer(t, w)?;
                }
                self.complete(&rec.completion, now_ms)?;
                if let (Some(entry), Some(_)) = (shown, &rec.from) {
                    self.log.event(Event::OutboxSent { entry });
                }
                Ok(Written::Landed)
            }
            Err(e) if permanent(&e) => {
                if let Some(rec) = self.outbox.remove(id) {
                    self.dropped(&rec.completion)?;
                    if let (Some(entry), Some(_)) = (shown, &rec.from) {
                        self.log.event(Event::OutboxDropped {
                            entry,
                            reason: e.to_string(),
                        });
                    }
                }
                Ok(Written::Dropped(e))
            }
            Err(e) => {
                if let Some(rec) = self.outbox.pending.get_mut(&id.0) {
                    rec.last_error = e.to_string();
                    if matches!(e, StreamError::Store(StoreError::Unreachable(_))) {
                        rec.reached = rec.reached.saturating_sub(1);
                    }
                    self.outbox.added.insert(id.0);
                }
                Ok(Written::Kept(e))
            }
        }
    }

    /// Operation `seq` as the outbox shows it.
    fn op_entry_of(&self, seq: u64) -> Option<OutboxEntry> {
        self.outbox
            .pending
            .get(&seq)
            .map(|rec| self.op_entry(seq, rec))
    }

    fn writer(&self, t: &TargetRecord) -> Result<&StatefulWriter, Error> {
        match t {
            TargetRecord::Group(id) => Ok(&self.group(&group_id_from(id)?)?.writer),
            TargetRecord::GroupNext(id) => self
                .group(&group_id_from(id)?)?
                .next
                .as_ref()
                .map(|n| &n.writer)
                .ok_or_else(|| Error::corrupt("pending operation", "no rotation queued")),
            TargetRecord::Channel(l) => Ok(&self.channels.get(l)?.writer),
            TargetRecord::Invitation(id) => self.invitations.writer(&group_id_from(id)?),
        }
    }

    /// Stores `w` as the writer of target `t`, once an operation advanced it.
    fn set_writer(&mut self, t: &TargetRecord, w: StatefulWriter) -> Result<(), Error> {
        match t {
            TargetRecord::Group(id) => self.group_mut(&group_id_from(id)?)?.writer = w,
            // The new stream becomes ours when the rotation completes.
            TargetRecord::GroupNext(id) => {
                let id = group_id_from(id)?;
                if let Some(next) = self.group_mut(&id)?.next.as_mut() {
                    next.writer = w;
                }
            }
            TargetRecord::Channel(l) => self.channels.get_mut(l)?.writer = w,
            TargetRecord::Invitation(id) => self.invitations.set_writer(&group_id_from(id)?, w)?,
        }
        Ok(())
    }

    /// What to undo of an operation that can never land.
    fn dropped(&mut self, c: &Completion) -> Result<(), Error> {
        if let Completion::Rotated { group, .. } = c {
            // The rotation is still owed; the next one is prepared afresh.
            self.group_mut(&group_id_from(group)?)?.next = None;
        }
        Ok(())
    }

    /// Records our own entry in a group's history.
    fn own_entry(&mut self, id: GroupId, content: Content) -> Result<(), Error> {
        let g = self.group(&id)?;
        let (me, name) = (g.me, g.my_name());
        self.log.group_entry(id, me, name, true, content);
        Ok(())
    }

    /// What a landed operation means locally.
    fn complete(&mut self, c: &Completion, now_ms: u64) -> Result<(), Error> {
        match c {
            Completion::Nothing => {}
            Completion::GroupPosted { group, content } => {
                let id = group_id_from(group)?;
                self.group_mut(&id)?.posted_since_rotation += 1;
                self.own_entry(id, content.clone())?;
            }
            Completion::ChannelPosted { label, content } => {
                self.log.channel_entry(label, true, content.clone());
            }
            Completion::Approved {
                group,
                label,
                please_add,
            } => {
                let id = group_id_from(group)?;
                let pa = PleaseAdd::from_cbor(please_add)?;
                let limits = self.limits();
                let g = self.group_mut(&id)?;
                let me = g.me;
                let name = pa.display_name.to_string();
                // Ours, and it landed: the group's size was checked when we approved.
                if let Some(member) = g.add_introduced(&pa, Some(me), limits, usize::MAX)? {
                    self.own_entry(
                        id,
                        Content::Introduced {
                            name,
                            member: member.0.to_vec(),
                        },
                    )?;
                }
                self.invitations.close_outbound(id, label);
            }
            Completion::WhoReplied { group } => {
                let id = group_id_from(group)?;
                if self.groups.contains_key(&id) {
                    self.group_mut(&id)?.owe_who_reply = false;
                }
            }
            Completion::Rotated {
                group,
                removed,
                missing,
            } => self.complete_rotation(group, removed, missing, now_ms)?,
            Completion::Left { group } => {
                let id = group_id_from(group)?;
                let g = self.group_mut(&id)?;
                let me = g.me;
                g.depart(me, Departure::Left);
                g.standing = Standing::Left;
                g.forget_secrets();
                self.forgot = true;
                self.own_entry(id, Content::Left)?;
            }
            Completion::RoleSet {
                group,
                member,
                role,
            } => {
                let id = group_id_from(group)?;
                let member = member_id_from(member)?;
                let role = Role::parse(role)
                    .map_err(|e| Error::corrupt("pending operation", e.to_string()))?;
                let g = self.group_mut(&id)?;
                let Some(m) = g.members.get_mut(&member) else {
                    return Ok(());
                };
                m.role = role;
                let name = m.name.to_string();
                self.own_entry(
                    id,
                    Content::RoleSet {
                        name,
                        member: member.0.to_vec(),
                        role: role.as_str().to_owned(),
                    },
                )?;
            }
            Completion::Deleted { group } => {
                let id = group_id_from(group)?;
                let g = self.group_mut(&id)?;
                g.standing = Standing::Deleted(g.me);
                g.owe_tombstones = true;
                for m in g.members.values_mut() {
                    m.reader = None;
                }
                self.forgot = true;
                self.own_entry(id, Content::Deleted)?;
            }
            Completion::Tombstoned { group } => {
                let id = group_id_from(group)?;
                let g = self.group_mut(&id)?;
                g.owe_tombstones = false;
                g.forget_secrets();
                self.forgot = true;
            }
        }
        Ok(())
    }

    /// Our rotation (after our REMOVE of `removed`, if not empty) landed.
    fn complete_rotation(
        &mut self,
        group: &[u8],
        removed: &[u8],
        missing: &[u8],
        now_ms: u64,
    ) -> Result<(), Error> {
        let id = group_id_from(group)?;
        if missing.len() % 32 != 0 {
            return Err(Error::corrupt("pending operation", "missing members"));
        }
        let missing = missing
            .chunks_exact(32)
            .map(member_id_from)
            .collect::<Result<Vec<_>, _>>()?;
        let g = self.group_mut(&id)?;
        let writer = g
            .next
            .as_ref()
            .map(|n| n.writer.clone())
            .ok_or_else(|| Error::corrupt("pending operation", "no rotation queued"))?;
        g.complete_rotation(writer, missing, now_ms)?;
        self.forgot = true;
        if !removed.is_empty() {
            let member = member_id_from(removed)?;
            let g = self.group_mut(&id)?;
            let me = g.me;
            let name = g.name_of(&member);
            g.depart(member, Departure::Removed(me));
            self.own_entry(
                id,
                Content::Removed {
                    name,
                    member: member.0.to_vec(),
                },
            )?;
        }
        let epoch = self.group(&id)?.epoch;
        self.own_entry(id, Content::Rotated { epoch })
    }
}
