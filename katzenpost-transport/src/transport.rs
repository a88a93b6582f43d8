//! [`KatzenpostTransport`]: the [`Transport`] seam over kpclientd v0.0.70's channel API.
//!
//! The daemon seals, signs, verifies and opens the boxes and encrypts every query to the
//! replicas; this transport keeps the indices, sends, resends and interprets the answers:
//!
//! - **Write** at a writer's next index: `resume_write_channel` with the writer's cap and that
//!   index, `write_channel` with the plaintext (the daemon prepares the courier query), then
//!   `send_channel_query` until the courier answers. The courier's acknowledgement means it
//!   forwarded the box to both replicas; Katzenpost's replicas store whatever verifies and
//!   overwrite an existing box, so every write is [`WriteOutcome::Stored`], and writing the
//!   same box again (sealing is deterministic) stores the same bytes.
//! - **Read** of the box a reader expects: `resume_read_channel` and `read_channel` at that
//!   index, then sends of that one prepared query: the first send is only acknowledged; a later
//!   one carries a replica's answer (the plaintext, or "not there" with the replica's reply
//!   index). Acknowledgements alone say nothing: the replicas (each decrypting the query with
//!   CTIDH-1024) may answer the courier only after several sends, and now and then never for
//!   that query. After [`Options::read_sends`] answered sends without a replica's answer the
//!   read is prepared afresh, up to [`Options::read_envelopes`] times, and then fails as
//!   unavailable: a box is "not there" only when a replica says so. A "not there" is cached by
//!   the courier per prepared query, so every read prepares afresh.
//!   A stream reader asks for up to 16 boxes of a chain at once; this transport reads them in
//!   index order, [`Options::concurrency`] at a time, and stops where the chain ends.
//! - **All or nothing**: v0.0.70 has no copy command. [`Transport::write_atomically`] writes
//!   every box itself, substream boxes first and destination boxes last, each destination
//!   stream in index order, so a reader sees a pointer only after the chain it points at
//!   exists; a repeat after a failure writes the same boxes again and completes. Atomicity
//!   across destinations is lost: a reader may see one destination's boxes before another's.
//! - **Tombstones**: v0.0.70 has none; [`Transport::tombstone`] fails with
//!   [`StoreError::Unsupported`].
//!
//! The daemon uses one BACAP context for every box, `pigeonhole context`
//! ([`DAEMON_CONTEXT`]), so the contexts of the writers and readers given to this transport
//! are not used: a box written here is the box [`bacap`] seals under that context for the
//! plaintext padded as [`pigeonhole::padding`] pads it (the daemon pads the same way, to its
//! own geometry), not the box the simulator's path stores for the same stream. Profiles
//! therefore cannot move between the two transports.
//!
//! kpclientd prepares one query at a time (one worker for all its thin clients), about 3 s of
//! CPU each with CTIDH-1024; [`Options::concurrency`] queries are kept in flight so that sends
//! and replies overlap with the preparations.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bacap::{Geometry, MessageBoxIndex, ReadCap, StatefulReader, StatefulWriter, WriteCap};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use pigeonhole::store::{ReplyCode, StoreError, WriteOutcome};
use pigeonhole::stream::{framing, Frame, StreamError, StreamWrite};
use pigeonhole::transport::{BoxContent, CopyOptions, Transport};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, Semaphore};
use zeroize::Zeroizing;

use crate::config::{DaemonAddr, DEFAULT_BOX_PLAINTEXT_LEN};
use crate::connection::{fresh_id, Connection};
use crate::wire::{self, PreparedReply, QueryReply, Request, Response};

/// The BACAP context kpclientd v0.0.70 seals and opens every box under
/// (`client2/constants` `PIGEONHOLE_CTX`).
pub const DAEMON_CONTEXT: &[u8] = b"pigeonhole context";

/// How the transport waits, resends and overlaps its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The box geometry (the daemon does not announce it; see [`crate::config`]).
    pub geometry: Geometry,
    /// How long to wait for the daemon to connect and name a courier.
    pub connect_timeout: Duration,
    /// How long to wait for the daemon to answer a request or send a query; it prepares one
    /// query at a time for all its clients, so this covers a queue of them.
    pub queue_timeout: Duration,
    /// How long to wait for the courier's answer to one send before sending again.
    pub reply_timeout: Duration,
    /// How many sends of one query go unanswered before the network counts as unreachable.
    pub attempts: u32,
    /// How many answered sends of one prepared read, none carrying a replica's answer, before
    /// the read is prepared afresh.
    pub read_sends: u32,
    /// How many prepared reads of one box go without a replica's answer before the read fails
    /// as unavailable.
    pub read_envelopes: u32,
    /// The pause before sending a read again after the courier only acknowledged it.
    pub resend_pause: Duration,
    /// How many boxes are read or written at once.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            geometry: Geometry::new(DEFAULT_BOX_PLAINTEXT_LEN),
            connect_timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(600),
            reply_timeout: Duration::from_secs(30),
            attempts: 5,
            read_sends: 6,
            read_envelopes: 3,
            resend_pause: Duration::from_millis(500),
            concurrency: 4,
        }
    }
}

/// Called once per box written or found.
pub type BoxHook = Arc<dyn Fn() + Send + Sync>;

/// The transport that speaks kpclientd v0.0.70's thin-client protocol (see the module doc).
pub struct KatzenpostTransport {
    addr: DaemonAddr,
    options: Options,
    conn: Mutex<Option<Arc<Connection>>>,
    on_box: Option<BoxHook>,
}

impl core::fmt::Debug for KatzenpostTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KatzenpostTransport")
            .field("addr", &self.addr)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A channel that is closed when dropped.
struct Channel {
    conn: Arc<Connection>,
    id: u16,
}

impl Drop for Channel {
    fn drop(&mut self) {
        let _ = self.conn.send(&Request::CloseChannel {
            channel_id: self.id,
        });
    }
}

/// What a read's answers said.
enum ReadAnswer {
    Found(Zeroizing<Vec<u8>>),
    Invalid,
    NotThere,
    /// Only acknowledgements: no replica answered this prepared read.
    NoAnswer,
}

fn unexpected(what: &str, got: &Response) -> StoreError {
    StoreError::Protocol(format!("kpclientd answered {what} with {got:?}"))
}

fn daemon_error(what: &str, code: u8) -> StoreError {
    let m = format!(
        "kpclientd refused {what}: error {code} ({})",
        wire::error_name(code)
    );
    if wire::is_transient(code) {
        StoreError::Unavailable(m)
    } else {
        StoreError::Protocol(m)
    }
}

impl KatzenpostTransport {
    /// A transport to the daemon at `addr`; it connects on first use and again whenever the
    /// connection is lost.
    pub fn new(addr: DaemonAddr, options: Options) -> Self {
        Self {
            addr,
            options,
            conn: Mutex::new(None),
            on_box: None,
        }
    }

    /// Calls `hook` once per box written or found (for progress bars).
    pub fn with_box_hook(mut self, hook: BoxHook) -> Self {
        self.on_box = Some(hook);
        self
    }

    /// Where the daemon is.
    pub fn addr(&self) -> &DaemonAddr {
        &self.addr
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The live connection, made now if there is none.
    pub async fn connection(&self) -> Result<Arc<Connection>, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let c = Arc::new(Connection::open(&self.addr, self.options.connect_timeout).await?);
        *slot = Some(c.clone());
        Ok(c)
    }

    fn counted(&self) {
        if let Some(hook) = &self.on_box {
            hook();
        }
    }

    /// Writes `plaintext` to the box of `cap` at `index`.
    pub async fn write_box(
        &self,
        cap: &WriteCap,
        index: &MessageBoxIndex,
        plaintext: &[u8],
    ) -> Result<(), StoreError> {
        if plaintext.len() > self.options.geometry.box_plaintext_len {
            return Err(StoreError::Rejected(ReplyCode::InvalidPayload));
        }
        let conn = self.connection().await?;
        let q = fresh_id();
        let reply = conn
            .call(
                q,
                &Request::ResumeWriteChannel {
                    query_id: q,
                    write_cap: cap,
                    index,
                },
                self.options.queue_timeout,
            )
            .await?;
        let channel = match reply {
            Response::WriteChannelResumed(r) if r.error_code == 0 => Channel {
                conn: conn.clone(),
                id: r.channel_id,
            },
            Response::WriteChannelResumed(r) => {
                return Err(daemon_error("a write channel", r.error_code))
            }
            other => return Err(unexpected("resume_write_channel", &other)),
        };
        let q = fresh_id();
        let reply = conn
            .call(
                q,
                &Request::WriteChannel {
                    query_id: q,
                    channel_id: channel.id,
                    payload: plaintext,
                },
                self.options.queue_timeout,
            )
            .await?;
        let prepared = match reply {
            Response::WritePrepared(p) => self.check_prepared(p, index, "a write")?,
            other => return Err(unexpected("write_channel", &other)),
        };
        let mut unanswered = 0;
        loop {
            match self.send_once(&channel, &prepared.payload).await? {
                None => {
                    unanswered += 1;
                    if unanswered >= self.options.attempts {
                        return Err(self.no_answer(unanswered));
                    }
                }
                Some((reply, _)) => {
                    return match (reply.error_code, reply.reply_index) {
                        (0, _) => {
                            self.counted();
                            Ok(())
                        }
                        // With a reply index, the code is the replica's.
                        (code, Some(_)) => Err(ReplyCode::from_u8(code)
                            .map(StoreError::Rejected)
                            .unwrap_or_else(|| daemon_error("the write", code))),
                        (code, None) if wire::is_transient(code) => {
                            unanswered += 1;
                            if unanswered >= self.options.attempts {
                                return Err(daemon_error("the write", code));
                            }
                            continue;
                        }
                        (code, None) => Err(daemon_error("the write", code)),
                    };
                }
            }
        }
    }

    /// Reads the box of `cap` at `index`.
    pub async fn read_box(
        &self,
        cap: &ReadCap,
        index: &MessageBoxIndex,
    ) -> Result<BoxContent, StoreError> {
        for _ in 0..self.options.read_envelopes.max(1) {
            match self.read_prepared(cap, index).await? {
                ReadAnswer::Found(p) => {
                    self.counted();
                    return Ok(BoxContent::Message(p));
                }
                // The daemon reports a box that fails verification, decryption or its padding
                // as one error code.
                ReadAnswer::Invalid => {
                    return Ok(BoxContent::Invalid(bacap::Error::DecryptionFailed.into()))
                }
                ReadAnswer::NotThere => return Ok(BoxContent::NotFound),
                ReadAnswer::NoAnswer => {}
            }
        }
        Err(StoreError::Unavailable(format!(
            "no replica answered a read of box {} through kpclientd at {} ({} prepared reads, \
             {} sends each)",
            index.idx(),
            self.addr,
            self.options.read_envelopes.max(1),
            self.options.read_sends
        )))
    }

    /// Prepares one read of the box of `cap` at `index` and sends it until a replica answers.
    async fn read_prepared(
        &self,
        cap: &ReadCap,
        index: &MessageBoxIndex,
    ) -> Result<ReadAnswer, StoreError> {
        let conn = self.connection().await?;
        let q = fresh_id();
        let reply = conn
            .call(
                q,
                &Request::ResumeReadChannel {
                    query_id: q,
                    read_cap: cap,
                    index,
                },
                self.options.queue_timeout,
            )
            .await?;
        let channel = match reply {
            Response::ReadChannelResumed(r) if r.error_code == 0 => Channel {
                conn: conn.clone(),
                id: r.channel_id,
            },
            Response::ReadChannelResumed(r) => {
                return Err(daemon_error("a read channel", r.error_code))
            }
            other => return Err(unexpected("resume_read_channel", &other)),
        };
        let q = fresh_id();
        let reply = conn
            .call(
                q,
                &Request::ReadChannel {
                    query_id: q,
                    channel_id: channel.id,
                    index,
                    reply_index: 0,
                },
                self.options.queue_timeout,
            )
            .await?;
        let prepared = match reply {
            Response::ReadPrepared(p) => self.check_prepared(p, index, "a read")?,
            other => return Err(unexpected("read_channel", &other)),
        };
        self.read_answer(&channel, &prepared.payload).await
    }

    async fn read_answer(&self, channel: &Channel, query: &[u8]) -> Result<ReadAnswer, StoreError> {
        let (mut answered, mut unanswered) = (0, 0);
        loop {
            let Some((reply, found)) = self.send_once(channel, query).await? else {
                unanswered += 1;
                if unanswered >= self.options.attempts {
                    return Err(self.no_answer(unanswered));
                }
                continue;
            };
            answered += 1;
            match reply.error_code {
                0 if found || !reply.payload.is_empty() => {
                    return Ok(ReadAnswer::Found(reply.payload))
                }
                // A replica answered, and the box is not there.
                0 if reply.reply_index.is_some() => return Ok(ReadAnswer::NotThere),
                // Only the courier's acknowledgement.
                0 => {}
                9 => return Ok(ReadAnswer::Invalid),
                code if wire::is_transient(code) => {}
                code => return Err(daemon_error("the read", code)),
            }
            if answered >= self.options.read_sends {
                return Ok(ReadAnswer::NoAnswer);
            }
            tokio::time::sleep(self.options.resend_pause).await;
        }
    }

    /// Checks a prepared query: no error, and for the box at `index`.
    fn check_prepared(
        &self,
        p: PreparedReply,
        index: &MessageBoxIndex,
        what: &str,
    ) -> Result<PreparedReply, StoreError> {
        if p.error_code != 0 {
            return Err(daemon_error(what, p.error_code));
        }
        let ours = index.to_bytes();
        let same = p
            .current_index
            .as_deref()
            .is_some_and(|theirs| bool::from(theirs.as_slice().ct_eq(&ours[..])));
        if !same || p.payload.is_empty() {
            return Err(StoreError::Protocol(format!(
                "kpclientd prepared {what} for another box than the one asked for"
            )));
        }
        Ok(p)
    }

    /// Sends a prepared query once and waits for the courier's answer: `None` if none came in
    /// time; with the answer, whether a `message_reply_event` said a box was found.
    async fn send_once(
        &self,
        channel: &Channel,
        query: &[u8],
    ) -> Result<Option<(QueryReply, bool)>, StoreError> {
        let courier = channel.conn.courier()?;
        let m = fresh_id();
        let mut sub = channel.conn.subscribe(m);
        channel.conn.send(&Request::SendChannelQuery {
            message_id: m,
            channel_id: channel.id,
            destination: &courier.destination,
            queue_id: &courier.queue_id,
            payload: query,
        })?;
        let mut sent = false;
        let mut found = false;
        loop {
            let wait = if sent {
                self.options.reply_timeout
            } else {
                self.options.queue_timeout
            };
            match sub.next(wait).await? {
                None => return Ok(None),
                Some(Response::QuerySent { error_code: 0, .. }) => sent = true,
                Some(Response::QuerySent { error_code, .. }) => {
                    return Err(daemon_error("sending the query", error_code))
                }
                Some(Response::MessageReply(r)) => found |= r.error_code == 0,
                Some(Response::QueryReply(r)) => return Ok(Some((r, found))),
                Some(other) => return Err(unexpected("send_channel_query", &other)),
            }
        }
    }

    fn no_answer(&self, sends: u32) -> StoreError {
        StoreError::Unavailable(format!(
            "no answer from the courier through kpclientd at {} after {sends} sends",
            self.addr
        ))
    }

    /// Reads a run of boxes (see [`runs`]) in windows of [`Options::concurrency`], in index
    /// order, and stops after the window where the chain ends (its `F` box, or a box that is
    /// not there): a stream reader asks for more boxes of a chain than it may have, and every
    /// read costs the daemon seconds. `None` for the boxes not read.
    async fn read_run(
        &self,
        run: &[StatefulReader],
        gate: &Semaphore,
    ) -> Vec<Option<Result<BoxContent, StoreError>>> {
        let mut out = Vec::with_capacity(run.len());
        for window in run.chunks(self.options.concurrency.max(1)) {
            let mut reads: Vec<BoxFuture<'_, Result<BoxContent, StoreError>>> = Vec::new();
            for r in window {
                reads.push(Box::pin(async move {
                    let _turn = gate.acquire().await;
                    self.read_box(r.cap(), r.next_index()).await
                }));
            }
            let got = futures_util::future::join_all(reads).await;
            let goes_on = got.iter().all(run_goes_on);
            out.extend(got.into_iter().map(Some));
            if !goes_on {
                break;
            }
        }
        out.resize_with(run.len(), || None);
        out
    }

    async fn write_owned_index(
        &self,
        cap: &WriteCap,
        index: MessageBoxIndex,
        plaintext: &[u8],
    ) -> Result<(), StoreError> {
        self.write_box(cap, &index, plaintext).await
    }

    /// Runs `jobs`, [`Options::concurrency`] at a time, until one fails.
    async fn all(
        &self,
        jobs: Vec<BoxFuture<'_, Result<(), StoreError>>>,
    ) -> Result<(), StoreError> {
        futures_util::stream::iter(jobs)
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Writes the consecutive boxes of one stream, in index order.
    async fn write_stream(&self, w: &StreamWrite) -> Result<(), StoreError> {
        let mut index = w.writer.next_index().clone();
        for (i, p) in w.plaintexts.iter().enumerate() {
            if i > 0 {
                index = index
                    .next()
                    .map_err(|e| StoreError::Protocol(e.to_string()))?;
            }
            self.write_box(w.writer.cap(), &index, p).await?;
        }
        Ok(())
    }
}

/// The runs of `at`: consecutive readers of one cap at consecutive indices (the boxes of a
/// chain a stream reader reads ahead), each run as a range of positions.
fn runs(at: &[StatefulReader]) -> Vec<core::ops::Range<usize>> {
    let mut out: Vec<core::ops::Range<usize>> = Vec::new();
    for (i, r) in at.iter().enumerate() {
        let extends = i > 0 && {
            let prev = &at[i - 1];
            out.last().is_some_and(|run| run.end == i)
                && prev.cap() == r.cap()
                && prev.next_index().idx().checked_add(1) == Some(r.next_index().idx())
        };
        match out.last_mut() {
            Some(run) if extends => run.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

/// Whether a run goes on after this answer: only past a chain's continuation box.
fn run_goes_on(answer: &Result<BoxContent, StoreError>) -> bool {
    matches!(answer, Ok(BoxContent::Message(p)) if matches!(framing::parse(p), Ok(Frame::Continuation(_))))
}

/// Whether a stream of the plan is a substream: another stream's box points at it.
fn is_substream(w: &StreamWrite, writes: &[StreamWrite]) -> bool {
    let cap = w.writer.cap().read_cap();
    writes.iter().any(|other| {
        other
            .plaintexts
            .iter()
            .any(|p| matches!(framing::parse(p), Ok(Frame::Indirection(c)) if *c == cap))
    })
}

#[async_trait]
impl Transport for KatzenpostTransport {
    fn geometry(&self) -> Geometry {
        self.options.geometry
    }

    async fn write(
        &self,
        at: &StatefulWriter,
        plaintext: &[u8],
    ) -> Result<WriteOutcome, StoreError> {
        self.write_box(at.cap(), at.next_index(), plaintext).await?;
        Ok(WriteOutcome::Stored)
    }

    async fn tombstone(&self, _at: &StatefulWriter) -> Result<WriteOutcome, StoreError> {
        Err(StoreError::Unsupported(
            "kpclientd v0.0.70 has no tombstone request: boxes cannot be deleted over Katzenpost"
                .into(),
        ))
    }

    async fn read_many(&self, at: &[StatefulReader]) -> Result<Vec<BoxContent>, StoreError> {
        let gate = Semaphore::new(self.options.concurrency.max(1));
        let mut jobs: Vec<BoxFuture<'_, Vec<Option<Result<BoxContent, StoreError>>>>> = Vec::new();
        for run in runs(at) {
            jobs.push(Box::pin(self.read_run(&at[run], &gate)));
        }
        let results: Vec<_> = futures_util::future::join_all(jobs)
            .await
            .into_iter()
            .flatten()
            .collect();
        // A read the network did not answer is "not there yet" as long as others were
        // answered: the reader stays and the next poll asks again.
        let answered = results.iter().any(|r| matches!(r, Some(Ok(_))));
        if !answered {
            if let Some(Some(Err(e))) = results.iter().find(|r| matches!(r, Some(Err(_)))) {
                return Err(e.clone());
            }
        }
        Ok(results
            .into_iter()
            .map(|r| match r {
                Some(Ok(content)) => content,
                Some(Err(_)) | None => BoxContent::NotFound,
            })
            .collect())
    }

    async fn write_atomically(
        &self,
        _temp: &WriteCap,
        writes: &[StreamWrite],
        _options: CopyOptions,
    ) -> Result<(), StreamError> {
        let (subs, dests): (Vec<&StreamWrite>, Vec<&StreamWrite>) =
            writes.iter().partition(|w| is_substream(w, writes));
        // Substream boxes in any order: nothing points at them yet.
        let mut boxes: Vec<BoxFuture<'_, Result<(), StoreError>>> = Vec::new();
        for w in subs {
            let mut index = w.writer.next_index().clone();
            for (i, p) in w.plaintexts.iter().enumerate() {
                if i > 0 {
                    index = index.next()?;
                }
                boxes.push(Box::pin(self.write_owned_index(
                    w.writer.cap(),
                    index.clone(),
                    p,
                )));
            }
        }
        self.all(boxes).await?;
        // Then every destination stream, each in index order.
        let mut streams: Vec<BoxFuture<'_, Result<(), StoreError>>> = Vec::new();
        for w in dests {
            streams.push(Box::pin(self.write_stream(w)));
        }
        self.all(streams).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_consecutive_boxes_of_one_stream() {
        use rand_core::OsRng;
        let a = WriteCap::generate(&mut OsRng).read_cap();
        let b = WriteCap::generate(&mut OsRng).read_cap();
        let at = |cap: &ReadCap, n: u64| {
            let index = cap
                .first_index()
                .advance_to(cap.first_index().idx() + n)
                .unwrap();
            StatefulReader::at_index(cap.clone(), index, b"ctx")
        };
        let readers = [
            at(&a, 0),
            at(&b, 5),
            at(&b, 6),
            at(&b, 7),
            at(&b, 9),
            at(&a, 1),
        ];
        assert_eq!(runs(&readers), [0..1, 1..4, 4..5, 5..6]);
        assert!(runs(&[]).is_empty());
        assert!(run_goes_on(&Ok(BoxContent::Message(
            b"Cslice".to_vec().into()
        ))));
        assert!(!run_goes_on(&Ok(BoxContent::Message(
            b"Flast".to_vec().into()
        ))));
        assert!(!run_goes_on(&Ok(BoxContent::NotFound)));
        assert!(!run_goes_on(&Err(StoreError::Unavailable("x".into()))));
    }

    #[test]
    fn substreams_are_the_streams_a_pointer_names() {
        use rand_core::OsRng;
        let dest = StatefulWriter::new(WriteCap::generate(&mut OsRng), b"ctx");
        let sub = StatefulWriter::new(WriteCap::generate(&mut OsRng), b"ctx");
        let other = StatefulWriter::new(WriteCap::generate(&mut OsRng), b"ctx");
        let pointer = framing::indirection(&sub.cap().read_cap());
        let writes = vec![
            StreamWrite {
                writer: sub,
                plaintexts: vec![
                    Zeroizing::new(b"Cabc".to_vec()),
                    Zeroizing::new(b"Fd".to_vec()),
                ],
            },
            StreamWrite {
                writer: dest,
                plaintexts: vec![pointer],
            },
            StreamWrite {
                writer: other,
                plaintexts: vec![Zeroizing::new(b"Fx".to_vec())],
            },
        ];
        let roles: Vec<bool> = writes.iter().map(|w| is_substream(w, &writes)).collect();
        assert_eq!(roles, [true, false, false]);
    }
}
