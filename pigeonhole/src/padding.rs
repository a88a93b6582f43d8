//! Box padding, as Katzenpost's Pigeonhole pads every box (`CreatePaddedPayload`): before BACAP
//! encryption a message becomes `u32 BE length || message || zero bytes` of one fixed size, so
//! storage, replicas and the network see one payload size for every box, besides the empty
//! payload of a tombstone. Nothing about a message's length or kind reaches them.
//!
//! Every size follows from the message capacity of [`bacap::Geometry`] (1556 bytes for
//! Katzenpost): [`PaddedGeometry`] adds the padded plaintext (1560) and the stored payload, the
//! padded plaintext sealed (1576). Framing fills the message capacity; [`pad`] and [`unpad`]
//! are the codec; the store rules accept only payloads of [`PaddedGeometry::payload_len`] bytes
//! or empty ones.

use bacap::Geometry;
use zeroize::Zeroizing;

/// Bytes of the length field in front of the message.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// The sizes of a padded box, all from the message capacity of a [`Geometry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaddedGeometry {
    message: Geometry,
}

impl PaddedGeometry {
    /// Katzenpost's: 1556-byte messages, 1560 bytes of padded plaintext, 1576-byte payloads.
    pub const KATZENPOST: PaddedGeometry = PaddedGeometry::new(Geometry::KATZENPOST);

    /// The padded sizes of boxes carrying messages of at most `message.box_plaintext_len` bytes.
    pub const fn new(message: Geometry) -> Self {
        Self { message }
    }

    /// The geometry whose stored payloads are `payload_len` bytes, if one is: the length field
    /// and the AEAD tag must fit with room for at least one message byte.
    pub const fn from_payload_len(payload_len: usize) -> Option<Self> {
        match payload_len.checked_sub(LENGTH_PREFIX_LEN + bacap::aead::TAG_LEN) {
            Some(message) if message > 0 => Some(Self::new(Geometry::new(message))),
            _ => None,
        }
    }

    /// The message geometry: what framing fills.
    pub const fn message(&self) -> Geometry {
        self.message
    }

    /// The largest message one box carries (1556 for Katzenpost).
    pub const fn message_len(&self) -> usize {
        self.message.box_plaintext_len
    }

    /// The padded plaintext every box is sealed from (1560 for Katzenpost).
    pub const fn plaintext_len(&self) -> usize {
        LENGTH_PREFIX_LEN + self.message_len()
    }

    /// The payload of every stored box but a tombstone: the padded plaintext and the AEAD tag
    /// (1576 for Katzenpost).
    pub const fn payload_len(&self) -> usize {
        self.plaintext_len() + bacap::aead::TAG_LEN
    }
}

impl Default for PaddedGeometry {
    fn default() -> Self {
        Self::KATZENPOST
    }
}

impl From<Geometry> for PaddedGeometry {
    fn from(message: Geometry) -> Self {
        Self::new(message)
    }
}

/// Why a message cannot be padded or a padded plaintext is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaddingError {
    /// A message longer than the geometry's message capacity.
    #[error("message of {len} bytes does not fit a box of {max}")]
    MessageTooLong {
        /// The message's length.
        len: usize,
        /// The capacity.
        max: usize,
    },
    /// A padded plaintext of another size than the geometry's.
    #[error("padded box plaintext of {got} bytes, expected {expected}")]
    WrongSize {
        /// Its size.
        got: usize,
        /// The geometry's padded plaintext size.
        expected: usize,
    },
    /// A length field over the message capacity.
    #[error("box length field says {len} bytes, more than the {max} a box carries")]
    LengthField {
        /// What the field says.
        len: u64,
        /// The capacity.
        max: usize,
    },
    /// A byte after the message is not zero.
    #[error("box padding is not all zero")]
    NonZeroPadding,
}

/// Pads `message` to the geometry's padded plaintext: its length as a u32 BE, the message and
/// zero bytes. The buffer zeroizes itself.
pub fn pad(message: &[u8], geometry: PaddedGeometry) -> Result<Zeroizing<Vec<u8>>, PaddingError> {
    let max = geometry.message_len();
    let len = u32::try_from(message.len())
        .ok()
        .filter(|_| message.len() <= max)
        .ok_or(PaddingError::MessageTooLong {
            len: message.len(),
            max,
        })?;
    let mut out = Zeroizing::new(Vec::with_capacity(geometry.plaintext_len()));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    out.resize(geometry.plaintext_len(), 0);
    Ok(out)
}

/// The message inside a padded plaintext. Refuses a plaintext of another size, a length field
/// over the capacity and padding that is not all zero.
pub fn unpad(padded: &[u8], geometry: PaddedGeometry) -> Result<&[u8], PaddingError> {
    if padded.len() != geometry.plaintext_len() {
        return Err(PaddingError::WrongSize {
            got: padded.len(),
            expected: geometry.plaintext_len(),
        });
    }
    let (field, rest) = padded.split_at(LENGTH_PREFIX_LEN);
    let mut len_bytes = [0u8; LENGTH_PREFIX_LEN];
    len_bytes.copy_from_slice(field);
    let len = u32::from_be_bytes(len_bytes);
    let max = geometry.message_len();
    let message_len =
        usize::try_from(len)
            .ok()
            .filter(|l| *l <= max)
            .ok_or(PaddingError::LengthField {
                len: u64::from(len),
                max,
            })?;
    let (message, padding) = rest.split_at(message_len);
    if padding.iter().any(|b| *b != 0) {
        return Err(PaddingError::NonZeroPadding);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: PaddedGeometry = PaddedGeometry::KATZENPOST;

    #[test]
    fn katzenpost_sizes() {
        assert_eq!(G.message_len(), 1556);
        assert_eq!(G.plaintext_len(), 1560);
        assert_eq!(G.payload_len(), 1576);
        assert_eq!(PaddedGeometry::from_payload_len(1576), Some(G));
        assert_eq!(PaddedGeometry::from_payload_len(20), None);
        assert_eq!(
            PaddedGeometry::from_payload_len(21).map(|g| g.message_len()),
            Some(1)
        );
    }

    #[test]
    fn pads_to_one_size_and_round_trips() {
        for len in [0usize, 1, 5, 1000, 1555, 1556] {
            let message: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
            let padded = pad(&message, G).unwrap();
            assert_eq!(padded.len(), 1560);
            assert_eq!(&padded[..4], &(len as u32).to_be_bytes());
            assert_eq!(&padded[4..4 + len], &message[..]);
            assert!(padded[4 + len..].iter().all(|b| *b == 0));
            assert_eq!(unpad(&padded, G).unwrap(), &message[..]);
        }
        assert_eq!(
            pad(&[0; 1557], G).unwrap_err(),
            PaddingError::MessageTooLong {
                len: 1557,
                max: 1556
            }
        );
    }

    #[test]
    fn refuses_bad_sizes_lengths_and_padding() {
        let padded = pad(b"hello", G).unwrap();
        assert_eq!(
            unpad(&padded[..1559], G).unwrap_err(),
            PaddingError::WrongSize {
                got: 1559,
                expected: 1560
            }
        );
        let mut long = padded.to_vec();
        long[..4].copy_from_slice(&1557u32.to_be_bytes());
        assert_eq!(
            unpad(&long, G).unwrap_err(),
            PaddingError::LengthField {
                len: 1557,
                max: 1556
            }
        );
        long[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            unpad(&long, G),
            Err(PaddingError::LengthField { .. })
        ));
        for at in [9usize, 1000, 1559] {
            let mut dirty = padded.to_vec();
            dirty[at] = 1;
            assert_eq!(unpad(&dirty, G).unwrap_err(), PaddingError::NonZeroPadding);
        }
        // The last byte of the message is not padding.
        let mut edge = padded.to_vec();
        edge[8] = 0;
        assert_eq!(unpad(&edge, G).unwrap(), b"hell\0");
    }
}
