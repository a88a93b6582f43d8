//! Writing a stream: [`SingleMessage`] for what fits one box, an [`AllOrNothingPlan`] with a
//! substream for what does not, [`Outgoing`] to choose and persist either, and [`StreamWriter`]
//! to keep a writer's state in step.
//!
//! To survive a crash, persist [`Outgoing::to_bytes`] before running it and the writer's new
//! state once it succeeded; after a restart, run the persisted operation again. Sealing is
//! deterministic, so the retry rebuilds identical boxes, and the message lands exactly once.

use core::fmt;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use bacap::{Geometry, StatefulWriter};

use super::all_or_nothing::{frame_within_limits, AllOrNothingPlan};
use super::codec::{Decoder, Encoder};
use super::error::StreamError;
use super::framing::{self, Framed};
use super::limits::Limits;
use crate::store::WriteOutcome;
use crate::transport::{CopyOptions, Transport};

const SINGLE_VERSION: u8 = 1;
const OUTGOING_VERSION: u8 = 1;
const TAG_SINGLE: u8 = 1;
const TAG_ALL_OR_NOTHING: u8 = 2;

/// One box at the writer's next index.
///
/// Persistent form (version 1), secret: `0x01 || u32 len || StatefulWriter state || plaintext`.
#[derive(Clone, PartialEq, Eq)]
pub struct SingleMessage {
    writer: StatefulWriter,
    plaintext: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SingleMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleMessage")
            .field("writer", &self.writer)
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

impl SingleMessage {
    /// The box plaintext `plaintext` (already framed) for `writer`'s next index.
    pub fn new(
        writer: StatefulWriter,
        plaintext: Zeroizing<Vec<u8>>,
        geometry: Geometry,
    ) -> Result<Self, StreamError> {
        if plaintext.len() > geometry.box_plaintext_len {
            return Err(StreamError::MessageTooLarge {
                len: plaintext.len(),
                limit: geometry.box_plaintext_len,
            });
        }
        Ok(Self { writer, plaintext })
    }

    /// The writer as it was when the message was made.
    pub fn writer(&self) -> &StatefulWriter {
        &self.writer
    }

    /// The box plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// Writes the box and returns the writer advanced past it. "Already exists" with identical
    /// content counts as written (a retry); with different content it is
    /// [`StreamError::Conflict`].
    pub async fn execute<T: Transport + ?Sized>(
        &self,
        transport: &T,
    ) -> Result<StatefulWriter, StreamError> {
        let conflict = || self.writer.next_box_id();
        match transport.write(&self.writer, &self.plaintext).await? {
            WriteOutcome::Stored | WriteOutcome::AlreadyExists { identical: true } => {
                let mut advanced = self.writer.clone();
                advanced.advance()?;
                Ok(advanced)
            }
            WriteOutcome::AlreadyExists { identical: false } => {
                Err(StreamError::Conflict { box_id: conflict() })
            }
            WriteOutcome::Tombstoned => Err(StreamError::Tombstoned { box_id: conflict() }),
        }
    }

    /// The persistent form. Secret; the buffer zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut e = Encoder::new(SINGLE_VERSION);
        e.bytes(&self.writer.to_bytes());
        e.raw(&self.plaintext);
        e.finish()
    }

    /// Decodes [`SingleMessage::to_bytes`] for boxes of `geometry`.
    pub fn from_bytes(bytes: &[u8], geometry: Geometry) -> Result<Self, StreamError> {
        let mut d = Decoder::new(bytes, SINGLE_VERSION)?;
        let writer = StatefulWriter::from_bytes(d.bytes()?)?;
        let plaintext = Zeroizing::new(d.rest().to_vec());
        Self::new(writer, plaintext, geometry)
    }
}

/// A message for one stream, ready to run and to persist: a [`SingleMessage`] when it fits one
/// box, else an [`AllOrNothingPlan`] writing a substream chain and the `I` box together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// One `F` box.
    Single(SingleMessage),
    /// The substream's `C`...`F` boxes and one `I` box, in one copy command.
    AllOrNothing(AllOrNothingPlan),
}

impl Outgoing {
    /// Frames `messages` (concatenated, so short ones share an `F` box) for `writer`'s next
    /// index. Does not advance anything and writes nothing; `rng` makes the substream and
    /// temporary caps of a long message.
    pub fn prepare<R: RngCore + CryptoRng>(
        rng: &mut R,
        writer: &StatefulWriter,
        messages: &[&[u8]],
        geometry: Geometry,
        limits: &Limits,
    ) -> Result<Self, StreamError> {
        let payload = framing::concat(messages);
        match frame_within_limits(&payload, geometry, limits)? {
            Framed::Single(b) => Ok(Self::Single(SingleMessage::new(
                writer.clone(),
                b,
                geometry,
            )?)),
            Framed::Chain(_) => Ok(Self::AllOrNothing(AllOrNothingPlan::for_messages(
                rng,
                geometry,
                limits,
                vec![(writer.clone(), &payload[..])],
            )?)),
        }
    }

    /// The writer as it was when the message was prepared.
    pub fn writer_before(&self) -> &StatefulWriter {
        match self {
            Outgoing::Single(m) => m.writer(),
            Outgoing::AllOrNothing(p) => p
                .destinations()
                .next()
                .expect("an outgoing plan has one destination"),
        }
    }

    /// The writer as it will be once the message landed.
    pub fn writer_after(&self) -> Result<StatefulWriter, StreamError> {
        let mut w = self.writer_before().clone();
        w.advance()?;
        Ok(w)
    }

    /// Runs (or resumes) the operation and returns the writer advanced past the message.
    pub async fn execute<T: Transport + ?Sized>(
        &self,
        transport: &T,
        options: CopyOptions,
    ) -> Result<StatefulWriter, StreamError> {
        match self {
            Outgoing::Single(m) => m.execute(transport).await,
            Outgoing::AllOrNothing(p) => p
                .execute(transport, options)
                .await?
                .pop()
                .ok_or(StreamError::InvalidState("plan without a destination")),
        }
    }

    /// The persistent form: `0x01 || tag (1 single, 2 all-or-nothing) || inner form`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut e = Encoder::new(OUTGOING_VERSION);
        match self {
            Outgoing::Single(m) => {
                e.u8(TAG_SINGLE);
                e.raw(&m.to_bytes());
            }
            Outgoing::AllOrNothing(p) => {
                e.u8(TAG_ALL_OR_NOTHING);
                e.raw(&p.to_bytes());
            }
        }
        e.finish()
    }

    /// Decodes [`Outgoing::to_bytes`]; a single message is checked against `geometry`.
    pub fn from_bytes(bytes: &[u8], geometry: Geometry) -> Result<Self, StreamError> {
        let mut d = Decoder::new(bytes, OUTGOING_VERSION)?;
        let out = match d.u8()? {
            TAG_SINGLE => Self::Single(SingleMessage::from_bytes(d.rest(), geometry)?),
            TAG_ALL_OR_NOTHING => {
                let plan = AllOrNothingPlan::from_bytes(d.rest())?;
                if plan.destinations().count() != 1 {
                    return Err(StreamError::InvalidState(
                        "an outgoing message has one destination",
                    ));
                }
                Self::AllOrNothing(plan)
            }
            _ => return Err(StreamError::InvalidState("unknown outgoing message kind")),
        };
        d.finish()?;
        Ok(out)
    }
}

/// A stream's writer kept in step with what storage acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamWriter {
    writer: StatefulWriter,
    geometry: Geometry,
    limits: Limits,
    copy_options: CopyOptions,
}

impl StreamWriter {
    /// A writer for boxes of `geometry`, with default limits.
    pub fn new(writer: StatefulWriter, geometry: Geometry) -> Self {
        Self {
            writer,
            geometry,
            limits: Limits::default(),
            copy_options: CopyOptions::default(),
        }
    }

    /// The same writer with other limits (a message a reader would drop is refused).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same writer with other copy-command polling options.
    pub fn with_copy_options(mut self, options: CopyOptions) -> Self {
        self.copy_options = options;
        self
    }

    /// The underlying writer; persist its `to_bytes` after every send.
    pub fn writer(&self) -> &StatefulWriter {
        &self.writer
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Prepares `messages` (sent together, see [`Outgoing::prepare`]) without writing.
    pub fn prepare<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        messages: &[&[u8]],
    ) -> Result<Outgoing, StreamError> {
        Outgoing::prepare(rng, &self.writer, messages, self.geometry, &self.limits)
    }

    /// Runs (or resumes) a prepared message and advances on success. A message prepared from
    /// another state is [`StreamError::InvalidState`]; one this writer already advanced past
    /// succeeds without writing.
    pub async fn run<T: Transport + ?Sized>(
        &mut self,
        transport: &T,
        outgoing: &Outgoing,
    ) -> Result<(), StreamError> {
        if *outgoing.writer_before() != self.writer {
            if outgoing.writer_after()? == self.writer {
                return Ok(());
            }
            return Err(StreamError::InvalidState(
                "the message was prepared for another writer state",
            ));
        }
        self.writer = outgoing.execute(transport, self.copy_options).await?;
        Ok(())
    }

    /// Sends one message: prepare and run.
    pub async fn send<T: Transport + ?Sized, R: RngCore + CryptoRng>(
        &mut self,
        transport: &T,
        rng: &mut R,
        message: &[u8],
    ) -> Result<(), StreamError> {
        self.send_many(transport, rng, &[message]).await
    }

    /// Sends several messages as one unit (short ones share an `F` box).
    pub async fn send_many<T: Transport + ?Sized, R: RngCore + CryptoRng>(
        &mut self,
        transport: &T,
        rng: &mut R,
        messages: &[&[u8]],
    ) -> Result<(), StreamError> {
        let outgoing = self.prepare(rng, messages)?;
        self.run(transport, &outgoing).await
    }
}
