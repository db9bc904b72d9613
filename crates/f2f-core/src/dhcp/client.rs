//! A scripted DHCP client's frames, for tests, the simulator, the fuzzer and
//! the benchmark: build requests as a client would send them and read the
//! server's replies. Not a client state machine.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    DhcpFlags, DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame,
    EthernetProtocol, EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket,
    UdpRepr,
};

use crate::mac::MacAddr;

use super::frame::{CLIENT_PORT, SERVER_PORT};

/// One client message and how it is addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMessage {
    /// Option 53.
    pub kind: DhcpMessageType,
    /// `chaddr` and Ethernet source.
    pub mac: MacAddr,
    /// `xid`.
    pub xid: u32,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Broadcast bit.
    pub broadcast: bool,
    /// Parameter request list (option 55).
    pub parameter_list: Option<Vec<u8>>,
    /// IPv4 source (0.0.0.0 before a client has an address).
    pub ip_src: Ipv4Addr,
    /// IPv4 destination.
    pub ip_dst: Ipv4Addr,
    /// Ethernet destination.
    pub eth_dst: MacAddr,
}

impl ClientMessage {
    fn broadcast(kind: DhcpMessageType, mac: MacAddr, xid: u32) -> ClientMessage {
        ClientMessage {
            kind,
            mac,
            xid,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested_ip: None,
            server_id: None,
            broadcast: false,
            parameter_list: Some(vec![1, 3, 6, 51, 54]),
            ip_src: Ipv4Addr::UNSPECIFIED,
            ip_dst: Ipv4Addr::BROADCAST,
            eth_dst: MacAddr::BROADCAST,
        }
    }

    /// DHCPDISCOVER (INIT).
    pub fn discover(mac: MacAddr, xid: u32) -> ClientMessage {
        Self::broadcast(DhcpMessageType::Discover, mac, xid)
    }

    /// DHCPREQUEST in SELECTING: take `ip` offered by `server`.
    pub fn select(mac: MacAddr, xid: u32, ip: Ipv4Addr, server: Ipv4Addr) -> ClientMessage {
        ClientMessage {
            requested_ip: Some(ip),
            server_id: Some(server),
            ..Self::broadcast(DhcpMessageType::Request, mac, xid)
        }
    }

    /// DHCPREQUEST in INIT-REBOOT: "may I keep `ip`?".
    pub fn init_reboot(mac: MacAddr, xid: u32, ip: Ipv4Addr) -> ClientMessage {
        ClientMessage {
            requested_ip: Some(ip),
            ..Self::broadcast(DhcpMessageType::Request, mac, xid)
        }
    }

    /// DHCPREQUEST in RENEWING: unicast to the server from `ciaddr`.
    pub fn renew(
        mac: MacAddr,
        xid: u32,
        ciaddr: Ipv4Addr,
        server_ip: Ipv4Addr,
        server_mac: MacAddr,
    ) -> ClientMessage {
        ClientMessage {
            ciaddr,
            ip_src: ciaddr,
            ip_dst: server_ip,
            eth_dst: server_mac,
            ..Self::broadcast(DhcpMessageType::Request, mac, xid)
        }
    }

    /// DHCPREQUEST in REBINDING: broadcast from `ciaddr`.
    pub fn rebind(mac: MacAddr, xid: u32, ciaddr: Ipv4Addr) -> ClientMessage {
        ClientMessage {
            ciaddr,
            ip_src: ciaddr,
            ..Self::broadcast(DhcpMessageType::Request, mac, xid)
        }
    }

    /// DHCPRELEASE of `ciaddr`, unicast to the server.
    pub fn release(
        mac: MacAddr,
        xid: u32,
        ciaddr: Ipv4Addr,
        server_ip: Ipv4Addr,
        server_mac: MacAddr,
    ) -> ClientMessage {
        ClientMessage {
            kind: DhcpMessageType::Release,
            server_id: Some(server_ip),
            parameter_list: None,
            ..Self::renew(mac, xid, ciaddr, server_ip, server_mac)
        }
    }

    /// DHCPDECLINE of `ip` (broadcast).
    pub fn decline(mac: MacAddr, xid: u32, ip: Ipv4Addr, server_ip: Ipv4Addr) -> ClientMessage {
        ClientMessage {
            requested_ip: Some(ip),
            server_id: Some(server_ip),
            parameter_list: None,
            ..Self::broadcast(DhcpMessageType::Decline, mac, xid)
        }
    }

    /// DHCPINFORM from a client configured by hand with `ciaddr`.
    pub fn inform(mac: MacAddr, xid: u32, ciaddr: Ipv4Addr) -> ClientMessage {
        ClientMessage {
            ciaddr,
            ip_src: ciaddr,
            ..Self::broadcast(DhcpMessageType::Inform, mac, xid)
        }
    }

    /// The whole Ethernet frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let repr = DhcpRepr {
            message_type: self.kind,
            transaction_id: self.xid,
            secs: 0,
            client_hardware_address: EthernetAddress(self.mac.0),
            client_ip: self.ciaddr,
            your_ip: Ipv4Addr::UNSPECIFIED,
            server_ip: Ipv4Addr::UNSPECIFIED,
            router: None,
            subnet_mask: None,
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            broadcast: self.broadcast,
            requested_ip: self.requested_ip,
            client_identifier: Some(EthernetAddress(self.mac.0)),
            server_identifier: self.server_id,
            parameter_request_list: self.parameter_list.as_deref(),
            dns_servers: None,
            max_size: Some(1500),
            lease_duration: None,
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        let dhcp_len = repr.buffer_len();
        let udp_len = 8 + dhcp_len;
        let ip = Ipv4Repr {
            src_addr: self.ip_src,
            dst_addr: self.ip_dst,
            next_header: IpProtocol::Udp,
            payload_len: udp_len,
            hop_limit: 64,
        };
        let mut frame = vec![0u8; 14 + 20 + udp_len];
        let eth = EthernetRepr {
            src_addr: EthernetAddress(self.mac.0),
            dst_addr: EthernetAddress(self.eth_dst.0),
            ethertype: EthernetProtocol::Ipv4,
        };
        let caps = ChecksumCapabilities::default();
        eth.emit(&mut EthernetFrame::new_unchecked(frame.as_mut_slice()));
        let (_, body) = frame.split_at_mut(14);
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut *body), &caps);
        let (_, udp_buf) = body.split_at_mut(20);
        UdpRepr {
            src_port: CLIENT_PORT,
            dst_port: SERVER_PORT,
        }
        .emit(
            &mut UdpPacket::new_unchecked(udp_buf),
            &IpAddress::Ipv4(self.ip_src),
            &IpAddress::Ipv4(self.ip_dst),
            dhcp_len,
            |buf| {
                let _ = repr.emit(&mut DhcpPacket::new_unchecked(buf));
            },
            &caps,
        );
        frame
    }
}

/// A server reply as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerReply {
    /// OFFER, ACK or NAK.
    pub kind: DhcpMessageType,
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// IPv4 source.
    pub ip_src: Ipv4Addr,
    /// IPv4 destination.
    pub ip_dst: Ipv4Addr,
    /// `xid`.
    pub xid: u32,
    /// `chaddr`.
    pub chaddr: MacAddr,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// Broadcast bit.
    pub broadcast: bool,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 51.
    pub lease_secs: Option<u32>,
    /// Option 58.
    pub t1: Option<u32>,
    /// Option 59.
    pub t2: Option<u32>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Option 56.
    pub message: Option<String>,
    /// Option 61, raw.
    pub client_id: Option<Vec<u8>>,
    /// Length of the DHCP message (UDP payload).
    pub dhcp_len: usize,
}

/// Reads a DHCP reply frame from the server (UDP 67 → 68); `None` for
/// anything else or anything broken (including a bad checksum).
pub fn parse_reply(frame: &[u8]) -> Option<ServerReply> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let caps = ChecksumCapabilities::default();
    let ip_packet = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip = Ipv4Repr::parse(&ip_packet, &caps).ok()?;
    if ip.next_header != IpProtocol::Udp {
        return None;
    }
    let udp_packet = UdpPacket::new_checked(ip_packet.payload()).ok()?;
    let src = IpAddress::Ipv4(ip.src_addr);
    let dst = IpAddress::Ipv4(ip.dst_addr);
    let udp = UdpRepr::parse(&udp_packet, &src, &dst, &caps).ok()?;
    if (udp.src_port, udp.dst_port) != (SERVER_PORT, CLIENT_PORT) || udp_packet.checksum() == 0 {
        return None;
    }
    // Read with the packet view and our own option walk: DhcpRepr::parse
    // refuses replies echoing a non-Ethernet client identifier (RFC 6842).
    let payload = udp_packet.payload();
    let packet = DhcpPacket::new_checked(payload).ok()?;
    if payload.first() != Some(&2) || packet.magic_number() != 0x6382_5363 {
        return None;
    }
    let mut reply = ServerReply {
        kind: DhcpMessageType::Unknown(0),
        eth_dst: MacAddr(eth.dst_addr().0),
        eth_src: MacAddr(eth.src_addr().0),
        ip_src: ip.src_addr,
        ip_dst: ip.dst_addr,
        xid: packet.transaction_id(),
        chaddr: MacAddr(packet.client_hardware_address().0),
        ciaddr: packet.client_ip(),
        yiaddr: packet.your_ip(),
        broadcast: packet.flags().contains(DhcpFlags::BROADCAST),
        server_id: None,
        lease_secs: None,
        t1: None,
        t2: None,
        subnet_mask: None,
        router: None,
        dns: Vec::new(),
        message: None,
        client_id: None,
        dhcp_len: payload.len(),
    };
    let ipv4 = |data: &[u8]| <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from);
    let secs = |data: &[u8]| <[u8; 4]>::try_from(data).ok().map(u32::from_be_bytes);
    let mut kind = None;
    for (code, data) in super::frame::options(payload.get(240..).unwrap_or(&[])) {
        match code {
            53 => kind = data.first().map(|k| DhcpMessageType::from(*k)),
            54 => reply.server_id = ipv4(data),
            51 => reply.lease_secs = secs(data),
            58 => reply.t1 = secs(data),
            59 => reply.t2 = secs(data),
            1 => reply.subnet_mask = ipv4(data),
            3 => reply.router = ipv4(data),
            6 => reply.dns = data.chunks_exact(4).filter_map(ipv4).collect(),
            56 => reply.message = Some(String::from_utf8_lossy(data).into_owned()),
            61 => reply.client_id = Some(data.to_vec()),
            _ => {}
        }
    }
    reply.kind = kind?;
    Some(reply)
}

/// Watches the wire from outside and checks the promise the server makes:
/// an address acknowledged to one MAC is never offered or acknowledged to
/// another until that lease ended, was released, declined or moved.
#[derive(Clone, Debug)]
pub struct Referee {
    server_mac: MacAddr,
    server_ip: Ipv4Addr,
    subnet_broadcast: Ipv4Addr,
    /// Address → (MAC, end of its lease) from every ACK seen.
    claims: std::collections::BTreeMap<Ipv4Addr, (MacAddr, crate::time::Instant)>,
}

impl Referee {
    /// A referee for the server configured by `config`, having seen nothing.
    pub fn new(config: &super::DhcpConfig) -> Referee {
        Referee {
            server_mac: config.server_mac,
            server_ip: config.server_ip,
            subnet_broadcast: config.subnet.broadcast(),
            claims: std::collections::BTreeMap::new(),
        }
    }

    /// A client sent `frame` to the server: a RELEASE or DECLINE the server
    /// can read ends the sender's claim. The frame is read exactly as the
    /// server reads it, so junk and mutated frames are judged alike.
    pub fn client_sent(&mut self, frame: &[u8]) {
        let parsed = super::frame::parse(
            frame,
            self.server_mac,
            self.server_ip,
            self.subnet_broadcast,
        );
        let Ok(super::frame::Inbound::Dhcp { msg, .. }) = parsed else {
            return;
        };
        let ip = match msg.kind {
            DhcpMessageType::Release => msg.ciaddr,
            DhcpMessageType::Decline => match msg.requested_ip {
                Some(ip) => ip,
                None => return,
            },
            _ => return,
        };
        if self
            .claims
            .get(&ip)
            .is_some_and(|(mac, _)| *mac == msg.chaddr)
        {
            self.claims.remove(&ip);
        }
    }

    /// The server sent `reply` at `now`; an error describes a broken promise.
    pub fn server_sent(
        &mut self,
        now: crate::time::Instant,
        reply: &ServerReply,
    ) -> Result<(), String> {
        let ip = reply.yiaddr;
        if ip.is_unspecified()
            || !matches!(reply.kind, DhcpMessageType::Offer | DhcpMessageType::Ack)
        {
            return Ok(());
        }
        if let Some((owner, end)) = self.claims.get(&ip) {
            if *owner != reply.chaddr && now < *end {
                return Err(format!(
                    "{:?} of {ip} to {} at {now} while leased to {owner} until {end}",
                    reply.kind, reply.chaddr
                ));
            }
        }
        if reply.kind == DhcpMessageType::Ack {
            let secs = u64::from(reply.lease_secs.unwrap_or(0));
            // A MAC holds one address: an ACK for a new one frees the old.
            self.claims.retain(|_, (mac, _)| *mac != reply.chaddr);
            self.claims.insert(
                ip,
                (reply.chaddr, now + crate::time::Duration::from_secs(secs)),
            );
        }
        Ok(())
    }
}
