//! The bytes of a link on its TCP stream (spec: DESIGN.md "Data formats on
//! the wire"), below and inside the Noise encryption.
//!
//! On the stream, everything is a **record**:
//!
//! ```text
//! record  = length:u16be  kind:u8  body[length - 1]
//! kind    = 1 handshake (a Noise handshake message)
//!         | 2 transport (a Noise transport message: the encrypted messages below)
//!         | 3 refusal   (unencrypted, one reason byte; the sender closes next)
//! ```
//!
//! The initiator's last handshake message carries the session's purpose as
//! its (encrypted) payload: empty or `1` a link, `2` an image transfer
//! ([`super::Purpose`]); an image session's frame messages are transfer
//! messages ([`crate::provision::wire`]).
//!
//! Inside a transport record, after decryption, a sequence of **messages**:
//!
//! ```text
//! message = type:u8  length:u16be  data[length]
//! type    = 1 frame (an Ethernet frame) | 2 ping (8-byte token) | 3 pong (the ping's token)
//!         | 4 offloaded frame (a 10-byte virtio-net header, then the frame)
//!         | 5 features (u32be bit set, sent once by each side when the session is up)
//! ```
//!
//! An offloaded frame is a TCP super-segment as a tap with offloads hands it
//! over (up to 64 KiB, checksum not yet computed): it crosses the link whole
//! and the receiving switch finishes it (checksums, segments) only for ports
//! that cannot take it as it is. A side sends offloaded frames only to a peer
//! whose features message has [`FEATURE_OFFLOADS`]; older peers skip the
//! features message as an unknown type and never get any.
//!
//! Unknown message types are skipped (room for later additions); a message
//! that runs past the end of its record is an error. Several frames travel in
//! one record when they queue up, which is where batching saves a Noise
//! operation and a header per frame.
//!
//! Stream framing is check-then-parse: [`RecordDecoder`] only buffers bytes
//! until [`check`] says a whole record is there, and refuses lengths that no
//! honest peer sends in the current phase.

use core::fmt;

use crate::wire::offload::{VnetHdr, VNET_HDR_LEN};

/// Bytes of a record header (length and kind).
pub const RECORD_HEADER_LEN: usize = 3;
/// Largest record body (the Noise message after the kind byte): the length
/// field counts the kind byte too.
pub const MAX_RECORD_BODY: usize = u16::MAX as usize - 1;
/// Bytes of the authentication tag Noise adds to every transport message.
pub const TAG_LEN: usize = 16;
/// Largest plaintext in one transport record.
pub const MAX_PLAINTEXT: usize = MAX_RECORD_BODY - TAG_LEN;
/// Bytes of a message header (type and length).
pub const MESSAGE_HEADER_LEN: usize = 3;
/// Largest frame a link carries: one message filling a record.
pub const MAX_FRAME: usize = MAX_PLAINTEXT - MESSAGE_HEADER_LEN;
/// Largest frame an offloaded-frame message carries (after its header).
pub const MAX_OFFLOADED_FRAME: usize = MAX_FRAME - VNET_HDR_LEN;
/// Bytes before an offloaded frame: message header and virtio-net header.
pub const OFFLOADED_HEADER_LEN: usize = MESSAGE_HEADER_LEN + VNET_HDR_LEN;
/// Feature bit: this side takes offloaded-frame messages.
pub const FEATURE_OFFLOADS: u32 = 1;
/// Largest record accepted before the handshake is done: Noise XX messages
/// are under 100 bytes, so a longer one is garbage (or an attack on memory).
pub const MAX_HANDSHAKE_RECORD: usize = 512;

/// What a record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A Noise handshake message.
    Handshake,
    /// An encrypted Noise transport message.
    Transport,
    /// The sender refuses the session (reason byte), then closes.
    Refusal,
}

impl RecordKind {
    /// The kind byte.
    pub fn code(self) -> u8 {
        match self {
            RecordKind::Handshake => 1,
            RecordKind::Transport => 2,
            RecordKind::Refusal => 3,
        }
    }

    fn from_code(code: u8) -> Option<RecordKind> {
        match code {
            1 => Some(RecordKind::Handshake),
            2 => Some(RecordKind::Transport),
            3 => Some(RecordKind::Refusal),
            _ => None,
        }
    }
}

/// Why the bytes on a link's stream cannot be records.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A record whose length field is 0 (it must count at least the kind).
    #[error("a record of length 0")]
    Empty,
    /// A record longer than allowed in this phase of the session.
    #[error("a record of {len} bytes where at most {max} are allowed")]
    TooLong {
        /// The length field.
        len: usize,
        /// The most allowed now.
        max: usize,
    },
    /// A kind byte we do not know.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// A message inside a record runs past the record's end.
    #[error("a message of {len} bytes where only {left} remain in the record")]
    MessageOverrun {
        /// The message's length field.
        len: usize,
        /// Bytes left in the record after its header.
        left: usize,
    },
}

/// Whether `buf` starts with a whole record: `Ok(None)` when more bytes are
/// needed, else the kind and the record's total size (header included).
/// Refuses records longer than `max_len` (length field value).
pub fn check(buf: &[u8], max_len: usize) -> Result<Option<(RecordKind, usize)>, RecordError> {
    let (Some(&hi), Some(&lo)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len == 0 {
        return Err(RecordError::Empty);
    }
    if len > max_len {
        return Err(RecordError::TooLong { len, max: max_len });
    }
    let Some(&code) = buf.get(2) else {
        return Ok(None);
    };
    let kind = RecordKind::from_code(code).ok_or(RecordError::UnknownKind(code))?;
    let total = len + 2;
    Ok((buf.len() >= total).then_some((kind, total)))
}

/// The header of a record whose body has `body_len` bytes. The caller keeps
/// bodies within [`MAX_RECORD_BODY`].
pub fn record_header(kind: RecordKind, body_len: usize) -> [u8; RECORD_HEADER_LEN] {
    let [hi, lo] = u16::try_from(body_len + 1)
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    [hi, lo, kind.code()]
}

/// Appends a record header for a body of `body_len` bytes.
pub fn push_record_header(out: &mut Vec<u8>, kind: RecordKind, body_len: usize) {
    out.extend_from_slice(&record_header(kind, body_len));
}

/// Buffers a link's incoming bytes and cuts them into records.
///
/// Memory: at most one record beyond what the caller has consumed, so at most
/// [`MAX_RECORD_BODY`] plus what one read brings.
#[derive(Debug, Default)]
pub struct RecordDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl RecordDecoder {
    /// An empty decoder.
    pub fn new() -> RecordDecoder {
        RecordDecoder::default()
    }

    /// Append bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet returned as records.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// The next whole record (its kind and body), if one is buffered; records
    /// longer than `max_len` are an error, after which the stream is useless.
    pub fn next_record(
        &mut self,
        max_len: usize,
    ) -> Result<Option<(RecordKind, &[u8])>, RecordError> {
        let rest = self.buf.get(self.start..).unwrap_or(&[]);
        let Some((kind, total)) = check(rest, max_len)? else {
            return Ok(None);
        };
        let body = rest.get(RECORD_HEADER_LEN..total).unwrap_or(&[]);
        self.start += total;
        Ok(Some((kind, body)))
    }
}

/// What a message inside a transport record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// An Ethernet frame.
    Frame(&'a [u8]),
    /// A keepalive asking for a [`Message::Pong`] with the same token.
    Ping(u64),
    /// The answer to a ping.
    Pong(u64),
    /// A frame with its virtio-net header (checksum or segmentation still
    /// to do).
    Offloaded(VnetHdr, &'a [u8]),
    /// The features the sender supports ([`FEATURE_OFFLOADS`]).
    Features(u32),
    /// A type this version does not know (skipped).
    Unknown(u8),
}

const MSG_FRAME: u8 = 1;
const MSG_PING: u8 = 2;
const MSG_PONG: u8 = 3;
const MSG_OFFLOADED: u8 = 4;
const MSG_FEATURES: u8 = 5;

/// Why a frame cannot be put on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a frame of {0} bytes is larger than a link carries ({MAX_FRAME})")]
pub struct FrameTooLarge(pub usize);

/// The header of a frame message carrying `frame_len` bytes.
pub fn frame_header(frame_len: usize) -> Result<[u8; MESSAGE_HEADER_LEN], FrameTooLarge> {
    if frame_len > MAX_FRAME {
        return Err(FrameTooLarge(frame_len));
    }
    let [hi, lo] = u16::try_from(frame_len).unwrap_or(u16::MAX).to_be_bytes();
    Ok([MSG_FRAME, hi, lo])
}

/// The bytes before an offloaded frame of `frame_len` bytes with header
/// `hdr`: the message header, then the virtio-net header.
pub fn offloaded_header(
    hdr: &VnetHdr,
    frame_len: usize,
) -> Result<[u8; OFFLOADED_HEADER_LEN], FrameTooLarge> {
    if frame_len > MAX_OFFLOADED_FRAME {
        return Err(FrameTooLarge(frame_len));
    }
    let len = u16::try_from(VNET_HDR_LEN + frame_len).unwrap_or(u16::MAX);
    let mut out = [0u8; OFFLOADED_HEADER_LEN];
    let (msg, vnet) = out.split_at_mut(MESSAGE_HEADER_LEN);
    msg.copy_from_slice(&[MSG_OFFLOADED, len.to_be_bytes()[0], len.to_be_bytes()[1]]);
    vnet.copy_from_slice(&hdr.emit());
    Ok(out)
}

/// Appends `frame` as a frame message.
pub fn push_frame(out: &mut Vec<u8>, frame: &[u8]) -> Result<(), FrameTooLarge> {
    out.extend_from_slice(&frame_header(frame.len())?);
    out.extend_from_slice(frame);
    Ok(())
}

/// Appends a control message (ping, pong, features; frames as well, for
/// tests).
pub fn push_control(out: &mut Vec<u8>, message: Message<'_>) {
    match message {
        Message::Ping(token) => push_message(out, MSG_PING, &token.to_be_bytes()),
        Message::Pong(token) => push_message(out, MSG_PONG, &token.to_be_bytes()),
        Message::Features(bits) => push_message(out, MSG_FEATURES, &bits.to_be_bytes()),
        Message::Frame(f) => push_message(out, MSG_FRAME, f),
        Message::Offloaded(hdr, f) => {
            if let Ok(header) = offloaded_header(&hdr, f.len()) {
                out.extend_from_slice(&header);
                out.extend_from_slice(f);
            }
        }
        Message::Unknown(t) => push_message(out, t, &[]),
    }
}

fn push_message(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
}

/// Iterates over the messages of a decrypted record.
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    /// The messages in `plaintext`.
    pub fn new(plaintext: &'a [u8]) -> Messages<'a> {
        Messages { rest: plaintext }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (header, tail) = match self.rest.split_first_chunk::<MESSAGE_HEADER_LEN>() {
            Some(split) => split,
            None if self.rest.is_empty() => return None,
            None => {
                let left = self.rest.len();
                self.rest = &[];
                return Some(Err(RecordError::MessageOverrun { len: left, left: 0 }));
            }
        };
        let [kind, hi, lo] = *header;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some((data, rest)) = tail.split_at_checked(len) else {
            self.rest = &[];
            return Some(Err(RecordError::MessageOverrun {
                len,
                left: tail.len(),
            }));
        };
        self.rest = rest;
        let token = || <[u8; 8]>::try_from(data).ok().map(u64::from_be_bytes);
        Some(Ok(match kind {
            MSG_FRAME => Message::Frame(data),
            MSG_PING => match token() {
                Some(t) => Message::Ping(t),
                None => Message::Unknown(kind),
            },
            MSG_PONG => match token() {
                Some(t) => Message::Pong(t),
                None => Message::Unknown(kind),
            },
            MSG_OFFLOADED => match VnetHdr::parse(data) {
                Some((hdr, frame)) => Message::Offloaded(hdr, frame),
                None => Message::Unknown(kind),
            },
            MSG_FEATURES => match <[u8; 4]>::try_from(data) {
                Ok(bits) => Message::Features(u32::from_be_bytes(bits)),
                Err(_) => Message::Unknown(kind),
            },
            other => Message::Unknown(other),
        }))
    }
}

/// Splits encoded messages into runs that each fit one record: returns the
/// length of the longest prefix of `messages` made of whole messages and at
/// most `max` bytes (at least one message when the first fits).
pub fn fitting_prefix(messages: &[u8], max: usize) -> Result<usize, RecordError> {
    let mut end = 0;
    let mut rest = messages;
    while let Some(header) = rest.first_chunk::<MESSAGE_HEADER_LEN>() {
        let len = MESSAGE_HEADER_LEN + usize::from(u16::from_be_bytes([header[1], header[2]]));
        if len > rest.len() {
            return Err(RecordError::MessageOverrun {
                len: len - MESSAGE_HEADER_LEN,
                left: rest.len() - MESSAGE_HEADER_LEN,
            });
        }
        if end + len > max {
            break;
        }
        end += len;
        rest = rest.get(len..).unwrap_or(&[]);
    }
    if end == 0 && !rest.is_empty() && rest.len() < MESSAGE_HEADER_LEN {
        return Err(RecordError::MessageOverrun {
            len: rest.len(),
            left: 0,
        });
    }
    Ok(end)
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordKind::Handshake => "handshake",
            RecordKind::Transport => "transport",
            RecordKind::Refusal => "refusal",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cut_from_a_stream_in_pieces() {
        let mut d = RecordDecoder::new();
        let stream = [0, 3, 1, 0xaa, 0xbb, 0, 1, 3];
        for b in &stream[..4] {
            d.push(&[*b]);
            assert_eq!(d.next_record(512), Ok(None));
        }
        d.push(&stream[4..]);
        assert_eq!(
            d.next_record(512),
            Ok(Some((RecordKind::Handshake, &[0xaa, 0xbb][..])))
        );
        assert_eq!(d.next_record(512), Ok(Some((RecordKind::Refusal, &[][..]))));
        assert_eq!(d.next_record(512), Ok(None));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn bad_records_are_named() {
        assert_eq!(check(&[0, 0, 1], 512), Err(RecordError::Empty));
        assert_eq!(
            check(&[2, 1], 512),
            Err(RecordError::TooLong { len: 513, max: 512 })
        );
        assert_eq!(check(&[0, 1, 9], 512), Err(RecordError::UnknownKind(9)));
        assert_eq!(check(&[0, 1], 512), Ok(None));
    }

    #[test]
    fn messages_round_trip() {
        let mut buf = Vec::new();
        push_frame(&mut buf, &[1, 2, 3]).unwrap();
        push_control(&mut buf, Message::Ping(7));
        push_control(&mut buf, Message::Pong(u64::MAX));
        buf.extend_from_slice(&[9, 0, 1, 0]);
        let got: Vec<_> = Messages::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            [
                Message::Frame(&[1, 2, 3]),
                Message::Ping(7),
                Message::Pong(u64::MAX),
                Message::Unknown(9)
            ]
        );
        let mut short = buf.clone();
        short.pop();
        assert!(Messages::new(&short).any(|m| m.is_err()));
        assert_eq!(
            push_frame(&mut buf, &vec![0; MAX_FRAME + 1]),
            Err(FrameTooLarge(MAX_FRAME + 1))
        );
    }

    #[test]
    fn prefixes_fit_whole_messages() {
        let mut buf = Vec::new();
        push_frame(&mut buf, &[0; 10]).unwrap();
        push_frame(&mut buf, &[0; 10]).unwrap();
        assert_eq!(fitting_prefix(&buf, 26), Ok(26));
        assert_eq!(fitting_prefix(&buf, 25), Ok(13));
        assert_eq!(fitting_prefix(&buf, 12), Ok(0));
        assert_eq!(fitting_prefix(&[], 12), Ok(0));
        assert!(fitting_prefix(&buf[..20], 100).is_err());
    }
}
