//! Storage as a BACAP client meets it, after Katzenpost's Pigeonhole: write-once signed boxes
//! on couriers and replicas, and the streams a chat writes into them.
//!
//! Three floors, each on the one below, and the padding under them all:
//!
//! - [`padding`]: every box plaintext is padded to one size before BACAP encryption, so storage
//!   sees one payload size (besides tombstones); [`padding::PaddedGeometry`] has the sizes.
//! - [`store`]: sealed boxes. The [`store::BoxStore`] trait (what a courier offers: write,
//!   batch read, the copy command), its outcomes and reply codes, the storage rules every store
//!   applies, and [`store::MemoryStore`]. [`copystream`] is the format a copy command reads.
//! - [`transport`]: the seam a client writes and reads through, in plaintexts at stream
//!   positions. Whoever implements [`transport::Transport`] does the BACAP: [`transport::Sealing`]
//!   does it here over any box store; a Katzenpost client daemon does it itself.
//! - [`stream`]: messages. Framing (`F`, `C`, `I`), SingleMessage, AllOrNothing plans that can be
//!   persisted and resumed, and a reader that yields whole messages, all over a transport.
//!
//! Beside them, [`cbor`] says what is wrong with CBOR that does not decode, for every crate
//! above that decodes CBOR from outside.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cbor;
pub mod copystream;
pub mod padding;
pub mod store;
pub mod stream;
pub mod transport;
