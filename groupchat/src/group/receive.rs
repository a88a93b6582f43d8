//! What a group does with a box of a member's stream: one handler per message type, then the
//! membership-hash check.

use std::collections::BTreeSet;
use std::path::Path;

use bacap::READ_CAP_LEN;
use pigeonhole::stream::Limits;

use super::{Group, MemberId};
use crate::chat::Log;
use crate::events::Event;
use crate::files;
use crate::messages::{Body, FileUpload, GroupChatMessage, PleaseAdd, ReplyWho};
use crate::records::Content;

/// What a handler may touch besides the group.
pub(crate) struct Context<'a> {
    /// Where history, files and events go.
    pub log: &'a mut Log,
    /// The limits of new members' readers.
    pub limits: Limits,
    /// The largest file kept.
    pub max_file_len: usize,
    /// The profile directory (received files go under it).
    pub profile_dir: &'a Path,
}

/// The sender of the message being handled.
struct Sender {
    key: [u8; READ_CAP_LEN],
    id: MemberId,
    name: String,
    source: String,
}

impl Group {
    /// Applies the messages of one box of the stream of the member `sender_key`, each in its
    /// place: one that does not decode is reported and the others still apply.
    pub(crate) fn handle_box(
        &mut self,
        sender_key: [u8; READ_CAP_LEN],
        bytes: &[u8],
        cx: &mut Context<'_>,
    ) {
        let Some(member) = self.members.get(&sender_key) else {
            return;
        };
        let id = MemberId::of(&sender_key);
        let sender = Sender {
            key: sender_key,
            id,
            name: member.please_add.display_name.to_string(),
            source: format!("group {:?} member {id}", self.id),
        };
        for decoded in GroupChatMessage::decode_sequence(bytes) {
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
        }
        self.compare_membership(sender, &msg.membership_hash, cx);
    }

    fn on_text(&mut self, sender: &Sender, text: String, cx: &mut Context<'_>) {
        let entry = cx.log.group_entry(
            self.id,
            sender.id,
            sender.name.clone(),
            false,
            Content::Text(text),
        );
        cx.log.event(Event::GroupMessage {
            group: self.id,
            entry,
        });
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
        let member = MemberId::of(please_add.read_cap.as_bytes());
        let name = please_add.display_name.to_string();
        match self.add_member(please_add, Some(sender.id), cx.limits) {
            Ok(true) => {
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
            Ok(false) => {}
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
        let listed: BTreeSet<[u8; READ_CAP_LEN]> = list
            .please_adds
            .iter()
            .map(|p| *p.read_cap.as_bytes())
            .collect();
        let missing_there: Vec<MemberId> = self
            .members
            .keys()
            .filter(|k| !listed.contains(*k))
            .map(|k| MemberId::of(k))
            .collect();
        let mut added = Vec::new();
        for please_add in list.please_adds {
            let member = MemberId::of(please_add.read_cap.as_bytes());
            let name = please_add.display_name.to_string();
            match self.add_member(please_add, Some(sender.id), cx.limits) {
                Ok(true) => added.push((member, name)),
                Ok(false) => {}
                Err(e) => cx.log.problem(&sender.source, format!("who reply: {e}")),
            }
        }
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

    /// Compares the hash a message carried with our view after applying it, and reports when a
    /// sender's view starts to differ.
    fn compare_membership(
        &mut self,
        sender: &Sender,
        theirs: &crate::membership::MembershipHash,
        cx: &mut Context<'_>,
    ) {
        let ours = self.membership_hash();
        let differs = *theirs != ours;
        let id = self.id;
        let Some(member) = self.members.get_mut(&sender.key) else {
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
