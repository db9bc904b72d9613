//! Fuzz entry points for the DHCP server.

use arbitrary::{Arbitrary, Unstructured};
use std::net::Ipv4Addr;

use crate::dhcp::client::{parse_reply, ClientMessage, Referee};
use crate::dhcp::{DhcpConfig, DhcpServer, Reservation, UnixTime};
use crate::mac::MacAddr;
use crate::time::{Duration, Instant};

const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const WALL0: u64 = 1_700_000_000;

/// One step of a DHCP server fuzz run.
#[derive(Arbitrary, Debug)]
enum Op {
    Discover {
        client: u8,
        xid: u32,
        requested: Option<u8>,
        broadcast: bool,
    },
    Select {
        client: u8,
        xid: u32,
        ip: u8,
        foreign_server: bool,
    },
    InitReboot {
        client: u8,
        xid: u32,
        ip: u8,
    },
    Renew {
        client: u8,
        xid: u32,
        ip: u8,
    },
    Rebind {
        client: u8,
        xid: u32,
        ip: u8,
    },
    Release {
        client: u8,
        xid: u32,
        ip: u8,
    },
    Decline {
        client: u8,
        xid: u32,
        ip: u8,
    },
    Inform {
        client: u8,
        xid: u32,
        ip: u8,
    },
    /// A well-formed request with one byte changed.
    Mutated {
        client: u8,
        ip: u8,
        at: u16,
        value: u8,
    },
    /// Anything at all.
    Raw(Vec<u8>),
    /// Time passes (whole seconds: the lease file keeps whole seconds).
    Advance {
        secs: u16,
    },
    /// The shell delivers the timer.
    Timeout,
    /// The switch restarts from its lease snapshot.
    Restart,
}

/// Clients 0..48 compete for a pool of 19 addresses (one MAC reserved).
fn client(n: u8) -> MacAddr {
    MacAddr([0x52, 0x54, 0, 0, 0, n % 48])
}

/// Mostly addresses of the /27, sometimes the server's, its broadcast, or
/// another network.
fn addr(n: u8) -> Ipv4Addr {
    if n < 224 {
        Ipv4Addr::new(10, 0, 0, n % 32)
    } else {
        Ipv4Addr::new(192, 168, 0, n)
    }
}

fn config() -> DhcpConfig {
    let subnet = "10.0.0.0/27".parse().unwrap_or_else(|_| unreachable!());
    let mut c = DhcpConfig::new(subnet, SERVER_MAC).unwrap_or_else(|_| unreachable!());
    c.range = crate::dhcp::IpRange {
        first: addr(2),
        last: addr(20),
    };
    c.lease_time = Duration::from_secs(30);
    c.reservations = vec![Reservation {
        mac: client(3),
        ip: addr(25),
    }];
    c
}

/// Arbitrary sequences of frames and time jumps against one DHCP server.
///
/// Asserted after every step: the address table's invariants (no address
/// with two MACs, no MAC with two addresses, bounded offers), and, watching
/// the wire like a client would, that no address is offered or acknowledged
/// to a MAC while another MAC's lease on it is running and was not released
/// or declined. Restarts go through the lease snapshot.
pub fn dhcp_server(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let config = config();
    let mut now = Instant::ZERO;
    let wall = |now: Instant| UnixTime(WALL0 + now.secs());
    let Ok(mut server) = DhcpServer::new(config.clone(), None, now, wall(now)) else {
        unreachable!("the fuzz config is valid")
    };
    server.limit_offers(8);
    let mut referee = Referee::new(&config);
    let mut steps = 0;
    while !u.is_empty() && steps < 2000 {
        steps += 1;
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        let frame = match op {
            Op::Advance { secs } => {
                now += Duration::from_secs(u64::from(secs));
                None
            }
            Op::Timeout => {
                // Every deadline is whole seconds here (hold, lease, decline).
                if let Some(t) = server.poll_timeout() {
                    now = now.max(t);
                }
                server.handle_timeout(now);
                None
            }
            Op::Restart => {
                let snapshot = server.snapshot(now, wall(now));
                match DhcpServer::new(config.clone(), Some(&snapshot), now, wall(now)) {
                    Ok(restarted) => server = restarted,
                    Err(e) => panic!("restart refused a valid config: {e}"),
                }
                server.limit_offers(8);
                assert_eq!(
                    server.counters().snapshot_dropped,
                    0,
                    "own snapshot must restore whole"
                );
                None
            }
            Op::Raw(bytes) => Some(bytes),
            Op::Mutated {
                client: c,
                ip,
                at,
                value,
            } => {
                let mut f = ClientMessage::select(client(c), 1, addr(ip), SERVER_IP).to_frame();
                let len = f.len();
                if let Some(b) = f.get_mut(usize::from(at) % len) {
                    *b = value;
                }
                Some(f)
            }
            op => Some(message(op).to_frame()),
        };
        if let Some(frame) = frame {
            referee.client_sent(&frame);
            server.handle_frame(now, &frame);
        }
        while let Some(out) = server.poll_transmit() {
            // Every UDP frame the server sends is a DHCP reply a client can read.
            let udp_to_68 = out.get(12..14) == Some(&[8, 0])
                && out.get(23) == Some(&17)
                && out.get(36..38) == Some(&[0, 68]);
            match parse_reply(&out) {
                Some(reply) => {
                    if let Err(broken) = referee.server_sent(now, &reply) {
                        panic!("address given to two MACs: {broken}");
                    }
                }
                None if udp_to_68 => panic!("unreadable DHCP reply: {out:02x?}"),
                None => {}
            }
        }
        while server.poll_event().is_some() {}
        if let Err(broken) = server.check_invariants() {
            panic!("DHCP table invariant broken: {broken}");
        }
    }
    let _ = server.render_print(now);
    let _ = server.take_dirty();
}

fn message(op: Op) -> ClientMessage {
    match op {
        Op::Discover {
            client: c,
            xid,
            requested,
            broadcast,
        } => {
            let mut m = ClientMessage::discover(client(c), xid);
            m.requested_ip = requested.map(addr);
            m.broadcast = broadcast;
            m
        }
        Op::Select {
            client: c,
            xid,
            ip,
            foreign_server,
        } => {
            let server = if foreign_server { addr(30) } else { SERVER_IP };
            ClientMessage::select(client(c), xid, addr(ip), server)
        }
        Op::InitReboot { client: c, xid, ip } => {
            ClientMessage::init_reboot(client(c), xid, addr(ip))
        }
        Op::Renew { client: c, xid, ip } => {
            ClientMessage::renew(client(c), xid, addr(ip), SERVER_IP, SERVER_MAC)
        }
        Op::Rebind { client: c, xid, ip } => ClientMessage::rebind(client(c), xid, addr(ip)),
        Op::Release { client: c, xid, ip } => {
            ClientMessage::release(client(c), xid, addr(ip), SERVER_IP, SERVER_MAC)
        }
        Op::Decline { client: c, xid, ip } => {
            ClientMessage::decline(client(c), xid, addr(ip), SERVER_IP)
        }
        Op::Inform { client: c, xid, ip } => ClientMessage::inform(client(c), xid, addr(ip)),
        _ => ClientMessage::discover(client(0), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::test_bytes as bytes;

    #[test]
    fn dhcp_server_survives_pseudo_random_runs() {
        for seed in 0..200 {
            dhcp_server(&bytes(seed, 4096));
        }
    }

    #[test]
    fn dhcp_server_survives_edge_inputs() {
        dhcp_server(&[]);
        dhcp_server(&[0xff; 10_000]);
        dhcp_server(&[0; 10_000]);
    }
}
