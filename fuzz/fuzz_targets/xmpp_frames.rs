#![no_main]
//! XMPP frame elements decode without panic and round-trip; batches fit a stanza.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::xmpp_frames(data));
