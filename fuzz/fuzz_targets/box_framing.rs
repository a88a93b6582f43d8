//! Fuzz target `box_framing`: see `decoders::box_framing`.

#![no_main]

#[path = "../decoders.rs"]
#[allow(dead_code)]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::box_framing(data));
