//! A [`Transport`](pigeonhole::transport::Transport) over Katzenpost: it speaks the
//! thin-client protocol of Katzenpost's client daemon, kpclientd v0.0.70 (4-byte big-endian
//! length, then one CBOR map, over TCP or a Unix socket), and the daemon does the BACAP and the
//! courier cryptography.
//!
//! Written from the protocol's description in `docs/katzenpost.md` and the frames seen between
//! a thin client and the daemon on a local mixnet, not from Katzenpost's thin-client libraries.
//!
//! - [`wire`]: the frames, requests and responses; [`cbor`] the CBOR they need;
//! - [`pki`]: the courier's address, from the daemon's PKI document;
//! - [`config`]: the box geometry (the daemon does not announce it) and the daemon's address,
//!   from its configuration file;
//! - [`connection`]: one connection, its reader and writer tasks;
//! - [`KatzenpostTransport`]: the seam, with what v0.0.70 cannot do (no tombstones, no copy
//!   command: all-or-nothing writes become ordered writes).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cbor;
pub mod config;
pub mod connection;
pub mod pki;
mod transport;
pub mod wire;

pub use config::{DaemonAddr, DaemonConfig, DEFAULT_BOX_PLAINTEXT_LEN, DEFAULT_DAEMON_ADDR};
pub use transport::{BoxHook, KatzenpostTransport, Options, DAEMON_CONTEXT};
