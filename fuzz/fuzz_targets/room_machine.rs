#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::room_machine(data));
