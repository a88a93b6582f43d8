//! What a group does with a box of a member's stream: one handler per message type, then the
//! membership-hash check. A request that the sender's role does not allow (or that cannot be
//! done) is shown as refused and changes nothing; every reader decides it from its own view.

use std::collections::BTreeSet;
use std::path::Path;

use bacap::StatefulReader;
use pigeonhole::stream::framing::{self, Frame};
use pigeonhole::stream::{Limits, StreamReader};
use pigeonhole::transport::BoxContent;

use super::{group_ctx, Departure, Group, Standing};
use crate::chat::Log;
use crate::error::Error;
use crate::events::Event;
use crate::files;
use crate::membership::MembershipHash;
use crate::messages::{
    decode_sealed_entries, Body, FileUpload, GroupChatMessage, PleaseAdd, ReplyWho, Rotate,
    SealedCaps, SealedEntry,
};
use crate::records::Content;
use crate::roster::{MemberId, Role};
use crate::sealed::open_read_cap;

/// What a handler may touch besides the group.
pub(crate) struct Context<'a> {
    /// Where history, files and events go.
    pub log: &'a mut Log,
    /// The limits of new members' readers.
    pub limits: Limits,
    /// The most members a group may have in our view.
    pub max_members: usize,
    /// From this many members on, introductions wait for the user's approval.
    pub auto_admit: usize,
    /// The largest file kept.
    pub max_file_len: usize,
    /// The profile directory (received files go under it).
    pub profile_dir: &'a Path,
    /// Set when a secret was forgotten (the client compacts its database then).
    pub forgot: &'a mut bool,
}

/// The sender of the message being handled.
struct Sender {
    id: MemberId,
    name: String,
    source: String,
}

impl Group {
    /// Applies the messages of one box of member `sender`'s stream, each in its place: one
    /// that does not decode is reported and the others still apply; nothing after the sender
    /// left or was removed applies.
    pub(crate) fn handle_box(&mut self, sender: MemberId, bytes: &[u8], cx: &mut Context<'_>) {
        let Some(member) = self.members.get(&sender) else {
            return;
        };
        let sender = Sender {
            id: sender,
            name: member.name.to_string(),
            source: format!("group {:?} member {sender}", self.id),
        };
        for decoded in GroupChatMessage::decode_sequence(bytes) {
            if !self.members.contains_key(&sender.id) || !self.is_live() {
                return;
            }
            match decoded {
                Ok(msg) => self.handle_message(&sender, msg, cx),
                Err(e) => cx.log.problem(&sender.source, e.to_string()),
            }
        }
    }

    fn handle_message(&mut self, sender: &Sender, msg: GroupChatMessage, cx: &mut Context<'_>) {
        match msg.body {
            Body::Text(text) => self.on_text(sender, text, cx),
            Body::FileUpload(file) => self.on_file(sender, file, cx),
            Body::Introduction(please_add) => self.on_introduction(sender, please_add, cx),
            Body::Who(_) => self.on_who(sender, cx),
            Body::WhoReply(list) => self.on_who_reply(sender, list, cx),
            Body::Key(key) => self.on_key(sender, key),
            Body::Leave => self.on_leave(sender, cx),
            Body::Remove(member) => self.on_remove(sender, member, cx),
            Body::Rotate(rotate) => self.on_rotate(sender, rotate, cx),
            Body::SetRole(member, role) => self.on_set_role(sender, member, role, cx),
            Body::Delete => self.on_delete(sender, cx),
        }
        self.compare_membership(sender, &msg.membership_hash, cx);
    }

    fn entry(&self, sender: &Sender, content: Content, cx: &mut Context<'_>) {
        let entry = cx
            .log
            .group_entry(self.id, sender.id, sender.name.clone(), false, content);
        cx.log.event(Event::GroupMessage {
            group: self.id,
            entry,
        });
    }

    /// Shows a request that changed nothing.
    fn refuse(&self, sender: &Sender, request: String, reason: &str, cx: &mut Context<'_>) {
        cx.log.event(Event::Refused {
            group: self.id,
            by: sender.id,
            request: request.clone(),
            reason: reason.to_owned(),
        });
        cx.log.group_entry(
            self.id,
            sender.id,
            sender.name.clone(),
            false,
            Content::Refused {
                request,
                reason: reason.to_owned(),
            },
        );
    }

    fn on_text(&mut self, sender: &Sender, text: String, cx: &mut Context<'_>) {
        self.entry(sender, Content::Text(text), cx);
    }

    fn on_file(&mut self, sender: &Sender, file: FileUpload, cx: &mut Context<'_>) {
        let max = cx.max_file_len;
        if file.payload.len() > max {
            cx.log.problem(
                &sender.source,
                format!(
                    "file of {} bytes over the cap of {max}: dropped",
                    file.payload.len()
                ),
            );
            return;
        }
        let seq = cx.log.alloc_seq();
        let path = files::received_path(cx.profile_dir, &self.id.0, seq, &file.basename);
        let content = Content::File {
            basename: file.basename,
            filetype: file.filetype.as_str().to_owned(),
            len: file.payload.len() as u64,
            path: path.to_string_lossy().into_owned(),
        };
        cx.log.files.push(crate::chat::FileToSave {
            path,
            payload: file.payload,
        });
        let entry =
            cx.log
                .group_entry_at(self.id, seq, sender.id, sender.name.clone(), false, content);
        cx.log.event(Event::GroupMessage {
            group: self.id,
            entry,
        });
    }

    fn on_introduction(&mut self, sender: &Sender, please_add: PleaseAdd, cx: &mut Context<'_>) {
        let name = please_add.display_name.to_string();
        if self.members.len() >= cx.auto_admit {
            let Ok(cap) = please_add.read_cap() else {
                cx.log
                    .problem(&sender.source, "introduction without a valid ReadCap");
                return;
            };
            let member = MemberId::of(&cap);
            let known = self.members.contains_key(&member)
                || self.departed.contains_key(&member)
                || self.held.contains_key(&member);
            if !known && self.held.len() >= cx.max_members {
                cx.log.problem(
                    &sender.source,
                    format!(
                        "introduction of {name} dropped: {} newcomers already wait to be admitted",
                        self.held.len()
                    ),
                );
            } else if !known {
                self.held.insert(member, (please_add, sender.id));
                cx.log.event(Event::IntroductionHeld {
                    group: self.id,
                    member,
                    name,
                    by: sender.id,
                });
            }
            return;
        }
        match self.add_introduced(&please_add, Some(sender.id), cx.limits, cx.max_members) {
            Ok(Some(member)) => {
                cx.log.event(Event::MemberAdded {
                    group: self.id,
                    member,
                    name: name.clone(),
                    by: Some(sender.id),
                });
                cx.log.group_entry(
                    self.id,
                    sender.id,
                    sender.name.clone(),
                    false,
                    Content::Introduced {
                        name,
                        member: member.0.to_vec(),
                    },
                );
            }
            Ok(None) => {}
            Err(e) => cx.log.problem(&sender.source, format!("introduction: {e}")),
        }
    }

    fn on_who(&mut self, sender: &Sender, cx: &mut Context<'_>) {
        self.owe_who_reply = true;
        cx.log.event(Event::WhoAsked {
            group: self.id,
            by: sender.id,
        });
    }

    fn on_who_reply(&mut self, sender: &Sender, list: ReplyWho, cx: &mut Context<'_>) {
        let entries = list.roster.as_deref();
        let mut listed = BTreeSet::new();
        let mut added = Vec::new();
        let mut over = 0usize;
        for (i, please_add) in list.please_adds.iter().enumerate() {
            let entry = entries.and_then(|e| e.get(i));
            let id = match (entry, please_add.read_cap()) {
                (Some(e), _) => e.member,
                (None, Ok(cap)) => MemberId::of(&cap),
                (None, Err(e)) => {
                    cx.log.problem(&sender.source, format!("who reply: {e}"));
                    continue;
                }
            };
            listed.insert(id);
            if let Some(e) = entry.filter(|_| self.stuck_on.contains(&id)) {
                self.follow_listed(id, please_add, e, cx);
                continue;
            }
            match self.add_listed(
                please_add,
                entry,
                Some(sender.id),
                cx.limits,
                cx.max_members,
            ) {
                Ok(Some(member)) => added.push((member, please_add.display_name.to_string())),
                Ok(None) => {}
                Err(Error::GroupFull(_)) => over += 1,
                Err(e) => cx.log.problem(&sender.source, format!("who reply: {e}")),
            }
        }
        if over > 0 {
            let full = Error::GroupFull(cx.max_members);
            cx.log.problem(
                &sender.source,
                format!("who reply: {over} more members not added: {full}"),
            );
        }
        let missing_there: Vec<MemberId> = self
            .members
            .keys()
            .filter(|k| !listed.contains(*k))
            .copied()
            .collect();
        if !missing_there.is_empty() || !added.is_empty() {
            cx.log.event(Event::WhoReplyDiffers {
                group: self.id,
                by: sender.id,
                missing_there,
            });
        }
        for (member, name) in added {
            cx.log.event(Event::MemberAdded {
                group: self.id,
                member,
                name,
                by: Some(sender.id),
            });
        }
    }

    /// A member we are stuck on (its ROTATE did not give us its new stream) is listed at a
    /// later epoch: read it from there.
    fn follow_listed(
        &mut self,
        id: MemberId,
        please_add: &PleaseAdd,
        entry: &crate::roster::RosterEntry,
        cx: &mut Context<'_>,
    ) {
        let ctx = group_ctx(&self.id);
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if entry.epoch <= m.epoch {
            return;
        }
        let Ok(cap) = please_add.read_cap() else {
            return;
        };
        m.reader = Some(StreamReader::new(cap, &ctx).with_limits(cx.limits));
        m.epoch = entry.epoch;
        if entry.key.is_some() {
            m.key = entry.key;
        }
        self.stuck_on.remove(&id);
        cx.log.event(Event::Rotated {
            group: self.id,
            member: id,
            epoch: entry.epoch,
        });
    }

    fn on_key(&mut self, sender: &Sender, key: [u8; 32]) {
        if let Some(m) = self.members.get_mut(&sender.id) {
            m.key = Some(key);
        }
        // A member our current cap could not be sealed to gets it with our next rotation.
        if self.missing_cap.contains(&sender.id) {
            self.owe_rotation = true;
        }
    }

    fn on_leave(&mut self, sender: &Sender, cx: &mut Context<'_>) {
        self.depart(sender.id, Departure::Left);
        self.owe_rotation = true;
        cx.log.event(Event::MemberLeft {
            group: self.id,
            member: sender.id,
            name: sender.name.clone(),
        });
        cx.log.group_entry(
            self.id,
            sender.id,
            sender.name.clone(),
            false,
            Content::Left,
        );
    }

    fn on_remove(&mut self, sender: &Sender, target: MemberId, cx: &mut Context<'_>) {
        let request = format!("remove {}", self.name_of(&target));
        let sender_role = self.members.get(&sender.id).map(|m| m.role);
        let target_role = self.members.get(&target).map(|m| m.role);
        let refusal = match (sender_role, target_role) {
            (Some(role), _) if !role.may_remove() => Some("only the owner and admins remove"),
            _ if target == sender.id => Some("a member leaves rather than removing itself"),
            (_, Some(Role::Owner)) => Some("the owner cannot be removed"),
            (_, None) if self.departed.contains_key(&target) => return,
            (_, None) => Some("not a member"),
            _ => None,
        };
        if let Some(reason) = refusal {
            self.refuse(sender, request, reason, cx);
            return;
        }
        let name = self.name_of(&target);
        cx.log.group_entry(
            self.id,
            sender.id,
            sender.name.clone(),
            false,
            Content::Removed {
                name: name.clone(),
                member: target.0.to_vec(),
            },
        );
        if target == self.me {
            self.depart(target, Departure::Removed(sender.id));
            self.standing = Standing::Removed(sender.id);
            self.forget_secrets();
            *cx.forgot = true;
            cx.log.event(Event::RemovedUs {
                group: self.id,
                by: sender.id,
                by_name: sender.name.clone(),
            });
            return;
        }
        self.depart(target, Departure::Removed(sender.id));
        self.owe_rotation = true;
        cx.log.event(Event::MemberRemoved {
            group: self.id,
            member: target,
            name,
            by: sender.id,
            by_name: sender.name.clone(),
        });
    }

    fn on_rotate(&mut self, sender: &Sender, rotate: Rotate, cx: &mut Context<'_>) {
        let Some(m) = self.members.get(&sender.id) else {
            return;
        };
        if rotate.epoch != m.epoch + 1 {
            cx.log.problem(
                &sender.source,
                format!(
                    "rotation to epoch {} from epoch {}: ignored",
                    rotate.epoch, m.epoch
                ),
            );
            return;
        }
        let bound = rotate.caps.count_bound();
        let counted = self.members.len() + self.departed.len();
        let too_many = match &rotate.caps {
            SealedCaps::Inline(e) => e.len() > counted,
            SealedCaps::Indexed { index, .. } => index.len() > counted,
        };
        if too_many {
            cx.log.problem(
                &sender.source,
                format!(
                    "rotation with up to {bound} sealed caps for {} members: ignored",
                    self.members.len()
                ),
            );
            return;
        }
        match rotate.caps {
            SealedCaps::Inline(entries) => match entries.iter().find(|c| c.member == self.me) {
                Some(entry) => self.follow_rotation(sender.id, rotate.epoch, entry, cx),
                None => self.stuck(sender.id, cx),
            },
            SealedCaps::Indexed { stream, index } => {
                let at = index.iter().rposition(|first| *first <= self.me);
                let (Some(k), Ok(cap)) = (at, bacap::ReadCap::from_bytes(stream.as_bytes())) else {
                    return self.stuck(sender.id, cx);
                };
                let Ok(index) = cap
                    .first_index()
                    .advance_to(cap.first_index().idx().saturating_add(k as u64))
                else {
                    return self.stuck(sender.id, cx);
                };
                let reader = StatefulReader::at_index(cap, index, &group_ctx(&self.id));
                if let Some(m) = self.members.get_mut(&sender.id) {
                    m.lookup = Some((rotate.epoch, reader));
                }
            }
        }
    }

    /// A member moved to a stream it did not give us (it rotated before it knew us, say): the
    /// others, who follow its new stream, tell us where it is.
    fn stuck(&mut self, member: MemberId, cx: &mut Context<'_>) {
        cx.log.problem(
            format!("group {:?} member {member}", self.id),
            "moved to a new stream without giving it to us; asking the group WHO",
        );
        self.stuck_on.insert(member);
        self.owe_who = true;
    }

    /// What the substream box our sealed cap should be in holds, for `member`'s rotation.
    pub(crate) fn handle_lookup(
        &mut self,
        member: MemberId,
        content: &BoxContent,
        cx: &mut Context<'_>,
    ) -> bool {
        let Some((epoch, _)) = self.members.get(&member).and_then(|m| m.lookup.clone()) else {
            return false;
        };
        let entries = match content {
            BoxContent::NotFound => return false,
            BoxContent::Message(p) => match framing::parse(p) {
                Ok(Frame::Final(body)) => decode_sealed_entries(body).ok(),
                _ => None,
            },
            BoxContent::Tombstone | BoxContent::Invalid(_) => None,
        };
        if let Some(m) = self.members.get_mut(&member) {
            m.lookup = None;
        }
        match entries
            .as_deref()
            .and_then(|e| e.iter().find(|c| c.member == self.me))
        {
            Some(entry) => {
                let entry = entry.clone();
                self.follow_rotation(member, epoch, &entry, cx);
            }
            None => self.stuck(member, cx),
        }
        true
    }

    /// Follows `member` to its stream of `epoch`, whose cap `entry` seals to us.
    fn follow_rotation(
        &mut self,
        member: MemberId,
        epoch: u64,
        entry: &SealedEntry,
        cx: &mut Context<'_>,
    ) {
        let opened = self.keys.iter().rev().find_map(|k| {
            open_read_cap(k, &self.id, epoch, &entry.sealed)
                .ok()
                .map(|cap| (cap, k.public().0))
        });
        let Some((cap, key)) = opened else {
            cx.log.problem(
                format!("group {:?} member {member}", self.id),
                "its new stream's cap, sealed to us, does not open: ignored",
            );
            return;
        };
        let ctx = group_ctx(&self.id);
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        m.reader = Some(StreamReader::new(cap, &ctx).with_limits(cx.limits));
        m.epoch = epoch;
        m.key_used = Some(key);
        if self.retire_keys() {
            *cx.forgot = true;
        }
        cx.log.event(Event::Rotated {
            group: self.id,
            member,
            epoch,
        });
    }

    fn on_set_role(&mut self, sender: &Sender, target: MemberId, role: Role, cx: &mut Context<'_>) {
        let request = format!("make {} {role}", self.name_of(&target));
        let sender_role = self.members.get(&sender.id).map(|m| m.role);
        let target_role = self.members.get(&target).map(|m| m.role);
        let refusal = match (sender_role, target_role) {
            (Some(r), _) if r != Role::Owner => Some("only the owner sets roles"),
            _ if target == sender.id => Some("the owner's own role does not change"),
            _ if role == Role::Owner => Some("a group has one owner"),
            (_, None) => Some("not a member"),
            _ => None,
        };
        if let Some(reason) = refusal {
            self.refuse(sender, request, reason, cx);
            return;
        }
        let m = self.members.get_mut(&target).expect("checked above");
        m.role = role;
        let name = m.name.to_string();
        cx.log.group_entry(
            self.id,
            sender.id,
            sender.name.clone(),
            false,
            Content::RoleSet {
                name: name.clone(),
                member: target.0.to_vec(),
                role: role.as_str().to_owned(),
            },
        );
        cx.log.event(Event::RoleChanged {
            group: self.id,
            member: target,
            name,
            role,
            by: sender.id,
        });
    }

    fn on_delete(&mut self, sender: &Sender, cx: &mut Context<'_>) {
        let role = self.members.get(&sender.id).map(|m| m.role);
        if role != Some(Role::Owner) {
            self.refuse(
                sender,
                "delete the group".into(),
                "only the owner deletes the group",
                cx,
            );
            return;
        }
        self.standing = Standing::Deleted(sender.id);
        self.owe_tombstones = true;
        self.owe_rotation = false;
        self.owe_who_reply = false;
        for m in self.members.values_mut() {
            m.reader = None;
        }
        *cx.forgot = true;
        cx.log.group_entry(
            self.id,
            sender.id,
            sender.name.clone(),
            false,
            Content::Deleted,
        );
        cx.log.event(Event::GroupDeleted {
            group: self.id,
            by: sender.id,
            by_name: sender.name.clone(),
        });
    }

    /// Compares the hash a message carried with our view after applying it, and reports when a
    /// sender's view starts to differ.
    fn compare_membership(
        &mut self,
        sender: &Sender,
        theirs: &MembershipHash,
        cx: &mut Context<'_>,
    ) {
        let ours = self.membership_hash();
        let differs = *theirs != ours;
        let id = self.id;
        let Some(member) = self.members.get_mut(&sender.id) else {
            return;
        };
        if differs && !member.view_differs {
            cx.log.event(Event::MembershipMismatch {
                group: id,
                sender: sender.id,
                theirs: *theirs,
                ours,
            });
        }
        member.view_differs = differs;
    }
}
