//! The join flow, over a 1:1 channel between an introducer and an invitee: invitation, signed
//! request, request to revise the name, and approval (the INTRODUCTION to the introducer's
//! group stream and the Welcome on the channel in one AllOrNothing). Each channel message of
//! the flow has its handler here.

use std::collections::{BTreeMap, BTreeSet};

use bacap::{StatefulWriter, WriteCap};
use pigeonhole::stream::AllOrNothingPlan;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::{Changes, Chat, OpId};
use crate::channel::{
    ChannelMessage, GroupId, Invitation, PleaseReviseDisplayName, SignedPleaseAdd, Welcome,
};
use crate::display_name::DisplayName;
use crate::error::Error;
use crate::events::{Event, InvitationInfo, JoinRequestInfo};
use crate::group::{group_ctx, Group};
use crate::keys;
use crate::membership::MembershipHash;
use crate::messages::{Body, GroupChatMessage, PleaseAdd};
use crate::records::{
    self, check_version, Completion, Content, InvitationInRecord, InvitationOutRecord,
    TargetRecord, RECORD_VERSION,
};
use crate::roster::{History, MemberId, Role, RosterEntry};
use crate::sealed::SealingKeyPair;

fn group_id_from(bytes: &[u8], record: &'static str) -> Result<GroupId, Error> {
    Ok(GroupId(bytes.try_into().map_err(|_| {
        Error::corrupt(record, "group ID is not 32 bytes")
    })?))
}

/// Invitations received (by group) and sent (by group and channel), and which changed.
#[derive(Default)]
pub(crate) struct Invitations {
    pub(super) inbound: BTreeMap<GroupId, InvitationInRecord>,
    /// The writers of our future group streams, of the invitations we answered.
    answered: BTreeMap<GroupId, StatefulWriter>,
    pub(super) outbound: BTreeMap<(GroupId, String), InvitationOutRecord>,
    changed_in: BTreeSet<GroupId>,
    changed_out: BTreeSet<(GroupId, String)>,
}

impl Invitations {
    pub(crate) fn load_inbound(&mut self, value: &[u8]) -> Result<(), Error> {
        let rec: InvitationInRecord = records::decode("invitation", value)?;
        check_version("invitation", rec.v)?;
        let id = group_id_from(&rec.group_id, "invitation")?;
        if !rec.writer.is_empty() {
            self.answered
                .insert(id, StatefulWriter::from_bytes(&rec.writer)?);
        }
        self.inbound.insert(id, rec);
        Ok(())
    }

    pub(crate) fn load_outbound(&mut self, value: &[u8]) -> Result<(), Error> {
        let rec: InvitationOutRecord = records::decode("invitation", value)?;
        check_version("invitation", rec.v)?;
        let key = (
            group_id_from(&rec.group_id, "invitation")?,
            rec.channel.clone(),
        );
        self.outbound.insert(key, rec);
        Ok(())
    }

    pub(crate) fn take_changes(&mut self, c: &mut Changes) {
        for id in std::mem::take(&mut self.changed_in) {
            let key = keys::invitation_in(&id.0);
            match self.inbound.get(&id) {
                Some(r) => c.puts.push((key, records::encode(r))),
                None => c.deletes.push(key),
            }
        }
        for k in std::mem::take(&mut self.changed_out) {
            let key = keys::invitation_out(&k.0 .0, &k.1);
            match self.outbound.get(&k) {
                Some(r) => c.puts.push((key, records::encode(r))),
                None => c.deletes.push(key),
            }
        }
    }

    fn inbound_mut(&mut self, id: &GroupId) -> Result<&mut InvitationInRecord, Error> {
        self.changed_in.insert(*id);
        self.inbound.get_mut(id).ok_or(Error::NoInvitation(*id))
    }

    fn outbound_mut(
        &mut self,
        id: &GroupId,
        label: &str,
    ) -> Result<&mut InvitationOutRecord, Error> {
        let key = (*id, label.to_owned());
        self.changed_out.insert(key.clone());
        self.outbound
            .get_mut(&key)
            .ok_or_else(|| Error::NoJoinRequest {
                group: *id,
                channel: label.to_owned(),
            })
    }

    /// Our future group stream's writer for the invitation to `id`.
    pub(crate) fn writer(&self, id: &GroupId) -> Result<&StatefulWriter, Error> {
        self.answered
            .get(id)
            .ok_or_else(|| Error::corrupt("pending operation", "no answered invitation"))
    }

    /// Stores our future group stream's writer for the invitation to `id` (once its KEY
    /// landed).
    pub(crate) fn set_writer(&mut self, id: &GroupId, w: StatefulWriter) -> Result<(), Error> {
        let rec = self.inbound_mut(id)?;
        rec.writer = w.to_bytes().to_vec();
        self.answered.insert(*id, w);
        Ok(())
    }

    /// Forgets the invitation to `id` we received (declined, rejected or expired).
    pub(crate) fn forget_inbound(&mut self, id: &GroupId) {
        self.inbound.remove(id);
        self.answered.remove(id);
        self.changed_in.insert(*id);
    }

    /// Forgets the invitation to `id` sent over `label` (the invitee was approved).
    pub(crate) fn close_outbound(&mut self, id: GroupId, label: &str) {
        let key = (id, label.to_owned());
        self.outbound.remove(&key);
        self.changed_out.insert(key);
    }
}

/// The invitee's latest request, verified.
fn request_of(r: &InvitationOutRecord) -> Result<(SignedPleaseAdd, PleaseAdd), Error> {
    if r.request.is_empty() {
        return Err(Error::NotAnswered);
    }
    match ChannelMessage::from_cbor(&r.request)? {
        ChannelMessage::SignedPleaseAdd(s) => {
            let pa = s.verify()?;
            Ok((s, pa))
        }
        _ => Err(Error::corrupt("invitation", "stored join request")),
    }
}

impl Chat {
    /// Queues an invitation of the peer of channel `label` to group `id`.
    pub fn invite<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        label: &str,
    ) -> Result<OpId, Error> {
        let msg = ChannelMessage::Invitation(Invitation {
            group_id: *id,
            group_name: self.group(id)?.name.clone(),
        });
        let op = self.send_channel(rng, label, &msg, Completion::Nothing)?;
        let key = (*id, label.to_owned());
        self.invitations.outbound.insert(
            key.clone(),
            InvitationOutRecord {
                v: RECORD_VERSION,
                group_id: id.0.to_vec(),
                channel: label.to_owned(),
                request: Vec::new(),
                sent_ms: self.log.now_ms(),
            },
        );
        self.invitations.changed_out.insert(key);
        Ok(op)
    }

    /// The invitations we received and have not completed.
    pub fn invitations(&self) -> Vec<InvitationInfo> {
        self.invitations
            .inbound
            .iter()
            .map(|(id, r)| InvitationInfo {
                group: *id,
                group_name: r.group_name.clone(),
                channel: r.channel.clone(),
                answered_as: (!r.display_name.is_empty()).then(|| r.display_name.clone()),
                revise_reason: (!r.revise_reason.is_empty()).then(|| r.revise_reason.clone()),
            })
            .collect()
    }

    /// Queues our answer to an invitation (again, after a request to revise): asks to join as
    /// `display_name`, with a SignedPleaseAdd for our future group stream. The first answer
    /// also writes that stream's first box, a KEY with our sealing key, in the same
    /// AllOrNothing, so every member that adds us reads it first.
    pub fn accept_invitation<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        display_name: &str,
    ) -> Result<OpId, Error> {
        let dn = DisplayName::new(display_name)?;
        let first_answer = !self.invitations.answered.contains_key(id);
        let inv = self.invitations.inbound_mut(id)?;
        if first_answer {
            let cap = WriteCap::generate(rng);
            inv.write_cap = cap.to_bytes().to_vec();
            inv.key = SealingKeyPair::generate(rng).secret_bytes().to_vec();
            let writer = StatefulWriter::new(cap, &group_ctx(id));
            inv.writer = writer.to_bytes().to_vec();
        }
        let cap = WriteCap::from_bytes(&inv.write_cap)?;
        let key = SealingKeyPair::from_secret_bytes(&inv.key)?;
        inv.display_name = dn.to_string();
        inv.revise_reason.clear();
        let label = inv.channel.clone();
        let writer = StatefulWriter::from_bytes(&inv.writer)?;
        self.invitations.answered.insert(*id, writer.clone());
        let signed = ChannelMessage::SignedPleaseAdd(SignedPleaseAdd::sign(
            *id,
            &PleaseAdd::new(dn, &cap.read_cap()),
            &cap,
        ));
        if !first_answer {
            return self.send_channel(rng, &label, &signed, Completion::Nothing);
        }
        let signed = Zeroizing::new(signed.to_cbor());
        let key_msg = GroupChatMessage::new(
            MembershipHash([0; crate::membership::MEMBERSHIP_HASH_LEN]),
            Body::Key(key.public().0),
        )
        .to_cbor();
        let chan = self.channels.open(&label)?;
        let plan = AllOrNothingPlan::for_messages(
            rng,
            self.geometry,
            &self.limits(),
            vec![(chan.writer.clone(), &signed[..]), (writer, &key_msg[..])],
        )?;
        Ok(self.outbox.submit_plan(
            &mut self.log,
            &plan,
            vec![
                TargetRecord::Channel(label),
                TargetRecord::Invitation(id.0.to_vec()),
            ],
            Completion::Nothing,
        ))
    }

    /// Queues our refusal of the invitation to group `id`: the introducer is told, and the
    /// invitation is gone.
    pub fn decline<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
    ) -> Result<OpId, Error> {
        let inv = self.invitations.inbound_mut(id)?;
        if !inv.write_cap.is_empty() {
            return Err(Error::NotAllowed(
                "we asked to join already; leave the group once in",
            ));
        }
        let label = inv.channel.clone();
        let op = self.send_channel(
            rng,
            &label,
            &ChannelMessage::Decline(*id),
            Completion::Nothing,
        )?;
        self.invitations.forget_inbound(id);
        Ok(op)
    }

    /// Queues our rejection of the invitee of channel `label` into group `id`: they are told
    /// why, and the invitation is closed.
    pub fn reject<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        label: &str,
        reason: &str,
    ) -> Result<OpId, Error> {
        self.invitations.outbound_mut(id, label)?;
        let msg = ChannelMessage::Reject(*id, reason.to_owned());
        let op = self.send_channel(rng, label, &msg, Completion::Nothing)?;
        self.invitations.close_outbound(*id, label);
        Ok(op)
    }

    /// Forgets invitations nobody answered within `Config::invitation_ttl`: those we received
    /// and did not answer, and those we sent whose invitee did not ask to join. Returns what
    /// expired.
    pub fn expire_invitations(&mut self, now_ms: u64) -> Vec<Event> {
        let ttl = self.config.invitation_ttl.as_millis() as u64;
        let old = |t: u64| t > 0 && now_ms.saturating_sub(t) > ttl;
        let mut events = Vec::new();
        let inbound: Vec<GroupId> = self
            .invitations
            .inbound
            .iter()
            .filter(|(_, r)| r.write_cap.is_empty() && old(r.received_ms))
            .map(|(id, _)| *id)
            .collect();
        for id in inbound {
            if let Some(r) = self.invitations.inbound.get(&id) {
                events.push(Event::InvitationExpired {
                    group: id,
                    group_name: r.group_name.clone(),
                    channel: r.channel.clone(),
                    ours: false,
                });
            }
            self.invitations.forget_inbound(&id);
        }
        let outbound: Vec<(GroupId, String)> = self
            .invitations
            .outbound
            .iter()
            .filter(|(_, r)| r.request.is_empty() && old(r.sent_ms))
            .map(|(k, _)| k.clone())
            .collect();
        for (id, label) in outbound {
            let group_name = self
                .groups
                .get(&id)
                .map(|g| g.name.clone())
                .unwrap_or_default();
            events.push(Event::InvitationExpired {
                group: id,
                group_name,
                channel: label.clone(),
                ours: true,
            });
            self.invitations.close_outbound(id, &label);
        }
        events
    }

    /// The invitations we sent, with the invitee's request if it arrived.
    pub fn join_requests(&self) -> Vec<JoinRequestInfo> {
        self.invitations
            .outbound
            .iter()
            .map(|((id, label), r)| JoinRequestInfo {
                group: *id,
                channel: label.clone(),
                display_name: request_of(r)
                    .ok()
                    .map(|(_, pa)| pa.display_name.to_string()),
            })
            .collect()
    }

    /// Queues a request to the invitee for another display name.
    pub fn ask_revise<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        label: &str,
        reason: &str,
    ) -> Result<OpId, Error> {
        let rec = self.invitations.outbound_mut(id, label)?;
        let (original, _) = request_of(rec)?;
        rec.request.clear();
        let msg = ChannelMessage::PleaseReviseDisplayName(PleaseReviseDisplayName {
            group_id: *id,
            original,
            reason: reason.to_owned(),
        });
        self.send_channel(rng, label, &msg, Completion::Nothing)
    }

    /// Queues the approval of the invitee: in ONE AllOrNothing operation, the INTRODUCTION to
    /// our group stream and the Welcome (the member list) on the channel.
    pub fn approve<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        label: &str,
    ) -> Result<OpId, Error> {
        let key = (*id, label.to_owned());
        let rec = self
            .invitations
            .outbound
            .get(&key)
            .ok_or_else(|| Error::NoJoinRequest {
                group: *id,
                channel: label.to_owned(),
            })?;
        let (_, pa) = request_of(rec)?;
        let g = self.group(id)?;
        if !g.is_live() {
            return Err(Error::NotAMember(*id));
        }
        let newcomer = MemberId::of(&pa.read_cap()?);
        if g.members.contains_key(&newcomer) || g.departed.contains_key(&newcomer) {
            return Err(Error::AlreadyMember);
        }
        if g.members.len() >= self.config.max_group_members {
            return Err(Error::GroupFull(self.config.max_group_members));
        }
        let hash = g.membership_hash_with(&[], Some((newcomer, &pa.display_name)));
        let intro = GroupChatMessage::new(hash, Body::Introduction(pa.clone())).to_cbor();
        let mut members = g.member_list(g.history);
        members.please_adds.push(pa.clone());
        if let Some(roster) = members.roster.as_mut() {
            roster.push(RosterEntry {
                member: newcomer,
                role: Role::Member,
                epoch: 0,
                key: None,
            });
        }
        let welcome = Zeroizing::new(
            ChannelMessage::Welcome(Welcome {
                group_id: *id,
                group_name: g.name.clone(),
                members,
                history: Some(g.history),
            })
            .to_cbor(),
        );
        let chan = self.channels.open(label)?;
        let plan = AllOrNothingPlan::for_messages(
            rng,
            self.geometry,
            &self.limits(),
            vec![
                (g.writer.clone(), &intro[..]),
                (chan.writer.clone(), &welcome[..]),
            ],
        )?;
        Ok(self.outbox.submit_plan(
            &mut self.log,
            &plan,
            vec![
                TargetRecord::Group(id.0.to_vec()),
                TargetRecord::Channel(label.to_owned()),
            ],
            Completion::Approved {
                group: id.0.to_vec(),
                label: label.to_owned(),
                please_add: pa.to_cbor(),
            },
        ))
    }

    /// An invitation arrived on channel `label`.
    pub(crate) fn on_invitation(&mut self, label: &str, inv: Invitation) {
        let source = format!("channel {label}");
        let id = inv.group_id;
        if self.groups.contains_key(&id) {
            self.log.problem(source, "invitation to a group we are in");
            return;
        }
        let answered_elsewhere = self
            .invitations
            .inbound
            .get(&id)
            .is_some_and(|r| r.channel != label && !r.write_cap.is_empty());
        if answered_elsewhere {
            self.log
                .problem(source, "invitation to a group we asked to join elsewhere");
            return;
        }
        // An invitation again (over another channel before we answered, or the same one):
        // what we answered stays.
        let rec = self
            .invitations
            .inbound
            .entry(id)
            .or_insert_with(|| InvitationInRecord {
                v: RECORD_VERSION,
                group_id: id.0.to_vec(),
                group_name: String::new(),
                channel: String::new(),
                write_cap: Vec::new(),
                writer: Vec::new(),
                key: Vec::new(),
                display_name: String::new(),
                revise_reason: String::new(),
                received_ms: 0,
            });
        rec.group_name = inv.group_name.clone();
        rec.received_ms = self.log.now_ms();
        rec.channel = label.to_owned();
        rec.revise_reason.clear();
        self.invitations.changed_in.insert(id);
        self.log.event(Event::Invited {
            channel: label.to_owned(),
            group: id,
            group_name: inv.group_name,
        });
    }

    /// An invitee's request to be added arrived on channel `label`.
    pub(crate) fn on_join_request(&mut self, label: &str, s: SignedPleaseAdd) {
        let source = format!("channel {label}");
        let key = (s.group_id, label.to_owned());
        if !self.invitations.outbound.contains_key(&key) {
            self.log.problem(source, "a join request we did not invite");
            return;
        }
        let pa = match s.verify() {
            Ok(pa) => pa,
            Err(e) => {
                self.log.problem(source, format!("join request: {e}"));
                return;
            }
        };
        let Some(g) = self.groups.get(&s.group_id).filter(|g| g.is_live()) else {
            self.log.problem(source, "join request for a group we left");
            return;
        };
        let member = MemberId::of_cap_bytes(pa.read_cap.as_bytes());
        if g.members.contains_key(&member) || g.departed.contains_key(&member) {
            self.log
                .problem(source, "join request from a current or former member");
            return;
        }
        let name_taken = g.members.values().any(|m| m.name == pa.display_name);
        let group = s.group_id;
        let rec = self
            .invitations
            .outbound
            .get_mut(&key)
            .expect("checked above");
        rec.request = ChannelMessage::SignedPleaseAdd(s).to_cbor();
        self.invitations.changed_out.insert(key);
        self.log.event(Event::JoinRequest {
            channel: label.to_owned(),
            group,
            display_name: pa.display_name.to_string(),
            name_taken,
        });
    }

    /// The invitee of channel `label` declined our invitation to group `id`.
    pub(crate) fn on_decline(&mut self, label: &str, id: GroupId) {
        if !self
            .invitations
            .outbound
            .contains_key(&(id, label.to_owned()))
        {
            self.log.problem(
                format!("channel {label}"),
                "declined an invitation we did not send",
            );
            return;
        }
        self.invitations.close_outbound(id, label);
        self.log.event(Event::InvitationDeclined {
            channel: label.to_owned(),
            group: id,
        });
    }

    /// The introducer of channel `label` rejected our request to join group `id`.
    pub(crate) fn on_reject(&mut self, label: &str, id: GroupId, reason: String) {
        let Some(inv) = self
            .invitations
            .inbound
            .get(&id)
            .filter(|r| r.channel == label)
        else {
            self.log.problem(
                format!("channel {label}"),
                "rejected a request we did not send there",
            );
            return;
        };
        let group_name = inv.group_name.clone();
        self.invitations.forget_inbound(&id);
        self.log.event(Event::JoinRejected {
            channel: label.to_owned(),
            group: id,
            group_name,
            reason,
        });
    }

    /// The introducer asked us, on channel `label`, for another display name.
    pub(crate) fn on_revise_request(&mut self, label: &str, p: PleaseReviseDisplayName) {
        match self.invitations.inbound.get_mut(&p.group_id) {
            Some(r) if r.channel == label && !r.write_cap.is_empty() => {
                r.revise_reason = p.reason.clone();
                self.invitations.changed_in.insert(p.group_id);
                self.log.event(Event::ReviseRequested {
                    channel: label.to_owned(),
                    group: p.group_id,
                    reason: p.reason,
                });
            }
            _ => self.log.problem(
                format!("channel {label}"),
                "request to revise a name we did not send",
            ),
        }
    }

    /// We were approved: the Welcome with the member list arrived on channel `label`.
    pub(crate) fn on_welcome(&mut self, label: &str, w: Welcome) -> Result<(), Error> {
        let source = format!("channel {label}");
        let id = w.group_id;
        let Some(inv) = self.invitations.inbound.get(&id) else {
            self.log
                .problem(source, "welcome to a group we did not ask to join");
            return Ok(());
        };
        let Some(writer) = self.invitations.answered.get(&id).cloned() else {
            self.log
                .problem(source, "welcome to a group we did not answer");
            return Ok(());
        };
        if inv.channel != label {
            self.log
                .problem(source, "welcome from a channel we did not ask");
            return Ok(());
        }
        if self.groups.contains_key(&id) {
            self.log.problem(source, "welcome to a group we are in");
            return Ok(());
        }
        let key = SealingKeyPair::from_secret_bytes(&inv.key)?;
        let me = MemberId::of(&writer.cap().read_cap());
        let entries = w.members.roster.as_deref();
        let position = w.members.please_adds.iter().enumerate().position(|(i, p)| {
            let listed = entries.and_then(|e| e.get(i)).map(|e| e.member);
            listed == Some(me)
                || (listed.is_none() && p.read_cap().is_ok_and(|cap| MemberId::of(&cap) == me))
        });
        let Some(position) = position else {
            self.log
                .problem(source, "welcome whose member list lacks us");
            return Ok(());
        };
        let my_name = w.members.please_adds[position].display_name.clone();
        let limits = self.limits();
        let max_members = self.config.max_group_members;
        let history = w.history.unwrap_or(History::Shared);
        let mut g = Group::create(
            id,
            w.group_name.clone(),
            writer,
            my_name,
            key,
            history,
            self.log.now_ms(),
        );
        // We are a member, whatever role the list gives us; the owner is whom it names.
        g.members.get_mut(&me).expect("we are in it").role =
            entries.map_or(Role::Member, |e| e[position].role);
        let mut added = Vec::new();
        for (i, pa) in w.members.please_adds.iter().enumerate() {
            if i == position {
                continue;
            }
            let name = pa.display_name.to_string();
            match g.add_listed(
                pa,
                entries.and_then(|e| e.get(i)),
                None,
                limits,
                max_members,
            ) {
                Ok(Some(member)) => added.push((member, name)),
                Ok(None) => {}
                Err(e) => self
                    .log
                    .problem(source.clone(), format!("welcome member: {e}")),
            }
        }
        let my_name = g.my_name();
        self.groups.insert(id, g);
        self.changed_groups.insert(id);
        self.invitations.inbound.remove(&id);
        self.invitations.answered.remove(&id);
        self.invitations.changed_in.insert(id);
        self.log.group_entry(id, me, my_name, true, Content::Joined);
        self.log.event(Event::Joined {
            group: id,
            group_name: w.group_name,
        });
        for (member, name) in added {
            self.log.event(Event::MemberAdded {
                group: id,
                member,
                name,
                by: None,
            });
        }
        Ok(())
    }
}
