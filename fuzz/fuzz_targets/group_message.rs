//! Fuzz target `group_message`: see `decoders::group_message`.

#![no_main]

#[path = "../decoders.rs"]
#[allow(dead_code)]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::group_message(data));
