#![no_main]
//! Length-prefixed stream decoding in chunks agrees with a one-shot walk.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::stream_decode(data));
