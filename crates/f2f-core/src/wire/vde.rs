//! The control handshake of `vde_switch`: the request a client writes on
//! `DIR/ctl` and the reply naming the switch's data socket for that client
//! (spec/vde-protocol.md §2.1–§2.3).
//!
//! This module owns the byte layout of `struct request_v3` (packed,
//! little-endian: magic, version, type word, the client's `sockaddr_un`, then a
//! description up to the end of the record) and of the reply (a bare 110-byte
//! `sockaddr_un`). It decides nothing: which port to allocate, whether the
//! client's socket is accessible, and what to do with a bad request are the
//! switch's and the shell's business. A bad request is an error here; what
//! `vde_switch` does with it (close the control stream) is in §2.5.
//!
//! Invariants:
//! - [`RequestPacket::new_checked`] accepts only records of 122..=256 bytes
//!   with the VDE magic and version 3; its accessors cannot fail afterwards.
//! - Every [`Request`] and [`Reply`] that `parse` returns emits bytes that parse
//!   back to an equal value (parse → emit → parse is the identity).
//! - Nothing here panics or allocates more than the record's own size, whatever
//!   the bytes.
//!
//! Only version 3 is spoken. `vde_switch` 2.3.2 still accepts the pre-v3 "v1"
//! layout (magic, type, MAC, `sockaddr_un`, description; it takes a word of 0
//! or 1 at offset 4 to mean v1), but no client in use sends it: libvdeplug4 and
//! vde2's libvdeplug both send version 3 (§2.2, §2.6). Versions 0 and 1 are
//! therefore refused with [`RequestError::UnsupportedVersion`] like any other.

use core::ops::Range;

/// First word of every request: `0xfeedface`, bytes `ce fa ed fe` (§2.2).
pub const MAGIC: u32 = 0xfeed_face;

/// The only request version spoken (§2.2).
pub const VERSION: u32 = 3;

/// Bytes of a request before its description: magic, version, type word and
/// the client's `sockaddr_un` (§2.2).
pub const REQUEST_HEADER_LEN: usize = 122;

/// Size of a Linux `struct sockaddr_un`, and so of the switch's reply (§2.3).
pub const SOCKADDR_LEN: usize = 110;

/// `vde_switch` reads a request with a single `read(fd, buf, 256)` (§2.1 step 2),
/// so no request is longer.
pub const MAX_REQUEST_LEN: usize = 256;

/// The longest description a request can carry: 256 − 122 = 134 bytes (§2.1).
pub const MAX_DESCRIPTION_LEN: usize = MAX_REQUEST_LEN - REQUEST_HEADER_LEN;

/// `AF_UNIX`, the only address family in a `sockaddr_un` (§2.2).
pub const AF_UNIX: u16 = 1;

/// Size of `sun_path` in a Linux `sockaddr_un`.
pub const SUN_PATH_LEN: usize = SOCKADDR_LEN - 2;

/// The longest path a [`Reply`] carries: `sun_path` keeps room for a NUL
/// terminator, as `vde_switch` writes it with `snprintf` (§2.3).
pub const MAX_REPLY_PATH_LEN: usize = SUN_PATH_LEN - 1;

/// The largest port number the type word can carry (bits 8..31, §2.2).
pub const MAX_PORT: u32 = 0x00ff_ffff;

/// What a client asks for: the low byte of the type word (§2.2, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `REQ_NEW_CONTROL` (0): attach to the requested port, or to the lowest
    /// free one when the port is 0.
    NewControl,
    /// `REQ_NEW_PORT0` (1): attach to port 0, meant for management clients
    /// (libvdeplug sends it for the port string `"0"`).
    NewPort0,
}

impl RequestKind {
    /// The kind for a type-word low byte, if it is one `vde_switch` knows.
    pub const fn from_code(code: u8) -> Option<RequestKind> {
        match code {
            0 => Some(RequestKind::NewControl),
            1 => Some(RequestKind::NewPort0),
            _ => None,
        }
    }

    /// The type-word low byte for this kind.
    pub const fn code(self) -> u8 {
        match self {
            RequestKind::NewControl => 0,
            RequestKind::NewPort0 => 1,
        }
    }
}

/// Why a control record was refused. Every variant makes `vde_switch` close
/// the control stream (§2.5); the text says what was wrong for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The record is shorter than its fixed part (122 bytes for a request, 110
    /// for a reply). `vde_switch` parses a request from one read, so a request
    /// split over two writes arrives truncated (§2.1).
    #[error("truncated VDE control record: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the fixed part needs.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The first word is not [`MAGIC`]: the peer does not speak VDE (the switch
    /// logs "V0 request not supported").
    #[error("bad magic {found:#010x} (expected 0xfeedface): not a VDE client")]
    BadMagic {
        /// The little-endian word found at offset 0.
        found: u32,
    },
    /// A version other than 3, including the obsolete v1 layout (0 or 1).
    #[error("request for a version {version} port: only version 3 is supported")]
    UnsupportedVersion {
        /// The little-endian word found at offset 4.
        version: u32,
    },
    /// The type word's low byte is neither `REQ_NEW_CONTROL` (0) nor
    /// `REQ_NEW_PORT0` (1).
    #[error("bad request type {kind} (expected 0, new port, or 1, port 0)")]
    BadKind {
        /// The low byte of the type word.
        kind: u8,
    },
    /// The `sockaddr_un` does not say `AF_UNIX` (1).
    #[error("bad socket address family {family} (expected 1, AF_UNIX)")]
    BadFamily {
        /// The little-endian `sun_family` found.
        family: u16,
    },
    /// `sun_path` starts with a NUL: an unnamed or abstract socket, which the
    /// switch cannot check with `access()` or `chmod` (§2.1 step 3).
    #[error("empty socket path in sockaddr_un (unnamed and abstract sockets are not supported)")]
    EmptyPath,
    /// The record is longer than its format allows: a request longer than
    /// [`MAX_REQUEST_LEN`] (which `vde_switch` would never have read whole), or
    /// a reply longer than [`SOCKADDR_LEN`].
    #[error(
        "VDE control record of {len} bytes is too long \
         (a request is at most 256 bytes, a reply exactly 110)"
    )]
    TooLong {
        /// Bytes there were.
        len: usize,
    },
    /// A socket path that does not fit a reply's `sun_path` with its NUL
    /// terminator (only [`Reply::new`] and [`Reply::parse`] refuse this).
    #[error("socket path of {len} bytes does not fit in sockaddr_un (at most {max} bytes)")]
    PathTooLong {
        /// Bytes in the path.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// A socket path with a NUL byte inside: it would be cut short on the wire.
    #[error("socket path contains a NUL byte at offset {offset}")]
    NulInPath {
        /// Index of the first NUL in the path.
        offset: usize,
    },
}

/// A checked view of a version-3 control request over borrowed bytes.
///
/// [`new_checked`](RequestPacket::new_checked) validates the length, magic
/// and version once; the accessors then read fields without failing. Field
/// meaning is left to [`Request::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RequestPacket<T> {
    /// Checks that `buffer` holds a whole version-3 request.
    ///
    /// Checked in this order, so that a stranger on the socket gets the most
    /// telling error: length at most [`MAX_REQUEST_LEN`], then the magic and
    /// the version as far as the bytes reach, then length at least
    /// [`REQUEST_HEADER_LEN`].
    pub fn new_checked(buffer: T) -> Result<RequestPacket<T>, RequestError> {
        let bytes = buffer.as_ref();
        let len = bytes.len();
        if len > MAX_REQUEST_LEN {
            return Err(RequestError::TooLong { len });
        }
        if let Some(found) = le_u32(bytes, field::MAGIC) {
            if found != MAGIC {
                return Err(RequestError::BadMagic { found });
            }
        }
        if let Some(version) = le_u32(bytes, field::VERSION) {
            if version != VERSION {
                return Err(RequestError::UnsupportedVersion { version });
            }
        }
        if len < REQUEST_HEADER_LEN {
            return Err(RequestError::Truncated {
                needed: REQUEST_HEADER_LEN,
                got: len,
            });
        }
        Ok(RequestPacket { buffer })
    }

    /// The bytes the view was made over.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The magic word ([`MAGIC`] once checked).
    pub fn magic(&self) -> u32 {
        le_u32(self.buffer.as_ref(), field::MAGIC).unwrap_or_default()
    }

    /// The version word ([`VERSION`] once checked).
    pub fn version(&self) -> u32 {
        le_u32(self.buffer.as_ref(), field::VERSION).unwrap_or_default()
    }

    /// The whole type word: kind in the low byte, port above it.
    pub fn type_word(&self) -> u32 {
        le_u32(self.buffer.as_ref(), field::TYPE).unwrap_or_default()
    }

    /// The low byte of the type word: 0 `REQ_NEW_CONTROL`, 1 `REQ_NEW_PORT0`.
    pub fn kind_code(&self) -> u8 {
        self.type_word().to_le_bytes()[0]
    }

    /// The requested port, bits 8..31 of the type word (0 = any free port).
    pub fn port(&self) -> u32 {
        self.type_word() >> 8
    }

    /// The `sun_family` of the client's address (1 = `AF_UNIX`).
    pub fn family(&self) -> u16 {
        self.sockaddr().map(sockaddr_family).unwrap_or_default()
    }

    /// All 108 bytes of the client's `sun_path`, NUL padding included.
    pub fn sun_path(&self) -> &[u8] {
        self.sockaddr().map(sockaddr_path).unwrap_or_default()
    }

    /// The client's socket path: `sun_path` up to its first NUL.
    pub fn sock_path(&self) -> &[u8] {
        until_nul(self.sun_path())
    }

    /// The raw description: every byte after the header, as sent.
    pub fn description(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::DESCRIPTION..)
            .unwrap_or_default()
    }

    fn sockaddr(&self) -> Option<&[u8]> {
        self.buffer.as_ref().get(field::SOCKADDR)
    }
}

/// A version-3 control request, decoded (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// What the client asks for.
    pub kind: RequestKind,
    /// The requested port; 0 asks for any free port. `vde_switch` ignores it
    /// for [`RequestKind::NewPort0`]. At most [`MAX_PORT`].
    pub port: u32,
    /// The client's datagram socket path: `sun_path` bytes before the first
    /// NUL. Not empty, at most [`SUN_PATH_LEN`] bytes.
    pub sock_path: Vec<u8>,
    /// The free-text description shown by `port/print`: the bytes up to the
    /// first NUL (the switch treats them as a C string), decoded as lossy UTF-8,
    /// cut to at most [`MAX_DESCRIPTION_LEN`] bytes at a character boundary, with
    /// trailing whitespace trimmed.
    pub description: String,
}

impl Request {
    /// Decodes a request from the bytes of one read on the control socket.
    pub fn parse(buf: &[u8]) -> Result<Request, RequestError> {
        let packet = RequestPacket::new_checked(buf)?;
        let code = packet.kind_code();
        let kind = RequestKind::from_code(code).ok_or(RequestError::BadKind { kind: code })?;
        let family = packet.family();
        if family != AF_UNIX {
            return Err(RequestError::BadFamily { family });
        }
        let sock_path = packet.sock_path();
        if sock_path.is_empty() {
            return Err(RequestError::EmptyPath);
        }
        Ok(Request {
            kind,
            port: packet.port(),
            sock_path: sock_path.to_vec(),
            description: description_text(packet.description()),
        })
    }

    /// Bytes [`emit`](Request::emit) appends: the header plus the description.
    pub fn buffer_len(&self) -> usize {
        REQUEST_HEADER_LEN + self.description.len()
    }

    /// Appends the request to `out`, as libvdeplug sends it: no NUL after the
    /// description (§2.1 step 6).
    ///
    /// Fields outside what [`parse`](Request::parse) can return are written as
    /// far as the format carries them and never panic: a port above
    /// [`MAX_PORT`] loses its high bits, a path longer than [`SUN_PATH_LEN`] is
    /// cut there, and a description longer than [`MAX_DESCRIPTION_LEN`] is
    /// written whole (the switch would read only 256 bytes of the record).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.buffer_len(), 0);
        let Some(record) = out.get_mut(start..) else {
            return;
        };
        let type_word = u32::from(self.kind.code()) | ((self.port & MAX_PORT) << 8);
        put(record, field::MAGIC, &MAGIC.to_le_bytes());
        put(record, field::VERSION, &VERSION.to_le_bytes());
        put(record, field::TYPE, &type_word.to_le_bytes());
        if let Some(sockaddr) = record.get_mut(field::SOCKADDR) {
            write_sockaddr(sockaddr, &self.sock_path);
        }
        if let Some(description) = record.get_mut(field::DESCRIPTION..) {
            put(
                description,
                0..description.len(),
                self.description.as_bytes(),
            );
        }
    }
}

/// The switch's reply to an accepted request: the `sockaddr_un` of the
/// datagram socket it made for this client, `DIR/NNN.F` (§2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    /// Path of the switch's data socket for the client, without NUL padding.
    /// Not empty, no NUL, at most [`MAX_REPLY_PATH_LEN`] bytes; use
    /// [`Reply::new`] to have that checked.
    pub sock_path: Vec<u8>,
}

impl Reply {
    /// A reply naming `sock_path`, refused if it cannot be sent whole: empty,
    /// containing a NUL, or longer than [`MAX_REPLY_PATH_LEN`] bytes.
    pub fn new(sock_path: impl Into<Vec<u8>>) -> Result<Reply, RequestError> {
        let sock_path = sock_path.into();
        check_reply_path(&sock_path)?;
        Ok(Reply { sock_path })
    }

    /// Decodes the 110 bytes a client receives after its request.
    pub fn parse(buf: &[u8]) -> Result<Reply, RequestError> {
        let len = buf.len();
        if len < SOCKADDR_LEN {
            return Err(RequestError::Truncated {
                needed: SOCKADDR_LEN,
                got: len,
            });
        }
        if len > SOCKADDR_LEN {
            return Err(RequestError::TooLong { len });
        }
        let family = sockaddr_family(buf);
        if family != AF_UNIX {
            return Err(RequestError::BadFamily { family });
        }
        let sock_path = until_nul(sockaddr_path(buf));
        check_reply_path(sock_path)?;
        Ok(Reply {
            sock_path: sock_path.to_vec(),
        })
    }

    /// The 110 bytes to write back on the control stream: `AF_UNIX` and the
    /// NUL-padded path (§2.3).
    ///
    /// A path set directly to something [`Reply::new`] refuses is written up
    /// to its first NUL and cut to [`MAX_REPLY_PATH_LEN`] bytes, never past the
    /// record; build replies with `new` so that this cannot happen.
    pub fn emit(&self) -> [u8; SOCKADDR_LEN] {
        let mut out = [0; SOCKADDR_LEN];
        let path = until_nul(&self.sock_path);
        let path = path.get(..MAX_REPLY_PATH_LEN).unwrap_or(path);
        write_sockaddr(&mut out, path);
        out
    }
}

/// Field offsets of `struct request_v3` and `struct sockaddr_un` (§2.2).
mod field {
    use core::ops::Range;

    /// `magic`, u32 LE.
    pub const MAGIC: Range<usize> = 0..4;
    /// `version`, u32 LE.
    pub const VERSION: Range<usize> = 4..8;
    /// `type`, u32 LE: kind in bits 0..7, port in bits 8..31.
    pub const TYPE: Range<usize> = 8..12;
    /// The client's `struct sockaddr_un`.
    pub const SOCKADDR: Range<usize> = 12..122;
    /// Start of the description, which runs to the end of the record.
    pub const DESCRIPTION: usize = 122;

    /// `sun_family`, u16 LE, inside a `sockaddr_un`.
    pub const FAMILY: Range<usize> = 0..2;
    /// `sun_path`, 108 bytes NUL padded, inside a `sockaddr_un`.
    pub const PATH: Range<usize> = 2..110;
}

/// The little-endian u32 at `at`, if the bytes reach that far.
fn le_u32(bytes: &[u8], at: Range<usize>) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

/// `sun_family` of a `sockaddr_un` (0 if the bytes are too short).
fn sockaddr_family(sockaddr: &[u8]) -> u16 {
    sockaddr
        .get(field::FAMILY)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map_or(0, u16::from_le_bytes)
}

/// `sun_path` of a `sockaddr_un`, all 108 bytes (empty if too short).
fn sockaddr_path(sockaddr: &[u8]) -> &[u8] {
    sockaddr.get(field::PATH).unwrap_or_default()
}

/// Writes `AF_UNIX` and `path` (NUL padded, cut to `sun_path`) into a
/// `sockaddr_un` buffer that is already zeroed.
fn write_sockaddr(sockaddr: &mut [u8], path: &[u8]) {
    put(sockaddr, field::FAMILY, &AF_UNIX.to_le_bytes());
    let path = path.get(..SUN_PATH_LEN).unwrap_or(path);
    put(
        sockaddr,
        field::PATH.start..field::PATH.start + path.len(),
        path,
    );
}

/// Copies `value` into `bytes[at]` when both have the same length; otherwise
/// leaves `bytes` alone. Callers size `at` from `value`.
fn put(bytes: &mut [u8], at: Range<usize>, value: &[u8]) {
    if let Some(dst) = bytes.get_mut(at) {
        if dst.len() == value.len() {
            dst.copy_from_slice(value);
        }
    }
}

/// `bytes` up to (not including) the first NUL, or all of it.
fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or(bytes)
}

/// The description as `port/print` shows it; see [`Request::description`].
///
/// Cutting to [`MAX_DESCRIPTION_LEN`] bytes matters only for invalid UTF-8:
/// each bad byte becomes a 3-byte U+FFFD, and without the cut the emitted
/// request could outgrow [`MAX_REQUEST_LEN`] and fail to parse again.
fn description_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(until_nul(raw));
    let mut end = text.len().min(MAX_DESCRIPTION_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().trim_end().to_owned()
}

/// Checks the invariants of [`Reply::sock_path`].
fn check_reply_path(path: &[u8]) -> Result<(), RequestError> {
    if path.is_empty() {
        return Err(RequestError::EmptyPath);
    }
    if let Some(offset) = path.iter().position(|&b| b == 0) {
        return Err(RequestError::NulInPath { offset });
    }
    if path.len() > MAX_REPLY_PATH_LEN {
        return Err(RequestError::PathTooLong {
            len: path.len(),
            max: MAX_REPLY_PATH_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from a hex dump; whitespace between bytes is ignored.
    fn hex(dump: &str) -> Vec<u8> {
        let digits: String = dump.split_whitespace().collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The request of spec/vde-protocol.md §4, captured with strace from
    /// `vde_plug -D plug1descr vde:///tmp/specA_x/sw1`.
    fn fixture_request() -> Vec<u8> {
        hex(concat!(
            "ce fa ed fe 03 00 00 00 00 00 00 00 01 00 2f 74",
            "6d 70 2f 73 70 65 63 41 5f 78 2f 73 77 31 2f 2e",
            "30 35 34 31 30 2d 30 30 30 30 30 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 70 6c 75 67 31 64",
            "65 73 63 72 20 75 73 65 72 3d 72 6f 6f 74 20 70",
            "69 64 3d 35 34 31 30",
        ))
    }

    /// The switch's 110-byte reply to [`fixture_request`] (§4).
    fn fixture_reply() -> Vec<u8> {
        hex(concat!(
            "01 00 2f 74 6d 70 2f 73 70 65 63 41 5f 78 2f 73",
            "77 31 2f 30 30 31 2e 36 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ))
    }

    fn fixture_repr() -> Request {
        Request {
            kind: RequestKind::NewControl,
            port: 0,
            sock_path: b"/tmp/specA_x/sw1/.05410-00000".to_vec(),
            description: "plug1descr user=root pid=5410".into(),
        }
    }

    fn emitted(request: &Request) -> Vec<u8> {
        let mut out = Vec::new();
        request.emit(&mut out);
        out
    }

    /// A fixture request with `edit` applied to its bytes.
    fn edited(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut bytes = fixture_request();
        edit(&mut bytes);
        bytes
    }

    #[test]
    fn fixture_request_is_151_bytes() {
        assert_eq!(fixture_request().len(), 151);
        assert_eq!(fixture_reply().len(), SOCKADDR_LEN);
    }

    #[test]
    fn packet_reads_fixture_fields() {
        let bytes = fixture_request();
        let packet = RequestPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.magic(), MAGIC);
        assert_eq!(packet.version(), VERSION);
        assert_eq!(packet.type_word(), 0);
        assert_eq!(packet.kind_code(), 0);
        assert_eq!(packet.port(), 0);
        assert_eq!(packet.family(), AF_UNIX);
        assert_eq!(packet.sun_path().len(), SUN_PATH_LEN);
        assert_eq!(packet.sock_path(), b"/tmp/specA_x/sw1/.05410-00000");
        assert_eq!(packet.description(), b"plug1descr user=root pid=5410");
        assert_eq!(packet.into_inner(), &bytes[..]);
    }

    #[test]
    fn parses_fixture_request() {
        assert_eq!(Request::parse(&fixture_request()), Ok(fixture_repr()));
    }

    #[test]
    fn emits_fixture_request_byte_exact() {
        let repr = fixture_repr();
        assert_eq!(repr.buffer_len(), 151);
        assert_eq!(emitted(&repr), fixture_request());
    }

    #[test]
    fn emit_appends() {
        let mut out = b"xy".to_vec();
        fixture_repr().emit(&mut out);
        assert_eq!(&out[..2], b"xy");
        assert_eq!(&out[2..], &fixture_request()[..]);
    }

    #[test]
    fn port_and_kind_share_the_type_word() {
        // vde:///dir[5] → type = 0 | 5 << 8 (§2.4).
        let bytes = edited(|b| b[8..12].copy_from_slice(&[0x00, 0x05, 0x00, 0x00]));
        let request = Request::parse(&bytes).unwrap();
        assert_eq!((request.kind, request.port), (RequestKind::NewControl, 5));
        assert_eq!(emitted(&request), bytes);

        // Port string "0" → REQ_NEW_PORT0, type = 1.
        let bytes = edited(|b| b[8] = 1);
        let request = Request::parse(&bytes).unwrap();
        assert_eq!((request.kind, request.port), (RequestKind::NewPort0, 0));

        let largest = edited(|b| b[8..12].copy_from_slice(&[0x00, 0xff, 0xff, 0xff]));
        assert_eq!(Request::parse(&largest).unwrap().port, MAX_PORT);
    }

    #[test]
    fn emit_masks_port_to_24_bits() {
        let request = Request {
            port: 0x0100_0007,
            ..fixture_repr()
        };
        assert_eq!(Request::parse(&emitted(&request)).unwrap().port, 7);
    }

    #[test]
    fn parses_and_emits_fixture_reply() {
        let reply = Reply::parse(&fixture_reply()).unwrap();
        assert_eq!(reply.sock_path, b"/tmp/specA_x/sw1/001.6");
        assert_eq!(reply.emit().to_vec(), fixture_reply());
        assert_eq!(Reply::new(&b"/tmp/specA_x/sw1/001.6"[..]), Ok(reply));
    }

    #[test]
    fn request_errors() {
        use RequestError::*;
        let cases: Vec<(Vec<u8>, RequestError)> = vec![
            (
                Vec::new(),
                Truncated {
                    needed: 122,
                    got: 0,
                },
            ),
            (
                fixture_request()[..121].to_vec(),
                Truncated {
                    needed: 122,
                    got: 121,
                },
            ),
            (
                fixture_request()[..6].to_vec(),
                Truncated {
                    needed: 122,
                    got: 6,
                },
            ),
            (edited(|b| b.reverse()), BadMagic { found: 0x3534_3130 }),
            // A big-endian client would send the magic byte-swapped.
            (
                edited(|b| b[..4].copy_from_slice(&MAGIC.to_be_bytes())),
                BadMagic { found: 0xcefa_edfe },
            ),
            (b"hello\n".to_vec(), BadMagic { found: 0x6c6c_6568 }),
            (edited(|b| b[4] = 1), UnsupportedVersion { version: 1 }),
            (edited(|b| b[4] = 0), UnsupportedVersion { version: 0 }),
            (edited(|b| b[4] = 2), UnsupportedVersion { version: 2 }),
            (
                edited(|b| b[4..8].copy_from_slice(&[4, 0, 0, 0])),
                UnsupportedVersion { version: 4 },
            ),
            (
                fixture_request()[..7].iter().copied().chain([9]).collect(),
                UnsupportedVersion {
                    version: 0x0900_0003,
                },
            ),
            (edited(|b| b[8] = 2), BadKind { kind: 2 }),
            (edited(|b| b[8] = 0xff), BadKind { kind: 0xff }),
            (edited(|b| b[12] = 2), BadFamily { family: 2 }),
            (
                edited(|b| b[12..14].copy_from_slice(&[0x01, 0x01])),
                BadFamily { family: 0x0101 },
            ),
            (edited(|b| b[14] = 0), EmptyPath),
            (edited(|b| b.resize(257, b'x')), TooLong { len: 257 }),
            (vec![0; 4096], TooLong { len: 4096 }),
        ];
        for (bytes, error) in cases {
            assert_eq!(Request::parse(&bytes), Err(error), "{bytes:02x?}");
        }
    }

    #[test]
    fn reply_errors() {
        use RequestError::*;
        let mut long_path = fixture_reply();
        long_path[2..].fill(b'a');
        let cases: Vec<(Vec<u8>, RequestError)> = vec![
            (
                Vec::new(),
                Truncated {
                    needed: 110,
                    got: 0,
                },
            ),
            (
                fixture_reply()[..109].to_vec(),
                Truncated {
                    needed: 110,
                    got: 109,
                },
            ),
            ([fixture_reply(), vec![0]].concat(), TooLong { len: 111 }),
            (
                [[2, 0].as_slice(), &fixture_reply()[2..]].concat(),
                BadFamily { family: 2 },
            ),
            ([[1, 0].as_slice(), &[0; 108]].concat(), EmptyPath),
            (long_path, PathTooLong { len: 108, max: 107 }),
        ];
        for (bytes, error) in cases {
            assert_eq!(Reply::parse(&bytes), Err(error), "{bytes:02x?}");
        }
    }

    #[test]
    fn reply_new_refuses_what_cannot_be_sent() {
        assert_eq!(Reply::new(Vec::new()), Err(RequestError::EmptyPath));
        assert_eq!(
            Reply::new(vec![b'a'; 108]),
            Err(RequestError::PathTooLong { len: 108, max: 107 })
        );
        assert_eq!(
            Reply::new(&b"/a\0b"[..]),
            Err(RequestError::NulInPath { offset: 2 })
        );

        let longest = Reply::new(vec![b'a'; 107]).unwrap();
        let bytes = longest.emit();
        assert_eq!(bytes[109], 0, "room is kept for the NUL terminator");
        assert_eq!(Reply::parse(&bytes), Ok(longest));
    }

    #[test]
    fn reply_emit_never_overruns_an_unchecked_path() {
        let reply = Reply {
            sock_path: vec![b'z'; 500],
        };
        let bytes = reply.emit();
        assert_eq!(&bytes[..2], &[1, 0]);
        assert_eq!(&bytes[2..109], &[b'z'; 107][..]);
        assert_eq!(bytes[109], 0);

        let with_nul = Reply {
            sock_path: b"/x\0/y".to_vec(),
        };
        assert_eq!(Reply::parse(&with_nul.emit()).unwrap().sock_path, b"/x");
    }

    #[test]
    fn error_texts_say_what_was_wrong() {
        let text = |e: RequestError| e.to_string();
        assert_eq!(
            text(RequestError::BadMagic { found: 0x1234_5678 }),
            "bad magic 0x12345678 (expected 0xfeedface): not a VDE client"
        );
        assert_eq!(
            text(RequestError::Truncated {
                needed: 122,
                got: 7
            }),
            "truncated VDE control record: needed 122 bytes, got 7"
        );
        assert_eq!(
            text(RequestError::UnsupportedVersion { version: 2 }),
            "request for a version 2 port: only version 3 is supported"
        );
        assert!(text(RequestError::BadKind { kind: 7 }).starts_with("bad request type 7"));
        assert!(text(RequestError::TooLong { len: 300 }).contains("300 bytes is too long"));
    }

    #[test]
    fn description_is_trimmed_like_a_c_string() {
        let with = |tail: &[u8]| {
            let mut bytes = fixture_request()[..REQUEST_HEADER_LEN].to_vec();
            bytes.extend_from_slice(tail);
            Request::parse(&bytes).unwrap().description
        };
        assert_eq!(with(b""), "");
        assert_eq!(with(b"QEMU user=u pid=1\0\0\0"), "QEMU user=u pid=1");
        assert_eq!(with(b"QEMU \n\t "), "QEMU");
        assert_eq!(with(b"a\0b"), "a");
        assert_eq!(with(b"  lead"), "  lead");
        assert_eq!(with(b"caf\xc3\xa9"), "caf\u{e9}");
        assert_eq!(with(b"bad\xff"), "bad\u{fffd}");
    }

    #[test]
    fn longest_description_is_accepted() {
        let request = Request {
            description: "d".repeat(MAX_DESCRIPTION_LEN),
            ..fixture_repr()
        };
        let bytes = emitted(&request);
        assert_eq!(bytes.len(), MAX_REQUEST_LEN);
        assert_eq!(Request::parse(&bytes), Ok(request));
    }

    #[test]
    fn invalid_utf8_description_round_trips() {
        // 134 bad bytes would become 402 bytes of U+FFFD; the cut keeps the
        // re-emitted request within 256 bytes.
        let mut bytes = fixture_request()[..REQUEST_HEADER_LEN].to_vec();
        bytes.extend_from_slice(&[0xff; MAX_DESCRIPTION_LEN]);
        let request = Request::parse(&bytes).unwrap();
        assert_eq!(request.description, "\u{fffd}".repeat(44));
        assert_eq!(Request::parse(&emitted(&request)), Ok(request));
    }

    #[test]
    fn parse_emit_parse_is_identity() {
        let samples = [
            fixture_request(),
            edited(|b| b[8..12].copy_from_slice(&[1, 0x34, 0x12, 0])),
            edited(|b| b.truncate(REQUEST_HEADER_LEN)),
            // A path filling all of sun_path, with no NUL.
            edited(|b| b[14..122].fill(b'p')),
            edited(|b| b.extend_from_slice(b" \0junk after the NUL")),
            edited(|b| b.resize(MAX_REQUEST_LEN, b'~')),
        ];
        for bytes in samples {
            let request = Request::parse(&bytes).unwrap();
            let again = emitted(&request);
            assert_eq!(again.len(), request.buffer_len());
            assert_eq!(Request::parse(&again), Ok(request));
        }
        let reply = Reply::parse(&fixture_reply()).unwrap();
        assert_eq!(Reply::parse(&reply.emit()), Ok(reply));
    }
}
