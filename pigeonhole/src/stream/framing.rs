//! Box payload framing (katzenqt): the one-byte prefixes `F`, `C` and `I`, how a message is cut
//! into boxes and how a box plaintext is parsed. Pure functions; every parser returns `Result`.
//!
//! - `F` (final): alone, a whole message; at the end of a chain, its last slice.
//! - `C` (continuation): an interior slice of a chain, which ends with one `F` box.
//! - `I` (indirection): followed by the 136-byte [`ReadCap`] of a substream holding a chain.
//!
//! A payload that fits one box (`1 + len <= box_plaintext_len`) is one `F` box. A longer one is
//! cut into slices of `box_plaintext_len - 1` bytes: `C` for every slice but the last, `F` for
//! the last (so a payload of an exact multiple of the slice size ends with a full `F` box).

use zeroize::Zeroizing;

use bacap::Geometry;
use bacap::{ReadCap, READ_CAP_LEN};

/// Prefix of a final box.
pub const PREFIX_FINAL: u8 = b'F';
/// Prefix of a continuation box.
pub const PREFIX_CONTINUATION: u8 = b'C';
/// Prefix of an indirection box.
pub const PREFIX_INDIRECTION: u8 = b'I';
/// Length of an indirection box's plaintext: the prefix and a ReadCap.
pub const INDIRECTION_LEN: usize = 1 + READ_CAP_LEN;

/// Why a box plaintext is not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The plaintext is empty: no prefix at all.
    #[error("box plaintext is empty")]
    Empty,
    /// The first byte is none of `F`, `C`, `I`.
    #[error("unknown frame prefix {0:#04x}")]
    UnknownPrefix(u8),
    /// An `I` box whose length is not `1 + 136`.
    #[error("indirection box of {0} bytes, expected {INDIRECTION_LEN}")]
    IndirectionLength(usize),
    /// An `I` box whose ReadCap does not decode.
    #[error("indirection box carries an invalid read cap: {0}")]
    InvalidReadCap(bacap::Error),
    /// The geometry's boxes are too small for this framing.
    #[error("box plaintext of {got} bytes is too small: this needs at least {needed}")]
    GeometryTooSmall {
        /// The geometry's box plaintext length.
        got: usize,
        /// The least length that works.
        needed: usize,
    },
}

/// A parsed box plaintext.
#[derive(Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `F`: a whole message, or the last slice of a chain.
    Final(&'a [u8]),
    /// `C`: an interior slice of a chain.
    Continuation(&'a [u8]),
    /// `I`: the ReadCap of the substream holding a chain.
    Indirection(Box<ReadCap>),
}

impl core::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Frame::Final(b) => write!(f, "Frame::Final({} bytes)", b.len()),
            Frame::Continuation(b) => write!(f, "Frame::Continuation({} bytes)", b.len()),
            Frame::Indirection(cap) => f.debug_tuple("Frame::Indirection").field(cap).finish(),
        }
    }
}

/// Parses one box plaintext.
pub fn parse(plaintext: &[u8]) -> Result<Frame<'_>, FramingError> {
    let (&prefix, rest) = plaintext.split_first().ok_or(FramingError::Empty)?;
    match prefix {
        PREFIX_FINAL => Ok(Frame::Final(rest)),
        PREFIX_CONTINUATION => Ok(Frame::Continuation(rest)),
        PREFIX_INDIRECTION => {
            if plaintext.len() != INDIRECTION_LEN {
                return Err(FramingError::IndirectionLength(plaintext.len()));
            }
            ReadCap::from_bytes(rest)
                .map(|cap| Frame::Indirection(Box::new(cap)))
                .map_err(FramingError::InvalidReadCap)
        }
        other => Err(FramingError::UnknownPrefix(other)),
    }
}

/// How a payload travels: in one box, or as a chain in a substream.
#[derive(Clone, PartialEq, Eq)]
pub enum Framed {
    /// One `F` box for the sender's own stream.
    Single(Zeroizing<Vec<u8>>),
    /// The `C`...`F` boxes of a substream, in order; the sender's own stream gets an `I` box
    /// ([`indirection`]) pointing at that substream.
    Chain(Vec<Zeroizing<Vec<u8>>>),
}

impl core::fmt::Debug for Framed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Framed::Single(b) => write!(f, "Framed::Single({} bytes)", b.len()),
            Framed::Chain(c) => write!(f, "Framed::Chain({} boxes)", c.len()),
        }
    }
}

/// Whether a payload of `len` bytes fits one `F` box of `geometry`.
pub fn fits_one_box(len: usize, geometry: Geometry) -> bool {
    len < geometry.box_plaintext_len
}

/// The slice length of a chain: one box minus the prefix byte.
pub fn slice_len(geometry: Geometry) -> Result<usize, FramingError> {
    geometry
        .box_plaintext_len
        .checked_sub(1)
        .filter(|n| *n > 0)
        .ok_or(FramingError::GeometryTooSmall {
            got: geometry.box_plaintext_len,
            needed: 2,
        })
}

/// How many chain boxes a payload of `len` bytes needs (0 when it fits one box).
pub fn chain_boxes(len: usize, geometry: Geometry) -> Result<usize, FramingError> {
    if fits_one_box(len, geometry) {
        return Ok(0);
    }
    Ok(len.div_ceil(slice_len(geometry)?))
}

/// Frames one payload: one `F` box if it fits, else the substream chain.
pub fn frame(payload: &[u8], geometry: Geometry) -> Result<Framed, FramingError> {
    if fits_one_box(payload.len(), geometry) {
        return Ok(Framed::Single(prefixed(PREFIX_FINAL, payload)));
    }
    let slices: Vec<&[u8]> = payload.chunks(slice_len(geometry)?).collect();
    let last = slices.len() - 1;
    Ok(Framed::Chain(
        slices
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let prefix = if i == last {
                    PREFIX_FINAL
                } else {
                    PREFIX_CONTINUATION
                };
                prefixed(prefix, s)
            })
            .collect(),
    ))
}

/// Frames several messages that travel together: they are concatenated (the group chat's
/// messages are self-delimiting CBOR) and framed as one payload, so short ones share an `F` box.
pub fn frame_many(messages: &[&[u8]], geometry: Geometry) -> Result<Framed, FramingError> {
    frame(&concat(messages), geometry)
}

/// The concatenation of `messages`, in a buffer that zeroizes itself.
pub fn concat(messages: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(messages.iter().map(|m| m.len()).sum()));
    for m in messages {
        out.extend_from_slice(m);
    }
    out
}

/// The plaintext of an `I` box pointing at the substream readable with `cap`.
pub fn indirection(cap: &ReadCap) -> Zeroizing<Vec<u8>> {
    prefixed(PREFIX_INDIRECTION, cap.to_bytes().as_ref())
}

/// Checks that `geometry` can carry long messages: an `I` box must fit one box.
pub fn check_indirection_fits(geometry: Geometry) -> Result<(), FramingError> {
    if geometry.box_plaintext_len < INDIRECTION_LEN {
        return Err(FramingError::GeometryTooSmall {
            got: geometry.box_plaintext_len,
            needed: INDIRECTION_LEN,
        });
    }
    Ok(())
}

fn prefixed(prefix: u8, body: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(1 + body.len()));
    out.push(prefix);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bacap::WriteCap;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn short_payloads_are_one_final_box() {
        let g = Geometry::new(10);
        assert_eq!(
            frame(b"", g).unwrap(),
            Framed::Single(Zeroizing::new(b"F".to_vec()))
        );
        let nine = [7u8; 9];
        let Framed::Single(b) = frame(&nine, g).unwrap() else {
            panic!("9 bytes fit a 10-byte box");
        };
        assert_eq!(b.len(), 10);
        assert_eq!(parse(&b).unwrap(), Frame::Final(&nine[..]));
    }

    #[test]
    fn long_payloads_are_chains_of_slices() {
        let g = Geometry::new(10);
        for len in [10usize, 18, 19, 27, 100] {
            let payload: Vec<u8> = (0..len as u8).collect();
            let Framed::Chain(boxes) = frame(&payload, g).unwrap() else {
                panic!("{len} bytes do not fit");
            };
            assert_eq!(boxes.len(), chain_boxes(len, g).unwrap());
            assert_eq!(boxes.len(), len.div_ceil(9));
            let mut joined = Vec::new();
            for (i, b) in boxes.iter().enumerate() {
                assert!(b.len() <= 10);
                match parse(b).unwrap() {
                    Frame::Continuation(s) if i + 1 < boxes.len() => joined.extend_from_slice(s),
                    Frame::Final(s) if i + 1 == boxes.len() => joined.extend_from_slice(s),
                    other => panic!("box {i}: {other:?}"),
                }
            }
            assert_eq!(joined, payload);
        }
    }

    #[test]
    fn indirection_round_trips() {
        let cap = WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(1)).read_cap();
        let b = indirection(&cap);
        assert_eq!(b.len(), INDIRECTION_LEN);
        assert_eq!(parse(&b).unwrap(), Frame::Indirection(Box::new(cap)));
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert_eq!(parse(b"").unwrap_err(), FramingError::Empty);
        assert_eq!(
            parse(b"Xabc").unwrap_err(),
            FramingError::UnknownPrefix(b'X')
        );
        assert_eq!(parse(b"f").unwrap_err(), FramingError::UnknownPrefix(b'f'));
        assert_eq!(parse(b"I").unwrap_err(), FramingError::IndirectionLength(1));
        assert_eq!(
            parse(&[b'I'; 138]).unwrap_err(),
            FramingError::IndirectionLength(138)
        );
        // A root key of small order (the identity).
        let mut bad = vec![b'I', 1];
        bad.extend_from_slice(&[0; READ_CAP_LEN - 1]);
        assert!(matches!(
            parse(&bad).unwrap_err(),
            FramingError::InvalidReadCap(_)
        ));
        assert!(matches!(
            frame(b"ab", Geometry::new(1)).unwrap_err(),
            FramingError::GeometryTooSmall { needed: 2, .. }
        ));
        assert!(check_indirection_fits(Geometry::new(136)).is_err());
        assert!(check_indirection_fits(Geometry::new(137)).is_ok());
    }
}
