#![no_main]
//! `--config` TOML: no input panics; accepted files round-trip through TOML.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::config(data));
