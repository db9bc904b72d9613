//! The lease file's contents: what survives a restart of the switch.
//!
//! The core never touches the file; the shell writes [`LeaseSnapshot`] as JSON
//! atomically (temp file, fsync, rename) whenever
//! [`DhcpServer::take_dirty`](super::DhcpServer::take_dirty) says so, and hands
//! it back to [`DhcpServer::new`](super::DhcpServer::new) on start.
//!
//! [`Instant`](crate::time::Instant)s mean nothing across processes, so the
//! snapshot carries wall-clock times ([`UnixTime`]) that the shell reads from
//! the OS and passes in. Only leases and remembered addresses are kept;
//! offers and declines are transient.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::mac::MacAddr;

/// The snapshot format version written by this code.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Wall-clock time in whole seconds since the Unix epoch, read by the shell.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

/// Every lease and remembered address, as written to `leases.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseSnapshot {
    /// [`SNAPSHOT_VERSION`] when written.
    pub version: u32,
    /// When the snapshot was taken.
    pub saved_at: UnixTime,
    /// One record per address, in address order.
    pub leases: Vec<SnapshotLease>,
}

/// One address and the MAC it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotLease {
    /// The client's hardware address, `52:54:00:12:34:56`.
    #[serde(with = "mac_text")]
    pub mac: MacAddr,
    /// The address.
    pub ip: Ipv4Addr,
    /// When the lease ends; a time not after `saved_at` means the lease is
    /// over and the address is only remembered for this MAC.
    pub expires_at: UnixTime,
}

/// MACs as `aa:bb:cc:dd:ee:ff` text in the JSON.
mod mac_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::mac::MacAddr;

    pub fn serialize<S: Serializer>(mac: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(mac)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_readable_and_round_trips() {
        let snap = LeaseSnapshot {
            version: SNAPSHOT_VERSION,
            saved_at: UnixTime(1_700_000_000),
            leases: vec![SnapshotLease {
                mac: MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
                ip: Ipv4Addr::new(10, 0, 0, 2),
                expires_at: UnixTime(1_700_003_600),
            }],
        };
        let json = serde_json::to_string(&snap).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"saved_at":1700000000,"leases":[{"mac":"52:54:00:12:34:56","ip":"10.0.0.2","expires_at":1700003600}]}"#
        );
        assert_eq!(serde_json::from_str::<LeaseSnapshot>(&json).unwrap(), snap);
        let bad = json.replace("52:54:00:12:34:56", "52:54:00");
        assert!(serde_json::from_str::<LeaseSnapshot>(&bad).is_err());
    }
}
