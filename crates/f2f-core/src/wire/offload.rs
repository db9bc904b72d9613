//! Offloaded frames: the virtio-net header that a tap opened with
//! `IFF_VNET_HDR` puts before every frame, and what a port that cannot take
//! such a frame needs instead.
//!
//! With offloads on (`TUNSETOFFLOAD`: checksum, TSO for IPv4 and IPv6) the
//! host's stack hands the tap whole TCP super-segments of up to 64 KiB with
//! the checksum left for later, so a frame crossing the switch carries many
//! MSS-sized segments at once. A port that speaks virtio-net headers too takes
//! the frame and its header as they are; for any other port (VDE sockets,
//! streams, plain taps) [`finish`] completes the partial checksum and cuts a
//! super-segment into ordinary frames exactly as the kernel's software GSO
//! would: same sequence numbers, IPv4 ids counting up, FIN and PSH on the
//! last segment only, CWR on the first only, every checksum computed.
//!
//! Only what the switch asks the kernel for is understood: `GSO_NONE`,
//! `GSO_TCPV4`, `GSO_TCPV6` (with or without the ECN bit); anything else is
//! an error and the frame is dropped, never passed on half-done.

use thiserror::Error;

/// Bytes of the header (`struct virtio_net_hdr`, without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;
/// `flags`: the checksum from `csum_start` on is still to be computed.
pub const F_NEEDS_CSUM: u8 = 1;
/// `gso_type`: an ordinary frame.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: a TCP/IPv4 super-segment.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type`: a TCP/IPv6 super-segment.
pub const GSO_TCPV6: u8 = 4;
/// `gso_type` bit: the super-segment carries ECN's CWR.
pub const GSO_ECN: u8 = 0x80;

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Bounds that keep the output of one frame small (a few MB at most): the
/// kernel's TCP never goes below an MSS of 48 nor above 40 bytes of IPv4
/// options; IPv6 extension headers get more room.
const MIN_SEGMENT: usize = 48;
const MAX_NETWORK_HEADERS: usize = 256;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// The virtio-net header of one frame (fields in host byte order, as a tap
/// uses them unless told otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// [`F_NEEDS_CSUM`] and friends.
    pub flags: u8,
    /// [`GSO_NONE`], [`GSO_TCPV4`], [`GSO_TCPV6`], possibly with [`GSO_ECN`].
    pub gso_type: u8,
    /// Length of the headers before the payload (a hint).
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS).
    pub gso_size: u16,
    /// Where checksumming starts (the transport header).
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Split `buf` into its header and the frame after it; `None` if too short.
    pub fn parse(buf: &[u8]) -> Option<(VnetHdr, &[u8])> {
        let (h, frame) = buf.split_at_checked(VNET_HDR_LEN)?;
        let word = |i: usize| {
            h.get(i..i + 2)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u16::from_ne_bytes)
        };
        let hdr = VnetHdr {
            flags: h.first().copied().unwrap_or(0),
            gso_type: h.get(1).copied().unwrap_or(0),
            hdr_len: word(2),
            gso_size: word(4),
            csum_start: word(6),
            csum_offset: word(8),
        };
        Some((hdr, frame))
    }

    /// The header's bytes.
    pub fn emit(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        let words = [
            self.hdr_len,
            self.gso_size,
            self.csum_start,
            self.csum_offset,
        ];
        for (dst, w) in b.chunks_exact_mut(2).skip(1).zip(words) {
            dst.copy_from_slice(&w.to_ne_bytes());
        }
        if let Some(first) = b.first_mut() {
            *first = self.flags;
        }
        if let Some(second) = b.get_mut(1) {
            *second = self.gso_type;
        }
        b
    }

    /// True when the frame is complete as it is (nothing left to compute or
    /// to cut): any port can take it without its header.
    pub fn is_plain(&self) -> bool {
        self.flags & F_NEEDS_CSUM == 0 && self.gso_type == GSO_NONE
    }

    /// The header for the same frame with `delta` bytes inserted (positive)
    /// or removed (negative) before the network header, as an 802.1Q tag
    /// added or stripped by the switch does.
    pub fn shifted(&self, delta: i32) -> VnetHdr {
        let shift = |v: u16| u16::try_from(i32::from(v) + delta).unwrap_or(v);
        VnetHdr {
            hdr_len: if self.hdr_len == 0 {
                0
            } else {
                shift(self.hdr_len)
            },
            csum_start: if self.flags & F_NEEDS_CSUM == 0 {
                self.csum_start
            } else {
                shift(self.csum_start)
            },
            ..*self
        }
    }
}

/// Why an offloaded frame cannot be finished (it is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum OffloadError {
    /// A GSO type the switch never asked for (UDP fragmentation, USO, ...).
    #[error("unsupported GSO type {0}")]
    Unsupported(u8),
    /// Offsets or headers that do not fit the frame.
    #[error("malformed offloaded frame: {0}")]
    Malformed(&'static str),
}

/// Append the ordinary frame(s) that `frame` with `hdr` stands for to `out`,
/// pushing the end offset of each into `ends`: the frame itself with its
/// checksum completed, or the segments of a TCP super-segment. On error
/// nothing is appended.
pub fn finish(
    hdr: &VnetHdr,
    frame: &[u8],
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<(), OffloadError> {
    let mark = (out.len(), ends.len());
    let done = match hdr.gso_type & !GSO_ECN {
        GSO_NONE => {
            let start = out.len();
            out.extend_from_slice(frame);
            let r = if hdr.flags & F_NEEDS_CSUM != 0 {
                let seg = out.get_mut(start..).unwrap_or_default();
                complete_checksum(seg, hdr.csum_start.into(), hdr.csum_offset.into())
            } else {
                Ok(())
            };
            ends.push(out.len());
            r
        }
        GSO_TCPV4 => segment_tcp(hdr, frame, false, out, ends),
        GSO_TCPV6 => segment_tcp(hdr, frame, true, out, ends),
        other => Err(OffloadError::Unsupported(other)),
    };
    if done.is_err() {
        out.truncate(mark.0);
        ends.truncate(mark.1);
    }
    done
}

/// Ones'-complement sum of `data` as big-endian 16-bit words (an odd last
/// byte padded with zero), not yet folded.
fn ones_sum(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut sum: u64 = chunks
        .by_ref()
        .map(|w| {
            u64::from(u16::from_be_bytes([
                w.first().copied().unwrap_or(0),
                w.get(1).copied().unwrap_or(0),
            ]))
        })
        .sum();
    if let Some(&last) = chunks.remainder().first() {
        sum += u64::from(u16::from_be_bytes([last, 0]));
    }
    sum
}

/// Fold a sum to 16 bits and complement it: the checksum to store.
fn checksum(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn put16(buf: &mut [u8], at: usize, v: u16) -> Result<(), OffloadError> {
    buf.get_mut(at..at + 2)
        .ok_or(OffloadError::Malformed("field past the end"))?
        .copy_from_slice(&v.to_be_bytes());
    Ok(())
}

fn get16(buf: &[u8], at: usize) -> Result<u16, OffloadError> {
    buf.get(at..at + 2)
        .map(|b| {
            u16::from_be_bytes([
                b.first().copied().unwrap_or(0),
                b.get(1).copied().unwrap_or(0),
            ])
        })
        .ok_or(OffloadError::Malformed("field past the end"))
}

/// The kernel's partial checksum: the field already holds the pseudo-header
/// sum; sum everything from `start` and store the complement there.
fn complete_checksum(frame: &mut [u8], start: usize, offset: usize) -> Result<(), OffloadError> {
    let field = start + offset;
    if field + 2 > frame.len() {
        return Err(OffloadError::Malformed("checksum field past the end"));
    }
    let c = checksum(ones_sum(frame.get(start..).unwrap_or_default()));
    // 0 would mean "no checksum" to UDP; 0xffff is the same value for TCP.
    put16(frame, field, if c == 0 { 0xffff } else { c })
}

/// Offset of the network header: after the Ethernet header and any VLAN tags.
fn network_offset(frame: &[u8]) -> Result<(usize, u16), OffloadError> {
    let mut at = ETH_HLEN - 2;
    loop {
        let ethertype = get16(frame, at)?;
        if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
            at += 4;
        } else {
            return Ok((at + 2, ethertype));
        }
    }
}

/// Cut a TCP super-segment into `gso_size`-byte segments.
fn segment_tcp(
    hdr: &VnetHdr,
    frame: &[u8],
    v6: bool,
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<(), OffloadError> {
    let (l3, ethertype) = network_offset(frame)?;
    if ethertype != if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 } {
        return Err(OffloadError::Malformed(
            "GSO type and network protocol differ",
        ));
    }
    let l4 = usize::from(hdr.csum_start);
    if l4 < l3 + if v6 { 40 } else { 20 } {
        return Err(OffloadError::Malformed(
            "transport header inside the network header",
        ));
    }
    if l4 > l3 + MAX_NETWORK_HEADERS {
        return Err(OffloadError::Malformed("network headers too long"));
    }
    let data_offset = frame
        .get(l4 + 12)
        .ok_or(OffloadError::Malformed("TCP header past the end"))?;
    let tcp_len = usize::from(data_offset >> 4) * 4;
    let headers = l4 + tcp_len;
    if tcp_len < 20 || headers > frame.len() {
        return Err(OffloadError::Malformed("bad TCP header length"));
    }
    let mss = usize::from(hdr.gso_size);
    if mss < MIN_SEGMENT {
        return Err(OffloadError::Malformed("segment size too small"));
    }
    let (head, payload) = frame.split_at(headers);
    let seq0 = u32::from(get16(frame, l4 + 4)?) << 16 | u32::from(get16(frame, l4 + 6)?);
    let id0 = if v6 { 0 } else { get16(frame, l3 + 4)? };
    let ihl = usize::from(frame.get(l3).copied().unwrap_or(0) & 0x0f) * 4;
    if !v6 && (ihl < 20 || l3 + ihl > l4) {
        return Err(OffloadError::Malformed("bad IPv4 header length"));
    }
    let count = payload.len().div_ceil(mss).max(1);
    let mut chunks = payload.chunks(mss);
    for i in 0..count {
        let chunk = chunks.next().unwrap_or_default();
        let start = out.len();
        out.extend_from_slice(head);
        out.extend_from_slice(chunk);
        let seg = out.get_mut(start..).unwrap_or_default();
        let tcp_bytes = tcp_len + chunk.len();
        let seq = seq0.wrapping_add(u32::try_from(i * mss).unwrap_or(u32::MAX));
        put16(seg, l4 + 4, (seq >> 16) as u16)?;
        put16(seg, l4 + 6, seq as u16)?;
        if let Some(flags) = seg.get_mut(l4 + 13) {
            if i + 1 < count {
                *flags &= !(TCP_FIN | TCP_PSH);
            }
            if i > 0 {
                *flags &= !TCP_CWR;
            }
        }
        let len16 =
            |n: usize| u16::try_from(n).map_err(|_| OffloadError::Malformed("segment too long"));
        let pseudo = if v6 {
            put16(seg, l3 + 4, len16(l4 - l3 - 40 + tcp_bytes)?)?;
            ones_sum(seg.get(l3 + 8..l3 + 40).unwrap_or_default()) + 6 + tcp_bytes as u64
        } else {
            put16(seg, l3 + 2, len16(l4 - l3 + tcp_bytes)?)?;
            put16(seg, l3 + 4, id0.wrapping_add(i as u16))?;
            put16(seg, l3 + 10, 0)?;
            let ip_sum = checksum(ones_sum(seg.get(l3..l3 + ihl).unwrap_or_default()));
            put16(seg, l3 + 10, ip_sum)?;
            let proto = u64::from(seg.get(l3 + 9).copied().unwrap_or(6));
            ones_sum(seg.get(l3 + 12..l3 + 20).unwrap_or_default()) + proto + tcp_bytes as u64
        };
        put16(seg, l4 + 16, 0)?;
        let c = checksum(pseudo + ones_sum(seg.get(l4..).unwrap_or_default()));
        put16(seg, l4 + 16, c)?;
        ends.push(out.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{EthernetFrame, IpAddress, Ipv4Address, Ipv4Packet, TcpPacket};

    /// A TCP/IPv4 super-segment as a tap with TSO hands it over: total length
    /// and checksum fields as the kernel leaves them (pseudo-header sum in
    /// the TCP checksum, for the whole payload).
    fn super_segment(payload: usize, flags: u8, tag: bool) -> (VnetHdr, Vec<u8>) {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        if tag {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let l3 = f.len();
        let ip_len = 20 + 32 + payload;
        f.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0x12,
            0x34,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
        let l4 = f.len();
        // ports, seq 0xfffff000 (wraps), ack, data offset 8 (12 option bytes), flags
        f.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51, 0xff, 0xff, 0xf0, 0x00, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x80, flags, 0x01, 0xf5, 0, 0, 0, 0]);
        f.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        f.extend((0..payload).map(|i| (i * 7 % 251) as u8));
        let pseudo = ones_sum(&f[l3 + 12..l3 + 20]) + 6 + (32 + payload) as u64;
        let mut s = pseudo;
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        f[l4 + 16..l4 + 18].copy_from_slice(&(s as u16).to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: (l4 + 32) as u16,
            gso_size: 1448,
            csum_start: l4 as u16,
            csum_offset: 16,
        };
        (hdr, f)
    }

    fn segments<'a>(out: &'a [u8], ends: &[usize]) -> Vec<&'a [u8]> {
        let mut start = 0;
        ends.iter()
            .map(|&e| {
                let s = &out[start..e];
                start = e;
                s
            })
            .collect()
    }

    #[test]
    fn header_round_trips() {
        let hdr = VnetHdr {
            flags: 1,
            gso_type: 4,
            hdr_len: 86,
            gso_size: 1428,
            csum_start: 54,
            csum_offset: 16,
        };
        let mut buf = hdr.emit().to_vec();
        buf.extend_from_slice(b"frame");
        assert_eq!(VnetHdr::parse(&buf), Some((hdr, &b"frame"[..])));
        assert_eq!(VnetHdr::parse(&buf[..9]), None);
        assert!(VnetHdr::default().is_plain());
        assert!(!hdr.is_plain());
    }

    #[test]
    fn cuts_a_tcp_v4_super_segment_like_the_kernel() {
        let payload = 1448 * 3 + 100;
        let (hdr, frame) = super_segment(payload, 0x80 | 0x18 | 0x01, false); // CWR PSH ACK FIN
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        finish(&hdr, &frame, &mut out, &mut ends).unwrap();
        let segs = segments(&out, &ends);
        assert_eq!(segs.len(), 4);
        let mut data = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let eth = EthernetFrame::new_checked(s).unwrap();
            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
            assert!(ip.verify_checksum(), "IP checksum of segment {i}");
            assert_eq!(ip.ident(), 0x1234 + i as u16);
            assert_eq!(usize::from(ip.total_len()), eth.payload().len());
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let (src, dst) = (
                IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2)),
                IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)),
            );
            assert!(
                tcp.verify_checksum(&src, &dst),
                "TCP checksum of segment {i}"
            );
            assert_eq!(
                tcp.seq_number().0 as u32,
                0xffff_f000u32.wrapping_add(1448 * i as u32)
            );
            assert_eq!(tcp.fin(), i == 3);
            assert_eq!(tcp.psh(), i == 3);
            assert_eq!(tcp.cwr(), i == 0);
            assert!(tcp.ack());
            assert_eq!(tcp.payload().len(), if i == 3 { 100 } else { 1448 });
            data.extend_from_slice(tcp.payload());
        }
        assert_eq!(data, &frame[frame.len() - payload..]);
    }

    #[test]
    fn completes_a_partial_checksum_and_keeps_vlan_tags() {
        let (mut hdr, frame) = super_segment(300, 0x18, true);
        hdr.gso_type = GSO_NONE;
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        finish(&hdr, &frame, &mut out, &mut ends).unwrap();
        assert_eq!(ends, [frame.len()]);
        let ip = Ipv4Packet::new_checked(&out[18..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let (src, dst) = (
            IpAddress::Ipv4(ip.src_addr()),
            IpAddress::Ipv4(ip.dst_addr()),
        );
        assert!(tcp.verify_checksum(&src, &dst));
        // and the same frame as a super-segment behind the tag
        hdr.gso_type = GSO_TCPV4;
        hdr.gso_size = 100;
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        finish(&hdr, &frame, &mut out, &mut ends).unwrap();
        assert_eq!(ends.len(), 3);
    }

    #[test]
    fn shifting_follows_a_tag() {
        let (hdr, _) = super_segment(10, 0x10, false);
        let tagged = hdr.shifted(4);
        assert_eq!(tagged.csum_start, hdr.csum_start + 4);
        assert_eq!(tagged.hdr_len, hdr.hdr_len + 4);
        assert_eq!(tagged.shifted(-4), hdr);
    }

    #[test]
    fn refuses_what_it_cannot_finish_without_output() {
        let (mut hdr, frame) = super_segment(3000, 0x10, false);
        let (mut out, mut ends) = (vec![9u8], vec![1usize]);
        hdr.gso_type = 3; // UFO
        assert_eq!(
            finish(&hdr, &frame, &mut out, &mut ends),
            Err(OffloadError::Unsupported(3))
        );
        hdr.gso_type = GSO_TCPV6; // but the frame is IPv4
        assert!(finish(&hdr, &frame, &mut out, &mut ends).is_err());
        hdr.gso_type = GSO_TCPV4;
        hdr.csum_start = 10;
        assert!(finish(&hdr, &frame, &mut out, &mut ends).is_err());
        hdr.csum_start = 34;
        hdr.gso_size = 0;
        assert!(finish(&hdr, &frame, &mut out, &mut ends).is_err());
        hdr.gso_size = 47;
        assert!(finish(&hdr, &frame, &mut out, &mut ends).is_err());
        hdr.gso_size = 1000;
        assert!(finish(&hdr, &frame[..40], &mut out, &mut ends).is_err());
        assert_eq!((out, ends), (vec![9u8], vec![1usize]));
    }
}
