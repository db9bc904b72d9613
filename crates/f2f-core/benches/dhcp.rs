//! Leases per second: 10,000 simulated clients run DISCOVER → OFFER →
//! REQUEST → ACK against one `DhcpServer`, no I/O, on a fake clock.
//!
//! `cargo bench -p f2f-core --features sim --bench dhcp`
//!
//! Wall time is read with `std::time::Instant` here, outside the sans-IO
//! library, only to measure; the server itself sees the fake clock.
#![allow(clippy::disallowed_methods)] // measuring needs the OS clock; the library never reads it

use std::net::Ipv4Addr;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use f2f_core::dhcp::client::{parse_reply, ClientMessage};
use f2f_core::dhcp::{DhcpConfig, DhcpServer, FrameOutcome, UnixTime};
use f2f_core::mac::MacAddr;
use f2f_core::time::{Duration, Instant};

const CLIENTS: u32 = 10_000;
const ROUNDS: usize = 5;

fn main() {
    let server_mac = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
    let server_ip = Ipv4Addr::new(10, 0, 0, 1);
    let subnet = "10.0.0.0/16".parse().expect("literal subnet");
    let config = DhcpConfig::new(subnet, server_mac).expect("a /16 is valid");

    let mut best_total = StdDuration::MAX;
    let mut best_server = StdDuration::MAX;
    for _ in 0..ROUNDS {
        let mut server = DhcpServer::new(config.clone(), None, Instant::ZERO, UnixTime(0))
            .expect("valid config");
        let mut now = Instant::ZERO;
        let mut in_server = StdDuration::ZERO;
        let start = StdInstant::now();
        for n in 0..CLIENTS {
            let b = n.to_be_bytes();
            let mac = MacAddr([0x52, 0x54, b[0], b[1], b[2], b[3]]);
            now += Duration::from_micros(100);

            let discover = ClientMessage::discover(mac, n).to_frame();
            let t = StdInstant::now();
            assert_eq!(server.handle_frame(now, &discover), FrameOutcome::Handled);
            let offer = server.poll_transmit().expect("an offer");
            in_server += t.elapsed();
            let offered = parse_reply(&offer).expect("a DHCP reply").yiaddr;

            let request = ClientMessage::select(mac, n, offered, server_ip).to_frame();
            let t = StdInstant::now();
            assert_eq!(server.handle_frame(now, &request), FrameOutcome::Handled);
            let ack = server.poll_transmit().expect("an ack");
            while server.poll_event().is_some() {}
            in_server += t.elapsed();
            assert_eq!(parse_reply(&ack).expect("a DHCP reply").yiaddr, offered);
        }
        let total = start.elapsed();
        assert_eq!(server.counters().acks, u64::from(CLIENTS));
        best_total = best_total.min(total);
        best_server = best_server.min(in_server);
    }
    let rate = |d: StdDuration| f64::from(CLIENTS) / d.as_secs_f64();
    println!(
        "dhcp: {CLIENTS} clients DORA, best of {ROUNDS}: {:.0} leases/s end to end ({:.1} ms, \
         client frames built and parsed included), {:.0} leases/s in the server alone ({:.1} ms)",
        rate(best_total),
        best_total.as_secs_f64() * 1e3,
        rate(best_server),
        best_server.as_secs_f64() * 1e3
    );
}
