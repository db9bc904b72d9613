//! Micro benchmarks of the switching core (criterion): the MAC table with
//! 10^6 entries (lookups, refreshing learns, learns of new addresses that
//! evict the oldest), the forwarding decision with 64 ports all talking to
//! each other, and the decoders of the wire formats a port reads (the
//! length-prefixed stream of stream/TCP links, the VDE v3 request).
//!
//! `cargo bench -p f2f-core --bench switching` (criterion prints elements per
//! second; `tests/bench/micro.py` turns its estimates into BENCHMARKS.md rows).
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use f2f_core::fdb::{Fdb, FdbConfig};
use f2f_core::mac::MacAddr;
use f2f_core::switch::{
    AttachRequest, Endpoint, PortId, PortRequest, Switch, SwitchConfig, NO_USER,
};
use f2f_core::time::{Duration, Instant};
use f2f_core::wire::stream::{LengthPrefix, StreamDecoder};
use f2f_core::wire::vde::{Request, RequestKind};
use foldhash::fast::FixedState;

const ENTRIES: u32 = 1_000_000;
/// Operations per measured iteration (criterion's per-iteration overhead
/// stays out of the per-operation figure).
const OPS: u32 = 1024;

fn mac(n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([0x02, 0x00, b[0], b[1], b[2], b[3]])
}

/// A pseudo-random walk over 0..ENTRIES (no allocation, no OS randomness).
fn scrambled(i: u32) -> u32 {
    i.wrapping_mul(2_654_435_761) % ENTRIES
}

fn full_table(now: Instant) -> Fdb<FixedState> {
    let config = FdbConfig {
        capacity: ENTRIES as usize,
        ..FdbConfig::default()
    };
    let mut fdb = Fdb::new(config, FixedState::with_seed(7));
    for n in 0..ENTRIES {
        fdb.learn(now, 1, mac(n), PortId::try_from(n % 64 + 1).unwrap());
    }
    fdb
}

fn mac_table(c: &mut Criterion) {
    let now = Instant::ZERO + Duration::from_secs(1);
    let mut fdb = full_table(now);
    let mut g = c.benchmark_group("fdb_1e6");
    g.throughput(Throughput::Elements(u64::from(OPS)));
    let mut i = 0u32;
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                i = i.wrapping_add(1);
                black_box(fdb.lookup(now, 1, mac(scrambled(i))));
            }
        })
    });
    g.bench_function("lookup_miss", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                i = i.wrapping_add(1);
                black_box(fdb.lookup(now, 2, mac(scrambled(i))));
            }
        })
    });
    g.bench_function("learn_refresh", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                i = i.wrapping_add(1);
                let n = scrambled(i);
                black_box(fdb.learn(now, 1, mac(n), PortId::try_from(n % 64 + 1).unwrap()));
            }
        })
    });
    // New addresses into the full table: each learn evicts the oldest.
    let mut fresh = ENTRIES;
    g.bench_function("learn_new_evicting", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                fresh = fresh.wrapping_add(1);
                black_box(fdb.learn(now, 1, mac(fresh), 3));
            }
        })
    });
    g.finish();
}

/// An untagged Ethernet frame of `len` bytes from `src` to `dst`.
fn frame(src: MacAddr, dst: MacAddr, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&dst.0);
    f[6..12].copy_from_slice(&src.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

fn forwarding(c: &mut Criterion) {
    const PORTS: u32 = 64;
    let config = SwitchConfig {
        numports: PORTS as usize + 1,
        ..SwitchConfig::default()
    };
    let mut sw = Switch::new(config, FixedState::with_seed(9));
    for p in 1..=PORTS {
        sw.attach(AttachRequest {
            port: PortRequest::Number(p),
            endpoint: Endpoint {
                id: p,
                module: "bench",
                description: format!("host {p}"),
                user: NO_USER,
            },
            groups: Vec::new(),
        })
        .unwrap();
    }
    let now = Instant::ZERO + Duration::from_secs(1);
    let host = |p: u32| mac(p);
    // Every port says hello once so that every host is learned.
    let mut out = Vec::new();
    for p in 1..=PORTS {
        let f = frame(host(p), MacAddr([0xff; 6]), 64);
        sw.decide(now, PortId::try_from(p).unwrap(), &f, &mut out);
    }
    // Then all talk to all: frame k goes from port k%64+1 to another port.
    let frames: Vec<(PortId, Vec<u8>)> = (0..PORTS * PORTS)
        .filter(|k| k % PORTS != k / PORTS)
        .map(|k| {
            let (from, to) = (k % PORTS + 1, k / PORTS + 1);
            (
                PortId::try_from(from).unwrap(),
                frame(host(from), host(to), 64),
            )
        })
        .collect();
    let mut g = c.benchmark_group("switch_64_ports");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decide_unicast_all_to_all", |b| {
        b.iter(|| {
            for (port, f) in &frames {
                black_box(sw.decide(now, *port, f, &mut out));
            }
        })
    });
    let broadcasts: Vec<(PortId, Vec<u8>)> = (1..=PORTS)
        .map(|p| {
            (
                PortId::try_from(p).unwrap(),
                frame(host(p), MacAddr([0xff; 6]), 64),
            )
        })
        .collect();
    g.throughput(Throughput::Elements(broadcasts.len() as u64));
    g.bench_function("decide_broadcast_flood_63_copies", |b| {
        b.iter(|| {
            for (port, f) in &broadcasts {
                black_box(sw.decide(now, *port, f, &mut out));
            }
        })
    });
    g.finish();
}

fn decoding(c: &mut Criterion) {
    // A 64 KiB read of a stream link: 1514-byte frames behind 2-byte
    // big-endian lengths, cut wherever the read ended.
    let payload = frame(mac(1), mac(2), 1514);
    let mut wire = Vec::new();
    while wire.len() < 64 * 1024 {
        wire.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        wire.extend_from_slice(&payload);
    }
    let frames = wire.len() / (payload.len() + 2);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(frames as u64));
    g.bench_function("stream_u16_1514B_frames_64KiB_reads", |b| {
        b.iter_batched_ref(
            || StreamDecoder::new(LengthPrefix::U16, 1518),
            |dec| {
                let mut rest = &wire[..];
                let mut n = 0;
                while !rest.is_empty() {
                    let took = dec.push(rest).unwrap();
                    rest = &rest[took..];
                    while let Some(f) = dec.next_frame() {
                        black_box(f.unwrap());
                        n += 1;
                    }
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    let req = Request {
        kind: RequestKind::NewControl,
        port: 0,
        sock_path: b"/tmp/vde.12345-00000".to_vec(),
        description: "user=root PID=12345 SOCK=/tmp/vde.12345-00000".to_string(),
    };
    let mut bytes = Vec::new();
    req.emit(&mut bytes);
    g.throughput(Throughput::Elements(1));
    g.bench_function("vde_request", |b| {
        b.iter(|| black_box(Request::parse(black_box(&bytes))))
    });
    g.finish();
}

criterion_group!(benches, mac_table, forwarding, decoding);
criterion_main!(benches);
