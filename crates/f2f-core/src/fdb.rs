//! The forwarding database: which port a (VLAN, MAC) was last seen on.
//!
//! Invariants:
//! - at most `capacity` entries; learning a new address into a full table
//!   evicts the least recently seen entry first (approximately: a FIFO with a
//!   second chance for entries seen again since they were queued);
//! - entries not seen for `expire` are gone: lookups ignore them at once and
//!   [`Fdb::collect_garbage`] frees them;
//! - an address seen less than `min_persistence` ago on one port is not moved
//!   to another (vde_switch's `hash/setminper`), so a looped copy of a frame
//!   cannot steal an address from its real port;
//! - memory is bounded by the capacity, never by traffic: the eviction queue
//!   is compacted when stale records make it twice the size of the table;
//! - with a per-port limit (`--port-max-macs`, port security) no port holds
//!   more than `port_capacity` entries: a new address beyond it is refused
//!   ([`Learned::Refused`]) instead of evicting another port's addresses, so
//!   one port flooding random sources cannot push the others out of the
//!   table. Entries expired but not yet collected still count.
//!
//! Debug output (vde_switch's `hash/+` and `hash/-`): while a journal is on
//! ([`Fdb::set_journal`]) every new and every removed entry is recorded, at
//! most [`JOURNAL_LIMIT`] waiting, for the switch to drain
//! ([`Fdb::take_change`]). Off (the default), it costs one branch.
//!
//! The hasher state comes from the shell (a fixed hash invites hash flooding by
//! anyone who can pick source MACs), so this module never touches randomness.
//! The defaults are vde_switch's (`hash/showinfo`): expire 100 s, GC every 2 s,
//! minimum persistence 3 s.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use crate::mac::MacAddr;
use crate::switch::PortId;
use crate::time::{Duration, Instant};

/// vde_switch's default entry lifetime.
pub const DEFAULT_EXPIRE: Duration = Duration::from_secs(100);
/// vde_switch's default garbage-collection interval.
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(2);
/// vde_switch's default minimum persistence before an address may move.
pub const DEFAULT_MIN_PERSISTENCE: Duration = Duration::from_secs(3);
/// Our default capacity (`--max-macs`).
pub const DEFAULT_CAPACITY: usize = 65536;

/// A VLAN id, 0..=4095 (0 is the default untagged VLAN, as in vde_switch).
pub type Vlan = u16;

/// Most changes the journal holds; newer ones are dropped until drained.
pub const JOURNAL_LIMIT: usize = 1024;

/// An entry appearing or going, as recorded by the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new entry (not a refresh, not a move).
    Added(Key, PortId),
    /// An entry removed: expired, flushed, evicted or cleared.
    Removed(Key, PortId),
}

/// Which changes the journal records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Journal {
    added: bool,
    removed: bool,
    changes: VecDeque<Change>,
}

impl Journal {
    fn record(&mut self, change: Change) {
        let wanted = match change {
            Change::Added(..) => self.added,
            Change::Removed(..) => self.removed,
        };
        if wanted && self.changes.len() < JOURNAL_LIMIT {
            self.changes.push_back(change);
        }
    }
}

/// The table key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// VLAN the address was seen in.
    pub vlan: Vlan,
    /// The address.
    pub mac: MacAddr,
}

impl Key {
    /// VLAN and address in one word (two bytes and six: nothing overlaps,
    /// so equal words mean equal keys).
    fn word(&self) -> u64 {
        let [a, b, c, d, e, f] = self.mac.0;
        let [v0, v1] = self.vlan.to_be_bytes();
        u64::from_be_bytes([v0, v1, a, b, c, d, e, f])
    }
}

/// One word into the hasher instead of the derived VLAN, length prefix and
/// six bytes: a third of the hashing work of every learn and lookup.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.word());
    }
}

/// One learned address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Port it was last seen on.
    pub port: PortId,
    /// When it was last seen.
    pub last_seen: Instant,
    /// When it was first learned on this port.
    pub learned: Instant,
    /// Stamp of this entry's record in the eviction queue.
    queued: u64,
    /// `last_seen` when the entry was (re)queued for eviction.
    queued_at: Instant,
}

/// What learning a source address did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A new entry; `evicted` is the entry removed to make room, if any.
    New {
        /// The entry evicted because the table was full.
        evicted: Option<Key>,
    },
    /// Already known on this port; its age was reset.
    Refreshed,
    /// Moved from another port.
    Moved {
        /// The port it was on before.
        from: PortId,
    },
    /// Seen on another port too soon after its own port: left where it was.
    Kept {
        /// The port it stays on.
        on: PortId,
    },
    /// The port already holds its limit of addresses (`port_capacity`): not
    /// learned (nor moved there).
    Refused,
}

/// Timers and capacity of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbConfig {
    /// Most entries held.
    pub capacity: usize,
    /// Lifetime of an entry not seen again.
    pub expire: Duration,
    /// How often [`Fdb::collect_garbage`] should run (the shell's timer).
    pub gc_interval: Duration,
    /// An address is not moved to another port within this time of being seen.
    pub min_persistence: Duration,
    /// Most entries any one port may hold (port security); `None`: no limit
    /// but `capacity`.
    pub port_capacity: Option<usize>,
}

impl Default for FdbConfig {
    fn default() -> Self {
        FdbConfig {
            capacity: DEFAULT_CAPACITY,
            expire: DEFAULT_EXPIRE,
            gc_interval: DEFAULT_GC_INTERVAL,
            min_persistence: DEFAULT_MIN_PERSISTENCE,
            port_capacity: None,
        }
    }
}

/// The MAC table. See the module docs for its invariants.
#[derive(Debug)]
pub struct Fdb<S> {
    config: FdbConfig,
    map: HashMap<Key, Entry, S>,
    /// Eviction order: (key, queue stamp). A record is stale when the entry is
    /// gone or carries another stamp.
    order: VecDeque<(Key, u64)>,
    /// Entries held per port, indexed by port number (grown on demand).
    per_port: Vec<usize>,
    next_stamp: u64,
    hasher: S,
    journal: Journal,
}

impl<S: BuildHasher + Clone> Fdb<S> {
    /// An empty table whose hash is keyed by `hasher` (built by the shell).
    pub fn new(config: FdbConfig, hasher: S) -> Self {
        Fdb {
            config,
            map: HashMap::with_hasher(hasher.clone()),
            order: VecDeque::new(),
            per_port: Vec::new(),
            next_stamp: 0,
            hasher,
            journal: Journal::default(),
        }
    }

    /// Record new entries (`added`) and removed ones (`removed`) for
    /// [`Fdb::take_change`]; turning a kind off forgets what waits.
    pub fn set_journal(&mut self, added: bool, removed: bool) {
        self.journal.added = added;
        self.journal.removed = removed;
        if !added || !removed {
            self.journal.changes.retain(|c| match c {
                Change::Added(..) => added,
                Change::Removed(..) => removed,
            });
        }
    }

    /// The oldest recorded change not yet taken.
    pub fn take_change(&mut self) -> Option<Change> {
        self.journal.changes.pop_front()
    }

    /// Whether recorded changes wait.
    pub fn has_changes(&self) -> bool {
        !self.journal.changes.is_empty()
    }

    /// The table's configuration.
    pub fn config(&self) -> &FdbConfig {
        &self.config
    }

    /// Number of entries held (expired ones not yet collected included).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries held for `port` (expired ones not yet collected included).
    pub fn port_len(&self, port: PortId) -> usize {
        self.per_port.get(usize::from(port)).copied().unwrap_or(0)
    }

    /// The port `mac` in `vlan` was last seen on, unless expired.
    pub fn lookup(&self, now: Instant, vlan: Vlan, mac: MacAddr) -> Option<PortId> {
        let e = self.map.get(&Key { vlan, mac })?;
        (now.saturating_duration_since(e.last_seen) < self.config.expire).then_some(e.port)
    }

    /// The full entry for `mac` in `vlan`, unless expired.
    pub fn get(&self, now: Instant, vlan: Vlan, mac: MacAddr) -> Option<Entry> {
        let e = self.map.get(&Key { vlan, mac })?;
        (now.saturating_duration_since(e.last_seen) < self.config.expire).then_some(*e)
    }

    /// Record that `mac` was seen as a source on `port` in `vlan`.
    pub fn learn(&mut self, now: Instant, vlan: Vlan, mac: MacAddr, port: PortId) -> Learned {
        let key = Key { vlan, mac };
        let expire = self.config.expire;
        let min_persistence = self.config.min_persistence;
        if let Some(e) = self.map.get_mut(&key) {
            let age = now.saturating_duration_since(e.last_seen);
            if e.port == port {
                e.last_seen = now;
                return Learned::Refreshed;
            }
            if age < min_persistence && age < expire {
                return Learned::Kept { on: e.port };
            }
            if !has_room(&self.per_port, self.config.port_capacity, port) {
                return Learned::Refused;
            }
            let from = e.port;
            e.port = port;
            e.last_seen = now;
            e.learned = now;
            uncount(&mut self.per_port, from);
            count(&mut self.per_port, port);
            return Learned::Moved { from };
        }
        if !has_room(&self.per_port, self.config.port_capacity, port) {
            return Learned::Refused;
        }
        let evicted = if self.map.len() >= self.config.capacity {
            self.evict_one()
        } else {
            None
        };
        if self.config.capacity == 0 {
            return Learned::New { evicted };
        }
        let stamp = self.stamp();
        self.map.insert(
            key,
            Entry {
                port,
                last_seen: now,
                learned: now,
                queued: stamp,
                queued_at: now,
            },
        );
        self.order.push_back((key, stamp));
        count(&mut self.per_port, port);
        self.compact_if_needed();
        self.journal.record(Change::Added(key, port));
        Learned::New { evicted }
    }

    /// Drop entries not seen for the expire time; returns how many went.
    pub fn collect_garbage(&mut self, now: Instant) -> usize {
        let expire = self.config.expire;
        self.remove_where(|_, e| now.saturating_duration_since(e.last_seen) >= expire)
    }

    /// Forget every address learned on `port` (it went away).
    pub fn flush_port(&mut self, port: PortId) -> usize {
        self.remove_where(|_, e| e.port == port)
    }

    /// Forget every address learned in `vlan` (topology change).
    pub fn flush_vlan(&mut self, vlan: Vlan) -> usize {
        self.remove_where(|k, _| k.vlan == vlan)
    }

    /// Forget every address learned on `port` in `vlan` (the port left the
    /// VLAN).
    pub fn flush_port_vlan(&mut self, port: PortId, vlan: Vlan) -> usize {
        self.remove_where(|k, e| e.port == port && k.vlan == vlan)
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.remove_where(|_, _| true);
        self.order.clear();
        self.per_port.clear();
    }

    /// Change the per-port limit (`None`: none). Ports already over a new
    /// limit keep their entries; they learn nothing new until under it.
    pub fn set_port_capacity(&mut self, limit: Option<usize>) {
        self.config.port_capacity = limit;
    }

    /// Change the capacity; evicts the oldest entries if the table is over it.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.config.capacity = capacity;
        while self.map.len() > capacity {
            if self.evict_one().is_none() {
                break;
            }
        }
        self.compact_if_needed();
    }

    /// Change the entry lifetime.
    pub fn set_expire(&mut self, expire: Duration) {
        self.config.expire = expire;
    }

    /// Change the garbage-collection interval.
    pub fn set_gc_interval(&mut self, interval: Duration) {
        self.config.gc_interval = interval;
    }

    /// Change the minimum persistence.
    pub fn set_min_persistence(&mut self, min: Duration) {
        self.config.min_persistence = min;
    }

    /// Live entries (not expired at `now`), in no particular order.
    pub fn iter(&self, now: Instant) -> impl Iterator<Item = (Key, Entry)> + '_ {
        let expire = self.config.expire;
        self.map
            .iter()
            .filter(move |(_, e)| now.saturating_duration_since(e.last_seen) < expire)
            .map(|(k, e)| (*k, *e))
    }

    /// A stable bucket number for `key` in a table of `buckets` buckets (for
    /// vde_switch's `hash/print` column; the real table is not bucketed).
    pub fn bucket(&self, key: &Key, buckets: usize) -> usize {
        let h = self.hasher.hash_one(key);
        usize::try_from(h % u64::try_from(buckets.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    /// Length of the internal eviction queue (for tests of the memory bound).
    pub fn queue_len(&self) -> usize {
        self.order.len()
    }

    fn stamp(&mut self) -> u64 {
        self.next_stamp = self.next_stamp.wrapping_add(1);
        self.next_stamp
    }

    /// Remove the least recently seen entry (second chance over the FIFO).
    fn evict_one(&mut self) -> Option<Key> {
        // Each live entry is re-queued at most once per call before it can be
        // evicted (its `last_seen` then equals its queue time), so this ends.
        while let Some((key, stamp)) = self.order.pop_front() {
            let Some(entry) = self.map.get(&key) else {
                continue;
            };
            if entry.queued != stamp {
                continue;
            }
            if entry.last_seen > entry.queued_at {
                let new_stamp = self.stamp();
                if let Some(e) = self.map.get_mut(&key) {
                    e.queued = new_stamp;
                    e.queued_at = e.last_seen;
                }
                self.order.push_back((key, new_stamp));
                continue;
            }
            if let Some(gone) = self.map.remove(&key) {
                uncount(&mut self.per_port, gone.port);
                self.journal.record(Change::Removed(key, gone.port));
            }
            return Some(key);
        }
        None
    }

    /// Remove the entries `gone` picks, keeping the per-port counts; returns
    /// how many went.
    fn remove_where(&mut self, mut gone: impl FnMut(&Key, &Entry) -> bool) -> usize {
        let before = self.map.len();
        let per_port = &mut self.per_port;
        let journal = &mut self.journal;
        self.map.retain(|k, e| {
            let go = gone(k, e);
            if go {
                uncount(per_port, e.port);
                journal.record(Change::Removed(*k, e.port));
            }
            !go
        });
        self.compact_if_needed();
        before - self.map.len()
    }

    fn compact_if_needed(&mut self) {
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(k, stamp)| map.get(k).is_some_and(|e| e.queued == *stamp));
        }
    }
}

/// Whether `port` may hold one more entry under `limit`.
fn has_room(per_port: &[usize], limit: Option<usize>, port: PortId) -> bool {
    limit.is_none_or(|max| per_port.get(usize::from(port)).copied().unwrap_or(0) < max)
}

fn count(per_port: &mut Vec<usize>, port: PortId) {
    let i = usize::from(port);
    if per_port.len() <= i {
        per_port.resize(i + 1, 0);
    }
    if let Some(n) = per_port.get_mut(i) {
        *n += 1;
    }
}

fn uncount(per_port: &mut [usize], port: PortId) {
    if let Some(n) = per_port.get_mut(usize::from(port)) {
        *n = n.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;

    type H = BuildHasherDefault<DefaultHasher>;

    fn mac(n: u32) -> MacAddr {
        let b = n.to_be_bytes();
        MacAddr([0x02, 0, b[0], b[1], b[2], b[3]])
    }

    fn table(capacity: usize) -> Fdb<H> {
        Fdb::new(
            FdbConfig {
                capacity,
                ..FdbConfig::default()
            },
            H::default(),
        )
    }

    fn t(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn learns_and_looks_up_per_vlan() {
        let mut f = table(16);
        assert_eq!(f.learn(t(0), 0, mac(1), 3), Learned::New { evicted: None });
        assert_eq!(f.lookup(t(1), 0, mac(1)), Some(3));
        assert_eq!(f.lookup(t(1), 5, mac(1)), None, "VLANs are separate tables");
        assert_eq!(f.learn(t(2), 0, mac(1), 3), Learned::Refreshed);
    }

    #[test]
    fn entries_age_out_after_expire() {
        let mut f = table(16);
        f.learn(t(0), 0, mac(1), 1);
        f.learn(t(50), 0, mac(2), 2);
        assert_eq!(f.lookup(t(99), 0, mac(1)), Some(1));
        assert_eq!(f.lookup(t(100), 0, mac(1)), None, "expired at 100 s");
        assert_eq!(f.collect_garbage(t(100)), 1);
        assert_eq!(f.len(), 1);
        assert_eq!(f.lookup(t(149), 0, mac(2)), Some(2));
    }

    #[test]
    fn a_seen_again_entry_does_not_age() {
        let mut f = table(16);
        f.learn(t(0), 0, mac(1), 1);
        f.learn(t(90), 0, mac(1), 1);
        assert_eq!(f.lookup(t(150), 0, mac(1)), Some(1));
    }

    #[test]
    fn moves_only_after_min_persistence() {
        let mut f = table(16);
        f.learn(t(0), 0, mac(1), 1);
        assert_eq!(f.learn(t(1), 0, mac(1), 2), Learned::Kept { on: 1 });
        assert_eq!(f.lookup(t(1), 0, mac(1)), Some(1));
        assert_eq!(f.learn(t(4), 0, mac(1), 2), Learned::Moved { from: 1 });
        assert_eq!(f.lookup(t(4), 0, mac(1)), Some(2));
    }

    #[test]
    fn full_table_evicts_least_recently_seen() {
        let mut f = table(3);
        f.learn(t(0), 0, mac(1), 1);
        f.learn(t(1), 0, mac(2), 1);
        f.learn(t(2), 0, mac(3), 1);
        // mac(1) is seen again, so mac(2) is now the least recently seen.
        f.learn(t(3), 0, mac(1), 1);
        let got = f.learn(t(4), 0, mac(4), 1);
        assert_eq!(
            got,
            Learned::New {
                evicted: Some(Key {
                    vlan: 0,
                    mac: mac(2)
                })
            }
        );
        assert_eq!(f.len(), 3);
        assert!(f.lookup(t(4), 0, mac(1)).is_some());
        assert!(f.lookup(t(4), 0, mac(2)).is_none());
    }

    #[test]
    fn flood_of_sources_keeps_memory_at_capacity() {
        let mut f = table(1000);
        for i in 0..100_000u32 {
            f.learn(Instant::from_millis(u64::from(i)), 0, mac(i), 1);
            assert!(f.len() <= 1000);
        }
        assert_eq!(f.len(), 1000);
        assert!(f.queue_len() <= 2 * 1000 + 64, "queue {}", f.queue_len());
        // The newest addresses survived.
        assert!(f
            .lookup(Instant::from_millis(100_000), 0, mac(99_999))
            .is_some());
    }

    #[test]
    fn churn_of_flushes_keeps_queue_bounded() {
        let mut f = table(100);
        for round in 0..1000u32 {
            for i in 0..10 {
                f.learn(t(u64::from(round)), 0, mac(round * 10 + i), 7);
            }
            f.flush_port(7);
            assert!(f.queue_len() <= 2 * f.len() + 64 + 10);
        }
    }

    #[test]
    fn zero_capacity_learns_nothing() {
        let mut f = table(0);
        f.learn(t(0), 0, mac(1), 1);
        assert!(f.is_empty());
    }

    #[test]
    fn flushes() {
        let mut f = table(16);
        f.learn(t(0), 0, mac(1), 1);
        f.learn(t(0), 0, mac(2), 2);
        f.learn(t(0), 9, mac(3), 2);
        assert_eq!(f.flush_vlan(9), 1);
        assert_eq!(f.flush_port(2), 1);
        assert_eq!(f.iter(t(0)).count(), 1);
        f.set_capacity(0);
        assert!(f.is_empty());
    }

    #[test]
    fn journal_records_new_and_removed_entries_only_when_on() {
        let mut f = table(2);
        f.learn(t(0), 0, mac(1), 1);
        assert!(!f.has_changes(), "journal off by default");
        f.set_journal(true, true);
        f.learn(t(0), 0, mac(2), 2);
        f.learn(t(1), 0, mac(2), 2);
        f.learn(t(1), 0, mac(3), 3);
        f.flush_port(3);
        let k = |n, vlan| Key { vlan, mac: mac(n) };
        let got: Vec<Change> = std::iter::from_fn(|| f.take_change()).collect();
        assert_eq!(
            got,
            [
                Change::Added(k(2, 0), 2),
                Change::Removed(k(1, 0), 1),
                Change::Added(k(3, 0), 3),
                Change::Removed(k(3, 0), 3),
            ]
        );
        f.set_journal(false, true);
        f.learn(t(2), 0, mac(4), 4);
        f.collect_garbage(t(500));
        let got: Vec<Change> = std::iter::from_fn(|| f.take_change()).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&Change::Removed(k(2, 0), 2)));
        assert!(got.contains(&Change::Removed(k(4, 0), 4)));
    }

    fn limited(capacity: usize, per_port: usize) -> Fdb<H> {
        Fdb::new(
            FdbConfig {
                capacity,
                port_capacity: Some(per_port),
                ..FdbConfig::default()
            },
            H::default(),
        )
    }

    #[test]
    fn port_limit_refuses_new_addresses_but_keeps_known_ones() {
        let mut f = limited(100, 2);
        assert!(matches!(f.learn(t(0), 0, mac(1), 1), Learned::New { .. }));
        assert!(matches!(f.learn(t(0), 0, mac(2), 1), Learned::New { .. }));
        assert_eq!(f.learn(t(1), 0, mac(3), 1), Learned::Refused);
        assert_eq!(f.lookup(t(1), 0, mac(3)), None);
        assert_eq!(f.learn(t(1), 0, mac(1), 1), Learned::Refreshed);
        assert_eq!(f.port_len(1), 2);
        // Another port has its own allowance.
        assert!(matches!(f.learn(t(1), 0, mac(3), 2), Learned::New { .. }));
        // Moving into a full port is refused too; the address stays put.
        assert_eq!(f.learn(t(9), 0, mac(3), 1), Learned::Refused);
        assert_eq!(f.lookup(t(9), 0, mac(3)), Some(2));
    }

    #[test]
    fn port_counts_follow_moves_expiry_eviction_and_flushes() {
        let mut f = limited(3, 2);
        f.learn(t(0), 0, mac(1), 1);
        f.learn(t(0), 0, mac(2), 1);
        f.learn(t(0), 0, mac(3), 2);
        // A move frees a slot on port 1.
        assert_eq!(f.learn(t(5), 0, mac(1), 2), Learned::Moved { from: 1 });
        assert_eq!((f.port_len(1), f.port_len(2)), (1, 2));
        // The table is full: learning on port 1 evicts the oldest (mac 2, port 1).
        assert!(matches!(
            f.learn(t(6), 0, mac(4), 1),
            Learned::New { evicted: Some(_) }
        ));
        assert_eq!((f.port_len(1), f.port_len(2), f.len()), (1, 2, 3));
        assert_eq!(f.flush_port(2), 2);
        assert_eq!(f.port_len(2), 0);
        assert_eq!(f.collect_garbage(t(200)), 1);
        assert_eq!(f.port_len(1), 0);
        f.learn(t(200), 7, mac(5), 3);
        assert_eq!(f.flush_vlan(7), 1);
        assert_eq!(f.port_len(3), 0);
        f.learn(t(200), 7, mac(5), 3);
        f.clear();
        assert_eq!(f.port_len(3), 0);
    }

    #[test]
    fn flood_on_one_port_leaves_the_others_their_addresses() {
        let mut f = limited(1000, 100);
        for p in 2..=5 {
            f.learn(t(0), 0, mac(u32::from(p)), p);
        }
        for i in 0..100_000u32 {
            f.learn(Instant::from_millis(u64::from(i)), 0, mac(1000 + i), 1);
        }
        assert_eq!(f.port_len(1), 100);
        for p in 2..=5 {
            assert_eq!(f.lookup(t(50), 0, mac(u32::from(p))), Some(p));
        }
        // A lower limit later keeps what is there and refuses more.
        f.set_port_capacity(Some(10));
        assert_eq!(f.learn(t(60), 0, mac(7), 1), Learned::Refused);
        f.set_port_capacity(None);
        assert!(matches!(f.learn(t(60), 0, mac(7), 1), Learned::New { .. }));
    }
}
