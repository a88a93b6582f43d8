//! Boxes as storage sees them: a box ID, a signature and a payload.

use core::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length of a box ID (a blinded Ed25519 public key).
pub const BOX_ID_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The ID of a box: the blinded public key its signature verifies under.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoxId(pub(crate) [u8; BOX_ID_LEN]);

impl BoxId {
    /// Wraps 32 bytes. Whether they are a valid point is checked when a signature is verified.
    pub const fn from_array(bytes: [u8; BOX_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// Decodes a box ID, checking its length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; BOX_ID_LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "box ID",
            expected: BOX_ID_LEN,
            got: bytes.len(),
        })?;
        Ok(Self(arr))
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; BOX_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for BoxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoxId(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// An Ed25519 signature, `R || S`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub(crate) [u8; SIGNATURE_LEN]);

impl Signature {
    /// Wraps 64 bytes.
    pub const fn from_array(bytes: [u8; SIGNATURE_LEN]) -> Self {
        Self(bytes)
    }

    /// Decodes a signature, checking its length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; SIGNATURE_LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "signature",
            expected: SIGNATURE_LEN,
            got: bytes.len(),
        })?;
        Ok(Self(arr))
    }

    /// The 64 bytes.
    pub const fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// A signed box ready for storage, or as read back from it.
///
/// An empty payload is a tombstone; any other payload is `ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBox {
    /// Where the box is stored, and the key its signature verifies under.
    pub box_id: BoxId,
    /// Signature over `payload` under `box_id`.
    pub signature: Signature,
    /// The encrypted payload, or nothing for a tombstone.
    pub payload: Vec<u8>,
}

impl SealedBox {
    /// Whether this is a tombstone (an empty payload).
    pub fn is_tombstone(&self) -> bool {
        self.payload.is_empty()
    }

    /// Checks the signature under the box ID, as storage does before accepting a write.
    pub fn verify(&self) -> Result<()> {
        crate::blinding::verify(&self.box_id, &self.payload, &self.signature)
    }
}

impl fmt::Debug for SealedBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBox")
            .field("box_id", &self.box_id)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// What reading a box yields.
#[derive(Clone, PartialEq, Eq)]
pub enum Opened {
    /// A message: its plaintext, which zeroizes itself when dropped.
    Message(Zeroizing<Vec<u8>>),
    /// A tombstone: the box was deleted by its writer.
    Tombstone,
}

impl Opened {
    /// The plaintext; empty for a tombstone.
    pub fn plaintext(&self) -> &[u8] {
        match self {
            Opened::Message(p) => p,
            Opened::Tombstone => &[],
        }
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Message(p) => write!(f, "Opened::Message({} bytes)", p.len()),
            Opened::Tombstone => write!(f, "Opened::Tombstone"),
        }
    }
}
