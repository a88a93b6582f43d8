//! `group create | list | members`, `history GROUP` and `who GROUP`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::output::{self, gid};
use crate::profile::Global;
use crate::resolve;
use crate::session;

/// `group` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group of one (us).
    Create {
        /// Its name.
        name: String,
        /// Our display name in it (default: the profile's).
        #[arg(long = "as", value_name = "DISPLAY_NAME")]
        display_name: Option<String>,
    },
    /// List our groups.
    List,
    /// List a group's members.
    Members(GroupArg),
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
        GroupCmd::Create { name, display_name } => session::offline(global, |s| {
            let dn = resolve::display_name(display_name, &s.profile.settings)?;
            let id = s.client.create_group(&name, &dn)?;
            s.done(
                format!("created group {name:?} ({})", gid(&id)),
                json!({"group": gid(&id), "name": name, "display_name": dn}),
            );
            Ok(())
        }),
        GroupCmd::List => session::offline(global, |s| {
            for g in s.client.groups() {
                let n = g.members.len();
                s.done(
                    format!(
                        "{}  {}  ({n} member{})",
                        &gid(&g.id)[..8],
                        g.name,
                        if n == 1 { "" } else { "s" }
                    ),
                    output::group_json(&g),
                );
            }
            Ok(())
        }),
        GroupCmd::Members(a) => session::offline(global, |s| {
            let id = s.group(&a.group)?;
            for m in s.client.group_info(&id)?.members {
                s.done(
                    format!(
                        "{} ({}){}{}",
                        m.name,
                        m.id.short(),
                        if m.is_me { " [me]" } else { "" },
                        m.introduced_by
                            .map(|b| format!(", introduced by {}", b.short()))
                            .unwrap_or_default()
                    ),
                    json!({
                        "group": gid(&id), "member": hex::encode(m.id.0), "name": m.name,
                        "me": m.is_me,
                        "introduced_by": m.introduced_by.map(|b| hex::encode(b.0)),
                        "view_differs": m.view_differs,
                    }),
                );
            }
            Ok(())
        }),
    }
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
            s.client.who(&id).await?;
            s.done(
                format!(
                    "asked {} WHO; members' answers arrive with `poll`",
                    s.group_name(&id)
                ),
                json!({"group": gid(&id), "who": true}),
            );
            Ok(())
        },
    )
}
