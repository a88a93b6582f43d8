//! AllOrNothingMessage: writes to one or more streams that land together, through one copy
//! command, as a plan that can be persisted and resumed.
//!
//! A plan holds every box's plaintext at its writer's next indices and a fresh temporary
//! WriteCap that names the operation; [`Transport::write_atomically`] lands it (over a box
//! store: through a temporary stream and the copy command). On success every writer advances;
//! on failure none does. Running a persisted plan again after a crash resumes it; it never
//! writes twice.
//!
//! Persistent form (version 1), secret: `0x01 || u32 box_plaintext_len || temporary WriteCap
//! (168) || u32 stream count || per stream: (u8 role, 1 = destination, 0 = substream || u32 len
//! || StatefulWriter state || u32 box count || per box: u32 len || plaintext)`, integers big
//! endian.

use core::fmt;

use bacap::{Geometry, StatefulWriter, WriteCap, WRITE_CAP_LEN};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::codec::{Decoder, Encoder};
use super::error::StreamError;
use super::framing::{self, Framed};
use super::limits::Limits;
use crate::copystream;
use crate::store::MAX_COPY_STREAM_BOXES;
use crate::transport::{CopyOptions, Transport};

const PLAN_VERSION: u8 = 1;
const ROLE_SUBSTREAM: u8 = 0;
const ROLE_DESTINATION: u8 = 1;

/// Consecutive boxes for one stream: a writer (at the index of the first box) and the box
/// plaintexts, already framed.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamWrite {
    /// The writer, at the index the first box goes to. It is not advanced by planning.
    pub writer: StatefulWriter,
    /// One plaintext per box, each at most the geometry's box plaintext length.
    pub plaintexts: Vec<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for StreamWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWrite")
            .field("writer", &self.writer)
            .field("boxes", &self.plaintexts.len())
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
struct PlannedStream {
    write: StreamWrite,
    destination: bool,
}

/// A set of writes that land together, or not at all. Persist [`AllOrNothingPlan::to_bytes`]
/// before the first [`AllOrNothingPlan::execute`], and run the same plan again after a crash.
#[derive(Clone, PartialEq, Eq)]
pub struct AllOrNothingPlan {
    geometry: Geometry,
    temp: WriteCap,
    streams: Vec<PlannedStream>,
}

impl fmt::Debug for AllOrNothingPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllOrNothingPlan")
            .field("geometry", &self.geometry)
            .field("temp", &self.temp)
            .field("streams", &self.streams.len())
            .field("boxes", &self.box_count())
            .finish_non_exhaustive()
    }
}

impl AllOrNothingPlan {
    /// A plan writing `writes` (already framed box plaintexts) with a fresh temporary stream
    /// from `rng`. Every writer is a destination: [`AllOrNothingPlan::execute`] returns them
    /// all, advanced, in this order.
    pub fn new<R: RngCore + CryptoRng>(
        rng: &mut R,
        geometry: Geometry,
        writes: Vec<StreamWrite>,
    ) -> Result<Self, StreamError> {
        let streams = writes
            .into_iter()
            .map(|write| PlannedStream {
                write,
                destination: true,
            })
            .collect();
        Self::build(WriteCap::generate(rng), geometry, streams)
    }

    /// A plan sending one payload to each writer, framed: a payload that fits one box is an
    /// `F` box; a longer one goes to a fresh substream as `C`...`F` boxes and its writer gets an
    /// `I` box with the substream's ReadCap. Substream boxes come first in the copy command.
    /// [`AllOrNothingPlan::execute`] returns the given writers, advanced, in this order.
    ///
    /// Substreams use the context of the stream that points at them.
    pub fn for_messages<R: RngCore + CryptoRng>(
        rng: &mut R,
        geometry: Geometry,
        limits: &Limits,
        messages: Vec<(StatefulWriter, &[u8])>,
    ) -> Result<Self, StreamError> {
        Self::for_messages_after(rng, geometry, limits, Vec::new(), messages)
    }

    /// [`AllOrNothingPlan::for_messages`] with `extra` boxes written first, to streams that
    /// are no destination (already framed, each at most one box): a substream the messages
    /// point to some other way than an `I` box. Only the messages' writers come back.
    pub fn for_messages_after<R: RngCore + CryptoRng>(
        rng: &mut R,
        geometry: Geometry,
        limits: &Limits,
        extra: Vec<StreamWrite>,
        messages: Vec<(StatefulWriter, &[u8])>,
    ) -> Result<Self, StreamError> {
        let mut substreams: Vec<PlannedStream> = extra
            .into_iter()
            .map(|write| PlannedStream {
                write,
                destination: false,
            })
            .collect();
        let mut destinations = Vec::new();
        for (writer, payload) in messages {
            let boxes = match frame_within_limits(payload, geometry, limits)? {
                Framed::Single(b) => vec![b],
                Framed::Chain(chain) => {
                    framing::check_indirection_fits(geometry)?;
                    let sub = StatefulWriter::new(WriteCap::generate(rng), writer.ctx());
                    let pointer = framing::indirection(&sub.cap().read_cap());
                    substreams.push(PlannedStream {
                        write: StreamWrite {
                            writer: sub,
                            plaintexts: chain,
                        },
                        destination: false,
                    });
                    vec![pointer]
                }
            };
            destinations.push(PlannedStream {
                write: StreamWrite {
                    writer,
                    plaintexts: boxes,
                },
                destination: true,
            });
        }
        substreams.extend(destinations);
        Self::build(WriteCap::generate(rng), geometry, substreams)
    }

    fn build(
        temp: WriteCap,
        geometry: Geometry,
        streams: Vec<PlannedStream>,
    ) -> Result<Self, StreamError> {
        if streams.is_empty() || streams.iter().any(|s| s.write.plaintexts.is_empty()) {
            return Err(StreamError::InvalidState(
                "a plan writes at least one box per stream",
            ));
        }
        for (i, s) in streams.iter().enumerate() {
            let w = &s.write.writer;
            if streams[..i]
                .iter()
                .any(|o| o.write.writer.cap() == w.cap() && o.write.writer.ctx() == w.ctx())
            {
                return Err(StreamError::InvalidState("a plan writes each stream once"));
            }
            for p in &s.write.plaintexts {
                if p.len() > geometry.box_plaintext_len {
                    return Err(StreamError::MessageTooLarge {
                        len: p.len(),
                        limit: geometry.box_plaintext_len,
                    });
                }
            }
        }
        let plan = Self {
            geometry,
            temp,
            streams,
        };
        let temp_boxes = plan.temp_box_count()?;
        if temp_boxes > MAX_COPY_STREAM_BOXES {
            return Err(StreamError::MessageTooLarge {
                len: temp_boxes,
                limit: MAX_COPY_STREAM_BOXES,
            });
        }
        Ok(plan)
    }

    /// The geometry the plan was made for.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// How many destination boxes the copy command writes (substream boxes included).
    pub fn box_count(&self) -> usize {
        self.streams.iter().map(|s| s.write.plaintexts.len()).sum()
    }

    /// The destination writers, as they were when the plan was made.
    pub fn destinations(&self) -> impl Iterator<Item = &StatefulWriter> {
        self.streams
            .iter()
            .filter(|s| s.destination)
            .map(|s| &s.write.writer)
    }

    /// The destination writers as they are once the plan succeeded.
    pub fn advanced_destinations(&self) -> Result<Vec<StatefulWriter>, StreamError> {
        let mut out = Vec::new();
        for s in self.streams.iter().filter(|s| s.destination) {
            let mut w = s.write.writer.clone();
            for _ in &s.write.plaintexts {
                w.advance()?;
            }
            out.push(w);
        }
        Ok(out)
    }

    /// The planned writes with their role: `(write, is_destination)`, in copy order.
    pub fn writes(&self) -> impl Iterator<Item = (&StreamWrite, bool)> {
        self.streams.iter().map(|s| (&s.write, s.destination))
    }

    /// How many temporary boxes the copy stream takes, without sealing anything.
    fn temp_box_count(&self) -> Result<usize, StreamError> {
        Ok(copystream::box_count(self.box_count(), self.geometry)?)
    }

    /// Runs the plan, or resumes it: returns the destination writers advanced once every box
    /// landed. On [`StreamError::CopyFailed`] nothing was written and the writers stay where
    /// they were. On [`StreamError::CopyInProgress`] or a store error, run the same plan again
    /// later.
    pub async fn execute<T: Transport + ?Sized>(
        &self,
        transport: &T,
        options: CopyOptions,
    ) -> Result<Vec<StatefulWriter>, StreamError> {
        let writes: Vec<StreamWrite> = self.streams.iter().map(|s| s.write.clone()).collect();
        transport
            .write_atomically(&self.temp, &writes, options)
            .await?;
        self.advanced_destinations()
    }

    /// The persistent form (see the module documentation). Secret: it holds write caps and
    /// plaintexts; the buffer zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut e = Encoder::new(PLAN_VERSION);
        e.u32(self.geometry.box_plaintext_len);
        e.raw(self.temp.to_bytes().as_ref());
        e.u32(self.streams.len());
        for s in &self.streams {
            e.u8(if s.destination {
                ROLE_DESTINATION
            } else {
                ROLE_SUBSTREAM
            });
            e.bytes(&s.write.writer.to_bytes());
            e.u32(s.write.plaintexts.len());
            for p in &s.write.plaintexts {
                e.bytes(p);
            }
        }
        e.finish()
    }

    /// Decodes [`AllOrNothingPlan::to_bytes`], checking it as a new plan is checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StreamError> {
        let mut d = Decoder::new(bytes, PLAN_VERSION)?;
        let geometry = Geometry::new(d.u32()?);
        let temp = WriteCap::from_bytes(d.raw(WRITE_CAP_LEN)?)?;
        let count = d.count(1 + 4 + 4)?;
        let mut streams = Vec::new();
        for _ in 0..count {
            let destination = match d.u8()? {
                ROLE_DESTINATION => true,
                ROLE_SUBSTREAM => false,
                _ => return Err(StreamError::InvalidState("unknown stream role")),
            };
            let writer = StatefulWriter::from_bytes(d.bytes()?)?;
            let boxes = d.count(4)?;
            let mut plaintexts = Vec::new();
            for _ in 0..boxes {
                plaintexts.push(Zeroizing::new(d.bytes()?.to_vec()));
            }
            streams.push(PlannedStream {
                write: StreamWrite { writer, plaintexts },
                destination,
            });
        }
        d.finish()?;
        Self::build(temp, geometry, streams)
    }
}

/// Frames `payload` for `geometry`, refusing what a reader with `limits` would drop.
pub(crate) fn frame_within_limits(
    payload: &[u8],
    geometry: Geometry,
    limits: &Limits,
) -> Result<Framed, StreamError> {
    if payload.len() > limits.max_message_len {
        return Err(StreamError::MessageTooLarge {
            len: payload.len(),
            limit: limits.max_message_len,
        });
    }
    if framing::chain_boxes(payload.len(), geometry)? > limits.max_chain_boxes {
        return Err(StreamError::MessageTooLarge {
            len: payload.len(),
            limit: limits
                .max_chain_boxes
                .saturating_mul(framing::slice_len(geometry)?),
        });
    }
    Ok(framing::frame(payload, geometry)?)
}
