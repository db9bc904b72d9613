//! DHCP clients against the switch's built-in server: busybox `udhcpc` and ISC `dhclient` on
//! `vde_plug2tap` taps in namespaces, DHCP frames crafted by hand for a [`RawClient`] (floods,
//! junk, full exchanges), the `dhcp/print` console output, and the cached test VM image.
//!
//! The frames are built here from RFC 2131/2132 directly, not with the server's own code, so a
//! misreading of the RFC on one side does not hide in both.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::netns::{run_ok, start_plug2tap, Netns};
use crate::proc::{Child, Spawn};
use crate::vde::RawClient;
use crate::vm::{cached_build, images_dir, sha256};
use crate::wait_until;

/// busybox, for `udhcpc` (package busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";
/// ISC dhclient (package isc-dhcp-client).
pub const DHCLIENT: &str = "/usr/sbin/dhclient";
/// nmap.
pub const NMAP: &str = "/usr/bin/nmap";

/// DHCP message types (RFC 2132 §9.6).
pub mod msg {
    /// DHCPDISCOVER.
    pub const DISCOVER: u8 = 1;
    /// DHCPOFFER.
    pub const OFFER: u8 = 2;
    /// DHCPREQUEST.
    pub const REQUEST: u8 = 3;
    /// DHCPACK.
    pub const ACK: u8 = 5;
    /// DHCPNAK.
    pub const NAK: u8 = 6;
}

/// A `vde_plug2tap` tap in `ns` with no address, up, with `mac` if given (for DHCP clients).
pub fn bare_tap(ns: &Netns, dir: &Path, tap: &str, mac: Option<&str>, logdir: &Path) -> Child {
    let plug = start_plug2tap(ns, dir, tap, None, logdir);
    if let Some(mac) = mac {
        run_ok(ns.ip().args(["link", "set", tap, "address", mac]));
    }
    run_ok(ns.ip().args(["link", "set", tap, "up"]));
    plug
}

/// The first IPv4 address on `dev` in `ns`.
pub fn addr_of(ns: &Netns, dev: &str) -> Option<Ipv4Addr> {
    let out = ns
        .ip()
        .args(["-4", "-o", "addr", "show", "dev", dev])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?;
    field.split('/').next()?.parse().ok()
}

/// What a DHCP client run produced.
#[derive(Debug)]
pub struct ClientRun {
    /// The address configured on the tap, if any.
    pub ip: Option<Ipv4Addr>,
    /// From the client's start to its exit (udhcpc) or to the address appearing (dhclient).
    pub took: Duration,
    /// The client's output.
    pub output: String,
}

/// Runs `busybox udhcpc` on `tap` in `ns` until it has a lease or gives up (`tries` DISCOVERs
/// one second apart); a hook script in `tmp` puts the address on the tap.
pub fn udhcpc(ns: &Netns, tap: &str, tmp: &Path, tries: u32) -> ClientRun {
    let script = tmp.join("udhcpc.hook");
    if !script.exists() {
        std::fs::write(
            &script,
            "#!/bin/sh\ncase \"$1\" in\n\
             deconfig) ip addr flush dev \"$interface\"; ip link set \"$interface\" up ;;\n\
             bound|renew) ip addr flush dev \"$interface\"; \
             ip addr add \"$ip/${mask:-24}\" dev \"$interface\" ;;\nesac\nexit 0\n",
        )
        .expect("write udhcpc hook");
        set_mode(&script, 0o755);
    }
    let start = Instant::now();
    let out = ns
        .exec(BUSYBOX)
        .args(["udhcpc", "-f", "-q", "-n", "-T", "1", "-A", "1"])
        .args(["-t", &tries.to_string(), "-i", tap, "-s"])
        .arg(&script)
        .output()
        .expect("running udhcpc");
    let took = start.elapsed();
    ClientRun {
        ip: addr_of(ns, tap),
        took,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Starts ISC `dhclient -d` on `tap` in `ns` with its own hook script, lease file and pid file in
/// `tmp` (so the host's `/etc/resolv.conf` and `/var/lib/dhcp` are never touched), and waits up
/// to `timeout` for the address. The returned child keeps dhclient running (it renews).
pub fn dhclient(ns: &Netns, tap: &str, tmp: &Path, timeout: Duration) -> (Child, ClientRun) {
    let script = tmp.join(format!("dhclient-{tap}.hook"));
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$reason\" in\n\
         PREINIT) ip link set \"$interface\" up ;;\n\
         BOUND|RENEW|REBIND|REBOOT) ip addr flush dev \"$interface\"; \
         ip addr add \"$new_ip_address/24\" dev \"$interface\" ;;\n\
         EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev \"$interface\" ;;\nesac\nexit 0\n",
    )
    .expect("write dhclient hook");
    set_mode(&script, 0o755);
    let mut cmd = ns.exec(DHCLIENT);
    cmd.args(["-4", "-d", "-v", "-sf"])
        .arg(&script)
        .arg("-lf")
        .arg(tmp.join(format!("dhclient-{tap}.leases")))
        .arg("-pf")
        .arg(tmp.join(format!("dhclient-{tap}.pid")))
        .arg(tap);
    let start = Instant::now();
    let mut child = Child::spawn(&format!("dhclient-{tap}"), cmd, tmp, Spawn::default());
    wait_until(timeout, || {
        addr_of(ns, tap).is_some() || !child.is_running()
    });
    let run = ClientRun {
        ip: addr_of(ns, tap),
        took: start.elapsed(),
        output: child.stderr(),
    };
    (child, run)
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// One DHCP client message, as a client would build it.
#[derive(Debug, Clone)]
pub struct Message {
    /// Message type (option 53), see [`msg`].
    pub kind: u8,
    /// The client's MAC: Ethernet source and `chaddr`.
    pub mac: [u8; 6],
    /// Transaction id.
    pub xid: u32,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// Requested address (option 50).
    pub requested: Option<Ipv4Addr>,
    /// Server identifier (option 54).
    pub server_id: Option<Ipv4Addr>,
}

impl Message {
    /// A DISCOVER from `mac`.
    pub fn discover(mac: [u8; 6], xid: u32) -> Message {
        Message {
            kind: msg::DISCOVER,
            mac,
            xid,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: None,
            server_id: None,
        }
    }

    /// A REQUEST in SELECTING state for `ip` offered by `server`.
    pub fn select(mac: [u8; 6], xid: u32, ip: Ipv4Addr, server: Ipv4Addr) -> Message {
        Message {
            kind: msg::REQUEST,
            requested: Some(ip),
            server_id: Some(server),
            ..Message::discover(mac, xid)
        }
    }

    /// The BOOTP payload (RFC 2131 §2, options after the magic cookie, RFC 2132).
    pub fn bootp(&self) -> Vec<u8> {
        let mut b = vec![0u8; 236];
        b[0] = 1; // BOOTREQUEST
        b[1] = 1; // Ethernet
        b[2] = 6;
        b[4..8].copy_from_slice(&self.xid.to_be_bytes());
        b[12..16].copy_from_slice(&self.ciaddr.octets());
        b[28..34].copy_from_slice(&self.mac);
        b.extend_from_slice(&[99, 130, 83, 99]);
        b.extend_from_slice(&[53, 1, self.kind]);
        if let Some(ip) = self.requested {
            b.extend_from_slice(&[50, 4]);
            b.extend_from_slice(&ip.octets());
        }
        if let Some(ip) = self.server_id {
            b.extend_from_slice(&[54, 4]);
            b.extend_from_slice(&ip.octets());
        }
        b.extend_from_slice(&[55, 3, 1, 3, 6, 255]);
        b.resize(b.len().max(300), 0);
        b
    }

    /// The whole broadcast frame: Ethernet, IPv4 0.0.0.0 → 255.255.255.255, UDP 68 → 67.
    pub fn frame(&self) -> Vec<u8> {
        udp_frame(
            [0xff; 6],
            self.mac,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &self.bootp(),
        )
    }
}

/// An Ethernet/IPv4/UDP frame with a correct IPv4 header checksum and no UDP checksum (0, allowed
/// over IPv4).
pub fn udp_frame(
    dst: [u8; 6],
    src: [u8; 6],
    ip_src: Ipv4Addr,
    ip_dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&ip_src.octets());
    ip[16..20].copy_from_slice(&ip_dst.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A server reply as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    /// Message type (option 53).
    pub kind: u8,
    /// Transaction id.
    pub xid: u32,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// `chaddr`.
    pub chaddr: [u8; 6],
    /// Server identifier (option 54).
    pub server_id: Option<Ipv4Addr>,
}

/// Reads a DHCP reply (UDP 67 → 68) out of an Ethernet frame; `None` for anything else.
pub fn parse_reply(f: &[u8]) -> Option<ServerReply> {
    if f.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(f.get(14)? & 0x0f) * 4;
    let udp = f.get(14 + ihl..)?;
    if udp.get(0..4)? != [0, 67, 0, 68] || *f.get(14 + 9)? != 17 {
        return None;
    }
    let b = udp.get(8..)?;
    if *b.first()? != 2 || b.get(236..240)? != [99, 130, 83, 99] {
        return None;
    }
    let mut kind = None;
    let mut server_id = None;
    let mut opts = b.get(240..)?;
    while let Some((&code, rest)) = opts.split_first() {
        match code {
            0 => opts = rest,
            255 => break,
            _ => {
                let len = usize::from(*rest.first()?);
                let val = rest.get(1..1 + len)?;
                match code {
                    53 => kind = val.first().copied(),
                    54 if len == 4 => {
                        server_id = Some(Ipv4Addr::new(val[0], val[1], val[2], val[3]))
                    }
                    _ => {}
                }
                opts = rest.get(1 + len..)?;
            }
        }
    }
    let ip = |o: usize| {
        Some(Ipv4Addr::new(
            *b.get(o)?,
            *b.get(o + 1)?,
            *b.get(o + 2)?,
            *b.get(o + 3)?,
        ))
    };
    Some(ServerReply {
        kind: kind?,
        xid: u32::from_be_bytes(b.get(4..8)?.try_into().ok()?),
        yiaddr: ip(16)?,
        chaddr: b.get(28..34)?.try_into().ok()?,
        server_id,
    })
}

/// Sends `m` from `client` and waits up to `timeout` for the reply with its xid.
pub fn exchange(client: &RawClient, m: &Message, timeout: Duration) -> Option<ServerReply> {
    client.send(&m.frame());
    let f = client.recv_matching(timeout, |f| {
        parse_reply(f).is_some_and(|r| r.xid == m.xid && r.chaddr == m.mac)
    })?;
    parse_reply(&f)
}

/// DISCOVER, OFFER, REQUEST, ACK for `mac` through `client`; the address leased, if any.
pub fn dora(client: &RawClient, mac: [u8; 6], xid: u32) -> Option<Ipv4Addr> {
    let offer = exchange(client, &Message::discover(mac, xid), Duration::from_secs(3))?;
    if offer.kind != msg::OFFER {
        return None;
    }
    let server = offer.server_id?;
    let ack = exchange(
        client,
        &Message::select(mac, xid.wrapping_add(1), offer.yiaddr, server),
        Duration::from_secs(3),
    )?;
    (ack.kind == msg::ACK && ack.yiaddr == offer.yiaddr).then_some(ack.yiaddr)
}

/// `dhcp/print` read back: the counters by name and the address lines.
#[derive(Debug, Clone, Default)]
pub struct DhcpPrint {
    /// `discover`, `offer`, `ack`, `nak`, `exhausted`, `malformed`, … → value.
    pub counters: BTreeMap<String, u64>,
    /// `(ip, mac, state words)` per `Lease` line.
    pub leases: Vec<(Ipv4Addr, String, String)>,
}

impl DhcpPrint {
    /// Parses the data lines of a `dhcp/print` reply.
    pub fn parse(lines: &[String]) -> DhcpPrint {
        let mut p = DhcpPrint::default();
        for line in lines {
            if let Some(rest) = line.strip_prefix("Lease ") {
                let mut w = rest.split_whitespace();
                if let (Some(ip), Some(mac)) = (w.next(), w.next()) {
                    if let Ok(ip) = ip.parse() {
                        p.leases
                            .push((ip, mac.to_string(), w.collect::<Vec<_>>().join(" ")));
                    }
                }
            } else if line.starts_with(" discover") || line.starts_with(" exhausted") {
                let words: Vec<&str> = line.split_whitespace().collect();
                for pair in words.chunks(2) {
                    if let [name, value] = pair {
                        if let Ok(v) = value.parse() {
                            p.counters.insert((*name).to_string(), v);
                        }
                    }
                }
            }
        }
        p
    }

    /// A counter, 0 when absent.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// The addresses in state `leased`, with their MACs.
    pub fn leased(&self) -> Vec<(Ipv4Addr, String)> {
        self.leases
            .iter()
            .filter(|(_, _, s)| s.starts_with("leased"))
            .map(|(ip, mac, _)| (*ip, mac.clone()))
            .collect()
    }
}

/// Where built test VM images are cached between runs: `$F2F_E2E_CACHE`, else
/// `/var/tmp/f2f-e2e-cache`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("F2F_E2E_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/f2f-e2e-cache"))
}

/// The test VM (`vmlinuz`, `initramfs.gz`) built by `images/build-test-vm.sh` into the cache,
/// rebuilt when the script changed. `None` (after [`crate::tools::unmet`]) when it cannot be built.
pub fn test_vm_image() -> Option<PathBuf> {
    let sum = sha256(&images_dir().join("build-test-vm.sh"));
    cached_build(
        "build-test-vm.sh",
        &cache_dir().join("test-vm"),
        &["vmlinuz", "initramfs.gz"],
        &[format!("script {sum}")],
        &[("TVM_CACHE", cache_dir().join("debs"))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_is_a_valid_bootp_broadcast() {
        let m = Message::discover([0x02, 0, 0, 0, 0, 9], 0x1234_5678);
        let f = m.frame();
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(checksum(&f[14..34]), 0, "IPv4 header checksum verifies");
        let bootp = &f[42..];
        assert_eq!(bootp.len(), 300);
        assert_eq!(&bootp[4..8], &0x1234_5678u32.to_be_bytes());
        assert_eq!(&bootp[236..243], &[99, 130, 83, 99, 53, 1, 1]);
    }

    #[test]
    fn reads_dhcp_print() {
        let lines: Vec<String> = [
            "DHCP server 10.0.0.1 (02:f2:0a:00:00:01) subnet 10.0.0.0/24 range 10.0.0.1-10.0.0.254 lease 3600s",
            " pool 253 dynamic + 0 reserved, 1 leased, 0 offered",
            " discover 1 request 1 offer 1 ack 1 nak 0 release 0 decline 0 inform 0",
            " exhausted 2 evicted 0 malformed 7 ignored 0 arp 1 ping 2",
            "Lease 10.0.0.2 66:94:f7:e0:7a:fd leased 58s",
            "Lease 10.0.0.3 66:94:f7:e0:7a:fe offered 50s",
        ]
        .map(String::from)
        .to_vec();
        let p = DhcpPrint::parse(&lines);
        assert_eq!(
            (
                p.counter("discover"),
                p.counter("exhausted"),
                p.counter("malformed")
            ),
            (1, 2, 7)
        );
        assert_eq!(
            p.leased(),
            vec![("10.0.0.2".parse().unwrap(), "66:94:f7:e0:7a:fd".to_string())]
        );
        assert_eq!(p.leases.len(), 2);
    }
}
