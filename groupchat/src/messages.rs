//! The group chat messages in katzenqt's deployed CBOR encoding.
//!
//! Maps with text keys in a fixed order, absent optional fields omitted, shortest-form integers
//! and definite lengths (Python cbor2's defaults). Decoding checks every field and returns a
//! [`DecodeError`]; an unknown message type or version is its own error, so a reader reports it
//! and carries on.

use core::fmt;

use bacap::{ReadCap, READ_CAP_LEN};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::display_name::{DisplayName, DisplayNameError};
use crate::membership::{MembershipHash, MEMBERSHIP_HASH_LEN};

/// The 136-byte encoding of a member's ReadCap as messages carry it, checked for length only
/// (see [`PleaseAdd::read_cap`] for the parsed cap). Secret to the group; zeroized on drop.
#[derive(Clone, PartialEq, Eq, Hash, Zeroize, ZeroizeOnDrop)]
pub struct MemberReadCap([u8; READ_CAP_LEN]);

impl MemberReadCap {
    /// Checks the length of a ReadCap encoding.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        let arr: [u8; READ_CAP_LEN] = bytes.try_into().map_err(|_| DecodeError::BadLength {
            field: "read_cap",
            expected: READ_CAP_LEN,
            got: bytes.len(),
        })?;
        Ok(Self(arr))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; READ_CAP_LEN] {
        &self.0
    }
}

impl fmt::Debug for MemberReadCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemberReadCap(…)")
    }
}

/// Why bytes are not a message we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not CBOR, or CBOR of another shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A field has the wrong length.
    #[error("{field}: expected {expected} bytes, got {got}")]
    BadLength {
        /// Which field.
        field: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it had.
        got: usize,
    },
    /// A display name that breaks the rules.
    #[error("invalid display name: {0}")]
    DisplayName(#[from] DisplayNameError),
    /// A message type this client does not know (katzenqt's tallies, or a later type).
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// A message this client recognises but does not use.
    #[error("unsupported message: {0}")]
    Unsupported(&'static str),
    /// A message format version this client does not know.
    #[error("unknown message version {0}")]
    UnknownVersion(u64),
}

fn cbor_encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("writing CBOR to a Vec cannot fail");
    out
}

fn cbor_decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut rest = bytes;
    let value: T =
        ciborium::from_reader(&mut rest).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(value)
}

#[derive(Serialize, Deserialize)]
struct PleaseAddWire {
    display_name: String,
    #[serde(with = "serde_bytes")]
    read_cap: Vec<u8>,
}

/// A member as others learn of it: a display name and the ReadCap of their stream.
#[derive(Clone, PartialEq, Eq)]
pub struct PleaseAdd {
    /// The name the member asked to be shown as.
    pub display_name: DisplayName,
    /// The member's stream's ReadCap.
    pub read_cap: MemberReadCap,
}

impl PleaseAdd {
    /// A PleaseAdd for `read_cap`.
    pub fn new(display_name: DisplayName, read_cap: &ReadCap) -> Self {
        Self {
            display_name,
            read_cap: MemberReadCap(*read_cap.to_bytes()),
        }
    }

    /// The member's ReadCap, checked (its root key must be a valid point).
    pub fn read_cap(&self) -> Result<ReadCap, bacap::Error> {
        ReadCap::from_bytes(self.read_cap.as_bytes())
    }

    /// katzenqt's CBOR: `{display_name, read_cap}`.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor_encode(&self.to_wire())
    }

    /// Decodes [`PleaseAdd::to_cbor`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(cbor_decode(bytes)?)
    }

    fn to_wire(&self) -> PleaseAddWire {
        PleaseAddWire {
            display_name: self.display_name.as_str().to_owned(),
            read_cap: self.read_cap.0.to_vec(),
        }
    }

    fn from_wire(w: PleaseAddWire) -> Result<Self, DecodeError> {
        Ok(Self {
            display_name: DisplayName::new(w.display_name)?,
            read_cap: MemberReadCap::from_slice(&w.read_cap)?,
        })
    }
}

impl fmt::Debug for PleaseAdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PleaseAdd")
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct ReplyWhoWire {
    please_adds: Vec<PleaseAddWire>,
}

/// A group's member list: `{please_adds: [PleaseAdd, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyWho {
    /// The members, in the order given.
    pub please_adds: Vec<PleaseAdd>,
}

impl ReplyWho {
    /// katzenqt's CBOR, listing the members in the order given.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor_encode(&self.to_wire())
    }

    /// Decodes [`ReplyWho::to_cbor`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(cbor_decode(bytes)?)
    }

    fn to_wire(&self) -> ReplyWhoWire {
        ReplyWhoWire {
            please_adds: self.please_adds.iter().map(PleaseAdd::to_wire).collect(),
        }
    }

    fn from_wire(w: ReplyWhoWire) -> Result<Self, DecodeError> {
        let please_adds = w
            .please_adds
            .into_iter()
            .map(PleaseAdd::from_wire)
            .collect::<Result<_, _>>()?;
        Ok(Self { please_adds })
    }

    /// The membership hash of this member set (canonical order, whatever the order here).
    pub fn membership_hash(&self) -> MembershipHash {
        MembershipHash::of(&self.please_adds)
    }
}

/// The kind of a file upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileType {
    /// `"image"`.
    Image,
    /// `"sound"`.
    Sound,
    /// `"arbitrary"`.
    Arbitrary,
}

impl FileType {
    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            FileType::Image => "image",
            FileType::Sound => "sound",
            FileType::Arbitrary => "arbitrary",
        }
    }

    fn parse(s: &str) -> Result<Self, DecodeError> {
        match s {
            "image" => Ok(FileType::Image),
            "sound" => Ok(FileType::Sound),
            "arbitrary" => Ok(FileType::Arbitrary),
            other => Err(DecodeError::Malformed(format!(
                "unknown file type {other:?}"
            ))),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FileUploadWire {
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
    filetype: String,
    basename: String,
}

/// A file: its contents, kind and name as the sender gave it (not yet sanitized).
#[derive(Clone, PartialEq, Eq)]
pub struct FileUpload {
    /// The file's bytes.
    pub payload: Vec<u8>,
    /// Its kind.
    pub filetype: FileType,
    /// Its name as the sender gave it. Untrusted: sanitize before using it as a path.
    pub basename: String,
}

impl FileUpload {
    /// The length of the GroupChatMessage carrying a file of `len` bytes named `basename`, at
    /// most (the CBOR heads of the payload's length take up to 9 bytes).
    pub fn message_len(basename: &str, len: usize) -> usize {
        let empty = GroupChatMessage::new(
            MembershipHash([0; MEMBERSHIP_HASH_LEN]),
            Body::FileUpload(FileUpload {
                payload: Vec::new(),
                filetype: FileType::Arbitrary,
                basename: basename.to_owned(),
            }),
        );
        empty.to_cbor().len() + len + 8
    }
}

impl fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileUpload")
            .field("filetype", &self.filetype)
            .field("basename", &self.basename)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// Message type numbers.
pub mod msg_type {
    /// TEXT.
    pub const TEXT: u64 = 0;
    /// INTRODUCTION.
    pub const INTRODUCTION: u64 = 1;
    /// FILE_UPLOAD.
    pub const FILE_UPLOAD: u64 = 2;
    /// WHO.
    pub const WHO: u64 = 3;
    /// REPLY_WHO.
    pub const REPLY_WHO: u64 = 4;
}

/// The message format version this client speaks.
pub const VERSION: u64 = 0;

/// What a group message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A text message.
    Text(String),
    /// A new member introduced by the sender.
    Introduction(PleaseAdd),
    /// A file.
    FileUpload(FileUpload),
    /// WHO, as katzenqt encodes it (a text string).
    Who(String),
    /// REPLY_WHO, ours: the sender's member list, a ReplyWho map under `reply_who` (katzenqt
    /// puts a text string there, which decodes to [`DecodeError::Unsupported`]).
    WhoReply(ReplyWho),
}

impl Body {
    /// The body's message type number.
    pub fn msg_type(&self) -> u64 {
        match self {
            Body::Text(_) => msg_type::TEXT,
            Body::Introduction(_) => msg_type::INTRODUCTION,
            Body::FileUpload(_) => msg_type::FILE_UPLOAD,
            Body::Who(_) => msg_type::WHO,
            Body::WhoReply(_) => msg_type::REPLY_WHO,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct MessageWire {
    version: u64,
    #[serde(with = "serde_bytes")]
    membership_hash: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msg_type: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    introduction: Option<PleaseAddWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file_upload: Option<FileUploadWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    who: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_who: Option<ciborium::Value>,
}

/// One message of a member's group stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChatMessage {
    /// Format version ([`VERSION`]).
    pub version: u64,
    /// The sender's view of the membership.
    pub membership_hash: MembershipHash,
    /// What it carries.
    pub body: Body,
}

impl GroupChatMessage {
    /// A message of the current version.
    pub fn new(membership_hash: MembershipHash, body: Body) -> Self {
        Self {
            version: VERSION,
            membership_hash,
            body,
        }
    }

    /// katzenqt's CBOR.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut w = MessageWire {
            version: self.version,
            membership_hash: self.membership_hash.0.to_vec(),
            msg_type: Some(self.body.msg_type()),
            text: None,
            introduction: None,
            file_upload: None,
            who: None,
            reply_who: None,
        };
        match &self.body {
            Body::Text(t) => w.text = Some(t.clone()),
            Body::Introduction(p) => w.introduction = Some(p.to_wire()),
            Body::FileUpload(f) => {
                w.file_upload = Some(FileUploadWire {
                    payload: f.payload.clone(),
                    filetype: f.filetype.as_str().to_owned(),
                    basename: f.basename.clone(),
                })
            }
            Body::Who(s) => w.who = Some(s.clone()),
            Body::WhoReply(r) => {
                w.reply_who = Some(
                    ciborium::Value::serialized(&r.to_wire()).expect("a ReplyWho is plain CBOR"),
                )
            }
        }
        cbor_encode(&w)
    }

    /// Decodes one message. A map without `msg_type` (older payloads) gets the type of
    /// whichever optional field is present, TEXT by default.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(cbor_decode(bytes)?)
    }

    /// Decodes the concatenated messages of one `F` box, each on its own: a message of an
    /// unknown type is an error in its place and the rest still decode. Bytes that are not CBOR
    /// at all end the sequence with an error, as nothing after them can be delimited.
    pub fn decode_sequence(bytes: &[u8]) -> Vec<Result<Self, DecodeError>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            match ciborium::from_reader::<ciborium::Value, _>(&mut rest) {
                Ok(value) => out.push(
                    value
                        .deserialized::<MessageWire>()
                        .map_err(|e| DecodeError::Malformed(e.to_string()))
                        .and_then(Self::from_wire),
                ),
                Err(e) => {
                    out.push(Err(DecodeError::Malformed(e.to_string())));
                    break;
                }
            }
        }
        out
    }

    fn from_wire(w: MessageWire) -> Result<Self, DecodeError> {
        if w.version != VERSION {
            return Err(DecodeError::UnknownVersion(w.version));
        }
        let hash: [u8; MEMBERSHIP_HASH_LEN] =
            w.membership_hash
                .as_slice()
                .try_into()
                .map_err(|_| DecodeError::BadLength {
                    field: "membership_hash",
                    expected: MEMBERSHIP_HASH_LEN,
                    got: w.membership_hash.len(),
                })?;
        let inferred = if w.introduction.is_some() {
            msg_type::INTRODUCTION
        } else if w.file_upload.is_some() {
            msg_type::FILE_UPLOAD
        } else if w.who.is_some() {
            msg_type::WHO
        } else if w.reply_who.is_some() {
            msg_type::REPLY_WHO
        } else {
            msg_type::TEXT
        };
        let missing = |field: &str| {
            DecodeError::Malformed(format!("message type without its `{field}` field"))
        };
        let body = match w.msg_type.unwrap_or(inferred) {
            msg_type::TEXT => Body::Text(match (w.text, w.msg_type) {
                (Some(t), _) => t,
                (None, None) => String::new(),
                (None, Some(_)) => return Err(missing("text")),
            }),
            msg_type::INTRODUCTION => Body::Introduction(PleaseAdd::from_wire(
                w.introduction.ok_or_else(|| missing("introduction"))?,
            )?),
            msg_type::FILE_UPLOAD => {
                let f = w.file_upload.ok_or_else(|| missing("file_upload"))?;
                Body::FileUpload(FileUpload {
                    payload: f.payload,
                    filetype: FileType::parse(&f.filetype)?,
                    basename: f.basename,
                })
            }
            msg_type::WHO => Body::Who(w.who.ok_or_else(|| missing("who"))?),
            msg_type::REPLY_WHO => match w.reply_who.ok_or_else(|| missing("reply_who"))? {
                ciborium::Value::Text(_) => {
                    return Err(DecodeError::Unsupported("katzenqt's text REPLY_WHO"))
                }
                value => {
                    let wire: ReplyWhoWire = value
                        .deserialized()
                        .map_err(|e| DecodeError::Malformed(format!("reply_who: {e}")))?;
                    Body::WhoReply(ReplyWho::from_wire(wire)?)
                }
            },
            other => return Err(DecodeError::UnknownType(other)),
        };
        Ok(Self {
            version: w.version,
            membership_hash: MembershipHash(hash),
            body,
        })
    }
}
