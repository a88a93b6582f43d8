//! kpclientd v0.0.70's thin-client messages: frames, the requests this transport sends and
//! the responses and events the daemon sends (docs/katzenpost.md, "Thin-client protocol").
//!
//! A frame is a 4-byte big-endian length and that many bytes of CBOR: one map. A request is a
//! map with one entry, keyed by the request's name; a response is a map whose one non-null
//! entry names it. Byte arrays are byte strings, integers unsigned.
//!
//! Request frames carry capabilities, indices and plaintexts, so they are built in wiped
//! buffers; a response's payload is copied out of the (wiped) frame into a wiped buffer.

use bacap::{MessageBoxIndex, ReadCap, WriteCap, MESSAGE_BOX_INDEX_LEN};
use zeroize::Zeroizing;

use crate::cbor::{self, CborError, Item, Writer};

/// Length of a query ID (requests about channels) and of a message ID (sent queries).
pub const ID_LEN: usize = 16;
/// The largest frame this client accepts from the daemon (a PKI document is about 10 KB).
pub const MAX_FRAME: usize = 1 << 22;

/// A query or message ID: random, chosen by the thin client, echoed by the daemon.
pub type Id = [u8; ID_LEN];

/// Why a frame from the daemon is not a response this client understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame is not CBOR.
    #[error("frame is not CBOR: {0}")]
    Cbor(#[from] CborError),
    /// The frame's length prefix exceeds [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// The frame is not a map with a non-null entry.
    #[error("frame is not a response map with one non-null entry")]
    NotAResponse,
    /// A field is missing or of the wrong type or size.
    #[error("{response}: field {field} is missing or malformed")]
    Field {
        /// The response.
        response: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// The 4-byte length prefix of a frame whose CBOR is `len` bytes long, checked against
/// [`MAX_FRAME`].
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    Ok(len)
}

/// A request to the daemon.
pub enum Request<'a> {
    /// A write channel for `write_cap`, positioned at `index`.
    ResumeWriteChannel {
        /// Echoed in the reply.
        query_id: Id,
        /// The capability to write with.
        write_cap: &'a WriteCap,
        /// Where the channel's next write goes.
        index: &'a MessageBoxIndex,
    },
    /// A read channel for `read_cap`, positioned at `index`.
    ResumeReadChannel {
        /// Echoed in the reply.
        query_id: Id,
        /// The capability to read with.
        read_cap: &'a ReadCap,
        /// The channel's next index.
        index: &'a MessageBoxIndex,
    },
    /// Encrypt a write of `payload` at the channel's current index.
    WriteChannel {
        /// Echoed in the reply.
        query_id: Id,
        /// A write channel.
        channel_id: u16,
        /// At most the geometry's plaintext length.
        payload: &'a [u8],
    },
    /// Encrypt a read of the box at `index`.
    ReadChannel {
        /// Echoed in the reply.
        query_id: Id,
        /// A read channel.
        channel_id: u16,
        /// The box to read.
        index: &'a MessageBoxIndex,
        /// Which replica's answer the courier returns first (0 or 1).
        reply_index: u8,
    },
    /// Send a prepared query to the courier, once.
    SendChannelQuery {
        /// Echoed in the events about this send.
        message_id: Id,
        /// The channel the query was prepared on.
        channel_id: u16,
        /// BLAKE2b-256 of the courier's service node identity key.
        destination: &'a [u8; 32],
        /// The courier's queue (`courier`).
        queue_id: &'a [u8],
        /// The prepared query (`send_message_payload`).
        payload: &'a [u8],
    },
    /// Forget a channel (no reply).
    CloseChannel {
        /// The channel.
        channel_id: u16,
    },
    /// Say goodbye; the daemon drops this connection's channels.
    ThinClose,
}

impl Request<'_> {
    /// The whole frame: length prefix and CBOR, in a wiped buffer.
    pub fn to_frame(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.map(1);
        match self {
            Request::ResumeWriteChannel {
                query_id,
                write_cap,
                index,
            } => {
                w.text("resume_write_channel").map(3);
                w.text("query_id").bytes(query_id);
                w.text("write_cap").bytes(&write_cap.to_bytes()[..]);
                w.text("message_box_index").bytes(&index.to_bytes()[..]);
            }
            Request::ResumeReadChannel {
                query_id,
                read_cap,
                index,
            } => {
                w.text("resume_read_channel").map(4);
                w.text("query_id").bytes(query_id);
                w.text("read_cap").bytes(&read_cap.to_bytes()[..]);
                w.text("next_message_index").bytes(&index.to_bytes()[..]);
                w.text("reply_index").null();
            }
            Request::WriteChannel {
                query_id,
                channel_id,
                payload,
            } => {
                w.text("write_channel").map(3);
                w.text("channel_id").uint((*channel_id).into());
                w.text("query_id").bytes(query_id);
                w.text("payload").bytes(payload);
            }
            Request::ReadChannel {
                query_id,
                channel_id,
                index,
                reply_index,
            } => {
                w.text("read_channel").map(4);
                w.text("channel_id").uint((*channel_id).into());
                w.text("query_id").bytes(query_id);
                w.text("message_box_index").bytes(&index.to_bytes()[..]);
                w.text("reply_index").uint((*reply_index).into());
            }
            Request::SendChannelQuery {
                message_id,
                channel_id,
                destination,
                queue_id,
                payload,
            } => {
                w.text("send_channel_query").map(5);
                w.text("message_id").bytes(message_id);
                w.text("channel_id").uint((*channel_id).into());
                w.text("destination_id_hash").bytes(&destination[..]);
                w.text("recipient_queue_id").bytes(queue_id);
                w.text("payload").bytes(payload);
            }
            Request::CloseChannel { channel_id } => {
                w.text("close_channel").map(1);
                w.text("channel_id").uint((*channel_id).into());
            }
            Request::ThinClose => {
                w.text("thin_close").map(0);
            }
        }
        let body = w.into_bytes();
        let mut frame = Zeroizing::new(Vec::with_capacity(4 + body.len()));
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        frame
    }
}

/// The reply to a request that opens a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReply {
    /// The request's query ID.
    pub query_id: Id,
    /// The channel the daemon chose.
    pub channel_id: u16,
    /// 0 on success.
    pub error_code: u8,
}

/// The reply to `write_channel` or `read_channel`: a query ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedReply {
    /// The request's query ID.
    pub query_id: Id,
    /// 0 on success.
    pub error_code: u8,
    /// The courier query to send (empty on error).
    pub payload: Vec<u8>,
    /// The index of the box the query writes or reads, in the 104-byte form.
    pub current_index: Option<Zeroizing<Vec<u8>>>,
}

impl core::fmt::Debug for PreparedReply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreparedReply")
            .field("query_id", &self.query_id)
            .field("error_code", &self.error_code)
            .field("payload", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// What came back for one send of a query.
#[derive(Clone, PartialEq, Eq)]
pub struct QueryReply {
    /// The send's message ID.
    pub message_id: Id,
    /// A read's plaintext; empty for an acknowledgement, a write's answer or "not found".
    pub payload: Zeroizing<Vec<u8>>,
    /// Which replica answered; absent when only the courier did (an acknowledgement).
    pub reply_index: Option<u8>,
    /// 0 on success.
    pub error_code: u8,
}

impl core::fmt::Debug for QueryReply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QueryReply")
            .field("message_id", &self.message_id)
            .field("payload", &self.payload.len())
            .field("reply_index", &self.reply_index)
            .field("error_code", &self.error_code)
            .finish()
    }
}

/// A response or event from the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Whether the daemon is connected to the mixnet.
    ConnectionStatus {
        /// Connected.
        connected: bool,
    },
    /// A new PKI document (CBOR, signatures removed).
    PkiDocument(Vec<u8>),
    /// `resume_write_channel_reply`.
    WriteChannelResumed(ChannelReply),
    /// `resume_read_channel_reply`.
    ReadChannelResumed(ChannelReply),
    /// `write_channel_reply`.
    WritePrepared(PreparedReply),
    /// `read_channel_reply`.
    ReadPrepared(PreparedReply),
    /// `channel_query_sent_event`: the daemon sent a query into the mixnet.
    QuerySent {
        /// The send's message ID.
        message_id: Id,
        /// The daemon's estimate of the round trip, in nanoseconds.
        reply_eta_ns: u64,
        /// 0 on success.
        error_code: u8,
    },
    /// `channel_query_reply_event`: the courier's answer to one send.
    QueryReply(QueryReply),
    /// `message_reply_event`: for a read that found its box, sent before the
    /// `channel_query_reply_event` with the same content.
    MessageReply(QueryReply),
    /// A response this client does not use, by name.
    Other(String),
}

impl Response {
    /// The query or message ID a response answers, if any.
    pub fn id(&self) -> Option<&Id> {
        match self {
            Response::WriteChannelResumed(r) | Response::ReadChannelResumed(r) => Some(&r.query_id),
            Response::WritePrepared(r) | Response::ReadPrepared(r) => Some(&r.query_id),
            Response::QuerySent { message_id, .. } => Some(message_id),
            Response::QueryReply(r) | Response::MessageReply(r) => Some(&r.message_id),
            _ => None,
        }
    }
}

/// Parses one frame's CBOR (without its length prefix).
pub fn decode_response(body: &[u8]) -> Result<Response, WireError> {
    let top = cbor::decode(body)?;
    let Item::Map(entries) = &top else {
        return Err(WireError::NotAResponse);
    };
    let (name, v) = entries
        .iter()
        .find_map(|(k, v)| match (k, v) {
            (_, Item::Null) => None,
            (Item::Text(name), v) => Some((*name, v)),
            _ => None,
        })
        .ok_or(WireError::NotAResponse)?;
    let f = Fields { response: name, v };
    Ok(match name {
        "connection_status_event" => Response::ConnectionStatus {
            connected: matches!(f.v.get("is_connected"), Some(Item::Bool(true))),
        },
        "new_pki_document_event" => Response::PkiDocument(f.bytes("payload")?.to_vec()),
        "resume_write_channel_reply" => Response::WriteChannelResumed(f.channel_reply()?),
        "resume_read_channel_reply" => Response::ReadChannelResumed(f.channel_reply()?),
        "write_channel_reply" => Response::WritePrepared(f.prepared()?),
        "read_channel_reply" => Response::ReadPrepared(f.prepared()?),
        "channel_query_sent_event" => Response::QuerySent {
            message_id: f.id("message_id")?,
            reply_eta_ns: f.v.get("reply_eta").and_then(Item::as_u64).unwrap_or(0),
            error_code: f.code()?,
        },
        "channel_query_reply_event" => Response::QueryReply(f.query_reply()?),
        "message_reply_event" => Response::MessageReply(f.query_reply()?),
        other => Response::Other(other.to_owned()),
    })
}

/// The fields of one response, with errors naming it.
struct Fields<'a, 'b> {
    response: &'a str,
    v: &'b Item<'a>,
}

impl<'a> Fields<'a, '_> {
    fn err(&self, field: &'static str) -> WireError {
        WireError::Field {
            response: static_name(self.response),
            field,
        }
    }

    fn bytes(&self, field: &'static str) -> Result<&'a [u8], WireError> {
        match self.v.get(field) {
            Some(Item::Bytes(b)) => Ok(b),
            // Go encodes a nil byte slice as null.
            Some(Item::Null) | None => Ok(&[]),
            _ => Err(self.err(field)),
        }
    }

    fn id(&self, field: &'static str) -> Result<Id, WireError> {
        self.v
            .get(field)
            .and_then(Item::as_bytes)
            .and_then(|b| Id::try_from(b).ok())
            .ok_or_else(|| self.err(field))
    }

    fn code(&self) -> Result<u8, WireError> {
        self.small("error_code")?
            .ok_or_else(|| self.err("error_code"))
    }

    /// An optional small unsigned integer.
    fn small<T: TryFrom<u64>>(&self, field: &'static str) -> Result<Option<T>, WireError> {
        match self.v.get(field) {
            None | Some(Item::Null) => Ok(None),
            Some(Item::Uint(n)) => T::try_from(*n).map(Some).map_err(|_| self.err(field)),
            Some(_) => Err(self.err(field)),
        }
    }

    fn channel_reply(&self) -> Result<ChannelReply, WireError> {
        Ok(ChannelReply {
            query_id: self.id("query_id")?,
            channel_id: self.small("channel_id")?.unwrap_or(0),
            error_code: self.code()?,
        })
    }

    fn prepared(&self) -> Result<PreparedReply, WireError> {
        let current = self.bytes("current_message_index")?;
        let current_index = match current.len() {
            0 => None,
            MESSAGE_BOX_INDEX_LEN => Some(Zeroizing::new(current.to_vec())),
            _ => return Err(self.err("current_message_index")),
        };
        Ok(PreparedReply {
            query_id: self.id("query_id")?,
            error_code: self.code()?,
            payload: self.bytes("send_message_payload")?.to_vec(),
            current_index,
        })
    }

    fn query_reply(&self) -> Result<QueryReply, WireError> {
        Ok(QueryReply {
            message_id: self.id("message_id")?,
            payload: Zeroizing::new(self.bytes("payload")?.to_vec()),
            reply_index: self.small("reply_index")?,
            error_code: self.code()?,
        })
    }
}

/// The names of the responses this client decodes fields of, as static strings for errors.
fn static_name(name: &str) -> &'static str {
    const NAMES: [&str; 8] = [
        "new_pki_document_event",
        "resume_write_channel_reply",
        "resume_read_channel_reply",
        "write_channel_reply",
        "read_channel_reply",
        "channel_query_sent_event",
        "channel_query_reply_event",
        "message_reply_event",
    ];
    NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("response")
}

/// What a thin-client `error_code` means (`client2/thin/thin_messages.go` at v0.0.70).
pub fn error_name(code: u8) -> &'static str {
    match code {
        0 => "success",
        1 => "connection lost",
        2 => "timeout",
        3 => "invalid request",
        4 => "internal error",
        5 => "max retries",
        6 => "invalid channel",
        7 => "channel not found",
        8 => "permission denied",
        9 => "invalid payload",
        10 => "service unavailable",
        11 => "duplicate capability",
        12 => "courier cache corruption",
        13 => "propagation error",
        14 => "invalid write capability",
        15 => "invalid read capability",
        16 => "invalid resume write channel request",
        17 => "invalid resume read channel request",
        18 => "impossible hash",
        19 => "cannot make a write capability",
        20 => "cannot make a stateful writer",
        21 => "capability already in use",
        _ => "unknown error",
    }
}

/// Whether an `error_code` is about the network, so that the same query may succeed later.
pub fn is_transient(code: u8) -> bool {
    matches!(code, 1 | 2 | 5 | 10 | 13)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap() -> WriteCap {
        WriteCap::generate(&mut rand_core::OsRng)
    }

    /// The body of a frame, checked against its prefix.
    fn body(frame: &[u8]) -> &[u8] {
        let len = frame_len(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn requests_are_one_entry_maps_with_the_documented_fields() {
        let cap = cap();
        let index = cap.first_index().next().unwrap();
        let frame = Request::ResumeWriteChannel {
            query_id: [1; 16],
            write_cap: &cap,
            index: &index,
        }
        .to_frame();
        let top = cbor::decode(body(&frame)).unwrap();
        let Item::Map(entries) = &top else { panic!() };
        assert_eq!(entries.len(), 1);
        let r = top.get("resume_write_channel").unwrap();
        assert_eq!(
            r.get("query_id").and_then(Item::as_bytes),
            Some(&[1; 16][..])
        );
        let wc = r.get("write_cap").and_then(Item::as_bytes).unwrap();
        assert_eq!(wc.len(), 168);
        assert_eq!(WriteCap::from_bytes(wc).unwrap(), cap);
        let ix = r.get("message_box_index").and_then(Item::as_bytes).unwrap();
        assert_eq!(MessageBoxIndex::from_bytes(ix).unwrap(), index);
        assert_eq!(
            ix[..8],
            index.idx().to_le_bytes(),
            "the counter first, little-endian"
        );

        let frame = Request::SendChannelQuery {
            message_id: [2; 16],
            channel_id: 513,
            destination: &[3; 32],
            queue_id: b"courier",
            payload: &[4; 2000],
        }
        .to_frame();
        let top = cbor::decode(body(&frame)).unwrap();
        let r = top.get("send_channel_query").unwrap();
        assert_eq!(r.get("channel_id").and_then(Item::as_u64), Some(513));
        assert_eq!(
            r.get("recipient_queue_id").and_then(Item::as_bytes),
            Some(&b"courier"[..])
        );
        assert_eq!(
            r.get("payload").and_then(Item::as_bytes).unwrap().len(),
            2000
        );

        let frame = Request::ThinClose.to_frame();
        assert_eq!(body(&frame), b"\xa1\x6athin_close\xa0");
    }

    /// A response as the daemon sends it: every key, null but one (as Go's encoder writes a
    /// struct of pointers).
    fn response(name: &str, fields: impl FnOnce(&mut Writer)) -> Vec<u8> {
        const ALL: [&str; 4] = [
            "shudown_event",
            "connection_status_event",
            "new_pki_document_event",
            "message_sent_event",
        ];
        let mut w = Writer::new();
        w.map(ALL.len() + 1);
        for k in ALL {
            w.text(k).null();
        }
        w.text(name);
        fields(&mut w);
        w.into_bytes().to_vec()
    }

    #[test]
    fn decodes_replies_and_events() {
        let r = response("channel_query_reply_event", |w| {
            w.map(4);
            w.text("message_id").bytes(&[9; 16]);
            w.text("payload").bytes(b"F hello");
            w.text("reply_index").uint(1);
            w.text("error_code").uint(0);
        });
        let Response::QueryReply(q) = decode_response(&r).unwrap() else {
            panic!()
        };
        assert_eq!(q.message_id, [9; 16]);
        assert_eq!(&q.payload[..], b"F hello");
        assert_eq!(q.reply_index, Some(1));

        // An acknowledgement: empty payload, no reply index.
        let r = response("channel_query_reply_event", |w| {
            w.map(3);
            w.text("message_id").bytes(&[9; 16]);
            w.text("payload").bytes(&[]);
            w.text("error_code").uint(0);
        });
        let Response::QueryReply(q) = decode_response(&r).unwrap() else {
            panic!()
        };
        assert!(q.payload.is_empty());
        assert_eq!(q.reply_index, None);

        let r = response("write_channel_reply", |w| {
            w.map(5);
            w.text("query_id").bytes(&[5; 16]);
            w.text("channel_id").uint(7);
            w.text("send_message_payload").bytes(&[0xaa; 2000]);
            w.text("current_message_index").bytes(&[0; 104]);
            w.text("error_code").uint(0);
        });
        let Response::WritePrepared(p) = decode_response(&r).unwrap() else {
            panic!()
        };
        assert_eq!(p.payload.len(), 2000);
        assert_eq!(p.current_index.as_deref().map(Vec::len), Some(104));

        let r = response("connection_status_event", |w| {
            w.map(2);
            w.text("is_connected").uint(0).text("err").null();
        });
        assert_eq!(
            decode_response(&r).unwrap(),
            Response::ConnectionStatus { connected: false }
        );
        let r = response("new_document_event", |w| {
            w.map(0);
        });
        assert_eq!(
            decode_response(&r).unwrap(),
            Response::Other("new_document_event".into())
        );
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert_eq!(
            decode_response(&[0xa0]),
            Err(WireError::NotAResponse),
            "an empty map"
        );
        assert_eq!(decode_response(&[0x01]), Err(WireError::NotAResponse));
        let r = response("channel_query_sent_event", |w| {
            w.map(2);
            w.text("message_id").bytes(&[1; 15]);
            w.text("error_code").uint(0);
        });
        assert_eq!(
            decode_response(&r),
            Err(WireError::Field {
                response: "channel_query_sent_event",
                field: "message_id"
            })
        );
        let r = response("read_channel_reply", |w| {
            w.map(3);
            w.text("query_id").bytes(&[1; 16]);
            w.text("error_code").uint(300);
            w.text("current_message_index").bytes(&[0; 104]);
        });
        assert_eq!(
            decode_response(&r),
            Err(WireError::Field {
                response: "read_channel_reply",
                field: "error_code"
            })
        );
        assert_eq!(
            frame_len([0xff; 4]),
            Err(WireError::TooLarge(u32::MAX as usize))
        );
    }
}
