#![no_main]
//! BPDUs: whatever parses emits bytes that parse to the same BPDU; the checked view never panics.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::bpdu(data));
