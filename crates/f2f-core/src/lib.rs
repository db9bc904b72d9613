//! # f2f-core: the sans-IO heart of f2f-overlay
//!
//! Everything here is pure computation over bytes and time handed in by the
//! caller: wire formats, the learning switch, the management console. There
//! are no sockets, no files, no clock and no OS randomness in this crate (its
//! `clippy.toml` forbids them); the `f2f-overlay` shell does the I/O and feeds
//! the results in.
//!
//! Modules:
//! - [`time`]: the [`time::Instant`] the shell passes in.
//! - [`mac`]: Ethernet addresses.
//! - [`wire`]: byte formats (VDE control records, stream framing, BPDUs).
//! - [`stp`]: vde_switch's fast spanning tree, per VLAN.
//! - `sim` (tests, feature `sim`): switches on an in-memory network.
//! - [`fdb`]: the MAC table.
//! - [`switch`]: ports and the forwarding decision.
//! - [`console`]: vde_switch's management console command set.
//! - [`status`]: the switch's state as one document (`status`, `status --json`).
//! - [`capture`]: pcap files and the capture stream of `port/capture`.
//! - [`config`]: the `--config` TOML file's schema and validation.
//! - [`dhcp`]: the DHCP server attached to the switch as an internal port.
//! - [`link`]: the encrypted session of a switch-to-switch TCP link.
//! - [`room`]: the room protocol of `join` (master, grants, wiring).
//! - [`vm`]: `f2f-overlay vm`'s image bundles, accelerator choice and qemu
//!   command line.
//! - `fuzzing` (only with `cfg(fuzzing)` or the `fuzzing` feature): entry
//!   points for the targets in `fuzz/`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod capture;
pub mod config;
pub mod console;
pub mod dhcp;
pub mod fdb;
#[cfg(any(fuzzing, feature = "fuzzing"))]
pub mod fuzzing;
pub mod hex;
pub mod link;
pub mod mac;
pub mod provision;
pub mod room;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod status;
pub mod stp;
pub mod switch;
pub mod time;
pub mod vm;
pub mod wire;
