//! Naming things on the command line: groups and invitations by name, full ID or a unique ID
//! prefix, and the display name a command uses.

use anyhow::{anyhow, bail};
use chat_client::Client;
use groupchat::channel::GroupId;
use groupchat::roster::MemberId;

use crate::output::gid;
use crate::profile::Settings;

/// Finds one of `candidates` (ID, name) by exact name, full ID, or a unique ID prefix of at
/// least 4 hex digits.
pub fn pick(what: &str, arg: &str, candidates: &[(GroupId, String)]) -> anyhow::Result<GroupId> {
    let lower = arg.to_ascii_lowercase();
    let by_id: Vec<_> = candidates
        .iter()
        .filter(|(id, _)| lower.len() >= 4 && gid(id).starts_with(&lower))
        .collect();
    if by_id.len() == 1 {
        return Ok(by_id[0].0);
    }
    let by_name: Vec<_> = candidates.iter().filter(|(_, n)| n == arg).collect();
    match (by_name.len(), by_id.len()) {
        (1, _) => Ok(by_name[0].0),
        (0, 0) => bail!("unknown {what} {arg:?}"),
        _ => bail!("{what} {arg:?} is ambiguous; give more characters of its ID"),
    }
}

/// One of our groups.
pub fn group(client: &Client, arg: &str) -> anyhow::Result<GroupId> {
    let c: Vec<_> = client
        .groups()
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    pick("group", arg, &c).map_err(|e| anyhow!("{e}; `bacap-chat group list` shows your groups"))
}

/// One of the invitations we received.
pub fn invitation(client: &Client, arg: &str) -> anyhow::Result<GroupId> {
    let c: Vec<_> = client
        .invitations()
        .into_iter()
        .map(|i| (i.group, i.group_name))
        .collect();
    pick("invitation", arg, &c)
        .map_err(|e| anyhow!("{e}; `bacap-chat invitations` lists them (run `poll` first)"))
}

/// A current member of group `id`: by display name (when one member has it), or by its ID or
/// a unique prefix of at least 4 hex digits.
pub fn member(client: &Client, id: &GroupId, arg: &str) -> anyhow::Result<MemberId> {
    let members = client.group_info(id)?.members;
    let lower = arg.to_ascii_lowercase();
    let by_id: Vec<_> = members
        .iter()
        .filter(|m| lower.len() >= 4 && hex::encode(m.id.0).starts_with(&lower))
        .collect();
    if by_id.len() == 1 {
        return Ok(by_id[0].id);
    }
    let by_name: Vec<_> = members.iter().filter(|m| m.name == arg).collect();
    match (by_name.len(), by_id.len()) {
        (1, _) => Ok(by_name[0].id),
        (0, 0) => bail!("no member {arg:?}; `bacap-chat group members` lists them"),
        _ => bail!("member {arg:?} is ambiguous; give the first characters of its ID"),
    }
}

/// A newcomer held for our approval in group `id`, by display name or ID prefix.
pub fn held(client: &Client, id: &GroupId, arg: &str) -> anyhow::Result<MemberId> {
    let held = client.group_info(id)?.held;
    let lower = arg.to_ascii_lowercase();
    let found: Vec<_> = held
        .iter()
        .filter(|h| {
            h.name == arg || (lower.len() >= 4 && hex::encode(h.member.0).starts_with(&lower))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.member),
        [] => bail!(
            "nobody called {arg:?} waits to be admitted; `bacap-chat group members` lists who does"
        ),
        _ => bail!("{arg:?} is ambiguous; give the first characters of the newcomer's ID"),
    }
}

/// The display name given, else the profile's.
pub fn display_name(given: Option<String>, settings: &Settings) -> anyhow::Result<String> {
    match given {
        Some(n) => Ok(n),
        None if !settings.display_name.is_empty() => Ok(settings.display_name.clone()),
        None => bail!("no display name: pass --as NAME or set one with `profile init --name NAME`"),
    }
}
