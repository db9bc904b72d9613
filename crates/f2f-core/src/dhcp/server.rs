//! The DHCP server state machine: frames in, frames and events out.
//!
//! [`DhcpServer`] follows the crate's vocabulary: `handle_frame(now, frame)`
//! for every frame the switch delivers to the server port, `poll_transmit()`
//! for the frames it sends back into the switch, `poll_event()` for what the
//! shell logs, `poll_timeout()`/`handle_timeout(now)` for lease expiry,
//! `snapshot()`/`take_dirty()` for the lease file.
//!
//! Clients are keyed by `chaddr` (their MAC). The client identifier (option
//! 61) is echoed (RFC 6842) but never used as a key: on a virtual switch the
//! MAC is what a VM is configured with and what reservations name, and a
//! client that changes its identifier but not its MAC keeps its address.
//!
//! Bounded: the transmit and event queues drop (and count) when the shell
//! does not drain them; the address table is bounded by the pool (see
//! `pool` module). It never blocks or probes, so a flood of DISCOVERs
//! costs each a table lookup and one reply.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::Serialize;
use smoltcp::wire::DhcpMessageType;

use crate::mac::MacAddr;
use crate::time::{Duration, Instant};

use super::config::{DhcpConfig, DhcpConfigError};
use super::frame::{self, DhcpMessage, IgnoreReason, Inbound, MalformedFrame, Reply, Skip, Source};
use super::pool::{Entry, Pool};
use super::snapshot::{LeaseSnapshot, SnapshotLease, UnixTime, SNAPSHOT_VERSION};

/// Most frames waiting in [`DhcpServer::poll_transmit`]; newer ones are
/// dropped and counted in `tx_dropped`.
pub const MAX_TRANSMIT_QUEUE: usize = 256;
/// Most events waiting in [`DhcpServer::poll_event`]; newer ones are dropped
/// and counted in `events_dropped`.
pub const MAX_EVENT_QUEUE: usize = 1024;
/// At most one [`DhcpEvent::PoolExhausted`] per this interval; the next one
/// says how many were folded into it.
pub const EXHAUSTED_EVENT_INTERVAL: Duration = Duration::from_secs(10);

/// What [`DhcpServer::handle_frame`] did with a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Acted on; replies, if any, wait in [`DhcpServer::poll_transmit`].
    Handled,
    /// Not for the server or nothing it answers (counted in `ignored`).
    Ignored(IgnoreReason),
    /// Could not be understood (counted in `malformed`).
    Malformed(MalformedFrame),
}

/// Why a DHCPNAK was sent (RFC 2131 §4.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NakReason {
    /// The address is not in the served subnet (client moved networks).
    WrongSubnet,
    /// The address is in the subnet but not one the server hands out to this
    /// client (outside the range, the server's own, reserved for another MAC,
    /// or the client has a reservation elsewhere).
    NotInPool,
    /// The address is offered or leased to another MAC, or declined.
    Taken,
}

impl NakReason {
    fn text(self) -> &'static str {
        match self {
            NakReason::WrongSubnet => "requested address is not on this network",
            NakReason::NotInPool => "requested address is not available to this client",
            NakReason::Taken => "requested address is in use",
        }
    }
}

/// What the shell may log (`tracing` fields: `mac`, `ip`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhcpEvent {
    /// An address was offered (DHCPOFFER).
    Offered {
        /// The client.
        mac: MacAddr,
        /// The address offered.
        ip: Ipv4Addr,
    },
    /// An address was leased or a lease renewed (DHCPACK).
    Leased {
        /// The client.
        mac: MacAddr,
        /// The address.
        ip: Ipv4Addr,
        /// True when the client already held this lease (renew, rebind, reboot).
        renewed: bool,
    },
    /// A request was refused (DHCPNAK).
    Nak {
        /// The client.
        mac: MacAddr,
        /// The address it asked for.
        requested: Ipv4Addr,
        /// Why.
        reason: NakReason,
    },
    /// A client gave its address back (DHCPRELEASE).
    Released {
        /// The client.
        mac: MacAddr,
        /// The address.
        ip: Ipv4Addr,
    },
    /// A client found its address in use by someone else (DHCPDECLINE); the
    /// address is out of the pool for a while.
    Declined {
        /// The client.
        mac: MacAddr,
        /// The address.
        ip: Ipv4Addr,
    },
    /// A lease ran out without renewal.
    Expired {
        /// The client.
        mac: MacAddr,
        /// The address, still remembered for it.
        ip: Ipv4Addr,
    },
    /// No address was free for a DISCOVER: the pool is exhausted. Log it
    /// clearly: clients get no address until leases are released or expire.
    PoolExhausted {
        /// The client left without an offer.
        mac: MacAddr,
        /// Further exhaustions folded into this event since the last one.
        suppressed: u64,
    },
}

/// Counters for `status` and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DhcpCounters {
    /// DHCPDISCOVERs received.
    pub discovers: u64,
    /// DHCPREQUESTs received.
    pub requests: u64,
    /// DHCPDECLINEs received.
    pub declines: u64,
    /// DHCPRELEASEs received.
    pub releases: u64,
    /// DHCPINFORMs received.
    pub informs: u64,
    /// DHCPOFFERs sent.
    pub offers: u64,
    /// DHCPACKs sent (INFORM answers included).
    pub acks: u64,
    /// DHCPNAKs sent.
    pub naks: u64,
    /// DISCOVERs left without an offer because no address was free.
    pub pool_exhausted: u64,
    /// Offers withdrawn to make room for a newer client.
    pub offers_evicted: u64,
    /// Frames that could not be parsed.
    pub malformed: u64,
    /// Frames not for the server, or not needing an answer.
    pub ignored: u64,
    /// ARP replies sent for the server's address.
    pub arp_replies: u64,
    /// Echo replies sent for the server's address.
    pub echo_replies: u64,
    /// Frames dropped because the transmit queue was full.
    pub tx_dropped: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Snapshot records not restored (invalid under the current config, or duplicates).
    pub snapshot_dropped: u64,
}

/// The state of one address in [`DhcpServer::leases`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// Offered, held for the client until `until`.
    Offered {
        /// End of the hold.
        until: Instant,
    },
    /// Leased until `expires`.
    Leased {
        /// End of the lease.
        expires: Instant,
    },
    /// Free, remembered for its last client (it gets it back first).
    Expired {
        /// Since when.
        since: Instant,
    },
    /// Declined by a client, out of the pool until `until`.
    Declined {
        /// End of the quarantine.
        until: Instant,
    },
}

/// One address known to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The address.
    pub ip: Ipv4Addr,
    /// Its client (`None` for a declined address).
    pub mac: Option<MacAddr>,
    /// True when the address is reserved for `mac`.
    pub reserved: bool,
    /// Offered, leased, expired or declined.
    pub state: LeaseState,
}

/// A lease in force, as [`DhcpServer::active_leases`] lists it for `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveLease {
    /// The client.
    pub mac: MacAddr,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Time left until the lease ends unless renewed.
    pub expires_in: Duration,
    /// True when the address is reserved for this MAC (`--dhcp-reserve`).
    pub reserved: bool,
}

/// A DHCP server attached to the switch as an internal port.
#[derive(Clone, Debug)]
pub struct DhcpServer {
    config: DhcpConfig,
    pool: Pool,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<DhcpEvent>,
    counters: DhcpCounters,
    dirty: bool,
    /// When the last PoolExhausted event was queued, and how many since.
    exhausted_log: Option<(Instant, u64)>,
}

impl DhcpServer {
    /// A server for `config`, restoring `snapshot` if given. `now` and `wall`
    /// are the same moment on the core's clock and the wall clock: they turn
    /// the snapshot's wall-clock expiries into [`Instant`]s.
    ///
    /// Snapshot records the config no longer allows (address outside the
    /// pool, reserved for another MAC, duplicates), or all of them when the
    /// snapshot's version is not [`SNAPSHOT_VERSION`], are skipped and counted
    /// in `snapshot_dropped`. Fails only on an invalid config.
    pub fn new(
        config: DhcpConfig,
        snapshot: Option<&LeaseSnapshot>,
        now: Instant,
        wall: UnixTime,
    ) -> Result<DhcpServer, DhcpConfigError> {
        config.validate()?;
        let mut server = DhcpServer {
            pool: Pool::new(&config),
            config,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counters: DhcpCounters::default(),
            dirty: false,
            exhausted_log: None,
        };
        if let Some(snapshot) = snapshot {
            server.restore(snapshot, now, wall);
        }
        Ok(server)
    }

    /// The configuration served.
    pub fn config(&self) -> &DhcpConfig {
        &self.config
    }

    /// True for the destination MACs the switch should deliver to this port:
    /// the server's own and broadcast.
    pub fn wants(&self, dst: MacAddr) -> bool {
        dst == self.config.server_mac || dst.is_broadcast()
    }

    /// Takes one Ethernet frame delivered to the server port at `now`: DHCP
    /// on UDP 67, ARP requests and pings for the server address. Replies are
    /// queued for [`DhcpServer::poll_transmit`].
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> FrameOutcome {
        self.expire(now);
        let parsed = frame::parse(
            frame,
            self.config.server_mac,
            self.config.server_ip,
            self.config.subnet.broadcast(),
        );
        let inbound = match parsed {
            Ok(inbound) => inbound,
            Err(skip) => return self.skipped(skip),
        };
        match inbound {
            Inbound::Dhcp { msg, .. } => self.handle_dhcp(now, &msg),
            Inbound::ArpRequest {
                sender_mac,
                sender_ip,
            } => {
                let reply = frame::build_arp_reply(self.source(), sender_mac, sender_ip);
                self.counters.arp_replies += 1;
                self.send(reply);
                FrameOutcome::Handled
            }
            Inbound::EchoRequest {
                eth_src,
                ip_src,
                ident,
                seq_no,
                data,
            } => {
                let reply =
                    frame::build_echo_reply(self.source(), eth_src, ip_src, ident, seq_no, data);
                self.counters.echo_replies += 1;
                self.send(reply);
                FrameOutcome::Handled
            }
        }
    }

    /// The next frame to send into the switch, as if received on this port.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event for the shell to log.
    pub fn poll_event(&mut self) -> Option<DhcpEvent> {
        self.events.pop_front()
    }

    /// When [`DhcpServer::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pool.next_deadline()
    }

    /// Ends offers, leases and declines due at `now`. A late or spurious call
    /// is harmless; every `handle_frame` also does this first.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// True once after any change the lease file should record (a lease
    /// granted, renewed, released, declined or expired). The shell then writes
    /// [`DhcpServer::snapshot`] atomically.
    pub fn take_dirty(&mut self) -> bool {
        core::mem::take(&mut self.dirty)
    }

    /// Every lease and remembered address, with wall-clock expiries computed
    /// from `now` ≙ `wall`.
    pub fn snapshot(&self, now: Instant, wall: UnixTime) -> LeaseSnapshot {
        let leases = self
            .pool
            .entries()
            .filter_map(|(ip, entry)| {
                let (mac, expires_at) = match entry {
                    Entry::Leased { mac, expires } => {
                        let left = expires.saturating_duration_since(now).as_secs();
                        (mac, wall.0.saturating_add(left.max(1)))
                    }
                    Entry::Offered {
                        mac,
                        remember: true,
                        ..
                    }
                    | Entry::Free {
                        last: Some(mac), ..
                    } => (mac, wall.0),
                    _ => return None,
                };
                Some(SnapshotLease {
                    mac,
                    ip,
                    expires_at: UnixTime(expires_at),
                })
            })
            .collect();
        LeaseSnapshot {
            version: SNAPSHOT_VERSION,
            saved_at: wall,
            leases,
        }
    }

    /// Every address offered, leased, remembered or declined, in address order.
    pub fn leases(&self) -> impl Iterator<Item = LeaseInfo> + '_ {
        self.pool.entries().filter_map(|(ip, entry)| {
            let (mac, state) = match entry {
                Entry::Offered { mac, until, .. } => (Some(mac), LeaseState::Offered { until }),
                Entry::Leased { mac, expires } => (Some(mac), LeaseState::Leased { expires }),
                Entry::Free {
                    last: Some(mac),
                    since,
                } => (Some(mac), LeaseState::Expired { since }),
                Entry::Free { last: None, .. } => return None,
                Entry::Declined { until } => (None, LeaseState::Declined { until }),
            };
            let reserved = mac.is_some() && self.pool.reserved_for(ip) == mac;
            Some(LeaseInfo {
                ip,
                mac,
                reserved,
                state,
            })
        })
    }

    /// The leases in force at `now`, in address order: what `status` shows
    /// (offers, remembered and declined addresses are left out; see
    /// [`DhcpServer::leases`] for those).
    pub fn active_leases(&self, now: Instant) -> impl Iterator<Item = ActiveLease> + '_ {
        self.leases()
            .filter_map(move |lease| match (lease.state, lease.mac) {
                (LeaseState::Leased { expires }, Some(mac)) if expires > now => Some(ActiveLease {
                    mac,
                    ip: lease.ip,
                    expires_in: expires.saturating_duration_since(now),
                    reserved: lease.reserved,
                }),
                _ => None,
            })
    }

    /// The counters.
    pub fn counters(&self) -> &DhcpCounters {
        &self.counters
    }

    /// The console's `dhcp/print`: lines of text in vde_switch's console
    /// style, one line per address after a summary.
    pub fn render_print(&self, now: Instant) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "DHCP server {} ({}) subnet {} range {} lease {}s",
            c.server_ip,
            c.server_mac,
            c.subnet,
            c.range,
            c.lease_time.as_secs()
        );
        if let Some(router) = c.router {
            let _ = writeln!(out, " router {router}");
        }
        if !c.dns.is_empty() {
            let dns: Vec<String> = c.dns.iter().map(|d| d.to_string()).collect();
            let _ = writeln!(out, " dns {}", dns.join(" "));
        }
        let n = &self.counters;
        let leased = self
            .leases()
            .filter(|l| matches!(l.state, LeaseState::Leased { .. }))
            .count();
        let _ = writeln!(
            out,
            " pool {} dynamic + {} reserved, {} leased, {} offered",
            c.dynamic_pool_size(),
            c.reservations.len(),
            leased,
            self.pool.offer_count()
        );
        let _ = writeln!(
            out,
            " discover {} request {} offer {} ack {} nak {} release {} decline {} inform {}",
            n.discovers, n.requests, n.offers, n.acks, n.naks, n.releases, n.declines, n.informs
        );
        let _ = writeln!(
            out,
            " exhausted {} evicted {} malformed {} ignored {} arp {} ping {}",
            n.pool_exhausted,
            n.offers_evicted,
            n.malformed,
            n.ignored,
            n.arp_replies,
            n.echo_replies
        );
        for lease in self.leases() {
            let mac = lease.mac.map_or_else(|| "-".to_string(), |m| m.to_string());
            let state = match lease.state {
                LeaseState::Offered { until } => format!("offered {}s", secs_until(now, until)),
                LeaseState::Leased { expires } => format!("leased {}s", secs_until(now, expires)),
                LeaseState::Expired { since } => {
                    format!(
                        "expired {}s ago",
                        now.saturating_duration_since(since).as_secs()
                    )
                }
                LeaseState::Declined { until } => format!("declined {}s", secs_until(now, until)),
            };
            let reserved = if lease.reserved { " reserved" } else { "" };
            let _ = writeln!(out, "Lease {} {} {}{}", lease.ip, mac, state, reserved);
        }
        out
    }

    /// Checks the address table's invariants (no address to two MACs, no MAC
    /// with two addresses, indexes in step, offers bounded).
    #[cfg(any(test, fuzzing, feature = "fuzzing"))]
    pub fn check_invariants(&self) -> Result<(), String> {
        self.pool.check()
    }

    /// Lowers the cap on outstanding offers below [`MAX_OFFERS`](super::MAX_OFFERS)
    /// (at least 1), so fuzzing reaches the eviction path with a small pool.
    #[cfg(any(test, fuzzing, feature = "fuzzing"))]
    pub fn limit_offers(&mut self, max: usize) {
        self.pool.set_max_offers(max);
    }

    // --- DHCP ---

    /// One `match` on the message type (RFC 2131 §4.3).
    fn handle_dhcp(&mut self, now: Instant, msg: &DhcpMessage<'_>) -> FrameOutcome {
        match msg.kind {
            DhcpMessageType::Discover => self.on_discover(now, msg),
            DhcpMessageType::Request => self.on_request(now, msg),
            DhcpMessageType::Decline => self.on_decline(now, msg),
            DhcpMessageType::Release => self.on_release(now, msg),
            DhcpMessageType::Inform => self.on_inform(msg),
            other => self.skipped(Skip::Ignored(IgnoreReason::DhcpMessageType(u8::from(
                other,
            )))),
        }
    }

    /// RFC 2131 §4.3.1: offer an address, never stalling; exhaustion is
    /// counted and reported.
    fn on_discover(&mut self, now: Instant, msg: &DhcpMessage<'_>) -> FrameOutcome {
        self.counters.discovers += 1;
        let requested = msg
            .requested_ip
            .filter(|ip| self.config.subnet.contains(*ip));
        match self.pool.offer(msg.chaddr, requested, now) {
            Ok((ip, evicted)) => {
                if evicted.is_some() {
                    self.counters.offers_evicted += 1;
                }
                self.counters.offers += 1;
                self.reply(DhcpMessageType::Offer, msg, ip);
                self.event(DhcpEvent::Offered {
                    mac: msg.chaddr,
                    ip,
                });
            }
            Err(_) => {
                self.counters.pool_exhausted += 1;
                self.exhausted(now, msg.chaddr);
            }
        }
        FrameOutcome::Handled
    }

    /// RFC 2131 §4.3.2: SELECTING (server identifier present), INIT-REBOOT
    /// (requested address, no `ciaddr`), RENEWING/REBINDING (`ciaddr`).
    fn on_request(&mut self, now: Instant, msg: &DhcpMessage<'_>) -> FrameOutcome {
        self.counters.requests += 1;
        let wanted = match (msg.server_id, msg.ciaddr.is_unspecified()) {
            (Some(sid), _) if sid != self.config.server_ip => {
                // The client took another server's offer: drop ours.
                self.pool.withdraw_offer(msg.chaddr, now);
                return self.skipped(Skip::Ignored(IgnoreReason::OtherServer(sid)));
            }
            // SELECTING and INIT-REBOOT name the address in option 50.
            (Some(_), _) | (None, true) => match msg.requested_ip {
                Some(ip) => ip,
                None if !msg.ciaddr.is_unspecified() => msg.ciaddr,
                None => {
                    return self.skipped(Skip::Malformed(MalformedFrame::NoRequestedIp {
                        kind: "REQUEST",
                    }));
                }
            },
            // RENEWING (unicast) and REBINDING (broadcast) name it in ciaddr.
            (None, false) => msg.ciaddr,
        };
        if !self.config.subnet.is_host(wanted) {
            self.nak(msg, wanted, NakReason::WrongSubnet);
        } else if let Some(taken_over) = self
            .pool
            .requestable(msg.chaddr, wanted, msg.server_id.is_some())
            .filter(|_| !self.remembered_for_other(msg.chaddr, wanted))
        {
            let renewed = matches!(self.pool.entry(wanted), Some(Entry::Leased { mac, .. }) if mac == msg.chaddr);
            if self
                .pool
                .lease(msg.chaddr, wanted, now, self.config.lease_time)
            {
                if taken_over.is_some() {
                    // Its offer went to another MAC meanwhile (pool module doc).
                    self.counters.offers_evicted += 1;
                }
                self.counters.acks += 1;
                self.dirty = true;
                self.reply(DhcpMessageType::Ack, msg, wanted);
                self.event(DhcpEvent::Leased {
                    mac: msg.chaddr,
                    ip: wanted,
                    renewed,
                });
            }
        } else {
            let reason = if self.pool.is_dynamic(wanted)
                || self.pool.reserved_for(wanted) == Some(msg.chaddr)
            {
                NakReason::Taken
            } else {
                NakReason::NotInPool
            };
            self.nak(msg, wanted, reason);
        }
        FrameOutcome::Handled
    }

    /// RFC 2131 §4.3.3: the client found the address in use; take it out of
    /// the pool for a while.
    fn on_decline(&mut self, now: Instant, msg: &DhcpMessage<'_>) -> FrameOutcome {
        self.counters.declines += 1;
        if let Some(outcome) = self.foreign(msg) {
            return outcome;
        }
        let Some(ip) = msg.requested_ip else {
            return self.skipped(Skip::Malformed(MalformedFrame::NoRequestedIp {
                kind: "DECLINE",
            }));
        };
        if self.pool.decline(msg.chaddr, ip, now) {
            self.dirty = true;
            self.event(DhcpEvent::Declined {
                mac: msg.chaddr,
                ip,
            });
        }
        FrameOutcome::Handled
    }

    /// RFC 2131 §4.3.4: the client gives `ciaddr` back; it stays remembered
    /// for the client.
    fn on_release(&mut self, now: Instant, msg: &DhcpMessage<'_>) -> FrameOutcome {
        self.counters.releases += 1;
        if let Some(outcome) = self.foreign(msg) {
            return outcome;
        }
        if self.pool.release(msg.chaddr, msg.ciaddr, now) {
            self.dirty = true;
            self.event(DhcpEvent::Released {
                mac: msg.chaddr,
                ip: msg.ciaddr,
            });
        }
        FrameOutcome::Handled
    }

    /// RFC 2131 §4.3.5: configuration without a lease, sent to `ciaddr`.
    fn on_inform(&mut self, msg: &DhcpMessage<'_>) -> FrameOutcome {
        self.counters.informs += 1;
        self.counters.acks += 1;
        self.reply(DhcpMessageType::Ack, msg, Ipv4Addr::UNSPECIFIED);
        FrameOutcome::Handled
    }

    // --- helpers ---

    /// `Some` when the message names another server (option 54).
    fn foreign(&mut self, msg: &DhcpMessage<'_>) -> Option<FrameOutcome> {
        let sid = msg.server_id?;
        (sid != self.config.server_ip)
            .then(|| self.skipped(Skip::Ignored(IgnoreReason::OtherServer(sid))))
    }

    /// True when `ip` is free but remembered for another MAC, which keeps it
    /// against explicit requests (only pool pressure on DISCOVER reuses it).
    fn remembered_for_other(&self, mac: MacAddr, ip: Ipv4Addr) -> bool {
        matches!(self.pool.entry(ip), Some(Entry::Free { last: Some(m), .. }) if m != mac)
    }

    /// Queues an OFFER or ACK for `yiaddr` with the configured options. The
    /// router and DNS are sent when the client's parameter request list
    /// (option 55) asks for them or when it sent none; the subnet mask always.
    fn reply(&mut self, kind: DhcpMessageType, msg: &DhcpMessage<'_>, yiaddr: Ipv4Addr) {
        let wants = |code: u8| !matches!(msg.parameter_list, Some(list) if !list.contains(&code));
        let lease_secs = (msg.kind != DhcpMessageType::Inform)
            .then(|| u32::try_from(self.config.lease_time.as_secs()).unwrap_or(u32::MAX - 1));
        let dns: &[Ipv4Addr] = if wants(6) { &self.config.dns } else { &[] };
        let reply = Reply {
            kind,
            request: msg,
            yiaddr,
            lease_secs,
            subnet_mask: Some(self.config.subnet.mask()),
            router: self.config.router.filter(|_| wants(3)),
            dns,
            message: None,
        };
        let frame = frame::build_dhcp_reply(self.source(), &reply);
        self.send(frame);
    }

    fn nak(&mut self, msg: &DhcpMessage<'_>, requested: Ipv4Addr, reason: NakReason) {
        let reply = Reply {
            kind: DhcpMessageType::Nak,
            request: msg,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            lease_secs: None,
            subnet_mask: None,
            router: None,
            dns: &[],
            message: Some(reason.text()),
        };
        let frame = frame::build_dhcp_reply(self.source(), &reply);
        self.counters.naks += 1;
        self.send(frame);
        self.event(DhcpEvent::Nak {
            mac: msg.chaddr,
            requested,
            reason,
        });
    }

    /// Reports exhaustion at most once per [`EXHAUSTED_EVENT_INTERVAL`].
    fn exhausted(&mut self, now: Instant, mac: MacAddr) {
        match self.exhausted_log {
            Some((last, suppressed))
                if now.saturating_duration_since(last) < EXHAUSTED_EVENT_INTERVAL =>
            {
                self.exhausted_log = Some((last, suppressed + 1));
            }
            previous => {
                let suppressed = previous.map_or(0, |(_, n)| n);
                self.exhausted_log = Some((now, 0));
                self.event(DhcpEvent::PoolExhausted { mac, suppressed });
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        for lapsed in self.pool.expire(now) {
            self.dirty = true;
            self.event(DhcpEvent::Expired {
                mac: lapsed.mac,
                ip: lapsed.ip,
            });
        }
    }

    fn restore(&mut self, snapshot: &LeaseSnapshot, now: Instant, wall: UnixTime) {
        if snapshot.version != SNAPSHOT_VERSION {
            // A format this code does not know: start empty rather than guess.
            self.counters.snapshot_dropped += snapshot.leases.len() as u64;
            return;
        }
        // Live leases first, so they win over remembered addresses.
        let mut records: Vec<&SnapshotLease> = snapshot.leases.iter().collect();
        records.sort_by_key(|r| core::cmp::Reverse(r.expires_at));
        for record in records {
            let expires = (record.expires_at > wall)
                .then(|| now + Duration::from_secs(record.expires_at.0.saturating_sub(wall.0)));
            if !self.pool.restore(record.mac, record.ip, expires, now) {
                self.counters.snapshot_dropped += 1;
            }
        }
    }

    fn skipped(&mut self, skip: Skip) -> FrameOutcome {
        match skip {
            Skip::Ignored(reason) => {
                self.counters.ignored += 1;
                FrameOutcome::Ignored(reason)
            }
            Skip::Malformed(error) => {
                self.counters.malformed += 1;
                FrameOutcome::Malformed(error)
            }
        }
    }

    fn source(&self) -> Source {
        Source {
            mac: self.config.server_mac,
            ip: self.config.server_ip,
        }
    }

    fn send(&mut self, frame: Vec<u8>) {
        if self.transmit.len() < MAX_TRANSMIT_QUEUE {
            self.transmit.push_back(frame);
        } else {
            self.counters.tx_dropped += 1;
        }
    }

    fn event(&mut self, event: DhcpEvent) {
        if self.events.len() < MAX_EVENT_QUEUE {
            self.events.push_back(event);
        } else {
            self.counters.events_dropped += 1;
        }
    }
}

fn secs_until(now: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(now).as_secs()
}
