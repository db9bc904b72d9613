//! Spanning-tree BPDUs exactly as `vde_switch -F` (its "fast spanning tree",
//! FSTP) puts them on the wire: spec/fstp.md §2.
//!
//! What this module owns: the byte layout of a whole Ethernet frame carrying
//! one FSTP BPDU, untagged (53 bytes) or with an 802.1Q tag after the source
//! address (57 bytes), as a checked view ([`BpduFrame`]) and an owned
//! [`Bpdu`] with `parse` / `buffer_len` / `emit`.
//!
//! The format is *not* IEEE 802.1D/802.1w even though it borrows its shape:
//! - the four timers are **little-endian whole seconds** (802.1D: big-endian
//!   1/256 s);
//! - the port id is `0x80 | (port >> 4)` then `port & 0xff` (the high byte
//!   overlaps the low one: [`vde_port_id`]);
//! - the role bits of the flags byte mean something else than in 802.1w
//!   ([`BpduFlags`]);
//! - the frame is not padded to 60 bytes.
//!
//! Acceptance follows `fst_in_bpdu` in vde-2's `fstp.c`: destination
//! 01:80:c2:00:00:00, at least 51 bytes counted without the tag, protocol
//! version 2 and BPDU type 2. The LLC header, the 802.3 length, the protocol
//! id and the version-1 length are not checked (vde_switch does not check
//! them either); [`Bpdu::emit`] always writes vde_switch's values.
//!
//! One deliberate difference: vde_switch zero-pads every received frame
//! shorter than 60 bytes before looking at it, so it would take a 22-byte
//! "BPDU" as an announcement of root `00:00:…` at cost 0. We refuse anything
//! under 51 bytes with [`BpduError::Truncated`].
//!
//! Invariant: for every buffer [`Bpdu::parse`] accepts, emitting the result
//! and parsing it again gives the same [`Bpdu`] (unit test and the `bpdu` fuzz
//! target).

use core::fmt;

use crate::mac::MacAddr;

/// 01:80:c2:00:00:00, the destination of every BPDU (vde_switch's `ISBPDU`).
pub const BPDU_DST: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0x00, 0x00, 0x00]);

/// Length of an untagged BPDU frame as vde_switch sends it.
pub const UNTAGGED_LEN: usize = 53;

/// Length of a tagged BPDU frame as vde_switch sends it.
pub const TAGGED_LEN: usize = UNTAGGED_LEN + 4;

/// Shortest frame vde_switch accepts, not counting an 802.1Q tag.
pub const MIN_LEN: usize = 51;

/// Offsets in an untagged frame; a tagged frame shifts everything from
/// `LEN_OR_TYPE` on by four bytes.
mod field {
    use core::ops::Range;

    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    /// 802.3 length (0x0027) or, in a tagged frame, the TPID 0x8100.
    pub const LEN_OR_TYPE: usize = 12;
    /// The 802.1Q TCI in a tagged frame.
    pub const TCI: usize = 14;
    pub const LLC: usize = 14;
    pub const PROTOCOL: usize = 17;
    pub const VERSION: usize = 19;
    pub const TYPE: usize = 20;
    pub const FLAGS: usize = 21;
    pub const ROOT: usize = 22;
    pub const ROOT_COST: usize = 30;
    pub const BRIDGE: usize = 34;
    pub const PORT: usize = 42;
    pub const MESSAGE_AGE: usize = 44;
    pub const MAX_AGE: usize = 46;
    pub const HELLO: usize = 48;
    pub const FORWARD_DELAY: usize = 50;
    pub const V1_LEN: usize = 52;
}

/// The TPID that marks an 802.1Q tag.
const TPID_8021Q: u16 = 0x8100;
/// The 802.3 length vde_switch writes: LLC (3) + BPDU (36).
const LLC_PAYLOAD_LEN: u16 = 0x27;
/// LLC DSAP, SSAP (0x42: spanning tree) and control (UI).
const LLC: [u8; 3] = [0x42, 0x42, 0x03];
/// The only protocol version and BPDU type vde_switch accepts (RST-like).
const VERSION: u8 = 2;
const BPDU_TYPE: u8 = 2;

/// Why a frame is not a BPDU vde_switch would accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BpduError {
    /// Fewer bytes than vde_switch requires (51, plus 4 when tagged).
    #[error("BPDU truncated: need {needed} bytes, got {got}")]
    Truncated {
        /// Bytes required for this frame (tag included).
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The destination is not 01:80:c2:00:00:00.
    #[error("not a BPDU: destination {dst} is not 01:80:c2:00:00:00")]
    NotBpduAddress {
        /// The destination found.
        dst: MacAddr,
    },
    /// Not the version-2, type-2 BPDU FSTP speaks (for example an 802.1D
    /// configuration BPDU, version 0 type 0); vde_switch ignores these.
    #[error("unsupported BPDU version {version} type {bpdu_type}: FSTP needs version 2 type 2")]
    Unsupported {
        /// Protocol version byte.
        version: u8,
        /// BPDU type byte.
        bpdu_type: u8,
    },
    /// The output buffer of [`Bpdu::emit`] is too small.
    #[error("buffer too small for a BPDU: need {needed} bytes, got {got}")]
    BufferTooSmall {
        /// [`Bpdu::buffer_len`].
        needed: usize,
        /// Length of the buffer given.
        got: usize,
    },
}

/// A bridge identifier: priority (big-endian on the wire) then MAC address.
///
/// The derived order is the order of the eight bytes, which is how
/// vde_switch compares ids (`memcmp`): lower is better.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BridgeId {
    /// Bridge priority (`--priority`, default [`BridgeId::DEFAULT_PRIORITY`]).
    pub priority: u16,
    /// The switch MAC address.
    pub mac: MacAddr,
}

impl BridgeId {
    /// vde_switch's default priority.
    pub const DEFAULT_PRIORITY: u16 = 0x8000;
    /// ff:ff:ff:ff:ff:ff:ff:ff, what vde_switch shows as the designated
    /// bridge of a root switch.
    pub const NONE: BridgeId = BridgeId {
        priority: 0xffff,
        mac: MacAddr::BROADCAST,
    };

    /// The eight bytes on the wire.
    pub fn to_bytes(self) -> [u8; 8] {
        let [p0, p1] = self.priority.to_be_bytes();
        let [m0, m1, m2, m3, m4, m5] = self.mac.octets();
        [p0, p1, m0, m1, m2, m3, m4, m5]
    }

    /// The id from its eight wire bytes.
    pub fn from_bytes(b: [u8; 8]) -> BridgeId {
        let [p0, p1, m0, m1, m2, m3, m4, m5] = b;
        BridgeId {
            priority: u16::from_be_bytes([p0, p1]),
            mac: MacAddr([m0, m1, m2, m3, m4, m5]),
        }
    }
}

impl fmt::Display for BridgeId {
    /// `80:00:00:ff:01:9c:ac:61`, as `fstp/print` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p0, p1] = self.priority.to_be_bytes();
        write!(f, "{p0:02x}:{p1:02x}:{}", self.mac)
    }
}

impl fmt::Debug for BridgeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The port id vde_switch sends for switch port `port`: `0x80 | (port >> 4)`
/// in the high byte, `port & 0xff` in the low one (a quirk: the two overlap
/// for ports ≥ 16, so distinct ports can share an id).
pub fn vde_port_id(port: u16) -> u16 {
    let hi = (0x80 | (port >> 4)) as u8;
    let lo = (port & 0xff) as u8;
    u16::from_be_bytes([hi, lo])
}

/// The flags byte, with vde_switch's meaning (`STP_FLAGS` in fstp.c; table in
/// spec/fstp.md §2), which differs from 802.1w's role encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BpduFlags(pub u8);

impl BpduFlags {
    /// Bit 0: topology change; the receiver flushes its MAC table for the
    /// VLAN and passes the change on.
    pub const TOPOLOGY_CHANGE: u8 = 0x01;
    /// Bit 1 (802.1w "proposal"): set by vde_switch when the port is a
    /// backup (blocked) port.
    pub const BACKUP: u8 = 0x02;
    /// Bit 2: set when the port is *not* a backup port.
    pub const NOT_BACKUP: u8 = 0x04;
    /// Bit 3: set when the port is *not* the sender's root port.
    pub const NOT_ROOT: u8 = 0x08;
    /// Bits 2-3: the "role" field; `0x04` means "this is my root port".
    pub const ROLE_MASK: u8 = 0x0c;
    /// Bit 4: learning.
    pub const LEARNING: u8 = 0x10;
    /// Bit 5: forwarding (set together with learning).
    pub const FORWARDING: u8 = 0x20;
    /// Bit 6: agreement (periodic hellos and the answer on a new root port).
    pub const AGREEMENT: u8 = 0x40;
    /// Bit 7: topology change ack (vde_switch never sets it).
    pub const TC_ACK: u8 = 0x80;

    /// The flags vde_switch computes for a port: `backup` (blocked),
    /// `root_port`, its status (`learning`, `forwarding`), agreement and
    /// topology change.
    pub fn compose(
        backup: bool,
        root_port: bool,
        learning: bool,
        forwarding: bool,
        agreement: bool,
        topology_change: bool,
    ) -> BpduFlags {
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        BpduFlags(
            bit(topology_change, Self::TOPOLOGY_CHANGE)
                | bit(backup, Self::BACKUP)
                | bit(!backup, Self::NOT_BACKUP)
                | bit(!root_port, Self::NOT_ROOT)
                | bit(learning || forwarding, Self::LEARNING)
                | bit(forwarding, Self::FORWARDING)
                | bit(agreement, Self::AGREEMENT),
        )
    }

    /// The sender says this link is its root port (`flags & 0x0c == 0x04`),
    /// the one role test vde_switch makes on receipt.
    pub fn sender_is_root_port(self) -> bool {
        self.0 & Self::ROLE_MASK == Self::NOT_BACKUP
    }

    /// The sender's port is forwarding.
    pub fn sender_forwarding(self) -> bool {
        self.0 & Self::FORWARDING != 0
    }

    /// The topology-change bit.
    pub fn topology_change(self) -> bool {
        self.0 & Self::TOPOLOGY_CHANGE != 0
    }

    /// The agreement bit.
    pub fn agreement(self) -> bool {
        self.0 & Self::AGREEMENT != 0
    }
}

impl fmt::Debug for BpduFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BpduFlags({:#04x})", self.0)
    }
}

/// A checked, borrowed view of a BPDU frame (whole Ethernet frame).
///
/// [`BpduFrame::new_checked`] verifies the destination and the length; the
/// accessors then never fail. Fields a 51- or 52-byte frame lacks (the high
/// byte of the forward delay, the version-1 length) read as zero.
#[derive(Debug, Clone)]
pub struct BpduFrame<T: AsRef<[u8]>> {
    buffer: T,
    /// 0 untagged, 4 tagged.
    shift: usize,
}

impl<T: AsRef<[u8]>> BpduFrame<T> {
    /// Check that `buffer` is long enough and addressed to
    /// 01:80:c2:00:00:00.
    pub fn new_checked(buffer: T) -> Result<BpduFrame<T>, BpduError> {
        let bytes = buffer.as_ref();
        let got = bytes.len();
        // Destination, source and the type/length field decide the rest.
        if got < field::LEN_OR_TYPE + 2 {
            return Err(BpduError::Truncated {
                needed: MIN_LEN,
                got,
            });
        }
        let dst = MacAddr::from_slice(bytes).unwrap_or_default();
        if dst != BPDU_DST {
            return Err(BpduError::NotBpduAddress { dst });
        }
        let tagged = read_be16(bytes, field::LEN_OR_TYPE) == TPID_8021Q;
        let shift = if tagged { 4 } else { 0 };
        let needed = MIN_LEN + shift;
        if got < needed {
            return Err(BpduError::Truncated { needed, got });
        }
        Ok(BpduFrame { buffer, shift })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn at(&self, offset: usize) -> usize {
        offset + self.shift
    }

    /// Destination address (always 01:80:c2:00:00:00 once checked).
    pub fn dst(&self) -> MacAddr {
        MacAddr::from_slice(self.bytes().get(field::DST).unwrap_or_default()).unwrap_or_default()
    }

    /// Source address (the sending switch's MAC).
    pub fn src(&self) -> MacAddr {
        MacAddr::from_slice(self.bytes().get(field::SRC).unwrap_or_default()).unwrap_or_default()
    }

    /// The 802.1Q VLAN id (12 bits) if the frame is tagged.
    pub fn vlan(&self) -> Option<u16> {
        (self.shift != 0).then(|| read_be16(self.bytes(), field::TCI) & 0x0fff)
    }

    /// The 802.3 length field (vde_switch sends 0x0027, never checks it).
    pub fn length_field(&self) -> u16 {
        read_be16(self.bytes(), self.at(field::LEN_OR_TYPE))
    }

    /// The three LLC bytes (vde_switch sends 42 42 03, never checks them).
    pub fn llc(&self) -> [u8; 3] {
        let b = self.bytes();
        let at = self.at(field::LLC);
        [byte(b, at), byte(b, at + 1), byte(b, at + 2)]
    }

    /// Protocol identifier (0).
    pub fn protocol(&self) -> u16 {
        read_be16(self.bytes(), self.at(field::PROTOCOL))
    }

    /// Protocol version (2 for FSTP).
    pub fn version(&self) -> u8 {
        byte(self.bytes(), self.at(field::VERSION))
    }

    /// BPDU type (2 for FSTP).
    pub fn bpdu_type(&self) -> u8 {
        byte(self.bytes(), self.at(field::TYPE))
    }

    /// Flags byte.
    pub fn flags(&self) -> BpduFlags {
        BpduFlags(byte(self.bytes(), self.at(field::FLAGS)))
    }

    /// Root bridge id.
    pub fn root(&self) -> BridgeId {
        read_id(self.bytes(), self.at(field::ROOT))
    }

    /// Root path cost of the sender (big-endian).
    pub fn root_cost(&self) -> u32 {
        let b = self.bytes();
        let at = self.at(field::ROOT_COST);
        u32::from_be_bytes([
            byte(b, at),
            byte(b, at + 1),
            byte(b, at + 2),
            byte(b, at + 3),
        ])
    }

    /// Sender's bridge id.
    pub fn bridge(&self) -> BridgeId {
        read_id(self.bytes(), self.at(field::BRIDGE))
    }

    /// Sender's port id (see [`vde_port_id`]).
    pub fn port_id(&self) -> u16 {
        read_be16(self.bytes(), self.at(field::PORT))
    }

    /// Message age, seconds (little-endian).
    pub fn message_age(&self) -> u16 {
        read_le16(self.bytes(), self.at(field::MESSAGE_AGE))
    }

    /// Max age, seconds (little-endian; vde_switch sends 40).
    pub fn max_age(&self) -> u16 {
        read_le16(self.bytes(), self.at(field::MAX_AGE))
    }

    /// Hello time, seconds (little-endian; vde_switch sends 4).
    pub fn hello_time(&self) -> u16 {
        read_le16(self.bytes(), self.at(field::HELLO))
    }

    /// Forward delay, seconds (little-endian; vde_switch sends 0).
    pub fn forward_delay(&self) -> u16 {
        read_le16(self.bytes(), self.at(field::FORWARD_DELAY))
    }

    /// Version-1 length byte (0).
    pub fn v1_len(&self) -> u8 {
        byte(self.bytes(), self.at(field::V1_LEN))
    }
}

/// An FSTP BPDU, owned, with everything vde_switch puts in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bpdu {
    /// Source MAC (the sending switch's).
    pub src: MacAddr,
    /// The 802.1Q VLAN id when the frame is tagged, `None` when untagged.
    /// Only the low 12 bits are emitted (priority and DEI are written as 0).
    pub vlan: Option<u16>,
    /// Flags byte.
    pub flags: BpduFlags,
    /// Root bridge id.
    pub root: BridgeId,
    /// Sender's root path cost.
    pub root_cost: u32,
    /// Sender's bridge id.
    pub bridge: BridgeId,
    /// Sender's port id ([`vde_port_id`]).
    pub port_id: u16,
    /// Message age, whole seconds.
    pub message_age: u16,
    /// Max age, whole seconds.
    pub max_age: u16,
    /// Hello time, whole seconds.
    pub hello_time: u16,
    /// Forward delay, whole seconds.
    pub forward_delay: u16,
}

impl Bpdu {
    /// Parse a frame as vde_switch would accept it (see the module docs).
    pub fn parse(buffer: &[u8]) -> Result<Bpdu, BpduError> {
        let frame = BpduFrame::new_checked(buffer)?;
        Bpdu::parse_frame(&frame)
    }

    /// Parse an already checked view: refuses anything but version 2, type 2.
    pub fn parse_frame<T: AsRef<[u8]>>(frame: &BpduFrame<T>) -> Result<Bpdu, BpduError> {
        if frame.version() != VERSION || frame.bpdu_type() != BPDU_TYPE {
            return Err(BpduError::Unsupported {
                version: frame.version(),
                bpdu_type: frame.bpdu_type(),
            });
        }
        Ok(Bpdu {
            src: frame.src(),
            vlan: frame.vlan(),
            flags: frame.flags(),
            root: frame.root(),
            root_cost: frame.root_cost(),
            bridge: frame.bridge(),
            port_id: frame.port_id(),
            message_age: frame.message_age(),
            max_age: frame.max_age(),
            hello_time: frame.hello_time(),
            forward_delay: frame.forward_delay(),
        })
    }

    /// Bytes [`Bpdu::emit`] writes: 53, or 57 when tagged.
    pub fn buffer_len(&self) -> usize {
        if self.vlan.is_some() {
            TAGGED_LEN
        } else {
            UNTAGGED_LEN
        }
    }

    /// Write the frame into the first [`Bpdu::buffer_len`] bytes of `buf`,
    /// byte for byte as vde_switch would.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), BpduError> {
        let needed = self.buffer_len();
        let got = buf.len();
        let out = buf
            .get_mut(..needed)
            .ok_or(BpduError::BufferTooSmall { needed, got })?;
        let mut w = Writer { out, at: 0 };
        w.put(&BPDU_DST.octets());
        w.put(&self.src.octets());
        if let Some(vid) = self.vlan {
            w.put(&TPID_8021Q.to_be_bytes());
            w.put(&(vid & 0x0fff).to_be_bytes());
        }
        w.put(&LLC_PAYLOAD_LEN.to_be_bytes());
        w.put(&LLC);
        w.put(&[0, 0, VERSION, BPDU_TYPE, self.flags.0]);
        w.put(&self.root.to_bytes());
        w.put(&self.root_cost.to_be_bytes());
        w.put(&self.bridge.to_bytes());
        w.put(&self.port_id.to_be_bytes());
        w.put(&self.message_age.to_le_bytes());
        w.put(&self.max_age.to_le_bytes());
        w.put(&self.hello_time.to_le_bytes());
        w.put(&self.forward_delay.to_le_bytes());
        w.put(&[0]);
        Ok(())
    }

    /// The frame in a new vector (BPDUs are rare; this is not the hot path).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.buffer_len()];
        // The vector has exactly buffer_len() bytes, so emit cannot fail.
        let _ = self.emit(&mut v);
        v
    }
}

/// Sequential writer over a buffer already checked to be long enough.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        if let Some(dst) = self.out.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
    }
}

fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

fn read_be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([byte(b, at), byte(b, at + 1)])
}

fn read_le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([byte(b, at), byte(b, at + 1)])
}

fn read_id(b: &[u8], at: usize) -> BridgeId {
    let mut id = [0u8; 8];
    for (i, slot) in id.iter_mut().enumerate() {
        *slot = byte(b, at + i);
    }
    BridgeId::from_bytes(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first BPDU of a real vde_switch 2.3.2 (MAC 00:ff:01:9c:ac:61) on
    /// its untagged port 1, captured by spec/fstp.md §2.
    const CAPTURED: [u8; 53] = [
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x00, // dst
        0x00, 0xff, 0x01, 0x9c, 0xac, 0x61, // src
        0x00, 0x27, // 802.3 length
        0x42, 0x42, 0x03, // LLC
        0x00, 0x00, 0x02, 0x02, 0x3c, // protocol, version, type, flags
        0x80, 0x00, 0x00, 0xff, 0x01, 0x9c, 0xac, 0x61, // root
        0x00, 0x00, 0x00, 0x00, // cost
        0x80, 0x00, 0x00, 0xff, 0x01, 0x9c, 0xac, 0x61, // bridge
        0x80, 0x01, // port
        0x00, 0x00, 0x28, 0x00, 0x04, 0x00, 0x00, 0x00, // age, max, hello, fwd
        0x00, // v1 len
    ];

    fn mac() -> MacAddr {
        MacAddr([0x00, 0xff, 0x01, 0x9c, 0xac, 0x61])
    }

    fn captured_repr() -> Bpdu {
        let id = BridgeId {
            priority: 0x8000,
            mac: mac(),
        };
        Bpdu {
            src: mac(),
            vlan: None,
            flags: BpduFlags(0x3c),
            root: id,
            root_cost: 0,
            bridge: id,
            port_id: vde_port_id(1),
            message_age: 0,
            max_age: 40,
            hello_time: 4,
            forward_delay: 0,
        }
    }

    #[test]
    fn parses_the_captured_bpdu() {
        let b = Bpdu::parse(&CAPTURED).unwrap();
        assert_eq!(b, captured_repr());
        let flags = b.flags;
        assert!(!flags.sender_is_root_port());
        assert!(flags.sender_forwarding());
        assert!(!flags.topology_change());
        assert_eq!(b.root.to_string(), "80:00:00:ff:01:9c:ac:61");
    }

    #[test]
    fn emits_the_captured_bytes() {
        assert_eq!(captured_repr().to_vec(), CAPTURED.to_vec());
        // Designated + forwarding, no agreement: the first BPDU's flags.
        assert_eq!(
            BpduFlags::compose(false, false, true, true, false, false).0,
            0x3c
        );
        // The same with agreement: the periodic hello's flags.
        assert_eq!(
            BpduFlags::compose(false, false, true, true, true, false).0,
            0x7c
        );
    }

    #[test]
    fn tagged_frame_inserts_the_tag_after_the_source() {
        let mut repr = captured_repr();
        repr.vlan = Some(0x123);
        let bytes = repr.to_vec();
        assert_eq!(bytes.len(), TAGGED_LEN);
        assert_eq!(&bytes[12..18], &[0x81, 0x00, 0x01, 0x23, 0x00, 0x27]);
        assert_eq!(&bytes[18..], &CAPTURED[14..]);
        assert_eq!(Bpdu::parse(&bytes).unwrap(), repr);
    }

    #[test]
    fn tag_priority_bits_are_ignored() {
        let mut repr = captured_repr();
        repr.vlan = Some(7);
        let mut bytes = repr.to_vec();
        bytes[14] |= 0xe0; // PCP 7
        assert_eq!(Bpdu::parse(&bytes).unwrap().vlan, Some(7));
    }

    #[test]
    fn port_id_quirk() {
        assert_eq!(vde_port_id(1), 0x8001);
        assert_eq!(vde_port_id(0x23), 0x8223);
        // port 0x123: high byte 0x80|0x12, low byte 0x23.
        assert_eq!(vde_port_id(0x123), 0x9223);
    }

    #[test]
    fn timers_are_little_endian_seconds() {
        let mut repr = captured_repr();
        repr.message_age = 0x0102;
        let bytes = repr.to_vec();
        assert_eq!(&bytes[44..46], &[0x02, 0x01]);
    }

    #[test]
    fn accepts_51_bytes_like_vde_switch() {
        let b = Bpdu::parse(&CAPTURED[..51]).unwrap();
        assert_eq!(b, captured_repr());
        let err = Bpdu::parse(&CAPTURED[..50]).unwrap_err();
        assert_eq!(
            err,
            BpduError::Truncated {
                needed: 51,
                got: 50
            }
        );
        let err = Bpdu::parse(&CAPTURED[..3]).unwrap_err();
        assert_eq!(err, BpduError::Truncated { needed: 51, got: 3 });
    }

    #[test]
    fn tagged_frames_need_four_more_bytes() {
        let mut repr = captured_repr();
        repr.vlan = Some(1);
        let bytes = repr.to_vec();
        assert!(Bpdu::parse(&bytes[..55]).is_ok());
        assert_eq!(
            Bpdu::parse(&bytes[..54]).unwrap_err(),
            BpduError::Truncated {
                needed: 55,
                got: 54
            }
        );
    }

    #[test]
    fn refuses_other_versions_and_addresses() {
        let mut v0 = CAPTURED;
        v0[19] = 0;
        v0[20] = 0;
        assert_eq!(
            Bpdu::parse(&v0).unwrap_err(),
            BpduError::Unsupported {
                version: 0,
                bpdu_type: 0
            }
        );
        let mut other = CAPTURED;
        other[5] = 0x0e; // LLDP
        assert!(matches!(
            Bpdu::parse(&other),
            Err(BpduError::NotBpduAddress { .. })
        ));
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        let mut buf = [0u8; 52];
        assert_eq!(
            captured_repr().emit(&mut buf).unwrap_err(),
            BpduError::BufferTooSmall {
                needed: 53,
                got: 52
            }
        );
    }

    #[test]
    fn llc_and_padding_are_not_checked_but_normalised() {
        let mut odd = CAPTURED.to_vec();
        odd[14] = 0xaa; // not the STP SAP
        odd.extend_from_slice(&[0xee; 7]); // padded to 60
        let b = Bpdu::parse(&odd).unwrap();
        let again = Bpdu::parse(&b.to_vec()).unwrap();
        assert_eq!(b, again);
        assert_eq!(b.to_vec(), CAPTURED.to_vec());
    }

    #[test]
    fn view_exposes_every_field() {
        let f = BpduFrame::new_checked(&CAPTURED[..]).unwrap();
        assert_eq!(f.dst(), BPDU_DST);
        assert_eq!(f.length_field(), 0x27);
        assert_eq!(f.llc(), [0x42, 0x42, 0x03]);
        assert_eq!(f.protocol(), 0);
        assert_eq!((f.version(), f.bpdu_type()), (2, 2));
        assert_eq!(
            (f.max_age(), f.hello_time(), f.forward_delay(), f.v1_len()),
            (40, 4, 0, 0)
        );
        assert_eq!(f.vlan(), None);
        assert_eq!(f.into_inner().len(), 53);
    }
}
