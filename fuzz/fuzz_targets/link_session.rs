#![no_main]
//! Two link sessions over a fuzzed wire: only frames that were sent arrive, in order, once up.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    f2f_core::fuzzing::link_session(data);
});
