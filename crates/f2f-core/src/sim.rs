//! An in-memory network of switches for tests and benchmarks: N bridges,
//! each running an [`Stp`] machine, joined by point-to-point links, with a
//! seeded RNG and time that jumps to the next deadline or delivery.
//!
//! What it owns: the bridges, the links (two ports each), the BPDUs in
//! flight (each delivered after a random delay, in order per direction, as
//! on a stream socket), and simulated time. It never sleeps and never reads
//! a clock; the same seed gives the same run.
//!
//! Data frames are not simulated by the switch: [`Sim::flood`] models a
//! broadcast as each bridge sending it out of every port the machine says is
//! forwarding except the ingress, and a bridge accepting it only on a
//! forwarding port. All trees are VLAN 0, untagged.

use std::collections::{BTreeMap, VecDeque};

use crate::mac::MacAddr;
use crate::stp::{Stp, StpConfig, StpEvent};
use crate::time::{Duration, Instant};
use crate::wire::bpdu::Bpdu;

/// splitmix64: small, seedable, good enough to draw topologies and delays.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// A cable: `(bridge, port)` at each end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// One end.
    pub a: (usize, u16),
    /// The other end.
    pub b: (usize, u16),
    /// Both ports are up (false once cut).
    pub up: bool,
    /// The cable silently drops everything while the ports stay up.
    pub silent: bool,
}

impl Link {
    /// Carries frames.
    pub fn live(&self) -> bool {
        self.up && !self.silent
    }
}

/// What [`Sim::check_tree`] or [`Sim::check_flood`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The links forwarding at both ends do not form a spanning tree of a
    /// connected component.
    #[error(
        "component of {bridges} bridges has {forwarding_links} forwarding links \
         reaching {reached} bridges (a tree has {bridges}-1 reaching all)"
    )]
    NotATree {
        /// Bridges in the component.
        bridges: usize,
        /// Links forwarding at both ends inside it.
        forwarding_links: usize,
        /// Bridges reachable over those links from its first bridge.
        reached: usize,
    },
    /// A broadcast reached a bridge other than once (0 = missed).
    #[error("broadcast from bridge {from} reached bridge {bridge} {copies} times")]
    BadFlood {
        /// Where it was injected.
        from: usize,
        /// The bridge.
        bridge: usize,
        /// Copies received.
        copies: u32,
    },
    /// A broadcast kept circulating (a loop).
    #[error("broadcast from bridge {from} still circulating after {copies} copies")]
    Storm {
        /// Where it was injected.
        from: usize,
        /// Copies made before giving up.
        copies: usize,
    },
}

/// A BPDU on its way.
#[derive(Debug, Clone)]
struct InFlight {
    bridge: usize,
    port: u16,
    bpdu: Bpdu,
}

/// The simulated network.
#[derive(Debug, Clone)]
pub struct Sim {
    now: Instant,
    bridges: Vec<Stp>,
    /// Per bridge: port → link index.
    ports: Vec<BTreeMap<u16, usize>>,
    links: Vec<Link>,
    /// Deliveries by (time, sequence number).
    in_flight: BTreeMap<(Instant, u64), InFlight>,
    /// Per (link, direction): when the last BPDU is delivered (FIFO).
    link_tail: BTreeMap<(usize, bool), Instant>,
    seq: u64,
    rng: Rng,
    max_delay: Duration,
    last_change: Instant,
    /// Per bridge: its `poll_timeout`, refreshed after every call into it.
    timeouts: Vec<Option<Instant>>,
    /// BPDUs delivered so far.
    pub delivered: u64,
}

impl Sim {
    /// An empty network; BPDUs take 100 µs to `max_delay` to cross a link.
    pub fn new(seed: u64, max_delay: Duration) -> Sim {
        Sim {
            now: Instant::ZERO,
            bridges: Vec::new(),
            ports: Vec::new(),
            links: Vec::new(),
            in_flight: BTreeMap::new(),
            link_tail: BTreeMap::new(),
            seq: 0,
            rng: Rng::new(seed),
            max_delay,
            last_change: Instant::ZERO,
            timeouts: Vec::new(),
            delivered: 0,
        }
    }

    /// `n` bridges on a random tree (bridge i joins a random earlier one)
    /// plus `extra` random redundant links (parallel cables allowed), all
    /// connected at time 0.
    pub fn random(seed: u64, n: usize, extra: usize) -> Sim {
        let mut sim = Sim::new(seed, Duration::from_millis(5));
        for _ in 0..n {
            sim.add_bridge();
        }
        for i in 1..n {
            let j = sim.pick(i);
            sim.connect(i, j);
        }
        if n >= 2 {
            for _ in 0..extra {
                let a = sim.pick(n);
                let mut b = sim.pick(n - 1);
                if b >= a {
                    b += 1;
                }
                sim.connect(a, b);
            }
        }
        sim
    }

    fn pick(&mut self, n: usize) -> usize {
        usize::try_from(self.rng.below(n as u64)).unwrap_or(0)
    }

    /// Add a bridge with FSTP on and a random MAC; returns its index.
    pub fn add_bridge(&mut self) -> usize {
        let i = self.bridges.len();
        let r = self.rng.next_u64().to_be_bytes();
        let [hi, lo] = u16::try_from(i).unwrap_or(u16::MAX).to_be_bytes();
        let mac = MacAddr([0x02, r[0], r[1], r[2], hi, lo]);
        self.bridges.push(Stp::new(StpConfig {
            enabled: true,
            ..StpConfig::new(mac)
        }));
        self.ports.push(BTreeMap::new());
        self.timeouts.push(None);
        i
    }

    /// Cable bridges `a` and `b` now (a new port on each); returns the link.
    pub fn connect(&mut self, a: usize, b: usize) -> usize {
        let idx = self.links.len();
        let pa = self.new_port(a, idx);
        let pb = self.new_port(b, idx);
        self.links.push(Link {
            a: (a, pa),
            b: (b, pb),
            up: true,
            silent: false,
        });
        let now = self.now;
        for (br, p) in [(a, pa), (b, pb)] {
            if let Some(s) = self.bridges.get_mut(br) {
                // VLAN 0 is always in range.
                let _ = s.handle_port_up(now, 0, p, false);
            }
            self.collect(br);
        }
        idx
    }

    fn new_port(&mut self, bridge: usize, link: usize) -> u16 {
        let Some(map) = self.ports.get_mut(bridge) else {
            return 0;
        };
        let port = map.keys().next_back().map_or(1, |p| p + 1);
        map.insert(port, link);
        port
    }

    /// Unplug a link: both ports go down now.
    pub fn cut(&mut self, link: usize) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        l.up = false;
        let l = *l;
        let now = self.now;
        for (br, p) in [l.a, l.b] {
            if let Some(s) = self.bridges.get_mut(br) {
                s.handle_port_down(now, p);
            }
            self.collect(br);
        }
    }

    /// The link stops carrying anything, but no port goes down.
    pub fn silence(&mut self, link: usize) {
        if let Some(l) = self.links.get_mut(link) {
            l.silent = true;
        }
    }

    /// Current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Last time a root or a port role/state changed anywhere.
    pub fn last_change(&self) -> Instant {
        self.last_change
    }

    /// The bridges.
    pub fn bridges(&self) -> &[Stp] {
        &self.bridges
    }

    /// The links.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Run for `d` of simulated time, jumping from deadline to deadline.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_msg = self.in_flight.keys().next().map(|k| k.0);
            let next_timer = self.timeouts.iter().flatten().min().copied();
            let Some(next) = [next_msg, next_timer].into_iter().flatten().min() else {
                break;
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Deliver what is due and fire due timers.
    fn step(&mut self) {
        let now = self.now;
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let m = entry.remove();
            if let Some(s) = self.bridges.get_mut(m.bridge) {
                s.handle_bpdu(now, 0, m.port, &m.bpdu);
                self.delivered += 1;
            }
            self.collect(m.bridge);
        }
        for i in 0..self.bridges.len() {
            if self
                .timeouts
                .get(i)
                .copied()
                .flatten()
                .is_some_and(|t| t <= now)
            {
                if let Some(s) = self.bridges.get_mut(i) {
                    s.handle_timeout(now);
                }
                self.collect(i);
            }
        }
    }

    /// Move bridge `i`'s queued BPDUs onto their links, note state changes
    /// and its next deadline.
    fn collect(&mut self, i: usize) {
        let now = self.now;
        let mut out = Vec::new();
        let mut changed = false;
        if let Some(s) = self.bridges.get_mut(i) {
            while let Some(tx) = s.poll_transmit() {
                out.push(tx);
            }
            while let Some(e) = s.poll_event() {
                changed |= !matches!(e, StpEvent::FlushVlan { .. });
            }
            if let Some(slot) = self.timeouts.get_mut(i) {
                *slot = s.poll_timeout();
            }
        }
        if changed {
            self.last_change = now;
        }
        for tx in out {
            self.launch(i, tx.port, tx.bpdu);
        }
    }

    fn launch(&mut self, bridge: usize, port: u16, bpdu: Bpdu) {
        let Some(&link) = self.ports.get(bridge).and_then(|m| m.get(&port)) else {
            return;
        };
        let Some(l) = self.links.get(link).copied() else {
            return;
        };
        if !l.live() {
            return;
        }
        let forward = l.a == (bridge, port);
        let (to, to_port) = if forward { l.b } else { l.a };
        let span = u64::try_from(self.max_delay.as_micros()).unwrap_or(u64::MAX);
        let delay = Duration::from_micros(100 + self.rng.below(span.saturating_sub(100)));
        let tail = self
            .link_tail
            .entry((link, forward))
            .or_insert(Instant::ZERO);
        let at = (self.now + delay).max(*tail);
        *tail = at;
        self.seq += 1;
        self.in_flight.insert(
            (at, self.seq),
            InFlight {
                bridge: to,
                port: to_port,
                bpdu,
            },
        );
    }

    /// Links forwarding at both ends (and carrying frames).
    pub fn forwarding_links(&self) -> Vec<usize> {
        (0..self.links.len())
            .filter(|&i| self.link_forwards(i))
            .collect()
    }

    fn link_forwards(&self, i: usize) -> bool {
        let Some(l) = self.links.get(i) else {
            return false;
        };
        let fwd = |(b, p): (usize, u16)| self.bridges.get(b).is_some_and(|s| s.forwarding(0, p));
        l.live() && fwd(l.a) && fwd(l.b)
    }

    /// Connected components over live links, each sorted.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let n = self.bridges.len();
        let mut seen = vec![false; n];
        let mut out = Vec::new();
        for start in 0..n {
            if seen.get(start).copied().unwrap_or(true) {
                continue;
            }
            let mut comp = self.reach(start, |_, l| l.live());
            comp.sort_unstable();
            for &b in &comp {
                if let Some(s) = seen.get_mut(b) {
                    *s = true;
                }
            }
            out.push(comp);
        }
        out
    }

    /// Bridges reachable from `start` over links satisfying `ok`.
    fn reach(&self, start: usize, ok: impl Fn(usize, &Link) -> bool) -> Vec<usize> {
        let mut seen = vec![false; self.bridges.len()];
        let mut queue = VecDeque::from([start]);
        let mut out = Vec::new();
        if let Some(s) = seen.get_mut(start) {
            *s = true;
        }
        while let Some(b) = queue.pop_front() {
            out.push(b);
            for (_, l) in self.links.iter().enumerate().filter(|(i, l)| ok(*i, l)) {
                let other = if l.a.0 == b {
                    l.b.0
                } else if l.b.0 == b {
                    l.a.0
                } else {
                    continue;
                };
                if let Some(s) = seen.get_mut(other) {
                    if !*s {
                        *s = true;
                        queue.push_back(other);
                    }
                }
            }
        }
        out
    }

    /// Every connected component's forwarding links form a spanning tree of
    /// it: connected, and exactly one link fewer than bridges (so acyclic).
    pub fn check_tree(&self) -> Result<(), SimError> {
        let fwd = self.forwarding_links();
        for comp in self.components() {
            let Some(&first) = comp.first() else {
                continue;
            };
            let inside = fwd
                .iter()
                .filter(|&&i| {
                    self.links
                        .get(i)
                        .is_some_and(|l| comp.binary_search(&l.a.0).is_ok())
                })
                .count();
            let reached = self.reach(first, |i, _| self.link_forwards(i)).len();
            if inside + 1 != comp.len() || reached != comp.len() {
                return Err(SimError::NotATree {
                    bridges: comp.len(),
                    forwarding_links: inside,
                    reached,
                });
            }
        }
        Ok(())
    }

    /// Copies of one broadcast injected at bridge `from` that each bridge
    /// receives (the injecting bridge counts itself once).
    pub fn flood(&self, from: usize) -> Result<Vec<u32>, SimError> {
        let n = self.bridges.len();
        let mut copies = vec![0u32; n];
        let mut queue: VecDeque<(usize, Option<u16>)> = VecDeque::from([(from, None)]);
        let mut made = 0usize;
        let limit = 4 * (n + self.links.len()) + 16;
        while let Some((b, ingress)) = queue.pop_front() {
            if let Some(c) = copies.get_mut(b) {
                *c += 1;
            }
            made += 1;
            if made > limit {
                return Err(SimError::Storm { from, copies: made });
            }
            let (Some(s), Some(ports)) = (self.bridges.get(b), self.ports.get(b)) else {
                continue;
            };
            for (&p, &li) in ports {
                if Some(p) == ingress || !s.forwarding(0, p) {
                    continue;
                }
                let Some(l) = self.links.get(li).filter(|l| l.live()) else {
                    continue;
                };
                let (to, to_port) = if l.a == (b, p) { l.b } else { l.a };
                // The receiver drops frames arriving on a discarding port.
                if self
                    .bridges
                    .get(to)
                    .is_some_and(|t| t.forwarding(0, to_port))
                {
                    queue.push_back((to, Some(to_port)));
                }
            }
        }
        Ok(copies)
    }

    /// A broadcast from `from` reaches every bridge of its component exactly
    /// once and no other bridge.
    pub fn check_flood(&self, from: usize) -> Result<(), SimError> {
        let copies = self.flood(from)?;
        let comp = self.reach(from, |_, l| l.live());
        for (bridge, &c) in copies.iter().enumerate() {
            let expected = u32::from(comp.contains(&bridge));
            if c != expected {
                return Err(SimError::BadFlood {
                    from,
                    bridge,
                    copies: c,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulated time allowed for (re)convergence; then it must be stable.
    const SETTLE: Duration = Duration::from_secs(40);

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    /// Converge a random network; returns the convergence time.
    fn converge(seed: u64, n: usize) -> (Sim, Duration) {
        let mut sim = Sim::random(seed, n, n / 2 + 1);
        sim.run_for(SETTLE);
        let took = sim.last_change() - Instant::ZERO;
        assert!(
            took < SETTLE - Duration::from_secs(20),
            "seed {seed} n {n}: still changing at {:?}",
            sim.last_change()
        );
        (sim, took)
    }

    /// Cut `link` in a clone, let it settle, check; returns reconvergence time.
    fn cut_and_check(sim: &Sim, link: usize, silent: bool, what: &str) -> Duration {
        let mut s = sim.clone();
        let at = s.now();
        if silent {
            s.silence(link);
        } else {
            s.cut(link);
        }
        s.run_for(SETTLE);
        assert!(
            s.now() - s.last_change() >= Duration::from_secs(20),
            "{what}: still changing at {:?}",
            s.last_change()
        );
        s.check_tree()
            .unwrap_or_else(|e| panic!("{what}, cut {link}: {e}"));
        for comp in s.components() {
            let from = comp[0];
            s.check_flood(from)
                .unwrap_or_else(|e| panic!("{what}, cut {link}: {e}"));
        }
        s.last_change().saturating_duration_since(at)
    }

    #[test]
    fn rng_is_deterministic() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert!((0..100).all(|_| a.below(10) < 10));
    }

    #[test]
    fn a_loop_without_stp_storms_and_the_check_says_so() {
        let mut sim = Sim::new(1, Duration::from_millis(1));
        for _ in 0..3 {
            sim.add_bridge();
        }
        for (a, b) in [(0, 1), (1, 2), (2, 0)] {
            sim.connect(a, b);
        }
        for i in 0..3 {
            sim.bridges[i].set_enabled(Instant::ZERO, false);
            sim.collect(i);
        }
        assert!(matches!(sim.check_tree(), Err(SimError::NotATree { .. })));
        assert!(matches!(sim.flood(0), Err(SimError::Storm { .. })));
    }

    #[test]
    fn random_topologies_converge_to_one_tree() {
        for seed in 0..12u64 {
            for n in [2usize, 3, 4, 7, 12, 25] {
                let (sim, _) = converge(seed * 1000 + n as u64, n);
                let what = format!("seed {seed} n {n}");
                sim.check_tree().unwrap_or_else(|e| panic!("{what}: {e}"));
                let from = (seed as usize) % n;
                sim.check_flood(from)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                // Every root is the best bridge id.
                let best = sim.bridges().iter().map(Stp::bridge_id).min();
                assert!(sim
                    .bridges()
                    .iter()
                    .all(|s| Some(s.summary(0).unwrap().root) == best));
            }
        }
    }

    #[test]
    fn cutting_any_tree_link_reconverges() {
        for seed in 0..6u64 {
            for n in [2usize, 3, 5, 9, 16] {
                let (sim, _) = converge(seed * 77 + n as u64, n);
                for link in sim.forwarding_links() {
                    cut_and_check(&sim, link, false, &format!("seed {seed} n {n}"));
                }
            }
        }
    }

    #[test]
    fn a_silently_dead_tree_link_is_routed_around_after_the_info_expires() {
        for seed in 0..4u64 {
            let (sim, _) = converge(seed + 500, 12);
            for link in sim.forwarding_links().into_iter().take(4) {
                let took = cut_and_check(&sim, link, true, &format!("seed {seed}"));
                assert!(took <= Duration::from_secs(17), "{took:?}");
            }
        }
    }

    /// Convergence figures for BENCHMARKS.md: run with `--nocapture`.
    #[test]
    fn convergence_times_for_10_50_100_bridges() {
        for n in [10usize, 50, 100] {
            let mut conv = Vec::new();
            let mut reconv = Vec::new();
            let mut msgs = 0;
            for seed in 0..3u64 {
                let (sim, took) = converge(seed * 31 + n as u64, n);
                sim.check_tree().unwrap();
                sim.check_flood(0).unwrap();
                conv.push(secs(took));
                msgs += sim.delivered;
                let links = sim.forwarding_links();
                let mut rng = Rng::new(seed);
                for _ in 0..4 {
                    let link = links[rng.below(links.len() as u64) as usize];
                    let what = format!("n {n} seed {seed}");
                    reconv.push(secs(cut_and_check(&sim, link, false, &what)));
                }
            }
            let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            println!(
                "stp sim n={n:3}: converge mean {:.3}s max {:.3}s; reconverge after tree-link cut \
                 mean {:.3}s max {:.3}s; BPDUs delivered in 40 s: {}",
                mean(&conv),
                max(&conv),
                mean(&reconv),
                max(&reconv),
                msgs / 3
            );
        }
    }
}
