//! `bacap-chat chat [GROUP]`: a full-screen chat over the same profile and library as the other
//! commands.
//!
//! The screen ([`app`], drawn by [`view`]) and the [`worker`] that owns the profile's client
//! run side by side on one thread: the screen sends what the user asks for and draws what the
//! worker last read, so typing never waits on the network. The session holds the profile for
//! its whole run: another command on the same profile meanwhile gets the usual "profile in
//! use" error. Which conversation was open and what was read is saved in the profile
//! ([`state`]), so the screen resumes where it left off.

pub mod app;
pub mod model;
pub mod slash;
pub mod state;
pub mod term;
pub mod view;
pub mod worker;

#[cfg(test)]
mod frames;

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use indicatif::ProgressBar;

use crate::profile::Global;
use crate::progress::Progress;
use crate::session::{self, Session};
use app::{Action, App};
use model::ConvKey;
use worker::{Job, Update, Worker};

/// Options of `chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The group to open first (its name, ID or an ID prefix; default: where you left off).
    pub group: Option<String>,
    /// Pause between polls, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub interval: u64,
}

/// `chat [GROUP]`
pub fn run(global: &Global, a: ChatArgs) -> anyhow::Result<ExitCode> {
    let rt = session::runtime()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, chat(global, a))?;
    Ok(ExitCode::SUCCESS)
}

async fn chat(global: &Global, a: ChatArgs) -> anyhow::Result<()> {
    // Everything that can fail in a way worth one line fails before the screen takes over.
    let bar = ProgressBar::hidden();
    let mut s = Session::online(global, Some(Progress { bar: bar.clone() }))?;
    s.client.set_wait(chat_client::Wait::AtMost(session::TRY));
    let dir = s.client.profile_dir().to_path_buf();
    let saved = state::load(&dir);
    let selected = match &a.group {
        Some(g) => Some(ConvKey::Group(s.group(g)?)),
        None => saved.selected.clone(),
    };
    let mut app = App::new(selected, saved.seen.clone());
    app.notice("Enter sends; /help lists commands; Ctrl-C quits");

    let (job_tx, job_rx) = tokio::sync::mpsc::unbounded_channel();
    let (up_tx, mut up_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(s, bar, up_tx);
    let interval = Duration::from_millis(a.interval.max(50));
    let handle = tokio::task::spawn_local(worker.run(job_rx, interval));

    let theme = view::Theme::from_env();
    let mut terminal = term::Screen::enter()?;
    let mut keys = EventStream::new();
    let mut redraw = tokio::time::interval(Duration::from_millis(500));
    let result: anyhow::Result<()> = async {
        loop {
            terminal.draw(|f| view::draw(f, &app, theme))?;
            tokio::select! {
                ev = keys.next() => match ev {
                    Some(Ok(TermEvent::Key(k))) => match app.key(k) {
                        Action::None => {}
                        Action::Quit => return Ok(()),
                        Action::Say(conv, text) => {
                            let _ = job_tx.send(Job::Say(conv, text));
                        }
                        Action::Command(conv, cmd) => {
                            let _ = job_tx.send(Job::Command(conv, cmd));
                        }
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(anyhow::anyhow!("reading the terminal: {e}")),
                    None => return Ok(()),
                },
                up = up_rx.recv() => match up {
                    Some(Update::Snapshot(snap)) => app.update(snap),
                    Some(Update::Notice(n)) => app.notice(n),
                    Some(Update::Upload(u)) => app.upload = u,
                    None => return Err(anyhow::anyhow!("the chat worker stopped")),
                },
                _ = redraw.tick() => {}
            }
        }
    }
    .await;
    // Save where we are and leave the screen first, whatever happened, then let the worker
    // finish what it is doing for a moment (a kill at any point is safe: the outbox completes
    // it later).
    state::save(
        &dir,
        &state::Saved {
            selected: app.selected.clone(),
            seen: app.seen.clone(),
        },
    );
    drop(terminal);
    let _ = job_tx.send(Job::Quit);
    if tokio::time::timeout(Duration::from_secs(3), handle)
        .await
        .is_err()
    {
        eprintln!("bacap-chat: left while a send was under way; the outbox completes it later");
    }
    result
}
