//! The DHCP server inside the switch (`--dhcp*`, issue 7) against real clients: busybox
//! `udhcpc` and ISC `dhclient` on `vde_plug2tap` taps in namespaces, a raw VDE client sending
//! crafted floods and bad packets, a switch restarted on its lease file, reservations, a tiny
//! qemu VM with no DHCP server of its own, and `nmap -sn` finding every host.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use f2f_e2e::dhcp::{
    addr_of, bare_tap, dhclient, dora, exchange, msg, test_vm_image, udhcpc, udp_frame, DhcpPrint,
    Message, BUSYBOX, DHCLIENT, NMAP,
};
use f2f_e2e::netns::assert_pings;
use f2f_e2e::proc::{Child, Spawn};
use f2f_e2e::tools::{f2f_bin, require_f2f, require_real_vde, require_root, require_tool, QEMU};
use f2f_e2e::{require, wait_until, Netns, RawClient, Switch, SwitchKind, TempDir};

/// "Within seconds": the longest a real client may take to get its lease.
const LEASE_DEADLINE: Duration = Duration::from_secs(8);

fn net(prefix: &str, last: u8) -> Ipv4Addr {
    format!("{prefix}.{last}").parse().expect("address")
}

fn in_subnet(ip: Ipv4Addr, prefix: &str) -> bool {
    ip.to_string().starts_with(&format!("{prefix}."))
}

/// Starts our switch serving DHCP on `PREFIX.0/24`, its lease file in `tmp`.
fn dhcp_switch(tmp: &TempDir, name: &str, prefix: &str, extra: &[&str]) -> Switch {
    let cidr = format!("{prefix}.0/24");
    let lease_file = tmp.join(&format!("{name}-leases.json"));
    let lease_file = lease_file.to_str().expect("utf-8 path").to_string();
    let mut flags = vec!["--dhcp", &cidr, "--dhcp-lease-file", &lease_file];
    flags.extend_from_slice(extra);
    Switch::start(SwitchKind::Ours, tmp, name, &flags)
}

fn dhcp_print(sw: &Switch) -> DhcpPrint {
    let reply = sw.cmd("dhcp/print");
    assert_eq!(reply.code, 1000, "dhcp/print failed: {}", reply.raw);
    DhcpPrint::parse(&reply.data)
}

/// No address appears twice among the leases, and no MAC holds two.
fn assert_no_double_lease(p: &DhcpPrint) {
    let ips: BTreeSet<_> = p.leases.iter().map(|l| l.0).collect();
    assert_eq!(ips.len(), p.leases.len(), "an address listed twice: {p:#?}");
    let macs: BTreeSet<_> = p
        .leases
        .iter()
        .filter(|l| l.1 != "-")
        .map(|l| &l.1)
        .collect();
    assert_eq!(
        macs.len(),
        p.leases.iter().filter(|l| l.1 != "-").count(),
        "a MAC with two addresses: {p:#?}"
    );
}

fn mac_of(ns: &Netns, dev: &str) -> String {
    let out = ns
        .ip()
        .args(["-o", "link", "show", dev])
        .output()
        .expect("ip link");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

fn base_tools() -> bool {
    require_root() && require_real_vde() && require_f2f() && require_tool(BUSYBOX)
}

/// udhcpc and dhclient in two namespaces get two different leases in the subnet within seconds,
/// ping each other and the switch's address; `dhcp/print` and the lease file show both.
#[test]
fn udhcpc_and_dhclient_get_leases_and_ping() {
    require!(base_tools(), require_tool(DHCLIENT));
    let tmp = TempDir::new("dhcp");
    let p = "10.210.0";
    let sw = dhcp_switch(&tmp, "sw", p, &[]);
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let _t1 = bare_tap(&ns1, &sw.dir, "tap1", None, tmp.path());
    let _t2 = bare_tap(&ns2, &sw.dir, "tap2", None, tmp.path());

    let u = udhcpc(&ns1, "tap1", tmp.path(), 10);
    let a =
        u.ip.unwrap_or_else(|| panic!("udhcpc got no lease:\n{}", u.output));
    eprintln!("udhcpc: {a} in {:?}", u.took);
    assert!(u.took < LEASE_DEADLINE, "udhcpc took {:?}", u.took);
    let (_dhclient, d) = dhclient(&ns2, "tap2", tmp.path(), LEASE_DEADLINE);
    let b =
        d.ip.unwrap_or_else(|| panic!("dhclient got no lease:\n{}", d.output));
    eprintln!("dhclient: {b} in {:?}", d.took);

    assert!(
        in_subnet(a, p) && in_subnet(b, p),
        "{a} and {b} should be in {p}.0/24"
    );
    assert_ne!(a, b, "two clients, two addresses");
    assert!(
        ![a, b].contains(&net(p, 1)),
        "the server's own address is never leased"
    );
    assert_pings(&ns1, &b.to_string(), 5, "udhcpc host -> dhclient host");
    assert_pings(&ns2, &a.to_string(), 5, "dhclient host -> udhcpc host");
    assert_pings(&ns1, &net(p, 1).to_string(), 5, "udhcpc host -> switch");
    assert_pings(&ns2, &net(p, 1).to_string(), 5, "dhclient host -> switch");

    let print = dhcp_print(&sw);
    let leased = print.leased();
    assert!(leased.contains(&(a, mac_of(&ns1, "tap1"))), "{print:#?}");
    assert!(leased.contains(&(b, mac_of(&ns2, "tap2"))), "{print:#?}");
    assert!(
        print.counter("ack") >= 2 && print.counter("ping") >= 10,
        "{print:#?}"
    );
    assert_no_double_lease(&print);
    let ports = sw.cmd("port/print").raw;
    assert!(
        ports.contains("Port 0031") && ports.contains("module dhcp"),
        "the server is an internal port on the last port:\n{ports}"
    );
    assert!(sw.log().contains("DHCP lease"), "leases are logged");
    let out = Command::new(f2f_bin())
        .args(["status", "--json", "-M"])
        .arg(&sw.mgmt)
        .output()
        .expect("running f2f-overlay status");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {out:?}"));
    assert_eq!(status["dhcp"]["subnet"], "10.210.0.0/24", "{status}");
    let in_status: BTreeSet<String> = status["dhcp"]["leases"]
        .as_array()
        .expect("dhcp.leases")
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["ip"].as_str().unwrap_or(""),
                l["mac"].as_str().unwrap_or("")
            )
        })
        .collect();
    let want: BTreeSet<String> = [(a, mac_of(&ns1, "tap1")), (b, mac_of(&ns2, "tap2"))]
        .iter()
        .map(|(ip, mac)| format!("{ip} {mac}"))
        .collect();
    assert_eq!(in_status, want, "status --json lists the leases");
    let file = std::fs::read_to_string(tmp.join("sw-leases.json")).expect("lease file written");
    assert!(
        file.contains(&a.to_string()) && file.contains(&b.to_string()),
        "lease file:\n{file}"
    );
}

/// Junk of every kind, and DISCOVERs from a new fake MAC each, never starve a real client:
/// first a broadcast burst (which every port sees), then, while udhcpc asks, a sustained flood
/// sent as fast as a raw VDE client can, addressed to the server's MAC so that it loads the
/// server rather than the real client's tap. udhcpc still gets its lease within seconds, and the
/// server counts what it refused.
///
/// (A sustained *broadcast* flood at that rate also fills `vde_plug2tap`'s socket, so the real
/// client's replies are dropped there, counted as `egress_full` on its port: that is the
/// Ethernet's limit, not the server's, and no switch avoids it.)
#[test]
fn flood_of_junk_and_fake_discovers_never_starves_a_real_client() {
    require!(base_tools());
    let tmp = TempDir::new("dhflood");
    let p = "10.211.0";
    let sw = dhcp_switch(&tmp, "sw", p, &[]);
    let ns = Netns::new();
    let _tap = bare_tap(&ns, &sw.dir, "tap1", None, tmp.path());
    let flooder = RawClient::attach(&sw.dir, 0, "flooder").expect("attach the flooder");
    // 02:f2 + the server's address: see ports/dhcp.rs.
    let server_mac = [0x02, 0xf2, 10, 211, 0, 1];

    // The burst: 20,000 broadcast frames, half fake DISCOVERs.
    for i in 0..20_000u32 {
        flooder.send(&flood_frame(i, [0xff; 6]));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        std::thread::spawn(move || {
            let mut i: u32 = 20_000;
            while !stop.load(Ordering::Relaxed) && i < 2_000_000 {
                if flooder.data.send(&flood_frame(i, server_mac)).is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    wait_until(Duration::from_secs(5), || {
        sent.load(Ordering::Relaxed) > 5_000
    });
    let before = sent.load(Ordering::Relaxed);
    let u = udhcpc(&ns, "tap1", tmp.path(), 10);
    let during = sent.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    flood.join().expect("flood thread");
    let ip =
        u.ip.unwrap_or_else(|| panic!("no lease under the flood:\n{}", u.output));
    eprintln!(
        "udhcpc under flood: {ip} in {:?}; {during} flood frames meanwhile\n{}",
        u.took, u.output
    );
    assert!(
        u.took < LEASE_DEADLINE,
        "udhcpc took {:?} under the flood",
        u.took
    );
    assert!(
        during > 1000,
        "the flood should run while udhcpc asks ({during} frames)"
    );
    assert!(in_subnet(ip, p));

    let print = dhcp_print(&sw);
    eprintln!("{}", sw.cmd("port/stats").data.join("\n"));
    assert!(print.counter("discover") > 10_000, "{:?}", print.counters);
    assert!(
        print.counter("malformed") > 1000,
        "junk counted: {:?}",
        print.counters
    );
    assert!(
        print.leased().contains(&(ip, mac_of(&ns, "tap1"))),
        "{print:#?}"
    );
    assert_eq!(
        print.leased().len(),
        1,
        "only the real client completed a lease"
    );
    assert_no_double_lease(&print);
    assert_pings(&ns, &net(p, 1).to_string(), 3, "after the flood");
}

/// Flood frame `i` to `dst`: a DISCOVER from a new MAC each time (a client that changes its MAC
/// every request), truncated DISCOVERs, REQUESTs with a bad magic cookie, and [`junk`].
fn flood_frame(i: u32, dst: [u8; 6]) -> Vec<u8> {
    let b = i.to_be_bytes();
    let mac = [0x02, 0xfa, b[0], b[1], b[2], b[3]];
    let mut f = match i % 6 {
        0..=2 => Message::discover(mac, i).frame(),
        3 => junk(i),
        4 => {
            let mut f = Message::discover(mac, i).frame();
            f.truncate(14 + 20 + 8 + 40 + (i as usize % 200));
            f
        }
        _ => {
            let mut f = Message::select(mac, i, net("10.211.0", 50), net("10.211.0", 1)).frame();
            f[14 + 28 + 236] ^= 0xff; // bad magic cookie
            f
        }
    };
    f[..6].copy_from_slice(&dst);
    f
}

/// A junk frame, one of several kinds, all broadcast so they reach the server port.
fn junk(i: u32) -> Vec<u8> {
    let src = [0x02, 0xfb, 0, 0, (i >> 8) as u8, i as u8];
    let bytes: Vec<u8> = (0..(i % 700)).map(|k| (k * 31 + i) as u8).collect();
    match (i / 6) % 4 {
        // random bytes after an Ethernet header
        0 => {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&src);
            f.extend_from_slice(&bytes);
            f
        }
        // UDP to port 67 with garbage for BOOTP
        1 => udp_frame(
            [0xff; 6],
            src,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &bytes,
        ),
        // DHCP with an option running past the end
        2 => {
            let mut m = Message::discover(src, i).bootp();
            m.truncate(243);
            m.extend_from_slice(&[12, 200, b'x']);
            udp_frame(
                [0xff; 6],
                src,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::BROADCAST,
                68,
                67,
                &m,
            )
        }
        // an IPv4 header claiming more than the frame holds
        _ => {
            let mut f = Message::discover(src, i).frame();
            f[16] = 0xff;
            f[17] = 0xff;
            f
        }
    }
}

/// A pool of three: three clients lease three different addresses; the fourth gets no offer (one
/// clear log line, counted), udhcpc gives up; requests for an address outside the subnet or held
/// by another MAC are refused (NAK); malformed packets are counted; no address to two clients.
#[test]
fn pool_exhaustion_and_bad_requests_have_clear_outcomes() {
    require!(base_tools());
    let tmp = TempDir::new("dhpool");
    let p = "10.212.0";
    let sw = dhcp_switch(&tmp, "sw", p, &["--dhcp-range", "10.212.0.10-10.212.0.12"]);
    let c = RawClient::attach(&sw.dir, 0, "raw-clients").expect("attach");
    let mac = |n: u8| [0x52, 0x54, 0x00, 0xd7, 0x01, n];
    let got: Vec<Ipv4Addr> = (1..=3)
        .map(|n| {
            dora(&c, mac(n), 100 * u32::from(n))
                .unwrap_or_else(|| panic!("client {n} got no lease"))
        })
        .collect();
    let distinct: BTreeSet<_> = got.iter().collect();
    assert_eq!(distinct.len(), 3, "three clients, three addresses: {got:?}");
    assert!(
        got.iter().all(|ip| (net(p, 10)..=net(p, 12)).contains(ip)),
        "{got:?}"
    );

    // The fourth: no offer, a clear log line, a counter.
    let none = exchange(&c, &Message::discover(mac(4), 400), Duration::from_secs(1));
    assert_eq!(none, None, "no address left: no offer");
    assert!(
        sw.wait_log("DHCP pool exhausted", Duration::from_secs(5)),
        "one clear line in the log:\n{}",
        sw.log()
    );
    let ns = Netns::new();
    let _tap = bare_tap(&ns, &sw.dir, "tap1", None, tmp.path());
    let u = udhcpc(&ns, "tap1", tmp.path(), 2);
    assert_eq!(
        u.ip, None,
        "udhcpc must get nothing from an exhausted pool:\n{}",
        u.output
    );
    let exhausted_lines = sw.log().matches("DHCP pool exhausted").count();
    assert!(
        exhausted_lines <= 2,
        "exhaustion is not logged per packet:\n{}",
        sw.log()
    );

    // INIT-REBOOT asking for an address of another network: NAK.
    let mut wrong = Message::discover(mac(5), 500);
    wrong.kind = msg::REQUEST;
    wrong.requested = Some(Ipv4Addr::new(192, 168, 99, 5));
    let r =
        exchange(&c, &wrong, Duration::from_secs(2)).expect("an answer to a wrong-subnet request");
    assert_eq!(r.kind, msg::NAK, "{r:?}");
    // Asking for client 1's address: NAK, never a second holder.
    let mut steal = Message::select(mac(6), 600, got[0], net(p, 1));
    steal.kind = msg::REQUEST;
    let r = exchange(&c, &steal, Duration::from_secs(2)).expect("an answer to the steal");
    assert_eq!(r.kind, msg::NAK, "{r:?}");

    // Malformed and truncated packets: counted, no answer, the server carries on.
    let before = dhcp_print(&sw).counter("malformed");
    for i in 0..20u32 {
        let mut f = Message::discover(mac(7), i).frame();
        f.truncate(14 + 20 + 8 + 10 * i as usize);
        c.send(&f);
        c.send(&junk(i * 6 + 2 * 6));
    }
    let ok = wait_until(Duration::from_secs(3), || {
        dhcp_print(&sw).counter("malformed") >= before + 20
    });
    let print = dhcp_print(&sw);
    assert!(ok, "malformed packets counted: {print:#?}");
    assert!(
        print.counter("exhausted") >= 1 && print.counter("nak") >= 2,
        "{print:#?}"
    );
    let leased = print.leased();
    assert_eq!(leased.len(), 3, "{print:#?}");
    assert_no_double_lease(&print);
    // Still serving: client 1 renews its address.
    assert_eq!(dora(&c, mac(1), 900), Some(got[0]));
}

/// Restart the switch on its lease file: the same MAC gets the same address back (not merely the
/// first free one), an address remembered for another MAC is not handed out, and a reserved MAC
/// gets its reserved address.
#[test]
fn restart_keeps_addresses_and_reservations_hold() {
    require!(base_tools());
    let tmp = TempDir::new("dhrestart");
    let p = "10.213.0";
    let flags = ["--dhcp-reserve", "52:54:00:d7:00:07=10.213.0.77"];
    let tap_mac = "52:54:00:d7:00:05";
    let fake = [0x52, 0x54, 0x00, 0xd7, 0x00, 0x01];

    let mut sw = dhcp_switch(&tmp, "sw", p, &flags);
    let c = RawClient::attach(&sw.dir, 0, "raw").expect("attach");
    let first = dora(&c, fake, 1).expect("a lease for the raw client");
    let ns1 = Netns::new();
    let t1 = bare_tap(&ns1, &sw.dir, "tap1", Some(tap_mac), tmp.path());
    let before = udhcpc(&ns1, "tap1", tmp.path(), 10)
        .ip
        .expect("udhcpc lease before the restart");
    assert_ne!(before, first);
    drop(c);
    sw.child.stop();
    drop(t1);
    let file = std::fs::read_to_string(tmp.join("sw-leases.json")).expect("lease file");
    assert!(
        file.contains(tap_mac) && file.contains(&before.to_string()),
        "{file}"
    );

    // The second start reads the same settings from a config file (paths relative to it).
    let conf = tmp.join("sw.toml");
    std::fs::write(
        &conf,
        "dhcp = \"10.213.0.0/24\"\ndhcp-lease-file = \"sw-leases.json\"\n\
         dhcp-reserve = [\"52:54:00:d7:00:07=10.213.0.77\"]\n",
    )
    .expect("write config");
    let sw = Switch::start(
        SwitchKind::Ours,
        &tmp,
        "sw",
        &["--config", conf.to_str().expect("utf-8")],
    );
    assert!(
        sw.log().contains("restored=2"),
        "both leases restored:\n{}",
        sw.log()
    );
    let ns2 = Netns::new();
    let _t2 = bare_tap(&ns2, &sw.dir, "tap2", Some(tap_mac), tmp.path());
    let u = udhcpc(&ns2, "tap2", tmp.path(), 10);
    assert_eq!(
        u.ip,
        Some(before),
        "same MAC, same address after the restart:\n{}",
        u.output
    );
    let c = RawClient::attach(&sw.dir, 0, "raw").expect("attach");
    let newcomer = dora(&c, [0x52, 0x54, 0x00, 0xd7, 0x00, 0x02], 7).expect("a newcomer's lease");
    assert!(
        ![first, before].contains(&newcomer),
        "{newcomer} still belongs to an earlier client"
    );

    let ns3 = Netns::new();
    let _t3 = bare_tap(&ns3, &sw.dir, "tap3", Some("52:54:00:d7:00:07"), tmp.path());
    let r = udhcpc(&ns3, "tap3", tmp.path(), 10);
    assert_eq!(
        r.ip,
        Some(net(p, 77)),
        "the reserved address:\n{}",
        r.output
    );
    let print = dhcp_print(&sw);
    assert!(
        print
            .leases
            .iter()
            .any(|l| l.0 == net(p, 77) && l.2.contains("reserved")),
        "{print:#?}"
    );
    assert_no_double_lease(&print);
}

/// A tiny qemu VM (images/build-test-vm.sh: Debian kernel + busybox, no DHCP server inside) boots
/// on the switch with `-netdev vde` and gets its address from it; with two namespaces leased too,
/// `nmap -sn SUBNET` from one of them finds every host: switch, VM, both namespaces.
#[test]
fn vm_gets_its_address_and_nmap_finds_every_host() {
    require!(base_tools(), require_tool(QEMU), require_tool(NMAP));
    let Some(image) = test_vm_image() else { return };
    let tmp = TempDir::new("dhvm");
    let p = "10.214.0";
    let sw = dhcp_switch(&tmp, "sw", p, &[]);
    let vm_mac = "52:54:00:d7:00:aa";
    let t0 = Instant::now();
    let mut vm = boot_vm(&image, &sw.dir, vm_mac, tmp.path());

    let (ns1, ns2) = (Netns::new(), Netns::new());
    let _t1 = bare_tap(&ns1, &sw.dir, "tap1", None, tmp.path());
    let _t2 = bare_tap(&ns2, &sw.dir, "tap2", None, tmp.path());
    let a = udhcpc(&ns1, "tap1", tmp.path(), 10)
        .ip
        .expect("lease for ns1");
    let b = udhcpc(&ns2, "tap2", tmp.path(), 10)
        .ip
        .expect("lease for ns2");

    let console = tmp.join("vm1.console");
    let mut ready = String::new();
    let up = wait_until(Duration::from_secs(60), || {
        let log = std::fs::read_to_string(&console).unwrap_or_default();
        if let Some(l) = log
            .lines()
            .find(|l| l.starts_with("VM-READY") || l.starts_with("VM-FAILED"))
        {
            ready = l.to_string();
        }
        !ready.is_empty() || !vm.is_running()
    });
    assert!(
        up && ready.starts_with("VM-READY"),
        "VM not ready after {:?} ({ready:?}); console:\n{}\nqemu: {}",
        t0.elapsed(),
        std::fs::read_to_string(&console).unwrap_or_default(),
        vm.stderr()
    );
    eprintln!("VM ready after {:?}: {ready}", t0.elapsed());
    let vm_ip: Ipv4Addr = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ip="))
        .and_then(|ip| ip.parse().ok())
        .expect("ip= in the VM-READY line");
    assert!(
        in_subnet(vm_ip, p) && ![a, b].contains(&vm_ip),
        "{vm_ip} vs {a} {b}"
    );
    assert!(dhcp_print(&sw)
        .leased()
        .contains(&(vm_ip, vm_mac.to_string())));
    assert_pings(&ns1, &vm_ip.to_string(), 3, "ns1 -> VM");

    let t = Instant::now();
    let out = ns1
        .exec(NMAP)
        .args(["-sn", "-n", &format!("{p}.0/24")])
        .output()
        .expect("running nmap");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("nmap -sn took {:?}:\n{text}", t.elapsed());
    let found: BTreeSet<Ipv4Addr> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Nmap scan report for "))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect();
    let want: BTreeSet<Ipv4Addr> = [net(p, 1), a, b, vm_ip].into_iter().collect();
    assert_eq!(
        found, want,
        "nmap -sn should find exactly the switch, the VM and both namespaces"
    );
    assert!(text.contains("4 hosts up"), "{text}");
}

/// Boots the test VM on the switch at `dir` (TCG, no disk, serial console to `tmp/vm1.console`).
fn boot_vm(image: &Path, dir: &Path, mac: &str, tmp: &Path) -> Child {
    let mut cmd = Command::new(QEMU);
    cmd.args([
        "-accel", "tcg", "-m", "128", "-smp", "1", "-display", "none",
    ])
    .args(["-no-reboot", "-nodefaults", "-monitor", "none"])
    .arg("-kernel")
    .arg(image.join("vmlinuz"))
    .arg("-initrd")
    .arg(image.join("initramfs.gz"))
    .args(["-append", "console=ttyS0 quiet panic=-1 tvm_name=vm1"])
    .arg("-serial")
    .arg(format!("file:{}", tmp.join("vm1.console").display()))
    .arg("-netdev")
    .arg(format!("vde,id=n0,sock={}", dir.display()))
    .args(["-device", &format!("virtio-net-pci,netdev=n0,mac={mac}")]);
    Child::spawn("qemu-vm1", cmd, tmp, Spawn::default())
}

/// Benchmark (BENCHMARKS.md, "DHCP (issue 7)"): time from `udhcpc` start to lease on a tap, 20
/// runs. Run with `cargo test --release -p f2f-e2e --test dhcp -- --ignored --nocapture
/// udhcpc_time_to_lease`.
#[test]
#[ignore = "benchmark: run by hand, see BENCHMARKS.md"]
fn udhcpc_time_to_lease() {
    require!(base_tools());
    let tmp = TempDir::new("dhbench");
    let sw = dhcp_switch(&tmp, "sw", "10.215.0", &[]);
    let ns = Netns::new();
    let _tap = bare_tap(&ns, &sw.dir, "tap1", None, tmp.path());
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let _ = ns.ip().args(["addr", "flush", "dev", "tap1"]).output();
            let u = udhcpc(&ns, "tap1", tmp.path(), 10);
            assert!(u.ip.is_some(), "{}", u.output);
            u.took
        })
        .collect();
    times.sort();
    eprintln!(
        "udhcpc start -> lease on a tap, 20 runs: min {:?} median {:?} max {:?}",
        times[0], times[10], times[19]
    );
    assert!(addr_of(&ns, "tap1").is_some());
}
