//! One VLAN's spanning tree: what each port last heard, the root selection
//! and the role/state of every port. Pure decisions; [`super::Stp`] turns
//! their outcome into BPDUs and events.
//!
//! Invariants after every [`Tree::recompute`]:
//! - at most one port has role [`Role::Root`], and it is the port named by
//!   [`RootInfo::Via`];
//! - a port's state is Forwarding exactly when its role is Root, Designated
//!   or Edge; Alternate ports are Discarding;
//! - [`RootInfo::Via`] only ever names a port whose neighbour advertised a
//!   root strictly better than our own id (so `Own` ⇔ we are the root).

use std::collections::BTreeMap;

use super::{PortState, Role, DEFAULT_COST, INFO_LIFETIME, MAX_AGE_HOPS};
use crate::time::Instant;
use crate::wire::bpdu::{Bpdu, BpduFlags, BridgeId};

/// A priority vector as vde_switch compares them (lower is better): root id,
/// root path cost, designated bridge, designated port id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Vector {
    pub root: BridgeId,
    pub cost: u32,
    pub bridge: BridgeId,
    pub port_id: u16,
}

/// What a port's neighbour last told us in a BPDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    /// The neighbour's vector as sent (our port cost not yet added).
    pub vector: Vector,
    pub flags: BpduFlags,
    /// Message age as sent: hops from the root for our switches, seconds
    /// since the last refresh for vde_switch.
    pub age: u16,
}

impl Info {
    pub fn from_bpdu(b: &Bpdu) -> Info {
        Info {
            vector: Vector {
                root: b.root,
                cost: b.root_cost,
                bridge: b.bridge,
                port_id: b.port_id,
            },
            flags: b.flags,
            age: b.message_age,
        }
    }

    /// May this information give us our root port? (Module docs of
    /// [`super`]: better root, not our own BPDU, not from the neighbour's
    /// own root port, not aged out.)
    fn is_root_candidate(&self, me: BridgeId) -> bool {
        self.vector.root < me
            && self.vector.bridge != me
            && !self.flags.sender_is_root_port()
            && self.age < MAX_AGE_HOPS
    }
}

/// Whether a port hears BPDUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Neighbour {
    /// No BPDU within [`INFO_LIFETIME`] (a plain VM, a tap, or a switch
    /// without FSTP): the port forwards.
    Silent,
    /// A spanning-tree speaker.
    Speaking {
        info: Info,
        /// When the last BPDU arrived; the info expires
        /// [`INFO_LIFETIME`] later.
        received: Instant,
        /// The neighbour confirmed, since our last root change, that this
        /// link is its root port under our root.
        agreed: bool,
    },
}

/// One port's membership in the VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Port {
    pub tagged: bool,
    pub edge: bool,
    pub cost: u32,
    pub neighbour: Neighbour,
    pub role: Role,
    pub state: PortState,
    /// When we last sent a BPDU here.
    pub last_tx: Option<Instant>,
    /// A BPDU is owed here once [`super::TX_GAP`] has passed since
    /// `last_tx`; `Some(true)` when it must carry a topology change.
    pub pending: Option<bool>,
}

impl Port {
    pub fn new(tagged: bool) -> Port {
        Port {
            tagged,
            edge: false,
            cost: DEFAULT_COST,
            neighbour: Neighbour::Silent,
            role: Role::Designated,
            state: PortState::Forwarding,
            last_tx: None,
            pending: None,
        }
    }

    /// When the BPDU owed here may go, if one is owed.
    pub fn pending_at(&self) -> Option<Instant> {
        self.pending?;
        Some(self.last_tx.map_or(Instant::ZERO, |t| t + super::TX_GAP))
    }

    /// The neighbour speaks FSTP (vde_switch's `FSTP_ACTIVE`).
    pub fn speaking(&self) -> bool {
        matches!(self.neighbour, Neighbour::Speaking { .. })
    }
}

/// Where our root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RootInfo {
    /// We are the root.
    Own,
    /// The root is reached through `port`.
    Via {
        port: u16,
        /// The root port's vector with our path cost added.
        vector: Vector,
        /// Message age we advertise (hops from the root).
        age: u16,
        /// When the root port's information last arrived.
        since: Instant,
    },
}

/// What changed in one recomputation.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// The root id or the root port changed.
    pub root_changed: bool,
    /// Root id, cost or age we advertise changed.
    pub advert_changed: bool,
    /// Ports whose role or state changed, with the new ones.
    pub ports_changed: Vec<(u16, Role, PortState)>,
}

impl Outcome {
    /// The active topology may have changed: MAC tables must be flushed.
    pub fn topology_changed(&self) -> bool {
        self.root_changed || !self.ports_changed.is_empty()
    }
}

/// One VLAN's tree.
#[derive(Debug, Clone)]
pub(super) struct Tree {
    /// Member ports; a `BTreeMap` so that every decision and every printout
    /// goes in port order, deterministically.
    pub ports: BTreeMap<u16, Port>,
    pub root: RootInfo,
    /// `fstp/bonus`: (port, cost subtracted from paths received there).
    pub bonus: (u16, i32),
    /// Last topology change we started or passed on.
    pub last_tc: Option<Instant>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            ports: BTreeMap::new(),
            root: RootInfo::Own,
            bonus: (0, 0),
            last_tc: None,
        }
    }

    /// Forget every neighbour and become root; every port forwards.
    /// (vde_switch's `fstnewvlan`, used when FSTP is switched on or off.)
    pub fn reset(&mut self) {
        self.root = RootInfo::Own;
        for port in self.ports.values_mut() {
            port.neighbour = Neighbour::Silent;
            port.role = if port.edge {
                Role::Edge
            } else {
                Role::Designated
            };
            port.state = PortState::Forwarding;
        }
    }

    /// Root bridge id.
    pub fn root_id(&self, me: BridgeId) -> BridgeId {
        match self.root {
            RootInfo::Own => me,
            RootInfo::Via { vector, .. } => vector.root,
        }
    }

    /// Root port, if we are not the root.
    pub fn root_port(&self) -> Option<u16> {
        match self.root {
            RootInfo::Own => None,
            RootInfo::Via { port, .. } => Some(port),
        }
    }

    /// Root path cost we advertise.
    pub fn root_cost(&self) -> u32 {
        match self.root {
            RootInfo::Own => 0,
            RootInfo::Via { vector, .. } => vector.cost,
        }
    }

    /// Message age we advertise.
    pub fn age(&self) -> u16 {
        match self.root {
            RootInfo::Own => 0,
            RootInfo::Via { age, .. } => age,
        }
    }

    /// Designated bridge of our root vector (ff… when we are the root).
    pub fn designated(&self) -> BridgeId {
        match self.root {
            RootInfo::Own => BridgeId::NONE,
            RootInfo::Via { vector, .. } => vector.bridge,
        }
    }

    /// Cost added to a path received on `port`: its cost minus the bonus,
    /// never below 1 so that costs strictly grow away from the root.
    fn added_cost(&self, port: u16, cost: u32) -> u32 {
        let bonus = if port == self.bonus.0 {
            i64::from(self.bonus.1)
        } else {
            0
        };
        let c = i64::from(cost)
            .saturating_sub(bonus)
            .clamp(1, i64::from(u32::MAX));
        u32::try_from(c).unwrap_or(u32::MAX)
    }

    /// Record a BPDU heard on `port` (not edge). Returns whether the port
    /// had been silent.
    pub fn store(&mut self, now: Instant, port: u16, info: Info) -> bool {
        let Some(p) = self.ports.get_mut(&port) else {
            return false;
        };
        let was_silent = !p.speaking();
        let agreed = match p.neighbour {
            Neighbour::Speaking { agreed, .. } => agreed,
            Neighbour::Silent => false,
        };
        p.neighbour = Neighbour::Speaking {
            info,
            received: now,
            agreed,
        };
        was_silent
    }

    /// Forget neighbours silent for [`INFO_LIFETIME`]; returns their ports.
    pub fn expire(&mut self, now: Instant) -> Vec<u16> {
        let mut silent = Vec::new();
        for (&n, p) in &mut self.ports {
            if let Neighbour::Speaking { received, .. } = p.neighbour {
                if received + INFO_LIFETIME <= now {
                    p.neighbour = Neighbour::Silent;
                    silent.push(n);
                }
            }
        }
        silent
    }

    /// Earliest instant a neighbour's information expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.ports
            .values()
            .filter_map(|p| match p.neighbour {
                Neighbour::Speaking { received, .. } => Some(received + INFO_LIFETIME),
                Neighbour::Silent => None,
            })
            .min()
    }

    /// Choose the root port and every port's role and state.
    ///
    /// `fresh` is the port whose BPDU triggered this, if any: its agreement
    /// is re-read from that BPDU after the root selection.
    pub fn recompute(&mut self, me: BridgeId, fresh: Option<u16>) -> Outcome {
        let mut out = Outcome::default();
        let old_root = (self.root_id(me), self.root_port());
        let old_advert = (self.root_id(me), self.root_cost(), self.age());

        self.root = self.select(me);
        let root_id = self.root_id(me);
        let root_port = self.root_port();
        out.root_changed = old_root != (root_id, root_port);
        out.advert_changed = old_advert != (root_id, self.root_cost(), self.age());

        for (&n, p) in self.ports.iter_mut() {
            if let Neighbour::Speaking { info, agreed, .. } = &mut p.neighbour {
                if Some(n) == fresh {
                    *agreed = info.flags.sender_is_root_port() && info.vector.root == root_id;
                } else if out.root_changed {
                    // Fast protocol: a child must confirm again under the
                    // new root before we forward to it.
                    *agreed = false;
                }
            }
            let (role, state) = role_of(n, p, root_id, root_port);
            if (role, state) != (p.role, p.state) {
                p.role = role;
                p.state = state;
                out.ports_changed.push((n, role, state));
            }
        }
        out
    }

    /// The best root information over all ports (IEEE 802.1D-2004 §17.6
    /// priority-vector comparison, with vde_switch's vector), or `Own`.
    fn select(&self, me: BridgeId) -> RootInfo {
        let mut best: Option<(Vector, u16, u16, Instant)> = None;
        for (&n, p) in &self.ports {
            if p.edge {
                continue;
            }
            let Neighbour::Speaking { info, received, .. } = p.neighbour else {
                continue;
            };
            if !info.is_root_candidate(me) {
                continue;
            }
            let v = Vector {
                cost: info.vector.cost.saturating_add(self.added_cost(n, p.cost)),
                ..info.vector
            };
            let better = match best {
                None => true,
                Some((bv, bn, _, _)) => (v, n) < (bv, bn),
            };
            if better {
                best = Some((v, n, info.age, received));
            }
        }
        match best {
            None => RootInfo::Own,
            Some((vector, port, age, since)) => RootInfo::Via {
                port,
                vector,
                age: age.saturating_add(1),
                since,
            },
        }
    }
}

/// A port's role and state given the root selection.
fn role_of(n: u16, p: &Port, root_id: BridgeId, root_port: Option<u16>) -> (Role, PortState) {
    if p.edge {
        return (Role::Edge, PortState::Forwarding);
    }
    if Some(n) == root_port {
        return (Role::Root, PortState::Forwarding);
    }
    match p.neighbour {
        // No spanning tree on the other side: a host, forward to it.
        Neighbour::Silent => (Role::Designated, PortState::Forwarding),
        // The neighbour hangs below us in our tree.
        Neighbour::Speaking { info, agreed, .. }
            if agreed && info.flags.sender_is_root_port() && info.vector.root == root_id =>
        {
            (Role::Designated, PortState::Forwarding)
        }
        // A redundant link (blocked at both ends, as vde_switch does), or a
        // neighbour that has not yet agreed to our root.
        Neighbour::Speaking { .. } => (Role::Alternate, PortState::Discarding),
    }
}
