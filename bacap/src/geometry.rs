//! Box geometry: how many message bytes one box carries. Every size in the stack derives from
//! it: a Pigeonhole client pads the message to a fixed size before sealing (`pigeonhole::padding`
//! adds those sizes: 1560 bytes of padded plaintext and 1576 of payload for Katzenpost's 1556).

/// The sizes of boxes, from one value: the message a box carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Message bytes per box, before padding (Katzenpost's limit, as katzenqt assumes it, is
    /// 1556): what framing fills.
    pub box_plaintext_len: usize,
}

impl Geometry {
    /// Katzenpost's box geometry: 1556 bytes of message.
    pub const KATZENPOST: Geometry = Geometry {
        box_plaintext_len: 1556,
    };

    /// A geometry with `box_plaintext_len` bytes of message per box.
    pub const fn new(box_plaintext_len: usize) -> Self {
        Self { box_plaintext_len }
    }
}

impl Default for Geometry {
    fn default() -> Self {
        Self::KATZENPOST
    }
}
