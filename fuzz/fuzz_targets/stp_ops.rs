#![no_main]
//! Fast spanning tree: arbitrary operation sequences keep the port roles and states consistent.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::stp_ops(data));
