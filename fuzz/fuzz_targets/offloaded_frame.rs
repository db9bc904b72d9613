#![no_main]
//! Offloaded tap frames (virtio-net header + frame): checksum completion and TCP segmentation.
libfuzzer_sys::fuzz_target!(|data: &[u8]| f2f_core::fuzzing::offloaded_frame(data));
