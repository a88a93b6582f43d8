//! The limits a stream applies to messages, with safe defaults.

/// Bounds on one message. Readers drop a peer's message that breaks them; writers refuse to
/// send one (a reader with the same limits would drop it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// The largest message, in bytes (the concatenated payload a reader yields at once).
    pub max_message_len: usize,
    /// The most boxes in one substream chain.
    pub max_chain_boxes: usize,
}

impl Limits {
    /// 16 MiB per message.
    pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 << 20;
    /// 16384 boxes per chain: 16 MiB of 1556-byte boxes needs 10790.
    pub const DEFAULT_MAX_CHAIN_BOXES: usize = 16 << 10;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_len: Self::DEFAULT_MAX_MESSAGE_LEN,
            max_chain_boxes: Self::DEFAULT_MAX_CHAIN_BOXES,
        }
    }
}
