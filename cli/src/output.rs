//! What commands print: a human line, or with `--json` one JSON object per line with stable
//! snake_case fields.

use groupchat::channel::GroupId;
use groupchat::records::Content;
use groupchat::{Event, GroupInfo, HistoryEntry};
use serde_json::{json, Map, Value};

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

/// What a history entry holds, for people.
pub fn content_text(c: &Content) -> String {
    match c {
        Content::Text(t) => t.clone(),
        Content::File {
            basename,
            filetype,
            len,
            path,
        } => {
            if path.is_empty() {
                format!("[file {basename:?}, {filetype}, {len} bytes]")
            } else {
                format!("[file {basename:?}, {filetype}, {len} bytes, saved as {path}]")
            }
        }
        Content::Introduced { name, member } => {
            format!(
                "[introduced {name} ({})]",
                hex::encode(&member[..4.min(member.len())])
            )
        }
        Content::Joined => "[joined the group]".into(),
        Content::Who => "[asked WHO]".into(),
    }
}

/// A history entry for people.
pub fn entry_line(e: &HistoryEntry) -> String {
    let who = match e.sender {
        Some(id) => format!("{} ({})", e.sender_name, id.short()),
        None => e.sender_name.clone(),
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
    })
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
    }
}

/// A poll event for people.
pub fn event_line(ev: &Event, name_of: &dyn Fn(&GroupId) -> String) -> String {
    match ev {
        Event::GroupMessage { group, entry } => {
            format!("[{}] {}", name_of(group), entry_line(entry))
        }
        Event::MemberAdded {
            group,
            member,
            name,
            ..
        } => format!(
            "[{}] {name} ({}) is a member now",
            name_of(group),
            member.short()
        ),
        Event::MembershipMismatch { group, sender, .. } => format!(
            "[{}] {} sees a different member list (transient while introductions spread; \
             if it persists, run `who`)",
            name_of(group),
            sender.short()
        ),
        Event::WhoAsked { group, by } => {
            format!("[{}] {} asked WHO; answered", name_of(group), by.short())
        }
        Event::WhoReplyDiffers {
            group,
            by,
            missing_there,
        } => format!(
            "[{}] {}'s WHO reply differs from our list ({} of ours missing there)",
            name_of(group),
            by.short(),
            missing_there.len()
        ),
        Event::Invited {
            channel,
            group,
            group_name,
        } => format!(
            "invitation from channel {channel} to group {group_name:?} ({}); accept with \
             `bacap-chat accept {} --as NAME`",
            &gid(group)[..8],
            &gid(group)[..8]
        ),
        Event::JoinRequest {
            channel,
            group,
            display_name,
            name_taken,
        } => {
            format!(
            "[{}] {channel} asks to join as {display_name:?}{}; `bacap-chat approve {} {channel}` \
             or `bacap-chat revise {} {channel} --reason WHY`",
            name_of(group),
            if *name_taken { " (a member has that name)" } else { "" },
            &gid(group)[..8],
            &gid(group)[..8]
        )
        }
        Event::ReviseRequested {
            channel,
            group,
            reason,
        } => format!(
            "channel {channel} asks for another display name for group {} ({reason}); \
             answer with `bacap-chat accept {} --as NAME`",
            &gid(group)[..8],
            &gid(group)[..8]
        ),
        Event::Joined { group, group_name } => {
            format!("joined group {group_name:?} ({})", &gid(group)[..8])
        }
        Event::ChannelText { channel, entry } => {
            format!("<{channel}> {}", entry_line(entry))
        }
        Event::Problem { source, error } => format!("problem in {source}: {error}"),
    }
}
