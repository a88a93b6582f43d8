//! BACAP streams: SingleMessage and AllOrNothingMessage over any [`crate::store::BoxStore`].
//!
//! A stream carries messages framed as katzenqt frames them ([`framing`]): a message that fits
//! one box (`1 + len <= box_plaintext_len` of the [`crate::Geometry`]) is one `F` box in the
//! sender's stream ([`SingleMessage`]); a longer one is cut into slices of
//! `box_plaintext_len - 1` bytes written as `C`...`F` boxes to a fresh substream, and the
//! sender's stream gets one `I` box with the substream's ReadCap, all in one
//! [`AllOrNothingPlan`], so a reader sees the pointer only once every slice exists.
//!
//! Substreams use the BACAP context of the stream that points at them: a reader needs nothing
//! but the pointer to follow it, and the substream's fresh WriteCap already separates its
//! boxes from every other stream's.
//!
//! [`StreamWriter`] sends and keeps its writer's state in step; [`Outgoing`] is a prepared send
//! that can be persisted and resumed; [`StreamReader`] yields whole messages.

mod all_or_nothing;
mod codec;
mod error;
pub mod framing;
mod limits;
mod reader;
mod writer;

pub use all_or_nothing::{AllOrNothingPlan, CopyOptions, StreamWrite};
pub use error::{PeerFault, StreamError};
pub use framing::{Frame, Framed, FramingError};
pub use limits::Limits;
pub use reader::{Polled, StreamReader};
pub use writer::{Outgoing, SingleMessage, StreamWriter};
