//! Two sessions wired back to back in memory, time scripted.

use super::*;

fn config(net: u8, node: u8) -> LinkConfig {
    LinkConfig {
        network_key: [net; 32],
        node_secret: [node; 32],
        timers: Timers::default(),
    }
}

/// Move everything `from` wants to send into `to`.
fn pump(now: Instant, from: &mut Session, to: &mut Session) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    from.poll_transmit(&mut bytes);
    from.count_sent(bytes.len());
    to.handle_input(&bytes);
    let mut frames = Vec::new();
    while let Ok(true) = to.poll_frames(now) {
        frames.extend(to.frames().map(|(_, f)| f.to_vec()));
    }
    frames
}

fn pair(now: Instant, a: &LinkConfig, b: &LinkConfig) -> (Session, Session) {
    let mut i = Session::new(now, Role::Initiator, a, [1; 32]).unwrap();
    let mut r = Session::new(now, Role::Responder, b, [2; 32]).unwrap();
    for _ in 0..3 {
        pump(now, &mut i, &mut r);
        pump(now, &mut r, &mut i);
    }
    (i, r)
}

fn frames(list: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in list {
        wire::push_frame(&mut out, f).unwrap();
    }
    out
}

#[test]
fn handshake_then_frames_both_ways() {
    let t0 = Instant::from_secs(1);
    let (mut i, mut r) = pair(t0, &config(7, 1), &config(7, 2));
    assert!(i.is_up() && r.is_up());
    assert_eq!(
        i.poll_event(),
        Some(Event::Up {
            peer_key: crypto::public_key(&[2; 32]),
            purpose: Purpose::Link,
        })
    );
    assert_eq!(
        r.poll_event(),
        Some(Event::Up {
            peer_key: crypto::public_key(&[1; 32]),
            purpose: Purpose::Link,
        })
    );
    let big = vec![0xab; 1518];
    let jumbo = vec![0xcd; wire::MAX_FRAME];
    i.send_messages(&frames(&[&big, b"small", &jumbo])).unwrap();
    let mut out = Vec::new();
    i.poll_transmit(&mut out);
    // Two frames fit one record, the jumbo one needs its own.
    let records = {
        let mut d = RecordDecoder::new();
        d.push(&out);
        let mut n = 0;
        while let Ok(Some(_)) = d.next_record(usize::from(u16::MAX)) {
            n += 1;
        }
        n
    };
    assert_eq!(records, 2);
    r.handle_input(&out);
    let mut got = Vec::new();
    while let Ok(true) = r.poll_frames(t0) {
        got.extend(r.frames().map(|(_, f)| f.to_vec()));
    }
    assert_eq!(got, [big.clone(), b"small".to_vec(), jumbo]);
    r.send_messages(&frames(&[&big])).unwrap();
    assert_eq!(pump(t0, &mut r, &mut i), [big]);
    assert_eq!(r.stats().frames_in, 3);
    assert_eq!(i.stats().frames_out, 3);
}

#[test]
fn wrong_key_is_refused_on_both_sides_and_nothing_passes() {
    let t0 = Instant::from_secs(1);
    let (mut i, mut r) = pair(t0, &config(7, 1), &config(8, 2));
    assert_eq!(r.error(), Some(&LinkError::KeyMismatch));
    assert_eq!(
        i.error(),
        Some(&LinkError::RefusedByPeer(Refusal::KeyMismatch))
    );
    assert!(r.error().unwrap().to_string().contains("key mismatch"));
    assert!(i.error().unwrap().to_string().contains("key mismatch"));
    assert!(i.send_messages(&frames(&[b"x"])).is_err());
    assert!(i.poll_event().is_none() && r.poll_event().is_none());
    assert_eq!(i.poll_timeout(), None);
}

#[test]
fn tampered_and_replayed_records_end_the_session() {
    let t0 = Instant::from_secs(1);
    let (mut i, mut r) = pair(t0, &config(7, 1), &config(7, 2));
    i.send_messages(&frames(&[b"hello"])).unwrap();
    let mut rec = Vec::new();
    i.poll_transmit(&mut rec);
    r.handle_input(&rec);
    assert!(r.poll_frames(t0).unwrap());
    // The same record again: its nonce is behind the counter.
    r.handle_input(&rec);
    assert_eq!(r.poll_frames(t0).unwrap_err(), LinkError::Tampered);

    let (mut i, mut r) = pair(t0, &config(7, 1), &config(7, 2));
    i.send_messages(&frames(&[b"hello"])).unwrap();
    let mut rec = Vec::new();
    i.poll_transmit(&mut rec);
    *rec.last_mut().unwrap() ^= 1;
    r.handle_input(&rec);
    assert_eq!(r.poll_frames(t0).unwrap_err(), LinkError::Tampered);
    assert!(r.send_messages(&frames(&[b"x"])).is_err());
}

#[test]
fn keepalive_measures_rtt_and_silence_is_death() {
    let t0 = Instant::from_secs(1);
    let (mut i, mut r) = pair(t0, &config(7, 1), &config(7, 2));
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(i.poll_timeout(), Some(t1));
    i.handle_timeout(t1).unwrap();
    pump(t1, &mut i, &mut r);
    let t2 = t1 + Duration::from_millis(30);
    pump(t2, &mut r, &mut i);
    assert_eq!(i.stats().rtt, Some(Duration::from_millis(30)));
    // The responder hears nothing more.
    let dead = t1 + Timers::default().dead_after;
    let mut now = t1;
    while now < dead {
        now = r.poll_timeout().unwrap();
        let _ = r.handle_timeout(now);
    }
    assert!(matches!(r.error(), Some(LinkError::PeerSilent(_))));
}

#[test]
fn handshake_times_out_and_garbage_is_refused() {
    let t0 = Instant::from_secs(1);
    let mut r = Session::new(t0, Role::Responder, &config(7, 2), [2; 32]).unwrap();
    let deadline = r.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(5));
    r.handle_timeout(t0 + Duration::from_secs(1)).unwrap();
    assert!(matches!(
        r.handle_timeout(deadline),
        Err(LinkError::HandshakeTimeout(_))
    ));

    let mut r = Session::new(t0, Role::Responder, &config(7, 2), [2; 32]).unwrap();
    r.handle_input(b"GET / HTTP/1.1\r\n\r\n");
    assert!(matches!(r.poll_frames(t0), Err(LinkError::Malformed(_))));
    let mut r = Session::new(t0, Role::Responder, &config(7, 2), [2; 32]).unwrap();
    r.handle_input(&[0, 3, 2, 0, 0]);
    assert_eq!(
        r.poll_frames(t0).unwrap_err(),
        LinkError::Unexpected(RecordKind::Transport)
    );
}

#[test]
fn offloaded_frames_cross_whole_once_the_peer_announced_them() {
    let t0 = Instant::from_secs(1);
    let (mut i, mut r) = pair(t0, &config(7, 1), &config(7, 2));
    assert!(i.peer_takes_offloads() && r.peer_takes_offloads());
    let hdr = VnetHdr {
        flags: crate::wire::offload::F_NEEDS_CSUM,
        gso_type: crate::wire::offload::GSO_TCPV4,
        hdr_len: 66,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    let segment = vec![0x5a; wire::MAX_OFFLOADED_FRAME];
    let mut messages = Vec::new();
    messages.extend_from_slice(&wire::offloaded_header(&hdr, segment.len()).unwrap());
    messages.extend_from_slice(&segment);
    wire::push_frame(&mut messages, b"plain").unwrap();
    i.send_messages(&messages).unwrap();
    let mut out = Vec::new();
    i.poll_transmit(&mut out);
    r.handle_input(&out);
    let mut got = Vec::new();
    while let Ok(true) = r.poll_frames(t0) {
        got.extend(r.frames().map(|(h, f)| (h, f.to_vec())));
    }
    assert_eq!(
        got,
        [(hdr, segment), (VnetHdr::default(), b"plain".to_vec())]
    );
    assert_eq!(i.stats().frames_out, 2);
    assert_eq!(r.stats().frames_in, 2);
    assert!(wire::offloaded_header(&hdr, wire::MAX_OFFLOADED_FRAME + 1).is_err());
}

/// The initiator's purpose reaches the responder inside the handshake; a wrong key still fails
/// before any purpose is believed.
#[test]
fn the_purpose_travels_in_the_handshake() {
    let t0 = Instant::from_secs(1);
    let (a, b) = (config(7, 1), config(7, 2));
    let mut i = Session::with_purpose(t0, Role::Initiator, &a, [1; 32], Purpose::Image).unwrap();
    let mut r = Session::new(t0, Role::Responder, &b, [2; 32]).unwrap();
    for _ in 0..3 {
        pump(t0, &mut i, &mut r);
        pump(t0, &mut r, &mut i);
    }
    for s in [&mut i, &mut r] {
        assert!(matches!(
            s.poll_event(),
            Some(Event::Up {
                purpose: Purpose::Image,
                ..
            })
        ));
    }
    let mut i =
        Session::with_purpose(t0, Role::Initiator, &config(8, 1), [1; 32], Purpose::Image).unwrap();
    let mut r = Session::new(t0, Role::Responder, &b, [2; 32]).unwrap();
    for _ in 0..3 {
        pump(t0, &mut i, &mut r);
        pump(t0, &mut r, &mut i);
    }
    assert_eq!(r.error(), Some(&LinkError::KeyMismatch));
    assert_eq!(r.poll_event(), None);
}
