//! The join flow: `invite`, `invitations`, `accept`, `decline`, `approve`, `revise`,
//! `reject`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::output::gid;
use crate::profile::Global;
use crate::resolve;
use crate::safe_text::{quoted, safe};
use crate::session::{self, Session};

/// A group and a channel.
#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The group: its name, its ID, or the first characters of its ID.
    pub group: String,
    /// The channel of the invitee.
    pub channel: String,
}

/// Options of `accept`.
#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The group we were invited to: its name, its ID, or the first characters of its ID.
    pub group: String,
    /// The display name to join under (default: the profile's).
    #[arg(long = "as", value_name = "DISPLAY_NAME")]
    pub display_name: Option<String>,
}

/// Options of `revise`.
#[derive(Debug, Args)]
pub struct ReviseArgs {
    /// The group.
    pub group: String,
    /// The channel of the invitee.
    pub channel: String,
    /// Why, shown to the invitee.
    #[arg(long, default_value = "please choose another display name")]
    pub reason: String,
}

/// `invite GROUP CHANNEL`
pub fn invite(global: &Global, a: InviteArgs) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let sent = s.client.invite(&id, &a.channel).await?;
            s.sent(
                sent,
                format!(
                    "invited {} to {}",
                    safe(&a.channel),
                    safe(&s.group_name(&id))
                ),
                json!({"group": gid(&id), "channel": a.channel, "invited": true}),
            );
            Ok(())
        },
    )
}

/// `invitations`
pub fn invitations(global: &Global) -> anyhow::Result<ExitCode> {
    session::offline(global, |s| {
        for i in s.client.invitations() {
            s.done(
                format!(
                    "invited to {} ({}) via channel {}{}{}",
                    quoted(&i.group_name),
                    &gid(&i.group)[..8],
                    safe(&i.channel),
                    i.answered_as
                        .as_ref()
                        .map(|n| format!(", answered as {}", quoted(n)))
                        .unwrap_or_default(),
                    i.revise_reason
                        .as_ref()
                        .map(|r| format!(", asked to revise: {}", safe(r)))
                        .unwrap_or_default()
                ),
                json!({
                    "kind": "invitation", "group": gid(&i.group), "group_name": i.group_name,
                    "channel": i.channel, "answered_as": i.answered_as,
                    "revise_reason": i.revise_reason,
                }),
            );
        }
        for r in s.client.join_requests() {
            s.done(
                format!(
                    "{} to {}: {}",
                    safe(&r.channel),
                    quoted(&s.group_name(&r.group)),
                    r.display_name
                        .as_ref()
                        .map(|n| format!("asks to join as {}", quoted(n)))
                        .unwrap_or_else(|| "invited, no answer yet".into())
                ),
                json!({
                    "kind": "join_request", "group": gid(&r.group), "channel": r.channel,
                    "display_name": r.display_name,
                }),
            );
        }
        Ok(())
    })
}

/// `accept GROUP --as NAME`
pub fn accept(global: &Global, a: AcceptArgs) -> anyhow::Result<ExitCode> {
    let resolve = |s: &Session| {
        let id = resolve::invitation(&s.client, &a.group)?;
        let dn = resolve::display_name(a.display_name, &s.profile.settings)?;
        Ok((id, dn))
    };
    session::online(global, None, resolve, async |s, (id, dn)| {
        let sent = s.client.accept_invitation(&id, &dn).await?;
        s.sent(
            sent,
            format!(
                "asked to join as {}; wait for the introducer's approval, then `poll`",
                quoted(&dn)
            ),
            json!({"group": gid(&id), "display_name": dn, "accepted": true}),
        );
        Ok(())
    })
}

/// `approve GROUP CHANNEL`
pub fn approve(global: &Global, a: InviteArgs) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let (sent, events) = s.client.approve(&id, &a.channel).await?;
            s.print_events(&events);
            s.sent(
                sent,
                format!(
                    "approved {} into {}",
                    safe(&a.channel),
                    safe(&s.group_name(&id))
                ),
                json!({"group": gid(&id), "channel": a.channel, "approved": true}),
            );
            Ok(())
        },
    )
}

/// `revise GROUP CHANNEL --reason WHY`
pub fn revise(global: &Global, a: ReviseArgs) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let sent = s.client.ask_revise(&id, &a.channel, &a.reason).await?;
            s.sent(
                sent,
                format!("asked {} for another display name", safe(&a.channel)),
                json!({"group": gid(&id), "channel": a.channel, "revise": true}),
            );
            Ok(())
        },
    )
}

/// Options of `decline`.
#[derive(Debug, Args)]
pub struct DeclineArgs {
    /// The group we were invited to: its name, its ID, or the first characters of its ID.
    pub group: String,
}

/// Options of `reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The group.
    pub group: String,
    /// The channel of the invitee.
    pub channel: String,
    /// Why, shown to the invitee.
    #[arg(long, default_value = "your request to join was not accepted")]
    pub reason: String,
}

/// `decline GROUP`
pub fn decline(global: &Global, a: DeclineArgs) -> anyhow::Result<ExitCode> {
    let resolve = |s: &Session| resolve::invitation(&s.client, &a.group);
    session::online(global, None, resolve, async |s, id| {
        let sent = s.client.decline(&id).await?;
        s.sent(
            sent,
            format!(
                "declined the invitation to {}; the introducer is told",
                a.group
            ),
            json!({"group": gid(&id), "declined": true}),
        );
        Ok(())
    })
}

/// `reject GROUP CHANNEL --reason WHY`
pub fn reject(global: &Global, a: RejectArgs) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let sent = s.client.reject(&id, &a.channel, &a.reason).await?;
            s.sent(
                sent,
                format!(
                    "rejected {}'s request to join {}",
                    a.channel,
                    s.group_name(&id)
                ),
                json!({"group": gid(&id), "channel": a.channel, "rejected": true}),
            );
            Ok(())
        },
    )
}
