//! `group create | list | members`, `history GROUP` and `who GROUP`.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use groupchat::group::{RotationPolicy, Standing};
use groupchat::roster::History;
use serde_json::json;

use crate::output::{self, gid};
use crate::profile::Global;
use crate::resolve;
use crate::safe_text::{quoted, safe};
use crate::session;

/// `group` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group of one (us, its owner).
    Create {
        /// Its name.
        name: String,
        /// Our display name in it (default: the profile's).
        #[arg(long = "as", value_name = "DISPLAY_NAME")]
        display_name: Option<String>,
        /// What members who join later may read of what was said before: nothing
        /// (`from-joining`) or each member's current stream from its start (`shared`).
        #[arg(long, value_enum, default_value = "from-joining")]
        history: HistoryArg,
    },
    /// Rotate our stream by ourselves after a number of our messages or days (off by default).
    Policy {
        /// The group.
        group: String,
        /// After this many of our messages on one stream.
        #[arg(long, value_name = "N")]
        after_messages: Option<u32>,
        /// After this many days on one stream.
        #[arg(long, value_name = "DAYS")]
        after_days: Option<u32>,
    },
    /// List our groups.
    List,
    /// List a group's members.
    Members(GroupArg),
}

/// A group's history setting on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HistoryArg {
    /// Newcomers read each member's current stream from its start.
    Shared,
    /// Newcomers read nothing said before their introduction.
    FromJoining,
}

/// A group, by name, ID or ID prefix.
#[derive(Debug, Args)]
pub struct GroupArg {
    /// The group: its name, its ID, or the first characters of its ID.
    pub group: String,
}

/// `group ...`
pub fn run(global: &Global, cmd: GroupCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GroupCmd::Create {
            name,
            display_name,
            history,
        } => session::offline(global, |s| {
            let dn = resolve::display_name(display_name, &s.profile.settings)?;
            let history = match history {
                HistoryArg::Shared => History::Shared,
                HistoryArg::FromJoining => History::FromJoining,
            };
            let id = s.client.create_group_with(&name, &dn, history)?;
            s.done(
                format!(
                    "created group {} ({}), history {history}",
                    quoted(&name),
                    gid(&id)
                ),
                json!({
                    "group": gid(&id), "name": name, "display_name": dn,
                    "history": history.as_str(),
                }),
            );
            Ok(())
        }),
        GroupCmd::Policy {
            group,
            after_messages,
            after_days,
        } => session::offline(global, |s| {
            let id = s.group(&group)?;
            let policy = RotationPolicy {
                after_messages: after_messages.filter(|n| *n > 0),
                after_days: after_days.filter(|d| *d > 0),
            };
            s.client.set_rotation_policy(&id, policy)?;
            let say = |n: Option<u32>, unit: &str| n.map(|n| format!("{n} {unit}"));
            let when: Vec<String> = [
                say(policy.after_messages, "messages"),
                say(policy.after_days, "days"),
            ]
            .into_iter()
            .flatten()
            .collect();
            s.done(
                if when.is_empty() {
                    format!("no automatic rotation in {}", safe(&s.group_name(&id)))
                } else {
                    format!(
                        "rotating after {} in {}",
                        when.join(" or "),
                        safe(&s.group_name(&id))
                    )
                },
                json!({
                    "group": gid(&id), "after_messages": policy.after_messages,
                    "after_days": policy.after_days,
                }),
            );
            Ok(())
        }),
        GroupCmd::List => session::offline(global, |s| {
            for g in s.client.groups() {
                let n = g.members.len();
                let standing = match g.standing {
                    Standing::Member => String::new(),
                    other => format!(", {}", output::standing(&other)),
                };
                s.done(
                    format!(
                        "{}  {}  ({n} member{}{standing})",
                        &gid(&g.id)[..8],
                        safe(&g.name),
                        if n == 1 { "" } else { "s" }
                    ),
                    output::group_json(&g),
                );
            }
            Ok(())
        }),
        GroupCmd::Members(a) => session::offline(global, |s| {
            let id = s.group(&a.group)?;
            let info = s.client.group_info(&id)?;
            if !s.json() {
                println!(
                    "{}: history {}{}",
                    safe(&info.name),
                    info.history,
                    match info.standing {
                        Standing::Member => String::new(),
                        other => format!(", we {}", output::standing(&other)),
                    }
                );
            }
            for m in info.members {
                s.done(
                    format!(
                        "{} ({}) {}{}{}",
                        safe(&m.name),
                        m.id.short(),
                        m.role,
                        if m.is_me { " [me]" } else { "" },
                        m.introduced_by
                            .map(|b| format!(", introduced by {}", b.short()))
                            .unwrap_or_default()
                    ),
                    json!({
                        "group": gid(&id), "member": hex::encode(m.id.0), "name": m.name,
                        "role": m.role.as_str(), "epoch": m.epoch, "me": m.is_me,
                        "introduced_by": m.introduced_by.map(|b| hex::encode(b.0)),
                        "view_differs": m.view_differs, "history": info.history.as_str(),
                    }),
                );
            }
            for h in info.held {
                s.done(
                    format!(
                        "{} ({}) waits to be admitted, introduced by {}: `bacap-chat admit {} {}`",
                        safe(&h.name),
                        h.member.short(),
                        h.by.short(),
                        safe(&info.name),
                        h.member.short()
                    ),
                    json!({
                        "group": gid(&id), "member": hex::encode(h.member.0), "name": h.name,
                        "held": true, "introduced_by": hex::encode(h.by.0),
                    }),
                );
            }
            Ok(())
        }),
    }
}

/// `admit GROUP MEMBER`: adds a newcomer whose introduction waits for our approval.
pub fn admit(
    global: &Global,
    a: crate::commands::lifecycle::MemberArgs,
) -> anyhow::Result<ExitCode> {
    session::offline(global, |s| {
        let id = s.group(&a.group)?;
        let member = resolve::held(&s.client, &id, &a.member)?;
        s.client.admit(&id, &member)?;
        s.done(
            format!("admitted {} to {}", a.member, s.group_name(&id)),
            json!({"event": "admitted", "group": gid(&id), "member": hex::encode(member.0)}),
        );
        Ok(())
    })
}

/// `history GROUP`
pub fn history(global: &Global, a: GroupArg) -> anyhow::Result<ExitCode> {
    session::offline(global, |s| {
        let id = s.group(&a.group)?;
        for e in s.client.history(&id)? {
            s.done(
                output::entry_line(&e),
                output::entry_json("group", &gid(&id), &e),
            );
        }
        Ok(())
    })
}

/// `who GROUP`
pub fn who(global: &Global, a: GroupArg) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let sent = s.client.who(&id).await?;
            s.sent(
                sent,
                format!(
                    "asked {} WHO; members' answers arrive with `poll`",
                    safe(&s.group_name(&id))
                ),
                json!({"group": gid(&id), "who": true}),
            );
            Ok(())
        },
    )
}
