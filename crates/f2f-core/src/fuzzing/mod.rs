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
//! spanning-tree operation sequences), [`dhcp`] (DHCP packet sequences),
//! [`link`] (link records, the link session over a fuzzed wire), [`room`] (room messages,
//! master and member machines in one MUC), [`vm`] (image bundles' `image.toml`), [`provision`] (image transfer messages).

mod config;
mod dhcp;
mod link;
mod provision;
mod room;
mod stp;
mod switch;
mod vm;
mod wire;

pub use self::config::config;
pub use self::dhcp::dhcp_server;
pub use self::link::{link_records, link_session};
pub use self::provision::image_transfer;
pub use self::room::{room_machine, room_message};
pub use self::stp::{bpdu, stp_ops};
pub use self::switch::{console_lines, switch_ops};
pub use self::vm::image_toml;
pub use self::wire::{capture_stream, offloaded_frame, stream_decode, vde_request, xmpp_frames};

/// xorshift64*: deterministic bytes without a dependency, for unit tests that
/// replay pseudo-random runs through the entry points.
#[cfg(test)]
fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
