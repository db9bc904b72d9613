#![no_main]
//! Switch operation sequences: frames, attaches, VLANs and console commands keep the forwarding invariants.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::switch_ops(data));
