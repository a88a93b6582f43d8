//! `channel make | accept | token | list | send | history`: 1:1 channels.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use zeroize::Zeroizing;

use clap::Subcommand;
use groupchat::channel::ChannelToken;
use serde_json::json;

use crate::output;
use crate::profile::Global;
use crate::safe_text::safe;
use crate::session;

/// `channel` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// Start a channel and print our token (a secret: give it to the peer only).
    Make {
        /// Our name for the channel (usually the peer's name).
        label: String,
    },
    /// Accept the peer's token, read from stdin or a file; prints our token when the peer
    /// still needs it.
    #[command(long_about = ACCEPT_HELP)]
    Accept {
        /// Our name for the channel.
        label: String,
        /// The peer's token: leave it out (or give `-`) to read it from stdin, safely. Given
        /// here it works, with a warning: see above.
        token: Option<String>,
        /// Read the peer's token from this file (keep it private, delete it after).
        #[arg(long, value_name = "FILE", conflicts_with = "token")]
        token_file: Option<PathBuf>,
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

/// The long help of `channel accept`: why a token does not belong on the command line.
const ACCEPT_HELP: &str = "Accept the peer's token; prints our token when the peer still needs it.

A channel token is a secret: whoever holds it can read the channel and write to it as the peer. \
Given as an argument, it stays in the shell's history and, while the command runs, in \
/proc/PID/cmdline, which every user of this machine can read. So give it on stdin (leave TOKEN \
out, or give `-`: paste it and press Enter, or pipe it in) or in a file with --token-file FILE. \
A token given as an argument still works, with a warning.";

/// The peer's token: from `file`, from stdin (no argument, or `-`), or, with a warning, from the
/// argument. The buffer zeroizes itself.
fn read_token(arg: Option<String>, file: Option<&Path>) -> anyhow::Result<Zeroizing<String>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        return Ok(Zeroizing::new(text));
    }
    match arg {
        Some(token) if token != "-" => {
            eprintln!(
                "bacap-chat: warning: a token given as an argument lands in the shell's history \
                 and in /proc/PID/cmdline for every local user to read; give it on stdin or with \
                 --token-file FILE instead (see `bacap-chat channel accept --help`)"
            );
            Ok(Zeroizing::new(token))
        }
        _ => {
            let stdin = std::io::stdin();
            let mut text = Zeroizing::new(String::new());
            if stdin.is_terminal() {
                eprintln!("paste the peer's token and press Enter:");
                stdin.lock().read_line(&mut text)?;
            } else {
                stdin.lock().read_to_string(&mut text)?;
            }
            Ok(text)
        }
    }
}

/// `channel ...`
pub fn run(global: &Global, cmd: ChannelCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ChannelCmd::Make { label } => session::offline(global, |s| {
            let text = s.client.make_channel(&label)?.to_text();
            s.done(
                text.as_str(),
                json!({"channel": label, "token": text.as_str()}),
            );
            Ok(())
        }),
        ChannelCmd::Accept {
            label,
            token,
            token_file,
        } => {
            let token = read_token(token, token_file.as_deref())?;
            let theirs = ChannelToken::parse(token.trim())?;
            session::offline(global, |s| {
                let existed = s.client.chat().has_channel(&label);
                let ours = s.client.accept_channel(&label, &theirs)?;
                if existed {
                    s.done(
                        format!("channel {} is open", safe(&label)),
                        json!({"channel": label, "open": true, "token": null}),
                    );
                } else {
                    let text = ours.to_text();
                    if !s.json() {
                        eprintln!(
                            "channel {} is open; give the peer this token of ours:",
                            safe(&label)
                        );
                    }
                    s.done(
                        text.as_str(),
                        json!({"channel": label, "open": true, "token": text.as_str()}),
                    );
                }
                Ok(())
            })
        }
        ChannelCmd::Token { label } => session::offline(global, |s| {
            let text = s.client.channel_token(&label)?.to_text();
            s.done(
                text.as_str(),
                json!({"channel": label, "token": text.as_str()}),
            );
            Ok(())
        }),
        ChannelCmd::List => session::offline(global, |s| {
            for (label, open) in s.client.channels() {
                let state = if open {
                    "open"
                } else {
                    "waiting for the peer's token"
                };
                s.done(
                    format!("{}\t{state}", safe(&label)),
                    json!({"channel": label, "open": open}),
                );
            }
            Ok(())
        }),
        ChannelCmd::Send { label, text } => session::online(
            global,
            None,
            |_| Ok(()),
            async |s, ()| {
                let sent = s.client.send_channel_text(&label, &text).await?;
                s.sent(
                    sent,
                    format!("sent to {}", safe(&label)),
                    json!({"channel": label, "sent": true}),
                );
                Ok(())
            },
        ),
        ChannelCmd::History { label } => session::offline(global, |s| {
            for e in s.client.channel_history(&label)? {
                s.done(
                    output::entry_line(&e),
                    output::entry_json("channel", &label, &e),
                );
            }
            Ok(())
        }),
    }
}
