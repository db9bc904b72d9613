//! Frames in and out of the DHCP server port: Ethernet, ARP, IPv4, UDP,
//! ICMPv4 echo and the DHCP message itself, on smoltcp's wire types.
//!
//! Inbound, [`parse`] checks each layer once and yields an [`Inbound`] the
//! server acts on, or says why the frame is ignored or malformed. Outbound,
//! the `build_*` functions emit whole Ethernet frames.
//!
//! The DHCP message is read through smoltcp's checked `DhcpPacket` view with
//! our own option walk rather than `DhcpRepr::parse`, which refuses a packet
//! whose 7-byte client identifier (option 61) is not Ethernet-typed and drops
//! other client identifiers that RFC 6842 asks the server to echo. Replies are
//! emitted with `DhcpRepr::emit`.
//!
//! Nothing here panics on any input: every length is checked before smoltcp's
//! accessors, which index without checks, are used.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr,
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Message, Icmpv4Packet,
    Icmpv4Repr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

use crate::mac::MacAddr;

/// UDP port of DHCP servers (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;

const ETH_HEADER: usize = 14;
const IPV4_MIN_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
/// Fixed part of a DHCP message up to and including the magic cookie (RFC 2131 §2).
const DHCP_FIXED: usize = 240;
/// Smallest BOOTP message some clients accept (RFC 1542 §2.1: 300 octets).
const BOOTP_MIN: usize = 300;
/// Smallest Ethernet frame without FCS; shorter replies are padded.
const ETH_MIN_FRAME: usize = 60;
/// RFC 2131 §3: the options field starts with these four octets.
const MAGIC_COOKIE: u32 = 0x6382_5363;
const HOP_LIMIT: u8 = 64;

/// The protocol layer a problem was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The Ethernet header.
    Ethernet,
    /// An ARP packet.
    Arp,
    /// The IPv4 header.
    Ipv4,
    /// The UDP header.
    Udp,
    /// An ICMPv4 message.
    Icmp,
    /// The DHCP message.
    Dhcp,
}

impl core::fmt::Display for Layer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            Layer::Ethernet => "Ethernet",
            Layer::Arp => "ARP",
            Layer::Ipv4 => "IPv4",
            Layer::Udp => "UDP",
            Layer::Icmp => "ICMP",
            Layer::Dhcp => "DHCP",
        };
        f.write_str(name)
    }
}

/// Why a frame addressed to the server could not be understood. Counted in
/// `malformed`; the frame is dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedFrame {
    /// Shorter than its header or its own length field says.
    #[error("{layer} truncated: needs {needed} bytes, got {got}")]
    Truncated {
        /// Where.
        layer: Layer,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A checksum does not match, or a header field is impossible.
    #[error("{layer} header invalid: {what}")]
    Invalid {
        /// Where.
        layer: Layer,
        /// What is wrong.
        what: &'static str,
    },
    /// The DHCP hardware type/length is not Ethernet's (1/6).
    #[error("DHCP hardware type {htype} length {hlen}: only Ethernet (1/6) is served")]
    Hardware {
        /// `htype`.
        htype: u8,
        /// `hlen`.
        hlen: u8,
    },
    /// The DHCP magic cookie is wrong (a plain BOOTP request, or junk).
    #[error("DHCP magic cookie {found:#010x}, expected 0x63825363")]
    Cookie {
        /// The four octets found.
        found: u32,
    },
    /// A DHCP request without a message type option (53).
    #[error("DHCP message has no message type option (53)")]
    NoMessageType,
    /// `chaddr` is zero or multicast: no client has it.
    #[error("DHCP client hardware address {mac} is not a unicast address")]
    ClientMac {
        /// The `chaddr` given.
        mac: MacAddr,
    },
    /// A DHCPREQUEST or DHCPDECLINE that must name an address does not.
    #[error("DHCP {kind} without the requested address option (50)")]
    NoRequestedIp {
        /// The message type.
        kind: &'static str,
    },
}

/// Why a well-formed frame was not acted on. Counted in `ignored`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Destination MAC is neither the server's nor broadcast.
    NotForUs,
    /// An EtherType the server does not speak (VLAN-tagged frames included).
    EtherType(u16),
    /// ARP that is not a request for the server's address.
    Arp,
    /// IPv4 to another address, a fragment, or a protocol the server ignores.
    Ipv4,
    /// UDP to a port other than 67.
    UdpPort(u16),
    /// ICMP other than an echo request.
    Icmp,
    /// A BOOTREPLY, or a message type a server never receives (2, 5, 6, unknown).
    DhcpMessageType(u8),
    /// The client chose another server (a foreign server identifier).
    OtherServer(Ipv4Addr),
}

/// A DHCP request from a client, as far as the server reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpMessage<'a> {
    /// Option 53.
    pub kind: DhcpMessageType,
    /// `xid`.
    pub xid: u32,
    /// The broadcast bit of `flags` (RFC 2131 §2 figure 2).
    pub broadcast: bool,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `giaddr` (echoed; the server never relays).
    pub giaddr: Ipv4Addr,
    /// `chaddr`: the client's MAC, the key of its lease.
    pub chaddr: MacAddr,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 55.
    pub parameter_list: Option<&'a [u8]>,
    /// Option 61, raw (echoed per RFC 6842, never used as a key).
    pub client_id: Option<&'a [u8]>,
}

/// A frame the server acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// A DHCP message on UDP port 67.
    Dhcp {
        /// IPv4 destination: the server, or a broadcast address.
        ip_dst: Ipv4Addr,
        /// The message.
        msg: DhcpMessage<'a>,
    },
    /// "Who has the server's address?"
    ArpRequest {
        /// Asker's MAC.
        sender_mac: MacAddr,
        /// Asker's address (0.0.0.0 for an RFC 5227 probe).
        sender_ip: Ipv4Addr,
    },
    /// A ping to the server's address.
    EchoRequest {
        /// Source MAC of the frame.
        eth_src: MacAddr,
        /// Source address.
        ip_src: Ipv4Addr,
        /// Echo identifier.
        ident: u16,
        /// Echo sequence number.
        seq_no: u16,
        /// Echo payload.
        data: &'a [u8],
    },
}

/// The outcome of reading one frame.
pub type Parsed<'a> = Result<Inbound<'a>, Skip>;

/// Why [`parse`] yields nothing to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Well-formed but not for the server.
    Ignored(IgnoreReason),
    /// Broken.
    Malformed(MalformedFrame),
}

impl From<MalformedFrame> for Skip {
    fn from(e: MalformedFrame) -> Skip {
        Skip::Malformed(e)
    }
}

/// Reads one Ethernet frame arriving at the server port whose own addresses
/// are `server_mac`/`server_ip` and whose subnet broadcast is `subnet_bcast`.
pub fn parse(
    frame: &[u8],
    server_mac: MacAddr,
    server_ip: Ipv4Addr,
    subnet_bcast: Ipv4Addr,
) -> Parsed<'_> {
    let eth = EthernetFrame::new_checked(frame)
        .map_err(|_| truncated(Layer::Ethernet, ETH_HEADER, frame.len()))?;
    let dst = MacAddr(eth.dst_addr().0);
    if dst != server_mac && !dst.is_broadcast() {
        return Err(Skip::Ignored(IgnoreReason::NotForUs));
    }
    let src = MacAddr(eth.src_addr().0);
    let payload = frame.get(ETH_HEADER..).unwrap_or(&[]);
    match eth.ethertype() {
        EthernetProtocol::Arp => parse_arp(payload, server_ip),
        EthernetProtocol::Ipv4 => parse_ipv4(payload, src, server_ip, subnet_bcast),
        other => Err(Skip::Ignored(IgnoreReason::EtherType(u16::from(other)))),
    }
}

fn parse_arp(payload: &[u8], server_ip: Ipv4Addr) -> Parsed<'_> {
    let packet =
        ArpPacket::new_checked(payload).map_err(|_| truncated(Layer::Arp, 28, payload.len()))?;
    match ArpRepr::parse(&packet) {
        Ok(ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) if target_protocol_addr == server_ip => Ok(Inbound::ArpRequest {
            sender_mac: MacAddr(source_hardware_addr.0),
            sender_ip: source_protocol_addr,
        }),
        Ok(_) => Err(Skip::Ignored(IgnoreReason::Arp)),
        Err(_) => Err(Skip::Ignored(IgnoreReason::Arp)),
    }
}

fn parse_ipv4(
    payload: &[u8],
    eth_src: MacAddr,
    server_ip: Ipv4Addr,
    subnet_bcast: Ipv4Addr,
) -> Parsed<'_> {
    let got = payload.len();
    let packet = Ipv4Packet::new_checked(payload).map_err(|_| {
        let be16 = |at: usize| {
            u16::from_be_bytes([
                payload.get(at).copied().unwrap_or(0),
                payload.get(at + 1).copied().unwrap_or(0),
            ])
        };
        let header_len = usize::from(payload.first().copied().unwrap_or(0) & 0x0f) * 4;
        let total_len = usize::from(be16(2));
        if got >= IPV4_MIN_HEADER && total_len < header_len {
            invalid(Layer::Ipv4, "total length below header length")
        } else {
            truncated(
                Layer::Ipv4,
                total_len.max(header_len).max(IPV4_MIN_HEADER),
                got,
            )
        }
    })?;
    if usize::from(packet.header_len()) < IPV4_MIN_HEADER {
        return Err(invalid(Layer::Ipv4, "header length below 20 bytes"));
    }
    let repr = Ipv4Repr::parse(&packet, &ChecksumCapabilities::default()).map_err(|_| {
        if packet.version() != 4 {
            invalid(Layer::Ipv4, "version is not 4")
        } else if packet.more_frags() || packet.frag_offset() != 0 {
            Skip::Ignored(IgnoreReason::Ipv4)
        } else {
            invalid(Layer::Ipv4, "header checksum")
        }
    })?;
    let ip_payload = packet.payload();
    let dst = repr.dst_addr;
    match repr.next_header {
        IpProtocol::Udp
            if dst == server_ip || dst == Ipv4Addr::BROADCAST || dst == subnet_bcast =>
        {
            parse_udp(ip_payload, repr.src_addr, dst)
        }
        IpProtocol::Icmp if dst == server_ip => parse_icmp(ip_payload, eth_src, repr.src_addr),
        _ => Err(Skip::Ignored(IgnoreReason::Ipv4)),
    }
}

fn parse_udp(payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Parsed<'_> {
    let got = payload.len();
    let packet = UdpPacket::new_checked(payload).map_err(|_| {
        let field = u16::from_be_bytes([
            payload.get(4).copied().unwrap_or(0),
            payload.get(5).copied().unwrap_or(0),
        ]);
        if got >= UDP_HEADER && usize::from(field) < UDP_HEADER {
            invalid(Layer::Udp, "length field below 8")
        } else {
            truncated(Layer::Udp, usize::from(field).max(UDP_HEADER), got)
        }
    })?;
    if packet.dst_port() != SERVER_PORT {
        return Err(Skip::Ignored(IgnoreReason::UdpPort(packet.dst_port())));
    }
    UdpRepr::parse(
        &packet,
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        &ChecksumCapabilities::default(),
    )
    .map_err(|_| invalid(Layer::Udp, "checksum"))?;
    let msg = parse_dhcp(packet.payload())?;
    Ok(Inbound::Dhcp { ip_dst: dst, msg })
}

fn parse_icmp(payload: &[u8], eth_src: MacAddr, ip_src: Ipv4Addr) -> Parsed<'_> {
    let packet =
        Icmpv4Packet::new_checked(payload).map_err(|_| truncated(Layer::Icmp, 8, payload.len()))?;
    if packet.msg_type() != Icmpv4Message::EchoRequest {
        return Err(Skip::Ignored(IgnoreReason::Icmp));
    }
    match Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default()) {
        Ok(Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        }) => Ok(Inbound::EchoRequest {
            eth_src,
            ip_src,
            ident,
            seq_no,
            data,
        }),
        Ok(_) => Err(Skip::Ignored(IgnoreReason::Icmp)),
        Err(_) => Err(invalid(Layer::Icmp, "checksum or code")),
    }
}

/// Reads a DHCP message (RFC 2131 §2, options per RFC 2132).
pub fn parse_dhcp(payload: &[u8]) -> Result<DhcpMessage<'_>, Skip> {
    let packet = DhcpPacket::new_checked(payload)
        .map_err(|_| truncated(Layer::Dhcp, DHCP_FIXED, payload.len()))?;
    let (htype, hlen) = (
        payload.get(1).copied().unwrap_or(0),
        payload.get(2).copied().unwrap_or(0),
    );
    if htype != 1 || hlen != 6 {
        return Err(MalformedFrame::Hardware { htype, hlen }.into());
    }
    if packet.magic_number() != MAGIC_COOKIE {
        return Err(MalformedFrame::Cookie {
            found: packet.magic_number(),
        }
        .into());
    }
    let op = payload.first().copied().unwrap_or(0);
    let mut msg = DhcpMessage {
        kind: DhcpMessageType::Unknown(0),
        xid: packet.transaction_id(),
        broadcast: u16::from_be_bytes([
            payload.get(10).copied().unwrap_or(0),
            payload.get(11).copied().unwrap_or(0),
        ]) & 0x8000
            != 0,
        ciaddr: packet.client_ip(),
        giaddr: packet.relay_agent_ip(),
        chaddr: MacAddr(packet.client_hardware_address().0),
        requested_ip: None,
        server_id: None,
        parameter_list: None,
        client_id: None,
    };
    let mut kind = None;
    for (code, data) in options(payload.get(DHCP_FIXED..).unwrap_or(&[])) {
        match code {
            53 if kind.is_none() => kind = data.first().map(|k| DhcpMessageType::from(*k)),
            50 => msg.requested_ip = ipv4_option(data),
            54 => msg.server_id = ipv4_option(data),
            55 => msg.parameter_list = Some(data),
            61 if !data.is_empty() => msg.client_id = Some(data),
            _ => {}
        }
    }
    msg.kind = kind.ok_or(MalformedFrame::NoMessageType)?;
    if op != 1 {
        return Err(Skip::Ignored(IgnoreReason::DhcpMessageType(u8::from(
            msg.kind,
        ))));
    }
    if msg.chaddr.is_multicast() || msg.chaddr == MacAddr::default() {
        return Err(MalformedFrame::ClientMac { mac: msg.chaddr }.into());
    }
    Ok(msg)
}

/// A DHCP reply to build.
#[derive(Clone, Debug)]
pub struct Reply<'a> {
    /// OFFER, ACK or NAK.
    pub kind: DhcpMessageType,
    /// The request it answers.
    pub request: &'a DhcpMessage<'a>,
    /// `yiaddr` (0 for NAK and for the ACK to an INFORM).
    pub yiaddr: Ipv4Addr,
    /// Option 51 with T1/T2 (58/59), in seconds; `None` for NAK and INFORM.
    pub lease_secs: Option<u32>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns: &'a [Ipv4Addr],
    /// Option 56, for NAKs.
    pub message: Option<&'a str>,
}

/// The server's own addresses, source of every reply.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// Source MAC.
    pub mac: MacAddr,
    /// Source address and server identifier (option 54).
    pub ip: Ipv4Addr,
}

/// Emits a DHCP reply as a whole Ethernet frame, addressed per RFC 2131 §4.1
/// (`giaddr` is never used for delivery: the server serves its own link only):
/// NAKs are broadcast; a reply to a client with `ciaddr` goes unicast to it;
/// with the broadcast bit set it is broadcast; otherwise unicast to `yiaddr`
/// at `chaddr`.
pub fn build_dhcp_reply(src: Source, reply: &Reply<'_>) -> Vec<u8> {
    let req = reply.request;
    let (eth_dst, ip_dst) = if reply.kind == DhcpMessageType::Nak {
        (MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
    } else if !req.ciaddr.is_unspecified() {
        (req.chaddr, req.ciaddr)
    } else if req.broadcast || reply.yiaddr.is_unspecified() {
        (MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
    } else {
        (req.chaddr, reply.yiaddr)
    };

    // Options beyond what DhcpRepr emits itself: T1/T2 (RFC 2132 §9.11-9.12),
    // DNS (§3.8, any count), message (§9.9), client identifier (RFC 6842).
    let lease = reply.lease_secs;
    let t1 = lease.map(|l| (l / 2).to_be_bytes());
    let t2 = lease.map(|l| (l / 8 * 7).to_be_bytes());
    let dns: Vec<u8> = reply.dns.iter().flat_map(|ip| ip.octets()).collect();
    let mut extra: Vec<DhcpOption<'_>> = Vec::with_capacity(5);
    if let (Some(t1), Some(t2)) = (&t1, &t2) {
        extra.push(DhcpOption { kind: 58, data: t1 });
        extra.push(DhcpOption { kind: 59, data: t2 });
    }
    if !dns.is_empty() {
        extra.push(DhcpOption {
            kind: 6,
            data: &dns,
        });
    }
    if let Some(text) = reply.message {
        let len = text.len().min(255);
        extra.push(DhcpOption {
            kind: 56,
            data: text.as_bytes().get(..len).unwrap_or(&[]),
        });
    }
    if let Some(id) = req.client_id {
        let len = id.len().min(255);
        extra.push(DhcpOption {
            kind: 61,
            data: id.get(..len).unwrap_or(&[]),
        });
    }
    let is_nak = reply.kind == DhcpMessageType::Nak;
    let repr = DhcpRepr {
        message_type: reply.kind,
        transaction_id: req.xid,
        secs: 0,
        client_hardware_address: EthernetAddress(req.chaddr.0),
        // RFC 2131 table 3: ciaddr echoed in ACK, zero in OFFER and NAK.
        client_ip: if reply.kind == DhcpMessageType::Ack {
            req.ciaddr
        } else {
            Ipv4Addr::UNSPECIFIED
        },
        your_ip: reply.yiaddr,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: if is_nak { None } else { reply.router },
        subnet_mask: if is_nak { None } else { reply.subnet_mask },
        relay_agent_ip: req.giaddr,
        broadcast: req.broadcast,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(src.ip),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: lease,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &extra,
    };
    let dhcp_len = repr.buffer_len().max(BOOTP_MIN);
    build_udp(src, eth_dst, ip_dst, dhcp_len, |buf| {
        let mut packet = DhcpPacket::new_unchecked(buf);
        // The buffer is sized by buffer_len, so emit cannot run out of room.
        let _ = repr.emit(&mut packet);
    })
}

/// Emits the ARP reply "server_ip is at server_mac" to the asker (RFC 826).
pub fn build_arp_reply(src: Source, sender_mac: MacAddr, sender_ip: Ipv4Addr) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(src.mac.0),
        source_protocol_addr: src.ip,
        target_hardware_addr: EthernetAddress(sender_mac.0),
        target_protocol_addr: sender_ip,
    };
    let mut frame = vec![0u8; (ETH_HEADER + arp.buffer_len()).max(ETH_MIN_FRAME)];
    emit_eth(&mut frame, src.mac, sender_mac, EthernetProtocol::Arp);
    if let Some(body) = frame.get_mut(ETH_HEADER..) {
        arp.emit(&mut ArpPacket::new_unchecked(body));
    }
    frame
}

/// Emits the echo reply to a ping of the server's address (RFC 792).
pub fn build_echo_reply(
    src: Source,
    eth_dst: MacAddr,
    ip_dst: Ipv4Addr,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let icmp_len = icmp.buffer_len();
    let ip = Ipv4Repr {
        src_addr: src.ip,
        dst_addr: ip_dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp_len,
        hop_limit: HOP_LIMIT,
    };
    let mut frame = vec![0u8; (ETH_HEADER + IPV4_MIN_HEADER + icmp_len).max(ETH_MIN_FRAME)];
    emit_eth(&mut frame, src.mac, eth_dst, EthernetProtocol::Ipv4);
    if let Some(body) = frame.get_mut(ETH_HEADER..) {
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut *body),
            &ChecksumCapabilities::default(),
        );
        if let Some(icmp_buf) = body.get_mut(IPV4_MIN_HEADER..IPV4_MIN_HEADER + icmp_len) {
            icmp.emit(
                &mut Icmpv4Packet::new_unchecked(icmp_buf),
                &ChecksumCapabilities::default(),
            );
        }
    }
    frame
}

/// Emits Ethernet + IPv4 + UDP (67 → 68) around a payload of `len` bytes
/// written by `fill`.
fn build_udp(
    src: Source,
    eth_dst: MacAddr,
    ip_dst: Ipv4Addr,
    len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let udp_len = UDP_HEADER + len;
    let ip = Ipv4Repr {
        src_addr: src.ip,
        dst_addr: ip_dst,
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: HOP_LIMIT,
    };
    let mut frame = vec![0u8; ETH_HEADER + IPV4_MIN_HEADER + udp_len];
    emit_eth(&mut frame, src.mac, eth_dst, EthernetProtocol::Ipv4);
    if let Some(body) = frame.get_mut(ETH_HEADER..) {
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut *body),
            &ChecksumCapabilities::default(),
        );
        if let Some(udp_buf) = body.get_mut(IPV4_MIN_HEADER..) {
            let udp = UdpRepr {
                src_port: SERVER_PORT,
                dst_port: CLIENT_PORT,
            };
            udp.emit(
                &mut UdpPacket::new_unchecked(udp_buf),
                &IpAddress::Ipv4(src.ip),
                &IpAddress::Ipv4(ip_dst),
                len,
                fill,
                &ChecksumCapabilities::default(),
            );
        }
    }
    frame
}

fn emit_eth(frame: &mut [u8], src: MacAddr, dst: MacAddr, ethertype: EthernetProtocol) {
    let eth = EthernetRepr {
        src_addr: EthernetAddress(src.0),
        dst_addr: EthernetAddress(dst.0),
        ethertype,
    };
    if frame.len() >= ETH_HEADER {
        eth.emit(&mut EthernetFrame::new_unchecked(frame));
    }
}

/// Walks DHCP options (RFC 2132 §2): pad (0) is skipped, end (255) or a
/// truncated option stops the walk.
pub(crate) fn options(mut buf: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    core::iter::from_fn(move || loop {
        let (&code, rest) = buf.split_first()?;
        match code {
            0 => buf = rest,
            255 => return None,
            _ => {
                let (&len, rest) = rest.split_first()?;
                let Some((data, rest)) = rest.split_at_checked(usize::from(len)) else {
                    buf = &[];
                    return None;
                };
                buf = rest;
                return Some((code, data));
            }
        }
    })
}

fn ipv4_option(data: &[u8]) -> Option<Ipv4Addr> {
    let octets: [u8; 4] = data.try_into().ok()?;
    Some(Ipv4Addr::from(octets))
}

fn truncated(layer: Layer, needed: usize, got: usize) -> Skip {
    Skip::Malformed(MalformedFrame::Truncated { layer, needed, got })
}

fn invalid(layer: Layer, what: &'static str) -> Skip {
    Skip::Malformed(MalformedFrame::Invalid { layer, what })
}
