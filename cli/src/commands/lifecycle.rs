//! The group lifecycle: `leave`, `remove`, `rotate`, `role`, `delete`.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use groupchat::roster::Role;
use serde_json::json;

use crate::output::gid;
use crate::profile::Global;
use crate::resolve;
use crate::safe_text::safe;
use crate::session::{self, Session};

use super::group::GroupArg;

/// A group and one of its members.
#[derive(Debug, Args)]
pub struct MemberArgs {
    /// The group: its name, its ID, or the first characters of its ID.
    pub group: String,
    /// The member: its display name, or the first characters of its ID.
    pub member: String,
}

/// The roles the owner gives.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GivenRole {
    /// Removes members (not the owner).
    Admin,
    /// Posts, introduces, leaves.
    Member,
}

/// Options of `role`.
#[derive(Debug, Args)]
pub struct RoleArgs {
    #[command(flatten)]
    who: MemberArgs,
    /// The role.
    #[arg(value_enum)]
    role: GivenRole,
}

/// `leave GROUP`
pub fn leave(global: &Global, a: GroupArg) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let name = s.group_name(&id);
            let sent = s.client.leave(&id).await?;
            let shown = safe(&name);
            s.sent(
                sent,
                format!("left {shown}; its history stays (`bacap-chat history {shown}`)"),
                json!({"event": "left", "group": gid(&id), "group_name": name}),
            );
            Ok(())
        },
    )
}

/// `remove GROUP MEMBER`
pub fn remove(global: &Global, a: MemberArgs) -> anyhow::Result<ExitCode> {
    let resolve = |s: &Session| {
        let id = s.group(&a.group)?;
        let member = resolve::member(&s.client, &id, &a.member)?;
        Ok((id, member))
    };
    session::online(global, None, resolve, async |s, (id, member)| {
        let name = s.member_name(&id, &member);
        let (sent, events) = s.client.remove(&id, &member).await?;
        s.print_events(&events);
        s.sent(
            sent,
            format!(
                "removed {} ({}) from {}; we moved to a new stream without them",
                safe(&name),
                member.short(),
                safe(&s.group_name(&id))
            ),
            json!({
                "event": "member_removed", "group": gid(&id), "member": hex::encode(member.0),
                "name": name, "by_name": "me",
            }),
        );
        Ok(())
    })
}

/// `rotate GROUP`
pub fn rotate(global: &Global, a: GroupArg) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let (sent, events) = s.client.rotate(&id).await?;
            s.print_events(&events);
            let epoch = s.client.group_info(&id)?.epoch;
            s.sent(
                sent,
                format!(
                    "moved to a new stream in {} (epoch {epoch})",
                    safe(&s.group_name(&id))
                ),
                json!({"event": "rotated", "group": gid(&id), "epoch": epoch}),
            );
            Ok(())
        },
    )
}

/// `role GROUP MEMBER admin|member`
pub fn role(global: &Global, a: RoleArgs) -> anyhow::Result<ExitCode> {
    let role = match a.role {
        GivenRole::Admin => Role::Admin,
        GivenRole::Member => Role::Member,
    };
    let resolve = |s: &Session| {
        let id = s.group(&a.who.group)?;
        let member = resolve::member(&s.client, &id, &a.who.member)?;
        Ok((id, member))
    };
    session::online(global, None, resolve, async |s, (id, member)| {
        let sent = s.client.set_role(&id, &member, role).await?;
        let name = s.member_name(&id, &member);
        s.sent(
            sent,
            format!(
                "{} is {role} in {} now",
                safe(&name),
                safe(&s.group_name(&id))
            ),
            json!({
                "event": "role_changed", "group": gid(&id), "member": hex::encode(member.0),
                "name": name, "role": role.as_str(),
            }),
        );
        Ok(())
    })
}

/// `delete GROUP`
pub fn delete(global: &Global, a: GroupArg) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let name = s.group_name(&id);
            let sent = s.client.delete(&id).await?;
            s.sent(
                sent,
                format!(
                    "deleted {}; our boxes are tombstoned, its history stays",
                    safe(&name)
                ),
                json!({"event": "group_deleted", "group": gid(&id), "group_name": name}),
            );
            Ok(())
        },
    )
}
