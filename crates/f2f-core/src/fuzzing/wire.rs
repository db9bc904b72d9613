//! Fuzz entry points for the wire formats.

use crate::wire::stream::{check, Check, LengthPrefix, StreamDecoder};
use crate::wire::vde::{Reply, Request, RequestPacket, SOCKADDR_LEN};

/// Parses `data` as a VDE control request and as a reply; whatever parses must
/// emit bytes that parse back to an equal value, and the checked view must
/// agree with the owned parse.
pub fn vde_request(data: &[u8]) {
    if let Ok(request) = Request::parse(data) {
        let mut emitted = Vec::new();
        request.emit(&mut emitted);
        assert_eq!(
            emitted.len(),
            request.buffer_len(),
            "buffer_len disagrees with emit"
        );
        match Request::parse(&emitted) {
            Ok(again) => assert_eq!(again, request, "parse → emit → parse changed the request"),
            Err(error) => panic!("emitted request does not parse: {error}"),
        }
        match RequestPacket::new_checked(data) {
            Ok(packet) => {
                assert_eq!(packet.port(), request.port);
                assert_eq!(packet.sock_path(), &request.sock_path[..]);
            }
            Err(error) => panic!("Request::parse accepted what new_checked refuses: {error}"),
        }
    }
    if let Ok(reply) = Reply::parse(data) {
        let emitted = reply.emit();
        assert_eq!(emitted.len(), SOCKADDR_LEN);
        match Reply::parse(&emitted) {
            Ok(again) => assert_eq!(again, reply, "parse → emit → parse changed the reply"),
            Err(error) => panic!("emitted reply does not parse: {error}"),
        }
        match Reply::new(reply.sock_path.clone()) {
            Ok(made) => assert_eq!(made, reply),
            Err(error) => panic!("Reply::new refuses a parsed path: {error}"),
        }
    }
}

/// Decodes `data[2..]` as a length-prefixed stream fed in chunks.
///
/// `data[0]`: bit 0 picks the prefix (0 → 2 bytes, 1 → 4 bytes), bit 1 feeding
/// through `push` or `spare`/`commit`, bits 2..7 the chunk size (1..=64).
/// `data[1]`: `max_len` = value × 8 (0..=2040), small so that both good frames
/// and oversize lengths are common.
///
/// Invariants: the chunked decoder returns exactly the frames and the error a
/// one-shot [`check`] walk over the whole input finds; every frame is at most
/// `max_len`; frame bytes never exceed the input; the decoder never allocates
/// past its limit; an empty `spare` means a frame or the error is waiting.
pub fn stream_decode(data: &[u8]) {
    let (config, input) = data.split_at(data.len().min(2));
    let mode = config.first().copied().unwrap_or(0);
    let prefix = if mode & 1 == 0 {
        LengthPrefix::U16
    } else {
        LengthPrefix::U32
    };
    let use_push = mode & 2 == 0;
    let chunk = usize::from(mode >> 2) + 1;
    let max_len = usize::from(config.get(1).copied().unwrap_or(0)) * 8;

    let (expected, expected_error) = reference_decode(prefix, input, max_len);

    let mut decoder = StreamDecoder::with_read_chunk(prefix, max_len, chunk);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut error = None;
    let mut rest = input;
    'feed: loop {
        while let Some(frame) = decoder.next_frame() {
            match frame {
                Ok(frame) => {
                    assert!(
                        !frame.is_empty() && frame.len() <= max_len,
                        "frame of {} bytes",
                        frame.len()
                    );
                    frames.push(frame.to_vec());
                }
                Err(e) => {
                    error = Some(e);
                    assert_eq!(decoder.next_frame(), Some(Err(e)), "error is not sticky");
                    break 'feed;
                }
            }
        }
        assert!(
            decoder.allocated() <= decoder.limit(),
            "buffer past its limit"
        );
        if rest.is_empty() {
            break;
        }
        let taken = if use_push {
            match decoder.push(rest) {
                Ok(taken) => taken,
                Err(e) => panic!("push failed on a decoder that reported no error: {e}"),
            }
        } else {
            let spare = decoder.spare();
            let n = spare.len().min(rest.len());
            if let (Some(dst), Some(src)) = (spare.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            decoder.commit(n);
            n
        };
        assert!(taken > 0, "no room after draining every frame");
        rest = rest.get(taken..).unwrap_or_default();
    }
    assert!(
        decoder.allocated() <= decoder.limit(),
        "buffer past its limit"
    );
    let total: usize = frames.iter().map(Vec::len).sum();
    assert!(total <= input.len(), "more frame bytes than input");
    assert_eq!(frames, expected, "chunked decoding differs from one-shot");
    assert_eq!(error, expected_error, "chunked error differs from one-shot");
}

/// Frames and error found by walking `input` with [`check`] in one piece.
fn reference_decode(
    prefix: LengthPrefix,
    input: &[u8],
    max_len: usize,
) -> (Vec<Vec<u8>>, Option<crate::wire::stream::StreamError>) {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = input.get(at..).unwrap_or_default();
        match check(prefix, rest, max_len) {
            Check::Incomplete { needed } => {
                assert!(
                    needed > rest.len(),
                    "Incomplete with {needed} of {} bytes there",
                    rest.len()
                );
                return (frames, None);
            }
            Check::Empty { header } => at += header,
            Check::Frame { header, len } => {
                let frame = rest.get(header..header + len).unwrap_or_default();
                assert_eq!(frame.len(), len, "check promised bytes that are not there");
                frames.push(frame.to_vec());
                at += header + len;
            }
            Check::Invalid(error) => return (frames, Some(error)),
        }
    }
}

/// Decodes `data` as a capture stream (`port/capture`): no input panics;
/// each decoded message uses at most the bytes present and emits exactly
/// those bytes again; decoding stops at the first error or incomplete message.
pub fn capture_stream(data: &[u8]) {
    use crate::capture::Message;
    let mut rest = data;
    while let Ok(Some((msg, used))) = Message::decode(rest) {
        assert!(
            used <= rest.len() && used >= 4,
            "used {used} of {}",
            rest.len()
        );
        let mut emitted = Vec::new();
        msg.emit(&mut emitted);
        assert_eq!(emitted.len(), msg.buffer_len());
        assert_eq!(
            Some(emitted.as_slice()),
            rest.get(..used),
            "decode → emit changed {msg:?}"
        );
        rest = rest.get(used..).unwrap_or(&[]);
    }
}

/// Parses `data` as a virtio-net header and the frame after it, then
/// finishes the frame: the header must round-trip, and whatever `finish`
/// returns must be consistent: on success the segment ends increase up to
/// the output's end, each segment is no longer than the input frame and a
/// super-segment gives as many segments as its payload needs; on error
/// nothing was appended.
pub fn offloaded_frame(data: &[u8]) {
    use crate::wire::offload::{finish, VnetHdr, VNET_HDR_LEN};
    let Some((hdr, frame)) = VnetHdr::parse(data) else {
        return;
    };
    assert_eq!(
        Some(&hdr.emit()[..]),
        data.get(..VNET_HDR_LEN),
        "header round trip"
    );
    let (mut out, mut ends) = (vec![0xa5u8], vec![1usize]);
    match finish(&hdr, frame, &mut out, &mut ends) {
        Ok(()) => {
            assert!(ends.len() > 1, "no frame out");
            assert_eq!(ends.last().copied(), Some(out.len()));
            for pair in ends.windows(2) {
                if let [a, b] = pair {
                    assert!(a < b || frame.is_empty(), "segment ends must increase");
                    assert!(b - a <= frame.len(), "a segment longer than the frame");
                }
            }
        }
        Err(_) => assert_eq!(
            (out, ends),
            (vec![0xa5u8], vec![1usize]),
            "output left behind"
        ),
    }
}

/// Decodes `data` (as text) as one XMPP frame element: what decodes must
/// encode back to text that decodes to the same frame, never longer than the
/// largest frame. Then reads the bytes as queued frame lengths: a batch is
/// never empty when frames wait and always fits the stanza limits.
pub fn xmpp_frames(data: &[u8]) {
    use crate::wire::xmpp::{
        batch_len, decode_frame, encode_frame, encoded_len, ELEMENT_OVERHEAD, MAX_BATCH_BYTES,
        MAX_FRAME, MAX_FRAMES_PER_STANZA,
    };
    let text = String::from_utf8_lossy(data);
    if let Ok(frame) = decode_frame(&text) {
        assert!(frame.len() <= MAX_FRAME, "decoded a frame over the limit");
        let again = encode_frame(&frame);
        assert_eq!(
            decode_frame(&again).ok(),
            Some(frame),
            "encode → decode changed the frame"
        );
    }
    let lens: Vec<usize> = data
        .chunks(2)
        .map(|c| {
            usize::from(u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ]))
        })
        .collect();
    let n = batch_len(lens.iter().copied());
    assert_eq!(n == 0, lens.is_empty(), "empty batch with frames waiting");
    assert!(n <= MAX_FRAMES_PER_STANZA);
    if n > 1 {
        let bytes: usize = lens
            .iter()
            .take(n)
            .map(|l| encoded_len(*l) + ELEMENT_OVERHEAD)
            .sum();
        assert!(
            bytes <= MAX_BATCH_BYTES,
            "batch of {bytes} bytes over the limit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vde_request_accepts_the_spec_fixtures() {
        let mut request =
            b"\xce\xfa\xed\xfe\x03\x00\x00\x00\x00\x05\x00\x00\x01\x00/tmp/sw/.00001-00000"
                .to_vec();
        request.resize(122, 0);
        request.extend_from_slice(b"QEMU user=me pid=1");
        vde_request(&request);
        let mut reply = b"\x01\x00/tmp/sw/005.9".to_vec();
        reply.resize(110, 0);
        vde_request(&reply);
        vde_request(&[]);
    }

    #[test]
    fn offloaded_frame_survives_mutations_of_a_super_segment() {
        // virtio-net header (NEEDS_CSUM, TCPV4, mss 100, csum at 34+16), then a
        // TCP/IPv4 frame with 1000 payload bytes; bytes flipped at random.
        let mut seed = vec![1u8, 1, 54, 0, 100, 0, 34, 0, 16, 0];
        seed.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]);
        seed.extend_from_slice(&[0x45, 0, 0x04, 0x10, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        seed.extend_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1, 0, 1, 0, 2, 0, 0, 0, 1]);
        seed.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 1, 0, 0, 0, 0, 0]);
        seed.resize(seed.len() + 1000, 0x5a);
        offloaded_frame(&seed);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut data = seed.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x >> 8) as usize % data.len().min(80);
                data[at] = (x >> 32) as u8;
            }
            data.truncate(10 + (x as usize % (seed.len() - 9)));
            offloaded_frame(&data);
        }
    }

    #[test]
    fn stream_decode_runs_every_mode() {
        let stream = [0, 3, 1, 2, 3, 0, 0, 0, 1, 9, 0xff, 0xff, 1];
        for mode in 0..=255u8 {
            for max in [0u8, 1, 255] {
                let mut data = vec![mode, max];
                data.extend_from_slice(&stream);
                stream_decode(&data);
            }
        }
        stream_decode(&[]);
        stream_decode(&[1]);
    }

    #[test]
    fn xmpp_frames_accepts_frames_and_junk() {
        let frame = crate::wire::xmpp::encode_frame(&[7u8; 60]);
        xmpp_frames(frame.as_bytes());
        xmpp_frames(b"!!!!");
        xmpp_frames(&[0xff; 200]);
        xmpp_frames(&[]);
    }
}
