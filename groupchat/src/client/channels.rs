//! 1:1 channels: the two-token bootstrap and private texts.
//!
//! A channel is two BACAP streams, one each way (context [`CHANNEL_CTX`]). Each side makes
//! its own outgoing stream and hands the other its ReadCap as a [`ChannelToken`], out of band
//! (copied by the user: a chat elsewhere, a QR code, in person). Nobody can write into the
//! other's stream, so there is no in-band way to return a cap: it takes two tokens.
//!
//! 1. A: [`Client::make_channel`]`("bob")` makes A's stream and returns token TA.
//! 2. B: [`Client::accept_channel`]`("alice", TA)` makes B's stream, starts reading A's, and
//!    returns token TB.
//! 3. A: [`Client::accept_channel`]`("bob", TB)` starts reading B's stream. Done.
//!
//! Tokens are secrets: whoever holds TA reads everything A sends on that channel (invitations,
//! member lists with every member's ReadCap). They zeroize themselves and never print in
//! `Debug`; the client stores only the caps, in the owner-only profile database. Labels are
//! local names, 1 to 32 of `A-Z a-z 0-9 - _ .`.

use super::*;

impl Client {
    // ---------------------------------------------------------------- channels

    /// Starts a channel: makes our outgoing stream and returns its token, to copy to the peer.
    /// The peer accepts it with [`Client::accept_channel`] and sends its own token back, which
    /// we accept the same way.
    pub fn make_channel(&mut self, label: &str) -> Result<ChannelToken, ClientError> {
        check_channel_label(label)?;
        if self.channels.contains_key(label) {
            return Err(ClientError::InvalidState(format!(
                "channel {label:?} exists"
            )));
        }
        let cap = WriteCap::generate(&mut OsRng);
        let token = ChannelToken::new(&cap.read_cap());
        self.channels.insert(
            label.to_owned(),
            ChannelState {
                writer: StatefulWriter::new(cap, CHANNEL_CTX),
                reader: None,
            },
        );
        let mut d = Dirty::default();
        d.channels.insert(label.to_owned());
        self.commit(d)?;
        Ok(token)
    }

    /// Accepts the peer's token for channel `label`: makes the channel if we have none of that
    /// name (then give the returned token to the peer), or completes the one we started.
    /// Returns our token either way.
    pub fn accept_channel(
        &mut self,
        label: &str,
        token: &ChannelToken,
    ) -> Result<ChannelToken, ClientError> {
        check_channel_label(label)?;
        if !self.channels.contains_key(label) {
            self.make_channel(label)?;
        }
        let c = self.channels.get_mut(label).expect("just made");
        let theirs = token.read_cap();
        if theirs == c.writer.cap().read_cap() {
            return Err(ClientError::InvalidArgument(
                "that is our own token for this channel".into(),
            ));
        }
        match &c.reader {
            Some(r) if *r.position().cap() == theirs => {}
            Some(_) => {
                return Err(ClientError::InvalidState(format!(
                    "channel {label:?} already has another peer"
                )))
            }
            None => {
                c.reader = Some(
                    StreamReader::new(theirs, CHANNEL_CTX)
                        .with_limits(self.config.effective_limits()),
                )
            }
        }
        let ours = ChannelToken::new(&c.writer.cap().read_cap());
        let mut d = Dirty::default();
        d.channels.insert(label.to_owned());
        self.commit(d)?;
        Ok(ours)
    }

    /// Our token for channel `label` again. A secret.
    pub fn channel_token(&self, label: &str) -> Result<ChannelToken, ClientError> {
        Ok(ChannelToken::new(
            &self.channel(label)?.writer.cap().read_cap(),
        ))
    }

    /// The channel labels, with whether the peer's token was accepted.
    pub fn channels(&self) -> Vec<(String, bool)> {
        self.channels
            .iter()
            .map(|(l, c)| (l.clone(), c.reader.is_some()))
            .collect()
    }

    /// Sends a private text on a channel.
    pub async fn send_channel_text(&mut self, label: &str, text: &str) -> Result<(), ClientError> {
        self.resume_pending().await?;
        self.send_channel(
            label,
            &ChannelMessage::Text(text.to_owned()),
            Completion::ChannelPosted {
                label: label.to_owned(),
                content: Content::Text(text.to_owned()),
            },
            Dirty::default(),
        )
        .await
    }

    /// A channel's history in arrival order.
    pub fn channel_history(&self, label: &str) -> Result<Vec<HistoryEntry>, ClientError> {
        self.channel(label)?;
        self.db
            .scan(&keys::channel_history_prefix(label))?
            .into_iter()
            .map(|(_, v)| {
                let r: HistoryRecord = records::decode("history", &v)?;
                Ok(r.into())
            })
            .collect()
    }
}
