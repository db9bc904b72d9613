//! Entry points for the fuzz targets in `fuzz/` (compiled only with
//! `cfg(fuzzing)` or the `fuzzing` feature).
//!
//! Each function takes the fuzzer's bytes, drives one decoder, and panics when
//! an invariant breaks; a panic is what the fuzzer reports as a crash. The
//! targets themselves are three lines that call in here, so every invariant is
//! written once, next to the code it checks, and a crash found by the fuzzer
//! can be replayed as a unit test by calling the same function.
//!
//! One submodule per area: [`wire`] (VDE records, stream framing),
//! [`switch`] (console lines, switch operation sequences), [`config`] (the
//! `--config` file), the capture stream in [`wire`], [`stp`] (BPDUs,
//! spanning-tree operation sequences), [`dhcp`] (DHCP packet sequences).

mod config;
mod dhcp;
mod stp;
mod switch;
mod wire;

pub use self::config::config;
pub use self::dhcp::dhcp_server;
pub use self::stp::{bpdu, stp_ops};
pub use self::switch::{console_lines, switch_ops};
pub use self::wire::{capture_stream, offloaded_frame, stream_decode, vde_request};
