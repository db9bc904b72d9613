#![no_main]
//! VDE control request/reply: parse → emit → parse is the identity.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::console_lines(data));
