//! What commands print: a human line, or with `--json` one JSON object per line with stable
//! snake_case fields.

use groupchat::channel::GroupId;
use groupchat::chat::OutboxEntry;
use groupchat::group::Standing;
use groupchat::records::Content;
use groupchat::{Event, GroupInfo, HistoryEntry};
use serde_json::{json, Map, Value};

use crate::safe_text::{quoted, safe};

/// A group ID in hex (64 characters).
pub fn gid(id: &GroupId) -> String {
    hex::encode(id.0)
}

/// Prints one JSON object on its own line.
pub fn emit(v: Value) {
    println!("{v}");
}

/// The JSON fields of a history entry's content.
fn content_fields(c: &Content, m: &mut Map<String, Value>) {
    match c {
        Content::Text(t) => {
            m.insert("type".into(), json!("text"));
            m.insert("text".into(), json!(t));
        }
        Content::File {
            basename,
            filetype,
            len,
            path,
        } => {
            m.insert("type".into(), json!("file"));
            m.insert("basename".into(), json!(basename));
            m.insert("filetype".into(), json!(filetype));
            m.insert("len".into(), json!(len));
            m.insert(
                "path".into(),
                if path.is_empty() {
                    Value::Null
                } else {
                    json!(path)
                },
            );
        }
        Content::Introduced { name, member } => {
            m.insert("type".into(), json!("introduced"));
            m.insert("member_name".into(), json!(name));
            m.insert("member".into(), json!(hex::encode(member)));
        }
        Content::Joined => {
            m.insert("type".into(), json!("joined"));
        }
        Content::Who => {
            m.insert("type".into(), json!("who"));
        }
        Content::Left => {
            m.insert("type".into(), json!("left"));
        }
        Content::Removed { name, member } => {
            m.insert("type".into(), json!("removed"));
            m.insert("member_name".into(), json!(name));
            m.insert("member".into(), json!(hex::encode(member)));
        }
        Content::RoleSet { name, member, role } => {
            m.insert("type".into(), json!("role"));
            m.insert("member_name".into(), json!(name));
            m.insert("member".into(), json!(hex::encode(member)));
            m.insert("role".into(), json!(role));
        }
        Content::Deleted => {
            m.insert("type".into(), json!("deleted"));
        }
        Content::Refused { request, reason } => {
            m.insert("type".into(), json!("refused"));
            m.insert("request".into(), json!(request));
            m.insert("reason".into(), json!(reason));
        }
        Content::Rotated { epoch } => {
            m.insert("type".into(), json!("rotated"));
            m.insert("epoch".into(), json!(epoch));
        }
    }
}

/// A history entry as JSON; `group` or `channel` names where it belongs.
pub fn entry_json(where_key: &str, where_val: &str, e: &HistoryEntry) -> Value {
    let mut m = Map::new();
    m.insert(where_key.into(), json!(where_val));
    m.insert("seq".into(), json!(e.seq));
    m.insert(
        "sender".into(),
        e.sender
            .map(|s| json!(hex::encode(s.0)))
            .unwrap_or(Value::Null),
    );
    m.insert("sender_name".into(), json!(e.sender_name));
    m.insert("own".into(), json!(e.own));
    m.insert("time_ms".into(), json!(e.time_ms));
    content_fields(&e.content, &mut m);
    Value::Object(m)
}

/// What a history entry holds, for people; every string from elsewhere goes through
/// [`safe`].
pub fn content_text(c: &Content) -> String {
    match c {
        Content::Text(t) => safe(t).into_owned(),
        Content::File {
            basename,
            filetype,
            len,
            path,
        } => {
            let (basename, filetype) = (quoted(basename), safe(filetype));
            if path.is_empty() {
                format!("[file {basename}, {filetype}, {len} bytes]")
            } else {
                format!(
                    "[file {basename}, {filetype}, {len} bytes, saved as {}]",
                    safe(path)
                )
            }
        }
        Content::Introduced { name, member } => {
            format!("[introduced {} ({})]", safe(name), short_hex(member))
        }
        Content::Joined => "[joined the group]".into(),
        Content::Who => "[asked WHO]".into(),
        Content::Left => "[left the group]".into(),
        Content::Removed { name, member } => {
            format!("[removed {} ({})]", safe(name), short_hex(member))
        }
        Content::RoleSet { name, role, .. } => format!("[made {} {}]", safe(name), safe(role)),
        Content::Deleted => "[deleted the group]".into(),
        Content::Refused { request, reason } => {
            format!("[refused: {}: {}]", safe(request), safe(reason))
        }
        Content::Rotated { epoch } => format!("[moved to a new stream, epoch {epoch}]"),
    }
}

/// The first 4 bytes of an ID in hex (fewer if it is shorter).
fn short_hex(id: &[u8]) -> String {
    hex::encode(&id[..4.min(id.len())])
}

/// A history entry for people.
pub fn entry_line(e: &HistoryEntry) -> String {
    let who = match e.sender {
        Some(id) => format!("{} ({})", safe(&e.sender_name), id.short()),
        None => safe(&e.sender_name).into_owned(),
    };
    let mark = if e.own { "*" } else { " " };
    format!("{mark}#{} {who}: {}", e.seq, content_text(&e.content))
}

/// A group as JSON.
pub fn group_json(g: &GroupInfo) -> Value {
    json!({
        "group": gid(&g.id),
        "name": g.name,
        "members": g.members.len(),
        "membership_hash": hex::encode(g.membership_hash.as_bytes()),
        "history": g.history.as_str(),
        "standing": standing(&g.standing),
        "epoch": g.epoch,
    })
}

/// Where we stand in a group, in a word: `member`, `left`, `removed` or `deleted`.
pub fn standing(s: &Standing) -> &'static str {
    match s {
        Standing::Member => "member",
        Standing::Left => "left",
        Standing::Removed(_) => "removed",
        Standing::Deleted(_) => "deleted",
    }
}

/// A poll event as JSON (`event` names its kind); `name_of` gives a group's name.
pub fn event_json(ev: &Event, name_of: &dyn Fn(&GroupId) -> String) -> Value {
    match ev {
        Event::GroupMessage { group, entry } => {
            let mut v = entry_json("group", &gid(group), entry);
            v["event"] = json!("group_message");
            v["group_name"] = json!(name_of(group));
            v
        }
        Event::MemberAdded {
            group,
            member,
            name,
            by,
        } => json!({
            "event": "member_added", "group": gid(group), "group_name": name_of(group),
            "member": hex::encode(member.0), "name": name,
            "by": by.map(|b| hex::encode(b.0)),
        }),
        Event::MembershipMismatch { group, sender, .. } => json!({
            "event": "membership_mismatch", "group": gid(group), "group_name": name_of(group),
            "sender": hex::encode(sender.0),
        }),
        Event::WhoAsked { group, by } => json!({
            "event": "who_asked", "group": gid(group), "group_name": name_of(group),
            "by": hex::encode(by.0),
        }),
        Event::WhoReplyDiffers {
            group,
            by,
            missing_there,
        } => json!({
            "event": "who_reply_differs", "group": gid(group), "group_name": name_of(group),
            "by": hex::encode(by.0),
            "missing_there": missing_there.iter().map(|m| hex::encode(m.0)).collect::<Vec<_>>(),
        }),
        Event::Invited {
            channel,
            group,
            group_name,
        } => json!({
            "event": "invited", "channel": channel, "group": gid(group), "group_name": group_name,
        }),
        Event::JoinRequest {
            channel,
            group,
            display_name,
            name_taken,
        } => json!({
            "event": "join_request", "channel": channel, "group": gid(group),
            "group_name": name_of(group), "display_name": display_name, "name_taken": name_taken,
        }),
        Event::ReviseRequested {
            channel,
            group,
            reason,
        } => json!({
            "event": "revise_requested", "channel": channel, "group": gid(group),
            "reason": reason,
        }),
        Event::Joined { group, group_name } => json!({
            "event": "joined", "group": gid(group), "group_name": group_name,
        }),
        Event::ChannelText { channel, entry } => {
            let mut v = entry_json("channel", channel, entry);
            v["event"] = json!("channel_text");
            v
        }
        Event::Problem { source, error } => json!({
            "event": "problem", "source": source, "error": error,
        }),
        Event::MemberLeft {
            group,
            member,
            name,
        } => json!({
            "event": "member_left", "group": gid(group), "group_name": name_of(group),
            "member": hex::encode(member.0), "name": name,
        }),
        Event::MemberRemoved {
            group,
            member,
            name,
            by,
            by_name,
        } => json!({
            "event": "member_removed", "group": gid(group), "group_name": name_of(group),
            "member": hex::encode(member.0), "name": name,
            "by": hex::encode(by.0), "by_name": by_name,
        }),
        Event::RemovedUs { group, by, by_name } => json!({
            "event": "removed_us", "group": gid(group), "group_name": name_of(group),
            "by": hex::encode(by.0), "by_name": by_name,
        }),
        Event::RoleChanged {
            group,
            member,
            name,
            role,
            by,
        } => json!({
            "event": "role_changed", "group": gid(group), "group_name": name_of(group),
            "member": hex::encode(member.0), "name": name, "role": role.as_str(),
            "by": hex::encode(by.0),
        }),
        Event::GroupDeleted { group, by, by_name } => json!({
            "event": "group_deleted", "group": gid(group), "group_name": name_of(group),
            "by": hex::encode(by.0), "by_name": by_name,
        }),
        Event::Rotated {
            group,
            member,
            epoch,
        } => json!({
            "event": "rotated", "group": gid(group), "group_name": name_of(group),
            "member": hex::encode(member.0), "epoch": epoch,
        }),
        Event::Refused {
            group,
            by,
            request,
            reason,
        } => json!({
            "event": "refused", "group": gid(group), "group_name": name_of(group),
            "by": hex::encode(by.0), "request": request, "reason": reason,
        }),
        Event::IntroductionHeld {
            group,
            member,
            name,
            by,
        } => json!({
            "event": "introduction_held", "group": gid(group), "group_name": name_of(group),
            "member": hex::encode(member.0), "name": name, "by": hex::encode(by.0),
        }),
        Event::InvitationDeclined { channel, group } => json!({
            "event": "invitation_declined", "group": gid(group), "group_name": name_of(group),
            "channel": channel,
        }),
        Event::JoinRejected {
            channel,
            group,
            group_name,
            reason,
        } => json!({
            "event": "join_rejected", "group": gid(group), "group_name": group_name,
            "channel": channel, "reason": reason,
        }),
        Event::InvitationExpired {
            group,
            group_name,
            channel,
            ours,
        } => json!({
            "event": "invitation_expired", "group": gid(group), "group_name": group_name,
            "channel": channel, "sent_by_us": ours,
        }),
        Event::OutboxSent { entry } => {
            let mut v = outbox_json(entry, name_of);
            v["event"] = json!("sent");
            v
        }
        Event::OutboxDropped { entry, reason } => {
            let mut v = outbox_json(entry, name_of);
            v["event"] = json!("dropped");
            v["reason"] = json!(reason);
            v
        }
    }
}

/// An outbox entry as JSON.
pub fn outbox_json(e: &OutboxEntry, name_of: &dyn Fn(&GroupId) -> String) -> Value {
    json!({
        "entry": e.entry, "kind": e.kind,
        "group": e.group.as_ref().map(gid), "group_name": e.group.as_ref().map(name_of),
        "channel": e.channel, "boxes": e.boxes, "attempts": e.attempts,
        "last_error": e.last_error, "may_have_landed": e.may_have_landed,
        "queued_ms": e.queued_ms,
    })
}

/// What an outbox entry is, for people: `post to friends`, `text to bob`.
pub fn outbox_what(e: &OutboxEntry, name_of: &dyn Fn(&GroupId) -> String) -> String {
    let to = match (&e.group, &e.channel) {
        (Some(g), Some(c)) => format!("{} (over channel {c})", name_of(g)),
        (Some(g), None) => name_of(g),
        (None, Some(c)) => format!("channel {c}"),
        (None, None) => "?".into(),
    };
    format!("{} to {to}", e.kind)
}

/// A poll event for people; every string from elsewhere (names, labels, texts, reasons,
/// problems) goes through [`safe`].
pub fn event_line(ev: &Event, name_of: &dyn Fn(&GroupId) -> String) -> String {
    let group_of = |id: &GroupId| safe(&name_of(id)).into_owned();
    match ev {
        Event::GroupMessage { group, entry } => {
            format!("[{}] {}", group_of(group), entry_line(entry))
        }
        Event::MemberAdded {
            group,
            member,
            name,
            ..
        } => format!(
            "[{}] {} ({}) is a member now",
            group_of(group),
            safe(name),
            member.short()
        ),
        Event::MembershipMismatch { group, sender, .. } => format!(
            "[{}] {} sees a different member list (transient while introductions spread; \
             if it persists, run `who`)",
            group_of(group),
            sender.short()
        ),
        Event::WhoAsked { group, by } => {
            format!("[{}] {} asked WHO; answered", group_of(group), by.short())
        }
        Event::WhoReplyDiffers {
            group,
            by,
            missing_there,
        } => format!(
            "[{}] {}'s WHO reply differs from our list ({} of ours missing there)",
            group_of(group),
            by.short(),
            missing_there.len()
        ),
        Event::Invited {
            channel,
            group,
            group_name,
        } => format!(
            "invitation from channel {} to group {} ({}); accept with \
             `bacap-chat accept {} --as NAME`",
            safe(channel),
            quoted(group_name),
            &gid(group)[..8],
            &gid(group)[..8]
        ),
        Event::JoinRequest {
            channel,
            group,
            display_name,
            name_taken,
        } => {
            let channel = safe(channel);
            format!(
                "[{}] {channel} asks to join as {}{}; `bacap-chat approve {} {channel}` \
                 or `bacap-chat revise {} {channel} --reason WHY`",
                group_of(group),
                quoted(display_name),
                if *name_taken {
                    " (a member has that name)"
                } else {
                    ""
                },
                &gid(group)[..8],
                &gid(group)[..8]
            )
        }
        Event::ReviseRequested {
            channel,
            group,
            reason,
        } => format!(
            "channel {} asks for another display name for group {} ({}); \
             answer with `bacap-chat accept {} --as NAME`",
            safe(channel),
            &gid(group)[..8],
            safe(reason),
            &gid(group)[..8]
        ),
        Event::Joined { group, group_name } => {
            format!("joined group {} ({})", quoted(group_name), &gid(group)[..8])
        }
        Event::ChannelText { channel, entry } => {
            format!("<{}> {}", safe(channel), entry_line(entry))
        }
        Event::Problem { source, error } => {
            format!("problem in {}: {}", safe(source), safe(error))
        }
        Event::MemberLeft { group, name, .. } => {
            format!("[{}] {} left", group_of(group), safe(name))
        }
        Event::MemberRemoved {
            group,
            name,
            by_name,
            ..
        } => format!(
            "[{}] {} removed {}",
            group_of(group),
            safe(by_name),
            safe(name)
        ),
        Event::RemovedUs { group, by_name, .. } => format!(
            "you were removed from {} by {}; its history stays (`bacap-chat history`)",
            group_of(group),
            safe(by_name)
        ),
        Event::RoleChanged {
            group, name, role, ..
        } => format!("[{}] {} is {role} now", group_of(group), safe(name)),
        Event::GroupDeleted { group, by_name, .. } => format!(
            "{} was deleted by {}; its history stays (`bacap-chat history`)",
            group_of(group),
            safe(by_name)
        ),
        Event::Rotated { group, member, .. } => format!(
            "[{}] {} moved to a new stream",
            group_of(group),
            member.short()
        ),
        Event::Refused {
            group,
            by,
            request,
            reason,
        } => format!(
            "[{}] refused {}'s request to {}: {}",
            group_of(group),
            by.short(),
            safe(request),
            safe(reason)
        ),
        Event::IntroductionHeld {
            group,
            member,
            name,
            by,
        } => format!(
            "[{g}] {} introduced {} ({}); the group is large, so they wait for you: \
             `bacap-chat admit {g} {}`",
            by.short(),
            safe(name),
            member.short(),
            member.short(),
            g = group_of(group)
        ),
        Event::InvitationDeclined { channel, group } => format!(
            "[{}] {} declined the invitation",
            group_of(group),
            safe(channel)
        ),
        Event::JoinRejected {
            channel,
            group_name,
            reason,
            ..
        } => format!(
            "{} rejected our request to join {}: {}",
            safe(channel),
            quoted(group_name),
            safe(reason)
        ),
        Event::InvitationExpired {
            group_name,
            channel,
            ours: true,
            ..
        } => format!(
            "[{}] the invitation of {} expired unanswered",
            safe(group_name),
            safe(channel)
        ),
        Event::InvitationExpired {
            group_name,
            channel,
            ours: false,
            ..
        } => format!(
            "the invitation to {} from {} expired unanswered",
            quoted(group_name),
            safe(channel)
        ),
        Event::OutboxSent { entry } => {
            format!("sent: {}", safe(&outbox_what(entry, name_of)))
        }
        Event::OutboxDropped { entry, reason } => format!(
            "dropped from the outbox, never sent: {}: {}",
            safe(&outbox_what(entry, name_of)),
            safe(reason)
        ),
    }
}
