//! The address table: which address is offered, leased, remembered or
//! declined, and for which MAC.
//!
//! Owns one [`Entry`] per address that has ever been touched, indexed by
//! address and by MAC, plus one ordered set of deadlines per timed state.
//!
//! Invariants (checked by [`Pool::check`] in tests and fuzzing):
//! - an address has at most one entry, so at most one MAC (structural);
//! - a MAC is linked (`by_mac`) to at most one address, and the link exists
//!   exactly when that address is offered to, leased to, or remembered for it;
//! - each deadline set indexes exactly the entries in its state;
//! - at most [`MAX_OFFERS`] offers are outstanding;
//! - entries are bounded by the configured addresses (range plus reservations).
//!
//! Allocation order for a MAC (RFC 2131 §4.3.1 leaves the policy to the
//! server): its reservation; else the address it holds or last held, if still
//! free; else the address it asks for, if free and nobody else's; else an
//! address nobody is remembered for; else the oldest remembered free address;
//! else the oldest outstanding offer is taken over. Remembered addresses are
//! reused last so that a MAC coming back gets its old address, even after its
//! lease expired and across restarts (via the snapshot).
//!
//! An offer is a hold against other clients' DISCOVERs and INIT-REBOOTs, but
//! not against the client it was first made to: a REQUEST in SELECTING state
//! (answering our offer) for an address since offered to another MAC that
//! never held it is granted ([`Pool::requestable`]) and the newer offer is
//! dropped (that client is NAKed if it asks, and starts over). Without this,
//! a flood of DISCOVERs from fake MACs, whose offers take each other's over,
//! re-offers a real client's address before its REQUEST arrives, and the real
//! client is NAKed again and again.
//!
//! It must not do I/O or read a clock: every call takes `now`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::mac::MacAddr;
use crate::time::{Duration, Instant};

use super::config::{DhcpConfig, IpRange, Ipv4Net};

/// How long an offered address is held for its client before it may go to
/// someone else (RFC 2131 §4.3.1 asks the server to reserve it; the client's
/// REQUEST normally follows within a second).
pub const OFFER_HOLD: Duration = Duration::from_secs(60);

/// Most offers outstanding at once. When a new DISCOVER would exceed it, the
/// oldest offer is withdrawn (evict oldest, never refuse the newcomer), so a
/// flood of DISCOVERs from fake MACs cannot starve a real client; no address
/// is ever probed with a ping, so nothing stalls.
pub const MAX_OFFERS: usize = 256;

/// How long an address a client declined (RFC 2131 §4.3.3: someone else
/// already uses it) stays out of the pool.
pub const DECLINE_HOLD: Duration = Duration::from_secs(600);

/// The state of one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Offered to `mac` until `until`. `remember` says whether `mac` keeps a
    /// claim on the address when the offer lapses (it held a lease on it).
    Offered {
        mac: MacAddr,
        until: Instant,
        remember: bool,
    },
    /// Leased to `mac` until `expires`.
    Leased { mac: MacAddr, expires: Instant },
    /// Free since `since`; `last` is the MAC that held it, which gets it back
    /// first.
    Free {
        last: Option<MacAddr>,
        since: Instant,
    },
    /// Declined by a client: unusable until `until`.
    Declined { until: Instant },
}

impl Entry {
    /// The MAC linked to this address in `by_mac`, if any.
    fn linked_mac(&self) -> Option<MacAddr> {
        match *self {
            Entry::Offered { mac, .. } | Entry::Leased { mac, .. } => Some(mac),
            Entry::Free { last, .. } => last,
            Entry::Declined { .. } => None,
        }
    }
}

/// A lease that ran out, for the `Expired` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lapsed {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
}

/// Why no address could be offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exhausted;

/// The address table.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    subnet: Ipv4Net,
    range: IpRange,
    server_ip: Ipv4Addr,
    reserved_by_mac: BTreeMap<MacAddr, Ipv4Addr>,
    reserved_by_ip: BTreeMap<Ipv4Addr, MacAddr>,
    by_ip: BTreeMap<Ipv4Addr, Entry>,
    by_mac: BTreeMap<MacAddr, Ipv4Addr>,
    /// Free addresses nobody is remembered for.
    unowned: BTreeSet<Ipv4Addr>,
    /// Free addresses remembered for a MAC, oldest first.
    remembered: BTreeSet<(Instant, Ipv4Addr)>,
    offers: BTreeSet<(Instant, Ipv4Addr)>,
    leases: BTreeSet<(Instant, Ipv4Addr)>,
    declines: BTreeSet<(Instant, Ipv4Addr)>,
    /// Next never-touched address of the range to try (as u32; past `range.last`
    /// when the range has been walked).
    cursor: u64,
    max_offers: usize,
}

impl Pool {
    /// An empty table for a validated config.
    pub fn new(config: &DhcpConfig) -> Pool {
        Pool {
            subnet: config.subnet,
            range: config.range,
            server_ip: config.server_ip,
            reserved_by_mac: config.reservations.iter().map(|r| (r.mac, r.ip)).collect(),
            reserved_by_ip: config.reservations.iter().map(|r| (r.ip, r.mac)).collect(),
            by_ip: BTreeMap::new(),
            by_mac: BTreeMap::new(),
            unowned: BTreeSet::new(),
            remembered: BTreeSet::new(),
            offers: BTreeSet::new(),
            leases: BTreeSet::new(),
            declines: BTreeSet::new(),
            cursor: u64::from(u32::from(config.range.first)),
            max_offers: MAX_OFFERS,
        }
    }

    /// The entry for `ip`.
    pub fn entry(&self, ip: Ipv4Addr) -> Option<Entry> {
        self.by_ip.get(&ip).copied()
    }

    /// The address `mac` holds or is remembered for, with its entry.
    pub fn binding(&self, mac: MacAddr) -> Option<(Ipv4Addr, Entry)> {
        let ip = *self.by_mac.get(&mac)?;
        Some((ip, self.entry(ip)?))
    }

    /// Every entry, in address order.
    pub fn entries(&self) -> impl Iterator<Item = (Ipv4Addr, Entry)> + '_ {
        self.by_ip.iter().map(|(ip, e)| (*ip, *e))
    }

    /// The MAC `ip` is reserved for.
    pub fn reserved_for(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.reserved_by_ip.get(&ip).copied()
    }

    /// The earliest deadline of any offer, lease or decline.
    pub fn next_deadline(&self) -> Option<Instant> {
        [&self.offers, &self.leases, &self.declines]
            .iter()
            .filter_map(|set| set.first().map(|(t, _)| *t))
            .min()
    }

    /// Ends every offer, lease and decline whose deadline is `now` or earlier;
    /// returns the leases that lapsed. Harmless to call early, late or twice.
    pub fn expire(&mut self, now: Instant) -> Vec<Lapsed> {
        let mut lapsed = Vec::new();
        while let Some(&(t, ip)) = self.offers.first() {
            if t > now {
                break;
            }
            self.lapse_offer(ip, now);
        }
        while let Some(&(t, ip)) = self.leases.first() {
            if t > now {
                break;
            }
            if let Some(Entry::Leased { mac, .. }) = self.entry(ip) {
                lapsed.push(Lapsed { mac, ip });
                self.set(
                    ip,
                    Entry::Free {
                        last: Some(mac),
                        since: now,
                    },
                );
            } else {
                self.leases.remove(&(t, ip));
            }
        }
        while let Some(&(t, ip)) = self.declines.first() {
            if t > now {
                break;
            }
            self.set(
                ip,
                Entry::Free {
                    last: None,
                    since: now,
                },
            );
            self.declines.remove(&(t, ip));
        }
        lapsed
    }

    /// True when `ip` may be given to `mac` now: it is `mac`'s reservation, or
    /// a dynamic address (in the range, not the server's, not reserved) that
    /// is free or already `mac`'s, and `mac` has no reservation elsewhere.
    pub fn assignable(&self, mac: MacAddr, ip: Ipv4Addr) -> bool {
        if let Some(&reserved) = self.reserved_by_mac.get(&mac) {
            return reserved == ip;
        }
        if !self.is_dynamic(ip) {
            return false;
        }
        match self.entry(ip) {
            None => true,
            Some(Entry::Free { .. }) => true,
            Some(Entry::Offered { mac: m, .. }) | Some(Entry::Leased { mac: m, .. }) => m == mac,
            Some(Entry::Declined { .. }) => false,
        }
    }

    /// `Some` when a REQUEST from `mac` for `ip` may be granted: [`Pool::assignable`],
    /// or, when `selecting` (the client answers our offer), a dynamic address
    /// merely offered to another MAC that never held it (see the module doc).
    /// Inside: the MAC whose offer would be dropped.
    pub fn requestable(
        &self,
        mac: MacAddr,
        ip: Ipv4Addr,
        selecting: bool,
    ) -> Option<Option<MacAddr>> {
        if self.assignable(mac, ip) {
            return Some(None);
        }
        if !selecting || self.reserved_by_mac.contains_key(&mac) || !self.is_dynamic(ip) {
            return None;
        }
        match self.entry(ip) {
            Some(Entry::Offered {
                mac: other,
                remember: false,
                ..
            }) if other != mac => Some(Some(other)),
            _ => None,
        }
    }

    /// True when `ip` is handed out dynamically: in the range, a host address,
    /// not the server's and not reserved.
    pub fn is_dynamic(&self, ip: Ipv4Addr) -> bool {
        self.range.contains(ip)
            && self.subnet.is_host(ip)
            && ip != self.server_ip
            && !self.reserved_by_ip.contains_key(&ip)
    }

    /// Offers an address to `mac` (RFC 2131 §4.3.1), preferring `requested`
    /// when it is free; returns it and the MAC whose offer had to be taken
    /// over, if any.
    pub fn offer(
        &mut self,
        mac: MacAddr,
        requested: Option<Ipv4Addr>,
        now: Instant,
    ) -> Result<(Ipv4Addr, Option<MacAddr>), Exhausted> {
        let (ip, evicted) = self.choose(mac, requested)?;
        let remember = match self.entry(ip) {
            Some(Entry::Leased { mac: m, .. }) if m == mac => {
                // Already leased to it (a rebooting client): keep the lease.
                return Ok((ip, evicted));
            }
            Some(Entry::Free { last: Some(m), .. }) => m == mac,
            Some(Entry::Offered {
                mac: m, remember, ..
            }) => m == mac && remember,
            _ => false,
        };
        self.bind(
            mac,
            ip,
            Entry::Offered {
                mac,
                until: now + OFFER_HOLD,
                remember,
            },
            now,
        );
        let mut evicted = evicted;
        while self.offers.len() > self.max_offers {
            let Some(&(_, oldest)) = self.offers.first() else {
                break;
            };
            if let Some(Entry::Offered { mac: m, .. }) = self.entry(oldest) {
                evicted = evicted.or(Some(m));
            }
            self.lapse_offer(oldest, now);
        }
        Ok((ip, evicted))
    }

    /// Leases `ip` to `mac` until `now + lease_time` (RFC 2131 §4.3.2). The
    /// caller has checked [`Pool::requestable`]; returns false (and changes
    /// nothing) if it is not.
    pub fn lease(
        &mut self,
        mac: MacAddr,
        ip: Ipv4Addr,
        now: Instant,
        lease_time: Duration,
    ) -> bool {
        if self.requestable(mac, ip, true).is_none() {
            return false;
        }
        self.bind(
            mac,
            ip,
            Entry::Leased {
                mac,
                expires: now + lease_time,
            },
            now,
        );
        true
    }

    /// Ends `mac`'s lease on `ip` (RFC 2131 §4.3.4); the address stays
    /// remembered for it. False if `ip` was not leased to `mac`.
    pub fn release(&mut self, mac: MacAddr, ip: Ipv4Addr, now: Instant) -> bool {
        match self.entry(ip) {
            Some(Entry::Leased { mac: m, .. }) if m == mac => {
                self.set(
                    ip,
                    Entry::Free {
                        last: Some(mac),
                        since: now,
                    },
                );
                true
            }
            _ => false,
        }
    }

    /// Takes `ip` out of the pool for [`DECLINE_HOLD`] because `mac`, to whom
    /// it was offered or leased, found it in use (RFC 2131 §4.3.3). A reserved
    /// address is only unlinked: it can go to no one else anyway. False if
    /// `ip` was not `mac`'s.
    pub fn decline(&mut self, mac: MacAddr, ip: Ipv4Addr, now: Instant) -> bool {
        match self.entry(ip) {
            Some(Entry::Offered { mac: m, .. }) | Some(Entry::Leased { mac: m, .. })
                if m == mac =>
            {
                if self.reserved_by_ip.contains_key(&ip) {
                    self.set(
                        ip,
                        Entry::Free {
                            last: Some(mac),
                            since: now,
                        },
                    );
                } else {
                    self.set(
                        ip,
                        Entry::Declined {
                            until: now + DECLINE_HOLD,
                        },
                    );
                }
                true
            }
            _ => false,
        }
    }

    /// Withdraws the offer made to `mac`, which chose another server
    /// (RFC 2131 §4.3.2, SELECTING with a foreign server identifier).
    pub fn withdraw_offer(&mut self, mac: MacAddr, now: Instant) -> bool {
        match self.binding(mac) {
            Some((ip, Entry::Offered { .. })) => {
                self.lapse_offer(ip, now);
                true
            }
            _ => false,
        }
    }

    /// Restores one entry from a snapshot: a lease until `expires`, or (when
    /// `expires` is `None`) an address remembered for `mac`. Refused (false)
    /// when the config no longer allows `ip` for `mac` or either is taken.
    pub fn restore(
        &mut self,
        mac: MacAddr,
        ip: Ipv4Addr,
        expires: Option<Instant>,
        now: Instant,
    ) -> bool {
        if mac.is_multicast() || self.by_mac.contains_key(&mac) || self.by_ip.contains_key(&ip) {
            return false;
        }
        if !self.assignable(mac, ip) {
            return false;
        }
        let entry = match expires {
            Some(expires) if expires > now => Entry::Leased { mac, expires },
            _ => Entry::Free {
                last: Some(mac),
                since: now,
            },
        };
        self.bind(mac, ip, entry, now);
        true
    }

    /// Lowers the offer cap (fuzzing reaches the eviction path with a small pool).
    #[cfg(any(test, fuzzing, feature = "fuzzing"))]
    pub fn set_max_offers(&mut self, max: usize) {
        self.max_offers = max.max(1);
    }

    /// How many offers are outstanding.
    pub fn offer_count(&self) -> usize {
        self.offers.len()
    }

    /// Checks every invariant of the module doc; the first broken one is
    /// described in the error.
    #[cfg(any(test, fuzzing, feature = "fuzzing"))]
    pub fn check(&self) -> Result<(), String> {
        for (mac, ip) in &self.by_mac {
            match self.entry(*ip) {
                Some(e) if e.linked_mac() == Some(*mac) => {}
                other => return Err(format!("by_mac {mac} -> {ip} but entry is {other:?}")),
            }
        }
        let mut offers = 0;
        let (mut leases, mut declines, mut unowned, mut remembered) = (0, 0, 0, 0);
        for (ip, e) in &self.by_ip {
            if let Some(mac) = e.linked_mac() {
                if self.by_mac.get(&mac) != Some(ip) {
                    return Err(format!(
                        "{ip} is {e:?} but by_mac says {:?}",
                        self.by_mac.get(&mac)
                    ));
                }
            }
            let indexed = match *e {
                Entry::Offered { until, .. } => {
                    offers += 1;
                    self.offers.contains(&(until, *ip))
                }
                Entry::Leased { expires, .. } => {
                    leases += 1;
                    self.leases.contains(&(expires, *ip))
                }
                Entry::Declined { until } => {
                    declines += 1;
                    self.declines.contains(&(until, *ip))
                }
                Entry::Free { last: None, .. } => {
                    unowned += 1;
                    self.unowned.contains(ip)
                }
                Entry::Free {
                    last: Some(_),
                    since,
                } => {
                    remembered += 1;
                    self.remembered.contains(&(since, *ip))
                }
            };
            if !indexed {
                return Err(format!("{ip} is {e:?} but not in its deadline set"));
            }
            if let Some(owner) = self.reserved_by_ip.get(ip) {
                if e.linked_mac().is_some_and(|m| m != *owner) {
                    return Err(format!("{ip} reserved for {owner} but is {e:?}"));
                }
            } else if !self.is_dynamic(*ip) {
                return Err(format!("{ip} is outside the pool but is {e:?}"));
            }
        }
        let sizes = (self.offers.len(), self.leases.len(), self.declines.len());
        let sizes2 = (self.unowned.len(), self.remembered.len());
        if sizes != (offers, leases, declines) || sizes2 != (unowned, remembered) {
            return Err(format!("index sizes {sizes:?} {sizes2:?} != entries"));
        }
        if offers > self.max_offers {
            return Err(format!(
                "{offers} offers outstanding, cap {}",
                self.max_offers
            ));
        }
        Ok(())
    }

    // --- helpers ---

    /// Picks the address for `mac` in the order of the module doc.
    fn choose(
        &mut self,
        mac: MacAddr,
        requested: Option<Ipv4Addr>,
    ) -> Result<(Ipv4Addr, Option<MacAddr>), Exhausted> {
        if let Some(&reserved) = self.reserved_by_mac.get(&mac) {
            return Ok((reserved, None));
        }
        if let Some(&ip) = self.by_mac.get(&mac) {
            if self.assignable(mac, ip) {
                return Ok((ip, None));
            }
        }
        if let Some(ip) = requested {
            let nobody_elses =
                !matches!(self.entry(ip), Some(Entry::Free { last: Some(m), .. }) if m != mac);
            if nobody_elses && self.assignable(mac, ip) {
                return Ok((ip, None));
            }
        }
        // Reserved addresses sit in the same indexes but never go to another
        // MAC: skip them (at most one per reservation).
        if let Some(&ip) = self.unowned.iter().find(|ip| self.is_dynamic(**ip)) {
            return Ok((ip, None));
        }
        if let Some(ip) = self.next_fresh() {
            return Ok((ip, None));
        }
        if let Some(&(_, ip)) = self.remembered.iter().find(|(_, ip)| self.is_dynamic(*ip)) {
            return Ok((ip, None));
        }
        if let Some(&(_, ip)) = self.offers.iter().find(|(_, ip)| self.is_dynamic(*ip)) {
            let evicted = self.entry(ip).and_then(|e| e.linked_mac());
            return Ok((ip, evicted));
        }
        Err(Exhausted)
    }

    /// The next address of the range that was never touched, advancing the cursor.
    fn next_fresh(&mut self) -> Option<Ipv4Addr> {
        let last = u64::from(u32::from(self.range.last));
        while self.cursor <= last {
            let ip = Ipv4Addr::from(u32::try_from(self.cursor).ok()?);
            self.cursor += 1;
            if self.is_dynamic(ip) && !self.by_ip.contains_key(&ip) {
                return Some(ip);
            }
        }
        None
    }

    /// An offer lapses: back to remembered for its MAC if it held a lease on
    /// the address, else to unowned.
    fn lapse_offer(&mut self, ip: Ipv4Addr, now: Instant) {
        match self.entry(ip) {
            Some(Entry::Offered { mac, remember, .. }) => {
                let last = remember.then_some(mac);
                self.set(ip, Entry::Free { last, since: now });
            }
            _ => {
                // Not an offer any more: drop a stale index entry, if any.
                self.offers.retain(|(_, i)| *i != ip);
            }
        }
    }

    /// Links `mac` to `ip` with `entry`, unlinking whatever either was linked
    /// to before (the MAC's old address becomes unowned, the address's old
    /// remembered MAC forgets it).
    fn bind(&mut self, mac: MacAddr, ip: Ipv4Addr, entry: Entry, now: Instant) {
        if let Some(&old_ip) = self.by_mac.get(&mac) {
            if old_ip != ip {
                self.set(
                    old_ip,
                    Entry::Free {
                        last: None,
                        since: now,
                    },
                );
            }
        }
        self.set(ip, entry);
    }

    /// Replaces the entry of `ip`, keeping `by_mac` and every index in step.
    fn set(&mut self, ip: Ipv4Addr, entry: Entry) {
        if let Some(old) = self.by_ip.insert(ip, entry) {
            self.unindex(ip, old);
        }
        if let Some(mac) = entry.linked_mac() {
            if let Some(prev_ip) = self.by_mac.insert(mac, ip) {
                if prev_ip != ip {
                    // Callers unlink first; never leave a stale link behind.
                    if let Some(prev) = self.by_ip.get(&prev_ip).copied() {
                        if prev.linked_mac() == Some(mac) {
                            self.unindex(prev_ip, prev);
                            let since = match prev {
                                Entry::Free { since, .. } => since,
                                _ => Instant::ZERO,
                            };
                            let free = Entry::Free { last: None, since };
                            self.by_ip.insert(prev_ip, free);
                            self.unowned.insert(prev_ip);
                        }
                    }
                }
            }
        }
        match entry {
            Entry::Offered { until, .. } => {
                self.offers.insert((until, ip));
            }
            Entry::Leased { expires, .. } => {
                self.leases.insert((expires, ip));
            }
            Entry::Declined { until } => {
                self.declines.insert((until, ip));
            }
            Entry::Free { last: None, .. } => {
                self.unowned.insert(ip);
            }
            Entry::Free {
                last: Some(_),
                since,
            } => {
                self.remembered.insert((since, ip));
            }
        }
    }

    /// Removes `ip`'s old entry from its index and its MAC link.
    fn unindex(&mut self, ip: Ipv4Addr, old: Entry) {
        match old {
            Entry::Offered { until, .. } => {
                self.offers.remove(&(until, ip));
            }
            Entry::Leased { expires, .. } => {
                self.leases.remove(&(expires, ip));
            }
            Entry::Declined { until } => {
                self.declines.remove(&(until, ip));
            }
            Entry::Free { last: None, .. } => {
                self.unowned.remove(&ip);
            }
            Entry::Free {
                last: Some(_),
                since,
            } => {
                self.remembered.remove(&(since, ip));
            }
        }
        if let Some(mac) = old.linked_mac() {
            if self.by_mac.get(&mac) == Some(&ip) {
                self.by_mac.remove(&mac);
            }
        }
    }
}
