//! The outbox: what the user asked to send, in order per stream.
//!
//! A user's request ([`Request`]) names the streams it writes (its *lanes*: our stream of a
//! group, of a channel, of an answered invitation). When none of them has an operation waiting,
//! it is prepared at once into a pending operation ([`super::operations`]); otherwise it is
//! stored as it is and prepared once every earlier operation on its lanes landed, against the
//! state they left. So any number of requests wait durably while storage is unreachable, a
//! later one never lands before an earlier one of the same stream, and operations on different
//! streams are independent and may run concurrently.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::operations::op_lanes;
use super::{Changes, Chat, OpId};
use crate::channel::GroupId;
use crate::error::Error;
use crate::events::Event;
use crate::keys;
use crate::messages::FileType;
use crate::records::{self, check_version, RequestMeta, RequestRecord, TargetRecord};
use crate::records::{Completion, RECORD_VERSION};
use crate::roster::{MemberId, Role};

/// Something the user asked to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A text to a group.
    PostText {
        /// Group.
        group: GroupId,
        /// The text.
        text: String,
    },
    /// A file to a group.
    SendFile {
        /// Group.
        group: GroupId,
        /// Its name.
        basename: String,
        /// `arbitrary`, `image` or `sound`.
        filetype: String,
        /// Its bytes.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// WHO to a group.
    Who {
        /// Group.
        group: GroupId,
    },
    /// An invitation of a channel's peer to a group.
    Invite {
        /// Group.
        group: GroupId,
        /// Channel.
        label: String,
    },
    /// Our answer to an invitation.
    AcceptInvitation {
        /// Group.
        group: GroupId,
        /// The name we ask for.
        display_name: String,
    },
    /// A request to an invitee for another display name.
    AskRevise {
        /// Group.
        group: GroupId,
        /// Channel.
        label: String,
        /// Why.
        reason: String,
    },
    /// The approval of an invitee.
    Approve {
        /// Group.
        group: GroupId,
        /// Channel.
        label: String,
    },
    /// Our LEAVE.
    Leave {
        /// Group.
        group: GroupId,
    },
    /// The removal of a member.
    Remove {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
    },
    /// A move to a new stream.
    Rotate {
        /// Group.
        group: GroupId,
    },
    /// A ROLE.
    SetRole {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// `admin` or `member`.
        role: String,
    },
    /// The owner's DELETE.
    Delete {
        /// Group.
        group: GroupId,
    },
    /// Our refusal of an invitation.
    Decline {
        /// Group.
        group: GroupId,
    },
    /// Our rejection of an invitee's request to join.
    Reject {
        /// Group.
        group: GroupId,
        /// Channel.
        label: String,
        /// Why.
        reason: String,
    },
    /// A private text on a channel.
    ChannelText {
        /// Channel.
        label: String,
        /// The text.
        text: String,
    },
}

impl Request {
    /// A short name of its kind, as the outbox lists it.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::PostText { .. } => "post",
            Request::SendFile { .. } => "file",
            Request::Who { .. } => "who",
            Request::Invite { .. } => "invite",
            Request::AcceptInvitation { .. } => "join",
            Request::AskRevise { .. } => "revise",
            Request::Approve { .. } => "approve",
            Request::Leave { .. } => "leave",
            Request::Remove { .. } => "remove",
            Request::Rotate { .. } => "rotate",
            Request::SetRole { .. } => "role",
            Request::Delete { .. } => "delete",
            Request::Decline { .. } => "decline",
            Request::Reject { .. } => "reject",
            Request::ChannelText { .. } => "text",
        }
    }

    /// The group it concerns, if any.
    pub fn group(&self) -> Option<GroupId> {
        match self {
            Request::PostText { group, .. }
            | Request::SendFile { group, .. }
            | Request::Who { group }
            | Request::Invite { group, .. }
            | Request::AcceptInvitation { group, .. }
            | Request::AskRevise { group, .. }
            | Request::Approve { group, .. }
            | Request::Leave { group }
            | Request::Remove { group, .. }
            | Request::Rotate { group }
            | Request::SetRole { group, .. }
            | Request::Delete { group }
            | Request::Decline { group }
            | Request::Reject { group, .. } => Some(*group),
            Request::ChannelText { .. } => None,
        }
    }

    /// The channel it writes to, if any (for an answer to an invitation: the one it came
    /// over, which only the state knows).
    fn channel(&self) -> Option<&str> {
        match self {
            Request::Invite { label, .. }
            | Request::AskRevise { label, .. }
            | Request::Approve { label, .. }
            | Request::Reject { label, .. }
            | Request::ChannelText { label, .. } => Some(label),
            _ => None,
        }
    }

    /// Whether preparing it changes nothing but the outbox, so that a prepared one may still be
    /// dropped.
    fn pure_message(kind: &str) -> bool {
        matches!(kind, "post" | "file" | "who" | "text" | "revise" | "role")
    }
}

/// One entry of the outbox, as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its number (for [`Chat::drop_entry`]).
    pub entry: u64,
    /// What kind: a [`Request::kind`], or for what the client owes by itself `who-reply`,
    /// `rotation` or `tombstones`.
    pub kind: String,
    /// The group it goes to, if any.
    pub group: Option<GroupId>,
    /// The channel it goes to, if any.
    pub channel: Option<String>,
    /// How many boxes it writes (an estimate while not prepared).
    pub boxes: u64,
    /// How many times it was sent.
    pub attempts: u32,
    /// Why the last try did not land.
    pub last_error: Option<String>,
    /// Whether some of its boxes may already have landed (then it can no longer be dropped).
    pub may_have_landed: bool,
    /// When it was queued (Unix milliseconds; 0 for what the client owes by itself).
    pub queued_ms: u64,
}

/// The requests waiting behind an earlier operation, by sequence number.
#[derive(Default)]
pub(crate) struct Requests {
    map: BTreeMap<u64, RequestRecord>,
    added: BTreeSet<u64>,
    removed: BTreeSet<u64>,
}

impl Requests {
    pub(crate) fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let seq = u64::from_be_bytes(
            key[keys::QUEUED.len()..]
                .try_into()
                .map_err(|_| Error::corrupt("queued request", "key"))?,
        );
        let rec: RequestRecord = records::decode("queued request", value)?;
        check_version("queued request", rec.v)?;
        self.map.insert(seq, rec);
        Ok(())
    }

    pub(crate) fn take_changes(&mut self, c: &mut Changes) {
        for seq in std::mem::take(&mut self.added) {
            if let Some(rec) = self.map.get(&seq) {
                c.puts.push((keys::queued(seq), records::encode(rec)));
            }
        }
        for seq in std::mem::take(&mut self.removed) {
            c.deletes.push(keys::queued(seq));
        }
    }

    fn insert(&mut self, seq: u64, rec: RequestRecord) {
        self.map.insert(seq, rec);
        self.added.insert(seq);
    }

    fn remove(&mut self, seq: u64) -> Option<RequestRecord> {
        self.added.remove(&seq);
        self.removed.insert(seq);
        self.map.remove(&seq)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// The lane of a stream: a queued rotation's new stream belongs to its group's lane.
pub(crate) fn lane(t: &TargetRecord) -> TargetRecord {
    match t {
        TargetRecord::GroupNext(id) => TargetRecord::Group(id.clone()),
        other => other.clone(),
    }
}

fn parse_role(role: &str) -> Result<Role, Error> {
    Role::parse(role).map_err(|_| Error::NotAllowed("roles are owner, admin and member"))
}

impl Chat {
    /// Queues what the user asked: checked now (a mistake is an error at once), prepared now
    /// if its streams are free, else stored to prepare once the operations before it landed.
    /// Returns its outbox entry number.
    pub fn submit<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        request: Request,
        now_ms: u64,
    ) -> Result<u64, Error> {
        self.log.set_now(now_ms);
        self.check_request(&request)?;
        let entry = self.log.alloc_seq();
        let lanes = self.request_lanes(&request);
        let busy = self.busy_lanes();
        let behind = self.requests.map.values().any(|r| {
            self.request_lanes(&r.request)
                .iter()
                .any(|l| lanes.contains(l))
        });
        if behind || lanes.iter().any(|l| busy.contains(l)) {
            self.requests.insert(
                entry,
                RequestRecord {
                    v: RECORD_VERSION,
                    queued_ms: now_ms,
                    request,
                },
            );
        } else {
            self.prepare_request(rng, entry, now_ms, &request)?;
        }
        Ok(entry)
    }

    /// Prepares every stored request whose streams are free now, oldest first. A request that
    /// can no longer be sent (we left the group, the invitee is gone) is dropped with an
    /// event; returns those events.
    pub fn prepare_ready<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
    ) -> Vec<Event> {
        self.log.set_now(now_ms);
        let mut dropped = self.drop_stale();
        let mut busy = self.busy_lanes();
        let waiting: Vec<u64> = self.requests.map.keys().copied().collect();
        for seq in waiting {
            let Some(rec) = self.requests.map.get(&seq) else {
                continue;
            };
            let request = rec.request.clone();
            let queued_ms = rec.queued_ms;
            let lanes = self.request_lanes(&request);
            if lanes.iter().any(|l| busy.contains(l)) {
                busy.extend(lanes);
                continue;
            }
            self.requests.remove(seq);
            match self.prepare_request(rng, seq, queued_ms, &request) {
                Ok(_) => busy.extend(lanes),
                Err(e) => {
                    let entry = self.request_entry(seq, queued_ms, &request);
                    dropped.push(Event::OutboxDropped {
                        entry,
                        reason: e.to_string(),
                    });
                }
            }
        }
        dropped
    }

    /// Every entry of the outbox, in order: prepared operations first, then the requests
    /// behind them.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        let mut out: Vec<OutboxEntry> = self
            .outbox
            .pending
            .iter()
            .map(|(&seq, rec)| self.op_entry(seq, rec))
            .collect();
        out.extend(
            self.requests
                .map
                .iter()
                .map(|(&seq, r)| self.request_entry(seq, r.queued_ms, &r.request)),
        );
        out
    }

    /// How many entries the outbox holds.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len() + self.requests.len()
    }

    /// Whether entry `entry` is still in the outbox.
    pub fn in_outbox(&self, entry: u64) -> bool {
        self.requests.map.contains_key(&entry) || self.op_of_entry(entry).is_some()
    }

    /// The pending operation entry `entry` was prepared into (or is, for what the client owes
    /// by itself).
    pub fn op_of_entry(&self, entry: u64) -> Option<OpId> {
        self.outbox
            .pending
            .iter()
            .find(|(&seq, r)| seq == entry || r.from.as_ref().is_some_and(|m| m.entry == entry))
            .map(|(&seq, _)| OpId(seq))
    }

    /// The outbox entry number of operation `id`.
    pub fn entry_of_op(&self, id: OpId) -> Option<u64> {
        let rec = self.outbox.pending.get(&id.0)?;
        Some(rec.from.as_ref().map(|m| m.entry).unwrap_or(id.0))
    }

    /// Drops entry `entry`, which must not have been sent in a way that may have landed
    /// (never tried, or every try failed to connect), and must not have changed our state
    /// when it was prepared (an answer to an invitation, an approval, a rotation, a LEAVE or a
    /// DELETE are completed instead). Returns what was dropped.
    pub fn drop_entry(&mut self, entry: u64) -> Result<OutboxEntry, Error> {
        if let Some(rec) = self.requests.remove(entry) {
            return Ok(self.request_entry(entry, rec.queued_ms, &rec.request));
        }
        let id = self.op_of_entry(entry).ok_or(Error::NotInOutbox(entry))?;
        let rec = &self.outbox.pending[&id.0];
        let shown = self.op_entry(id.0, rec);
        let pure = rec
            .from
            .as_ref()
            .is_some_and(|m| Request::pure_message(&m.kind));
        if !pure {
            return Err(Error::NotDroppable(
                "preparing it changed the profile's state, so it is completed instead",
            ));
        }
        if rec.reached > 0 {
            return Err(Error::NotDroppable(
                "it was sent and may have landed, so it is completed instead",
            ));
        }
        self.outbox.remove(id);
        Ok(shown)
    }

    /// The lanes every pending operation holds.
    pub(crate) fn busy_lanes(&self) -> BTreeSet<TargetRecord> {
        self.outbox.pending.values().flat_map(op_lanes).collect()
    }

    /// The lanes a request will write.
    fn request_lanes(&self, r: &Request) -> BTreeSet<TargetRecord> {
        let mut lanes = BTreeSet::new();
        match r {
            Request::Invite { .. }
            | Request::AskRevise { .. }
            | Request::Reject { .. }
            | Request::ChannelText { .. } => {}
            Request::AcceptInvitation { group, .. } | Request::Decline { group } => {
                lanes.insert(TargetRecord::Invitation(group.0.to_vec()));
                if let Some(inv) = self.invitations.inbound.get(group) {
                    lanes.insert(TargetRecord::Channel(inv.channel.clone()));
                }
            }
            _ => {
                if let Some(g) = r.group() {
                    lanes.insert(TargetRecord::Group(g.0.to_vec()));
                }
            }
        }
        if let Some(label) = r.channel() {
            lanes.insert(TargetRecord::Channel(label.to_owned()));
        }
        lanes
    }

    /// What can be told of a request before its streams are free: the group, channel,
    /// invitation or member it names exists, we may do it, a file is not too large.
    fn check_request(&self, r: &Request) -> Result<(), Error> {
        match r {
            Request::PostText { group, .. } | Request::Who { group } | Request::Leave { group } => {
                self.live_group(group)?;
            }
            Request::Rotate { group } => {
                self.live_group(group)?;
            }
            Request::SendFile {
                group,
                payload,
                filetype,
                ..
            } => {
                self.live_group(group)?;
                FileType::parse(filetype)?;
                let max = self.config.max_file_len;
                if payload.len() > max {
                    return Err(Error::FileTooLarge {
                        len: payload.len(),
                        max,
                    });
                }
            }
            Request::Invite { group, label } => {
                self.group(group)?;
                self.channels.open(label)?;
            }
            Request::AcceptInvitation {
                group,
                display_name,
            } => {
                crate::display_name::DisplayName::new(display_name)?;
                if !self.invitations.inbound.contains_key(group) {
                    return Err(Error::NoInvitation(*group));
                }
            }
            Request::Decline { group } => {
                if !self.invitations.inbound.contains_key(group) {
                    return Err(Error::NoInvitation(*group));
                }
            }
            Request::Reject { group, label, .. } => self.check_invited(group, label)?,
            Request::AskRevise { group, label, .. } | Request::Approve { group, label } => {
                self.live_group(group)?;
                self.channels.open(label)?;
                self.check_invited(group, label)?;
            }
            Request::Remove { group, member } => self.check_remove(group, member)?,
            Request::SetRole {
                group,
                member,
                role,
            } => self.check_set_role(group, member, parse_role(role)?)?,
            Request::Delete { group } => self.check_delete(group)?,
            Request::ChannelText { label, .. } => {
                self.channels.open(label)?;
            }
        }
        Ok(())
    }

    /// Whether we invited the peer of channel `label` to group `id`.
    fn check_invited(&self, id: &GroupId, label: &str) -> Result<(), Error> {
        if self
            .invitations
            .outbound
            .contains_key(&(*id, label.to_owned()))
        {
            Ok(())
        } else {
            Err(Error::NoJoinRequest {
                group: *id,
                channel: label.to_owned(),
            })
        }
    }

    /// Prepares `r` into a pending operation, recorded as outbox entry `entry`.
    fn prepare_request<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        entry: u64,
        queued_ms: u64,
        r: &Request,
    ) -> Result<OpId, Error> {
        let op = match r {
            Request::PostText { group, text } => self.post_text(rng, group, text)?,
            Request::SendFile {
                group,
                basename,
                filetype,
                payload,
            } => self.send_file(
                rng,
                group,
                basename,
                FileType::parse(filetype)?,
                payload.clone(),
            )?,
            Request::Who { group } => self.who(rng, group)?,
            Request::Invite { group, label } => self.invite(rng, group, label)?,
            Request::AcceptInvitation {
                group,
                display_name,
            } => self.accept_invitation(rng, group, display_name)?,
            Request::AskRevise {
                group,
                label,
                reason,
            } => self.ask_revise(rng, group, label, reason)?,
            Request::Approve { group, label } => self.approve(rng, group, label)?,
            Request::Leave { group } => self.leave(rng, group)?,
            Request::Remove { group, member } => self.remove(rng, group, member)?,
            Request::Rotate { group } => self.rotate(rng, group)?,
            Request::SetRole {
                group,
                member,
                role,
            } => self.set_role(rng, group, member, parse_role(role)?)?,
            Request::Delete { group } => self.delete(rng, group)?,
            Request::Decline { group } => self.decline(rng, group)?,
            Request::Reject {
                group,
                label,
                reason,
            } => self.reject(rng, group, label, reason)?,
            Request::ChannelText { label, text } => self.send_channel_text(rng, label, text)?,
        };
        self.outbox.set_origin(
            op,
            RequestMeta {
                entry,
                kind: r.kind().to_owned(),
                queued_ms,
            },
        );
        Ok(op)
    }

    fn request_entry(&self, seq: u64, queued_ms: u64, r: &Request) -> OutboxEntry {
        let len = match r {
            Request::PostText { text, .. } | Request::ChannelText { text, .. } => text.len(),
            Request::SendFile {
                basename, payload, ..
            } => crate::messages::FileUpload::message_len(basename, payload.len()),
            _ => 0,
        };
        let channel = match r {
            Request::AcceptInvitation { group, .. } | Request::Decline { group } => self
                .invitations
                .inbound
                .get(group)
                .map(|i| i.channel.clone()),
            other => other.channel().map(str::to_owned),
        };
        OutboxEntry {
            entry: seq,
            kind: r.kind().to_owned(),
            group: r.group(),
            channel,
            boxes: crate::config::Config::boxes_for(len, self.geometry) as u64,
            attempts: 0,
            last_error: None,
            may_have_landed: false,
            queued_ms,
        }
    }

    pub(super) fn op_entry(&self, seq: u64, rec: &records::PendingRecord) -> OutboxEntry {
        let (kind, queued_ms, entry) = match &rec.from {
            Some(m) => (m.kind.clone(), m.queued_ms, m.entry),
            None => (
                match &rec.completion {
                    Completion::WhoReplied { .. } => "who-reply",
                    Completion::Rotated { .. } => "rotation",
                    Completion::Tombstoned { .. } => "tombstones",
                    _ => "who",
                }
                .to_owned(),
                0,
                seq,
            ),
        };
        let mut group = None;
        let mut channel = None;
        for t in &rec.targets {
            match t {
                TargetRecord::Group(id) | TargetRecord::GroupNext(id) => {
                    group = id.as_slice().try_into().ok().map(GroupId)
                }
                TargetRecord::Invitation(id) => group = id.as_slice().try_into().ok().map(GroupId),
                TargetRecord::Channel(l) => channel = Some(l.clone()),
            }
        }
        if let Completion::Tombstoned { group: g } = &rec.completion {
            group = g.as_slice().try_into().ok().map(GroupId);
        }
        OutboxEntry {
            entry,
            kind,
            group,
            channel,
            boxes: self.outbox.box_count(rec, self.geometry),
            attempts: rec.attempts,
            last_error: (!rec.last_error.is_empty()).then(|| rec.last_error.clone()),
            may_have_landed: rec.reached > 0,
            queued_ms,
        }
    }
}
