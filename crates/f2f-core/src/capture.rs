//! Packet capture: the pcap file format and the messages that carry captured
//! frames from the switch to `f2f-overlay capture` over the management
//! connection.
//!
//! Why the client writes the file: the switch usually runs as root while the
//! management socket may be open to a group; if the switch wrote files named
//! by console clients, anyone allowed on the console could overwrite any file
//! as root. Instead the switch streams the frames and the client writes them
//! with its own rights (or to stdout, for `tcpdump -r -`).
//!
//! The session (see `port/capture` in [`crate::console`]): after the status
//! line `1000 Success\n` (no prompt follows) the switch sends [`Message`]s,
//! each a 4-byte big-endian body length then the body. It ends with one
//! [`Message::End`] and closes the connection, either when the requested
//! count is reached or when the client sends any byte (the client's "stop").
//!
//! Files are classic libpcap (tcpdump's `pcap-savefile(5)`): little-endian
//! magic `a1b2c3d4` (microsecond timestamps), version 2.4, snaplen 65535,
//! LINKTYPE_ETHERNET (1).
//!
//! Decoding is check-then-parse like [`crate::wire::stream`]: the I/O side
//! only buffers until [`Message::decode`] says a whole message is there.

/// Size of the pcap global header.
pub const PCAP_HEADER_LEN: usize = 24;
/// Size of a pcap record header.
pub const PCAP_RECORD_HEADER_LEN: usize = 16;
/// The microsecond-resolution pcap magic number.
pub const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// Largest frame a record holds whole (the switch never forwards larger).
pub const PCAP_SNAPLEN: u32 = 65535;
/// LINKTYPE_ETHERNET (tcpdump.org link-layer header types).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Largest message body accepted: a whole snaplen frame plus its fields.
pub const MAX_BODY: usize = PCAP_SNAPLEN as usize + 32;

/// The pcap global header for an Ethernet capture.
pub fn pcap_header() -> [u8; PCAP_HEADER_LEN] {
    let mut h = [0u8; PCAP_HEADER_LEN];
    // Offsets 8 (thiszone: UTC) and 12 (sigfigs) stay 0.
    let fields: [(usize, &[u8]); 5] = [
        (0, &PCAP_MAGIC.to_le_bytes()),
        (4, &2u16.to_le_bytes()),
        (6, &4u16.to_le_bytes()),
        (16, &PCAP_SNAPLEN.to_le_bytes()),
        (20, &LINKTYPE_ETHERNET.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        if let Some(dst) = h.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    h
}

/// The record header for a frame of `len` bytes captured `ts_micros` after
/// the UNIX epoch. Frames beyond the snaplen keep their original length and
/// are cut to the snaplen (the caller writes `frame[..incl_len]`).
pub fn pcap_record_header(ts_micros: u64, len: usize) -> [u8; PCAP_RECORD_HEADER_LEN] {
    let secs = u32::try_from(ts_micros / 1_000_000).unwrap_or(u32::MAX);
    let usecs = u32::try_from(ts_micros % 1_000_000).unwrap_or(0);
    let orig = u32::try_from(len).unwrap_or(u32::MAX);
    let incl = orig.min(PCAP_SNAPLEN);
    let mut h = [0u8; PCAP_RECORD_HEADER_LEN];
    for (i, v) in [secs, usecs, incl, orig].into_iter().enumerate() {
        if let Some(dst) = h.get_mut(i * 4..i * 4 + 4) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
    h
}

/// Which way a captured frame went through the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received on the port (from its endpoint into the switch).
    In,
    /// Sent out of the port (from the switch to its endpoint).
    Out,
}

/// One message of a capture session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A captured frame: kind 1, u64 timestamp (µs since the UNIX epoch),
    /// u8 direction (0 in, 1 out), the frame's bytes.
    Frame {
        /// Capture time, microseconds since the UNIX epoch.
        ts_micros: u64,
        /// Direction through the port.
        direction: Direction,
        /// The frame as it passed the port.
        frame: &'a [u8],
    },
    /// The end of the session: kind 2, u64 frames sent, u64 frames dropped
    /// because the client did not keep up.
    End {
        /// Frames sent in this session.
        frames: u64,
        /// Frames lost to a full queue.
        dropped: u64,
    },
}

/// Why a capture stream could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length prefix announces more than [`MAX_BODY`].
    #[error("capture message of {len} bytes is longer than the {MAX_BODY}-byte limit")]
    TooLong {
        /// The announced body length.
        len: usize,
    },
    /// The body is shorter than its kind needs.
    #[error("capture message kind {kind} needs {needed} bytes, got {got}")]
    Truncated {
        /// Message kind.
        kind: u8,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A kind or direction byte this version does not know.
    #[error("unknown capture message kind {kind} (direction {direction})")]
    Unknown {
        /// The kind byte.
        kind: u8,
        /// The direction byte (frames only, else 0).
        direction: u8,
    },
}

const KIND_FRAME: u8 = 1;
const KIND_END: u8 = 2;
const FRAME_FIXED: usize = 1 + 8 + 1;
const END_LEN: usize = 1 + 8 + 8;

impl<'a> Message<'a> {
    /// Bytes [`Message::emit`] appends.
    pub fn buffer_len(&self) -> usize {
        4 + match self {
            Message::Frame { frame, .. } => FRAME_FIXED + frame.len(),
            Message::End { .. } => END_LEN,
        }
    }

    /// Append the length-prefixed message to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let body = self.buffer_len() - 4;
        out.extend_from_slice(&u32::try_from(body).unwrap_or(u32::MAX).to_be_bytes());
        match *self {
            Message::Frame {
                ts_micros,
                direction,
                frame,
            } => {
                out.push(KIND_FRAME);
                out.extend_from_slice(&ts_micros.to_be_bytes());
                out.push(match direction {
                    Direction::In => 0,
                    Direction::Out => 1,
                });
                out.extend_from_slice(frame);
            }
            Message::End { frames, dropped } => {
                out.push(KIND_END);
                out.extend_from_slice(&frames.to_be_bytes());
                out.extend_from_slice(&dropped.to_be_bytes());
            }
        }
    }

    /// Decode the message at the start of `buf`: `Ok(None)` until it is
    /// complete, else the message and the bytes it used.
    pub fn decode(buf: &'a [u8]) -> Result<Option<(Message<'a>, usize)>, DecodeError> {
        let Some(prefix) = buf.get(..4).and_then(|p| <[u8; 4]>::try_from(p).ok()) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_BODY {
            return Err(DecodeError::TooLong { len });
        }
        let Some(body) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        let kind = body.first().copied().unwrap_or(0);
        let truncated = |needed| DecodeError::Truncated {
            kind,
            needed,
            got: body.len(),
        };
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(body.get(at..at + 8)?.try_into().ok()?))
        };
        let msg = match kind {
            KIND_FRAME => {
                let ts_micros = u64_at(1).ok_or_else(|| truncated(FRAME_FIXED))?;
                let dir = body.get(9).copied().ok_or_else(|| truncated(FRAME_FIXED))?;
                let direction = match dir {
                    0 => Direction::In,
                    1 => Direction::Out,
                    d => {
                        return Err(DecodeError::Unknown { kind, direction: d });
                    }
                };
                Message::Frame {
                    ts_micros,
                    direction,
                    frame: body.get(FRAME_FIXED..).unwrap_or(&[]),
                }
            }
            KIND_END => {
                if body.len() != END_LEN {
                    return Err(truncated(END_LEN));
                }
                Message::End {
                    frames: u64_at(1).ok_or_else(|| truncated(END_LEN))?,
                    dropped: u64_at(9).ok_or_else(|| truncated(END_LEN))?,
                }
            }
            _ => return Err(DecodeError::Unknown { kind, direction: 0 }),
        };
        Ok(Some((msg, 4 + len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_headers_are_libpcap_little_endian() {
        assert_eq!(
            pcap_header(),
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0
            ]
        );
        // 1.000002 s after the epoch, 60 bytes.
        assert_eq!(
            pcap_record_header(1_000_002, 60),
            [1, 0, 0, 0, 2, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0]
        );
        let h = pcap_record_header(0, 70_000);
        assert_eq!(h[8..12], 65535u32.to_le_bytes());
        assert_eq!(h[12..16], 70_000u32.to_le_bytes());
    }

    #[test]
    fn messages_round_trip_and_wait_for_whole_bodies() {
        let frame = [0xaau8; 60];
        let msgs = [
            Message::Frame {
                ts_micros: 1_700_000_000_123_456,
                direction: Direction::Out,
                frame: &frame,
            },
            Message::End {
                frames: 7,
                dropped: 2,
            },
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            m.emit(&mut buf);
        }
        assert_eq!(buf.len(), msgs[0].buffer_len() + msgs[1].buffer_len());
        assert_eq!(&buf[..5], &[0, 0, 0, 70, 1]);
        for cut in 0..msgs[0].buffer_len() {
            assert_eq!(Message::decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        let (m0, used) = Message::decode(&buf).unwrap().unwrap();
        assert_eq!(m0, msgs[0]);
        let (m1, used1) = Message::decode(&buf[used..]).unwrap().unwrap();
        assert_eq!((m1, used + used1), (msgs[1], buf.len()));
    }

    #[test]
    fn bad_messages_are_errors() {
        assert_eq!(
            Message::decode(&[0, 2, 0, 0]),
            Err(DecodeError::TooLong { len: 131_072 })
        );
        assert!(matches!(
            Message::decode(&[0, 0, 0, 2, 1, 0]),
            Err(DecodeError::Truncated { kind: 1, .. })
        ));
        assert_eq!(
            Message::decode(&[0, 0, 0, 1, 9]),
            Err(DecodeError::Unknown {
                kind: 9,
                direction: 0
            })
        );
        let mut bad_dir = vec![0, 0, 0, 10, 1];
        bad_dir.extend_from_slice(&[0; 8]);
        bad_dir.push(5);
        assert_eq!(
            Message::decode(&bad_dir),
            Err(DecodeError::Unknown {
                kind: 1,
                direction: 5
            })
        );
    }
}
