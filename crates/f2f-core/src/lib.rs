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
//! - [`wire`]: byte formats (VDE control records, stream framing).
//! - [`fdb`]: the MAC table.
//! - [`switch`]: ports and the forwarding decision.
//! - [`console`]: vde_switch's management console command set.
//! - [`dhcp`]: the DHCP server attached to the switch as an internal port.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod dhcp;
#[cfg(any(fuzzing, feature = "fuzzing"))]
pub mod fuzzing;
pub mod mac;
pub mod time;
