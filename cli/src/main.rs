//! `bacap-chat`: group chat over a mixnet, in the Katzenpost style.

#![forbid(unsafe_code)]

mod commands;
mod conformance;
mod demo;
mod output;
mod profile;
mod progress;
mod resolve;
mod safe_text;
mod session;
mod tui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{channel, courier, group, join, lifecycle, outbox, poll, post};

/// Group chat over a mixnet, in the Katzenpost style.
#[derive(Debug, Parser)]
#[command(
    name = "bacap-chat",
    version,
    about,
    after_help = "Start here: `bacap-chat demo`, or start a courier with \
                  `bacap-chat courier --ephemeral` and `bacap-chat -p NAME profile init --courier URL`."
)]
struct Cli {
    #[command(flatten)]
    global: profile::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up, show or list profiles.
    #[command(subcommand)]
    Profile(commands::profile::ProfileCmd),
    /// 1:1 channels: make and accept tokens, private texts.
    #[command(subcommand)]
    Channel(channel::ChannelCmd),
    /// Groups: create, list, members.
    #[command(subcommand)]
    Group(group::GroupCmd),
    /// Invite the peer of a channel to a group.
    Invite(join::InviteArgs),
    /// List the invitations we received, and the join requests waiting for our answer.
    Invitations,
    /// Accept an invitation: ask to join the group under a display name.
    Accept(join::AcceptArgs),
    /// Decline an invitation (the introducer is told).
    Decline(join::DeclineArgs),
    /// Approve a pending join request.
    Approve(join::InviteArgs),
    /// Reject a join request outright (the invitee is told why).
    Reject(join::RejectArgs),
    /// Ask an invitee to choose another display name.
    Revise(join::ReviseArgs),
    /// Post a text to a group.
    Post(post::PostArgs),
    /// Send a file to a group.
    SendFile(post::SendFileArgs),
    /// A full-screen chat: conversations, history, and a line to type in.
    Chat(tui::ChatArgs),
    /// Poll every stream once and print what arrived (sending what waits in the outbox).
    Poll,
    /// What waits to be sent: list it (the default), send it now, or drop an entry.
    Outbox {
        #[command(subcommand)]
        cmd: Option<outbox::OutboxCmd>,
    },
    /// Poll repeatedly and print what arrives, until interrupted.
    Watch(poll::WatchArgs),
    /// Print a group's history.
    History(group::GroupArg),
    /// Ask a group WHO (members answer with their member lists).
    Who(group::GroupArg),
    /// Leave a group: we stop reading and writing it; its history stays.
    Leave(group::GroupArg),
    /// Admit a newcomer whose introduction waits for our approval (in groups of 50 or more).
    Admit(lifecycle::MemberArgs),
    /// Remove a member (owners and admins): we move to a new stream without them.
    Remove(lifecycle::MemberArgs),
    /// Move our stream in a group to a new one, given to every member.
    Rotate(group::GroupArg),
    /// Give a member a role (the owner): admin or member.
    Role(lifecycle::RoleArgs),
    /// Delete a group (the owner): every member stops reading it; histories stay.
    Delete(group::GroupArg),
    /// Check this implementation against a file of conformance vectors.
    #[command(subcommand)]
    Conformance(conformance::Kind),
    /// Run the bundled courier simulator until interrupted (prints `listening on URL`).
    Courier(courier_sim::Config),
    /// Run a demonstration: three members chat and share a file over the bundled courier (or a
    /// Katzenpost mixnet, with `--transport katzenpost`).
    Demo(demo::Args),
}

fn main() -> ExitCode {
    // Everything this program creates (profile state, received files, courier data) is its
    // owner's alone, whatever the libraries it uses ask for.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let global = cli.global;
    let result = match cli.command {
        Command::Conformance(kind) => conformance::run(kind),
        Command::Demo(args) => demo::run(args, &global),
        Command::Courier(config) => courier::run(&global, config),
        Command::Profile(c) => commands::profile::run(&global, c),
        Command::Channel(c) => channel::run(&global, c),
        Command::Group(c) => group::run(&global, c),
        Command::Invite(a) => join::invite(&global, a),
        Command::Invitations => join::invitations(&global),
        Command::Accept(a) => join::accept(&global, a),
        Command::Approve(a) => join::approve(&global, a),
        Command::Decline(a) => join::decline(&global, a),
        Command::Reject(a) => join::reject(&global, a),
        Command::Revise(a) => join::revise(&global, a),
        Command::Post(a) => post::post(&global, a),
        Command::SendFile(a) => post::send_file(&global, a),
        Command::Poll => poll::poll(&global),
        Command::Chat(a) => tui::run(&global, a),
        Command::Outbox { cmd } => outbox::run(&global, cmd),
        Command::Watch(a) => poll::watch(&global, a),
        Command::History(a) => group::history(&global, a),
        Command::Who(a) => group::who(&global, a),
        Command::Leave(a) => lifecycle::leave(&global, a),
        Command::Remove(a) => lifecycle::remove(&global, a),
        Command::Admit(a) => group::admit(&global, a),
        Command::Rotate(a) => lifecycle::rotate(&global, a),
        Command::Role(a) => lifecycle::role(&global, a),
        Command::Delete(a) => lifecycle::delete(&global, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` is the chain of causes, never a backtrace; a line break inside a message
            // becomes a space, and what a peer or a courier put in it is escaped like every
            // other human line.
            let line = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("bacap-chat: {}", safe_text::safe(&line));
            ExitCode::FAILURE
        }
    }
}
