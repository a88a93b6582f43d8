//! The chat screen's worker: it owns the profile's client, polls it on an interval, runs what
//! the user asks for, and sends the screen what it should show. The screen never waits on it,
//! so typing never waits on the network.

use std::time::{Duration, Instant};

use chat_client::{ClientError, Sent};
use groupchat::channel::GroupId;
use groupchat::messages::FileType;
use groupchat::roster::Role;
use groupchat::Event;
use indicatif::ProgressBar;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::model::{
    Conv, ConvKey, Invitation, JoinRequest, Member, Snapshot, Status, Upload, HISTORY_WINDOW,
};
use super::slash::Slash;
use crate::output::{self, outbox_what};
use crate::resolve;
use crate::session::Session;

/// What the screen asks the worker.
#[derive(Debug)]
pub enum Job {
    /// Send a text.
    Say(ConvKey, String),
    /// Run a command (in the selected conversation, if any).
    Command(Option<ConvKey>, Slash),
    /// Stop.
    Quit,
}

/// What the worker tells the screen.
#[derive(Debug)]
pub enum Update {
    /// The profile as it is now.
    Snapshot(Snapshot),
    /// A line for the user.
    Notice(String),
    /// A file upload's progress, or its end.
    Upload(Option<Upload>),
}

/// The worker's state besides the session.
pub struct Worker {
    session: Session,
    bar: ProgressBar,
    status: Status,
    out: UnboundedSender<Update>,
}

impl Worker {
    /// A worker over an open session whose store counts boxes into `bar`.
    pub fn new(session: Session, bar: ProgressBar, out: UnboundedSender<Update>) -> Self {
        let status = Status {
            courier: session.courier().to_owned(),
            ..Status::default()
        };
        Self {
            session,
            bar,
            status,
            out,
        }
    }

    /// Polls every `interval` and runs jobs until told to stop or the screen is gone.
    pub async fn run(mut self, mut jobs: UnboundedReceiver<Job>, interval: Duration) {
        self.publish();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                job = jobs.recv() => match job {
                    None | Some(Job::Quit) => return,
                    Some(job) => {
                        self.status.busy = true;
                        self.publish();
                        self.job(job).await;
                        self.status.busy = false;
                        self.publish();
                    }
                },
                _ = tick.tick() => {
                    // Reading every history again is the costly part of a snapshot: only
                    // when the poll changed something.
                    if self.poll().await {
                        self.publish();
                    }
                }
            }
        }
    }

    fn notice(&self, line: impl Into<String>) {
        let _ = self.out.send(Update::Notice(line.into()));
    }

    /// Sends the screen a fresh snapshot.
    fn publish(&mut self) {
        self.status.outbox = self.session.client.pending_count();
        let snap = snapshot(&self.session, &self.status);
        let _ = self.out.send(Update::Snapshot(snap));
    }

    /// Polls; returns whether the screen has something new to show.
    async fn poll(&mut self) -> bool {
        let started = Instant::now();
        let before = (self.status.clone(), self.session.client.pending_count());
        match self.session.client.poll().await {
            Ok(events) => {
                self.status.reachable = Some(true);
                self.status.last_poll_ms = Some(started.elapsed().as_millis() as u64);
                self.status.error = None;
                self.events(&events);
                !events.is_empty() || self.changed(before)
            }
            Err(e) => {
                self.status.reachable = Some(false);
                self.status.error = Some(one_line(&self.session.explain(e)));
                self.changed(before)
            }
        }
    }

    /// Whether the courier's state or the outbox differ from `before` (the poll's duration
    /// aside).
    fn changed(&self, (status, outbox): (Status, usize)) -> bool {
        let now = Status {
            last_poll_ms: status.last_poll_ms,
            ..self.status.clone()
        };
        now != status || self.session.client.pending_count() != outbox
    }

    /// Says what a poll found, beyond the messages the history shows.
    fn events(&self, events: &[Event]) {
        let name_of = |id: &GroupId| self.session.group_name(id);
        for ev in events {
            if !matches!(ev, Event::GroupMessage { .. } | Event::ChannelText { .. }) {
                self.notice(output::event_line(ev, &name_of));
            }
        }
    }

    /// What a send achieved, for the user.
    fn sent(&mut self, result: Result<Sent, ClientError>, done: impl FnOnce() -> Option<String>) {
        match result {
            Ok(Sent::Landed) => {
                if let Some(line) = done() {
                    self.notice(line);
                }
            }
            Ok(Sent::Queued { .. }) => self
                .notice("queued: the courier did not confirm yet; it goes out with the next poll"),
            Err(ClientError::Queued(e)) => {
                self.notice(format!("queued ({e}); it goes out with the next poll"))
            }
            Err(e) => self.notice(one_line(&self.session.explain(e))),
        }
    }

    async fn job(&mut self, job: Job) {
        match job {
            Job::Say(ConvKey::Group(id), text) => {
                let r = self.session.client.post_text(&id, &text).await;
                self.sent(r, || None);
            }
            Job::Say(ConvKey::Channel(label), text) => {
                let r = self.session.client.send_channel_text(&label, &text).await;
                self.sent(r, || None);
            }
            Job::Command(conv, cmd) => {
                if let Err(e) = self.command(conv, cmd).await {
                    self.notice(one_line(&e));
                }
            }
            Job::Quit => {}
        }
    }

    async fn command(&mut self, conv: Option<ConvKey>, cmd: Slash) -> anyhow::Result<()> {
        let group = || match &conv {
            Some(ConvKey::Group(id)) => Ok(*id),
            _ => Err(anyhow::anyhow!("select a group first (Ctrl-N / Ctrl-P)")),
        };
        let s = &mut self.session;
        match cmd {
            Slash::Help | Slash::Quit => {}
            Slash::Poll => {
                self.poll().await;
            }
            Slash::Create(name) => {
                let dn = resolve::display_name(None, &s.profile.settings)?;
                s.client.create_group(&name, &dn)?;
                self.notice(format!(
                    "created group {name}; /invite CHANNEL to add people"
                ));
            }
            Slash::Invite(label) => {
                let id = group()?;
                let r = s.client.invite(&id, &label).await;
                self.sent(r, || Some(format!("invited {label}")));
            }
            Slash::Approve(label) => {
                let id = group()?;
                match s.client.approve(&id, &label).await {
                    Ok((sent, events)) => {
                        self.events(&events);
                        self.sent(Ok(sent), || Some(format!("approved {label}")));
                    }
                    Err(e) => self.sent(Err(e), || None),
                }
            }
            Slash::Revise(label, reason) => {
                let id = group()?;
                let r = s.client.ask_revise(&id, &label, &reason).await;
                self.sent(r, || Some(format!("asked {label} for another name")));
            }
            Slash::Accept(group_arg, name) => {
                let id = resolve::invitation(&s.client, &group_arg)?;
                let dn = resolve::display_name(name, &s.profile.settings)?;
                let r = s.client.accept_invitation(&id, &dn).await;
                self.sent(r, || {
                    Some(format!("asked to join as {dn}; wait for the approval"))
                });
            }
            Slash::Admit(who) => {
                let id = group()?;
                let m = resolve::held(&s.client, &id, &who)?;
                s.client.admit(&id, &m)?;
                self.notice(format!("admitted {who}"));
            }
            Slash::Decline(group_arg) => {
                let id = resolve::invitation(&s.client, &group_arg)?;
                let r = s.client.decline(&id).await;
                self.sent(r, || {
                    Some(format!("declined the invitation to {group_arg}"))
                });
            }
            Slash::Reject(label, reason) => {
                let id = group()?;
                let r = s.client.reject(&id, &label, &reason).await;
                self.sent(r, || Some(format!("rejected {label}")));
            }
            Slash::Send(path) => {
                let id = group()?;
                self.send_file(id, &path).await?;
            }
            Slash::Who => {
                let id = group()?;
                let r = s.client.who(&id).await;
                self.sent(r, || {
                    Some("asked WHO; answers arrive with the next polls".into())
                });
            }
            Slash::Members => {
                let id = group()?;
                let g = s.client.group_info(&id)?;
                let list: Vec<String> = g
                    .members
                    .iter()
                    .map(|m| {
                        format!(
                            "{} ({}, {}){}",
                            m.name,
                            m.id.short(),
                            m.role.as_str(),
                            if m.is_me { " me" } else { "" }
                        )
                    })
                    .collect();
                self.notice(format!("members of {}: {}", g.name, list.join(", ")));
            }
            Slash::Leave => {
                let id = group()?;
                let r = s.client.leave(&id).await;
                self.sent(r, || Some("left the group; its history stays".into()));
            }
            Slash::Remove(member) => {
                let id = group()?;
                let m = resolve::member(&s.client, &id, &member)?;
                match s.client.remove(&id, &m).await {
                    Ok((sent, events)) => {
                        self.events(&events);
                        self.sent(Ok(sent), || Some(format!("removed {member}")));
                    }
                    Err(e) => self.sent(Err(e), || None),
                }
            }
            Slash::Role(member, role) => {
                let id = group()?;
                let m = resolve::member(&s.client, &id, &member)?;
                let role = Role::parse(&role).map_err(|e| anyhow::anyhow!("{e}"))?;
                let r = s.client.set_role(&id, &m, role).await;
                self.sent(r, || Some(format!("{member} is {} now", role.as_str())));
            }
            Slash::Rotate => {
                let id = group()?;
                match s.client.rotate(&id).await {
                    Ok((sent, events)) => {
                        self.events(&events);
                        self.sent(Ok(sent), || Some("moved to a new stream".into()));
                    }
                    Err(e) => self.sent(Err(e), || None),
                }
            }
            Slash::Delete => {
                let id = group()?;
                let r = s.client.delete(&id).await;
                self.sent(r, || Some("deleted the group; its history stays".into()));
            }
            Slash::Outbox => {
                let entries = self.session.client.outbox();
                if entries.is_empty() {
                    self.notice("the outbox is empty");
                }
                for e in &entries {
                    let what = outbox_what(e, &|id| self.session.group_name(id));
                    let err = e
                        .last_error
                        .as_ref()
                        .map(|e| format!(", last error: {e}"))
                        .unwrap_or_default();
                    self.notice(format!(
                        "{}: {what}, {} boxes, {} tries{err}",
                        e.entry, e.boxes, e.attempts
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sends a file, showing its progress while the upload runs.
    async fn send_file(&mut self, id: GroupId, path: &str) -> anyhow::Result<()> {
        let max = self.session.client.max_file_len();
        let (name, payload) = crate::commands::post::read_upload(std::path::Path::new(path), max)?;
        let len = payload.len();
        let total = groupchat::Config::boxes_for(
            groupchat::messages::FileUpload::message_len(&name, payload.len()),
            self.session.client.chat().geometry(),
        ) as u64;
        self.bar.set_position(0);
        let bar = self.bar.clone();
        let out = self.out.clone();
        let shown = name.clone();
        let ticker = tokio::task::spawn_local(async move {
            loop {
                let _ = out.send(Update::Upload(Some(Upload {
                    name: shown.clone(),
                    done: bar.position().min(total),
                    total,
                })));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        self.session.client.set_wait(chat_client::Wait::Landed);
        let r = self
            .session
            .client
            .send_file(&id, &name, FileType::Arbitrary, payload)
            .await;
        self.session
            .client
            .set_wait(chat_client::Wait::AtMost(crate::session::TRY));
        ticker.abort();
        let _ = self.out.send(Update::Upload(None));
        self.sent(r, || Some(format!("sent {name} ({len} bytes)")));
        Ok(())
    }
}

/// An error in one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn last<T: Clone>(v: Vec<T>) -> Vec<T> {
    let skip = v.len().saturating_sub(HISTORY_WINDOW);
    v[skip..].to_vec()
}

/// The profile as the screen shows it.
fn snapshot(s: &Session, status: &Status) -> Snapshot {
    let c = &s.client;
    let mut convs = Vec::new();
    for g in c.groups() {
        let entries = c.history(&g.id).map(last).unwrap_or_default();
        let members = g
            .members
            .iter()
            .map(|m| Member {
                name: m.name.clone(),
                role: m.role.as_str().to_owned(),
                me: m.is_me,
            })
            .collect();
        let held = g
            .held
            .iter()
            .map(|h| {
                let by = g
                    .members
                    .iter()
                    .find(|m| m.id == h.by)
                    .map(|m| m.name.clone())
                    .unwrap_or_else(|| h.by.short());
                (h.name.clone(), by)
            })
            .collect();
        convs.push(Conv {
            key: ConvKey::Group(g.id),
            title: g.name.clone(),
            entries,
            members,
            held,
            standing: output::standing(&g.standing).to_owned(),
        });
    }
    for (label, open) in c.channels() {
        let entries = c.channel_history(&label).map(last).unwrap_or_default();
        convs.push(Conv {
            key: ConvKey::Channel(label.clone()),
            title: label,
            entries,
            members: Vec::new(),
            held: Vec::new(),
            standing: if open { "open" } else { "waiting" }.to_owned(),
        });
    }
    Snapshot {
        me: s.profile.settings.display_name.clone(),
        convs,
        invitations: c
            .invitations()
            .into_iter()
            .map(|i| Invitation {
                group_name: i.group_name,
                channel: i.channel,
                answered_as: i.answered_as,
            })
            .collect(),
        join_requests: c
            .join_requests()
            .into_iter()
            .map(|r| JoinRequest {
                group: r.group,
                channel: r.channel,
                display_name: r.display_name,
            })
            .collect(),
        status: status.clone(),
    }
}
