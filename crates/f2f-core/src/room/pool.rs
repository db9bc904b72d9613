//! The master's room-wide MAC pool and its grants.
//!
//! Addresses are `52:54:P0:P1:I0:I1`: locally administered (bit 1 of the
//! first byte) unicast, a two-byte prefix `P0:P1` derived from a seed the
//! shell injects (never `00`, so no clash with qemu's default `52:54:00:…`),
//! and a 16-bit index counting up from 1. An index is never handed out twice,
//! so addresses are unique in the room for the pool's whole life, restarts
//! included: the pool is saved and restored as a [`GrantSnapshot`].
//!
//! Grants are keyed by member identity (see the [room](super) docs); asking
//! again with the same identity returns the same addresses. The table holds
//! at most [`MAX_GRANTS`] identities and refuses new ones when full (old
//! grants are never evicted: a member returning must get its addresses back).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mac::MacAddr;

/// The snapshot format version written by this code.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Most identities the pool remembers.
pub const MAX_GRANTS: usize = 4096;

/// The largest index (the last two bytes of an address).
const MAX_INDEX: u32 = 0xffff;

/// The grants file's contents (`rooms/ROOM/grants.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSnapshot {
    /// [`SNAPSHOT_VERSION`] when written.
    pub version: u32,
    /// The pool's first four bytes, `52:54:P0:P1`.
    pub prefix: String,
    /// The next index to hand out.
    pub next: u32,
    /// Every grant, by member.
    pub grants: Vec<GrantRecord>,
}

/// One member's grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRecord {
    /// Whom: the real bare JID, or `nick:NICK`.
    pub member: String,
    /// Its addresses, in the order granted.
    pub macs: Vec<MacAddr>,
}

/// Why the pool refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every index is used.
    #[error("MAC pool exhausted: all {MAX_INDEX} addresses of prefix {prefix} are granted")]
    Exhausted {
        /// The pool's prefix.
        prefix: String,
    },
    /// [`MAX_GRANTS`] identities already hold grants.
    #[error("grant table full: {MAX_GRANTS} members already hold grants")]
    Full,
    /// A snapshot that cannot be restored.
    #[error("grants snapshot refused: {reason}")]
    BadSnapshot {
        /// What is wrong with it.
        reason: String,
    },
}

/// The pool: prefix, next index, grants by member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacPool {
    prefix: [u8; 2],
    next: u32,
    grants: BTreeMap<String, Vec<MacAddr>>,
}

impl MacPool {
    /// An empty pool whose prefix derives from `seed`.
    pub fn new(seed: u64) -> MacPool {
        let mixed = splitmix64(seed).to_be_bytes();
        let first = if mixed[0] == 0 { 1 } else { mixed[0] };
        MacPool {
            prefix: [first, mixed[1]],
            next: 1,
            grants: BTreeMap::new(),
        }
    }

    /// The pool stored in `snapshot`; refused (naming the fault) when the
    /// version, prefix or a record is wrong, or an address appears twice.
    pub fn restore(snapshot: &GrantSnapshot) -> Result<MacPool, PoolError> {
        let bad = |reason: String| PoolError::BadSnapshot { reason };
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(bad(format!(
                "version {} (this build writes {SNAPSHOT_VERSION})",
                snapshot.version
            )));
        }
        let prefix = parse_prefix(&snapshot.prefix)
            .ok_or_else(|| bad(format!("prefix {:?} is not 52:54:XX:XX", snapshot.prefix)))?;
        if snapshot.grants.len() > MAX_GRANTS {
            return Err(bad(format!("more than {MAX_GRANTS} grants")));
        }
        let mut pool = MacPool {
            prefix,
            next: snapshot.next.max(1),
            grants: BTreeMap::new(),
        };
        let mut seen = std::collections::BTreeSet::new();
        for record in &snapshot.grants {
            if record.macs.is_empty() || record.macs.len() > super::message::MAX_MACS {
                return Err(bad(format!(
                    "{} has {} MACs",
                    record.member,
                    record.macs.len()
                )));
            }
            for mac in &record.macs {
                if mac.is_multicast() || !seen.insert(*mac) {
                    return Err(bad(format!("{mac} is a group address or granted twice")));
                }
                if let Some(index) = pool.index_of(*mac) {
                    pool.next = pool.next.max(index + 1);
                }
            }
            if pool
                .grants
                .insert(record.member.clone(), record.macs.clone())
                .is_some()
            {
                return Err(bad(format!("{} appears twice", record.member)));
            }
        }
        Ok(pool)
    }

    /// The grant of `member`: the addresses it already holds, or `count` new
    /// ones. The flag is true when the grant is new (the snapshot changed).
    pub fn grant(&mut self, member: &str, count: u8) -> Result<(Vec<MacAddr>, bool), PoolError> {
        if let Some(macs) = self.grants.get(member) {
            return Ok((macs.clone(), false));
        }
        if self.grants.len() >= MAX_GRANTS {
            return Err(PoolError::Full);
        }
        let count = u32::from(count.max(1));
        if self.next.saturating_add(count) > MAX_INDEX + 1 {
            return Err(PoolError::Exhausted {
                prefix: self.prefix_text(),
            });
        }
        let macs: Vec<MacAddr> = (self.next..self.next + count)
            .map(|i| self.mac(i))
            .collect();
        self.next += count;
        self.grants.insert(member.to_string(), macs.clone());
        Ok((macs, true))
    }

    /// The addresses `member` holds, if any.
    pub fn get(&self, member: &str) -> Option<&[MacAddr]> {
        self.grants.get(member).map(Vec::as_slice)
    }

    /// Every grant, by member.
    pub fn grants(&self) -> impl Iterator<Item = (&str, &[MacAddr])> {
        self.grants.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The pool as the grants file stores it.
    pub fn snapshot(&self) -> GrantSnapshot {
        GrantSnapshot {
            version: SNAPSHOT_VERSION,
            prefix: self.prefix_text(),
            next: self.next,
            grants: self
                .grants
                .iter()
                .map(|(member, macs)| GrantRecord {
                    member: member.clone(),
                    macs: macs.clone(),
                })
                .collect(),
        }
    }

    fn mac(&self, index: u32) -> MacAddr {
        let [_, _, hi, lo] = index.to_be_bytes();
        MacAddr([0x52, 0x54, self.prefix[0], self.prefix[1], hi, lo])
    }

    /// The index of `mac` when it is in this pool's prefix.
    fn index_of(&self, mac: MacAddr) -> Option<u32> {
        let [a, b, p0, p1, hi, lo] = mac.octets();
        ([a, b, p0, p1] == [0x52, 0x54, self.prefix[0], self.prefix[1]])
            .then(|| u32::from(u16::from_be_bytes([hi, lo])))
    }

    fn prefix_text(&self) -> String {
        format!("52:54:{:02x}:{:02x}", self.prefix[0], self.prefix[1])
    }
}

/// `52:54:XX:XX` → `[XX, XX]`.
fn parse_prefix(text: &str) -> Option<[u8; 2]> {
    let mac: MacAddr = format!("{text}:00:00").parse().ok()?;
    let [a, b, p0, p1, _, _] = mac.octets();
    ([a, b] == [0x52, 0x54]).then_some([p0, p1])
}

/// SplitMix64's output function: spreads any seed over all 64 bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unique_local_unicast_and_restored() {
        let mut pool = MacPool::new(7);
        let (a, new_a) = pool.grant("alice@h", 4).unwrap();
        let (b, _) = pool.grant("bob@h", 4).unwrap();
        assert!(new_a);
        assert_eq!(a.len(), 4);
        let mut all: Vec<MacAddr> = a.iter().chain(&b).copied().collect();
        for m in &all {
            assert!(!m.is_multicast());
            assert_eq!(m.octets()[0] & 0x02, 0x02, "locally administered");
            assert_ne!(m.octets()[2], 0, "not qemu's default prefix");
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 8);
        assert_eq!(pool.grant("alice@h", 4).unwrap(), (a.clone(), false));

        let json = serde_json::to_string(&pool.snapshot()).unwrap();
        let back: GrantSnapshot = serde_json::from_str(&json).unwrap();
        let mut restored = MacPool::restore(&back).unwrap();
        assert_eq!(restored, pool);
        let (c, _) = restored.grant("carol@h", 1).unwrap();
        assert!(!a.contains(&c[0]) && !b.contains(&c[0]));
    }

    #[test]
    fn same_seed_same_prefix_and_bad_snapshots_refused() {
        assert_eq!(MacPool::new(1).snapshot(), MacPool::new(1).snapshot());
        let mut snap = MacPool::new(1).snapshot();
        snap.grants = vec![
            GrantRecord {
                member: "a".into(),
                macs: vec!["52:54:01:01:00:01".parse().unwrap()],
            },
            GrantRecord {
                member: "b".into(),
                macs: vec!["52:54:01:01:00:01".parse().unwrap()],
            },
        ];
        assert!(matches!(
            MacPool::restore(&snap),
            Err(PoolError::BadSnapshot { .. })
        ));
        snap.prefix = "00:11:22:33".into();
        assert!(MacPool::restore(&snap).is_err());
    }

    #[test]
    fn exhaustion_is_refused() {
        let mut pool = MacPool::new(3);
        pool.next = MAX_INDEX;
        assert!(pool.grant("a", 1).is_ok());
        assert!(matches!(
            pool.grant("b", 1),
            Err(PoolError::Exhausted { .. })
        ));
    }
}
