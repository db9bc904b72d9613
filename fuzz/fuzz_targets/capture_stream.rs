#![no_main]
//! Capture stream messages: no input panics; decode → emit is the identity.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::capture_stream(data));
