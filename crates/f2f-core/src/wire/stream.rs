//! Ethernet frames on byte streams: a big-endian length, then the frame.
//!
//! Two peers frame this way with different prefix widths:
//! - `vde_plug` on stdin/stdout, `dpipe` cables and `cmd://` plugs use a
//!   2-byte length (spec/vde-protocol.md §6, libvdestream);
//! - qemu `-netdev stream` (and the legacy `-netdev socket`) uses a 4-byte
//!   length (§7, `net/stream_data.c`).
//!
//! There is no other header and no trailer. A zero length is a valid, empty
//! record that both peers skip (§6).
//!
//! This module owns the framing only. [`check`] looks at buffered bytes and
//! says whether a whole record is there (check-then-parse: the I/O side only
//! buffers); [`encode_header`] writes a prefix; [`StreamDecoder`] reassembles
//! frames from reads of any size. What a frame contains, and what to do with a
//! stream that went bad (close it), is decided elsewhere.
//!
//! Invariants: no frame longer than the caller's `max_len` is ever returned; a
//! [`StreamDecoder`] never holds more than one maximal record plus one read
//! chunk ([`StreamDecoder::limit`]), and moves each byte it holds a bounded
//! number of times, so many small frames cost linear time.

use core::fmt;

/// The largest record `vde_plug` writes or accepts: `VDE_ETHBUFSIZE` + 2 =
/// 9216 + 14 + 4 + 2 bytes (§6). Longer lengths are errors on that stream.
pub const VDE_PLUG_MAX_LEN: usize = 9236;

/// The largest record qemu's stream backend accepts, `NET_BUFSIZE` = 4096 +
/// 65536 bytes; qemu disconnects on anything longer (§7).
pub const QEMU_MAX_LEN: usize = 4096 + 65536;

/// Default size of one read into a [`StreamDecoder`]: large enough to take
/// many small frames per system call.
pub const READ_CHUNK: usize = 16 * 1024;

/// Width of the big-endian length in front of each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthPrefix {
    /// 2 bytes: `vde_plug`, `dpipe`, libvdestream (§6).
    U16,
    /// 4 bytes: qemu `-netdev stream` and `-netdev socket` (§7).
    U32,
}

impl LengthPrefix {
    /// Bytes in the prefix: 2 or 4.
    #[allow(clippy::len_without_is_empty)] // a prefix is never empty
    pub const fn len(self) -> usize {
        match self {
            LengthPrefix::U16 => 2,
            LengthPrefix::U32 => 4,
        }
    }

    /// The largest length the prefix can express.
    pub fn max_encodable(self) -> usize {
        match self {
            LengthPrefix::U16 => usize::from(u16::MAX),
            LengthPrefix::U32 => usize::try_from(u32::MAX).unwrap_or(usize::MAX),
        }
    }
}

/// Why a stream is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum StreamError {
    /// A length above the limit: the peer sent a frame too large for this
    /// port, or the stream is out of step and frame bytes are being read as a
    /// length. Either way the stream cannot be trusted further.
    #[error("stream record of {len} bytes exceeds the maximum of {max}: peer misbehaving or stream out of step")]
    Oversize {
        /// The length that was read or asked for.
        len: usize,
        /// The most that was allowed.
        max: usize,
    },
}

/// What [`check`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// No whole record yet: at least `needed` bytes, counted from the start of
    /// the buffer, must be there before anything more can be said.
    Incomplete {
        /// Bytes the buffer must hold.
        needed: usize,
    },
    /// A whole frame: `buf[header..header + len]`, followed by the next record.
    Frame {
        /// Bytes of length prefix to skip.
        header: usize,
        /// Bytes of frame after it (at least 1).
        len: usize,
    },
    /// A zero-length record: skip `header` bytes and look again (§6: both
    /// libvdestream and qemu skip these).
    Empty {
        /// Bytes of length prefix to skip.
        header: usize,
    },
    /// The stream is broken; see [`StreamError`].
    Invalid(StreamError),
}

/// Looks at the record at the start of `buf`.
///
/// A length above `max_len` is [`Check::Invalid`] as soon as the prefix is
/// there, without waiting for a body that may never come.
pub fn check(prefix: LengthPrefix, buf: &[u8], max_len: usize) -> Check {
    let header = prefix.len();
    let Some(len) = read_length(prefix, buf) else {
        return Check::Incomplete { needed: header };
    };
    if len > max_len {
        return Check::Invalid(StreamError::Oversize { len, max: max_len });
    }
    if len == 0 {
        return Check::Empty { header };
    }
    let needed = header.saturating_add(len);
    if buf.len() < needed {
        Check::Incomplete { needed }
    } else {
        Check::Frame { header, len }
    }
}

/// The prefix for a frame of `len` bytes: the header bytes (the first
/// `prefix.len()` of the array are meaningful) and how many there are.
/// Refuses a length the prefix cannot express.
pub fn encode_header(prefix: LengthPrefix, len: usize) -> Result<([u8; 4], usize), StreamError> {
    let oversize = || StreamError::Oversize {
        len,
        max: prefix.max_encodable(),
    };
    let out = match prefix {
        LengthPrefix::U16 => {
            let [a, b] = u16::try_from(len).map_err(|_| oversize())?.to_be_bytes();
            [a, b, 0, 0]
        }
        LengthPrefix::U32 => u32::try_from(len).map_err(|_| oversize())?.to_be_bytes(),
    };
    Ok((out, prefix.len()))
}

/// Reassembles frames from arbitrary chunks of a byte stream, in bounded
/// memory.
///
/// The I/O side either reads straight into [`spare`](StreamDecoder::spare) and
/// reports the count with [`commit`](StreamDecoder::commit), or copies with
/// [`push`](StreamDecoder::push); then it calls
/// [`next_frame`](StreamDecoder::next_frame) until `None` before reading again:
///
/// ```
/// use f2f_core::wire::stream::{LengthPrefix, StreamDecoder, VDE_PLUG_MAX_LEN};
///
/// let mut decoder = StreamDecoder::new(LengthPrefix::U16, VDE_PLUG_MAX_LEN);
/// let mut input: &[u8] = &[0, 3, b'a', b'b', b'c', 0, 0, 0, 1];
/// let mut frames = Vec::new();
/// while !input.is_empty() {
///     let taken = decoder.push(input)?;
///     input = &input[taken..];
///     while let Some(frame) = decoder.next_frame() {
///         frames.push(frame?.to_vec());
///     }
/// }
/// assert_eq!(frames, [b"abc".to_vec()]);
/// assert_eq!(decoder.buffered(), 2); // the start of a 1-byte frame
/// # Ok::<(), f2f_core::wire::stream::StreamError>(())
/// ```
///
/// Memory: the buffer grows as records need it, up to
/// [`limit`](StreamDecoder::limit) = prefix + `max_len` + read chunk bytes, and
/// never beyond. When its tail gets short it moves the unread rest to the front;
/// with the drain-then-read loop above that rest is part of one record, and
/// every byte of it arrived since the previous move, so the copying is linear
/// in the bytes read however small the frames are.
///
/// Errors are final. After [`StreamError::Oversize`] the decoder keeps
/// returning the error and accepts no input; the caller closes the stream.
/// libvdestream (§6) instead drops the rest of its read buffer and resumes at
/// the next read, which works only when the peer's writes line up with our
/// reads. On a socket or a busy pipe the next read may start inside a frame,
/// and then frame bytes are taken as lengths: garbage is delivered as frames,
/// and a peer can smuggle a well-formed frame inside another frame's payload.
/// There is no marker to resynchronise on, so failing closed is the only safe
/// choice.
#[derive(Clone)]
pub struct StreamDecoder {
    prefix: LengthPrefix,
    max_len: usize,
    chunk: usize,
    /// Most bytes `buf` may ever hold.
    limit: usize,
    /// Storage; grows (zero-filled) up to `limit`, never shrinks.
    buf: Vec<u8>,
    /// First unread byte. Invariant: `start <= end <= buf.len() <= limit`,
    /// and `start` is always at a record boundary.
    start: usize,
    /// One past the last byte received.
    end: usize,
    /// Set by the first error; sticky.
    failed: Option<StreamError>,
    /// Bytes moved by compaction so far (lets tests check the linear bound).
    moved: usize,
}

impl StreamDecoder {
    /// A decoder for `prefix` that accepts frames up to `max_len` bytes and
    /// reads [`READ_CHUNK`] bytes at a time.
    pub fn new(prefix: LengthPrefix, max_len: usize) -> StreamDecoder {
        StreamDecoder::with_read_chunk(prefix, max_len, READ_CHUNK)
    }

    /// Like [`new`](StreamDecoder::new) with reads of `chunk` bytes (at
    /// least 1). `max_len` above what the prefix can express is lowered to it.
    pub fn with_read_chunk(prefix: LengthPrefix, max_len: usize, chunk: usize) -> StreamDecoder {
        let max_len = max_len.min(prefix.max_encodable());
        let chunk = chunk.max(1);
        StreamDecoder {
            prefix,
            max_len,
            chunk,
            limit: prefix.len().saturating_add(max_len).saturating_add(chunk),
            buf: Vec::new(),
            start: 0,
            end: 0,
            failed: None,
            moved: 0,
        }
    }

    /// Free space to read into; report what was written with
    /// [`commit`](StreamDecoder::commit).
    ///
    /// Empty only when [`next_frame`](StreamDecoder::next_frame) has something
    /// to return (a frame, or the error once the decoder has failed): drain it
    /// first. Never hand an empty slice to `read`, which would return 0 and
    /// look like end of stream.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.failed.is_some() {
            return &mut [];
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.limit - self.end < self.chunk {
            self.compact();
        }
        let want = self.end.saturating_add(self.chunk).min(self.limit);
        if self.buf.len() < want {
            self.grow(want);
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Records that the first `n` bytes of the last [`spare`](StreamDecoder::spare)
    /// slice were filled. `n` is clamped to that slice; ignored once failed.
    pub fn commit(&mut self, n: usize) {
        if self.failed.is_none() {
            self.end += n.min(self.buf.len() - self.end);
        }
    }

    /// Copies as much of `data` as fits and returns how many bytes were
    /// taken; drain [`next_frame`](StreamDecoder::next_frame), then push the
    /// rest. Fails once the decoder has failed.
    pub fn push(&mut self, data: &[u8]) -> Result<usize, StreamError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let spare = self.spare();
        let n = spare.len().min(data.len());
        if let (Some(dst), Some(src)) = (spare.get_mut(..n), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.commit(n);
        Ok(n)
    }

    /// The next complete frame, skipping zero-length records; `None` when more
    /// input is needed. After an error, returns that error forever.
    pub fn next_frame(&mut self) -> Option<Result<&[u8], StreamError>> {
        loop {
            if let Some(error) = self.failed {
                return Some(Err(error));
            }
            let pending = self.buf.get(self.start..self.end).unwrap_or_default();
            match check(self.prefix, pending, self.max_len) {
                Check::Incomplete { .. } => return None,
                Check::Empty { header } => self.start += header,
                Check::Frame { header, len } => {
                    let from = self.start + header;
                    self.start = from + len;
                    // In range: `check` saw these bytes in `pending`.
                    return self.buf.get(from..self.start).map(Ok);
                }
                Check::Invalid(error) => {
                    self.failed = Some(error);
                    return Some(Err(error));
                }
            }
        }
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The most bytes the decoder will ever hold: prefix + `max_len` + read
    /// chunk.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of buffer allocated so far (at most [`limit`](StreamDecoder::limit)).
    pub fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// The error the decoder failed with, if it has.
    pub fn error(&self) -> Option<StreamError> {
        self.failed
    }

    /// The prefix width decoded.
    pub fn prefix(&self) -> LengthPrefix {
        self.prefix
    }

    /// The largest frame accepted.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Moves the unread bytes to the front of the buffer.
    fn compact(&mut self) {
        if self.start <= self.end && self.end <= self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.moved = self.moved.saturating_add(self.end - self.start);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Grows `buf` to at least `want` (≤ `limit`) bytes, doubling so that
    /// growth is amortised, never past `limit`.
    fn grow(&mut self, want: usize) {
        let target = want.max(self.buf.len().saturating_mul(2)).min(self.limit);
        self.buf.reserve_exact(target - self.buf.len());
        self.buf.resize(target, 0);
    }
}

impl fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("prefix", &self.prefix)
            .field("max_len", &self.max_len)
            .field("chunk", &self.chunk)
            .field("limit", &self.limit)
            .field("allocated", &self.buf.len())
            .field("buffered", &self.buffered())
            .field("failed", &self.failed)
            .finish()
    }
}

/// The length in the prefix at the start of `buf`, if the prefix is all there.
fn read_length(prefix: LengthPrefix, buf: &[u8]) -> Option<usize> {
    match prefix {
        LengthPrefix::U16 => {
            let bytes: [u8; 2] = buf.get(..2)?.try_into().ok()?;
            Some(usize::from(u16::from_be_bytes(bytes)))
        }
        LengthPrefix::U32 => {
            let bytes: [u8; 4] = buf.get(..4)?.try_into().ok()?;
            Some(usize::try_from(u32::from_be_bytes(bytes)).unwrap_or(usize::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LengthPrefix::{U16, U32};

    /// The frame the §5 test script broadcast, as `vde_plug` wrote it to
    /// stdout: `00 1f` then 31 bytes. The spec prints the first 19 bytes of the
    /// frame (`ff ff ff ff ff ff 02 00 00 aa bb cc 88 b5 68 65 6c 6c 6f`) and
    /// elides the rest; the last 12 here stand in for them.
    const FIXTURE: &[u8] =
        b"\x00\x1f\xff\xff\xff\xff\xff\xff\x02\x00\x00\xaa\xbb\xcc\x88\xb5hello from python";

    /// `frames` encoded with `prefix`.
    fn encode(prefix: LengthPrefix, frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in frames {
            let (header, n) = encode_header(prefix, frame.len()).unwrap();
            out.extend_from_slice(&header[..n]);
            out.extend_from_slice(frame);
        }
        out
    }

    /// Feeds `chunks` through `push`, draining after each; returns the frames
    /// and the error, if any.
    fn decode(
        decoder: &mut StreamDecoder,
        chunks: &[&[u8]],
    ) -> (Vec<Vec<u8>>, Option<StreamError>) {
        let mut frames = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            loop {
                while let Some(frame) = decoder.next_frame() {
                    match frame {
                        Ok(frame) => frames.push(frame.to_vec()),
                        Err(error) => return (frames, Some(error)),
                    }
                }
                if rest.is_empty() {
                    break;
                }
                let taken = decoder.push(rest).unwrap();
                assert!(taken > 0, "push made no progress after draining");
                rest = &rest[taken..];
            }
        }
        (frames, None)
    }

    #[test]
    fn prefix_widths() {
        assert_eq!((U16.len(), U32.len()), (2, 4));
        assert_eq!(U16.max_encodable(), 65_535);
        assert_eq!(U32.max_encodable(), 4_294_967_295);
    }

    #[test]
    fn checks_the_spec_fixture() {
        assert_eq!(FIXTURE.len(), 2 + 31);
        assert_eq!(
            check(U16, FIXTURE, VDE_PLUG_MAX_LEN),
            Check::Frame { header: 2, len: 31 }
        );
        assert_eq!(
            check(U16, &FIXTURE[..32], VDE_PLUG_MAX_LEN),
            Check::Incomplete { needed: 33 }
        );
        assert_eq!(
            check(U16, &FIXTURE[..1], VDE_PLUG_MAX_LEN),
            Check::Incomplete { needed: 2 }
        );
        assert_eq!(
            check(U16, &[], VDE_PLUG_MAX_LEN),
            Check::Incomplete { needed: 2 }
        );

        let mut decoder = StreamDecoder::new(U16, VDE_PLUG_MAX_LEN);
        let (frames, error) = decode(&mut decoder, &[FIXTURE]);
        assert_eq!(frames, [FIXTURE[2..].to_vec()]);
        assert_eq!(&frames[0][..6], &[0xff; 6], "broadcast destination");
        assert_eq!(error, None);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn check_outcomes() {
        assert_eq!(check(U16, &[0, 0, 9], 10), Check::Empty { header: 2 });
        assert_eq!(check(U32, &[0, 0, 0, 0], 10), Check::Empty { header: 4 });
        assert_eq!(check(U32, &[0, 0, 0], 10), Check::Incomplete { needed: 4 });
        assert_eq!(
            check(U32, &[0, 0, 0, 2, 7], 10),
            Check::Incomplete { needed: 6 }
        );
        assert_eq!(
            check(U32, &[0, 0, 0, 2, 7, 8, 9], 10),
            Check::Frame { header: 4, len: 2 }
        );
        assert_eq!(check(U16, &[0, 10], 10), Check::Incomplete { needed: 12 });
        // Oversize is known from the prefix alone.
        assert_eq!(
            check(U16, &[0, 11], 10),
            Check::Invalid(StreamError::Oversize { len: 11, max: 10 })
        );
        assert_eq!(
            check(U32, &[0xff; 4], QEMU_MAX_LEN),
            Check::Invalid(StreamError::Oversize {
                len: 0xffff_ffff,
                max: QEMU_MAX_LEN
            })
        );
        assert_eq!(
            check(U16, &[0, 1, 5], 0),
            Check::Invalid(StreamError::Oversize { len: 1, max: 0 })
        );
    }

    #[test]
    fn encodes_headers_big_endian() {
        assert_eq!(encode_header(U16, 31), Ok(([0x00, 0x1f, 0, 0], 2)));
        assert_eq!(encode_header(U16, 65_535), Ok(([0xff, 0xff, 0, 0], 2)));
        assert_eq!(encode_header(U32, 0x0102_0304), Ok(([1, 2, 3, 4], 4)));
        assert_eq!(encode_header(U16, 0), Ok(([0; 4], 2)));
        assert_eq!(
            encode_header(U16, 65_536),
            Err(StreamError::Oversize {
                len: 65_536,
                max: 65_535
            })
        );
        assert_eq!(
            encode_header(U32, usize::MAX),
            Err(StreamError::Oversize {
                len: usize::MAX,
                max: 0xffff_ffff
            })
        );
        assert_eq!(encode(U16, &[&FIXTURE[2..]]), FIXTURE);
    }

    #[test]
    fn frames_split_at_every_byte_boundary() {
        let frames: [&[u8]; 5] = [b"first", b"", b"x", &[0xab; 300], b"last frame"];
        let expected: Vec<Vec<u8>> = frames
            .iter()
            .filter(|f| !f.is_empty())
            .map(|f| f.to_vec())
            .collect();
        for prefix in [U16, U32] {
            let stream = encode(prefix, &frames);
            for split in 0..=stream.len() {
                let (a, b) = stream.split_at(split);
                let mut decoder = StreamDecoder::with_read_chunk(prefix, 1518, 64);
                let (got, error) = decode(&mut decoder, &[a, b]);
                assert_eq!(
                    (got, error),
                    (expected.clone(), None),
                    "{prefix:?} split at {split}"
                );
                assert_eq!(decoder.buffered(), 0);
            }
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            let mut decoder = StreamDecoder::with_read_chunk(prefix, 1518, 1);
            assert_eq!(
                decode(&mut decoder, &bytes),
                (expected.clone(), None),
                "{prefix:?} byte by byte"
            );
        }
    }

    #[test]
    fn several_frames_in_one_chunk() {
        let stream = encode(U32, &[b"one", b"two", b"three"]);
        let mut decoder = StreamDecoder::new(U32, QEMU_MAX_LEN);
        assert_eq!(decoder.push(&stream), Ok(stream.len()));
        assert_eq!(decoder.next_frame(), Some(Ok(&b"one"[..])));
        assert_eq!(decoder.next_frame(), Some(Ok(&b"two"[..])));
        assert_eq!(decoder.next_frame(), Some(Ok(&b"three"[..])));
        assert_eq!(decoder.next_frame(), None);
    }

    #[test]
    fn zero_length_records_are_skipped() {
        let mut decoder = StreamDecoder::new(U16, VDE_PLUG_MAX_LEN);
        let stream = [0, 0, 0, 0, 0, 0, 0, 1, b'z', 0, 0];
        assert_eq!(
            decode(&mut decoder, &[&stream]),
            (vec![b"z".to_vec()], None)
        );
        assert_eq!(decoder.buffered(), 0);
        // A long run of empty records costs nothing and yields nothing.
        let empties = vec![0; 100_000];
        assert_eq!(decode(&mut decoder, &[&empties]), (vec![], None));
    }

    #[test]
    fn oversize_fails_for_good() {
        let mut decoder = StreamDecoder::new(U16, VDE_PLUG_MAX_LEN);
        let mut stream = encode(U16, &[b"ok"]);
        stream.extend_from_slice(&[0x24, 0x15]); // 9237: one past vde_plug's limit
        stream.extend_from_slice(&encode(U16, &[b"never seen"]));
        let oversize = StreamError::Oversize {
            len: 9237,
            max: 9236,
        };
        assert_eq!(
            decode(&mut decoder, &[&stream]),
            (vec![b"ok".to_vec()], Some(oversize))
        );
        assert_eq!(decoder.error(), Some(oversize));
        assert_eq!(decoder.next_frame(), Some(Err(oversize)));
        assert_eq!(decoder.push(b"more"), Err(oversize));
        assert!(decoder.spare().is_empty());
        decoder.commit(10);
        assert_eq!(decoder.next_frame(), Some(Err(oversize)));
        assert_eq!(
            oversize.to_string(),
            "stream record of 9237 bytes exceeds the maximum of 9236: peer misbehaving or stream out of step"
        );
    }

    #[test]
    fn oversize_is_reported_before_the_body_arrives() {
        let mut decoder = StreamDecoder::new(U32, 1518);
        decoder.push(&[0x00, 0x00, 0x05, 0xef]).unwrap(); // 1519
        assert_eq!(
            decoder.next_frame(),
            Some(Err(StreamError::Oversize {
                len: 1519,
                max: 1518
            }))
        );
    }

    #[test]
    fn reads_straight_into_spare() {
        let mut decoder = StreamDecoder::new(U16, VDE_PLUG_MAX_LEN);
        let spare = decoder.spare();
        assert_eq!(spare.len(), READ_CHUNK);
        spare[..FIXTURE.len()].copy_from_slice(FIXTURE);
        decoder.commit(FIXTURE.len());
        assert_eq!(decoder.next_frame(), Some(Ok(&FIXTURE[2..])));
        assert_eq!(decoder.next_frame(), None);
        // Committing more than was offered is clamped, not a panic.
        let offered = decoder.spare().len();
        decoder.commit(usize::MAX);
        assert_eq!(decoder.buffered(), offered);
    }

    #[test]
    fn largest_frame_fits_with_a_partial_read_before_it() {
        let max = VDE_PLUG_MAX_LEN;
        let big = vec![7; max];
        let stream = encode(U16, &[b"a", &big, b"b"]);
        let mut decoder = StreamDecoder::with_read_chunk(U16, max, 1000);
        let chunks: Vec<&[u8]> = stream.chunks(999).collect();
        let (frames, error) = decode(&mut decoder, &chunks);
        assert_eq!(error, None);
        assert_eq!(frames, [b"a".to_vec(), big, b"b".to_vec()]);
        assert!(decoder.allocated() <= decoder.limit());
        assert_eq!(decoder.limit(), 2 + max + 1000);
    }

    #[test]
    fn memory_is_bounded_and_compaction_linear() {
        // 200 000 one-byte frames, read a chunk at a time: the buffer stays
        // within its limit, and the bytes moved to the front stay linear in
        // the input (moving the rest after every frame would cost ~1 000× it).
        let frames: Vec<[u8; 1]> = (0..200_000u32).map(|i| [i as u8]).collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        let stream = encode(U16, &refs);
        for (chunk, read) in [(4096, 4096), (4096, 1000), (16, 7)] {
            let mut decoder = StreamDecoder::with_read_chunk(U16, 1518, chunk);
            let reads: Vec<&[u8]> = stream.chunks(read).collect();
            let (got, error) = decode(&mut decoder, &reads);
            assert_eq!((got.len(), error), (200_000, None));
            assert!(decoder.allocated() <= decoder.limit());
            assert!(
                decoder.moved <= stream.len(),
                "moved {} bytes",
                decoder.moved
            );
        }
    }

    #[test]
    fn undrained_decoder_refuses_input_until_drained() {
        let stream = encode(U16, &vec![&b"abc"[..]; 100]);
        let mut decoder = StreamDecoder::with_read_chunk(U16, 8, 4);
        let mut taken = 0;
        loop {
            let n = decoder.push(&stream[taken..]).unwrap();
            if n == 0 {
                break;
            }
            taken += n;
        }
        assert_eq!(taken, decoder.limit());
        assert!(decoder.spare().is_empty());
        assert_eq!(decoder.next_frame(), Some(Ok(&b"abc"[..])));
        assert!(!decoder.spare().is_empty());
    }

    #[test]
    fn huge_max_len_allocates_only_what_is_used() {
        let decoder = StreamDecoder::new(U32, usize::MAX);
        assert_eq!(decoder.max_len(), 0xffff_ffff);
        assert_eq!(decoder.allocated(), 0);
        let mut decoder = decoder;
        assert_eq!(decoder.spare().len(), READ_CHUNK);
        assert_eq!(decoder.prefix(), U32);
    }
}
