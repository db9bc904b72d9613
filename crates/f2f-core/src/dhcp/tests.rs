//! Scenario tests for the DHCP server: scripted time, frames built as real
//! clients build them, replies read back as a client reads them.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, EthernetAddress, EthernetFrame,
    EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr,
};

use super::client::{parse_reply, ClientMessage, Referee, ServerReply};
use super::*;
use crate::mac::MacAddr;
use crate::time::{Duration, Instant};

const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const WALL0: u64 = 1_700_000_000;

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

fn mac(n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([0x52, 0x54, b[0], b[1], b[2], b[3]])
}

fn config() -> DhcpConfig {
    let mut c = DhcpConfig::new("10.0.0.0/24".parse().unwrap(), SERVER_MAC).unwrap();
    c.router = Some(ip(1));
    c.dns = vec![ip(1), Ipv4Addr::new(9, 9, 9, 9)];
    c
}

/// The server, a clock, and a referee watching every exchange.
struct Lan {
    server: DhcpServer,
    now: Instant,
    referee: Referee,
}

impl Lan {
    fn new(config: DhcpConfig) -> Lan {
        Lan::restored(config, None, Instant::ZERO)
    }

    fn restored(config: DhcpConfig, snapshot: Option<&LeaseSnapshot>, now: Instant) -> Lan {
        let referee = Referee::new(&config);
        let server = DhcpServer::new(config, snapshot, now, wall(now)).unwrap();
        Lan {
            server,
            now,
            referee,
        }
    }

    fn at(&mut self, secs: u64) -> &mut Lan {
        self.now = Instant::from_secs(secs);
        self.server.handle_timeout(self.now);
        self
    }

    /// Sends a client message; returns the DHCP replies.
    fn send(&mut self, msg: ClientMessage) -> Vec<ServerReply> {
        let frame = msg.to_frame();
        self.referee.client_sent(&frame);
        let outcome = self.server.handle_frame(self.now, &frame);
        assert!(
            !matches!(outcome, FrameOutcome::Malformed(_)),
            "client frame judged malformed: {outcome:?}"
        );
        self.replies()
    }

    fn raw(&mut self, frame: &[u8]) -> FrameOutcome {
        let outcome = self.server.handle_frame(self.now, frame);
        self.server.check_invariants().unwrap();
        outcome
    }

    fn replies(&mut self) -> Vec<ServerReply> {
        let mut out = Vec::new();
        while let Some(frame) = self.server.poll_transmit() {
            let reply =
                parse_reply(&frame).expect("server sent a frame that is not a valid DHCP reply");
            self.referee.server_sent(self.now, &reply).unwrap();
            out.push(reply);
        }
        self.server.check_invariants().unwrap();
        out
    }

    fn one(&mut self, msg: ClientMessage) -> ServerReply {
        let mut replies = self.send(msg);
        assert_eq!(replies.len(), 1, "expected exactly one reply: {replies:?}");
        replies.remove(0)
    }

    /// DISCOVER, OFFER, REQUEST, ACK; returns the address.
    fn dora(&mut self, client: MacAddr) -> Ipv4Addr {
        let offer = self.one(ClientMessage::discover(client, 1));
        assert_eq!(offer.kind, DhcpMessageType::Offer);
        let ack = self.one(ClientMessage::select(client, 2, offer.yiaddr, SERVER_IP));
        assert_eq!(ack.kind, DhcpMessageType::Ack, "{ack:?}");
        assert_eq!(ack.yiaddr, offer.yiaddr);
        ack.yiaddr
    }

    fn events(&mut self) -> Vec<DhcpEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }
}

fn wall(now: Instant) -> UnixTime {
    UnixTime(WALL0 + now.secs())
}

#[test]
fn full_dora_with_every_option() {
    let mut lan = Lan::new(config());
    let a = mac(1);
    let offer = lan.one(ClientMessage::discover(a, 0xdead_beef));
    assert_eq!(offer.kind, DhcpMessageType::Offer);
    assert_eq!(offer.xid, 0xdead_beef);
    assert_eq!(offer.yiaddr, ip(2), "first free host after the server");
    assert_eq!(offer.ciaddr, Ipv4Addr::UNSPECIFIED);
    // RFC 2131 §4.1: no broadcast bit, no ciaddr: unicast to yiaddr at chaddr.
    assert_eq!((offer.eth_dst, offer.ip_dst), (a, ip(2)));
    assert_eq!((offer.eth_src, offer.ip_src), (SERVER_MAC, SERVER_IP));
    assert_eq!(offer.server_id, Some(SERVER_IP));
    assert_eq!(offer.lease_secs, Some(3600));
    assert_eq!((offer.t1, offer.t2), (Some(1800), Some(3150)));
    assert_eq!(offer.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(offer.router, Some(ip(1)));
    assert_eq!(offer.dns, vec![ip(1), Ipv4Addr::new(9, 9, 9, 9)]);
    assert_eq!(
        offer.client_id,
        Some(vec![1, 0x52, 0x54, 0, 0, 0, 1]),
        "RFC 6842 echo"
    );
    assert!(offer.dhcp_len >= 300, "BOOTP minimum size");
    assert!(!lan.server.take_dirty(), "an offer is not persisted");

    lan.at(1);
    let ack = lan.one(ClientMessage::select(a, 7, ip(2), SERVER_IP));
    assert_eq!(ack.kind, DhcpMessageType::Ack);
    assert_eq!(
        (ack.yiaddr, ack.xid, ack.lease_secs),
        (ip(2), 7, Some(3600))
    );
    assert_eq!((ack.eth_dst, ack.ip_dst), (a, ip(2)));
    assert!(lan.server.take_dirty());
    assert!(!lan.server.take_dirty(), "dirty is taken once");
    assert_eq!(
        lan.events(),
        vec![
            DhcpEvent::Offered { mac: a, ip: ip(2) },
            DhcpEvent::Leased {
                mac: a,
                ip: ip(2),
                renewed: false
            }
        ]
    );
    let leases: Vec<LeaseInfo> = lan.server.leases().collect();
    assert_eq!(
        leases,
        vec![LeaseInfo {
            ip: ip(2),
            mac: Some(a),
            reserved: false,
            state: LeaseState::Leased {
                expires: Instant::from_secs(3601)
            }
        }]
    );
    assert_eq!(lan.server.poll_timeout(), Some(Instant::from_secs(3601)));
    let c = lan.server.counters();
    assert_eq!(
        (c.discovers, c.offers, c.requests, c.acks, c.naks),
        (1, 1, 1, 1, 0)
    );
}

#[test]
fn active_leases_list_only_leases_in_force() {
    let mut c = config();
    c.reservations = vec![Reservation {
        mac: mac(9),
        ip: ip(200),
    }];
    let mut lan = Lan::new(c);
    let a = lan.dora(mac(1));
    lan.one(ClientMessage::discover(mac(2), 3)); // offered only
    lan.at(100);
    let r = lan.dora(mac(9));
    assert_eq!(r, ip(200));
    let now = Instant::from_secs(1000);
    let active: Vec<ActiveLease> = lan.server.active_leases(now).collect();
    assert_eq!(
        active,
        vec![
            ActiveLease {
                mac: mac(1),
                ip: a,
                expires_in: Duration::from_secs(2600),
                reserved: false
            },
            ActiveLease {
                mac: mac(9),
                ip: ip(200),
                expires_in: Duration::from_secs(2700),
                reserved: true
            }
        ]
    );
    assert_eq!(
        lan.server.active_leases(Instant::from_secs(3650)).count(),
        1,
        "the first lease has run out, even before handle_timeout"
    );
}

#[test]
fn broadcast_bit_gets_broadcast_replies_and_parameter_list_is_honored() {
    let mut lan = Lan::new(config());
    let mut discover = ClientMessage::discover(mac(1), 1);
    discover.broadcast = true;
    discover.parameter_list = Some(vec![1, 51]);
    let offer = lan.one(discover);
    assert_eq!(
        (offer.eth_dst, offer.ip_dst),
        (MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
    );
    assert!(offer.broadcast);
    assert_eq!(
        offer.subnet_mask,
        Some(Ipv4Addr::new(255, 255, 255, 0)),
        "always sent"
    );
    assert_eq!((offer.router, offer.dns.len()), (None, 0), "not asked for");
}

#[test]
fn reply_frame_bytes_are_what_a_client_expects() {
    let mut lan = Lan::new(config());
    lan.server.handle_frame(
        lan.now,
        &ClientMessage::discover(mac(1), 0x0102_0304).to_frame(),
    );
    let frame = lan.server.poll_transmit().unwrap();
    assert_eq!(
        &frame[0..6],
        &[0x52, 0x54, 0, 0, 0, 1],
        "Ethernet destination: chaddr"
    );
    assert_eq!(&frame[6..12], &SERVER_MAC.0);
    assert_eq!(&frame[12..14], &[0x08, 0x00]);
    assert_eq!(frame[14], 0x45, "IPv4, 20-byte header");
    assert_eq!(frame[14 + 9], 17, "UDP");
    assert_eq!(&frame[34..38], &[0, 67, 0, 68], "ports 67 -> 68");
    let dhcp = &frame[42..];
    assert_eq!(
        &dhcp[0..4],
        &[2, 1, 6, 0],
        "BOOTREPLY, Ethernet, hlen 6, hops 0"
    );
    assert_eq!(&dhcp[4..8], &[1, 2, 3, 4], "xid");
    assert_eq!(&dhcp[16..20], &[10, 0, 0, 2], "yiaddr");
    assert_eq!(&dhcp[236..240], &[0x63, 0x82, 0x53, 0x63], "magic cookie");
    assert_eq!(&dhcp[240..243], &[53, 1, 2], "message type OFFER first");
}

#[test]
fn renewing_and_rebinding_extend_the_lease() {
    let mut lan = Lan::new(config());
    let a = mac(1);
    let addr = lan.dora(a);
    lan.events();
    lan.at(1800);
    let ack = lan.one(ClientMessage::renew(a, 9, addr, SERVER_IP, SERVER_MAC));
    assert_eq!(ack.kind, DhcpMessageType::Ack);
    // RFC 2131 §4.1: ciaddr set: unicast to it, ciaddr echoed.
    assert_eq!(
        (ack.ip_dst, ack.eth_dst, ack.ciaddr, ack.yiaddr),
        (addr, a, addr, addr)
    );
    assert_eq!(
        lan.server.poll_timeout(),
        Some(Instant::from_secs(1800 + 3600))
    );
    assert_eq!(
        lan.events(),
        vec![DhcpEvent::Leased {
            mac: a,
            ip: addr,
            renewed: true
        }]
    );

    lan.at(1800 + 3150);
    let ack = lan.one(ClientMessage::rebind(a, 10, addr));
    assert_eq!(
        (ack.kind, ack.ip_dst, ack.yiaddr),
        (DhcpMessageType::Ack, addr, addr)
    );
    assert_eq!(
        lan.server.poll_timeout(),
        Some(Instant::from_secs(1800 + 3150 + 3600))
    );
    // Past the first lease's end, still leased.
    lan.at(3700);
    assert!(matches!(
        lan.server.leases().next().unwrap().state,
        LeaseState::Leased { .. }
    ));
}

#[test]
fn release_then_another_client_gets_the_address() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.2".parse().unwrap();
    let mut lan = Lan::new(c);
    let (a, b) = (mac(1), mac(2));
    assert_eq!(lan.dora(a), ip(2));
    assert!(
        lan.send(ClientMessage::discover(b, 3)).is_empty(),
        "pool of one is taken"
    );
    lan.at(5);
    assert!(lan
        .send(ClientMessage::release(a, 4, ip(2), SERVER_IP, SERVER_MAC))
        .is_empty());
    assert!(lan
        .events()
        .contains(&DhcpEvent::Released { mac: a, ip: ip(2) }));
    assert!(lan.server.take_dirty());
    assert_eq!(lan.dora(b), ip(2));
    assert_eq!(lan.server.counters().releases, 1);
    // A release by someone who does not hold the address changes nothing.
    lan.send(ClientMessage::release(a, 5, ip(2), SERVER_IP, SERVER_MAC));
    assert!(matches!(
        lan.server.leases().next().unwrap().state,
        LeaseState::Leased { .. }
    ));
}

#[test]
fn decline_takes_the_address_out_for_a_while() {
    let mut lan = Lan::new(config());
    let (a, b) = (mac(1), mac(2));
    assert_eq!(lan.dora(a), ip(2));
    lan.at(2);
    assert!(lan
        .send(ClientMessage::decline(a, 3, ip(2), SERVER_IP))
        .is_empty());
    assert!(lan
        .events()
        .contains(&DhcpEvent::Declined { mac: a, ip: ip(2) }));
    assert_eq!(lan.server.counters().declines, 1);
    let info = lan.server.leases().next().unwrap();
    assert_eq!((info.ip, info.mac), (ip(2), None));
    assert_eq!(
        info.state,
        LeaseState::Declined {
            until: Instant::from_secs(2) + DECLINE_HOLD
        }
    );
    // Asked for explicitly, the declined address is refused.
    let mut discover = ClientMessage::discover(b, 4);
    discover.requested_ip = Some(ip(2));
    assert_eq!(lan.one(discover).yiaddr, ip(3));
    let nak = lan.one(ClientMessage::init_reboot(b, 5, ip(2)));
    assert_eq!(nak.kind, DhcpMessageType::Nak);
    // After the hold it is free again.
    lan.at(2 + DECLINE_HOLD.as_secs());
    let mut discover = ClientMessage::discover(mac(3), 6);
    discover.requested_ip = Some(ip(2));
    assert_eq!(lan.one(discover).yiaddr, ip(2));
}

#[test]
fn inform_gets_configuration_without_a_lease() {
    let mut lan = Lan::new(config());
    let reply = lan.one(ClientMessage::inform(mac(1), 8, ip(77)));
    assert_eq!(reply.kind, DhcpMessageType::Ack);
    // RFC 2131 §4.3.5: no yiaddr, no lease time, sent to ciaddr.
    assert_eq!(
        (reply.yiaddr, reply.ciaddr, reply.ip_dst),
        (Ipv4Addr::UNSPECIFIED, ip(77), ip(77))
    );
    assert_eq!((reply.lease_secs, reply.t1, reply.t2), (None, None, None));
    assert_eq!(reply.router, Some(ip(1)));
    assert_eq!(lan.server.leases().count(), 0);
    assert_eq!(lan.server.counters().informs, 1);
}

#[test]
fn nak_for_a_wrong_address_or_another_network() {
    let mut lan = Lan::new(config());
    let (a, b) = (mac(1), mac(2));
    let addr = lan.dora(a);
    lan.events();
    // INIT-REBOOT for an address leased to someone else.
    let nak = lan.one(ClientMessage::init_reboot(b, 1, addr));
    assert_eq!(nak.kind, DhcpMessageType::Nak);
    // RFC 2131 §4.1: NAKs are broadcast; no yiaddr, no lease options.
    assert_eq!(
        (nak.eth_dst, nak.ip_dst),
        (MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
    );
    assert_eq!(
        (nak.yiaddr, nak.lease_secs, nak.subnet_mask),
        (Ipv4Addr::UNSPECIFIED, None, None)
    );
    assert_eq!(nak.server_id, Some(SERVER_IP));
    assert_eq!(nak.message.as_deref(), Some("requested address is in use"));
    assert_eq!(
        lan.events(),
        vec![DhcpEvent::Nak {
            mac: b,
            requested: addr,
            reason: NakReason::Taken
        }]
    );
    // A client back from another network.
    let nak = lan.one(ClientMessage::init_reboot(
        b,
        2,
        Ipv4Addr::new(192, 168, 1, 50),
    ));
    assert_eq!(nak.kind, DhcpMessageType::Nak);
    assert_eq!(
        lan.events(),
        vec![DhcpEvent::Nak {
            mac: b,
            requested: Ipv4Addr::new(192, 168, 1, 50),
            reason: NakReason::WrongSubnet
        }]
    );
    // SELECTING with our server id but an address outside the subnet.
    let nak = lan.one(ClientMessage::select(
        b,
        3,
        Ipv4Addr::new(10, 0, 1, 9),
        SERVER_IP,
    ));
    assert_eq!(nak.kind, DhcpMessageType::Nak);
    // The server's own address and the broadcast address are never granted.
    assert_eq!(
        lan.one(ClientMessage::init_reboot(b, 4, SERVER_IP)).kind,
        DhcpMessageType::Nak
    );
    assert_eq!(
        lan.one(ClientMessage::init_reboot(b, 5, ip(255))).kind,
        DhcpMessageType::Nak
    );
    // Renewing an address someone else holds.
    let nak = lan.one(ClientMessage::renew(b, 6, addr, SERVER_IP, SERVER_MAC));
    assert_eq!(nak.kind, DhcpMessageType::Nak);
    // A DISCOVER asking for an address outside the subnet just gets a good one.
    let mut discover = ClientMessage::discover(b, 7);
    discover.requested_ip = Some(Ipv4Addr::new(192, 168, 1, 50));
    assert_eq!(lan.one(discover).yiaddr, ip(3));
    assert_eq!(lan.server.counters().naks, 6);
    // The lease of `a` survived all of it.
    assert_eq!(
        lan.one(ClientMessage::renew(a, 8, addr, SERVER_IP, SERVER_MAC))
            .kind,
        DhcpMessageType::Ack
    );
}

#[test]
fn init_reboot_keeps_a_known_address_and_unknown_clients_may_claim_free_ones() {
    let mut lan = Lan::new(config());
    let a = mac(1);
    let addr = lan.dora(a);
    lan.at(100);
    let ack = lan.one(ClientMessage::init_reboot(a, 1, addr));
    assert_eq!((ack.kind, ack.yiaddr), (DhcpMessageType::Ack, addr));
    // Authoritative: a client we never saw may have a free address.
    let ack = lan.one(ClientMessage::init_reboot(mac(2), 2, ip(50)));
    assert_eq!((ack.kind, ack.yiaddr), (DhcpMessageType::Ack, ip(50)));
}

#[test]
fn selecting_another_server_withdraws_our_offer() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.2".parse().unwrap();
    let mut lan = Lan::new(c);
    let (a, b) = (mac(1), mac(2));
    assert_eq!(lan.one(ClientMessage::discover(a, 1)).yiaddr, ip(2));
    let other = Ipv4Addr::new(10, 0, 0, 254);
    assert!(lan
        .send(ClientMessage::select(a, 1, ip(99), other))
        .is_empty());
    assert_eq!(lan.server.counters().ignored, 1);
    assert_eq!(
        lan.one(ClientMessage::discover(b, 2)).yiaddr,
        ip(2),
        "freed at once"
    );
}

#[test]
fn pool_exhaustion_is_counted_and_reported_without_flooding_the_log() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.3".parse().unwrap();
    let mut lan = Lan::new(c);
    assert_eq!(lan.dora(mac(1)), ip(2));
    assert_eq!(lan.dora(mac(2)), ip(3));
    lan.events();
    assert!(lan.send(ClientMessage::discover(mac(3), 1)).is_empty());
    assert_eq!(
        lan.events(),
        vec![DhcpEvent::PoolExhausted {
            mac: mac(3),
            suppressed: 0
        }]
    );
    lan.at(5);
    assert!(lan.send(ClientMessage::discover(mac(4), 1)).is_empty());
    assert!(lan.send(ClientMessage::discover(mac(5), 1)).is_empty());
    assert_eq!(lan.events(), vec![], "rate limited");
    lan.at(11);
    assert!(lan.send(ClientMessage::discover(mac(6), 1)).is_empty());
    assert_eq!(
        lan.events(),
        vec![DhcpEvent::PoolExhausted {
            mac: mac(6),
            suppressed: 2
        }]
    );
    assert_eq!(lan.server.counters().pool_exhausted, 4);
    assert!(lan.server.render_print(lan.now).contains("exhausted 4"));
    // A request for a taken address is a NAK, never a second owner.
    assert_eq!(
        lan.one(ClientMessage::init_reboot(mac(3), 2, ip(2))).kind,
        DhcpMessageType::Nak
    );
}

#[test]
fn reservations_win_for_their_mac_and_are_never_given_to_others() {
    let mut c = config();
    c.reservations = vec![
        "52:54:00:00:00:09=10.0.0.2".parse().unwrap(),
        // Outside the dynamic range but in the subnet.
        "52:54:00:00:00:0a=10.0.0.250".parse().unwrap(),
    ];
    c.range = "10.0.0.2-10.0.0.200".parse().unwrap();
    let mut lan = Lan::new(c);
    let (r1, r2, other) = (mac(9), mac(10), mac(1));
    // Another client asking for the reserved address gets something else.
    let mut discover = ClientMessage::discover(other, 1);
    discover.requested_ip = Some(ip(2));
    assert_eq!(lan.one(discover).yiaddr, ip(3));
    assert_eq!(
        lan.one(ClientMessage::init_reboot(other, 2, ip(2))).kind,
        DhcpMessageType::Nak
    );
    assert_eq!(
        lan.one(ClientMessage::init_reboot(other, 3, ip(250))).kind,
        DhcpMessageType::Nak
    );
    // The reserved MAC gets its address whatever it asks for.
    let mut discover = ClientMessage::discover(r1, 4);
    discover.requested_ip = Some(ip(100));
    assert_eq!(lan.one(discover).yiaddr, ip(2));
    assert_eq!(
        lan.one(ClientMessage::init_reboot(r1, 5, ip(100))).kind,
        DhcpMessageType::Nak
    );
    assert_eq!(lan.dora(r1), ip(2));
    assert_eq!(lan.dora(r2), ip(250));
    let reserved: Vec<bool> = lan
        .server
        .leases()
        .filter(|l| l.mac != Some(other))
        .map(|l| l.reserved)
        .collect();
    assert_eq!(reserved, vec![true, true]);
}

/// Regression (found by the fuzzer): under pool pressure a reserved address,
/// offered to its MAC or lapsed back to free, was taken over by another MAC.
#[test]
fn pool_pressure_never_hands_out_a_reserved_address() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.2".parse().unwrap();
    c.reservations = vec![Reservation {
        mac: mac(9),
        ip: ip(3),
    }];
    let mut lan = Lan::new(c);
    assert_eq!(lan.one(ClientMessage::discover(mac(9), 1)).yiaddr, ip(3));
    assert_eq!(lan.one(ClientMessage::discover(mac(1), 2)).yiaddr, ip(2));
    // The pool is all offers now: the oldest dynamic one is taken over, never ip(3).
    assert_eq!(lan.one(ClientMessage::discover(mac(2), 3)).yiaddr, ip(2));
    lan.at(OFFER_HOLD.as_secs());
    // Both offers lapsed; ip(3) is free but still only for mac(9).
    assert_eq!(lan.dora(mac(4)), ip(2));
    assert!(lan.send(ClientMessage::discover(mac(5), 4)).is_empty());
    assert_eq!(lan.server.counters().pool_exhausted, 1);
    assert_eq!(lan.dora(mac(9)), ip(3));
}

#[test]
fn restart_from_snapshot_gives_the_same_addresses() {
    let mut lan = Lan::new(config());
    let (a, b, c) = (mac(1), mac(2), mac(3));
    lan.dora(c);
    let addr_a = lan.dora(a);
    let addr_b = lan.dora(b);
    lan.at(10);
    lan.send(ClientMessage::release(c, 1, ip(2), SERVER_IP, SERVER_MAC));
    let json = serde_json::to_string_pretty(&lan.server.snapshot(lan.now, wall(lan.now))).unwrap();
    let snapshot: LeaseSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(
        snapshot.leases.len(),
        3,
        "two leases and one remembered address"
    );

    // A new process: its clock starts at zero again, the wall clock went on.
    let restart_wall = UnixTime(WALL0 + 70);
    let server = DhcpServer::new(config(), Some(&snapshot), Instant::ZERO, restart_wall).unwrap();
    let mut lan = Lan {
        server,
        now: Instant::ZERO,
        referee: Referee::new(&config()),
    };
    assert_eq!(lan.server.counters().snapshot_dropped, 0);
    // The leases end when they ended before: 3600 s after the first start,
    // 70 s of which have passed on the wall clock.
    let expiries: Vec<LeaseState> = lan.server.leases().map(|l| l.state).collect();
    let lease = LeaseState::Leased {
        expires: Instant::from_secs(3600 - 70),
    };
    assert_eq!(
        expiries,
        vec![
            LeaseState::Expired {
                since: Instant::ZERO
            },
            lease,
            lease
        ]
    );
    // Rebooting clients keep their addresses; a newcomer gets a new one.
    assert_eq!(lan.one(ClientMessage::discover(b, 1)).yiaddr, addr_b);
    assert_eq!(
        lan.one(ClientMessage::init_reboot(a, 2, addr_a)).yiaddr,
        addr_a
    );
    assert_eq!(lan.one(ClientMessage::discover(mac(4), 3)).yiaddr, ip(5));
    assert_eq!(
        lan.dora(c),
        ip(2),
        "released address still remembered for its MAC"
    );

    // Long after every lease expired, the same MACs still get the same addresses.
    let late = UnixTime(WALL0 + 100_000);
    let server = DhcpServer::new(config(), Some(&snapshot), Instant::ZERO, late).unwrap();
    let mut lan = Lan {
        server,
        now: Instant::ZERO,
        referee: Referee::new(&config()),
    };
    assert_eq!(lan.server.poll_timeout(), None, "nothing is leased");
    assert_eq!(
        lan.one(ClientMessage::discover(mac(4), 1)).yiaddr,
        ip(5),
        "fresh addresses first"
    );
    assert_eq!(lan.dora(b), addr_b);
    assert_eq!(lan.dora(a), addr_a);
}

#[test]
fn snapshot_records_the_config_no_longer_allows_are_dropped() {
    let snapshot = LeaseSnapshot {
        version: 1,
        saved_at: UnixTime(WALL0),
        leases: vec![
            SnapshotLease {
                mac: mac(1),
                ip: ip(2),
                expires_at: UnixTime(WALL0 + 100),
            },
            SnapshotLease {
                mac: mac(2),
                ip: ip(2),
                expires_at: UnixTime(WALL0 + 50),
            }, // same ip
            SnapshotLease {
                mac: mac(1),
                ip: ip(3),
                expires_at: UnixTime(WALL0 + 50),
            }, // same mac
            SnapshotLease {
                mac: mac(3),
                ip: SERVER_IP,
                expires_at: UnixTime(WALL0 + 50),
            },
            SnapshotLease {
                mac: mac(4),
                ip: Ipv4Addr::new(10, 9, 9, 9),
                expires_at: UnixTime(WALL0 + 50),
            },
            SnapshotLease {
                mac: mac(5),
                ip: ip(9),
                expires_at: UnixTime(WALL0 + 50),
            }, // reserved for mac 6
            SnapshotLease {
                mac: mac(6),
                ip: ip(8),
                expires_at: UnixTime(WALL0 + 50),
            }, // has a reservation
            SnapshotLease {
                mac: MacAddr::BROADCAST,
                ip: ip(7),
                expires_at: UnixTime(WALL0 + 50),
            },
        ],
    };
    let mut c = config();
    c.reservations = vec![Reservation {
        mac: mac(6),
        ip: ip(9),
    }];
    let server = DhcpServer::new(c, Some(&snapshot), Instant::ZERO, UnixTime(WALL0)).unwrap();
    server.check_invariants().unwrap();
    assert_eq!(server.counters().snapshot_dropped, 7);
    let kept: Vec<(Ipv4Addr, Option<MacAddr>)> = server.leases().map(|l| (l.ip, l.mac)).collect();
    assert_eq!(kept, vec![(ip(2), Some(mac(1)))]);

    let future = LeaseSnapshot {
        version: 2,
        ..snapshot
    };
    let server = DhcpServer::new(config(), Some(&future), Instant::ZERO, UnixTime(WALL0)).unwrap();
    assert_eq!(
        (server.leases().count(), server.counters().snapshot_dropped),
        (0, 8)
    );
}

#[test]
fn leases_expire_and_the_address_stays_remembered() {
    let mut c = config();
    c.lease_time = Duration::from_secs(60);
    let mut lan = Lan::new(c);
    let a = mac(1);
    let addr = lan.dora(a);
    lan.events();
    lan.server.take_dirty();
    assert_eq!(lan.server.poll_timeout(), Some(Instant::from_secs(60)));
    lan.at(59);
    assert_eq!(lan.events(), vec![]);
    lan.at(60);
    assert_eq!(lan.events(), vec![DhcpEvent::Expired { mac: a, ip: addr }]);
    assert!(lan.server.take_dirty());
    assert_eq!(lan.server.poll_timeout(), None);
    lan.at(1000);
    lan.server.handle_timeout(lan.now); // spurious: harmless
                                        // Another client asking for it explicitly does not take it…
    let mut discover = ClientMessage::discover(mac(2), 1);
    discover.requested_ip = Some(addr);
    assert_eq!(lan.one(discover).yiaddr, ip(3));
    // …and the old client gets it back.
    assert_eq!(lan.dora(a), addr);
}

#[test]
fn offers_are_held_then_released() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.2".parse().unwrap();
    let mut lan = Lan::new(c);
    assert_eq!(lan.one(ClientMessage::discover(mac(1), 1)).yiaddr, ip(2));
    assert_eq!(lan.server.poll_timeout(), Some(Instant::ZERO + OFFER_HOLD));
    // While held, a REQUEST from another client for it is refused.
    assert_eq!(
        lan.one(ClientMessage::init_reboot(mac(2), 2, ip(2))).kind,
        DhcpMessageType::Nak
    );
    lan.at(OFFER_HOLD.as_secs());
    assert_eq!(lan.server.poll_timeout(), None);
    assert_eq!(lan.dora(mac(2)), ip(2));
}

#[test]
fn malformed_and_truncated_frames_are_counted_and_ignored() {
    let mut lan = Lan::new(config());
    let good = ClientMessage::discover(mac(1), 1).to_frame();
    // Every truncation of a valid DISCOVER.
    for len in 0..good.len() {
        let outcome = lan.raw(&good[..len]);
        assert!(
            matches!(outcome, FrameOutcome::Malformed(_)),
            "len {len}: {outcome:?}"
        );
        assert!(lan.server.poll_transmit().is_none());
    }
    assert_eq!(lan.server.counters().malformed, good.len() as u64);

    let dhcp = 42; // offset of the DHCP message in the frame
    let broken = |at: usize, value: u8| {
        let mut f = good.clone();
        f[at] = value;
        f
    };
    // A flipped byte fails the UDP checksum.
    assert!(matches!(
        lan.raw(&broken(dhcp + 100, 0x55)),
        FrameOutcome::Malformed(MalformedFrame::Invalid {
            layer: Layer::Udp,
            ..
        })
    ));
    // IPv4 header checksum.
    assert!(matches!(
        lan.raw(&broken(14 + 8, 1)),
        FrameOutcome::Malformed(MalformedFrame::Invalid {
            layer: Layer::Ipv4,
            ..
        })
    ));
    // Build frames with a valid checksum but broken DHCP.
    let rebuild = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut f = good.clone();
        edit(&mut f);
        // Zero UDP checksum: "no checksum" over IPv4.
        f[40] = 0;
        f[41] = 0;
        f
    };
    assert!(matches!(
        lan.raw(&rebuild(&|f| f[dhcp + 236] = 0)),
        FrameOutcome::Malformed(MalformedFrame::Cookie { .. })
    ));
    assert!(matches!(
        lan.raw(&rebuild(&|f| f[dhcp + 1] = 6)),
        FrameOutcome::Malformed(MalformedFrame::Hardware { htype: 6, hlen: 6 })
    ));
    assert!(matches!(
        lan.raw(&rebuild(&|f| f[dhcp + 240] = 0)), // option 53 code -> pad
        FrameOutcome::Malformed(_)
    ));
    assert!(matches!(
        lan.raw(&rebuild(&|f| f[dhcp + 28] = 0x01)), // multicast chaddr
        FrameOutcome::Malformed(MalformedFrame::ClientMac { .. })
    ));
    assert!(matches!(
        lan.raw(&rebuild(&|f| f[dhcp] = 2)), // BOOTREPLY on port 67
        FrameOutcome::Ignored(IgnoreReason::DhcpMessageType(_))
    ));
    // An option whose length runs past the end is cut off, not read past.
    let mut overlong = rebuild(&|_| {});
    let end = overlong.len();
    overlong[end - 1] = 50;
    overlong.push(200);
    assert_eq!(
        lan.raw(&overlong),
        FrameOutcome::Handled,
        "the walk stops at the cut option"
    );
    let offer = parse_reply(&lan.server.poll_transmit().unwrap()).unwrap();
    assert_eq!(offer.kind, DhcpMessageType::Offer);
    // A REQUEST naming no address.
    let mut request = ClientMessage::select(mac(1), 1, ip(2), SERVER_IP);
    request.requested_ip = None;
    assert!(matches!(
        lan.raw(&request.to_frame()),
        FrameOutcome::Malformed(MalformedFrame::NoRequestedIp { .. })
    ));
    // Junk of every length.
    for len in 0..600usize {
        let junk: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
        lan.raw(&junk);
    }
    // Nothing above produced a reply or a lease.
    while let Some(frame) = lan.server.poll_transmit() {
        assert!(!matches!(parse_reply(&frame), Some(r) if r.kind == DhcpMessageType::Ack));
    }
    assert_eq!(
        lan.server
            .leases()
            .filter(|l| matches!(l.state, LeaseState::Leased { .. }))
            .count(),
        0
    );
    // And the server still works.
    assert_eq!(lan.dora(mac(1)), ip(2));
}

/// Regression (found by the fuzzer): a 7-byte client identifier whose type
/// is not Ethernet is echoed as is, and the reply stays readable.
#[test]
fn any_client_identifier_is_echoed() {
    let mut lan = Lan::new(config());
    let mut frame = ClientMessage::discover(mac(1), 1).to_frame();
    let dhcp = 42;
    assert_eq!(&frame[dhcp + 243..dhcp + 246], &[61, 7, 1]);
    frame[dhcp + 245] = 161;
    frame[40] = 0; // UDP checksum: none
    frame[41] = 0;
    assert_eq!(lan.raw(&frame), FrameOutcome::Handled);
    let offer = parse_reply(&lan.server.poll_transmit().unwrap()).unwrap();
    assert_eq!(offer.kind, DhcpMessageType::Offer);
    assert_eq!(offer.client_id, Some(vec![161, 0x52, 0x54, 0, 0, 0, 1]));
}

#[test]
fn frames_not_for_the_server_are_ignored() {
    let mut lan = Lan::new(config());
    let mut msg = ClientMessage::discover(mac(1), 1);
    msg.eth_dst = mac(77);
    assert_eq!(
        lan.raw(&msg.to_frame()),
        FrameOutcome::Ignored(IgnoreReason::NotForUs)
    );
    let mut msg = ClientMessage::discover(mac(1), 1);
    msg.ip_dst = ip(99);
    assert_eq!(
        lan.raw(&msg.to_frame()),
        FrameOutcome::Ignored(IgnoreReason::Ipv4)
    );
    let mut frame = ClientMessage::discover(mac(1), 1).to_frame();
    frame[12] = 0x86;
    frame[13] = 0xdd;
    assert_eq!(
        lan.raw(&frame),
        FrameOutcome::Ignored(IgnoreReason::EtherType(0x86dd))
    );
    assert!(
        lan.server.wants(MacAddr::BROADCAST)
            && lan.server.wants(SERVER_MAC)
            && !lan.server.wants(mac(1))
    );
    assert!(lan.server.poll_transmit().is_none());
}

#[test]
fn a_flood_of_fake_discovers_does_not_starve_a_real_client() {
    let mut lan = Lan::new(config());
    for n in 0..1000u32 {
        lan.now = Instant::from_millis(u64::from(n));
        let replies = lan.send(ClientMessage::discover(mac(10_000 + n), n));
        assert_eq!(replies.len(), 1, "every DISCOVER gets an offer, no stall");
    }
    assert!(
        lan.server.leases().count() <= MAX_OFFERS,
        "offers are bounded"
    );
    assert!(lan.server.counters().offers_evicted >= 1000 - MAX_OFFERS as u64);
    lan.at(2);
    let real = mac(1);
    let addr = lan.dora(real);
    assert_eq!(lan.server.counters().pool_exhausted, 0);
    // More junk and fakes interleaved: the real client renews fine.
    for n in 0..300u32 {
        lan.send(ClientMessage::discover(mac(20_000 + n), n));
        lan.raw(&[0xff; 64]);
    }
    lan.at(1800);
    let ack = lan.one(ClientMessage::renew(real, 9, addr, SERVER_IP, SERVER_MAC));
    assert_eq!((ack.kind, ack.yiaddr), (DhcpMessageType::Ack, addr));
}

#[test]
fn a_real_clients_request_wins_after_a_flood_took_its_offer_over() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.20".parse().unwrap();
    let mut lan = Lan::new(c);
    let real = mac(1);
    let offer = lan.one(ClientMessage::discover(real, 1));
    // Fakes between the OFFER and the REQUEST take every offer over, ours included.
    for n in 0..(MAX_OFFERS as u32 + 50) {
        lan.send(ClientMessage::discover(mac(10_000 + n), n));
    }
    let holder = lan
        .server
        .leases()
        .find(|l| l.ip == offer.yiaddr)
        .and_then(|l| l.mac);
    assert!(
        holder.is_some_and(|m| m != real),
        "the offer went to a fake: {holder:?}"
    );
    let evicted = lan.server.counters().offers_evicted;
    let ack = lan.one(ClientMessage::select(real, 2, offer.yiaddr, SERVER_IP));
    assert_eq!((ack.kind, ack.yiaddr), (DhcpMessageType::Ack, offer.yiaddr));
    assert_eq!(lan.server.counters().offers_evicted, evicted + 1);
    // The fake that held the offer is refused: never two holders.
    let fake = holder.unwrap();
    let nak = lan.one(ClientMessage::select(fake, 3, offer.yiaddr, SERVER_IP));
    assert_eq!(nak.kind, DhcpMessageType::Nak);
    // A lease is a claim, not a hold: nobody takes it over.
    let nak = lan.one(ClientMessage::init_reboot(mac(2), 4, offer.yiaddr));
    assert_eq!(nak.kind, DhcpMessageType::Nak);
}

#[test]
fn a_client_changing_its_mac_every_request_never_gets_a_shared_address() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.9".parse().unwrap();
    c.lease_time = Duration::from_secs(30);
    let mut lan = Lan::new(c);
    let mut acks = 0;
    for n in 0..2000u32 {
        lan.now = Instant::from_millis(u64::from(n) * 250);
        lan.server.handle_timeout(lan.now);
        let m = mac(n);
        let wanted = ip(2 + (n % 10) as u8);
        let msg = match n % 4 {
            0 => ClientMessage::discover(m, n),
            1 => ClientMessage::select(m, n, wanted, SERVER_IP),
            2 => ClientMessage::init_reboot(m, n, wanted),
            _ => ClientMessage::rebind(m, n, wanted),
        };
        // `send` checks every reply with the referee and the table's invariants.
        acks += lan
            .send(msg)
            .iter()
            .filter(|r| r.kind == DhcpMessageType::Ack)
            .count();
    }
    assert!(
        acks > 0,
        "some requests must have been granted for the test to mean anything"
    );
    let owners: Vec<MacAddr> = lan.server.leases().filter_map(|l| l.mac).collect();
    let mut unique = owners.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(owners.len(), unique.len(), "no MAC holds two addresses");
}

#[test]
fn arp_requests_for_the_server_address_are_answered() {
    let mut lan = Lan::new(config());
    let asker = mac(1);
    let request = |target: Ipv4Addr| {
        let arp = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(asker.0),
            source_protocol_addr: ip(2),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        };
        let mut frame = vec![0u8; 14 + arp.buffer_len()];
        EthernetRepr {
            src_addr: EthernetAddress(asker.0),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        arp.emit(&mut ArpPacket::new_unchecked(&mut frame[14..]));
        frame
    };
    assert_eq!(
        lan.raw(&request(ip(3))),
        FrameOutcome::Ignored(IgnoreReason::Arp)
    );
    assert_eq!(lan.raw(&request(SERVER_IP)), FrameOutcome::Handled);
    let reply = lan.server.poll_transmit().unwrap();
    assert_eq!(reply.len(), 60, "padded to the Ethernet minimum");
    let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(
        (eth.dst_addr().0, eth.src_addr().0),
        (asker.0, SERVER_MAC.0)
    );
    assert_eq!(eth.ethertype(), EthernetProtocol::Arp);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
    assert_eq!(
        arp,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: EthernetAddress(SERVER_MAC.0),
            source_protocol_addr: SERVER_IP,
            target_hardware_addr: EthernetAddress(asker.0),
            target_protocol_addr: ip(2),
        }
    );
    assert_eq!(lan.server.counters().arp_replies, 1);
}

#[test]
fn pings_to_the_server_address_are_answered() {
    let mut lan = Lan::new(config());
    let pinger = mac(1);
    let ping = |dst: Ipv4Addr, data: &[u8]| {
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 7,
            data,
        };
        let ipr = Ipv4Repr {
            src_addr: ip(2),
            dst_addr: dst,
            next_header: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let mut frame = vec![0u8; 14 + 20 + icmp.buffer_len()];
        EthernetRepr {
            src_addr: EthernetAddress(pinger.0),
            dst_addr: EthernetAddress(SERVER_MAC.0),
            ethertype: EthernetProtocol::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        let caps = ChecksumCapabilities::default();
        ipr.emit(&mut Ipv4Packet::new_unchecked(&mut frame[14..]), &caps);
        icmp.emit(&mut Icmpv4Packet::new_unchecked(&mut frame[34..]), &caps);
        frame
    };
    assert_eq!(
        lan.raw(&ping(ip(3), b"hello")),
        FrameOutcome::Ignored(IgnoreReason::Ipv4)
    );
    let payload: Vec<u8> = (0..56u8).collect();
    assert_eq!(lan.raw(&ping(SERVER_IP, &payload)), FrameOutcome::Handled);
    let reply = lan.server.poll_transmit().unwrap();
    let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(
        (eth.dst_addr().0, eth.src_addr().0),
        (pinger.0, SERVER_MAC.0)
    );
    let caps = ChecksumCapabilities::default();
    let ipp = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let ipr = Ipv4Repr::parse(&ipp, &caps).unwrap();
    assert_eq!(
        (ipr.src_addr, ipr.dst_addr, ipr.next_header),
        (SERVER_IP, ip(2), IpProtocol::Icmp)
    );
    let icmp =
        Icmpv4Repr::parse(&Icmpv4Packet::new_checked(ipp.payload()).unwrap(), &caps).unwrap();
    assert_eq!(
        icmp,
        Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: &payload
        }
    );
    // A corrupted ping is malformed, not answered.
    let mut bad = ping(SERVER_IP, b"x");
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(
        lan.raw(&bad),
        FrameOutcome::Malformed(MalformedFrame::Invalid {
            layer: Layer::Icmp,
            ..
        })
    ));
    assert_eq!(lan.server.counters().echo_replies, 1);
}

#[test]
fn a_mac_holds_one_address_and_the_table_is_bounded_by_the_pool() {
    let mut c = config();
    c.range = "10.0.0.2-10.0.0.17".parse().unwrap();
    let mut lan = Lan::new(c);
    for n in 0..100u32 {
        lan.now = Instant::from_secs(u64::from(n));
        lan.send(ClientMessage::discover(mac(n), n));
        lan.send(ClientMessage::select(
            mac(n),
            n,
            ip(2 + (n % 16) as u8),
            SERVER_IP,
        ));
    }
    assert!(lan.server.leases().count() <= 16);
    assert!(lan.server.snapshot(lan.now, wall(lan.now)).leases.len() <= 16);
}

#[test]
fn dhcp_print_lists_the_server_and_its_leases() {
    let mut c = config();
    c.reservations = vec![Reservation {
        mac: mac(9),
        ip: ip(200),
    }];
    let mut lan = Lan::new(c);
    lan.dora(mac(1));
    lan.dora(mac(9));
    lan.at(600);
    let text = lan.server.render_print(lan.now);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "DHCP server 10.0.0.1 (02:00:00:00:00:fe) subnet 10.0.0.0/24 range 10.0.0.1-10.0.0.254 lease 3600s");
    assert!(
        lines.contains(&" pool 252 dynamic + 1 reserved, 2 leased, 0 offered"),
        "{text}"
    );
    assert!(
        lines.contains(&"Lease 10.0.0.2 52:54:00:00:00:01 leased 3000s"),
        "{text}"
    );
    assert!(
        lines.contains(&"Lease 10.0.0.200 52:54:00:00:00:09 leased 3000s reserved"),
        "{text}"
    );
}

#[test]
fn an_invalid_config_is_refused() {
    let mut c = config();
    c.range = "10.0.1.2-10.0.1.9".parse().unwrap();
    assert!(matches!(
        DhcpServer::new(c, None, Instant::ZERO, UnixTime(0)),
        Err(DhcpConfigError::RangeOutsideSubnet { .. })
    ));
}
