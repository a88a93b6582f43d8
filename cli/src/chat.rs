//! The group-chat commands: each opens the profile's client, does one thing, prints the result
//! (for people, or with `--json` as one JSON object per line) and exits.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use bacap::store::{BoxStore, CopyStatus, ReadOutcome, StoreError, WriteOutcome};
use bacap::stream::StreamError;
use bacap::{BoxId, SealedBox, WriteCap};
use clap::{Args, Subcommand};
use groupchat::channel::{ChannelToken, GroupId};
use groupchat::files::DEFAULT_MAX_FILE_LEN;
use groupchat::messages::FileType;
use groupchat::{Client, ClientError, Event};
use serde_json::json;

use crate::output::{self, emit, gid};
use crate::profile::{self, Global, Profile, Settings};
use crate::progress;

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Create the profile (`-p NAME`), or change its settings; `--courier URL` is saved in it.
    Init {
        /// The display name used when a command needs one and none is given.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the profile: where it lives, its display name, courier, groups and channels.
    Show,
    /// List the profiles under the home.
    List,
}

/// `channel` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// Start a channel and print our token (a secret: give it to the peer only).
    Make {
        /// Our name for the channel (usually the peer's name).
        label: String,
    },
    /// Accept the peer's token; prints our token when the peer still needs it.
    Accept {
        /// Our name for the channel.
        label: String,
        /// The peer's token, or `-` to read it from stdin.
        token: String,
    },
    /// Print our token for a channel again.
    Token {
        /// The channel.
        label: String,
    },
    /// List the channels.
    List,
    /// Send a private text on a channel.
    Send {
        /// The channel.
        label: String,
        /// The text.
        text: String,
    },
    /// Print a channel's history.
    History {
        /// The channel.
        label: String,
    },
}

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

/// Options of `post`.
#[derive(Debug, Args)]
pub struct PostArgs {
    /// The group.
    pub group: String,
    /// The text.
    pub text: String,
}

/// Options of `send-file`.
#[derive(Debug, Args)]
pub struct SendFileArgs {
    /// The group.
    pub group: String,
    /// The file.
    pub path: PathBuf,
    /// What kind of file it is.
    #[arg(long = "type", value_name = "TYPE", default_value = "arbitrary",
          value_parser = ["arbitrary", "image", "sound"])]
    pub filetype: String,
}

/// Options of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Pause between polls, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub interval: u64,
    /// Stop after this many polls (default: until interrupted).
    #[arg(long, value_name = "N")]
    pub polls: Option<u64>,
}

/// A store for commands that work offline: every network operation says there is no courier.
struct NoCourier;

#[async_trait]
impl BoxStore for NoCourier {
    async fn write(&self, _: &SealedBox) -> Result<WriteOutcome, StoreError> {
        Err(StoreError::Unavailable("no courier configured".into()))
    }
    async fn read_many(&self, _: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        Err(StoreError::Unavailable("no courier configured".into()))
    }
    async fn copy(&self, _: &WriteCap) -> Result<CopyStatus, StoreError> {
        Err(StoreError::Unavailable("no courier configured".into()))
    }
    async fn copy_status(&self, _: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        Err(StoreError::Unavailable("no courier configured".into()))
    }
}

/// An open profile and its client.
struct Session {
    profile: Profile,
    client: Client,
    courier: String,
    json: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

impl Session {
    /// Opens the profile without needing a courier.
    fn offline(global: &Global) -> anyhow::Result<Self> {
        let profile = Profile::existing(global)?;
        let client = profile::open_client(&profile.dir, Arc::new(NoCourier))?;
        Ok(Self {
            profile,
            client,
            courier: String::new(),
            json: global.json,
        })
    }

    /// Opens the profile against its courier; `wrap` may wrap the store (for progress).
    fn online(
        global: &Global,
        wrap: impl FnOnce(Arc<dyn BoxStore>) -> Arc<dyn BoxStore>,
    ) -> anyhow::Result<Self> {
        let profile = Profile::existing(global)?;
        let courier = profile.courier_url(global)?;
        let store = wrap(profile::http_store(&courier, global.attempts)?);
        let client = profile::open_client(&profile.dir, store)?;
        Ok(Self {
            profile,
            client,
            courier,
            json: global.json,
        })
    }

    /// A network error as the user should read it.
    fn net(&self, e: ClientError) -> anyhow::Error {
        match e {
            ClientError::Queued(StreamError::Store(StoreError::Unavailable(m))) => anyhow!(
                "courier unreachable at {} ({m}); the operation is saved and the next command \
                 that reaches the courier (e.g. `bacap-chat poll`) completes it",
                self.courier
            ),
            ClientError::Queued(inner) => anyhow!(
                "the courier at {} did not confirm ({inner}); the operation is saved and the next \
                 command that reaches the courier (e.g. `bacap-chat poll`) completes it",
                self.courier
            ),
            ClientError::Stream(StreamError::Store(StoreError::Unavailable(m))) => {
                anyhow!("courier unreachable at {}: {m}", self.courier)
            }
            other => anyhow!(other),
        }
    }

    fn group_name(&self, id: &GroupId) -> String {
        self.client
            .group_info(id)
            .map(|g| g.name)
            .unwrap_or_else(|_| gid(id)[..8].to_owned())
    }

    /// Resumes any operation a killed or failed earlier command left, and says so.
    async fn resume(&mut self) -> anyhow::Result<()> {
        let before = self.client.pending_count()?;
        if before == 0 {
            return Ok(());
        }
        self.client
            .resume_pending()
            .await
            .map_err(|e| self.net(e))?;
        if self.json {
            emit(json!({"event": "resumed", "operations": before}));
        } else {
            println!("resumed {before} pending operation(s)");
        }
        Ok(())
    }

    fn print_events(&self, events: &[Event]) {
        let name_of = |id: &GroupId| self.group_name(id);
        for ev in events {
            if self.json {
                emit(output::event_json(ev, &name_of));
            } else {
                println!("{}", output::event_line(ev, &name_of));
            }
        }
    }

    fn done(&self, text: String, v: serde_json::Value) {
        if self.json {
            emit(v);
        } else {
            println!("{text}");
        }
    }
}

/// Finds one of `candidates` (ID, name) by exact name, full ID, or a unique ID prefix.
fn pick(what: &str, arg: &str, candidates: &[(GroupId, String)]) -> anyhow::Result<GroupId> {
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

fn resolve_group(client: &Client, arg: &str) -> anyhow::Result<GroupId> {
    let c: Vec<_> = client
        .groups()
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    pick("group", arg, &c).map_err(|e| anyhow!("{e}; `bacap-chat group list` shows your groups"))
}

fn display_name(given: Option<String>, settings: &Settings) -> anyhow::Result<String> {
    match given {
        Some(n) => Ok(n),
        None if !settings.display_name.is_empty() => Ok(settings.display_name.clone()),
        None => bail!("no display name: pass --as NAME or set one with `profile init --name NAME`"),
    }
}

// ---------------------------------------------------------------- commands

/// `profile ...`
pub fn profile(global: &Global, cmd: ProfileCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ProfileCmd::Init { name } => {
            let dir = profile::profile_dir(global, &global.profile)?;
            let mut settings = if dir.join("cli.json").is_file() {
                profile::load_settings(&dir)?
            } else {
                Settings::default()
            };
            if let Some(n) = name {
                groupchat::display_name::DisplayName::new(n.clone())
                    .map_err(|e| anyhow!("display name {n:?}: {e}"))?;
                settings.display_name = n;
            }
            if let Some(url) = global.courier.clone() {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    bail!("courier URL {url:?} is not an http(s) URL");
                }
                settings.courier = Some(url);
            }
            // Creates the directory (0700) and the client's state.
            drop(profile::open_client(&dir, Arc::new(NoCourier))?);
            profile::save_settings(&dir, &settings)?;
            if global.json {
                emit(json!({
                    "profile": global.profile, "dir": dir.display().to_string(),
                    "display_name": settings.display_name, "courier": settings.courier,
                }));
            } else {
                println!("profile {} in {}", global.profile, dir.display());
            }
        }
        ProfileCmd::Show => {
            let s = Session::offline(global)?;
            let courier = global
                .courier
                .clone()
                .or(s.profile.settings.courier.clone());
            let pending = s.client.pending_count()?;
            s.done(
                format!(
                    "profile {} in {}\ndisplay name: {}\ncourier: {}\ngroups: {}\nchannels: {}\n\
                     pending operations: {pending}",
                    s.profile.name,
                    s.profile.dir.display(),
                    s.profile.settings.display_name,
                    courier.as_deref().unwrap_or("(none)"),
                    s.client.groups().len(),
                    s.client.channels().len()
                ),
                json!({
                    "profile": s.profile.name, "dir": s.profile.dir.display().to_string(),
                    "display_name": s.profile.settings.display_name, "courier": courier,
                    "groups": s.client.groups().len(), "channels": s.client.channels().len(),
                    "pending": pending,
                }),
            );
        }
        ProfileCmd::List => {
            for name in profile::list(global)? {
                if global.json {
                    emit(json!({ "profile": name }));
                } else {
                    println!("{name}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `channel ...`
pub fn channel(global: &Global, cmd: ChannelCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ChannelCmd::Make { label } => {
            let mut s = Session::offline(global)?;
            let token = s.client.make_channel(&label)?;
            let text = token.to_text();
            s.done(
                text.to_string(),
                json!({"channel": label, "token": text.as_str()}),
            );
        }
        ChannelCmd::Accept { label, token } => {
            let mut s = Session::offline(global)?;
            let token = if token == "-" {
                let mut t = String::new();
                std::io::stdin().read_to_string(&mut t)?;
                t
            } else {
                token
            };
            let theirs = ChannelToken::parse(token.trim())?;
            let existed = s.client.channels().iter().any(|(l, _)| *l == label);
            let ours = s.client.accept_channel(&label, &theirs)?;
            if existed {
                s.done(
                    format!("channel {label} is open"),
                    json!({"channel": label, "open": true, "token": null}),
                );
            } else {
                let text = ours.to_text();
                if !s.json {
                    eprintln!("channel {label} is open; give the peer this token of ours:");
                }
                s.done(
                    text.to_string(),
                    json!({"channel": label, "open": true, "token": text.as_str()}),
                );
            }
        }
        ChannelCmd::Token { label } => {
            let s = Session::offline(global)?;
            let text = s.client.channel_token(&label)?.to_text();
            s.done(
                text.to_string(),
                json!({"channel": label, "token": text.as_str()}),
            );
        }
        ChannelCmd::List => {
            let s = Session::offline(global)?;
            for (label, open) in s.client.channels() {
                s.done(
                    format!(
                        "{label}\t{}",
                        if open {
                            "open"
                        } else {
                            "waiting for the peer's token"
                        }
                    ),
                    json!({"channel": label, "open": open}),
                );
            }
        }
        ChannelCmd::Send { label, text } => {
            let mut s = Session::online(global, |st| st)?;
            runtime()?.block_on(async {
                s.resume().await?;
                s.client
                    .send_channel_text(&label, &text)
                    .await
                    .map_err(|e| s.net(e))
            })?;
            s.done(
                format!("sent to {label}"),
                json!({"channel": label, "sent": true}),
            );
        }
        ChannelCmd::History { label } => {
            let s = Session::offline(global)?;
            for e in s.client.channel_history(&label)? {
                s.done(
                    output::entry_line(&e),
                    output::entry_json("channel", &label, &e),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `group ...`
pub fn group(global: &Global, cmd: GroupCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GroupCmd::Create { name, display_name } => {
            let mut s = Session::offline(global)?;
            let dn = self::display_name(display_name, &s.profile.settings)?;
            let id = s.client.create_group(&name, &dn)?;
            s.done(
                format!("created group {name:?} ({})", gid(&id)),
                json!({"group": gid(&id), "name": name, "display_name": dn}),
            );
        }
        GroupCmd::List => {
            let s = Session::offline(global)?;
            for g in s.client.groups() {
                s.done(
                    format!(
                        "{}  {}  ({} member{})",
                        &gid(&g.id)[..8],
                        g.name,
                        g.members.len(),
                        if g.members.len() == 1 { "" } else { "s" }
                    ),
                    output::group_json(&g),
                );
            }
        }
        GroupCmd::Members(a) => {
            let s = Session::offline(global)?;
            let id = resolve_group(&s.client, &a.group)?;
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
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `invite GROUP CHANNEL`
pub fn invite(global: &Global, a: InviteArgs) -> anyhow::Result<ExitCode> {
    let mut s = Session::online(global, |st| st)?;
    let id = resolve_group(&s.client, &a.group)?;
    runtime()?.block_on(async {
        s.resume().await?;
        s.client.invite(&id, &a.channel).await.map_err(|e| s.net(e))
    })?;
    s.done(
        format!("invited {} to {}", a.channel, s.group_name(&id)),
        json!({"group": gid(&id), "channel": a.channel, "invited": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `invitations`
pub fn invitations(global: &Global) -> anyhow::Result<ExitCode> {
    let s = Session::offline(global)?;
    for i in s.client.invitations() {
        s.done(
            format!(
                "invited to {:?} ({}) via channel {}{}{}",
                i.group_name,
                &gid(&i.group)[..8],
                i.channel,
                i.answered_as
                    .as_ref()
                    .map(|n| format!(", answered as {n:?}"))
                    .unwrap_or_default(),
                i.revise_reason
                    .as_ref()
                    .map(|r| format!(", asked to revise: {r}"))
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
                "{} to {:?}: {}",
                r.channel,
                s.group_name(&r.group),
                r.display_name
                    .as_ref()
                    .map(|n| format!("asks to join as {n:?}"))
                    .unwrap_or_else(|| "invited, no answer yet".into())
            ),
            json!({
                "kind": "join_request", "group": gid(&r.group), "channel": r.channel,
                "display_name": r.display_name,
            }),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `accept GROUP --as NAME`
pub fn accept(global: &Global, a: AcceptArgs) -> anyhow::Result<ExitCode> {
    let mut s = Session::online(global, |st| st)?;
    let c: Vec<_> = s
        .client
        .invitations()
        .into_iter()
        .map(|i| (i.group, i.group_name))
        .collect();
    let id = pick("invitation", &a.group, &c)
        .map_err(|e| anyhow!("{e}; `bacap-chat invitations` lists them (run `poll` first)"))?;
    let dn = display_name(a.display_name, &s.profile.settings)?;
    runtime()?.block_on(async {
        s.resume().await?;
        s.client
            .accept_invitation(&id, &dn)
            .await
            .map_err(|e| s.net(e))
    })?;
    s.done(
        format!("asked to join as {dn:?}; wait for the introducer's approval, then `poll`"),
        json!({"group": gid(&id), "display_name": dn, "accepted": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `approve GROUP CHANNEL`
pub fn approve(global: &Global, a: InviteArgs) -> anyhow::Result<ExitCode> {
    let mut s = Session::online(global, |st| st)?;
    let id = resolve_group(&s.client, &a.group)?;
    runtime()?.block_on(async {
        s.resume().await?;
        s.client
            .approve(&id, &a.channel)
            .await
            .map_err(|e| s.net(e))
    })?;
    s.done(
        format!("approved {} into {}", a.channel, s.group_name(&id)),
        json!({"group": gid(&id), "channel": a.channel, "approved": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `revise GROUP CHANNEL --reason WHY`
pub fn revise(global: &Global, a: ReviseArgs) -> anyhow::Result<ExitCode> {
    let mut s = Session::online(global, |st| st)?;
    let id = resolve_group(&s.client, &a.group)?;
    runtime()?.block_on(async {
        s.resume().await?;
        s.client
            .ask_revise(&id, &a.channel, &a.reason)
            .await
            .map_err(|e| s.net(e))
    })?;
    s.done(
        format!("asked {} for another display name", a.channel),
        json!({"group": gid(&id), "channel": a.channel, "revise": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `post GROUP TEXT`
pub fn post(global: &Global, a: PostArgs) -> anyhow::Result<ExitCode> {
    let mut s = Session::online(global, |st| st)?;
    let id = resolve_group(&s.client, &a.group)?;
    runtime()?.block_on(async {
        s.resume().await?;
        s.client.post_text(&id, &a.text).await.map_err(|e| s.net(e))
    })?;
    s.done(
        format!("posted to {}", s.group_name(&id)),
        json!({"group": gid(&id), "posted": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `send-file GROUP PATH`
pub fn send_file(global: &Global, a: SendFileArgs) -> anyhow::Result<ExitCode> {
    let meta =
        std::fs::metadata(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", a.path.display());
    }
    if meta.len() > DEFAULT_MAX_FILE_LEN as u64 {
        bail!(
            "{} is too large: {} bytes, the most is {DEFAULT_MAX_FILE_LEN}",
            a.path.display(),
            meta.len()
        );
    }
    let payload =
        std::fs::read(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?;
    let basename = a
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let filetype = match a.filetype.as_str() {
        "image" => FileType::Image,
        "sound" => FileType::Sound,
        _ => FileType::Arbitrary,
    };
    // A box carries 1556 bytes; the chain's framing and pointers leave about 1480 of file.
    let boxes = (payload.len() as u64).div_ceil(1480) + 1;
    let bar = progress::bar(Some(boxes), &format!("sending {basename}"), global.json);
    let b2 = bar.clone();
    let mut s = Session::online(global, move |st| progress::Counting::wrap(st, b2))?;
    let id = resolve_group(&s.client, &a.group)?;
    let len = payload.len();
    let r = runtime()?.block_on(async {
        s.resume().await?;
        s.client
            .send_file(&id, &basename, filetype, payload)
            .await
            .map_err(|e| s.net(e))
    });
    bar.finish_and_clear();
    r?;
    s.done(
        format!("sent {basename} ({len} bytes) to {}", s.group_name(&id)),
        json!({"group": gid(&id), "basename": basename, "len": len, "sent": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `poll`
pub fn poll(global: &Global) -> anyhow::Result<ExitCode> {
    let bar = progress::bar(None, "polling", global.json);
    let b2 = bar.clone();
    let mut s = Session::online(global, move |st| progress::Counting::wrap(st, b2))?;
    let r = runtime()?.block_on(async {
        s.resume().await?;
        s.client.poll().await.map_err(|e| s.net(e))
    });
    bar.finish_and_clear();
    let events = r?;
    s.print_events(&events);
    if events.is_empty() && !s.json {
        println!("nothing new");
    }
    Ok(ExitCode::SUCCESS)
}

/// `watch`: polls until interrupted, opening the profile only while polling so other commands
/// on the same profile (a `post` from another terminal) can run in between.
pub fn watch(global: &Global, a: WatchArgs) -> anyhow::Result<ExitCode> {
    // Fail early on a missing profile or courier.
    {
        let p = Profile::existing(global)?;
        p.courier_url(global)?;
    }
    if !global.json {
        eprintln!("watching; Ctrl-C to stop");
    }
    let rt = runtime()?;
    // One SIGINT stream for the whole run, so a Ctrl-C during a poll is not lost. Stopping in
    // the middle of a poll is safe: the client commits each round atomically, and resumes any
    // persisted operation on the next command.
    let mut interrupt = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    })?;
    let mut n = 0u64;
    loop {
        let bar = progress::bar(None, "polling", global.json);
        let b2 = bar.clone();
        let mut s = Session::online(global, move |st| progress::Counting::wrap(st, b2))?;
        let r = rt.block_on(async {
            tokio::select! {
                r = async {
                    s.resume().await?;
                    s.client.poll().await.map_err(|e| s.net(e))
                } => Some(r),
                _ = interrupt.recv() => None,
            }
        });
        bar.finish_and_clear();
        match r {
            None => return Ok(ExitCode::SUCCESS),
            Some(Ok(events)) => s.print_events(&events),
            // A courier that went away may come back: say so and keep watching.
            Some(Err(e)) => eprintln!("bacap-chat: {}", format!("{e:#}").replace('\n', " ")),
        }
        drop(s);
        n += 1;
        if a.polls.is_some_and(|max| n >= max) {
            return Ok(ExitCode::SUCCESS);
        }
        let interrupted = rt.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => true,
                _ = tokio::time::sleep(Duration::from_millis(a.interval)) => false,
            }
        });
        if interrupted {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// `history GROUP`
pub fn history(global: &Global, a: GroupArg) -> anyhow::Result<ExitCode> {
    let s = Session::offline(global)?;
    let id = resolve_group(&s.client, &a.group)?;
    for e in s.client.history(&id)? {
        s.done(
            output::entry_line(&e),
            output::entry_json("group", &gid(&id), &e),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `who GROUP`
pub fn who(global: &Global, a: GroupArg) -> anyhow::Result<ExitCode> {
    let mut s = Session::online(global, |st| st)?;
    let id = resolve_group(&s.client, &a.group)?;
    runtime()?.block_on(async {
        s.resume().await?;
        s.client.who(&id).await.map_err(|e| s.net(e))
    })?;
    s.done(
        format!(
            "asked {} WHO; members' answers arrive with `poll`",
            s.group_name(&id)
        ),
        json!({"group": gid(&id), "who": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `courier ...`: the bundled courier simulator. Prints `listening on URL` (with `--json`,
/// `{"listening": URL}`) once it accepts queries.
pub fn courier(global: &Global, config: courier_sim::Config) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let server = courier_sim::serve(config)
            .await
            .context("starting the courier")?;
        if global.json {
            emit(json!({ "listening": server.url() }));
        } else {
            println!("listening on {}", server.url());
        }
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        server.shutdown().await
    })?;
    Ok(ExitCode::SUCCESS)
}
