//! 1:1 channels: the two-token bootstrap and private texts.
//!
//! A channel is two BACAP streams, one each way (context [`CHANNEL_CTX`]). Each side makes
//! its own outgoing stream and hands the other its ReadCap as a [`ChannelToken`], out of band
//! (copied by the user: a chat elsewhere, a QR code, in person). Nobody can write into the
//! other's stream, so there is no in-band way to return a cap: it takes two tokens.
//!
//! 1. A: [`Chat::make_channel`]`("bob")` makes A's stream and returns token TA.
//! 2. B: [`Chat::accept_channel`]`("alice", TA)` makes B's stream, starts reading A's, and
//!    returns token TB.
//! 3. A: [`Chat::accept_channel`]`("bob", TB)` starts reading B's stream. Done.
//!
//! Tokens are secrets: whoever holds TA reads everything A sends on that channel (invitations,
//! member lists with every member's ReadCap). They zeroize themselves and never print in
//! `Debug`; the profile stores only the caps. Labels are local names, 1 to 32 of
//! `A-Z a-z 0-9 - _ .`.

use std::collections::{BTreeMap, BTreeSet};

use bacap::{ReadCap, StatefulWriter, WriteCap};
use pigeonhole::stream::{Limits, Outgoing, StreamReader};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::{Changes, Chat, OpId, CHANNEL_CTX};
use crate::channel::{ChannelMessage, ChannelToken, MAX_LABEL_CHARS};
use crate::error::Error;
use crate::events::{Event, HistoryEntry};
use crate::keys;
use crate::records::{self, check_version, ChannelRecord, Completion, Content, TargetRecord};

/// One channel: our outgoing stream, and the peer's once its token arrived.
pub(crate) struct Channel {
    pub writer: StatefulWriter,
    pub reader: Option<StreamReader>,
}

/// Every channel, by label, and which changed.
#[derive(Default)]
pub(crate) struct Channels {
    map: BTreeMap<String, Channel>,
    changed: BTreeSet<String>,
}

fn check_label(label: &str) -> Result<(), Error> {
    let ok = !label.is_empty()
        && label.chars().count() <= MAX_LABEL_CHARS
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidLabel(label.to_owned()))
    }
}

impl Channels {
    pub(crate) fn load(&mut self, value: &[u8], limits: Limits) -> Result<(), Error> {
        let rec: ChannelRecord = records::decode("channel", value)?;
        check_version("channel", rec.v)?;
        let reader = if rec.reader.is_empty() {
            None
        } else {
            Some(StreamReader::from_bytes(&rec.reader)?.with_limits(limits))
        };
        self.map.insert(
            rec.label.clone(),
            Channel {
                writer: StatefulWriter::from_bytes(&rec.writer)?,
                reader,
            },
        );
        Ok(())
    }

    pub(crate) fn take_changes(&mut self, c: &mut Changes) {
        for label in std::mem::take(&mut self.changed) {
            let key = keys::channel(&label);
            match self.map.get(&label) {
                Some(ch) => {
                    let rec = ChannelRecord {
                        v: records::RECORD_VERSION,
                        label: label.clone(),
                        writer: ch.writer.to_bytes().to_vec(),
                        reader: ch
                            .reader
                            .as_ref()
                            .map(|r| r.to_bytes().to_vec())
                            .unwrap_or_default(),
                    };
                    c.puts.push((key, records::encode(&rec)));
                }
                None => c.deletes.push(key),
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, label: &str) -> Result<&Channel, Error> {
        self.map
            .get(label)
            .ok_or_else(|| Error::UnknownChannel(label.to_owned()))
    }

    /// The channel, marked changed.
    pub(crate) fn get_mut(&mut self, label: &str) -> Result<&mut Channel, Error> {
        self.changed.insert(label.to_owned());
        self.map
            .get_mut(label)
            .ok_or_else(|| Error::UnknownChannel(label.to_owned()))
    }

    /// The channel, which must read the peer's stream already.
    pub(crate) fn open(&self, label: &str) -> Result<&Channel, Error> {
        let c = self.get(label)?;
        if c.reader.is_none() {
            return Err(Error::ChannelNotOpen(label.to_owned()));
        }
        Ok(c)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Channel)> {
        self.map.iter()
    }

    /// The reader of the peer's stream, if its token was accepted (not marked changed).
    pub(crate) fn reader_mut(&mut self, label: &str) -> Option<&mut StreamReader> {
        self.map.get_mut(label).and_then(|c| c.reader.as_mut())
    }

    pub(crate) fn mark_changed(&mut self, label: &str) {
        self.changed.insert(label.to_owned());
    }
    /// Refuses a peer's token `theirs` for channel `label` if it is the token of one of our own
    /// streams (whatever the channel), or the peer's token of another channel already.
    fn check_token(&self, label: &str, theirs: &ReadCap) -> Result<(), Error> {
        for (other, c) in &self.map {
            if c.writer.cap().read_cap() == *theirs {
                return Err(Error::OwnToken(other.clone()));
            }
            let read_already = c
                .reader
                .as_ref()
                .is_some_and(|r| r.position().cap() == theirs);
            if read_already && other != label {
                return Err(Error::TokenAccepted(other.clone()));
            }
        }
        Ok(())
    }
}

impl Chat {
    /// Starts a channel: makes our outgoing stream and returns its token, to copy to the peer.
    /// The peer accepts it with [`Chat::accept_channel`] and sends its own token back, which
    /// we accept the same way.
    pub fn make_channel<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        label: &str,
    ) -> Result<ChannelToken, Error> {
        check_label(label)?;
        if self.channels.map.contains_key(label) {
            return Err(Error::ChannelExists(label.to_owned()));
        }
        let cap = WriteCap::generate(rng);
        let token = ChannelToken::new(&cap.read_cap());
        self.channels.map.insert(
            label.to_owned(),
            Channel {
                writer: StatefulWriter::new(cap, CHANNEL_CTX),
                reader: None,
            },
        );
        self.channels.mark_changed(label);
        Ok(token)
    }

    /// Accepts the peer's token for channel `label`: makes the channel if we have none of that
    /// name (then give the returned token to the peer), or completes the one we started.
    /// Returns our token either way.
    pub fn accept_channel<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        label: &str,
        token: &ChannelToken,
    ) -> Result<ChannelToken, Error> {
        check_label(label)?;
        let theirs = token.read_cap();
        self.channels.check_token(label, &theirs)?;
        if !self.channels.map.contains_key(label) {
            self.make_channel(rng, label)?;
        }
        let limits = self.limits();
        let c = self.channels.get_mut(label)?;
        match &c.reader {
            Some(r) if *r.position().cap() == theirs => {}
            Some(_) => return Err(Error::ChannelHasOtherPeer(label.to_owned())),
            None => c.reader = Some(StreamReader::new(theirs, CHANNEL_CTX).with_limits(limits)),
        }
        Ok(ChannelToken::new(&c.writer.cap().read_cap()))
    }

    /// Our token for channel `label` again. A secret.
    pub fn channel_token(&self, label: &str) -> Result<ChannelToken, Error> {
        Ok(ChannelToken::new(
            &self.channels.get(label)?.writer.cap().read_cap(),
        ))
    }

    /// The channel labels, with whether the peer's token was accepted.
    pub fn channels(&self) -> Vec<(String, bool)> {
        self.channels
            .iter()
            .map(|(l, c)| (l.clone(), c.reader.is_some()))
            .collect()
    }

    /// Whether a channel of this label exists.
    pub fn has_channel(&self, label: &str) -> bool {
        self.channels.map.contains_key(label)
    }

    /// Queues a private text on a channel.
    pub fn send_channel_text<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        label: &str,
        text: &str,
    ) -> Result<OpId, Error> {
        self.send_channel(
            rng,
            label,
            &ChannelMessage::Text(text.to_owned()),
            Completion::ChannelPosted {
                label: label.to_owned(),
                content: Content::Text(text.to_owned()),
            },
        )
    }

    /// The key prefix of channel `label`'s history, for the client to read it.
    pub fn channel_history_prefix(&self, label: &str) -> Result<Vec<u8>, Error> {
        self.channels.get(label)?;
        Ok(keys::channel_history_prefix(label))
    }

    /// Queues `msg` on channel `label`, to complete with `completion`.
    pub(crate) fn send_channel<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        label: &str,
        msg: &ChannelMessage,
        completion: Completion,
    ) -> Result<OpId, Error> {
        let c = self.channels.open(label)?;
        let bytes = Zeroizing::new(msg.to_cbor());
        let out = Outgoing::prepare(rng, &c.writer, &[&bytes], self.geometry, &self.limits())?;
        Ok(self.outbox.submit_outgoing(
            &mut self.log,
            &out,
            TargetRecord::Channel(label.to_owned()),
            completion,
        ))
    }

    /// A private text arrived on channel `label`.
    pub(crate) fn on_channel_text(&mut self, label: &str, text: String) {
        let entry: HistoryEntry = self.log.channel_entry(label, false, Content::Text(text));
        self.log.event(Event::ChannelText {
            channel: label.to_owned(),
            entry,
        });
    }
}
