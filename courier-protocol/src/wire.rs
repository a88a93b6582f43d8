//! The courier simulator's wire protocol: CBOR request and reply bodies, in one place for the
//! server (`courier-sim`) and the HTTP client ([`crate::HttpStore`]).
//!
//! Every query is one `POST` of a CBOR [`Request`] to [`QUERY_PATH`]; the answer is one CBOR
//! [`Reply`]. A request carries a random [`QueryId`] chosen once per logical query and kept
//! when the client resends it, so a resent query has exactly the same bytes and the courier
//! answers it from its deduplication cache (keyed by BLAKE2b-256 of the body), while two polls
//! of the same boxes are two different queries.
//!
//! Decoding outside bytes never panics: [`decode_request`] and [`decode_reply`] return a
//! [`WireError`] carrying the reply code a server answers with.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use bacap::{BoxId, SealedBox, Signature, WriteCap};
use pigeonhole::store::{
    CopyFailure, CopyStatus, ReadOutcome, ReplyCode, StoreError, WriteOutcome,
};

/// The path every query is posted to.
pub const QUERY_PATH: &str = "/v1/query";
/// The media type of request and reply bodies.
pub const CONTENT_TYPE: &str = "application/cbor";
/// Length of a query ID.
pub const QUERY_ID_LEN: usize = 16;
/// The most box IDs one batch read may ask for.
pub const MAX_READ_BATCH: usize = 4096;

/// A client-chosen random ID, the same for every resend of one logical query.
pub type QueryId = [u8; QUERY_ID_LEN];

/// A fresh random query ID, for a query sent for the first time (a resend reuses its ID).
pub fn fresh_query_id() -> QueryId {
    let mut id = [0; QUERY_ID_LEN];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    id
}

/// A request body as it travels: raw byte strings, validated by [`decode_request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The query's ID (16 bytes).
    pub query_id: ByteBuf,
    /// What is asked.
    pub op: Op,
}

/// The operations of a request, as they travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Store a box (a tombstone if the payload is empty).
    Write {
        /// 32-byte box ID.
        box_id: ByteBuf,
        /// 64-byte signature over the payload under the box ID.
        signature: ByteBuf,
        /// The payload, at most the configured maximum.
        payload: ByteBuf,
    },
    /// Read many boxes; one result per ID, in order.
    Read {
        /// 32-byte box IDs, at most [`MAX_READ_BATCH`].
        box_ids: Vec<ByteBuf>,
    },
    /// Submit a copy command (or ask again for its status).
    Copy {
        /// The temporary stream's WriteCap (168 bytes).
        write_cap: ByteBuf,
    },
    /// Ask the status of a copy command by its key, BLAKE2b-256 of the WriteCap.
    CopyStatus {
        /// 32-byte copy key.
        key: ByteBuf,
    },
}

/// A validated query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Store this box.
    Write(SealedBox),
    /// Read these boxes.
    Read(Vec<BoxId>),
    /// Run (or ask about) the copy command of this temporary stream.
    Copy(WriteCap),
    /// The status of the copy command with this key.
    CopyStatus([u8; 32]),
}

impl Query {
    /// The name of the operation, for logs and metrics.
    pub fn op_name(&self) -> &'static str {
        match self {
            Query::Write(_) => "write",
            Query::Read(_) => "read",
            Query::Copy(_) => "copy",
            Query::CopyStatus(_) => "copy_status",
        }
    }
}

/// A reply body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The outcome of a write: code 0 stored, 10 already exists (with `identical`), 11 the box
    /// is a tombstone.
    Write {
        /// The reply code.
        code: u8,
        /// For code 10: whether the stored box is identical to the one written.
        identical: Option<bool>,
    },
    /// The outcomes of a batch read, one per requested ID, in order.
    Read {
        /// One result per box.
        results: Vec<ReadResult>,
    },
    /// The status of a copy command after this submission.
    Copy {
        /// Its status.
        status: WireCopyStatus,
    },
    /// The status of a copy command, `None` if it was never submitted.
    CopyStatus {
        /// Its status.
        status: Option<WireCopyStatus>,
    },
    /// The request was refused: malformed, failed verification, or storage failed.
    Error {
        /// The reply code.
        code: u8,
        /// A human-readable reason.
        message: String,
    },
}

/// One box of a batch read: code 0 found (signature and payload), 1 not found, 11 tombstone
/// (signature, empty payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResult {
    /// The reply code.
    pub code: u8,
    /// The box's signature, for codes 0 and 11.
    pub signature: Option<ByteBuf>,
    /// The box's payload, for code 0.
    pub payload: Option<ByteBuf>,
}

/// A copy command's status as it travels: `state` 0 succeeded, 1 in progress, 2 failed (with
/// the replica code and the 1-based position of the failing write, 0 for the temporary stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCopyStatus {
    /// 0 succeeded, 1 in progress, 2 failed.
    pub state: u8,
    /// For a failure: the reply code.
    pub code: Option<u8>,
    /// For a failure: the failing write's 1-based position.
    pub position: Option<u32>,
}

/// Why bytes are not a valid request or reply, with the reply code a server answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct WireError {
    /// The reply code for it.
    pub code: ReplyCode,
    /// What was wrong.
    pub message: String,
}

impl WireError {
    fn new(code: ReplyCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The HTTP status a reply with this code travels with: 200 for success and the expected
/// outcomes, 413 for an oversize payload, 422 for refused content, 400 for a malformed request,
/// 503 for transient storage failures and 500 for internal errors.
pub fn http_status(code: ReplyCode, malformed: bool) -> u16 {
    use ReplyCode::*;
    match code {
        Success | NotFound | AlreadyExists | Tombstone => 200,
        _ if malformed => 400,
        InvalidPayload => 413,
        InvalidBoxId | InvalidSignature | InvalidEpoch => 422,
        DatabaseFailure | StorageFull | ReplicationFailed => 503,
        InternalError => 500,
    }
}

/// Encodes `value`, reserving `size_hint` bytes up front (the encoded size, or near it) so a
/// large body is not copied again and again as it grows.
fn to_cbor<T: Serialize>(value: &T, size_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint.max(64));
    ciborium::into_writer(value, &mut out).expect("writing CBOR into a Vec cannot fail");
    out
}

fn from_cbor<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
    let mut scratch = [0u8; 4096];
    ciborium::de::from_reader_with_buffer(bytes, &mut scratch)
        .map_err(|e| format!("malformed {what}: {}", pigeonhole::cbor::describe_error(&e)))
}

/// Encodes a query under `query_id`.
pub fn encode_request(query_id: &QueryId, query: &Query) -> Vec<u8> {
    let op = match query {
        Query::Write(b) => Op::Write {
            box_id: ByteBuf::from(b.box_id.as_bytes().to_vec()),
            signature: ByteBuf::from(b.signature.as_bytes().to_vec()),
            payload: ByteBuf::from(b.payload.clone()),
        },
        Query::Read(ids) => Op::Read {
            box_ids: ids
                .iter()
                .map(|id| ByteBuf::from(id.as_bytes().to_vec()))
                .collect(),
        },
        Query::Copy(cap) => Op::Copy {
            write_cap: ByteBuf::from(cap.to_bytes().to_vec()),
        },
        Query::CopyStatus(key) => Op::CopyStatus {
            key: ByteBuf::from(key.to_vec()),
        },
    };
    let size_hint = match &op {
        Op::Write { payload, .. } => payload.len() + 192,
        Op::Read { box_ids } => box_ids.len() * 35 + 64,
        Op::Copy { .. } | Op::CopyStatus { .. } => 256,
    };
    to_cbor(
        &Request {
            query_id: ByteBuf::from(query_id.to_vec()),
            op,
        },
        size_hint,
    )
}

fn box_id(bytes: &[u8]) -> Result<BoxId, WireError> {
    BoxId::from_slice(bytes).map_err(|e| WireError::new(ReplyCode::InvalidBoxId, e.to_string()))
}

/// Decodes and validates a request body: lengths of IDs, signatures, caps and keys, and the
/// batch size. Payload size and signatures are the store's to check.
pub fn decode_request(bytes: &[u8]) -> Result<(QueryId, Query), WireError> {
    let request: Request =
        from_cbor(bytes, "request").map_err(|m| WireError::new(ReplyCode::InvalidPayload, m))?;
    let query_id: QueryId = request.query_id.as_slice().try_into().map_err(|_| {
        WireError::new(
            ReplyCode::InvalidPayload,
            format!(
                "query ID: expected {QUERY_ID_LEN} bytes, got {}",
                request.query_id.len()
            ),
        )
    })?;
    let query = match request.op {
        Op::Write {
            box_id: id,
            signature,
            payload,
        } => Query::Write(SealedBox {
            box_id: box_id(&id)?,
            signature: Signature::from_slice(&signature)
                .map_err(|e| WireError::new(ReplyCode::InvalidSignature, e.to_string()))?,
            payload: payload.into_vec(),
        }),
        Op::Read { box_ids } => {
            if box_ids.len() > MAX_READ_BATCH {
                return Err(WireError::new(
                    ReplyCode::InvalidPayload,
                    format!(
                        "batch read of {} boxes exceeds {MAX_READ_BATCH}",
                        box_ids.len()
                    ),
                ));
            }
            Query::Read(
                box_ids
                    .iter()
                    .map(|id| box_id(id))
                    .collect::<Result<_, _>>()?,
            )
        }
        Op::Copy { write_cap } => Query::Copy(
            WriteCap::from_bytes(&write_cap)
                .map_err(|e| WireError::new(ReplyCode::InvalidPayload, e.to_string()))?,
        ),
        Op::CopyStatus { key } => Query::CopyStatus(key.as_slice().try_into().map_err(|_| {
            WireError::new(
                ReplyCode::InvalidPayload,
                format!("copy key: expected 32 bytes, got {}", key.len()),
            )
        })?),
    };
    Ok((query_id, query))
}

/// Encodes a reply.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let size_hint = match reply {
        // Per result: its map header and keys (about 30 bytes) and the two byte strings.
        Reply::Read { results } => {
            results
                .iter()
                .map(|r| {
                    let len = |b: &Option<ByteBuf>| b.as_ref().map_or(0, |b| b.len() + 3);
                    32 + len(&r.signature) + len(&r.payload)
                })
                .sum::<usize>()
                + 32
        }
        _ => 128,
    };
    to_cbor(reply, size_hint)
}

/// The bytes a batch-read reply of `count` results starts with. A reply is these bytes followed
/// by [`encode_read_result`] of each result in order, exactly as [`encode_reply`] writes it, so
/// a client that knows what it expects can compare a reply with these pieces instead of
/// decoding it (the load generator's readers do).
pub fn read_reply_head(count: usize) -> Vec<u8> {
    let mut head = to_cbor(&Reply::Read { results: vec![] }, 32);
    // The empty array's header (one byte) gives way to the header of `count` elements.
    head.pop();
    ciborium_ll::Encoder::from(&mut head)
        .push(ciborium_ll::Header::Array(Some(count)))
        .expect("writing CBOR into a Vec cannot fail");
    head
}

/// Encodes one result of a batch read, as it appears in the reply (see [`read_reply_head`]).
pub fn encode_read_result(result: &ReadResult) -> Vec<u8> {
    let len = |b: &Option<ByteBuf>| b.as_ref().map_or(0, |b| b.len() + 3);
    to_cbor(result, 32 + len(&result.signature) + len(&result.payload))
}

/// Decodes a reply body.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, StoreError> {
    from_cbor(bytes, "reply").map_err(StoreError::Protocol)
}

impl Reply {
    /// The reply to a write.
    pub fn write(outcome: Result<WriteOutcome, ReplyCode>) -> Self {
        match outcome {
            Ok(WriteOutcome::Stored) => Reply::Write {
                code: ReplyCode::Success.as_u8(),
                identical: None,
            },
            Ok(WriteOutcome::AlreadyExists { identical }) => Reply::Write {
                code: ReplyCode::AlreadyExists.as_u8(),
                identical: Some(identical),
            },
            Ok(WriteOutcome::Tombstoned) => Reply::Write {
                code: ReplyCode::Tombstone.as_u8(),
                identical: None,
            },
            Err(code) => Reply::error(code, "write refused"),
        }
    }

    /// A refusal with `code`.
    pub fn error(code: ReplyCode, message: impl Into<String>) -> Self {
        Reply::Error {
            code: code.as_u8(),
            message: message.into(),
        }
    }

    /// The reply code this reply travels under, for the HTTP status and metrics.
    pub fn code(&self) -> ReplyCode {
        let raw = match self {
            Reply::Write { code, .. } | Reply::Error { code, .. } => *code,
            _ => 0,
        };
        ReplyCode::from_u8(raw).unwrap_or(ReplyCode::InternalError)
    }

    /// The outcome of a write this reply answers.
    pub fn into_write_outcome(self) -> Result<WriteOutcome, StoreError> {
        match self {
            Reply::Write { code, identical } => match (ReplyCode::from_u8(code), identical) {
                (Some(ReplyCode::Success), None) => Ok(WriteOutcome::Stored),
                (Some(ReplyCode::AlreadyExists), Some(identical)) => {
                    Ok(WriteOutcome::AlreadyExists { identical })
                }
                (Some(ReplyCode::Tombstone), None) => Ok(WriteOutcome::Tombstoned),
                _ => Err(StoreError::Protocol(format!(
                    "write reply with code {code} and identical {identical:?}"
                ))),
            },
            other => other.unexpected("write"),
        }
    }

    /// The outcomes of a batch read of `ids` this reply answers.
    pub fn into_read_outcomes(self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        let results = match self {
            Reply::Read { results } => results,
            other => return other.unexpected("read"),
        };
        if results.len() != ids.len() {
            return Err(StoreError::Protocol(format!(
                "read of {} boxes answered {} times",
                ids.len(),
                results.len()
            )));
        }
        ids.iter()
            .zip(results)
            .map(|(id, r)| r.into_outcome(*id))
            .collect()
    }

    /// The copy status this reply answers.
    pub fn into_copy_status(self) -> Result<CopyStatus, StoreError> {
        match self {
            Reply::Copy { status } => status.into_status(),
            other => other.unexpected("copy"),
        }
    }

    /// The copy status (if the command is known) this reply answers.
    pub fn into_copy_status_query(self) -> Result<Option<CopyStatus>, StoreError> {
        match self {
            Reply::CopyStatus { status } => status.map(WireCopyStatus::into_status).transpose(),
            other => other.unexpected("copy status"),
        }
    }

    fn unexpected<T>(self, what: &str) -> Result<T, StoreError> {
        match self {
            Reply::Error { code, message } => match ReplyCode::from_u8(code) {
                Some(code) => Err(StoreError::Rejected(code)),
                None => Err(StoreError::Protocol(format!(
                    "unknown reply code {code}: {message}"
                ))),
            },
            _ => Err(StoreError::Protocol(format!(
                "a {what} query got another operation's reply"
            ))),
        }
    }
}

impl ReadResult {
    /// The result for a read that found nothing.
    pub fn not_found() -> Self {
        Self {
            code: ReplyCode::NotFound.as_u8(),
            signature: None,
            payload: None,
        }
    }

    /// The result for a stored box or tombstone with this signature and payload.
    pub fn stored(signature: &[u8], payload: &[u8]) -> Self {
        if payload.is_empty() {
            Self {
                code: ReplyCode::Tombstone.as_u8(),
                signature: Some(ByteBuf::from(signature.to_vec())),
                payload: None,
            }
        } else {
            Self {
                code: ReplyCode::Success.as_u8(),
                signature: Some(ByteBuf::from(signature.to_vec())),
                payload: Some(ByteBuf::from(payload.to_vec())),
            }
        }
    }

    /// The result for a read outcome.
    pub fn from_outcome(outcome: &ReadOutcome) -> Self {
        match outcome {
            ReadOutcome::NotFound => Self::not_found(),
            ReadOutcome::Found(b) | ReadOutcome::Tombstone(b) => {
                Self::stored(b.signature.as_bytes(), &b.payload)
            }
        }
    }

    /// The read outcome for the box `id`.
    pub fn into_outcome(self, box_id: BoxId) -> Result<ReadOutcome, StoreError> {
        let signature = |s: Option<ByteBuf>| {
            let s =
                s.ok_or_else(|| StoreError::Protocol("read result without signature".into()))?;
            Signature::from_slice(&s).map_err(|e| StoreError::Protocol(e.to_string()))
        };
        match ReplyCode::from_u8(self.code) {
            Some(ReplyCode::NotFound) => Ok(ReadOutcome::NotFound),
            Some(ReplyCode::Success) => {
                let payload = self.payload.map(ByteBuf::into_vec).unwrap_or_default();
                if payload.is_empty() {
                    return Err(StoreError::Protocol("found box without payload".into()));
                }
                Ok(ReadOutcome::Found(SealedBox {
                    box_id,
                    signature: signature(self.signature)?,
                    payload,
                }))
            }
            Some(ReplyCode::Tombstone) => Ok(ReadOutcome::Tombstone(SealedBox {
                box_id,
                signature: signature(self.signature)?,
                payload: Vec::new(),
            })),
            _ => Err(StoreError::Protocol(format!(
                "read result with code {}",
                self.code
            ))),
        }
    }
}

impl WireCopyStatus {
    /// The wire form of a status.
    pub fn from_status(status: CopyStatus) -> Self {
        match status {
            CopyStatus::Succeeded => Self {
                state: 0,
                code: None,
                position: None,
            },
            CopyStatus::InProgress => Self {
                state: 1,
                code: None,
                position: None,
            },
            CopyStatus::Failed(f) => Self {
                state: 2,
                code: Some(f.code.as_u8()),
                position: Some(f.position),
            },
        }
    }

    /// The status it stands for.
    pub fn into_status(self) -> Result<CopyStatus, StoreError> {
        match (
            self.state,
            self.code.and_then(ReplyCode::from_u8),
            self.position,
        ) {
            (0, None, None) => Ok(CopyStatus::Succeeded),
            (1, None, None) => Ok(CopyStatus::InProgress),
            (2, Some(code), Some(position)) => {
                Ok(CopyStatus::Failed(CopyFailure { code, position }))
            }
            _ => {
                let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
                Err(StoreError::Protocol(format!(
                    "malformed copy status: state {}, code {}, position {}",
                    self.state,
                    or_none(self.code.map(|c| c.to_string())),
                    or_none(self.position.map(|p| p.to_string())),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn sample_box() -> SealedBox {
        let cap = WriteCap::generate(&mut OsRng);
        cap.seal(cap.first_index(), b"wire-test", b"hello")
    }

    #[test]
    fn fresh_query_ids_are_random() {
        let ids: Vec<QueryId> = (0..4).map(|_| fresh_query_id()).collect();
        assert!(ids.iter().all(|id| *id != [0; QUERY_ID_LEN]));
        assert!(ids.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn every_query_round_trips() {
        let b = sample_box();
        let cap = WriteCap::generate(&mut OsRng);
        let queries = [
            Query::Write(b.clone()),
            Query::Read(vec![b.box_id, BoxId::from_array([7; 32])]),
            Query::Read(vec![]),
            Query::Copy(cap),
            Query::CopyStatus([9; 32]),
        ];
        for q in queries {
            let bytes = encode_request(&[3; QUERY_ID_LEN], &q);
            assert_eq!(decode_request(&bytes).unwrap(), ([3; QUERY_ID_LEN], q));
        }
    }

    #[test]
    fn a_read_reply_is_its_head_and_its_results_in_order() {
        let b = sample_box();
        let kinds = [
            ReadResult::stored(b.signature.as_bytes(), &b.payload),
            ReadResult::not_found(),
            ReadResult::stored(b.signature.as_bytes(), &[]),
        ];
        // Counts on both sides of each length form of a CBOR array header.
        for count in [0, 1, 23, 24, 255, 256, 4096] {
            let results: Vec<ReadResult> = (0..count).map(|i| kinds[i % 3].clone()).collect();
            let mut pieces = read_reply_head(count);
            for r in &results {
                pieces.extend(encode_read_result(r));
            }
            let reply = Reply::Read { results };
            assert_eq!(pieces, encode_reply(&reply), "{count} results");
            assert_eq!(decode_reply(&pieces).unwrap(), reply);
        }
    }

    #[test]
    fn every_reply_round_trips() {
        let b = sample_box();
        let tomb = SealedBox {
            payload: Vec::new(),
            ..b.clone()
        };
        let ids = [b.box_id, b.box_id, b.box_id];
        let outcomes = vec![
            ReadOutcome::Found(b.clone()),
            ReadOutcome::NotFound,
            ReadOutcome::Tombstone(tomb),
        ];
        let reply = Reply::Read {
            results: outcomes.iter().map(ReadResult::from_outcome).collect(),
        };
        let back = decode_reply(&encode_reply(&reply)).unwrap();
        assert_eq!(back.into_read_outcomes(&ids).unwrap(), outcomes);

        for w in [
            WriteOutcome::Stored,
            WriteOutcome::AlreadyExists { identical: true },
            WriteOutcome::AlreadyExists { identical: false },
            WriteOutcome::Tombstoned,
        ] {
            let back = decode_reply(&encode_reply(&Reply::write(Ok(w)))).unwrap();
            assert_eq!(back.into_write_outcome().unwrap(), w);
        }
        let refused = decode_reply(&encode_reply(&Reply::write(Err(
            ReplyCode::InvalidSignature,
        ))))
        .unwrap();
        assert_eq!(
            refused.into_write_outcome(),
            Err(StoreError::Rejected(ReplyCode::InvalidSignature))
        );

        for s in [
            CopyStatus::Succeeded,
            CopyStatus::InProgress,
            CopyStatus::Failed(CopyFailure {
                code: ReplyCode::AlreadyExists,
                position: 3,
            }),
        ] {
            let reply = Reply::Copy {
                status: WireCopyStatus::from_status(s),
            };
            let back = decode_reply(&encode_reply(&reply)).unwrap();
            assert_eq!(back.into_copy_status().unwrap(), s);
        }
    }

    #[test]
    fn large_bodies_are_encoded_into_one_buffer_of_about_their_size() {
        let b = sample_box();
        let results: Vec<ReadResult> = (0..96)
            .map(|i| match i % 3 {
                0 => ReadResult::not_found(),
                1 => ReadResult::stored(b.signature.as_bytes(), &[]),
                _ => ReadResult::stored(b.signature.as_bytes(), &vec![7; 1572]),
            })
            .collect();
        let reply = encode_reply(&Reply::Read { results });
        // A hint below the size would have doubled the buffer at least once.
        assert!(reply.capacity() >= reply.len());
        assert!(
            reply.capacity() * 10 < reply.len() * 11,
            "{}",
            reply.capacity()
        );
        let ids: Vec<BoxId> = (0..96).map(|_| b.box_id).collect();
        let request = encode_request(&[1; QUERY_ID_LEN], &Query::Read(ids));
        assert!(request.capacity() * 10 < request.len() * 11);
        let cap = WriteCap::generate(&mut OsRng);
        let full = cap.seal(cap.first_index(), b"wire-test", &[9; 1556]);
        let request = encode_request(&[1; QUERY_ID_LEN], &Query::Write(full));
        assert!(request.capacity() >= request.len());
        assert!(
            request.capacity() * 10 < request.len() * 11,
            "{} {}",
            request.capacity(),
            request.len()
        );
    }

    #[test]
    fn malformed_requests_get_codes_not_panics() {
        let code = |bytes: &[u8]| decode_request(bytes).unwrap_err().code;
        assert_eq!(code(b""), ReplyCode::InvalidPayload);
        assert_eq!(code(b"\xff\x00garbage"), ReplyCode::InvalidPayload);
        let with_op = |op: Op| {
            to_cbor(
                &Request {
                    query_id: ByteBuf::from(vec![0; QUERY_ID_LEN]),
                    op,
                },
                0,
            )
        };
        let short_id = with_op(Op::Read {
            box_ids: vec![ByteBuf::from(vec![1; 31])],
        });
        assert_eq!(code(&short_id), ReplyCode::InvalidBoxId);
        let short_sig = with_op(Op::Write {
            box_id: ByteBuf::from(vec![1; 32]),
            signature: ByteBuf::from(vec![1; 63]),
            payload: ByteBuf::from(vec![]),
        });
        assert_eq!(code(&short_sig), ReplyCode::InvalidSignature);
        let too_many = with_op(Op::Read {
            box_ids: vec![ByteBuf::from(vec![1; 32]); MAX_READ_BATCH + 1],
        });
        assert_eq!(code(&too_many), ReplyCode::InvalidPayload);
        let bad_cap = with_op(Op::Copy {
            write_cap: ByteBuf::from(vec![0; 10]),
        });
        assert_eq!(code(&bad_cap), ReplyCode::InvalidPayload);
        let bad_query_id = to_cbor(
            &Request {
                query_id: ByteBuf::from(vec![0; 3]),
                op: Op::CopyStatus {
                    key: ByteBuf::from(vec![0; 32]),
                },
            },
            0,
        );
        assert_eq!(code(&bad_query_id), ReplyCode::InvalidPayload);
    }

    #[test]
    fn malformed_bodies_are_described_for_people() {
        let message = |bytes: &[u8]| decode_request(bytes).unwrap_err().message;
        let missing_op = {
            #[derive(Serialize)]
            struct OnlyId {
                query_id: ByteBuf,
            }
            to_cbor(
                &OnlyId {
                    query_id: ByteBuf::from(vec![0; QUERY_ID_LEN]),
                },
                0,
            )
        };
        let unknown_op = {
            #[derive(Serialize)]
            struct Odd {
                query_id: ByteBuf,
                op: String,
            }
            to_cbor(
                &Odd {
                    query_id: ByteBuf::from(vec![0; QUERY_ID_LEN]),
                    op: "delete_everything".into(),
                },
                0,
            )
        };
        let cases: [(&[u8], &str); 5] = [
            (
                b"",
                "malformed request: the bytes end in the middle of a value",
            ),
            (
                b"\xa1",
                "malformed request: the bytes end in the middle of a value",
            ),
            (b"\x1c", "malformed request: not valid CBOR at byte 0"),
            (&missing_op, "malformed request: missing field `op`"),
            (
                &unknown_op,
                "malformed request: unknown variant `delete_everything`",
            ),
        ];
        for (bytes, starts) in cases {
            let m = message(bytes);
            assert!(m.starts_with(starts), "{m}");
            for debug in ["Semantic(", "Syntax(", "Io(", "Some(", "None"] {
                assert!(!m.contains(debug), "{m}");
            }
        }
        let odd_status = WireCopyStatus {
            state: 2,
            code: None,
            position: Some(3),
        };
        assert_eq!(
            odd_status.into_status(),
            Err(StoreError::Protocol(
                "malformed copy status: state 2, code none, position 3".into()
            ))
        );
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        assert!(matches!(
            decode_reply(b"\x00"),
            Err(StoreError::Protocol(_))
        ));
        let short = Reply::Read { results: vec![] };
        assert!(matches!(
            short.into_read_outcomes(&[BoxId::from_array([0; 32])]),
            Err(StoreError::Protocol(_))
        ));
        let wrong_op = Reply::Write {
            code: 0,
            identical: None,
        };
        assert!(matches!(
            wrong_op.into_copy_status(),
            Err(StoreError::Protocol(_))
        ));
    }
}
