#![no_main]
//! DHCP server: arbitrary packet sequences and restarts keep its address table consistent.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::dhcp_server(data));
