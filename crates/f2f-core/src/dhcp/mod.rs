//! # DHCP inside the switch
//!
//! A DHCPv4 server (RFC 2131, options per RFC 2132) that the switch attaches
//! as an internal port, so no VM image needs a DHCP server of its own. It sees
//! whole Ethernet frames and answers with whole Ethernet frames, like any
//! port; it also answers ARP and ping for its own address so clients can
//! check the path.
//!
//! - [`config`]: what is served, and the `--dhcp*` flag parsers.
//! - `pool`: the address table (offers, leases, remembered addresses,
//!   declines) and the allocation policy.
//! - [`server`]: the state machine ([`DhcpServer`]).
//! - `frame`: Ethernet/ARP/IPv4/UDP/ICMP/DHCP in and out, on smoltcp's wire types.
//! - [`snapshot`]: the lease file's contents.
//!
//! ## How the switch drives it
//! ```text
//! let mut dhcp = DhcpServer::new(config, snapshot.as_ref(), now, wall)?;
//! // a frame whose destination dhcp.wants(dst) (server MAC or broadcast):
//! dhcp.handle_frame(now, &frame);
//! while let Some(reply) = dhcp.poll_transmit() { /* switch it as if received on the DHCP port */ }
//! while let Some(event) = dhcp.poll_event() { /* log it */ }
//! // at dhcp.poll_timeout(): dhcp.handle_timeout(now);
//! if dhcp.take_dirty() { /* write dhcp.snapshot(now, wall) atomically */ }
//! ```
//!
//! Invariants: an address is never offered or leased to two MACs at once; a
//! MAC holds at most one address; everything is bounded by the pool and
//! fixed queue caps; no input panics. The module never does I/O and never
//! reads a clock.

pub mod config;
mod frame;
mod pool;
pub mod server;
pub mod snapshot;

#[cfg(any(test, feature = "sim", feature = "fuzzing"))]
pub mod client;

pub use config::{DhcpConfig, DhcpConfigError, DhcpParseError, IpRange, Ipv4Net, Reservation};
pub use frame::{IgnoreReason, Layer, MalformedFrame, CLIENT_PORT, SERVER_PORT};
pub use pool::{DECLINE_HOLD, MAX_OFFERS, OFFER_HOLD};
pub use server::{
    ActiveLease, DhcpCounters, DhcpEvent, DhcpServer, FrameOutcome, LeaseInfo, LeaseState,
    NakReason,
};
pub use snapshot::{LeaseSnapshot, SnapshotLease, UnixTime};

#[cfg(test)]
mod tests;
