//! Fuzz target `channel_message`: see `decoders::channel_message`.

#![no_main]

#[path = "../decoders.rs"]
#[allow(dead_code)]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::channel_message(data));
