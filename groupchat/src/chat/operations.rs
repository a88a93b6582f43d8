//! Network operations, persisted before they run and completed atomically.
//!
//! A command prepares its operation (an [`Outgoing`] message or an [`AllOrNothingPlan`]) and
//! stores it as a pending record together with what it needs locally (the WriteCap an invitee
//! signs with, say), in the same batch as the command's other changes. The client then runs it
//! and hands the outcome to [`Chat::handle_written`]: once it landed, one batch deletes the
//! pending record, stores the advanced writer(s) and records what the operation means locally
//! (our message in history, an approved member). Writers never advance before storage
//! acknowledged. Sealing is deterministic and plans resume, so after a kill the client runs the
//! pending operation again and the message lands exactly once.

use std::collections::{BTreeMap, BTreeSet};

use bacap::StatefulWriter;
use pigeonhole::stream::{AllOrNothingPlan, Outgoing, StreamError};
use zeroize::Zeroizing;

use super::{Changes, Chat, Log};
use crate::channel::GroupId;
use crate::error::Error;
use crate::keys;
use crate::messages::PleaseAdd;
use crate::records::{
    self, check_version, Completion, Content, PendingRecord, TargetRecord, RECORD_VERSION,
};

const KIND_OUTGOING: u8 = 1;
const KIND_PLAN: u8 = 2;

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

/// Whether retrying the same operation can never succeed.
fn permanent(e: &StreamError) -> bool {
    !matches!(e, StreamError::Store(_) | StreamError::CopyInProgress)
}

fn group_id_from(bytes: &[u8]) -> Result<GroupId, Error> {
    Ok(GroupId(bytes.try_into().map_err(|_| {
        Error::corrupt("pending operation", "group ID is not 32 bytes")
    })?))
}

/// The pending operations, by sequence number.
#[derive(Default)]
pub(crate) struct Outbox {
    pending: BTreeMap<u64, PendingRecord>,
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
            },
        );
        self.added.insert(seq);
        OpId(seq)
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

    fn remove(&mut self, id: OpId) -> Option<PendingRecord> {
        self.removed.insert(id.0);
        self.added.remove(&id.0);
        self.pending.remove(&id.0)
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

impl Chat {
    /// How many operations wait to run.
    pub fn pending_count(&self) -> usize {
        self.outbox.len()
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
                    *self.writer_mut(t)? = w;
                }
                self.complete(&rec.completion)?;
                Ok(Written::Landed)
            }
            Err(e) if permanent(&e) => {
                self.outbox.remove(id);
                Ok(Written::Dropped(e))
            }
            Err(e) => Ok(Written::Kept(e)),
        }
    }

    fn writer(&self, t: &TargetRecord) -> Result<&StatefulWriter, Error> {
        match t {
            TargetRecord::Group(id) => Ok(&self.group(&group_id_from(id)?)?.writer),
            TargetRecord::Channel(l) => Ok(&self.channels.get(l)?.writer),
        }
    }

    fn writer_mut(&mut self, t: &TargetRecord) -> Result<&mut StatefulWriter, Error> {
        match t {
            TargetRecord::Group(id) => Ok(&mut self.group_mut(&group_id_from(id)?)?.writer),
            TargetRecord::Channel(l) => Ok(&mut self.channels.get_mut(l)?.writer),
        }
    }

    /// What a landed operation means locally.
    fn complete(&mut self, c: &Completion) -> Result<(), Error> {
        match c {
            Completion::Nothing => {}
            Completion::GroupPosted { group, content } => {
                let id = group_id_from(group)?;
                let g = self.group(&id)?;
                let (me, name) = (g.my_id(), g.my_name());
                self.log.group_entry(id, me, name, true, content.clone());
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
                let (me, my_name) = (g.my_id(), g.my_name());
                let member = crate::group::MemberId::of(pa.read_cap.as_bytes());
                let name = pa.display_name.to_string();
                g.add_member(pa, Some(me), limits)?;
                self.invitations.close_outbound(id, label);
                self.log.group_entry(
                    id,
                    me,
                    my_name,
                    true,
                    Content::Introduced {
                        name,
                        member: member.0.to_vec(),
                    },
                );
            }
            Completion::WhoReplied { group } => {
                let id = group_id_from(group)?;
                if self.groups.contains_key(&id) {
                    self.group_mut(&id)?.owe_who_reply = false;
                }
            }
        }
        Ok(())
    }
}
