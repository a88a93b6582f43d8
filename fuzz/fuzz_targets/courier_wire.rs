//! Fuzz target `courier_wire`: see `decoders::courier_wire`.

#![no_main]

#[path = "../decoders.rs"]
#[allow(dead_code)]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::courier_wire(data));
