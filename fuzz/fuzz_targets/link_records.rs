#![no_main]
//! Link records cut in chunks agree with a one-shot walk; messages parse or name an overrun.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::link_records(data));
