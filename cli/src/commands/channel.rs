//! `channel make | accept | token | list | send | history`: 1:1 channels.

use std::io::Read;
use std::process::ExitCode;

use clap::Subcommand;
use groupchat::channel::ChannelToken;
use serde_json::json;

use crate::output;
use crate::profile::Global;
use crate::session;

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
        ChannelCmd::Accept { label, token } => {
            let token = if token == "-" {
                let mut t = String::new();
                std::io::stdin().read_to_string(&mut t)?;
                t
            } else {
                token
            };
            let theirs = ChannelToken::parse(token.trim())?;
            session::offline(global, |s| {
                let existed = s.client.chat().has_channel(&label);
                let ours = s.client.accept_channel(&label, &theirs)?;
                if existed {
                    s.done(
                        format!("channel {label} is open"),
                        json!({"channel": label, "open": true, "token": null}),
                    );
                } else {
                    let text = ours.to_text();
                    if !s.json() {
                        eprintln!("channel {label} is open; give the peer this token of ours:");
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
                    format!("{label}\t{state}"),
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
                s.client.send_channel_text(&label, &text).await?;
                s.done(
                    format!("sent to {label}"),
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
