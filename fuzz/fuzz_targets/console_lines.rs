#![no_main]
//! Management console lines: no line panics; every reply is framed as vde_switch frames it.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::console_lines(data));
