#![no_main]
//! Image bundles' `image.toml`: no input panics; what is accepted passes the checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::image_toml(data));
