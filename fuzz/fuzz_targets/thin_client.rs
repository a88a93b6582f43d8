//! Fuzz target `thin_client`: see `decoders::thin_client`.

#![no_main]

#[path = "../decoders.rs"]
#[allow(dead_code)]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::thin_client(data));
