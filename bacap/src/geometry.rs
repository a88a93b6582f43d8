//! Box geometry: how much plaintext one box carries. Every size in the stack derives from it.

/// The sizes of boxes, from one value: the plaintext a box carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Plaintext bytes per box (Katzenpost's limit, as katzenqt assumes it, is 1556).
    pub box_plaintext_len: usize,
}

impl Geometry {
    /// Katzenpost's box geometry: 1556 bytes of plaintext.
    pub const KATZENPOST: Geometry = Geometry {
        box_plaintext_len: 1556,
    };

    /// A geometry with `box_plaintext_len` bytes of plaintext per box.
    pub const fn new(box_plaintext_len: usize) -> Self {
        Self { box_plaintext_len }
    }

    /// The largest stored payload: plaintext plus the AEAD tag.
    pub const fn box_payload_len(&self) -> usize {
        self.box_plaintext_len + crate::aead::TAG_LEN
    }
}

impl Default for Geometry {
    fn default() -> Self {
        Self::KATZENPOST
    }
}
