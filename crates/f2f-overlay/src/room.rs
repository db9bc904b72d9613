//! Drives the room protocol ([`f2f_core::room::Room`]) from the XMPP session
//! and carries out what it asks: messages to the room, links up and down,
//! the grant (taps with the granted MACs, spanning tree for a mesh), the
//! master's grants stored atomically in the state directory's `rooms/ROOM/`,
//! and the log lines. It also answers the `room` and `links` sections of
//! `status`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use f2f_core::mac::MacAddr;
use f2f_core::room::{
    Action, Delivery, Grant, GrantSnapshot, LinkEvent, LinkTransport, LogLevel, Presence, Room,
    Topology,
};
use f2f_core::status::{LinkStatus, RoomStatus, Snapshot};
use tracing::{debug, info, warn};

use crate::datapath::Datapath;
use crate::mgmt::StatusExtra;
use crate::ports::tap::OpenTap;
use crate::ports::xmpp::XmppLinks;
use crate::room_tcp::TcpLinks;
use crate::state;
use crate::xmpp::muc::RoomPresence;
use crate::xmpp::session::{Outbound, RoomHandler};

/// File of the master's grants in `rooms/ROOM/`.
pub const GRANTS_FILE: &str = "grants.json";
/// File of our own last grant in `rooms/ROOM/`.
pub const GRANT_FILE: &str = "grant.json";

/// What `status` shows of the room, kept current by the driver.
#[derive(Debug)]
pub struct RoomView {
    room: Mutex<RoomStatus>,
    links: Arc<XmppLinks>,
    /// The TCP links' peers: node public key → nick.
    tcp: Mutex<BTreeMap<String, String>>,
}

impl StatusExtra for RoomView {
    fn fill(&self, snapshot: &mut Snapshot) {
        snapshot.room = Some(
            self.room
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        );
        let tcp = self.tcp.lock().unwrap_or_else(PoisonError::into_inner);
        for link in &mut snapshot.links {
            if let Some(nick) = link.peer_key.as_ref().and_then(|k| tcp.get(k)) {
                link.peer.clone_from(nick);
                link.transport = "tcp".to_string();
            }
        }
        for nick in self.links.nicks() {
            if let Some((port, stats)) = self.links.status(&nick) {
                snapshot.links.push(LinkStatus {
                    peer: nick,
                    port: Some(port),
                    state: "up".to_string(),
                    transport: "xmpp".to_string(),
                    frames_in: stats.rx_frames,
                    frames_out: stats.tx_frames,
                    drops: stats.drops,
                    xmpp: Some(stats),
                    ..LinkStatus::default()
                });
            }
        }
    }
}

/// The shell side of the room protocol.
#[derive(Debug)]
pub struct RoomDriver {
    room: Room,
    nick: String,
    datapath: Arc<Datapath>,
    links: Arc<XmppLinks>,
    tcp: TcpLinks,
    view: Arc<RoomView>,
    /// `rooms/ROOM/` in the state directory.
    dir: PathBuf,
    /// `--tap` names, created with the granted MACs when the grant arrives.
    taps: Vec<String>,
    /// Taps made so far.
    made_taps: usize,
    /// `--vm`: told the VM's MAC once the grant is applied and the switch
    /// is wired.
    vm: Option<VmTrigger>,
}

/// The links a [`RoomDriver`] makes for the room machine.
#[derive(Debug)]
pub struct RoomLinks {
    /// Over XMPP (MUC private messages).
    pub xmpp: Arc<XmppLinks>,
    /// Direct TCP links.
    pub tcp: TcpLinks,
}

/// When to start `join --vm`'s VM: once the grant gave us a MAC beyond the
/// taps' and the switch is wired (the master's at once, a member's at its
/// first established link).
#[derive(Debug)]
pub struct VmTrigger {
    /// Gets the MAC and the grant (its image offer), once.
    pub mac: tokio::sync::oneshot::Sender<(MacAddr, Grant)>,
    /// The switch counts as wired (the master's).
    pub wired: bool,
    /// The granted MAC and the grant, once known.
    pub granted: Option<(MacAddr, Grant)>,
}

impl RoomDriver {
    /// A driver for `room`, our nick `nick`, storing under `dir`.
    pub fn new(
        room: Room,
        nick: String,
        datapath: Arc<Datapath>,
        RoomLinks { xmpp: links, tcp }: RoomLinks,
        dir: PathBuf,
        taps: Vec<String>,
        vm: Option<VmTrigger>,
    ) -> RoomDriver {
        let view = Arc::new(RoomView {
            room: Mutex::new(room.status()),
            links: Arc::clone(&links),
            tcp: Mutex::new(BTreeMap::new()),
        });
        let mut driver = RoomDriver {
            room,
            nick,
            datapath,
            links,
            tcp,
            view,
            dir,
            taps,
            made_taps: 0,
            vm,
        };
        // The master grants itself at creation; nothing is sent before the
        // join.
        let _ = driver.drain();
        driver
    }

    /// What `status` shows.
    pub fn view(&self) -> Arc<RoomView> {
        Arc::clone(&self.view)
    }

    /// Carry out every queued action; return the messages to send.
    fn drain(&mut self) -> Vec<Outbound> {
        let mut out = Vec::new();
        while let Some(action) = self.room.poll_action() {
            match action {
                Action::SendGroupchat { body } => out.push(Outbound::Group(body)),
                Action::SendPrivate { nick, body } => out.push(Outbound::Private { nick, body }),
                Action::LinkUp {
                    peer,
                    transport,
                    public_key,
                } => self.link_up(&peer, &transport, public_key),
                Action::LinkDown { peer, reason } => {
                    info!(peer, reason, "tearing down the link");
                    self.links.remove(&peer);
                    self.tcp.remove(&peer);
                }
                Action::ApplyGrant { from, grant } => self.apply_grant(&from, &grant),
                Action::PersistGrants(snapshot) => self.persist(GRANTS_FILE, &snapshot),
                Action::RoleChanged(role) => info!(?role, "our role in the room changed"),
                Action::MasterLost { nick, reason } => warn!(
                    master = nick,
                    reason, "the room's master is gone; existing links keep forwarding"
                ),
                Action::Log { level, message } => match level {
                    LogLevel::Debug => debug!("{message}"),
                    LogLevel::Info => info!("{message}"),
                    LogLevel::Warn => warn!("{message}"),
                },
            }
        }
        *self
            .view
            .room
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.room.status();
        *self.view.tcp.lock().unwrap_or_else(PoisonError::into_inner) = self.tcp.nicks_by_key();
        self.start_vm_when_ready();
        out
    }

    /// Hand the VM its MAC once both the grant and the wiring are there.
    fn start_vm_when_ready(&mut self) {
        let ready = self
            .vm
            .as_ref()
            .is_some_and(|t| t.wired && t.granted.is_some());
        if let Some(VmTrigger {
            mac,
            granted: Some(granted),
            ..
        }) = ready.then(|| self.vm.take()).flatten()
        {
            info!(mac = %granted.0, "switch wired and grant applied: starting the VM");
            let _ = mac.send(granted);
        }
    }

    fn link_up(&mut self, peer: &str, transport: &LinkTransport, public_key: Option<String>) {
        let now = self.datapath.now();
        let result = match transport {
            LinkTransport::Xmpp => {
                self.tcp.remove(peer);
                self.links
                    .add(peer)
                    .map(|_| ())
                    .map_err(|e| format!("{e:#}"))
            }
            LinkTransport::Tcp { dial } => {
                self.links.remove(peer);
                match self.tcp.start(now, peer, dial.as_ref(), public_key) {
                    // Reported when it comes up or times out (on_tick).
                    Ok(()) => return,
                    Err(e) => Err(e),
                }
            }
        };
        let event = match result {
            Ok(()) => LinkEvent::Established,
            Err(reason) => LinkEvent::Failed { reason },
        };
        self.report_link(now, peer, event);
    }

    /// Tell the room machine how link `peer` went.
    fn report_link(&mut self, now: f2f_core::time::Instant, peer: &str, event: LinkEvent) {
        if let LinkEvent::Failed { reason } = &event {
            warn!(peer, reason, "link failed");
        } else if let Some(vm) = &mut self.vm {
            vm.wired = true;
        }
        self.room.handle_link(now, peer, event);
    }

    fn apply_grant(&mut self, from: &str, grant: &Grant) {
        let macs: Vec<String> = grant.macs.iter().map(ToString::to_string).collect();
        info!(
            master = from,
            macs = macs.join(" "),
            subnet = %grant.subnet,
            topology = %grant.topology,
            dhcp = grant.dhcp,
            "grant applied"
        );
        self.persist(GRANT_FILE, grant);
        if let Err(e) = self.tcp.set_key(grant.key.0) {
            warn!(error = %format!("{e:#}"), "cannot listen for the room's TCP links");
        }
        if grant.topology == Topology::Mesh {
            let now = self.datapath.now();
            if let Err(e) = self.datapath.lock().set_fstp(now, true) {
                warn!(error = %e, "cannot turn the spanning tree on for the mesh");
            }
        }
        while let (Some(name), Some(mac)) = (
            self.taps.get(self.made_taps).cloned(),
            grant.macs.get(self.made_taps).copied(),
        ) {
            self.made_taps += 1;
            if let Err(e) = make_tap(&self.datapath, &name, mac.0) {
                warn!(tap = name, error = %e, "cannot create the tap");
            }
        }
        if let Some(vm) = self.vm.as_mut().filter(|vm| vm.granted.is_none()) {
            vm.granted = grant
                .macs
                .get(self.taps.len())
                .map(|mac| (*mac, grant.clone()));
            if vm.granted.is_none() {
                warn!(
                    macs = grant.macs.len(),
                    taps = self.taps.len(),
                    "the grant has no MAC left for the VM after the taps'"
                );
            }
        }
    }

    fn persist<T: serde::Serialize>(&self, file: &str, value: &T) {
        let path = self.dir.join(file);
        let result = serde_json::to_vec_pretty(value)
            .map_err(std::io::Error::other)
            .and_then(|bytes| state::write_atomic(&path, &bytes, 0o600));
        if let Err(e) = result {
            warn!(path = %path.display(), error = %e, "cannot store the room's grants");
        }
    }
}

/// Create tap `name` with `mac` and attach it to the switch.
fn make_tap(datapath: &Arc<Datapath>, name: &str, mac: [u8; 6]) -> anyhow::Result<()> {
    let tap = OpenTap::open(name, true)?;
    crate::sys::tap::set_mac(tap.name(), mac)?;
    tap.attach(datapath)?;
    Ok(())
}

/// The master's stored grants in `dir`, if any (a file that does not parse
/// is an error: starting over would hand out different MACs).
pub fn load_grants(dir: &std::path::Path) -> anyhow::Result<Option<GrantSnapshot>> {
    let path = dir.join(GRANTS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{}: not a grants file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

impl RoomHandler for RoomDriver {
    fn on_joined(&mut self) -> Vec<Outbound> {
        info!(nick = self.nick, "joined the room");
        self.drain()
    }

    fn on_presence(&mut self, presence: RoomPresence) -> Vec<Outbound> {
        let now = self.datapath.now();
        match presence {
            RoomPresence::Here { occupant, .. } => {
                self.room
                    .handle_presence(now, Presence::Available(occupant));
            }
            RoomPresence::Left { nick, .. } => {
                self.room
                    .handle_presence(now, Presence::Unavailable { nick });
            }
            RoomPresence::NickConflict | RoomPresence::Refused(_) => {}
        }
        self.drain()
    }

    fn on_message(&mut self, nick: &str, private: bool, body: &str) -> Vec<Outbound> {
        let now = self.datapath.now();
        let delivery = if private {
            Delivery::Private
        } else {
            Delivery::Groupchat
        };
        self.room.handle_message(now, nick, delivery, body);
        self.drain()
    }

    fn on_tick(&mut self) -> Vec<Outbound> {
        let now = self.datapath.now();
        if self.room.poll_timeout().is_some_and(|t| t <= now) {
            self.room.handle_timeout(now);
        }
        for (peer, event) in self.tcp.poll(now) {
            self.report_link(now, &peer, event);
        }
        self.drain()
    }

    fn is_master(&self) -> bool {
        self.room.role() == f2f_core::room::NodeRole::Master
    }

    fn on_disconnected(&mut self) {
        let now = self.datapath.now();
        self.room.handle_presence(
            now,
            Presence::Unavailable {
                nick: self.nick.clone(),
            },
        );
        let _ = self.drain();
    }
}
