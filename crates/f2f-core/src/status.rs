//! The switch's state as one document: what `f2f-overlay status` shows and
//! what `status --json` prints (format documented in docs/status-json.md).
//!
//! [`Snapshot::new`] reads a [`Switch`] at `now` and returns plain data: the
//! switch, its ports with endpoints and counters, the MAC table, the VLANs,
//! and sections that later features fill in (`stp`, `links`, `dhcp`, `room`,
//! and `captures`, which the shell owns). The shell sets those fields on the
//! snapshot before rendering it, so a new feature adds its section without
//! touching the others.
//!
//! Compatibility rules of the JSON form (format [`FORMAT_VERSION`]): fields
//! are only ever added, never renamed, removed or retyped without bumping the
//! version; readers ignore fields they do not know (this module's
//! `Deserialize` does). The console sends the document as one line of compact
//! JSON (`status/json`), so no data line can be the lone `.` that ends a reply.
//!
//! This module does no I/O: facts only the shell knows come through
//! [`ConsoleHost`], the time through `now`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use crate::console::ConsoleHost;
use crate::fdb::Vlan;
use crate::mac::MacAddr;
use crate::switch::{DropReason, Port, PortId, Switch};
use crate::time::Instant;

/// Version of the JSON format; bumped only on an incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Most MAC table entries a snapshot lists (the first by VLAN then MAC); the
/// rest are counted in [`Snapshot::mac_table_omitted`], so a table of 10^5
/// addresses still gives a document of a few tens of KiB.
pub const MAX_MAC_ENTRIES: usize = 1024;

/// The whole state, as `status/json` sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`FORMAT_VERSION`] of the switch that wrote it.
    pub format: u32,
    /// The switch itself.
    pub switch: SwitchStatus,
    /// Existing ports (active or created), by number.
    pub ports: Vec<PortStatus>,
    /// Learned addresses not expired, by VLAN then MAC; at most
    /// [`MAX_MAC_ENTRIES`].
    pub mac_table: Vec<MacEntry>,
    /// Entries of the MAC table not listed in `mac_table` (0: all are).
    #[serde(default)]
    pub mac_table_omitted: usize,
    /// Existing VLANs with their members, by id.
    pub vlans: Vec<VlanStatus>,
    /// Spanning tree (off until the spanning-tree feature fills it).
    #[serde(default)]
    pub stp: StpStatus,
    /// Switch-to-switch links (empty until links land).
    #[serde(default)]
    pub links: Vec<LinkStatus>,
    /// The built-in DHCP server, when one runs.
    #[serde(default)]
    pub dhcp: Option<DhcpStatus>,
    /// The room this switch joined, if any.
    #[serde(default)]
    pub room: Option<RoomStatus>,
    /// Running packet captures (filled by the shell).
    #[serde(default)]
    pub captures: Vec<CaptureStatus>,
}

/// The switch: identity, size, settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchStatus {
    /// f2f-overlay's version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// The switch's MAC address.
    pub mac: MacAddr,
    /// Number of ports (0..numports).
    pub numports: usize,
    /// Hub mode.
    pub hub: bool,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Largest frame forwarded, bytes.
    pub max_frame: usize,
    /// The control directory.
    pub ctl_dir: String,
    /// The management socket, if any.
    pub mgmt: Option<String>,
    /// The MAC table's size and settings.
    pub mac_table: MacTableInfo,
}

/// The MAC table's fill and timers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacTableInfo {
    /// Entries held (expired ones not yet collected included).
    pub size: usize,
    /// Most entries held (`--max-macs`).
    pub capacity: usize,
    /// Lifetime of an entry not seen again, seconds.
    pub expire_secs: u64,
    /// Minimum time before an address may move to another port, seconds.
    pub min_persistence_secs: u64,
    /// Most entries one port may hold (`--port-max-macs`); `None`: no limit.
    #[serde(default)]
    pub port_max_macs: Option<usize>,
}

/// One port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    /// Port number.
    pub port: PortId,
    /// At least one endpoint attached.
    pub active: bool,
    /// Handed out for "any port" requests.
    pub allocatable: bool,
    /// The VLAN untagged frames belong to.
    pub untagged_vlan: Vlan,
    /// VLANs carried tagged, ascending.
    pub tagged_vlans: Vec<Vlan>,
    /// Name of the endpoints' owner while active.
    pub user: Option<String>,
    /// Attached endpoints, newest first.
    pub endpoints: Vec<EndpointStatus>,
    /// Addresses learned on this port (the MAC table's entries for it).
    #[serde(default)]
    pub macs: usize,
    /// Traffic counters.
    pub counters: CounterStatus,
}

/// One endpoint of a port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStatus {
    /// The id `port/print` shows.
    pub id: u32,
    /// Kind: `unix prog` (VDE clients), `tap`, `stream`, ….
    pub module: String,
    /// The client's self-description.
    pub description: String,
    /// Owner's user name (the number when unknown).
    pub user: String,
    /// Owner's uid.
    pub uid: u32,
}

/// A port's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterStatus {
    /// Frames received and accepted.
    pub in_frames: u64,
    /// Bytes of accepted received frames.
    pub in_bytes: u64,
    /// Frames sent.
    pub out_frames: u64,
    /// Bytes sent.
    pub out_bytes: u64,
    /// Frames dropped, by reason ([`DropReason::name`]); every reason present.
    pub drops: BTreeMap<String, u64>,
}

/// One learned address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacEntry {
    /// VLAN it was seen in.
    pub vlan: Vlan,
    /// The address.
    pub mac: MacAddr,
    /// Port it was last seen on.
    pub port: PortId,
    /// Seconds since it was last seen.
    pub age_secs: u64,
}

/// One VLAN and its members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanStatus {
    /// VLAN id (0 is the default untagged VLAN).
    pub vlan: Vlan,
    /// Ports whose untagged VLAN this is.
    pub untagged_ports: Vec<PortId>,
    /// Ports carrying it tagged.
    pub tagged_ports: Vec<PortId>,
}

/// Spanning tree (`-F`). Off, only `enabled` is written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StpStatus {
    /// Whether spanning tree runs.
    pub enabled: bool,
    /// Our bridge id (priority and MAC, as `fstp/print` shows ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// One tree per VLAN, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trees: Vec<StpTreeStatus>,
    /// BPDUs received and handled.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bpdus_in: u64,
    /// BPDUs sent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bpdus_out: u64,
    /// Topology changes started or received (each flushes a VLAN's MACs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub topology_changes: u64,
}

/// One VLAN's spanning tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StpTreeStatus {
    /// The VLAN.
    pub vlan: Vlan,
    /// The root bridge id.
    pub root: String,
    /// Our port towards the root; `None` when we are the root.
    pub root_port: Option<PortId>,
    /// Our path cost to the root.
    pub root_cost: u32,
    /// Every member port.
    pub ports: Vec<StpPortStatus>,
}

/// A port in one VLAN's tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StpPortStatus {
    /// The port.
    pub port: PortId,
    /// `Root`, `Designated`, `Alternate/Backup` or `Edge`.
    pub role: String,
    /// `Forwarding`, `Learning` or `Discarding`.
    pub state: String,
}

impl StpStatus {
    /// Read the spanning tree (all of it only while it runs).
    pub fn of(stp: &crate::stp::Stp) -> StpStatus {
        if !stp.enabled() {
            return StpStatus::default();
        }
        let trees = stp
            .vlans()
            .filter_map(|vlan| {
                let sum = stp.summary(vlan)?;
                let ports = stp
                    .members(vlan)
                    .map(|(port, _)| StpPortStatus {
                        port,
                        role: stp.role(vlan, port).map_or("", |r| r.vde_name()).into(),
                        state: stp.state(vlan, port).map_or("", |s| s.vde_name()).into(),
                    })
                    .collect();
                Some(StpTreeStatus {
                    vlan,
                    root: sum.root.to_string(),
                    root_port: sum.root_port,
                    root_cost: sum.root_cost,
                    ports,
                })
            })
            .collect();
        let c = stp.counters();
        StpStatus {
            enabled: true,
            bridge: Some(stp.bridge_id().to_string()),
            trees,
            bpdus_in: c.bpdus_in,
            bpdus_out: c.bpdus_out,
            topology_changes: c.topology_changes,
        }
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A switch-to-switch link (filled by the links feature).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// The peer (address or XMPP JID).
    pub peer: String,
    /// The port the link is attached to, once up.
    pub port: Option<PortId>,
    /// Session state: `connecting`, `handshake`, `up`, `backoff`.
    pub state: String,
    /// `dialed` (we connect, and reconnect) or `accepted`.
    #[serde(default)]
    pub direction: String,
    /// The peer's node key (base64), once a handshake told it.
    #[serde(default)]
    pub peer_key: Option<String>,
    /// Bytes received on the connection (records included).
    #[serde(default)]
    pub bytes_in: u64,
    /// Bytes sent on the connection.
    #[serde(default)]
    pub bytes_out: u64,
    /// Frames received over the link.
    #[serde(default)]
    pub frames_in: u64,
    /// Frames sent over the link.
    #[serde(default)]
    pub frames_out: u64,
    /// Frames for the link dropped because its queue was full.
    #[serde(default)]
    pub drops: u64,
    /// Latest round-trip time measured by a keepalive, microseconds.
    #[serde(default)]
    pub rtt_us: Option<u64>,
    /// Sessions established so far (reconnects + 1).
    #[serde(default)]
    pub sessions: u64,
    /// Why the last session ended, if one did.
    #[serde(default)]
    pub last_error: Option<String>,
    /// How frames travel: `tcp` or `xmpp` (empty when not known).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transport: String,
    /// The XMPP path's queue and counters, for `xmpp` links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmpp: Option<XmppLinkStatus>,
}

/// An XMPP link's send queue, counters and measured throughput.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmppLinkStatus {
    /// Frames waiting to be sent.
    pub queue: usize,
    /// Frames the queue holds before dropping.
    pub queue_capacity: usize,
    /// Frames sent.
    pub tx_frames: u64,
    /// Stanzas sent (a stanza carries a batch of frames).
    pub tx_stanzas: u64,
    /// Frames received.
    pub rx_frames: u64,
    /// Received frame elements that did not decode.
    pub rx_bad: u64,
    /// Frames dropped because the queue was full.
    pub drops: u64,
    /// Measured send throughput of frame bytes, bit/s.
    pub tx_bits_per_sec: u64,
    /// Measured receive throughput of frame bytes, bit/s.
    pub rx_bits_per_sec: u64,
}

/// The built-in DHCP server (filled by the DHCP feature).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpStatus {
    /// The served subnet, CIDR.
    pub subnet: String,
    /// Leases held.
    pub leases: Vec<LeaseStatus>,
}

impl DhcpStatus {
    /// The section for `server` at `now`: its subnet and the leases in force.
    pub fn of(server: &crate::dhcp::DhcpServer, now: Instant) -> DhcpStatus {
        DhcpStatus {
            subnet: server.config().subnet.to_string(),
            leases: server
                .active_leases(now)
                .map(|l| LeaseStatus {
                    mac: l.mac,
                    ip: l.ip.to_string(),
                    expires_in_secs: l.expires_in.as_secs(),
                })
                .collect(),
        }
    }
}

/// One DHCP lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseStatus {
    /// The client's MAC.
    pub mac: MacAddr,
    /// The leased address.
    pub ip: String,
    /// Seconds until it expires.
    pub expires_in_secs: u64,
}

/// The room this switch is a member of (filled by `join` from
/// [`Room::status`](crate::room::Room::status)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStatus {
    /// The room's JID.
    pub room: String,
    /// Granted members present: real JIDs where known, else nicks.
    pub members: Vec<String>,
    /// Our nick.
    #[serde(default)]
    pub nick: String,
    /// Our role: `master` or `member`.
    #[serde(default)]
    pub role: String,
    /// The master's nick, when one is known.
    #[serde(default)]
    pub master: Option<String>,
    /// Our grant, once applied.
    #[serde(default)]
    pub grant: Option<RoomGrantStatus>,
    /// Every other occupant, by nick.
    #[serde(default)]
    pub peers: Vec<RoomPeerStatus>,
}

impl RoomStatus {
    /// The room section of the text summary: one line for the room, one for
    /// our grant, one per peer with its link.
    fn render(&self, out: &mut String) {
        let master = self.master.as_deref().unwrap_or("none");
        let _ = writeln!(
            out,
            "Room: {} as {} ({}), master {master}",
            self.room, self.nick, self.role
        );
        if let Some(g) = &self.grant {
            let macs: Vec<String> = g.macs.iter().map(MacAddr::to_string).collect();
            let dhcp = if g.dhcp { ", serves DHCP" } else { "" };
            let _ = writeln!(
                out,
                "  grant: {} {} MACs {}{dhcp}",
                g.subnet,
                g.topology,
                macs.join(" ")
            );
        }
        for p in &self.peers {
            let link = match &p.link {
                None => "no link".to_string(),
                Some(l) => match &l.dial {
                    Some(d) => format!("{} to {d} {}", l.transport, l.state),
                    None => format!("{} {}", l.transport, l.state),
                },
            };
            let jid = p.jid.as_deref().unwrap_or("-");
            let role = if p.master {
                "master"
            } else if p.granted {
                "member"
            } else {
                "occupant"
            };
            let _ = writeln!(
                out,
                "  {} ({jid}, {}) {role}: {link}",
                p.nick, p.affiliation
            );
        }
    }
}

/// The parameters a room's master granted us.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomGrantStatus {
    /// Our MAC addresses.
    pub macs: Vec<MacAddr>,
    /// The room's subnet, CIDR.
    pub subnet: String,
    /// `star` or `mesh`.
    pub topology: String,
    /// Whether our switch serves DHCP.
    pub dhcp: bool,
}

/// Another occupant of the room.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPeerStatus {
    /// Its nick.
    pub nick: String,
    /// Its real JID, when the room shows it.
    pub jid: Option<String>,
    /// Its MUC affiliation (`owner`, `admin`, `member`, `none`, `outcast`).
    pub affiliation: String,
    /// True for the master we follow.
    pub master: bool,
    /// True when the master granted it (it is part of the network).
    pub granted: bool,
    /// Its MACs (known to the master only).
    pub macs: Vec<MacAddr>,
    /// Our link to it, if any.
    pub link: Option<RoomLinkStatus>,
}

/// Our link to one room peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLinkStatus {
    /// `tcp` or `xmpp`.
    pub transport: String,
    /// The endpoint we dial (TCP links we dial).
    pub dial: Option<String>,
    /// `pending`, `up` or `failed`.
    pub state: String,
}

/// A running capture (`port/capture`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStatus {
    /// The captured port.
    pub port: PortId,
    /// Frames handed to the capturing client so far.
    pub frames: u64,
    /// Frames lost because the client did not keep up.
    pub dropped: u64,
}

impl Snapshot {
    /// Read `switch` at `now`; later sections are left empty for the shell.
    pub fn new<S: BuildHasher + Clone>(
        switch: &Switch<S>,
        host: &dyn ConsoleHost,
        now: Instant,
    ) -> Snapshot {
        let cfg = switch.config();
        let fdb = switch.fdb();
        let mut mac_table: Vec<MacEntry> = fdb
            .iter(now)
            .map(|(key, e)| MacEntry {
                vlan: key.vlan,
                mac: key.mac,
                port: e.port,
                age_secs: now.saturating_duration_since(e.last_seen).as_secs(),
            })
            .collect();
        let mac_table_omitted = mac_table.len().saturating_sub(MAX_MAC_ENTRIES);
        if mac_table_omitted > 0 {
            // Linear time: the first MAX_MAC_ENTRIES in order, not a full sort.
            mac_table.select_nth_unstable_by_key(MAX_MAC_ENTRIES, |e| (e.vlan, e.mac));
            mac_table.truncate(MAX_MAC_ENTRIES);
        }
        mac_table.sort_by_key(|e| (e.vlan, e.mac));
        let ports: Vec<PortStatus> = switch
            .ports()
            .map(|(id, p)| port_status(host, id, p, fdb.port_len(id)))
            .collect();
        let vlans = switch
            .vlans()
            .map(|vlan| VlanStatus {
                vlan,
                untagged_ports: ports
                    .iter()
                    .filter(|p| p.untagged_vlan == vlan)
                    .map(|p| p.port)
                    .collect(),
                tagged_ports: ports
                    .iter()
                    .filter(|p| p.tagged_vlans.contains(&vlan))
                    .map(|p| p.port)
                    .collect(),
            })
            .collect();
        Snapshot {
            format: FORMAT_VERSION,
            switch: SwitchStatus {
                version: env!("CARGO_PKG_VERSION").to_string(),
                pid: host.pid(),
                mac: cfg.mac,
                numports: cfg.numports,
                hub: cfg.hub,
                uptime_secs: host.uptime_secs(),
                max_frame: cfg.max_frame,
                ctl_dir: host.ctl_dir().0,
                mgmt: host.mgmt_socket().map(|(path, _)| path),
                mac_table: MacTableInfo {
                    size: fdb.len(),
                    capacity: fdb.config().capacity,
                    expire_secs: fdb.config().expire.as_secs(),
                    min_persistence_secs: fdb.config().min_persistence.as_secs(),
                    port_max_macs: fdb.config().port_capacity,
                },
            },
            ports,
            mac_table,
            mac_table_omitted,
            vlans,
            stp: StpStatus::of(switch.stp()),
            links: Vec::new(),
            dhcp: None,
            room: None,
            captures: Vec::new(),
        }
    }

    /// The document as one line of compact JSON (no newline).
    pub fn to_json_line(&self) -> String {
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Parse a document; unknown fields are ignored (newer switches).
    pub fn from_json(text: &str) -> Result<Snapshot, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The summary people read: a header, then tables.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let s = &self.switch;
        let _ = writeln!(
            out,
            "f2f-overlay {} switch {} (pid {}, up {})",
            s.version,
            s.mac,
            s.pid,
            human_secs(s.uptime_secs)
        );
        let _ = writeln!(
            out,
            "control dir {}, management {}",
            s.ctl_dir,
            s.mgmt.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            out,
            "{} ports, {}, frames up to {} bytes, MAC table {}/{} (expire {} s)",
            s.numports,
            if s.hub { "hub mode" } else { "switching" },
            s.max_frame,
            s.mac_table.size,
            s.mac_table.capacity,
            s.mac_table.expire_secs
        );
        self.render_ports(&mut out);
        self.render_macs(&mut out);
        self.render_vlans(&mut out);
        self.render_later(&mut out);
        out
    }

    fn render_ports(&self, out: &mut String) {
        let _ = writeln!(out, "\nPorts");
        if self.ports.is_empty() {
            let _ = writeln!(out, "  (none)");
            return;
        }
        let mut rows = vec![row([
            "PORT",
            "STATE",
            "VLAN",
            "TAGGED",
            "IN",
            "OUT",
            "DROPS",
            "ENDPOINTS",
        ])];
        for p in &self.ports {
            let c = &p.counters;
            let drops: Vec<String> = c
                .drops
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let mut endpoints = p
                .endpoints
                .iter()
                .map(|e| format!("#{} {} \"{}\" ({})", e.id, e.module, e.description, e.user));
            rows.push(vec![
                p.port.to_string(),
                if p.active { "active" } else { "inactive" }.to_string(),
                p.untagged_vlan.to_string(),
                list_or_dash(&p.tagged_vlans),
                format!("{} fr / {} B", c.in_frames, c.in_bytes),
                format!("{} fr / {} B", c.out_frames, c.out_bytes),
                if drops.is_empty() {
                    "-".to_string()
                } else {
                    drops.join(" ")
                },
                endpoints.next().unwrap_or_else(|| "-".to_string()),
            ]);
            for more in endpoints {
                let mut r = vec![String::new(); 7];
                r.push(more);
                rows.push(r);
            }
        }
        table(out, &rows);
    }

    fn render_macs(&self, out: &mut String) {
        let _ = writeln!(out, "\nMAC table");
        if self.mac_table.is_empty() {
            let _ = writeln!(out, "  (empty)");
            return;
        }
        let mut rows = vec![row(["VLAN", "MAC", "PORT", "AGE"])];
        rows.extend(self.mac_table.iter().map(|e| {
            vec![
                e.vlan.to_string(),
                e.mac.to_string(),
                e.port.to_string(),
                format!("{} s", e.age_secs),
            ]
        }));
        table(out, &rows);
        if self.mac_table_omitted > 0 {
            let _ = writeln!(
                out,
                "  ... {} more entries not shown (at most {MAX_MAC_ENTRIES} are listed)",
                self.mac_table_omitted
            );
        }
    }

    fn render_vlans(&self, out: &mut String) {
        let _ = writeln!(out, "\nVLANs");
        let mut rows = vec![row(["VLAN", "UNTAGGED PORTS", "TAGGED PORTS"])];
        rows.extend(self.vlans.iter().map(|v| {
            vec![
                v.vlan.to_string(),
                list_or_dash(&v.untagged_ports),
                list_or_dash(&v.tagged_ports),
            ]
        }));
        table(out, &rows);
    }

    fn render_later(&self, out: &mut String) {
        let _ = writeln!(out);
        match &self.stp.bridge {
            Some(bridge) if self.stp.enabled => {
                let _ = writeln!(
                    out,
                    "Spanning tree: on, bridge {bridge}, BPDUs in {} out {}, topology changes {}",
                    self.stp.bpdus_in, self.stp.bpdus_out, self.stp.topology_changes
                );
            }
            _ => {
                let _ = writeln!(out, "Spanning tree: off");
            }
        }
        for t in &self.stp.trees {
            let via = t
                .root_port
                .map_or_else(|| "this switch".to_string(), |p| format!("via port {p}"));
            let ports: Vec<String> = t
                .ports
                .iter()
                .map(|p| format!("{} {}/{}", p.port, p.role, p.state))
                .collect();
            let _ = writeln!(
                out,
                "  VLAN {}: root {} ({via}, cost {}); ports {}",
                t.vlan,
                t.root,
                t.root_cost,
                if ports.is_empty() {
                    "-".to_string()
                } else {
                    ports.join(", ")
                }
            );
        }
        if self.links.is_empty() {
            let _ = writeln!(out, "Links: none");
        } else {
            let _ = writeln!(out, "Links:");
            for l in &self.links {
                let port = l.port.map_or_else(|| "-".to_string(), |p| p.to_string());
                let rtt = l.rtt_us.map_or_else(
                    || "-".to_string(),
                    |us| format!("{:.2} ms", us as f64 / 1000.0),
                );
                let via = if l.transport.is_empty() {
                    String::new()
                } else {
                    format!(" via {}", l.transport)
                };
                let direction = if l.direction.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", l.direction)
                };
                let _ = writeln!(
                    out,
                    "  {}{direction} port {} {}{via}, key {}, in {} fr / {} B, out {} fr / {} B, drops {}, rtt {}",
                    l.peer,
                    port,
                    l.state,
                    l.peer_key.as_deref().unwrap_or("-"),
                    l.frames_in,
                    l.bytes_in,
                    l.frames_out,
                    l.bytes_out,
                    l.drops,
                    rtt
                );
                if let Some(e) = &l.last_error {
                    let _ = writeln!(out, "    last error: {e}");
                }
                if let Some(x) = &l.xmpp {
                    let _ = writeln!(
                        out,
                        "    queue {}/{}, sent {} frames in {} stanzas ({} bit/s), received {} frames ({} bit/s), dropped {}, bad {}",
                        x.queue, x.queue_capacity, x.tx_frames, x.tx_stanzas, x.tx_bits_per_sec,
                        x.rx_frames, x.rx_bits_per_sec, x.drops, x.rx_bad
                    );
                }
            }
        }
        match &self.dhcp {
            None => {
                let _ = writeln!(out, "DHCP: off");
            }
            Some(d) => {
                let _ = writeln!(out, "DHCP: {} ({} leases)", d.subnet, d.leases.len());
                for l in &d.leases {
                    let _ = writeln!(
                        out,
                        "  {} {} expires in {} s",
                        l.mac, l.ip, l.expires_in_secs
                    );
                }
            }
        }
        match &self.room {
            None => {
                let _ = writeln!(out, "Room: none");
            }
            Some(r) => r.render(out),
        }
        if self.captures.is_empty() {
            let _ = writeln!(out, "Captures: none");
        } else {
            let _ = writeln!(out, "Captures:");
            for c in &self.captures {
                let _ = writeln!(
                    out,
                    "  port {}: {} frames, {} dropped",
                    c.port, c.frames, c.dropped
                );
            }
        }
    }
}

fn port_status(host: &dyn ConsoleHost, id: PortId, p: &Port, macs: usize) -> PortStatus {
    let c = &p.counters;
    PortStatus {
        port: id,
        active: p.is_active(),
        allocatable: p.allocatable,
        untagged_vlan: p.untagged_vlan,
        tagged_vlans: p.tagged_vlans.iter().copied().collect(),
        user: p
            .current_user
            .filter(|_| p.is_active())
            .map(|u| host.user_name(u)),
        endpoints: p
            .endpoints
            .iter()
            .map(|e| EndpointStatus {
                id: e.id,
                module: e.module.to_string(),
                description: e.description.clone(),
                user: host.user_name(e.user),
                uid: e.user,
            })
            .collect(),
        macs,
        counters: CounterStatus {
            in_frames: c.in_frames,
            in_bytes: c.in_bytes,
            out_frames: c.out_frames,
            out_bytes: c.out_bytes,
            drops: DropReason::ALL
                .iter()
                .map(|r| (r.name().to_string(), c.drops(*r)))
                .collect(),
        },
    }
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn list_or_dash<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from("  ");
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// `1h02m03s`, `4m05s`, `7s`.
fn human_secs(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::test_host::TestHost;
    use crate::switch::{AttachRequest, Endpoint, PortRequest, SwitchConfig};
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;

    type H = BuildHasherDefault<DefaultHasher>;

    const HOST: TestHost = TestHost {
        pid: 42,
        uptime: 3723,
        mgmt: Some("/tmp/sw.mgmt"),
        now: 3723,
        debug: 0,
    };

    fn frame(dst: u8, src: u8) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, dst, 0x02, 0, 0, 0, 0, src, 0x08, 0x00];
        f.resize(60, 0);
        f
    }

    /// Two ports, one frame each way at t=10 s, read at t=13 s.
    fn snapshot() -> Snapshot {
        let mut sw = Switch::new(
            SwitchConfig {
                mac: "00:ff:01:02:03:04".parse().unwrap(),
                ..SwitchConfig::default()
            },
            H::default(),
        );
        for (id, user) in [(3, 0), (7, 1000)] {
            sw.attach(AttachRequest {
                port: PortRequest::Any,
                endpoint: Endpoint {
                    id,
                    module: "unix prog",
                    description: format!("vde_plug2tap \"t{id}\"\n."),
                    user,
                },
                groups: vec![],
            })
            .unwrap();
        }
        let mut out = Vec::new();
        sw.decide(Instant::from_secs(10), 1, &frame(2, 1), &mut out);
        sw.decide(Instant::from_secs(10), 2, &frame(1, 2), &mut out);
        sw.decide(Instant::from_secs(10), 2, &[0u8; 5], &mut out);
        Snapshot::new(&sw, &HOST, Instant::from_secs(13))
    }

    #[test]
    fn snapshot_reads_ports_counters_and_macs() {
        let s = snapshot();
        assert_eq!(s.format, FORMAT_VERSION);
        assert_eq!(s.switch.mac.to_string(), "00:ff:01:02:03:04");
        assert_eq!((s.switch.numports, s.switch.uptime_secs), (32, 3723));
        assert_eq!(s.switch.mac_table.size, 2);
        assert_eq!(s.ports.len(), 2);
        let p2 = &s.ports[1];
        assert_eq!(
            (p2.port, p2.active, p2.user.as_deref()),
            (2, true, Some("1000"))
        );
        assert_eq!(p2.counters.in_frames, 1);
        assert_eq!(p2.counters.out_frames, 1);
        assert_eq!(p2.counters.drops["runt"], 1);
        assert_eq!(p2.counters.drops.len(), DropReason::ALL.len());
        assert_eq!(s.mac_table.len(), 2);
        assert_eq!(
            (s.mac_table[0].port, s.mac_table[0].age_secs),
            (1, 3),
            "{:?}",
            s.mac_table
        );
        assert_eq!(s.vlans.len(), 1);
        assert_eq!(s.vlans[0].untagged_ports, vec![1, 2]);
    }

    /// 10^5 learned addresses: the document lists the first [`MAX_MAC_ENTRIES`] by VLAN then
    /// MAC, counts the rest, and stays small; the text says how many it leaves out.
    #[test]
    fn huge_mac_table_is_truncated_with_a_count() {
        const LEARNED: u32 = 100_000;
        let mut sw = Switch::new(
            SwitchConfig {
                fdb: crate::fdb::FdbConfig {
                    capacity: 2 * LEARNED as usize,
                    ..crate::fdb::FdbConfig::default()
                },
                ..SwitchConfig::default()
            },
            H::default(),
        );
        for id in [1, 2] {
            sw.attach(AttachRequest {
                port: PortRequest::Any,
                endpoint: Endpoint {
                    id,
                    module: "unix prog",
                    description: String::new(),
                    user: 0,
                },
                groups: vec![],
            })
            .unwrap();
        }
        let mut out = Vec::new();
        let mut f = frame(0xff, 0);
        // Sources counted down, so the table's first entries are the last ones learned.
        for n in (0..LEARNED).rev() {
            f[6..12].copy_from_slice(&[0x02, 0x10, 0, 0, 0, 0]);
            f[8..12].copy_from_slice(&n.to_be_bytes());
            sw.decide(Instant::from_secs(1), 1, &f, &mut out);
            out.clear();
        }
        let s = Snapshot::new(&sw, &HOST, Instant::from_secs(2));
        assert_eq!(s.switch.mac_table.size, LEARNED as usize);
        assert_eq!(s.mac_table.len(), MAX_MAC_ENTRIES);
        assert_eq!(s.mac_table_omitted, LEARNED as usize - MAX_MAC_ENTRIES);
        let first: Vec<String> = s
            .mac_table
            .iter()
            .take(2)
            .map(|e| e.mac.to_string())
            .collect();
        assert_eq!(first, ["02:10:00:00:00:00", "02:10:00:00:00:01"]);
        assert!(s.mac_table.windows(2).all(|w| w[0].mac < w[1].mac));
        let json = s.to_json_line();
        assert!(json.len() < 128 * 1024, "{} bytes", json.len());
        assert!(json.contains(&format!("\"mac_table_omitted\":{}", s.mac_table_omitted)));
        assert_eq!(Snapshot::from_json(&json).unwrap(), s);
        let text = s.render_text();
        assert!(
            text.contains("... 98976 more entries not shown (at most 1024 are listed)"),
            "{}",
            &text[text.len() - 200..]
        );
        // A complete table says 0.
        assert_eq!(snapshot().mac_table_omitted, 0);
    }

    #[test]
    fn json_is_one_line_and_round_trips() {
        let s = snapshot();
        let json = s.to_json_line();
        assert!(!json.contains('\n'), "{json}");
        assert!(json.starts_with("{\"format\":1,\"switch\":{"));
        assert!(json.contains(
            "\"stp\":{\"enabled\":false},\"links\":[],\"dhcp\":null,\"room\":null,\"captures\":[]"
        ));
        assert_eq!(Snapshot::from_json(&json).unwrap(), s);
        // A newer switch's extra fields are ignored.
        let newer = json.replacen("{\"format\":1,", "{\"format\":1,\"future\":[1],", 1);
        assert_eq!(Snapshot::from_json(&newer).unwrap(), s);
    }

    #[test]
    fn text_summary_has_tables() {
        let text = snapshot().render_text();
        assert!(text.starts_with("f2f-overlay "), "{text}");
        assert!(text.contains("switch 00:ff:01:02:03:04 (pid 42, up 1h02m03s)"));
        assert!(text.contains("MAC table 2/65536"));
        assert!(text.contains("  PORT  STATE   VLAN  TAGGED  IN"), "{text}");
        assert!(text.contains("drop") || text.contains("runt=1"), "{text}");
        assert!(text.contains("02:00:00:00:00:01  1     3 s"), "{text}");
        assert!(text.contains("Spanning tree: off\nLinks: none\nDHCP: off"));
    }

    #[test]
    fn spanning_tree_state_when_on() {
        let mut sw = Switch::new(
            SwitchConfig {
                mac: "00:ff:01:02:03:04".parse().unwrap(),
                fstp: true,
                ..SwitchConfig::default()
            },
            H::default(),
        );
        sw.attach(AttachRequest {
            port: PortRequest::Number(4),
            endpoint: Endpoint {
                id: 1,
                module: "unix prog",
                description: String::new(),
                user: 0,
            },
            groups: vec![],
        })
        .unwrap();
        sw.handle_timeout(Instant::from_secs(1));
        let s = Snapshot::new(&sw, &HOST, Instant::from_secs(2));
        assert!(s.stp.enabled);
        assert_eq!(s.stp.bridge.as_deref(), Some("80:00:00:ff:01:02:03:04"));
        assert_eq!(s.stp.trees.len(), 1);
        let t = &s.stp.trees[0];
        assert_eq!((t.vlan, t.root_port, t.root_cost), (0, None, 0));
        assert_eq!(t.ports[0].port, 4);
        assert_eq!(
            (t.ports[0].role.as_str(), t.ports[0].state.as_str()),
            ("Designated", "Forwarding")
        );
        assert_eq!(s.stp.bpdus_out, 1);
        assert_eq!(Snapshot::from_json(&s.to_json_line()).unwrap(), s);
        let text = s.render_text();
        assert!(
            text.contains("Spanning tree: on, bridge 80:00:00:ff:01:02:03:04, BPDUs in 0 out 1"),
            "{text}"
        );
        assert!(text.contains("  VLAN 0: root 80:00:00:ff:01:02:03:04 (this switch, cost 0); ports 4 Designated/Forwarding\n"), "{text}");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_secs(7), "7s");
        assert_eq!(human_secs(245), "4m05s");
        assert_eq!(human_secs(3723), "1h02m03s");
    }
}
