//! `bacap-chat`: group chat over a mixnet, in the Katzenpost style.

#![forbid(unsafe_code)]

mod chat;
mod conformance;
mod demo;
mod output;
mod profile;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Profile(chat::ProfileCmd),
    /// 1:1 channels: make and accept tokens, private texts.
    #[command(subcommand)]
    Channel(chat::ChannelCmd),
    /// Groups: create, list, members.
    #[command(subcommand)]
    Group(chat::GroupCmd),
    /// Invite the peer of a channel to a group.
    Invite(chat::InviteArgs),
    /// List the invitations we received, and the join requests waiting for our answer.
    Invitations,
    /// Accept an invitation: ask to join the group under a display name.
    Accept(chat::AcceptArgs),
    /// Approve a pending join request.
    Approve(chat::InviteArgs),
    /// Ask an invitee to choose another display name.
    Revise(chat::ReviseArgs),
    /// Post a text to a group.
    Post(chat::PostArgs),
    /// Send a file to a group.
    SendFile(chat::SendFileArgs),
    /// Poll every stream once and print what arrived.
    Poll,
    /// Poll repeatedly and print what arrives, until interrupted.
    Watch(chat::WatchArgs),
    /// Print a group's history.
    History(chat::GroupArg),
    /// Ask a group WHO (members answer with their member lists).
    Who(chat::GroupArg),
    /// Check this implementation against a file of conformance vectors.
    #[command(subcommand)]
    Conformance(conformance::Kind),
    /// Run the bundled courier simulator until interrupted (prints `listening on URL`).
    Courier(courier_sim::Config),
    /// Run a demonstration: three members chat and share a file over the bundled courier.
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
        Command::Demo(args) => demo::run(args, global.json),
        Command::Courier(config) => chat::courier(&global, config),
        Command::Profile(c) => chat::profile(&global, c),
        Command::Channel(c) => chat::channel(&global, c),
        Command::Group(c) => chat::group(&global, c),
        Command::Invite(a) => chat::invite(&global, a),
        Command::Invitations => chat::invitations(&global),
        Command::Accept(a) => chat::accept(&global, a),
        Command::Approve(a) => chat::approve(&global, a),
        Command::Revise(a) => chat::revise(&global, a),
        Command::Post(a) => chat::post(&global, a),
        Command::SendFile(a) => chat::send_file(&global, a),
        Command::Poll => chat::poll(&global),
        Command::Watch(a) => chat::watch(&global, a),
        Command::History(a) => chat::history(&global, a),
        Command::Who(a) => chat::who(&global, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let line = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("bacap-chat: {line}");
            ExitCode::FAILURE
        }
    }
}
