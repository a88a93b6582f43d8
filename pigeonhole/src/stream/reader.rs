//! Reading a stream: poll the next box, skip tombstones, follow `I` pointers, reassemble
//! `C`...`F` chains, and yield whole messages.
//!
//! The reader's position in the sender's stream moves past a box only once the whole message
//! it starts was read, so the persistent state is just that position ([`StreamReader::to_bytes`]).
//! A chain is fetched in batches: the reader derives the next box IDs of the substream ahead
//! and asks for them in one read. Its progress in a chain lives in memory only; after a
//! restart the chain is read again from its first box.
//!
//! What happens to the position on trouble:
//! - nothing written yet: [`Polled::Nothing`], the reader stays;
//! - a box that fails verification, decryption or unpadding ([`StreamError::InvalidBox`]) or a
//!   missing chain box ([`StreamError::IncompleteChain`]): the reader stays, a later poll
//!   retries, and [`StreamReader::skip`] moves past deliberately;
//! - an authentic box whose content breaks the framing or the limits
//!   ([`StreamError::Rejected`]): that message is dropped and the reader moves past it.

use core::fmt;
use std::collections::VecDeque;

use zeroize::Zeroizing;

use bacap::{BoxId, MessageBoxIndex, ReadCap, StatefulReader};

use super::codec::{extend_zeroizing, Decoder, Encoder};
use super::error::{PeerFault, StreamError};
use super::framing::{self, Frame};
use super::limits::Limits;
use crate::transport::{BoxContent, Transport};

const READER_VERSION: u8 = 1;

/// What one batch of read outcomes gave.
#[derive(Clone, PartialEq, Eq)]
pub enum Polled {
    /// A whole message: the bytes after the `F` prefix, or a reassembled chain.
    Message(Zeroizing<Vec<u8>>),
    /// Nothing new: the next box does not exist yet.
    Nothing,
    /// The reader moved (a tombstone skipped, a pointer or part of a chain read): ask again.
    Progress,
}

impl fmt::Debug for Polled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Polled::Message(m) => write!(f, "Polled::Message({} bytes)", m.len()),
            Polled::Nothing => write!(f, "Polled::Nothing"),
            Polled::Progress => write!(f, "Polled::Progress"),
        }
    }
}

/// Following an `I` pointer.
struct Chain {
    /// The main-stream reader past the `I` box, committed once the message is whole.
    after_pointer: StatefulReader,
    cap: ReadCap,
    /// The boxes to ask for next, from the chain's current position: a reader at each.
    ahead: VecDeque<StatefulReader>,
    /// The index after the last one in `ahead`; `None` once the counter is exhausted.
    next_index: Option<MessageBoxIndex>,
    /// Boxes of the chain read so far.
    boxes: usize,
    assembled: Zeroizing<Vec<u8>>,
}

impl Chain {
    fn refill(&mut self, ctx: &[u8], want: usize) {
        while self.ahead.len() < want {
            let Some(index) = self.next_index.take() else {
                return;
            };
            self.next_index = index.next().ok();
            self.ahead
                .push_back(StatefulReader::at_index(self.cap.clone(), index, ctx));
        }
    }
}

/// Reads one stream message by message.
pub struct StreamReader {
    main: StatefulReader,
    limits: Limits,
    batch: usize,
    chain: Option<Chain>,
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("main", &self.main)
            .field("limits", &self.limits)
            .field("chain_boxes_read", &self.chain.as_ref().map(|c| c.boxes))
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// How many substream boxes one read asks for, by default.
    pub const DEFAULT_BATCH: usize = 16;

    /// A reader at the start of the stream of `cap` in context `ctx`, with default limits.
    pub fn new(cap: ReadCap, ctx: &[u8]) -> Self {
        Self::from_reader(StatefulReader::new(cap, ctx))
    }

    /// A reader continuing from `main`'s position.
    pub fn from_reader(main: StatefulReader) -> Self {
        Self {
            main,
            limits: Limits::default(),
            batch: Self::DEFAULT_BATCH,
            chain: None,
        }
    }

    /// The same reader with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same reader asking for `batch` substream boxes per read (at least 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The position in the sender's stream: the reader before the next unread message.
    pub fn position(&self) -> &StatefulReader {
        &self.main
    }

    /// Whether the reader is in the middle of a chain.
    pub fn in_chain(&self) -> bool {
        self.chain.is_some()
    }

    /// The ID of the next box of the sender's stream.
    pub fn next_box_id(&self) -> BoxId {
        self.main.next_box_id()
    }

    /// The boxes to read next, to pass with what they hold to [`StreamReader::accept`]: the
    /// next box of the sender's stream, or a batch of the chain being followed. Clients polling
    /// many streams can put the boxes of all of them in one [`Transport::read_many`].
    pub fn wanted(&self) -> Vec<StatefulReader> {
        match &self.chain {
            Some(chain) => chain.ahead.iter().cloned().collect(),
            None => vec![self.main.clone()],
        }
    }

    /// Feeds what the boxes of [`StreamReader::wanted`] hold, in the same order.
    pub fn accept(&mut self, outcomes: &[BoxContent]) -> Result<Polled, StreamError> {
        let expected = match &self.chain {
            Some(chain) => chain.ahead.len(),
            None => 1,
        };
        if outcomes.len() != expected {
            return Err(StreamError::OutcomeCount {
                expected,
                got: outcomes.len(),
            });
        }
        if self.chain.is_some() {
            self.accept_chain(outcomes)
        } else {
            self.accept_main(&outcomes[0])
        }
    }

    /// Reads until a message arrives (`Some`) or nothing more is there (`None`): one
    /// `read_many` per step.
    pub async fn poll<T: Transport + ?Sized>(
        &mut self,
        transport: &T,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StreamError> {
        loop {
            let outcomes = transport.read_many(&self.wanted()).await?;
            match self.accept(&outcomes)? {
                Polled::Message(m) => return Ok(Some(m)),
                Polled::Nothing => return Ok(None),
                Polled::Progress => {}
            }
        }
    }

    /// Moves past the current message without reading it: past the chain being followed, or
    /// past the next box of the sender's stream (for a box that keeps failing verification).
    pub fn skip(&mut self) -> Result<(), StreamError> {
        if let Some(chain) = self.chain.take() {
            self.main = chain.after_pointer;
            return Ok(());
        }
        self.main.advance()?;
        Ok(())
    }

    /// The persistent form: `0x01 || StatefulReader state` (the position before the next
    /// unread message). Secret to the stream's readers; the buffer zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut e = Encoder::new(READER_VERSION);
        e.raw(&self.main.to_bytes());
        e.finish()
    }

    /// Decodes [`StreamReader::to_bytes`], with default limits and batch.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StreamError> {
        let mut d = Decoder::new(bytes, READER_VERSION)?;
        Ok(Self::from_reader(StatefulReader::from_bytes(d.rest())?))
    }

    fn accept_main(&mut self, outcome: &BoxContent) -> Result<Polled, StreamError> {
        let plaintext = match outcome {
            BoxContent::NotFound => return Ok(Polled::Nothing),
            BoxContent::Invalid(error) => {
                return Err(StreamError::InvalidBox {
                    box_id: self.main.next_box_id(),
                    error: error.clone(),
                })
            }
            BoxContent::Tombstone => {
                self.main.advance()?;
                return Ok(Polled::Progress);
            }
            BoxContent::Message(p) => p,
        };
        let mut after = self.main.clone();
        after.advance()?;
        match framing::parse(plaintext) {
            Ok(Frame::Final(body)) => {
                self.main = after;
                if body.len() > self.limits.max_message_len {
                    return Err(PeerFault::MessageTooLarge {
                        limit: self.limits.max_message_len,
                    }
                    .into());
                }
                Ok(Polled::Message(Zeroizing::new(body.to_vec())))
            }
            Ok(Frame::Indirection(cap)) => {
                let mut chain = Chain {
                    after_pointer: after,
                    next_index: Some(cap.first_index().clone()),
                    cap: *cap,
                    ahead: VecDeque::new(),
                    boxes: 0,
                    assembled: Zeroizing::new(Vec::new()),
                };
                chain.refill(self.main.ctx(), self.batch.min(self.limits.max_chain_boxes));
                if chain.ahead.is_empty() {
                    self.main = chain.after_pointer;
                    return Err(PeerFault::ChainTooLong {
                        limit: self.limits.max_chain_boxes,
                    }
                    .into());
                }
                self.chain = Some(chain);
                Ok(Polled::Progress)
            }
            Ok(Frame::Continuation(_)) => {
                self.main = after;
                Err(PeerFault::ContinuationOutsideChain.into())
            }
            Err(e) => {
                self.main = after;
                Err(PeerFault::Framing(e).into())
            }
        }
    }

    /// Drops the chain being followed and moves past its `I` box.
    fn reject(&mut self, fault: PeerFault) -> StreamError {
        if let Some(chain) = self.chain.take() {
            self.main = chain.after_pointer;
        }
        StreamError::Rejected(fault)
    }

    fn accept_chain(&mut self, outcomes: &[BoxContent]) -> Result<Polled, StreamError> {
        let limits = self.limits;
        for outcome in outcomes {
            let chain = self.chain.as_mut().expect("following a chain");
            let ahead = chain.ahead.front().expect("one outcome per wanted box");
            let plaintext = match outcome {
                BoxContent::NotFound => {
                    return Err(StreamError::IncompleteChain {
                        position: chain.boxes,
                    })
                }
                BoxContent::Invalid(error) => {
                    return Err(StreamError::InvalidBox {
                        box_id: ahead.next_box_id(),
                        error: error.clone(),
                    })
                }
                BoxContent::Tombstone => return Err(self.reject(PeerFault::ChainDeleted)),
                BoxContent::Message(p) => p,
            };
            let (slice, last) = match framing::parse(plaintext) {
                Ok(Frame::Continuation(s)) => (s, false),
                Ok(Frame::Final(s)) => (s, true),
                Ok(Frame::Indirection(_)) => return Err(self.reject(PeerFault::NestedIndirection)),
                Err(e) => return Err(self.reject(PeerFault::Framing(e))),
            };
            if chain.assembled.len().saturating_add(slice.len()) > limits.max_message_len {
                return Err(self.reject(PeerFault::MessageTooLarge {
                    limit: limits.max_message_len,
                }));
            }
            extend_zeroizing(&mut chain.assembled, slice);
            chain.ahead.pop_front();
            chain.boxes += 1;
            if last {
                let chain = self.chain.take().expect("following a chain");
                self.main = chain.after_pointer;
                return Ok(Polled::Message(chain.assembled));
            }
            if chain.boxes >= limits.max_chain_boxes {
                return Err(self.reject(PeerFault::ChainTooLong {
                    limit: limits.max_chain_boxes,
                }));
            }
        }
        let ctx = self.main.ctx().to_vec();
        let batch = self.batch;
        let chain = self.chain.as_mut().expect("following a chain");
        let want = batch.min(limits.max_chain_boxes - chain.boxes);
        chain.refill(&ctx, want);
        if chain.ahead.is_empty() {
            return Err(self.reject(PeerFault::ChainTooLong {
                limit: limits.max_chain_boxes,
            }));
        }
        Ok(Polled::Progress)
    }
}
