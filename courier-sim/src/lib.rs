//! A local stand-in for Katzenpost's Pigeonhole couriers and storage replicas.
//!
//! This crate is being built; see `bacap::verify` for the signature check every write gets.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
