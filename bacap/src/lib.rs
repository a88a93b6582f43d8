//! BACAP, the Blinding-and-Capability scheme of Katzenpost's Pigeonhole storage, byte-compatible
//! with the Go reference (`katzenpost/hpqc` package `bacap`).
//!
//! From one [`WriteCap`] a writer derives an endless sequence of unlinkable boxes: each
//! [`MessageBoxIndex`] yields, for a context string, a box ID (a blinded Ed25519 public key), an
//! AES-256-GCM-SIV key and a blinded signing scalar. Whoever holds the [`ReadCap`] can derive the
//! box IDs and decrypt; storage can verify each box's signature under its ID and nothing more.
//!
//! ```
//! use bacap::{StatefulReader, StatefulWriter, WriteCap};
//! use rand_core::OsRng;
//!
//! let cap = WriteCap::generate(&mut OsRng);
//! let mut writer = StatefulWriter::new(cap.clone(), b"my-app");
//! let mut reader = StatefulReader::new(cap.read_cap(), b"my-app");
//!
//! let sealed = writer.prepare_next(b"hello");
//! sealed.verify().expect("storage accepts it");
//! writer.advance().unwrap(); // once storage acknowledged the write
//!
//! assert_eq!(reader.next_box_id(), sealed.box_id);
//! let opened = reader.decrypt_next(&sealed.signature, &sealed.payload).unwrap();
//! assert_eq!(opened.plaintext(), b"hello");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aead;
mod blinding;
mod boxes;
mod caps;
mod error;
mod geometry;
mod index;
mod kdf;
mod stateful;

pub use blinding::{verify, verify_many};
pub use boxes::{BoxId, Opened, SealedBox, Signature, BOX_ID_LEN, SIGNATURE_LEN};
pub use caps::{ReadCap, WriteCap, READ_CAP_LEN, TABLE_AFTER_DERIVATIONS, WRITE_CAP_LEN};
pub use error::{Error, Result};
pub use geometry::Geometry;
pub use index::{MessageBoxIndex, MESSAGE_BOX_INDEX_LEN};
pub use stateful::{StatefulReader, StatefulWriter};
