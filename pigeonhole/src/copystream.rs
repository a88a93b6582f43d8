//! The copy-stream format: how a set of box writes travels in a temporary BACAP stream to the
//! courier's copy command (Pigeonhole's AllOrNothing).
//!
//! The byte stream is a sequence of write requests, each `u32 BE length || box ID (32) ||
//! signature (64) || payload`. It is cut into temporary boxes, each `flags (u8) || u32 BE length
//! || data`, flag bit 0 marking the first box and bit 1 the last; a request may span boxes.
//!
//! The temporary boxes are boxes like any other: each plaintext fills at most the message
//! capacity of the geometry and is padded before sealing ([`crate::padding`]). Every payload a
//! request carries is a padded box too, so with Katzenpost's geometry a request is
//! `4 + 32 + 64 + 1576 = 1676` bytes and a temporary box carries `1556 - 5 = 1551` of them.

use bacap::Geometry;
use bacap::{BoxId, SealedBox, Signature, BOX_ID_LEN, SIGNATURE_LEN};

use crate::padding::PaddedGeometry;

/// The BACAP context of temporary copy streams.
pub const COPY_STREAM_CTX: &[u8] = b"bacap-copy-stream-v1";

/// Flag bit of the first temporary box.
pub const FLAG_FIRST: u8 = 0x01;
/// Flag bit of the last temporary box.
pub const FLAG_LAST: u8 = 0x02;
/// Bytes of a temporary box's header: flags and length.
pub const BOX_HEADER_LEN: usize = 5;
const REQUEST_HEADER_LEN: usize = BOX_ID_LEN + SIGNATURE_LEN;

/// Why a temporary stream is not a valid copy stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyStreamError {
    /// A box is shorter than its header or than the length it claims.
    #[error("temporary box {0} is truncated")]
    Truncated(usize),
    /// The first box lacks the first flag, or a later box carries it.
    #[error("temporary box {0} has a misplaced first flag")]
    MisplacedFirst(usize),
    /// The stream ended (or was cut off) without a box flagged last.
    #[error("temporary stream has no last box")]
    MissingLast,
    /// Unknown flag bits are set.
    #[error("temporary box {0} has unknown flags {1:#04x}")]
    UnknownFlags(usize, u8),
    /// The concatenated data does not split into whole write requests.
    #[error("write request {0} is malformed")]
    MalformedRequest(usize),
    /// The geometry's boxes are too small to carry a copy stream.
    #[error("box plaintext of {0} bytes cannot hold a copy stream")]
    GeometryTooSmall(usize),
}

/// The data bytes one temporary box of `geometry` carries.
fn capacity(geometry: Geometry) -> Result<usize, CopyStreamError> {
    geometry
        .box_plaintext_len
        .checked_sub(BOX_HEADER_LEN)
        .filter(|c| *c > 0)
        .ok_or(CopyStreamError::GeometryTooSmall(
            geometry.box_plaintext_len,
        ))
}

/// The bytes one write request of a padded box of `geometry` takes in the stream.
pub fn request_len(geometry: Geometry) -> usize {
    4 + REQUEST_HEADER_LEN + PaddedGeometry::new(geometry).payload_len()
}

/// How many temporary boxes [`encode`] makes for `boxes` writes of padded boxes of `geometry`,
/// without sealing anything.
pub fn box_count(boxes: usize, geometry: Geometry) -> Result<usize, CopyStreamError> {
    let bytes = boxes.saturating_mul(request_len(geometry));
    Ok(bytes.div_ceil(capacity(geometry)?).max(1))
}

/// Encodes `writes` into the plaintexts of consecutive temporary boxes for `geometry`.
pub fn encode(writes: &[SealedBox], geometry: Geometry) -> Result<Vec<Vec<u8>>, CopyStreamError> {
    let capacity = capacity(geometry)?;
    let mut stream = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        let len = u32::try_from(REQUEST_HEADER_LEN + w.payload.len())
            .map_err(|_| CopyStreamError::MalformedRequest(i))?;
        stream.extend_from_slice(&len.to_be_bytes());
        stream.extend_from_slice(w.box_id.as_bytes());
        stream.extend_from_slice(w.signature.as_bytes());
        stream.extend_from_slice(&w.payload);
    }
    let chunks: Vec<&[u8]> = if stream.is_empty() {
        vec![&[][..]]
    } else {
        stream.chunks(capacity).collect()
    };
    let last = chunks.len() - 1;
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut flags = 0;
            if i == 0 {
                flags |= FLAG_FIRST;
            }
            if i == last {
                flags |= FLAG_LAST;
            }
            let mut b = Vec::with_capacity(BOX_HEADER_LEN + chunk.len());
            b.push(flags);
            b.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            b.extend_from_slice(chunk);
            b
        })
        .collect())
}

/// Reassembles a copy stream box by box.
#[derive(Debug, Default)]
pub struct Decoder {
    boxes: usize,
    data: Vec<u8>,
    done: bool,
}

impl Decoder {
    /// A decoder expecting the first box.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the last box has been pushed.
    pub fn is_complete(&self) -> bool {
        self.done
    }

    /// Feeds the plaintext of the next temporary box. Returns whether it was the last one.
    pub fn push(&mut self, plaintext: &[u8]) -> Result<bool, CopyStreamError> {
        let n = self.boxes;
        if self.done {
            return Err(CopyStreamError::MisplacedFirst(n));
        }
        if plaintext.len() < BOX_HEADER_LEN {
            return Err(CopyStreamError::Truncated(n));
        }
        let flags = plaintext[0];
        if flags & !(FLAG_FIRST | FLAG_LAST) != 0 {
            return Err(CopyStreamError::UnknownFlags(n, flags));
        }
        if (flags & FLAG_FIRST != 0) != (n == 0) {
            return Err(CopyStreamError::MisplacedFirst(n));
        }
        let len = u32::from_be_bytes(plaintext[1..5].try_into().expect("4 bytes")) as usize;
        let data = plaintext[BOX_HEADER_LEN..]
            .get(..len)
            .ok_or(CopyStreamError::Truncated(n))?;
        self.data.extend_from_slice(data);
        self.boxes += 1;
        self.done = flags & FLAG_LAST != 0;
        Ok(self.done)
    }

    /// Splits the reassembled stream into its write requests.
    pub fn finish(self) -> Result<Vec<SealedBox>, CopyStreamError> {
        if !self.done {
            return Err(CopyStreamError::MissingLast);
        }
        let mut rest = &self.data[..];
        let mut writes = Vec::new();
        while !rest.is_empty() {
            let i = writes.len();
            let bad = CopyStreamError::MalformedRequest(i);
            let len_bytes = rest.get(..4).ok_or(bad.clone())?;
            let len = u32::from_be_bytes(len_bytes.try_into().expect("4 bytes")) as usize;
            let body = rest
                .get(4..4 + len)
                .filter(|b| b.len() >= REQUEST_HEADER_LEN)
                .ok_or(bad)?;
            writes.push(SealedBox {
                box_id: BoxId::from_slice(&body[..BOX_ID_LEN]).expect("32 bytes"),
                signature: Signature::from_slice(&body[BOX_ID_LEN..REQUEST_HEADER_LEN])
                    .expect("64 bytes"),
                payload: body[REQUEST_HEADER_LEN..].to_vec(),
            });
            rest = &rest[4 + len..];
        }
        Ok(writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(n: u8, len: usize) -> SealedBox {
        SealedBox {
            box_id: BoxId::from_array([n; 32]),
            signature: Signature::from_array([n; 64]),
            payload: vec![n; len],
        }
    }

    fn decode(boxes: &[Vec<u8>]) -> Result<Vec<SealedBox>, CopyStreamError> {
        let mut d = Decoder::new();
        for b in boxes {
            d.push(b)?;
        }
        d.finish()
    }

    #[test]
    fn round_trips_across_box_boundaries() {
        let g = Geometry::new(64);
        for count in 0..5u8 {
            let writes: Vec<_> = (0..count).map(|i| write(i, 37 * i as usize)).collect();
            let boxes = encode(&writes, g).unwrap();
            assert!(boxes.iter().all(|b| b.len() <= 64));
            assert_eq!(boxes[0][0] & FLAG_FIRST, FLAG_FIRST);
            assert_eq!(boxes.last().unwrap()[0] & FLAG_LAST, FLAG_LAST);
            assert_eq!(decode(&boxes).unwrap(), writes);
        }
    }

    #[test]
    fn box_count_knows_how_many_boxes_padded_writes_take() {
        let g = Geometry::KATZENPOST;
        assert_eq!(request_len(g), 1676);
        for n in [0usize, 1, 2, 15, 16, 17, 100] {
            let writes: Vec<_> = (0..n).map(|i| write(i as u8, 1576)).collect();
            let boxes = encode(&writes, g).unwrap();
            assert!(boxes.iter().all(|b| b.len() <= 1556));
            assert_eq!(box_count(n, g).unwrap(), boxes.len(), "{n} writes");
        }
    }

    #[test]
    fn malformed_streams_are_errors() {
        let g = Geometry::new(64);
        let boxes = encode(&[write(1, 100), write(2, 3)], g).unwrap();
        assert!(boxes.len() > 2);
        assert_eq!(
            decode(&boxes[..boxes.len() - 1]).unwrap_err(),
            CopyStreamError::MissingLast
        );
        assert_eq!(
            decode(&boxes[1..]).unwrap_err(),
            CopyStreamError::MisplacedFirst(0)
        );
        let mut truncated = boxes.clone();
        truncated[1].truncate(10);
        assert_eq!(
            decode(&truncated).unwrap_err(),
            CopyStreamError::Truncated(1)
        );
        assert_eq!(
            decode(&[vec![3, 0, 0]]).unwrap_err(),
            CopyStreamError::Truncated(0)
        );
        assert_eq!(
            decode(&[vec![0x83, 0, 0, 0, 0]]).unwrap_err(),
            CopyStreamError::UnknownFlags(0, 0x83)
        );
        // A request claiming more bytes than the stream holds.
        assert_eq!(
            decode(&[vec![3, 0, 0, 0, 4, 0, 0, 1, 0]]).unwrap_err(),
            CopyStreamError::MalformedRequest(0)
        );
        // A request shorter than a box ID and signature.
        assert_eq!(
            decode(&[vec![3, 0, 0, 0, 5, 0, 0, 0, 1, 9]]).unwrap_err(),
            CopyStreamError::MalformedRequest(0)
        );
        assert_eq!(
            encode(&[], Geometry::new(5)).unwrap_err(),
            CopyStreamError::GeometryTooSmall(5)
        );
    }
}
