//! The courier protocol, shared by the courier simulator and its clients: the CBOR-over-HTTP
//! wire codec ([`wire`]) and an HTTP client that is a [`pigeonhole::store::BoxStore`]
//! ([`HttpStore`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod http;
pub mod wire;

pub use http::{is_loopback, ConnectError, HttpStore, RetryPolicy, Trust, MAX_REPLY_LEN};
