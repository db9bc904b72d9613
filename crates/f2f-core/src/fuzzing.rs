//! Entry points for the fuzz targets in `fuzz/` (compiled only with
//! `cfg(fuzzing)` or the `fuzzing` feature).
//!
//! Each function takes the fuzzer's bytes, drives one decoder, and panics when
//! an invariant breaks; a panic is what the fuzzer reports as a crash. The
//! targets themselves are three lines that call in here, so every invariant is
//! written once, next to the code it checks, and a crash found by the fuzzer
//! can be replayed as a unit test by calling the same function.

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
}

/// A console host with fixed answers, for fuzzing the console.
struct FuzzHost;

impl crate::console::ConsoleHost for FuzzHost {
    fn pid(&self) -> u32 {
        1
    }
    fn uptime_secs(&self) -> u64 {
        1
    }
    fn mgmt_socket(&self) -> Option<(String, u32)> {
        Some(("/run/f2f/mgmt".into(), 0o600))
    }
    fn ctl_dir(&self) -> (String, u32) {
        ("/run/f2f".into(), 0o600)
    }
    fn user_name(&self, uid: u32) -> String {
        uid.to_string()
    }
    fn group_name(&self, gid: u32) -> String {
        gid.to_string()
    }
}

type FuzzHasher = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

fn fuzz_switch(numports: usize, capacity: usize) -> crate::switch::Switch<FuzzHasher> {
    use crate::fdb::FdbConfig;
    use crate::switch::{Switch, SwitchConfig};
    Switch::new(
        SwitchConfig {
            numports,
            fdb: FdbConfig {
                capacity,
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        },
        FuzzHasher::default(),
    )
}

/// Runs every line of `data` through the console of a small switch: no line
/// may panic, and every reply renders in vde_switch's framing.
pub fn console_lines(data: &[u8]) {
    use crate::console::{execute, parse_line, Action};
    let text = String::from_utf8_lossy(data);
    let mut sw = fuzz_switch(8, 64);
    for line in text.split('\n') {
        let _ = parse_line(line);
        let reply = execute(&mut sw, &FuzzHost, line);
        let out = reply.render();
        match reply.action {
            Action::Logout | Action::Shutdown => {
                assert!(out.ends_with(crate::console::END_OF_SESSION))
            }
            _ => assert!(
                out.ends_with(crate::console::PROMPT),
                "reply without prompt: {out:?}"
            ),
        }
        if let Some(data) = &reply.data {
            assert!(out.starts_with("0000 DATA END WITH '.'\n"));
            assert!(
                data.lines().all(|l| l != "."),
                "a data line ends the block early: {data:?}"
            );
            assert!(data.is_empty() || data.ends_with('\n'));
        }
        if let Action::Load { path } = &reply.action {
            assert!(reply.status.is_none(), "load's status is the shell's");
            let echo = crate::console::script_echo(path, line);
            assert_eq!(echo.matches('\n').count(), 1, "script echo is one line");
        }
    }
}

/// One step of a switch operation sequence.
#[derive(Debug, arbitrary::Arbitrary)]
enum SwitchOp {
    Attach {
        port: u8,
        user: bool,
    },
    Detach {
        port: u8,
    },
    Frame {
        port: u8,
        dst: u8,
        src: u8,
        len: u16,
        tag: Option<u16>,
        multicast: bool,
    },
    Advance {
        millis: u16,
    },
    SetHub(bool),
    SetVlan {
        port: u8,
        vlan: u8,
    },
    AddTagged {
        port: u8,
        vlan: u8,
    },
    Console(u8),
}

/// Drives the switch with arbitrary operation sequences and checks its
/// invariants after every step: a frame never goes back out of its ingress
/// port, only to active ports, at most once per port, and the MAC table never
/// exceeds its capacity.
pub fn switch_ops(data: &[u8]) {
    use crate::mac::MacAddr;
    use crate::switch::{rewrite_frame, AttachRequest, Endpoint, Forward, PortRequest, Rewrite};
    use crate::time::{Duration, Instant};
    use arbitrary::{Arbitrary, Unstructured};

    const CAPACITY: usize = 16;
    let mut u = Unstructured::new(data);
    let mut sw = fuzz_switch(8, CAPACITY);
    let mut now = Instant::ZERO;
    let mut out = Vec::new();
    let mut next_id = 0u32;
    let commands = [
        "vlan/create 5",
        "port/sethub 0",
        "port/create 3",
        "port/remove 3",
        "port/setnumports 6",
        "port/resetcounter",
        "vlan/addport 5 1",
        "vlan/delport 5 1",
        "port/setvlan 2 5",
        "port/setvlan 2 0",
        "vlan/remove 5",
        "hash/setsize 4",
        "hash/setexpire 1",
        "hash/setminper 0",
        "port/setvlan 3 4095",
    ];
    // `arbitrary` keeps producing values from an exhausted input, so stop at
    // its end (and after a bounded number of steps).
    for _ in 0..10_000 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = SwitchOp::arbitrary(&mut u) else {
            break;
        };
        match op {
            SwitchOp::Attach { port, user } => {
                next_id += 1;
                let _ = sw.attach(AttachRequest {
                    port: PortRequest::Number(u32::from(port % 10)),
                    endpoint: Endpoint {
                        id: next_id,
                        module: "fuzz",
                        description: String::new(),
                        user: u32::from(user),
                    },
                    groups: Vec::new(),
                });
            }
            SwitchOp::Detach { port } => {
                let id = sw
                    .port(u16::from(port % 10))
                    .and_then(|p| p.endpoints.first())
                    .map(|e| e.id);
                if let Some(id) = id {
                    sw.detach(u16::from(port % 10), id);
                }
            }
            SwitchOp::Frame {
                port,
                dst,
                src,
                len,
                tag,
                multicast,
            } => {
                let mut frame = vec![0u8; usize::from(len % 1600)];
                let dst = MacAddr([u8::from(multicast), 0, 0, 0, 0, dst % 8]);
                let src = MacAddr([0x02, 0, 0, 0, 1, src]);
                for (slot, byte) in frame.iter_mut().zip(dst.0.iter().chain(src.0.iter())) {
                    *slot = *byte;
                }
                if let Some(vid) = tag {
                    let mut scratch = Vec::new();
                    frame = rewrite_frame(&frame, Rewrite::AddTag(vid % 8), &mut scratch).to_vec();
                }
                let ingress = u16::from(port % 10);
                let verdict = sw.decide(now, ingress, &frame, &mut out);
                let mut seen = std::collections::BTreeSet::new();
                for e in &out {
                    assert_ne!(e.port, ingress, "frame sent back out of its ingress port");
                    assert!(seen.insert(e.port), "two copies to port {}", e.port);
                    assert!(
                        sw.port(e.port).is_some_and(|p| p.is_active()),
                        "copy to inactive port {}",
                        e.port
                    );
                }
                if let Forward::Drop(_) = verdict {
                    assert!(out.is_empty());
                }
            }
            SwitchOp::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis) * 50);
                sw.handle_timeout(now);
            }
            SwitchOp::SetHub(hub) => sw.set_hub(hub),
            SwitchOp::SetVlan { port, vlan } => {
                let _ = sw.create_vlan(u16::from(vlan % 8));
                let _ = sw.set_port_vlan(u16::from(port % 10), u16::from(vlan % 8));
            }
            SwitchOp::AddTagged { port, vlan } => {
                let _ = sw.add_tagged(u16::from(vlan % 8), u16::from(port % 10));
            }
            SwitchOp::Console(i) => {
                let line = commands
                    .get(usize::from(i) % commands.len())
                    .copied()
                    .unwrap_or("");
                let _ = crate::console::execute(&mut sw, &FuzzHost, line);
            }
        }
        assert!(sw.fdb().len() <= CAPACITY, "MAC table over capacity");
    }
}

#[cfg(test)]
mod switch_tests {
    use super::*;

    #[test]
    fn console_and_switch_targets_run_on_samples() {
        console_lines(b"help\nport/print 1\nport/create 2\nport/allprint\nport/epclose 1 2\n\xff\xfe\nlogout\nshutdown");
        console_lines(b"vlan/create 9\nport/create 3\nport/setvlan 3 9\nvlan/addport 9 3\nvlan/print\nvlan/allprint 9\nvlan/delport 9 3\nvlan/remove 9\nhash/print\nhash/find 02:00:00:00:00:01 0\nhash/setsize 0x10\nfstp/print\nfstp/setfstp 1\nfstp/bonus 0 1 -5\nfstp/setedge 0 1 1\ndebug/list\ndebug/add port\nplugin/list\nport/setuser 3 NONE\nport/setgroup 3 0\nload /x\x07\n");
        let mut data = Vec::new();
        for i in 0..4096u32 {
            data.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
        }
        switch_ops(&data);
    }
}
