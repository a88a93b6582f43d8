//! The group chat messages in katzenqt's deployed CBOR encoding.
//!
//! Maps with text keys in a fixed order, absent optional fields omitted, shortest-form integers
//! and definite lengths (Python cbor2's defaults). Decoding checks every field and returns a
//! [`DecodeError`]; an unknown message type or version is its own error, so a reader reports it
//! and carries on.

use core::fmt;

use bacap::{ReadCap, READ_CAP_LEN};
use pigeonhole::cbor::{describe_error, describe_value_error};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::display_name::{DisplayName, DisplayNameError};
use crate::membership::{MembershipHash, MEMBERSHIP_HASH_LEN};
use crate::roster::{MemberId, Role, RosterEntry, RosterEntryWire};

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
        ciborium::from_reader(&mut rest).map_err(|e| DecodeError::Malformed(describe_error(&e)))?;
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roster: Option<Vec<RosterEntryWire>>,
}

/// A group's member list: `{please_adds: [PleaseAdd, ...]}` as katzenqt encodes it, and, ours,
/// an optional `roster` with one entry per PleaseAdd, in the same order (see
/// [`crate::roster::RosterEntry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyWho {
    /// The members, in the order given.
    pub please_adds: Vec<PleaseAdd>,
    /// What the list says of each member beyond its PleaseAdd, if anything.
    pub roster: Option<Vec<RosterEntry>>,
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

    /// A list of `please_adds` without roster entries (katzenqt's form).
    pub fn of(please_adds: Vec<PleaseAdd>) -> Self {
        Self {
            please_adds,
            roster: None,
        }
    }

    fn to_wire(&self) -> ReplyWhoWire {
        ReplyWhoWire {
            please_adds: self.please_adds.iter().map(PleaseAdd::to_wire).collect(),
            roster: self
                .roster
                .as_ref()
                .map(|r| r.iter().map(|e| e.to_wire()).collect()),
        }
    }

    fn from_wire(w: ReplyWhoWire) -> Result<Self, DecodeError> {
        let please_adds: Vec<PleaseAdd> = w
            .please_adds
            .into_iter()
            .map(PleaseAdd::from_wire)
            .collect::<Result<_, _>>()?;
        let roster = match w.roster {
            None => None,
            Some(entries) => {
                if entries.len() != please_adds.len() {
                    return Err(DecodeError::Malformed(format!(
                        "roster of {} entries for {} members",
                        entries.len(),
                        please_adds.len()
                    )));
                }
                Some(
                    entries
                        .into_iter()
                        .map(RosterEntry::from_wire)
                        .collect::<Result<_, _>>()?,
                )
            }
        };
        Ok(Self {
            please_adds,
            roster,
        })
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

    /// Parses [`FileType::as_str`].
    pub fn parse(s: &str) -> Result<Self, DecodeError> {
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
    /// KEY (ours): the sender's sealing public key.
    pub const KEY: u64 = 16;
    /// LEAVE (ours): the sender leaves.
    pub const LEAVE: u64 = 17;
    /// REMOVE (ours): an owner or admin removes a member.
    pub const REMOVE: u64 = 18;
    /// ROTATE (ours): the sender's stream continues on a new stream.
    pub const ROTATE: u64 = 19;
    /// ROLE (ours): the owner sets a member's role.
    pub const ROLE: u64 = 20;
    /// DELETE (ours): the owner ends the group.
    pub const DELETE: u64 = 21;
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
    /// KEY: the sender's sealing public key (X25519), for the caps others seal to it.
    Key([u8; 32]),
    /// LEAVE: the sender leaves; its stream ends here.
    Leave,
    /// REMOVE: an owner or admin removes this member.
    Remove(MemberId),
    /// ROTATE: the sender's stream continues on a new stream of this epoch, whose ReadCap is
    /// sealed to each member the sender still counts.
    Rotate(Rotate),
    /// ROLE: the owner gives this member this role.
    SetRole(MemberId, Role),
    /// DELETE: the owner ends the group.
    Delete,
}

/// A ROTATE's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotate {
    /// The epoch of the sender's new stream.
    pub epoch: u64,
    /// Its ReadCap, sealed to each member (see [`crate::sealed`]).
    pub caps: SealedCaps,
}

/// Where a ROTATE's sealed caps are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedCaps {
    /// In the message (`caps`): few enough to fit the ROTATE's box.
    Inline(Vec<SealedEntry>),
    /// In the boxes of a substream written with the ROTATE (`caps_in`, its ReadCap), sorted by
    /// member ID, each box an `F` frame of a CBOR array of entries; `index` lists the member ID
    /// of each box's first entry, so a reader fetches the one box that holds its own.
    Indexed {
        /// The substream's ReadCap.
        stream: MemberReadCap,
        /// The first member ID of each box, in box order.
        index: Vec<MemberId>,
    },
}

impl SealedCaps {
    /// How many entries the message says there are at most (the inline ones, or up to
    /// [`SealedCaps::MAX_PER_BOX`] per indexed box).
    pub fn count_bound(&self) -> usize {
        match self {
            SealedCaps::Inline(e) => e.len(),
            SealedCaps::Indexed { index, .. } => index.len().saturating_mul(Self::MAX_PER_BOX),
        }
    }

    /// The most entries one box of an indexed substream holds.
    pub const MAX_PER_BOX: usize = 8;
}

/// The entries of one box of an indexed ROTATE substream, as its `F` frame carries them.
pub fn encode_sealed_entries(entries: &[SealedEntry]) -> Vec<u8> {
    let wire: Vec<SealedEntryWire> = entries.iter().map(SealedEntry::to_wire).collect();
    cbor_encode(&wire)
}

/// Decodes [`encode_sealed_entries`].
pub fn decode_sealed_entries(bytes: &[u8]) -> Result<Vec<SealedEntry>, DecodeError> {
    let wire: Vec<SealedEntryWire> = cbor_decode(bytes)?;
    wire.into_iter().map(SealedEntry::from_wire).collect()
}

impl SealedEntry {
    fn to_wire(&self) -> SealedEntryWire {
        SealedEntryWire {
            member: self.member.0.to_vec(),
            sealed: self.sealed.clone(),
        }
    }

    fn from_wire(w: SealedEntryWire) -> Result<Self, DecodeError> {
        Ok(Self {
            member: MemberId::from_slice(&w.member)?,
            sealed: w.sealed,
        })
    }
}

/// The new ReadCap of a ROTATE, sealed to one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEntry {
    /// For whom.
    pub member: MemberId,
    /// The sealed ReadCap.
    pub sealed: Vec<u8>,
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
            Body::Key(_) => msg_type::KEY,
            Body::Leave => msg_type::LEAVE,
            Body::Remove(_) => msg_type::REMOVE,
            Body::Rotate(_) => msg_type::ROTATE,
            Body::SetRole(..) => msg_type::ROLE,
            Body::Delete => msg_type::DELETE,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<KeyWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leave: Option<EmptyWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remove: Option<MemberWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotate: Option<RotateWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<RoleWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delete: Option<EmptyWire>,
}

/// The maps of our message types: text keys in this order; a reader skips keys it does not
/// know, so later versions can add fields.
#[derive(Serialize, Deserialize)]
struct KeyWire {
    #[serde(with = "serde_bytes")]
    public: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct EmptyWire {}

#[derive(Serialize, Deserialize)]
struct MemberWire {
    #[serde(with = "serde_bytes")]
    member: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct RotateWire {
    epoch: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    caps: Option<Vec<SealedEntryWire>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    caps_in: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<Vec<serde_bytes::ByteBuf>>,
}

#[derive(Serialize, Deserialize)]
struct SealedEntryWire {
    #[serde(with = "serde_bytes")]
    member: Vec<u8>,
    #[serde(with = "serde_bytes")]
    sealed: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct RoleWire {
    #[serde(with = "serde_bytes")]
    member: Vec<u8>,
    role: String,
}

fn key_bytes(bytes: &[u8], field: &'static str) -> Result<[u8; 32], DecodeError> {
    bytes.try_into().map_err(|_| DecodeError::BadLength {
        field,
        expected: 32,
        got: bytes.len(),
    })
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
            key: None,
            leave: None,
            remove: None,
            rotate: None,
            role: None,
            delete: None,
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
            Body::Key(k) => w.key = Some(KeyWire { public: k.to_vec() }),
            Body::Leave => w.leave = Some(EmptyWire {}),
            Body::Remove(m) => {
                w.remove = Some(MemberWire {
                    member: m.0.to_vec(),
                })
            }
            Body::Rotate(r) => {
                w.rotate = Some(match &r.caps {
                    SealedCaps::Inline(entries) => RotateWire {
                        epoch: r.epoch,
                        caps: Some(entries.iter().map(SealedEntry::to_wire).collect()),
                        caps_in: None,
                        index: None,
                    },
                    SealedCaps::Indexed { stream, index } => RotateWire {
                        epoch: r.epoch,
                        caps: None,
                        caps_in: Some(stream.as_bytes().to_vec()),
                        index: Some(
                            index
                                .iter()
                                .map(|m| serde_bytes::ByteBuf::from(m.0.to_vec()))
                                .collect(),
                        ),
                    },
                })
            }
            Body::SetRole(m, role) => {
                w.role = Some(RoleWire {
                    member: m.0.to_vec(),
                    role: role.as_str().to_owned(),
                })
            }
            Body::Delete => w.delete = Some(EmptyWire {}),
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
                        .map_err(|e| DecodeError::Malformed(describe_value_error(&e)))
                        .and_then(Self::from_wire),
                ),
                Err(e) => {
                    out.push(Err(DecodeError::Malformed(describe_error(&e))));
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
                    let wire: ReplyWhoWire = value.deserialized().map_err(|e| {
                        DecodeError::Malformed(format!("reply_who: {}", describe_value_error(&e)))
                    })?;
                    Body::WhoReply(ReplyWho::from_wire(wire)?)
                }
            },
            msg_type::KEY => Body::Key(key_bytes(
                &w.key.ok_or_else(|| missing("key"))?.public,
                "key.public",
            )?),
            msg_type::LEAVE => {
                w.leave.ok_or_else(|| missing("leave"))?;
                Body::Leave
            }
            msg_type::REMOVE => Body::Remove(MemberId::from_slice(
                &w.remove.ok_or_else(|| missing("remove"))?.member,
            )?),
            msg_type::ROTATE => {
                let r = w.rotate.ok_or_else(|| missing("rotate"))?;
                let caps = match (r.caps, r.caps_in, r.index) {
                    (Some(entries), None, None) => SealedCaps::Inline(
                        entries
                            .into_iter()
                            .map(SealedEntry::from_wire)
                            .collect::<Result<_, _>>()?,
                    ),
                    (None, Some(stream), Some(index)) => SealedCaps::Indexed {
                        stream: MemberReadCap::from_slice(&stream)?,
                        index: index
                            .iter()
                            .map(|m| MemberId::from_slice(m))
                            .collect::<Result<_, _>>()?,
                    },
                    _ => {
                        return Err(DecodeError::Malformed(
                            "rotate has either caps, or caps_in and index".into(),
                        ))
                    }
                };
                Body::Rotate(Rotate {
                    epoch: r.epoch,
                    caps,
                })
            }
            msg_type::ROLE => {
                let r = w.role.ok_or_else(|| missing("role"))?;
                Body::SetRole(MemberId::from_slice(&r.member)?, Role::parse(&r.role)?)
            }
            msg_type::DELETE => {
                w.delete.ok_or_else(|| missing("delete"))?;
                Body::Delete
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        Ok(Self {
            version: w.version,
            membership_hash: MembershipHash(hash),
            body,
        })
    }
}
