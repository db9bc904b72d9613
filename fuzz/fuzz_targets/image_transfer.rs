#![no_main]
//! Image transfer messages: no input panics; a download completes only with the offered hash.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::image_transfer(data));
