//! The learning switch: ports, VLAN membership, counters, and the forwarding
//! decision for one frame.
//!
//! The shell owns the sockets; this module owns every decision. For each
//! received frame the shell calls [`Switch::decide`], which learns the source
//! address, picks the egress ports and says how each copy must look (tag
//! added, stripped or left alone). The shell then writes the copies.
//!
//! Behaviour follows vde_switch 2.3.2 (`port.c`, `handle_in_packet`), with
//! these deliberate differences:
//! - frames longer than `max_frame` are dropped and counted, not truncated
//!   (a truncated frame is only a corrupted frame);
//! - a frame whose destination was learned on its own ingress port is dropped
//!   and counted as `Filtered` instead of vanishing silently.
//!
//! Invariants: a frame never goes back out of its ingress port (nor to another
//! endpoint of that port: endpoints are the shell's business, the decision is
//! per port); frames of a VLAN reach only that VLAN's members; the MAC table
//! never exceeds its capacity.
//!
//! Spanning tree ([`crate::stp`], `-F`) lives inside the switch so that every
//! decision consults it: BPDUs (destination 01:80:c2:00:00:00) are consumed
//! while FSTP is on, a discarding port neither learns nor forwards, and a
//! topology change flushes the VLAN's learned addresses. The wiring is in
//! `switch/spanning.rs`; the shell sends what [`Switch::poll_transmit`] gives.
//!
//! VLAN 0 is the default untagged VLAN and always exists. A port is an
//! untagged member of exactly one VLAN (`port/setvlan`) and a tagged member of
//! any number (`vlan/addport`). Only TPID 0x8100 is a tag (IEEE 802.1Q §9.5).

use std::collections::BTreeSet;
use std::hash::BuildHasher;

mod vlan;

use crate::fdb::{Fdb, FdbConfig, Learned, Vlan};
use crate::mac::MacAddr;
use crate::stp::{Stp, StpConfig};
use crate::time::Instant;
use crate::wire::bpdu::{BridgeId, BPDU_DST};

mod debug;
mod spanning;

pub use debug::{Category, DebugEvent, MAX_PENDING as MAX_DEBUG_EVENTS};
pub use spanning::{BpduOut, HubModeError};

/// A port number, 0..numports.
pub type PortId = u16;

/// Ethernet header length (two addresses and the type), IEEE 802.3 §3.1.1.
pub const ETH_HEADER_LEN: usize = 14;
/// Length of an 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;
/// The 802.1Q tag protocol identifier.
pub const TPID_8021Q: u16 = 0x8100;
/// Largest VLAN id a tag can name that may be used (4095 is reserved).
pub const MAX_VLAN: Vlan = 4094;
/// Largest VLAN `vlan/create` accepts: vde_switch's table holds 0..4094 and
/// refuses 4094 itself (`port.c`, `vlancreate`: `vlan < NUMOFVLAN-1`).
pub const MAX_CREATABLE_VLAN: Vlan = 4093;
/// `port/setvlan N 4095`: the port carries no untagged traffic at all
/// (vde_switch's `NOVLAN`).
pub const NO_VLAN: Vlan = 4095;
/// vde_switch's default MAC table size (`--hashsize`, `hash/setsize`).
pub const DEFAULT_HASH_SIZE: usize = 128;
/// vde_switch's default number of ports.
pub const DEFAULT_NUMPORTS: usize = 32;
/// vde_switch's largest frame: 1500 bytes of payload, header and a VLAN tag.
pub const DEFAULT_MAX_FRAME: usize = 1518;
/// Largest `--max-frame` accepted.
pub const MAX_FRAME_LIMIT: usize = 65535;
/// Longest offloaded super-frame: a 64 KiB IP packet behind an Ethernet
/// header and two VLAN tags.
pub const MAX_SUPER_FRAME: usize = 65535 + 14 + 8;

/// Static configuration of a switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchConfig {
    /// Number of ports (numbers 0..numports; port 0 is only given on request).
    pub numports: usize,
    /// Hub mode: every frame to every other port, no learning, no VLANs.
    pub hub: bool,
    /// Largest frame forwarded; longer ones are dropped and counted.
    pub max_frame: usize,
    /// The MAC table's capacity and timers.
    pub fdb: FdbConfig,
    /// The switch's own MAC address.
    pub mac: MacAddr,
    /// `-F`: fast spanning tree on from the start (ignored in hub mode).
    pub fstp: bool,
    /// `--priority`: the spanning-tree bridge priority (lower wins).
    pub priority: u16,
    /// vde_switch's hash table size (`--hashsize`, `hash/setsize`), a power
    /// of two. Only shown by `hash/showinfo` and used for the `Hash:` column
    /// of `hash/print`: the table's real bound is `fdb.capacity`.
    pub hash_size: usize,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            numports: DEFAULT_NUMPORTS,
            hub: false,
            max_frame: DEFAULT_MAX_FRAME,
            fdb: FdbConfig::default(),
            mac: MacAddr([0x00, 0xff, 0, 0, 0, 1]),
            fstp: false,
            priority: BridgeId::DEFAULT_PRIORITY,
            hash_size: DEFAULT_HASH_SIZE,
        }
    }
}

/// vde_switch rounds a hash size up to a power of two (`hash.c`, `po2round`);
/// 0 stays 0 (refused by the caller).
pub fn round_hash_size(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.checked_next_power_of_two()
            .unwrap_or(1 << (usize::BITS - 1))
    }
}

/// Why a frame was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than an Ethernet header (or a tag announced but cut off).
    Runt,
    /// Longer than the switch's `max_frame`.
    Oversize,
    /// Tagged for a VLAN the port is not a tagged member of, or for a VLAN
    /// that does not exist.
    Vlan,
    /// The destination lives on the ingress port itself.
    Filtered,
    /// The ingress port is not active (a frame raced a detach).
    Inactive,
    /// The egress socket or queue was full (counted by the shell).
    EgressFull,
    /// The ingress port is discarding in this VLAN's spanning tree (a
    /// redundant link, blocked).
    Discarding,
    /// Sent to the spanning-tree address while FSTP is on, but not a BPDU
    /// FSTP accepts (truncated, another version or type).
    BadBpdu,
    /// From a new source address while the ingress port already holds its
    /// limit of learned addresses (`--port-max-macs`, port security).
    MacLimit,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 9] = [
        DropReason::Runt,
        DropReason::Oversize,
        DropReason::Vlan,
        DropReason::Filtered,
        DropReason::Inactive,
        DropReason::EgressFull,
        DropReason::Discarding,
        DropReason::BadBpdu,
        DropReason::MacLimit,
    ];

    /// Short name used in counters, `port/stats` and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Runt => "runt",
            DropReason::Oversize => "oversize",
            DropReason::Vlan => "vlan",
            DropReason::Filtered => "filtered",
            DropReason::Inactive => "inactive",
            DropReason::EgressFull => "egress_full",
            DropReason::Discarding => "discarding",
            DropReason::BadBpdu => "bad_bpdu",
            DropReason::MacLimit => "mac_limit",
        }
    }

    const fn index(self) -> usize {
        match self {
            DropReason::Runt => 0,
            DropReason::Oversize => 1,
            DropReason::Vlan => 2,
            DropReason::Filtered => 3,
            DropReason::Inactive => 4,
            DropReason::EgressFull => 5,
            DropReason::Discarding => 6,
            DropReason::BadBpdu => 7,
            DropReason::MacLimit => 8,
        }
    }
}

/// Per-port traffic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received and accepted.
    pub in_frames: u64,
    /// Bytes of accepted received frames.
    pub in_bytes: u64,
    /// Frames sent out of the port.
    pub out_frames: u64,
    /// Bytes sent out of the port.
    pub out_bytes: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl PortCounters {
    /// Frames dropped for `reason` (counted on the ingress port, or on the
    /// egress port for [`DropReason::EgressFull`]).
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    fn count_drop(&mut self, reason: DropReason) {
        if let Some(c) = self.drops.get_mut(reason.index()) {
            *c += 1;
        }
    }
}

/// The `user` of an endpoint the switch attached itself (a tap, a stream
/// connection without credentials): vde_switch's uid -1, shown as `NONE` by
/// `port/print`. Such an endpoint gives its port no current user and is not
/// subject to port access control.
pub const NO_USER: u32 = u32::MAX;

/// One client connection attached to a port (several may share a port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Identifier shown by `port/print` (vde_switch shows its control fd).
    pub id: u32,
    /// Kind of endpoint: `unix` for VDE clients, `tap`, `stream`, ….
    pub module: &'static str,
    /// The client's self-description.
    pub description: String,
    /// Owner uid of the client, or [`NO_USER`].
    pub user: u32,
}

/// A port of the switch. It exists once created or used, and is active while
/// at least one endpoint is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Attached endpoints, newest first (as vde_switch lists them).
    pub endpoints: Vec<Endpoint>,
    /// Whether the port is handed out for "any free port" requests.
    pub allocatable: bool,
    /// The VLAN untagged frames on this port belong to.
    pub untagged_vlan: Vlan,
    /// The VLANs this port carries tagged.
    pub tagged_vlans: BTreeSet<Vlan>,
    /// Uid of the endpoints' owner while active.
    pub current_user: Option<u32>,
    /// Access control: only this uid (and root) may attach, if set.
    pub access_user: Option<u32>,
    /// Access control: only members of this gid (and root) may attach, if set.
    pub access_group: Option<u32>,
    /// Traffic counters.
    pub counters: PortCounters,
}

impl Port {
    fn new(allocatable: bool) -> Port {
        Port {
            endpoints: Vec::new(),
            allocatable,
            untagged_vlan: 0,
            tagged_vlans: BTreeSet::new(),
            current_user: None,
            access_user: None,
            access_group: None,
            counters: PortCounters::default(),
        }
    }

    /// True while at least one endpoint is attached.
    pub fn is_active(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// How this port carries `vlan`: `Some(None)` untagged, `Some(Some(v))`
    /// tagged, `None` not at all.
    fn carries(&self, vlan: Vlan) -> Option<Option<Vlan>> {
        if self.untagged_vlan == vlan {
            Some(None)
        } else if self.tagged_vlans.contains(&vlan) {
            Some(Some(vlan))
        } else {
            None
        }
    }
}

/// Which port a client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRequest {
    /// The lowest free allocatable port from 1.
    Any,
    /// Exactly this port.
    Number(u32),
    /// Port 0 (management clients).
    Zero,
}

/// A client asking to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachRequest {
    /// The port wanted.
    pub port: PortRequest,
    /// The endpoint that will be attached.
    pub endpoint: Endpoint,
    /// Groups the client's user belongs to (for port access control).
    pub groups: Vec<u32>,
}

/// Why a client could not attach.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// The port number is beyond the switch's port count.
    #[error("port {port} does not exist: the switch has ports 0..{numports} (-n)")]
    TooHigh {
        /// Port asked for.
        port: u32,
        /// The switch's port count.
        numports: usize,
    },
    /// The port is in use by another user.
    #[error("port {port} is in use by uid {owner}; uid {user} may not share it")]
    Busy {
        /// Port asked for.
        port: PortId,
        /// Its current user.
        owner: u32,
        /// The user asking.
        user: u32,
    },
    /// Port access control denies this user.
    #[error("port {port} access control (port/setuser, port/setgroup) denies uid {user}")]
    AccessDenied {
        /// Port asked for.
        port: PortId,
        /// The user asking.
        user: u32,
    },
    /// Every allocatable port is in use.
    #[error("no free port: all {numports} ports are in use or not allocatable")]
    Full {
        /// The switch's port count.
        numports: usize,
    },
}

/// Why a configuration change was refused. Each maps to the errno that
/// vde_switch's console reports for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The argument is out of range.
    #[error("invalid argument")]
    Invalid,
    /// The thing to create exists already.
    #[error("already exists")]
    Exists,
    /// The port is in use (endpoints attached, or ports above a new count).
    #[error("in use")]
    InUse,
    /// The port or VLAN does not exist.
    #[error("no such port or VLAN")]
    NoDevice,
    /// No room left (no free port number).
    #[error("no space left")]
    NoSpace,
}

impl ConfigError {
    /// The errno vde_switch's console prints for this error.
    pub const fn errno(self) -> u16 {
        match self {
            ConfigError::Invalid => 22,
            ConfigError::Exists => 17,
            ConfigError::InUse => 98,
            ConfigError::NoDevice => 6,
            ConfigError::NoSpace => 28,
        }
    }
}

/// How one copy of a frame must be written on its egress port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// Send the frame as received.
    AsIs,
    /// Insert an 802.1Q tag with this VLAN id after the source address.
    AddTag(Vlan),
    /// Remove the frame's 802.1Q tag.
    StripTag,
}

/// One copy of a frame to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Egress {
    /// Where to send it.
    pub port: PortId,
    /// How it must look there.
    pub rewrite: Rewrite,
}

/// The decision for one frame. The egress list goes into the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    /// To the one port where the destination was learned.
    Unicast,
    /// To every member of the VLAN but the ingress (broadcast, multicast,
    /// unknown destination, or hub mode), leaving out ports the spanning
    /// tree keeps discarding.
    Flood,
    /// Taken by the switch itself: a BPDU handed to the spanning tree while
    /// FSTP is on. Counted as received, forwarded nowhere.
    Consumed,
    /// Not forwarded.
    Drop(DropReason),
}

/// The switch: ports, VLANs, the MAC table and the spanning tree.
#[derive(Debug)]
pub struct Switch<S> {
    config: SwitchConfig,
    ports: Vec<Option<Port>>,
    vlans: BTreeSet<Vlan>,
    fdb: Fdb<S>,
    next_gc: Instant,
    stp: Stp,
    /// Ports or VLANs may have changed since the spanning tree last heard
    /// of them (see `spanning.rs`, `sync_stp`).
    stp_stale: bool,
    debug: debug::DebugLog,
}

impl<S: BuildHasher + Clone> Switch<S> {
    /// A switch with no ports in use. `hasher` keys the MAC table's hash; the
    /// shell builds it from OS randomness.
    pub fn new(config: SwitchConfig, hasher: S) -> Self {
        let fdb = Fdb::new(config.fdb, hasher);
        let stp = Stp::new(StpConfig {
            priority: config.priority,
            enabled: config.fstp && !config.hub,
            ..StpConfig::new(config.mac)
        });
        Switch {
            ports: vec![None; config.numports],
            vlans: BTreeSet::from([0]),
            fdb,
            next_gc: Instant::ZERO,
            stp,
            stp_stale: false,
            debug: debug::DebugLog::default(),
            config,
        }
    }

    /// The configuration (numports and hub mode reflect runtime changes).
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// The MAC table.
    pub fn fdb(&self) -> &Fdb<S> {
        &self.fdb
    }

    /// The MAC table, for `hash/*` commands.
    pub fn fdb_mut(&mut self) -> &mut Fdb<S> {
        &mut self.fdb
    }

    /// Port `id`, if it exists.
    pub fn port(&self, id: PortId) -> Option<&Port> {
        self.ports.get(usize::from(id))?.as_ref()
    }

    /// Every existing port, in order.
    pub fn ports(&self) -> impl Iterator<Item = (PortId, &Port)> + '_ {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((PortId::try_from(i).ok()?, p.as_ref()?)))
    }

    /// Existing VLANs (0 always).
    pub fn vlans(&self) -> impl Iterator<Item = Vlan> + '_ {
        self.vlans.iter().copied()
    }

    /// Attach an endpoint, allocating or sharing a port as vde_switch does
    /// (`port.c` `alloc_port`, `setup_ep`).
    pub fn attach(&mut self, req: AttachRequest) -> Result<PortId, AttachError> {
        let user = req.endpoint.user;
        let id = match req.port {
            PortRequest::Zero => 0,
            PortRequest::Any => self.free_port()?,
            PortRequest::Number(n) => {
                let numports = self.config.numports;
                match PortId::try_from(n) {
                    Ok(id) if usize::from(id) < numports => id,
                    _ => return Err(AttachError::TooHigh { port: n, numports }),
                }
            }
        };
        let slot = self
            .ports
            .get_mut(usize::from(id))
            .ok_or(AttachError::TooHigh {
                port: u32::from(id),
                numports: self.config.numports,
            })?;
        let created = slot.is_none();
        let port = slot.get_or_insert_with(|| Port::new(true));
        if let Some(owner) = port.current_user.filter(|_| port.is_active()) {
            if owner != user {
                return Err(AttachError::Busy {
                    port: id,
                    owner,
                    user,
                });
            }
        }
        let allowed_user = port.access_user.is_none_or(|u| u == user);
        let allowed_group = port.access_group.is_none_or(|g| req.groups.contains(&g));
        if user != 0 && user != NO_USER && !(allowed_user && allowed_group) {
            return Err(AttachError::AccessDenied { port: id, user });
        }
        if user != NO_USER {
            port.current_user = Some(user);
        }
        let (ep, text) = (req.endpoint.id, req.endpoint.description.clone());
        port.endpoints.insert(0, req.endpoint);
        self.stp_stale = true;
        if created {
            self.debug.push(DebugEvent::Port {
                added: true,
                port: id,
            });
        }
        self.debug.push(DebugEvent::Endpoint {
            added: true,
            port: id,
            id: ep,
        });
        if self.debug.wants(Category::PortDescr) {
            self.debug.push(DebugEvent::Description {
                port: id,
                id: ep,
                text,
            });
        }
        Ok(id)
    }

    /// Detach endpoint `endpoint_id` from `port`. When the last endpoint goes
    /// the port turns inactive and its learned addresses are forgotten.
    /// Returns true if the endpoint was attached there.
    pub fn detach(&mut self, port: PortId, endpoint_id: u32) -> bool {
        let Some(Some(p)) = self.ports.get_mut(usize::from(port)) else {
            return false;
        };
        let before = p.endpoints.len();
        p.endpoints.retain(|e| e.id != endpoint_id);
        let found = p.endpoints.len() != before;
        let emptied = found && p.endpoints.is_empty();
        if emptied {
            p.current_user = None;
        }
        if found {
            self.debug.push(DebugEvent::Endpoint {
                added: false,
                port,
                id: endpoint_id,
            });
        }
        if emptied {
            self.debug.push(DebugEvent::Port { added: false, port });
            self.fdb.flush_port(port);
            self.stp_stale = true;
        }
        found
    }

    /// Decide where `frame`, received on `ingress` at `now`, goes. The egress
    /// copies are written into `out` (cleared first); counters are updated.
    pub fn decide(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        out: &mut Vec<Egress>,
    ) -> Forward {
        let limit = self.config.max_frame;
        self.decide_within(now, ingress, frame, limit, out)
    }

    /// [`Switch::decide`] for an offloaded super-frame from a tap with
    /// virtio-net headers (see [`crate::wire::offload`]): it may be longer
    /// than `max_frame` (up to [`MAX_SUPER_FRAME`]) since it stands for
    /// several ordinary frames.
    pub fn decide_offloaded(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        out: &mut Vec<Egress>,
    ) -> Forward {
        self.decide_within(now, ingress, frame, MAX_SUPER_FRAME, out)
    }

    fn decide_within(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        limit: usize,
        out: &mut Vec<Egress>,
    ) -> Forward {
        out.clear();
        if self.stp_stale {
            self.sync_stp(now);
        }
        let verdict = self.classify(now, ingress, frame, limit, out);
        if verdict == Forward::Consumed {
            self.apply_stp_events();
        }
        let len = frame.len() as u64;
        if let Some(Some(p)) = self.ports.get_mut(usize::from(ingress)) {
            match verdict {
                Forward::Drop(reason) => p.counters.count_drop(reason),
                _ => {
                    p.counters.in_frames += 1;
                    p.counters.in_bytes += len;
                }
            }
        }
        for e in out.iter() {
            if let Some(Some(p)) = self.ports.get_mut(usize::from(e.port)) {
                p.counters.out_frames += 1;
                p.counters.out_bytes += match e.rewrite {
                    Rewrite::AsIs => len,
                    Rewrite::AddTag(_) => len + VLAN_TAG_LEN as u64,
                    Rewrite::StripTag => len.saturating_sub(VLAN_TAG_LEN as u64),
                };
            }
        }
        verdict
    }

    /// Create port `id`, inactive and not allocatable (`port/create`).
    pub fn create_port(&mut self, id: PortId) -> Result<(), ConfigError> {
        match self.ports.get_mut(usize::from(id)) {
            None => Err(ConfigError::Invalid),
            Some(Some(_)) => Err(ConfigError::Exists),
            Some(slot) => {
                *slot = Some(Port::new(false));
                self.stp_stale = true;
                self.debug.push(DebugEvent::Port {
                    added: true,
                    port: id,
                });
                Ok(())
            }
        }
    }

    /// Create the lowest-numbered port that does not exist yet, from 1
    /// (`port/createauto`).
    pub fn create_port_auto(&mut self) -> Result<PortId, ConfigError> {
        let id = self
            .ports
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, p)| p.is_none())
            .and_then(|(i, _)| PortId::try_from(i).ok())
            .ok_or(ConfigError::NoSpace)?;
        self.create_port(id).map(|()| id)
    }

    /// Delete an inactive port (`port/remove`).
    pub fn remove_port(&mut self, id: PortId) -> Result<(), ConfigError> {
        let slot = self
            .ports
            .get_mut(usize::from(id))
            .ok_or(ConfigError::Invalid)?;
        match slot {
            None => Err(ConfigError::NoDevice),
            Some(p) if p.is_active() => Err(ConfigError::InUse),
            Some(_) => {
                *slot = None;
                self.stp_stale = true;
                Ok(())
            }
        }
    }

    /// Mutable access to an existing port's settings (VLAN, access control,
    /// allocatable flag); `NoDevice` if it does not exist. The spanning tree
    /// learns of VLAN changes made here at the next call that has a `now`.
    pub fn port_mut(&mut self, id: PortId) -> Result<&mut Port, ConfigError> {
        self.stp_stale = true;
        match self.ports.get_mut(usize::from(id)) {
            None => Err(ConfigError::Invalid),
            Some(None) => Err(ConfigError::NoDevice),
            Some(Some(p)) => Ok(p),
        }
    }

    /// Change the number of ports (`port/setnumports`); refused while a port
    /// at or above `n` exists.
    pub fn set_numports(&mut self, n: usize) -> Result<(), ConfigError> {
        if n == 0 || n > usize::from(PortId::MAX) {
            return Err(ConfigError::Invalid);
        }
        if self.ports.iter().skip(n).any(Option::is_some) {
            return Err(ConfigError::InUse);
        }
        self.ports.resize(n, None);
        self.config.numports = n;
        self.stp_stale = true;
        Ok(())
    }

    /// Switch hub mode on or off (`port/sethub`). Hub mode and spanning tree
    /// exclude each other: turning the hub on turns FSTP off.
    pub fn set_hub(&mut self, hub: bool) {
        self.config.hub = hub;
        if hub {
            // Switching off reads no time (only switching on arms timers).
            self.stp.set_enabled(Instant::ZERO, false);
        }
        self.stp_stale = true;
    }

    /// Zero the counters of one port, or of all when `port` is `None`.
    pub fn reset_counters(&mut self, port: Option<PortId>) -> Result<(), ConfigError> {
        match port {
            Some(id) => self.port_mut(id)?.counters = PortCounters::default(),
            None => self
                .ports
                .iter_mut()
                .flatten()
                .for_each(|p| p.counters = PortCounters::default()),
        }
        Ok(())
    }

    /// Count a copy the shell could not deliver (socket or queue full).
    pub fn count_egress_drop(&mut self, port: PortId) {
        if let Some(Some(p)) = self.ports.get_mut(usize::from(port)) {
            p.counters.count_drop(DropReason::EgressFull);
        }
    }

    /// When [`Switch::handle_timeout`] next has work: MAC table aging, the
    /// spanning tree's timers, and at once ([`Instant::ZERO`]) when BPDUs
    /// wait in [`Switch::poll_transmit`] or ports changed since the spanning
    /// tree last heard of them.
    pub fn poll_timeout(&self) -> Instant {
        if self.stp_stale || self.stp.has_transmit() {
            return Instant::ZERO;
        }
        match self.stp.poll_timeout() {
            Some(at) => at.min(self.next_gc),
            None => self.next_gc,
        }
    }

    /// Run the timers that are due: the spanning tree's (hellos, paced
    /// BPDUs, silent neighbours) and MAC table garbage collection. Harmless
    /// when early or late.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stp_stale {
            self.sync_stp(now);
        }
        if self.stp.poll_timeout().is_some_and(|at| at <= now) {
            self.stp.handle_timeout(now);
        }
        self.apply_stp_events();
        if now >= self.next_gc {
            self.fdb.collect_garbage(now);
            self.next_gc = now + self.fdb.config().gc_interval;
        }
    }

    fn free_port(&self) -> Result<PortId, AttachError> {
        self.ports
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, p)| p.as_ref().is_none_or(|p| !p.is_active() && p.allocatable))
            .and_then(|(i, _)| PortId::try_from(i).ok())
            .ok_or(AttachError::Full {
                numports: self.config.numports,
            })
    }

    fn is_active(&self, port: PortId) -> bool {
        matches!(self.ports.get(usize::from(port)), Some(Some(p)) if p.is_active())
    }

    fn classify(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        limit: usize,
        out: &mut Vec<Egress>,
    ) -> Forward {
        if !self.is_active(ingress) {
            return Forward::Drop(DropReason::Inactive);
        }
        if frame.len() < ETH_HEADER_LEN {
            return Forward::Drop(DropReason::Runt);
        }
        if frame.len() > limit {
            return Forward::Drop(DropReason::Oversize);
        }
        if self.config.hub {
            // vde_switch's hub copies to ports 1.. only, never to port 0.
            for (id, p) in self.ports.iter().enumerate().skip(1) {
                if let (Ok(id), Some(p)) = (PortId::try_from(id), p) {
                    if id != ingress && p.is_active() {
                        out.push(Egress {
                            port: id,
                            rewrite: Rewrite::AsIs,
                        });
                    }
                }
            }
            return Forward::Flood;
        }
        let Some(header) = EthHeader::parse(frame) else {
            return Forward::Drop(DropReason::Runt);
        };
        let Some(Some(in_port)) = self.ports.get(usize::from(ingress)) else {
            return Forward::Drop(DropReason::Inactive);
        };
        let vlan = match header.tag {
            Some(vid) if in_port.tagged_vlans.contains(&vid) && self.vlans.contains(&vid) => vid,
            Some(_) => return Forward::Drop(DropReason::Vlan),
            None if self.vlans.contains(&in_port.untagged_vlan) => in_port.untagged_vlan,
            None => return Forward::Drop(DropReason::Vlan),
        };
        if header.dst == BPDU_DST && self.stp.enabled() {
            return self.take_bpdu(now, vlan, ingress, frame);
        }
        if !self.stp.learning(vlan, ingress) {
            return Forward::Drop(DropReason::Discarding);
        }
        if !header.src.is_multicast()
            && self.fdb.learn(now, vlan, header.src, ingress) == Learned::Refused
        {
            return Forward::Drop(DropReason::MacLimit);
        }
        if !self.stp.forwarding(vlan, ingress) {
            return Forward::Drop(DropReason::Discarding);
        }
        let rewrite_for = |carry: Option<Vlan>| match (header.tag, carry) {
            (None, None) | (Some(_), Some(_)) => Rewrite::AsIs,
            (None, Some(v)) => Rewrite::AddTag(v),
            (Some(_), None) => Rewrite::StripTag,
        };
        if !header.dst.is_multicast() {
            if let Some(dst) = self.fdb.lookup(now, vlan, header.dst) {
                if dst == ingress {
                    return Forward::Drop(DropReason::Filtered);
                }
                // A stale entry towards a port the tree now blocks floods
                // (over the forwarding ports) rather than being lost.
                if let (Some(Some(p)), true) = (
                    self.ports.get(usize::from(dst)),
                    self.stp.forwarding(vlan, dst),
                ) {
                    if let (true, Some(carry)) = (p.is_active(), p.carries(vlan)) {
                        out.push(Egress {
                            port: dst,
                            rewrite: rewrite_for(carry),
                        });
                        return Forward::Unicast;
                    }
                }
            }
        }
        for (id, p) in self.ports.iter().enumerate() {
            let (Ok(id), Some(p)) = (PortId::try_from(id), p) else {
                continue;
            };
            if id == ingress || !p.is_active() {
                continue;
            }
            if let (Some(carry), true) = (p.carries(vlan), self.stp.forwarding(vlan, id)) {
                out.push(Egress {
                    port: id,
                    rewrite: rewrite_for(carry),
                });
            }
        }
        Forward::Flood
    }
}

/// The parts of an Ethernet header the decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EthHeader {
    dst: MacAddr,
    src: MacAddr,
    tag: Option<Vlan>,
}

impl EthHeader {
    /// Parse the addresses and an optional 802.1Q tag; `None` when a tag is
    /// announced but the frame is too short to hold it.
    fn parse(frame: &[u8]) -> Option<EthHeader> {
        let dst = MacAddr::from_slice(frame.get(0..6)?)?;
        let src = MacAddr::from_slice(frame.get(6..12)?)?;
        let tpid = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
        let tag = if tpid == TPID_8021Q {
            let tci = u16::from_be_bytes(frame.get(14..16)?.try_into().ok()?);
            frame.get(ETH_HEADER_LEN + VLAN_TAG_LEN - 1)?;
            Some(tci & 0x0fff)
        } else {
            None
        };
        Some(EthHeader { dst, src, tag })
    }
}

/// Write the copy of `frame` that `rewrite` asks for into `scratch` and return
/// it, or return `frame` itself when it goes out unchanged.
pub fn rewrite_frame<'a>(frame: &'a [u8], rewrite: Rewrite, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    if rewrite == Rewrite::AsIs {
        return frame;
    }
    scratch.clear();
    append_rewritten(frame, rewrite, scratch);
    scratch
}

/// Append the copy of `frame` that `rewrite` asks for to `out`.
pub fn append_rewritten(frame: &[u8], rewrite: Rewrite, out: &mut Vec<u8>) {
    match rewrite {
        Rewrite::AsIs => out.extend_from_slice(frame),
        Rewrite::AddTag(vid) => {
            let (addrs, rest) = frame.split_at(frame.len().min(12));
            out.extend_from_slice(addrs);
            out.extend_from_slice(&TPID_8021Q.to_be_bytes());
            out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
            out.extend_from_slice(rest);
        }
        Rewrite::StripTag => {
            out.extend_from_slice(frame.get(..12).unwrap_or(frame));
            out.extend_from_slice(frame.get(16..).unwrap_or(&[]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;

    type H = BuildHasherDefault<DefaultHasher>;

    fn mac(n: u8) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, 0, n])
    }

    fn frame(dst: MacAddr, src: MacAddr, len: usize) -> Vec<u8> {
        let mut f = Vec::with_capacity(len);
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.resize(len.max(14), 0xab);
        f
    }

    fn tagged(dst: MacAddr, src: MacAddr, vid: Vlan) -> Vec<u8> {
        let mut f = frame(dst, src, 60);
        rewrite_frame(&f.clone(), Rewrite::AddTag(vid), &mut f).to_vec()
    }

    fn switch_with_ports(n: u32, config: SwitchConfig) -> Switch<H> {
        let mut sw = Switch::new(config, H::default());
        for p in 1..=n {
            attach(&mut sw, p, 0).unwrap();
        }
        sw
    }

    fn attach(sw: &mut Switch<H>, port: u32, user: u32) -> Result<PortId, AttachError> {
        sw.attach(AttachRequest {
            port: PortRequest::Number(port),
            endpoint: Endpoint {
                id: port * 100 + user,
                module: "unix",
                description: format!("client{port}"),
                user,
            },
            groups: vec![],
        })
    }

    fn ports(out: &[Egress]) -> Vec<PortId> {
        out.iter().map(|e| e.port).collect()
    }

    const T0: Instant = Instant::ZERO;

    #[test]
    fn unknown_destination_floods_then_learned_goes_unicast() {
        let mut sw = switch_with_ports(3, SwitchConfig::default());
        let mut out = Vec::new();
        let f = frame(mac(2), mac(1), 60);
        assert_eq!(sw.decide(T0, 1, &f, &mut out), Forward::Flood);
        assert_eq!(ports(&out), vec![2, 3]);
        // The reply is unicast to port 1, where mac(1) was learned.
        let r = frame(mac(1), mac(2), 60);
        assert_eq!(sw.decide(T0, 2, &r, &mut out), Forward::Unicast);
        assert_eq!(
            out,
            vec![Egress {
                port: 1,
                rewrite: Rewrite::AsIs
            }]
        );
        // And now mac(2) is known too.
        assert_eq!(sw.decide(T0, 1, &f, &mut out), Forward::Unicast);
        assert_eq!(ports(&out), vec![2]);
    }

    #[test]
    fn broadcast_and_multicast_flood_never_to_ingress() {
        let mut sw = switch_with_ports(4, SwitchConfig::default());
        let mut out = Vec::new();
        sw.decide(T0, 2, &frame(mac(9), mac(2), 60), &mut out);
        for dst in [
            MacAddr::BROADCAST,
            MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]),
            mac(2),
        ] {
            let v = sw.decide(T0, 3, &frame(dst, mac(3), 60), &mut out);
            if dst == mac(2) {
                assert_eq!((v, ports(&out)), (Forward::Unicast, vec![2]));
            } else {
                assert_eq!((v, ports(&out)), (Forward::Flood, vec![1, 2, 4]));
            }
        }
    }

    #[test]
    fn destination_on_ingress_port_is_filtered() {
        let mut sw = switch_with_ports(2, SwitchConfig::default());
        let mut out = Vec::new();
        sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(1), 60), &mut out);
        let v = sw.decide(T0, 1, &frame(mac(1), mac(5), 60), &mut out);
        assert_eq!(v, Forward::Drop(DropReason::Filtered));
        assert!(out.is_empty());
    }

    #[test]
    fn multicast_source_is_not_learned() {
        let mut sw = switch_with_ports(2, SwitchConfig::default());
        let mut out = Vec::new();
        let group = MacAddr([0x01, 0, 0x5e, 0, 0, 9]);
        sw.decide(T0, 1, &frame(MacAddr::BROADCAST, group, 60), &mut out);
        assert!(sw.fdb().is_empty());
    }

    #[test]
    fn port_mac_limit_drops_new_sources_and_counts_them() {
        let config = SwitchConfig {
            fdb: FdbConfig {
                port_capacity: Some(2),
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        };
        let mut sw = switch_with_ports(3, config);
        let mut out = Vec::new();
        for n in 10..20 {
            sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(n), 60), &mut out);
        }
        // Two addresses learned and forwarded, eight dropped and counted.
        let c = sw.port(1).unwrap().counters;
        assert_eq!((c.in_frames, c.drops(DropReason::MacLimit)), (2, 8));
        assert_eq!(sw.fdb().port_len(1), 2);
        // A known source still passes; another port is not limited by port 1.
        let verdict = sw.decide(T0, 1, &frame(mac(3), mac(10), 60), &mut out);
        assert_eq!(verdict, Forward::Flood);
        assert_eq!(
            sw.decide(T0, 2, &frame(mac(10), mac(2), 60), &mut out),
            Forward::Unicast
        );
    }

    #[test]
    fn moved_mac_follows_after_min_persistence_and_ages_out() {
        let mut sw = switch_with_ports(3, SwitchConfig::default());
        let mut out = Vec::new();
        sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(1), 60), &mut out);
        // A copy of mac(1) seen on port 2 within 3 s does not move it.
        sw.decide(
            Instant::from_secs(1),
            2,
            &frame(MacAddr::BROADCAST, mac(1), 60),
            &mut out,
        );
        sw.decide(
            Instant::from_secs(1),
            3,
            &frame(mac(1), mac(3), 60),
            &mut out,
        );
        assert_eq!(ports(&out), vec![1]);
        // The host really moved: after 3 s it is followed.
        sw.decide(
            Instant::from_secs(5),
            2,
            &frame(MacAddr::BROADCAST, mac(1), 60),
            &mut out,
        );
        sw.decide(
            Instant::from_secs(5),
            3,
            &frame(mac(1), mac(3), 60),
            &mut out,
        );
        assert_eq!(ports(&out), vec![2]);
        // 100 s of silence later the address is unknown again: flood.
        let later = Instant::from_secs(105);
        sw.handle_timeout(later);
        assert_eq!(
            sw.decide(later, 3, &frame(mac(1), mac(3), 60), &mut out),
            Forward::Flood
        );
    }

    #[test]
    fn capacity_is_never_exceeded() {
        let config = SwitchConfig {
            fdb: FdbConfig {
                capacity: 8,
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        };
        let mut sw = switch_with_ports(2, config);
        let mut out = Vec::new();
        for i in 0..200u8 {
            sw.decide(
                Instant::from_millis(u64::from(i)),
                1,
                &frame(MacAddr::BROADCAST, mac(i & 0xfe), 60),
                &mut out,
            );
            assert!(sw.fdb().len() <= 8);
        }
    }

    #[test]
    fn hub_mode_floods_everything_except_port_zero_and_ingress() {
        let config = SwitchConfig {
            hub: true,
            ..SwitchConfig::default()
        };
        let mut sw = switch_with_ports(3, config);
        sw.attach(AttachRequest {
            port: PortRequest::Zero,
            endpoint: Endpoint {
                id: 1,
                module: "unix",
                description: "mgmt".into(),
                user: 0,
            },
            groups: vec![],
        })
        .unwrap();
        let mut out = Vec::new();
        sw.decide(T0, 2, &frame(MacAddr::BROADCAST, mac(1), 60), &mut out);
        // Even a known unicast destination floods in hub mode; nothing learned.
        let v = sw.decide(T0, 1, &frame(mac(1), mac(7), 60), &mut out);
        assert_eq!((v, ports(&out)), (Forward::Flood, vec![2, 3]));
        assert!(sw.fdb().is_empty());
    }

    #[test]
    fn frame_size_limits() {
        let mut sw = switch_with_ports(2, SwitchConfig::default());
        let mut out = Vec::new();
        let runt = vec![0xffu8; 13];
        assert_eq!(
            sw.decide(T0, 1, &runt, &mut out),
            Forward::Drop(DropReason::Runt)
        );
        let header_only = frame(MacAddr::BROADCAST, mac(1), 14);
        assert_eq!(sw.decide(T0, 1, &header_only, &mut out), Forward::Flood);
        let max = frame(MacAddr::BROADCAST, mac(1), 1518);
        assert_eq!(sw.decide(T0, 1, &max, &mut out), Forward::Flood);
        let over = frame(MacAddr::BROADCAST, mac(1), 1519);
        assert_eq!(
            sw.decide(T0, 1, &over, &mut out),
            Forward::Drop(DropReason::Oversize)
        );
        let c = sw.port(1).unwrap().counters;
        assert_eq!(
            (c.drops(DropReason::Runt), c.drops(DropReason::Oversize)),
            (1, 1)
        );
        assert_eq!((c.in_frames, c.in_bytes), (2, 14 + 1518));
        let c2 = sw.port(2).unwrap().counters;
        assert_eq!((c2.out_frames, c2.out_bytes), (2, 14 + 1518));
    }

    #[test]
    fn jumbo_frames_pass_when_configured() {
        let config = SwitchConfig {
            max_frame: 9018,
            ..SwitchConfig::default()
        };
        let mut sw = switch_with_ports(2, config);
        let mut out = Vec::new();
        assert_eq!(
            sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(1), 9018), &mut out),
            Forward::Flood
        );
        assert_eq!(
            sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(1), 9019), &mut out),
            Forward::Drop(DropReason::Oversize)
        );
    }

    #[test]
    fn vlans_isolate_and_trunks_tag() {
        let mut sw = switch_with_ports(4, SwitchConfig::default());
        sw.vlans.insert(10);
        sw.port_mut(3).unwrap().untagged_vlan = 10;
        sw.port_mut(4).unwrap().tagged_vlans.insert(10);
        let mut out = Vec::new();
        // Untagged broadcast from VLAN 0: ports 2 and 4 (4 is untagged in 0 too).
        sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(1), 60), &mut out);
        assert_eq!(ports(&out), vec![2, 4]);
        // From VLAN 10 (port 3): only the trunk, tagged.
        sw.decide(T0, 3, &frame(MacAddr::BROADCAST, mac(3), 60), &mut out);
        assert_eq!(
            out,
            vec![Egress {
                port: 4,
                rewrite: Rewrite::AddTag(10)
            }]
        );
        // Tagged frame on the trunk for VLAN 10 reaches port 3 untagged.
        sw.decide(T0, 4, &tagged(mac(3), mac(4), 10), &mut out);
        assert_eq!(
            out,
            vec![Egress {
                port: 3,
                rewrite: Rewrite::StripTag
            }]
        );
        // A tag for a VLAN the port is not a trunk of is dropped.
        assert_eq!(
            sw.decide(T0, 1, &tagged(mac(3), mac(1), 10), &mut out),
            Forward::Drop(DropReason::Vlan)
        );
        // Learning is per VLAN: mac(3) is known in 10, not in 0.
        assert_eq!(
            sw.decide(T0, 1, &frame(mac(3), mac(1), 60), &mut out),
            Forward::Flood
        );
    }

    #[test]
    fn rewrite_adds_and_strips_tags() {
        let f = frame(mac(1), mac(2), 20);
        let mut scratch = Vec::new();
        let t = rewrite_frame(&f, Rewrite::AddTag(0x123), &mut scratch).to_vec();
        assert_eq!(&t[12..16], &[0x81, 0x00, 0x01, 0x23]);
        assert_eq!(t.len(), 24);
        let mut scratch2 = Vec::new();
        assert_eq!(rewrite_frame(&t, Rewrite::StripTag, &mut scratch2), &f[..]);
        assert_eq!(EthHeader::parse(&t).unwrap().tag, Some(0x123));
        assert_eq!(EthHeader::parse(&t[..15]), None);
    }

    #[test]
    fn port_allocation_like_vde_switch() {
        let mut sw: Switch<H> = Switch::new(
            SwitchConfig {
                numports: 4,
                ..SwitchConfig::default()
            },
            H::default(),
        );
        let any = |sw: &mut Switch<H>, id: u32, user: u32| {
            sw.attach(AttachRequest {
                port: PortRequest::Any,
                endpoint: Endpoint {
                    id,
                    module: "unix",
                    description: String::new(),
                    user,
                },
                groups: vec![],
            })
        };
        assert_eq!(any(&mut sw, 10, 0), Ok(1));
        assert_eq!(any(&mut sw, 11, 0), Ok(2));
        // port/create makes a port that "any" skips.
        sw.create_port(3).unwrap();
        assert_eq!(any(&mut sw, 12, 0), Err(AttachError::Full { numports: 4 }));
        assert_eq!(
            attach(&mut sw, 3, 0),
            Ok(3),
            "an explicit request may take it"
        );
        assert_eq!(
            attach(&mut sw, 4, 0),
            Err(AttachError::TooHigh {
                port: 4,
                numports: 4
            })
        );
        // Sharing: same user ok, another user refused.
        assert_eq!(attach(&mut sw, 2, 0), Ok(2));
        assert_eq!(sw.port(2).unwrap().endpoints.len(), 2);
        assert_eq!(
            attach(&mut sw, 2, 1000),
            Err(AttachError::Busy {
                port: 2,
                owner: 0,
                user: 1000
            })
        );
        // The port stays active until its last endpoint leaves.
        assert!(sw.detach(2, 11));
        assert!(sw.port(2).unwrap().is_active());
        assert!(sw.detach(2, 200));
        assert!(!sw.port(2).unwrap().is_active());
        assert_eq!(any(&mut sw, 13, 1000), Ok(2));
    }

    #[test]
    fn switch_owned_endpoints_have_no_user() {
        let mut sw: Switch<H> = Switch::new(SwitchConfig::default(), H::default());
        sw.create_port(7).unwrap();
        sw.port_mut(7).unwrap().access_user = Some(1000);
        // A tap attached by the switch itself: no current user, no access check.
        let tap = AttachRequest {
            port: PortRequest::Number(7),
            endpoint: Endpoint {
                id: 6,
                module: "tuntap",
                description: "tap0".to_string(),
                user: NO_USER,
            },
            groups: vec![],
        };
        assert_eq!(sw.attach(tap), Ok(7));
        let port = sw.port(7).unwrap();
        assert!(port.is_active());
        assert_eq!(port.current_user, None, "port/print shows NONE");
    }

    #[test]
    fn detach_forgets_learned_addresses() {
        let mut sw = switch_with_ports(2, SwitchConfig::default());
        let mut out = Vec::new();
        sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(1), 60), &mut out);
        assert_eq!(sw.fdb().len(), 1);
        sw.detach(1, 100);
        assert!(sw.fdb().is_empty());
        assert_eq!(
            sw.decide(T0, 1, &frame(MacAddr::BROADCAST, mac(1), 60), &mut out),
            Forward::Drop(DropReason::Inactive)
        );
    }

    #[test]
    fn access_control() {
        let mut sw: Switch<H> = Switch::new(SwitchConfig::default(), H::default());
        sw.create_port(5).unwrap();
        sw.port_mut(5).unwrap().access_user = Some(1000);
        assert_eq!(
            attach(&mut sw, 5, 1001),
            Err(AttachError::AccessDenied {
                port: 5,
                user: 1001
            })
        );
        assert_eq!(attach(&mut sw, 5, 1000), Ok(5));
        sw.create_port(6).unwrap();
        sw.port_mut(6).unwrap().access_group = Some(50);
        assert!(attach(&mut sw, 6, 1001).is_err());
        assert_eq!(attach(&mut sw, 6, 0), Ok(6), "root may always attach");
    }

    #[test]
    fn port_configuration_errors_map_to_vde_errnos() {
        let mut sw = switch_with_ports(
            1,
            SwitchConfig {
                numports: 4,
                ..SwitchConfig::default()
            },
        );
        assert_eq!(sw.create_port(99).unwrap_err().errno(), 22);
        sw.create_port(2).unwrap();
        assert_eq!(sw.create_port(2).unwrap_err().errno(), 17);
        assert_eq!(sw.remove_port(1).unwrap_err().errno(), 98);
        assert_eq!(sw.set_numports(2).unwrap_err().errno(), 98);
        assert_eq!(sw.remove_port(3).unwrap_err().errno(), 6);
        sw.remove_port(2).unwrap();
        sw.set_numports(2).unwrap();
        assert_eq!(sw.create_port_auto(), Err(ConfigError::NoSpace));
        sw.set_numports(8).unwrap();
        assert_eq!(sw.create_port_auto(), Ok(2));
    }
}
