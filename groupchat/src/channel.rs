//! 1:1 channels: the messages two profiles exchange on a pair of streams (one each way), and
//! the token that bootstraps a channel out of band.
//!
//! Our own wire format (see `docs/wire-format.md`): a CBOR map with text keys, `version` (1)
//! and `kind` first, then the kind's fields in a fixed order; absent fields are omitted.
//! Unknown kinds and versions are their own errors, so a reader reports them and carries on.

use core::fmt;

use bacap::{ReadCap, Signature, WriteCap, READ_CAP_LEN};
use blake2::digest::consts::U4;
use blake2::{Blake2b, Digest};
use pigeonhole::cbor::describe_error;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::display_name::{check_label, DisplayNameError};
use crate::messages::{DecodeError, PleaseAdd, ReplyWho};
use crate::roster::History;

/// The channel message format version this client speaks.
pub const CHANNEL_VERSION: u64 = 1;
/// The most characters of a channel label (a local name for the peer).
pub const MAX_LABEL_CHARS: usize = 32;
/// The most characters a group name may have.
pub const MAX_GROUP_NAME_CHARS: usize = 64;
/// What a SignedPleaseAdd signature covers before the group ID and the PleaseAdd bytes.
pub const SIGNED_PLEASE_ADD_DOMAIN: &[u8] = b"bacap-chat/signed-please-add/v1\0";
/// The prefix of a channel token's text form.
pub const TOKEN_PREFIX: &str = "bacap-chat-channel-v1:";

/// Why channel bytes or a token are not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Not CBOR of the expected shape.
    #[error("malformed channel message: {0}")]
    Malformed(String),
    /// A kind this client does not know.
    #[error("unknown channel message kind {0:?}")]
    UnknownKind(String),
    /// A version this client does not know.
    #[error("unknown channel message version {0}")]
    UnknownVersion(u64),
    /// A group name that breaks the rules.
    #[error("invalid group name: {0}")]
    GroupName(DisplayNameError),
    /// The PleaseAdd inside a SignedPleaseAdd does not decode.
    #[error("invalid PleaseAdd: {0}")]
    PleaseAdd(#[from] DecodeError),
    /// The signature does not verify under the root key of the PleaseAdd's ReadCap.
    #[error("SignedPleaseAdd signature does not verify")]
    BadSignature,
    /// A channel token that cannot be used.
    #[error("invalid channel token: {0}")]
    BadToken(&'static str),
}

/// The ID of a group: 32 random bytes chosen by its creator.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub [u8; 32]);

impl serde::Serialize for GroupId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for GroupId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = serde_bytes::ByteBuf::deserialize(d)?;
        b.as_slice()
            .try_into()
            .map(Self)
            .map_err(|_| serde::de::Error::custom("a group ID is not 32 bytes"))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId(")?;
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// An invitation to join a group, sent by a member (the introducer) over a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The group.
    pub group_id: GroupId,
    /// Its name, as the introducer shows it.
    pub group_name: String,
}

/// The invitee's answer: a katzenqt PleaseAdd, signed with the root key of the WriteCap whose
/// ReadCap it carries, so the introducer knows the invitee can write that stream.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPleaseAdd {
    /// The group it answers.
    pub group_id: GroupId,
    /// katzenqt's PleaseAdd CBOR.
    pub please_add: Vec<u8>,
    /// Ed25519 signature over `SIGNED_PLEASE_ADD_DOMAIN || group_id || please_add`.
    pub signature: [u8; 64],
}

fn signed_message(group_id: &GroupId, please_add: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNED_PLEASE_ADD_DOMAIN.len() + 32 + please_add.len());
    m.extend_from_slice(SIGNED_PLEASE_ADD_DOMAIN);
    m.extend_from_slice(&group_id.0);
    m.extend_from_slice(please_add);
    m
}

impl SignedPleaseAdd {
    /// Signs `please_add` for `group_id` with `writer_cap`, the cap of the stream the PleaseAdd
    /// names.
    pub fn sign(group_id: GroupId, please_add: &PleaseAdd, writer_cap: &WriteCap) -> Self {
        let bytes = please_add.to_cbor();
        let signature = *writer_cap
            .sign_with_root_key(&signed_message(&group_id, &bytes))
            .as_bytes();
        Self {
            group_id,
            please_add: bytes,
            signature,
        }
    }

    /// Decodes the PleaseAdd and checks the signature against the root key of its ReadCap.
    pub fn verify(&self) -> Result<PleaseAdd, ChannelError> {
        let please_add = PleaseAdd::from_cbor(&self.please_add)?;
        let cap = please_add
            .read_cap()
            .map_err(|_| ChannelError::BadSignature)?;
        cap.verify_root_signature(
            &signed_message(&self.group_id, &self.please_add),
            &Signature::from_array(self.signature),
        )
        .map_err(|_| ChannelError::BadSignature)?;
        Ok(please_add)
    }
}

impl fmt::Debug for SignedPleaseAdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPleaseAdd")
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

/// The introducer asks the invitee for another display name, quoting the request it declines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PleaseReviseDisplayName {
    /// The group.
    pub group_id: GroupId,
    /// The SignedPleaseAdd being declined.
    pub original: SignedPleaseAdd,
    /// Why, for the invitee to read.
    pub reason: String,
}

/// Approval, to the new member: the group's members (the ReplyWho of the design), so the new
/// member reads everyone from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The group.
    pub group_id: GroupId,
    /// Its name.
    pub group_name: String,
    /// Every member, the new one and the introducer included.
    pub members: ReplyWho,
    /// The group's history setting (ours; absent means `shared`, what a Welcome without it
    /// gave).
    pub history: Option<History>,
}

/// A message on a 1:1 channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelMessage {
    /// An invitation to a group.
    Invitation(Invitation),
    /// A request to be added, in answer to an invitation.
    SignedPleaseAdd(SignedPleaseAdd),
    /// A request for another display name.
    PleaseReviseDisplayName(PleaseReviseDisplayName),
    /// Approval, with the member list.
    Welcome(Welcome),
    /// A private text message.
    Text(String),
    /// The invitee declines the invitation to this group.
    Decline(GroupId),
    /// The introducer rejects the invitee's request to join this group, and says why.
    Reject(GroupId, String),
}

#[derive(Serialize, Deserialize)]
struct SignedWire {
    #[serde(with = "serde_bytes")]
    group_id: Vec<u8>,
    #[serde(with = "serde_bytes")]
    please_add: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct ChannelWire {
    version: u64,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    group_id: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed_please_add: Option<SignedWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    members: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    history: Option<String>,
}

const KIND_INVITATION: &str = "invitation";
const KIND_SIGNED_PLEASE_ADD: &str = "signed_please_add";
const KIND_PLEASE_REVISE: &str = "please_revise_display_name";
const KIND_WELCOME: &str = "welcome";
const KIND_TEXT: &str = "text";
const KIND_DECLINE: &str = "decline";
const KIND_REJECT: &str = "reject";

fn group_id(bytes: Option<Vec<u8>>) -> Result<GroupId, ChannelError> {
    let bytes = bytes.ok_or_else(|| ChannelError::Malformed("missing group_id".into()))?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| ChannelError::Malformed("group_id is not 32 bytes".into()))?;
    Ok(GroupId(arr))
}

fn group_name(name: Option<String>) -> Result<String, ChannelError> {
    let name = name.ok_or_else(|| ChannelError::Malformed("missing group_name".into()))?;
    check_label(&name, MAX_GROUP_NAME_CHARS).map_err(ChannelError::GroupName)?;
    Ok(name)
}

impl SignedPleaseAdd {
    fn to_wire(&self) -> SignedWire {
        SignedWire {
            group_id: self.group_id.0.to_vec(),
            please_add: self.please_add.clone(),
            signature: self.signature.to_vec(),
        }
    }

    fn from_wire(w: SignedWire) -> Result<Self, ChannelError> {
        let signature: [u8; 64] = w
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| ChannelError::Malformed("signature is not 64 bytes".into()))?;
        Ok(Self {
            group_id: group_id(Some(w.group_id))?,
            please_add: w.please_add,
            signature,
        })
    }
}

impl ChannelMessage {
    /// The CBOR encoding.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut w = ChannelWire {
            version: CHANNEL_VERSION,
            kind: String::new(),
            group_id: None,
            group_name: None,
            signed_please_add: None,
            reason: None,
            members: None,
            text: None,
            history: None,
        };
        match self {
            ChannelMessage::Invitation(i) => {
                w.kind = KIND_INVITATION.into();
                w.group_id = Some(i.group_id.0.to_vec());
                w.group_name = Some(i.group_name.clone());
            }
            ChannelMessage::SignedPleaseAdd(s) => {
                w.kind = KIND_SIGNED_PLEASE_ADD.into();
                w.signed_please_add = Some(s.to_wire());
            }
            ChannelMessage::PleaseReviseDisplayName(p) => {
                w.kind = KIND_PLEASE_REVISE.into();
                w.group_id = Some(p.group_id.0.to_vec());
                w.signed_please_add = Some(p.original.to_wire());
                w.reason = Some(p.reason.clone());
            }
            ChannelMessage::Welcome(welcome) => {
                w.kind = KIND_WELCOME.into();
                w.group_id = Some(welcome.group_id.0.to_vec());
                w.group_name = Some(welcome.group_name.clone());
                w.members = Some(welcome.members.to_cbor());
                w.history = welcome.history.map(|h| h.as_str().to_owned());
            }
            ChannelMessage::Text(t) => {
                w.kind = KIND_TEXT.into();
                w.text = Some(t.clone());
            }
            ChannelMessage::Decline(id) => {
                w.kind = KIND_DECLINE.into();
                w.group_id = Some(id.0.to_vec());
            }
            ChannelMessage::Reject(id, reason) => {
                w.kind = KIND_REJECT.into();
                w.group_id = Some(id.0.to_vec());
                w.reason = Some(reason.clone());
            }
        }
        let mut out = Vec::new();
        ciborium::into_writer(&w, &mut out).expect("CBOR to a Vec");
        out
    }

    /// Decodes [`ChannelMessage::to_cbor`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, ChannelError> {
        let mut rest = bytes;
        let w: ChannelWire = ciborium::from_reader(&mut rest)
            .map_err(|e| ChannelError::Malformed(describe_error(&e)))?;
        if !rest.is_empty() {
            return Err(ChannelError::Malformed(format!(
                "{} bytes after the message",
                rest.len()
            )));
        }
        if w.version != CHANNEL_VERSION {
            return Err(ChannelError::UnknownVersion(w.version));
        }
        let missing = |f: &str| ChannelError::Malformed(format!("{} without {f}", w.kind));
        Ok(match w.kind.as_str() {
            KIND_INVITATION => ChannelMessage::Invitation(Invitation {
                group_id: group_id(w.group_id)?,
                group_name: group_name(w.group_name)?,
            }),
            KIND_SIGNED_PLEASE_ADD => ChannelMessage::SignedPleaseAdd(SignedPleaseAdd::from_wire(
                w.signed_please_add
                    .ok_or_else(|| missing("signed_please_add"))?,
            )?),
            KIND_PLEASE_REVISE => {
                ChannelMessage::PleaseReviseDisplayName(PleaseReviseDisplayName {
                    group_id: group_id(w.group_id)?,
                    original: SignedPleaseAdd::from_wire(
                        w.signed_please_add
                            .ok_or_else(|| missing("signed_please_add"))?,
                    )?,
                    reason: w.reason.ok_or_else(|| missing("reason"))?,
                })
            }
            KIND_WELCOME => ChannelMessage::Welcome(Welcome {
                group_id: group_id(w.group_id)?,
                group_name: group_name(w.group_name)?,
                members: ReplyWho::from_cbor(&w.members.ok_or_else(|| missing("members"))?)?,
                history: w
                    .history
                    .as_deref()
                    .map(History::parse)
                    .transpose()
                    .map_err(|e| ChannelError::Malformed(e.to_string()))?,
            }),
            KIND_TEXT => ChannelMessage::Text(w.text.ok_or_else(|| missing("text"))?),
            KIND_DECLINE => ChannelMessage::Decline(group_id(w.group_id)?),
            KIND_REJECT => {
                let reason = w.reason.ok_or_else(|| missing("reason"))?;
                ChannelMessage::Reject(group_id(w.group_id)?, reason)
            }
            other => return Err(ChannelError::UnknownKind(other.to_owned())),
        })
    }
}

/// The out-of-band bootstrap of a channel: the ReadCap of one direction's stream, as text a
/// person copies to the other side (`bacap-chat-channel-v1:` then hex of the cap and a 4-byte
/// BLAKE2b checksum that catches copy mistakes). It is a secret: whoever holds it reads that
/// direction of the channel. It zeroizes itself and never prints in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelToken {
    read_cap: Zeroizing<[u8; READ_CAP_LEN]>,
}

fn checksum(bytes: &[u8]) -> [u8; 4] {
    Blake2b::<U4>::digest(bytes).into()
}

impl ChannelToken {
    /// A token for the stream whose ReadCap is `read_cap`.
    pub fn new(read_cap: &ReadCap) -> Self {
        Self {
            read_cap: read_cap.to_bytes(),
        }
    }

    /// Parses the text form, tolerating surrounding white space.
    pub fn parse(text: &str) -> Result<Self, ChannelError> {
        let body = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(ChannelError::BadToken(
                "it does not start with bacap-chat-channel-v1:",
            ))?;
        let bytes = Zeroizing::new(
            hex::decode(body).map_err(|_| ChannelError::BadToken("it is not hexadecimal"))?,
        );
        if bytes.len() != READ_CAP_LEN + 4 {
            return Err(ChannelError::BadToken(
                "it has the wrong length (was it copied whole?)",
            ));
        }
        let (cap, sum) = bytes.split_at(READ_CAP_LEN);
        if checksum(cap) != sum {
            return Err(ChannelError::BadToken(
                "its checksum does not match (was it copied whole?)",
            ));
        }
        ReadCap::from_bytes(cap)
            .map_err(|_| ChannelError::BadToken("it does not hold a valid read capability"))?;
        let mut read_cap = Zeroizing::new([0u8; READ_CAP_LEN]);
        read_cap.copy_from_slice(cap);
        Ok(Self { read_cap })
    }

    /// The text form. A secret: show it only to its owner.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(self.read_cap.to_vec());
        bytes.extend_from_slice(&checksum(self.read_cap.as_ref()));
        Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex::encode(bytes.as_slice())))
    }

    /// The ReadCap it carries.
    pub fn read_cap(&self) -> ReadCap {
        ReadCap::from_bytes(self.read_cap.as_ref())
            .expect("checked when the token was made or parsed")
    }
}

impl fmt::Debug for ChannelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelToken(…)")
    }
}
