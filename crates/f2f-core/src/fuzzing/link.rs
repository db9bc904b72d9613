//! Fuzz entry points for links: the record decoder and the session machine.

use crate::link::wire::{self, check, Messages, RecordDecoder};
use crate::link::{LinkConfig, Role, Session, Timers};
use crate::time::{Duration, Instant};

/// Cuts `data[1..]` into records, fed in chunks of `data[0] % 64 + 1` bytes
/// with a length limit of `data[0] * 8`, and parses every record body as
/// messages.
///
/// Invariants: the chunked decoder yields exactly the records (and the error)
/// of a one-shot [`check`] walk; bodies stay within the limit; a message
/// parse either succeeds or names an overrun; [`wire::fitting_prefix`] only
/// ever cuts at a message boundary within its limit.
pub fn link_records(data: &[u8]) {
    let (config, input) = data.split_at(data.len().min(1));
    let mode = config.first().copied().unwrap_or(0);
    let chunk = usize::from(mode % 64) + 1;
    let max = usize::from(mode) * 8 + 1;

    let mut expected = Vec::new();
    let mut rest = input;
    let expected_err = loop {
        match check(rest, max) {
            Ok(Some((kind, total))) => {
                expected.push((
                    kind,
                    rest.get(wire::RECORD_HEADER_LEN..total).unwrap_or(&[]),
                ));
                rest = rest.get(total..).unwrap_or(&[]);
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };

    let mut decoder = RecordDecoder::new();
    let mut got = Vec::new();
    let mut got_err = None;
    'feed: for piece in input.chunks(chunk) {
        decoder.push(piece);
        loop {
            match decoder.next_record(max) {
                Ok(Some((kind, body))) => {
                    assert!(body.len() < max, "a body past the limit");
                    got.push((kind, body.to_vec()));
                }
                Ok(None) => break,
                Err(e) => {
                    got_err = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(got_err, expected_err, "chunked and one-shot errors differ");
    assert_eq!(
        got.len(),
        expected.len(),
        "chunked and one-shot record counts differ"
    );
    for ((gk, gb), (ek, eb)) in got.iter().zip(&expected) {
        assert_eq!((gk, gb.as_slice()), (ek, *eb));
        let parsed: Vec<_> = Messages::new(gb).collect();
        let bad = parsed.iter().filter(|m| m.is_err()).count();
        assert!(bad <= 1, "parsing goes on after an overrun");
        assert!(parsed
            .last()
            .is_none_or(|_| bad == 0 || parsed.last().is_some_and(Result::is_err)));
        if let Ok(n) = wire::fitting_prefix(gb, max) {
            assert!(n <= max && n <= gb.len());
            let cut = gb.get(..n).unwrap_or(&[]);
            assert!(
                Messages::new(cut).all(|m| m.is_ok()),
                "cut inside a message"
            );
        }
    }
}

/// Runs a dialing and an accepting session over an in-memory wire, the
/// fuzzer choosing what happens: each op byte either queues a frame on the
/// initiator (length from the next byte), delivers pending bytes one way or
/// the other (optionally flipping one bit, truncating, or adding bytes),
/// advances time, or injects raw bytes into the responder.
///
/// Invariants: no frame is delivered before the session is up; frames the
/// responder delivers are exactly a prefix, in order, of those sent (an
/// altered or injected record ends the session instead of delivering
/// anything else); after a failure nothing is delivered; the session's
/// deadline is never in the past after `handle_timeout`. Returns how many
/// frames arrived.
pub fn link_session(data: &[u8]) -> usize {
    let config = |node: u8| LinkConfig {
        network_key: [7; 32],
        node_secret: [node; 32],
        timers: Timers::default(),
    };
    let mut now = Instant::from_secs(1);
    let (Ok(mut i), Ok(mut r)) = (
        Session::new(now, Role::Initiator, &config(1), [1; 32]),
        Session::new(now, Role::Responder, &config(2), [2; 32]),
    ) else {
        panic!("sessions cannot start");
    };
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut delivered = 0usize;
    let mut to_r = Vec::new();
    let mut to_i = Vec::new();
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0);
        match op % 6 {
            0 => {
                let frame = vec![arg; usize::from(arg) * 6 + 14];
                let mut msgs = Vec::new();
                if wire::push_frame(&mut msgs, &frame).is_ok() && i.send_messages(&msgs).is_ok() {
                    sent.push(frame);
                }
            }
            1 | 2 => {
                let mut out = Vec::new();
                let (from, wire_buf) = if op % 6 == 1 {
                    (&mut i, &mut to_r)
                } else {
                    (&mut r, &mut to_i)
                };
                from.poll_transmit(&mut out);
                wire_buf.extend_from_slice(&out);
                if arg & 0x80 != 0 && !wire_buf.is_empty() {
                    let at = usize::from(arg & 0x3f) % wire_buf.len();
                    if let Some(b) = wire_buf.get_mut(at) {
                        *b ^= 1 << (arg & 7);
                    }
                }
                let input = std::mem::take(wire_buf);
                if op % 6 == 1 {
                    r.handle_input(&input);
                } else {
                    i.handle_input(&input);
                }
            }
            3 => {
                now += Duration::from_millis(u64::from(arg) * 50);
                for s in [&mut i, &mut r] {
                    let _ = s.handle_timeout(now);
                    if let Some(t) = s.poll_timeout() {
                        assert!(t > now || s.error().is_some(), "a deadline in the past");
                    }
                }
            }
            4 => {
                let n = usize::from(arg % 32);
                let junk: Vec<u8> = bytes.by_ref().take(n).collect();
                r.handle_input(&junk);
            }
            _ => {}
        }
        // Drain both sides' records; check what the responder delivers.
        while let Ok(true) = i.poll_frames(now) {
            assert!(i.is_up());
        }
        loop {
            match r.poll_frames(now) {
                Ok(true) => {
                    assert!(r.is_up(), "frames before the session is up");
                    for (_, f) in r.frames() {
                        let want = sent.get(delivered).map(Vec::as_slice);
                        assert_eq!(Some(f), want, "a frame that was not sent, or out of order");
                        delivered += 1;
                    }
                }
                Ok(false) => break,
                Err(_) => {
                    assert!(r.error().is_some());
                    break;
                }
            }
        }
    }
    delivered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ops_deliver_and_survive_tampering() {
        // handshake (deliver both ways thrice), send, deliver, flip a bit, send, deliver.
        let ops = [
            1, 0, 2, 0, 1, 0, 2, 0, 0, 5, 1, 0, 0, 9, 1, 0x81, 0, 3, 1, 0, 3, 200, 4, 3, 1, 2, 3,
        ];
        assert_eq!(link_session(&ops), 1, "the frame before the flipped bit");
        let seed = include_bytes!("../../../../fuzz/corpus/link_session/handshake-then-frames");
        assert_eq!(
            link_session(seed),
            2,
            "the seed reaches an established session"
        );
        link_records(&[9, 0, 4, 2, 1, 0, 1, 0, 0]);
        link_records(&[]);
    }
}
