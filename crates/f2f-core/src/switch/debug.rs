//! vde_switch's debug events (`debug/add CATEGORY` on the console), as data.
//!
//! The switch records an event only while some console subscribed to its
//! category ([`Switch::set_debug_mask`]); the shell drains them
//! ([`Switch::poll_debug_event`]) after each call and hands them to the
//! subscribed sessions, which print them as vde_switch does
//! ([`crate::console::render_debug`]). At most [`MAX_PENDING`] wait; newer
//! ones are dropped and counted, so a burst (a flood of new source
//! addresses) costs bounded memory.
//!
//! Order within one call follows vde_switch: `port/+`, `port/ep/+`,
//! `port/descr` on attach; `port/ep/-`, `port/-`, then the forgotten
//! addresses (`hash/-`) on the last detach.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use super::{PortId, Switch, Vlan};
use crate::fdb::Change;
use crate::mac::MacAddr;
use crate::stp::{PortState, StpEvent};
use crate::wire::bpdu::BridgeId;

/// Most events waiting to be drained.
pub const MAX_PENDING: usize = 1024;

/// A debug category: vde_switch's path, octal tag and help text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// `hash/+` (011): a new MAC table entry.
    HashNew,
    /// `hash/-` (012): an entry removed.
    HashDel,
    /// `fstp/status` (044): a port's spanning-tree state changed.
    FstpStatus,
    /// `fstp/root` (045): the root bridge or root port changed.
    FstpRoot,
    /// `fstp/+` (041): a port started hearing BPDUs.
    FstpUp,
    /// `fstp/-` (042): a port stopped hearing BPDUs.
    FstpDown,
    /// `port/+` (021): a port was created.
    PortNew,
    /// `port/-` (022): a port's last endpoint left.
    PortDel,
    /// `port/descr` (023): an endpoint's description.
    PortDescr,
    /// `port/ep/+` (031): an endpoint attached.
    EndpointNew,
    /// `port/ep/-` (032): an endpoint left.
    EndpointDel,
}

impl Category {
    /// Every category, in vde_switch's `debug/list` order.
    pub const ALL: [Category; 11] = [
        Category::HashNew,
        Category::HashDel,
        Category::FstpStatus,
        Category::FstpRoot,
        Category::FstpUp,
        Category::FstpDown,
        Category::PortNew,
        Category::PortDel,
        Category::PortDescr,
        Category::EndpointNew,
        Category::EndpointDel,
    ];

    /// The path typed in `debug/add`.
    pub fn path(self) -> &'static str {
        self.info().0
    }

    /// The tag printed (in octal) before each line.
    pub fn tag(self) -> u16 {
        self.info().1
    }

    /// `debug/list`'s help text.
    pub fn help(self) -> &'static str {
        self.info().2
    }

    /// This category's bit in a mask.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }

    fn info(self) -> (&'static str, u16, &'static str) {
        match self {
            Category::HashNew => ("hash/+", 0o11, "hash: new element"),
            Category::HashDel => ("hash/-", 0o12, "hash: discarded element"),
            Category::FstpStatus => ("fstp/status", 0o44, "fstp: status change"),
            Category::FstpRoot => ("fstp/root", 0o45, "fstp: rootswitch/port change"),
            Category::FstpUp => ("fstp/+", 0o41, "fstp: port becomes active"),
            Category::FstpDown => ("fstp/-", 0o42, "fstp: port becomes inactive"),
            Category::PortNew => ("port/+", 0o21, "new port"),
            Category::PortDel => ("port/-", 0o22, "closed port"),
            Category::PortDescr => ("port/descr", 0o23, "set port description"),
            Category::EndpointNew => ("port/ep/+", 0o31, "new endpoint"),
            Category::EndpointDel => ("port/ep/-", 0o32, "closed endpoint"),
        }
    }
}

/// One debug event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebugEvent {
    /// A MAC table entry appeared (`added`) or went.
    Hash {
        /// True for `hash/+`, false for `hash/-`.
        added: bool,
        /// The address.
        mac: MacAddr,
        /// Its VLAN.
        vlan: Vlan,
        /// Its port.
        port: PortId,
    },
    /// A port was created (`port/+`) or lost its last endpoint (`port/-`).
    Port {
        /// True for `port/+`.
        added: bool,
        /// The port.
        port: PortId,
    },
    /// An endpoint attached (`port/ep/+`) or left (`port/ep/-`).
    Endpoint {
        /// True for `port/ep/+`.
        added: bool,
        /// Its port.
        port: PortId,
        /// Its id (`port/print`'s endpoint ID).
        id: u32,
    },
    /// An endpoint's description (`port/descr`).
    Description {
        /// Its port.
        port: PortId,
        /// Its id.
        id: u32,
        /// The description.
        text: String,
    },
    /// A port's neighbour started (`fstp/+`) or stopped (`fstp/-`) speaking.
    Neighbour {
        /// True for `fstp/+`.
        up: bool,
        /// The port.
        port: PortId,
        /// The VLAN.
        vlan: Vlan,
    },
    /// A port's spanning-tree state (`fstp/status`).
    State {
        /// The port.
        port: PortId,
        /// The VLAN.
        vlan: Vlan,
        /// The new state.
        state: PortState,
    },
    /// A VLAN's root (`fstp/root`); `port` 0 when we are the root.
    Root {
        /// The root port, 0 when we are the root.
        port: PortId,
        /// The VLAN.
        vlan: Vlan,
        /// The root bridge.
        root: BridgeId,
    },
}

impl DebugEvent {
    /// The category this event belongs to.
    pub fn category(&self) -> Category {
        match self {
            DebugEvent::Hash { added: true, .. } => Category::HashNew,
            DebugEvent::Hash { added: false, .. } => Category::HashDel,
            DebugEvent::Port { added: true, .. } => Category::PortNew,
            DebugEvent::Port { added: false, .. } => Category::PortDel,
            DebugEvent::Endpoint { added: true, .. } => Category::EndpointNew,
            DebugEvent::Endpoint { added: false, .. } => Category::EndpointDel,
            DebugEvent::Description { .. } => Category::PortDescr,
            DebugEvent::Neighbour { up: true, .. } => Category::FstpUp,
            DebugEvent::Neighbour { up: false, .. } => Category::FstpDown,
            DebugEvent::State { .. } => Category::FstpStatus,
            DebugEvent::Root { .. } => Category::FstpRoot,
        }
    }

    /// The debug event a spanning-tree event stands for, if any.
    pub(super) fn from_stp(event: StpEvent) -> Option<DebugEvent> {
        Some(match event {
            StpEvent::FlushVlan { .. } => return None,
            StpEvent::NeighbourUp { vlan, port } => DebugEvent::Neighbour {
                up: true,
                port,
                vlan,
            },
            StpEvent::NeighbourDown { vlan, port } => DebugEvent::Neighbour {
                up: false,
                port,
                vlan,
            },
            StpEvent::PortChanged {
                vlan, port, state, ..
            } => DebugEvent::State { port, vlan, state },
            StpEvent::RootChanged {
                vlan,
                root,
                root_port,
            } => DebugEvent::Root {
                port: root_port.unwrap_or(0),
                vlan,
                root,
            },
        })
    }

    fn from_fdb(change: Change) -> DebugEvent {
        let (added, key, port) = match change {
            Change::Added(k, p) => (true, k, p),
            Change::Removed(k, p) => (false, k, p),
        };
        DebugEvent::Hash {
            added,
            mac: key.mac,
            vlan: key.vlan,
            port,
        }
    }
}

/// The events waiting, and which categories are wanted.
#[derive(Clone, Debug, Default)]
pub(super) struct DebugLog {
    mask: u16,
    pending: VecDeque<DebugEvent>,
    dropped: u64,
}

impl DebugLog {
    /// Whether events of `category` are recorded.
    pub(super) fn wants(&self, category: Category) -> bool {
        self.mask & category.bit() != 0
    }

    /// Record `event` if its category is wanted and there is room.
    pub(super) fn push(&mut self, event: DebugEvent) {
        if !self.wants(event.category()) {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.dropped += 1;
        } else {
            self.pending.push_back(event);
        }
    }
}

impl<S: BuildHasher + Clone> Switch<S> {
    /// Record the events of the categories whose [`Category::bit`] is set in
    /// `mask` (the union of what the consoles subscribed to); 0 turns debug
    /// output off. Waiting events of categories no longer wanted are dropped.
    pub fn set_debug_mask(&mut self, mask: u16) {
        let log = &mut self.debug;
        log.mask = mask;
        log.pending.retain(|e| mask & e.category().bit() != 0);
        self.fdb
            .set_journal(log.wants(Category::HashNew), log.wants(Category::HashDel));
    }

    /// Whether events wait in [`Switch::poll_debug_event`].
    pub fn has_debug_events(&self) -> bool {
        !self.debug.pending.is_empty() || self.fdb.has_changes()
    }

    /// The next debug event: the switch's own first, then the MAC table's.
    pub fn poll_debug_event(&mut self) -> Option<DebugEvent> {
        self.debug
            .pending
            .pop_front()
            .or_else(|| self.fdb.take_change().map(DebugEvent::from_fdb))
    }

    /// Events dropped because too many waited.
    pub fn debug_events_dropped(&self) -> u64 {
        self.debug.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::{AttachRequest, Endpoint, PortRequest, SwitchConfig};
    use crate::time::Instant;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;

    type H = BuildHasherDefault<DefaultHasher>;

    fn attach(sw: &mut Switch<H>, id: u32) -> PortId {
        sw.attach(AttachRequest {
            port: PortRequest::Any,
            endpoint: Endpoint {
                id,
                module: "unix prog",
                description: format!("ep{id}"),
                user: 0,
            },
            groups: vec![],
        })
        .unwrap()
    }

    fn drain(sw: &mut Switch<H>) -> Vec<DebugEvent> {
        std::iter::from_fn(|| sw.poll_debug_event()).collect()
    }

    fn frame(src: u8) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, src, 0x08, 0x00]);
        f.resize(60, 0);
        f
    }

    #[test]
    fn nothing_is_recorded_without_subscribers() {
        let mut sw = Switch::new(SwitchConfig::default(), H::default());
        attach(&mut sw, 6);
        sw.decide(Instant::ZERO, 1, &frame(1), &mut Vec::new());
        assert!(!sw.has_debug_events());
    }

    #[test]
    fn attach_learn_detach_in_vde_switch_order() {
        let mut sw = Switch::new(SwitchConfig::default(), H::default());
        sw.set_debug_mask(u16::MAX);
        let port = attach(&mut sw, 6);
        sw.decide(Instant::ZERO, port, &frame(0x11), &mut Vec::new());
        assert!(sw.detach(port, 6));
        let mac: MacAddr = "02:00:00:00:00:11".parse().unwrap();
        assert_eq!(
            drain(&mut sw),
            [
                DebugEvent::Port { added: true, port },
                DebugEvent::Endpoint {
                    added: true,
                    port,
                    id: 6
                },
                DebugEvent::Description {
                    port,
                    id: 6,
                    text: "ep6".into()
                },
                DebugEvent::Endpoint {
                    added: false,
                    port,
                    id: 6
                },
                DebugEvent::Port { added: false, port },
                DebugEvent::Hash {
                    added: true,
                    mac,
                    vlan: 0,
                    port
                },
                DebugEvent::Hash {
                    added: false,
                    mac,
                    vlan: 0,
                    port
                },
            ]
        );
        // The port still exists: a new endpoint there is no `port/+`.
        attach(&mut sw, 7);
        assert_eq!(
            drain(&mut sw).first().map(DebugEvent::category),
            Some(Category::EndpointNew)
        );
    }

    #[test]
    fn mask_selects_categories_and_the_queue_is_bounded() {
        let mut sw = Switch::new(
            SwitchConfig {
                numports: 2000,
                ..SwitchConfig::default()
            },
            H::default(),
        );
        sw.set_debug_mask(Category::EndpointNew.bit());
        for id in 0..1500 {
            attach(&mut sw, id);
        }
        let got = drain(&mut sw);
        assert_eq!(got.len(), MAX_PENDING);
        assert!(got.iter().all(|e| e.category() == Category::EndpointNew));
        assert_eq!(sw.debug_events_dropped(), 1500 - MAX_PENDING as u64);
    }
}
