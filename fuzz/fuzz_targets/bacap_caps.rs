//! Fuzz target `bacap_caps`: see `decoders::bacap_caps`.

#![no_main]

#[path = "../decoders.rs"]
#[allow(dead_code)]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::bacap_caps(data));
