//! Fuzz target: `control::api::fuzzing::decode_body` (see that function for how the bytes are read).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| control::api::fuzzing::decode_body(data));
