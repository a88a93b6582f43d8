//! Fuzz target `stored_records`: see `decoders::stored_records`.

#![no_main]

#[path = "../decoders.rs"]
#[allow(dead_code)]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::stored_records(data));
