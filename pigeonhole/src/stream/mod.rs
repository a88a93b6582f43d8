//! BACAP streams: SingleMessage and AllOrNothingMessage over any [`Transport`](crate::transport::Transport).
//!
//! A stream carries messages framed as katzenqt frames them ([`framing`]): a message that fits
//! one box (`1 + len <= box_plaintext_len` of the [`bacap::Geometry`]) is one `F` box in the
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
//!
//! ```
//! use bacap::{Geometry, StatefulWriter, WriteCap};
//! use pigeonhole::store::MemoryStore;
//! use pigeonhole::stream::{StreamReader, StreamWriter};
//! use pigeonhole::transport::Sealing;
//! use rand_core::OsRng;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Sealing::new(MemoryStore::new(Geometry::default()));
//! let cap = WriteCap::generate(&mut OsRng);
//! let mut reader = StreamReader::new(cap.read_cap(), b"my-app");
//! let mut writer = StreamWriter::new(StatefulWriter::new(cap, b"my-app"), Geometry::default());
//!
//! writer.send(&store, &mut OsRng, b"short").await?;
//! writer.send(&store, &mut OsRng, &vec![7u8; 100_000]).await?; // a substream chain
//!
//! assert_eq!(reader.poll(&store).await?.as_deref().map(|m| &m[..]), Some(&b"short"[..]));
//! assert_eq!(reader.poll(&store).await?.map(|m| m.len()), Some(100_000));
//! assert_eq!(reader.poll(&store).await?, None); // nothing new yet
//! # Ok::<(), pigeonhole::stream::StreamError>(())
//! # }).unwrap();
//! ```

mod all_or_nothing;
mod codec;
mod error;
pub mod framing;
mod limits;
mod reader;
mod writer;

pub use all_or_nothing::{AllOrNothingPlan, StreamWrite};
pub use error::{PeerFault, StreamError};
pub use framing::{Frame, Framed, FramingError};
pub use limits::Limits;
pub use reader::{Polled, StreamReader};
pub use writer::{Outgoing, SingleMessage, StreamWriter};
