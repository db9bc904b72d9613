//! Faults the switch survives (issue 11): `kill -9` with clients attached (they see the
//! disconnect; a restart on the same lease file gives every MAC its address back), and a full
//! disk while writing the lease file (the previous file stays intact, the error is logged, the
//! switch keeps forwarding and serving, and writes again once there is room); a link whose TCP
//! session is cut 100 times comes back each time without leaking files or memory.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use f2f_e2e::dhcp::dora;
use f2f_e2e::links::{free_addr, keygen, links, links_up, wait_links_up, LinkedHost};
use f2f_e2e::netns::{assert_pings, run_ok};
use f2f_e2e::proc::{memory_kib, open_fds, Spawn};
use f2f_e2e::tcp_cut::TcpCut;
use f2f_e2e::tools::{f2f_bin, require_f2f, require_root, require_tool, system_tool, VDE_PLUG};
use f2f_e2e::vde::{closed_within, frame, mac, BROADCAST};
use f2f_e2e::{require, wait_for, wait_until, Child, RawClient, Switch, SwitchKind, TempDir};
use nix::sys::signal::Signal;

const SETTLE: Duration = Duration::from_secs(10);

/// A MAC for DHCP client `n`.
fn client_mac(n: u8) -> [u8; 6] {
    [0x02, 0xd1, 0xc0, 0x00, 0x00, n]
}

/// `aa:bb:…` text of `m`, as the lease file writes it.
fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Starts our switch serving DHCP on `subnet` with its leases in `lease_file`.
fn dhcp_switch(tmp: &TempDir, subnet: &str, lease_file: &Path) -> Switch {
    let sw = Switch::start(
        SwitchKind::Ours,
        tmp,
        "sw",
        &[
            "--dhcp",
            subnet,
            "--dhcp-lease-file",
            lease_file.to_str().unwrap_or_default(),
        ],
    );
    assert!(sw.wait_log("switch ready", SETTLE), "log: {}", sw.log());
    sw
}

/// A full DHCP exchange for `m` through a fresh client on `sw`.
fn lease(sw: &Switch, m: [u8; 6], xid: u32) -> Ipv4Addr {
    let c = RawClient::attach(&sw.dir, 0, "dhcp-client").expect("attach");
    dora(&c, m, xid).unwrap_or_else(|| panic!("no lease for {}", mac_text(m)))
}

/// Waits until the lease file names every MAC in `macs`.
fn wait_file_has(path: &Path, macs: &[[u8; 6]]) {
    wait_for(SETTLE, "the lease file to hold the leases", || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        macs.iter().all(|m| text.contains(&mac_text(*m)))
    });
}

/// Two attached clients exchange a frame through `sw` (it still forwards).
fn assert_forwards(sw: &Switch) {
    let a = RawClient::attach(&sw.dir, 0, "fwd-a").expect("attach a");
    let b = RawClient::attach(&sw.dir, 0, "fwd-b").expect("attach b");
    let f = frame(BROADCAST, mac(7), 60, 7);
    a.send(&f);
    assert!(
        b.recv_matching(SETTLE, |got| got == f.as_slice()).is_some(),
        "the switch forwards"
    );
}

/// A client started on the switch at `dir` with its stdin held open (it would leave on EOF).
fn attached(prog: &Path, args: &[&str], dir: &Path, name: &str, tmp: &TempDir) -> Child {
    let mut cmd = Command::new(prog);
    cmd.args(args).arg(dir);
    Child::spawn(name, cmd, tmp.path(), Spawn::STDIN_OPEN)
}

/// `kill -9` of the switch with a raw client, the real `vde_plug` and `f2f-overlay plug`
/// attached: every client sees the disconnect (the plugs exit, the raw client's control stream
/// closes). A switch restarted on the same lease file hands the same MACs the same addresses.
#[test]
fn kill_9_clients_see_it_and_a_restart_keeps_the_leases() {
    require!(require_tool(VDE_PLUG), SwitchKind::Ours.available());
    let tmp = TempDir::new("kill9");
    let leases = tmp.join("leases.json");
    let mut sw = dhcp_switch(&tmp, "10.79.0.0/24", &leases);
    let macs = [client_mac(1), client_mac(2), client_mac(3)];
    let before: Vec<Ipv4Addr> = macs
        .iter()
        .zip(1u32..)
        .map(|(m, i)| lease(&sw, *m, i * 100))
        .collect();
    wait_file_has(&leases, &macs);

    let mut raw = RawClient::attach(&sw.dir, 0, "raw").expect("attach raw");
    let mut plugs = [
        attached(Path::new(VDE_PLUG), &[], &sw.dir, "vde_plug", &tmp),
        attached(&f2f_bin(), &["plug"], &sw.dir, "f2f-plug", &tmp),
    ];
    wait_for(SETTLE, "the plugs attached", || {
        sw.cmd("port/print").raw.matches("user=").count() >= 2
    });

    sw.child.signal(Signal::SIGKILL);
    assert!(sw.child.wait_exit(SETTLE).is_some(), "the switch died");
    assert!(
        closed_within(&mut raw.ctl, SETTLE),
        "the raw client's control stream closed"
    );
    for plug in &mut plugs {
        let status = plug.wait_exit(SETTLE);
        assert!(
            status.is_some(),
            "{} still runs after the switch died; stderr {}",
            plug.name(),
            plug.stderr()
        );
    }

    // The restarted switch finds the stale sockets of the dead one and replaces them.
    let sw = dhcp_switch(&tmp, "10.79.0.0/24", &leases);
    for ((m, ip), i) in macs.iter().zip(&before).zip(1u32..) {
        assert_eq!(
            lease(&sw, *m, i * 1000),
            *ip,
            "{} gets its address back",
            mac_text(*m)
        );
    }
    let newcomer = lease(&sw, client_mac(9), 9999);
    assert!(!before.contains(&newcomer), "a new MAC gets a free address");
    assert_forwards(&sw);
}

/// A tmpfs mounted for the test, unmounted (lazily, so a busy file cannot stop it) on drop.
struct TinyFs {
    dir: PathBuf,
}

impl TinyFs {
    fn mount(dir: PathBuf, size: &str) -> TinyFs {
        std::fs::create_dir_all(&dir).expect("mkdir mount point");
        run_ok(
            Command::new(system_tool("mount"))
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size},mode=0700"),
                    "f2f-e2e-tmpfs",
                ])
                .arg(&dir),
        );
        TinyFs { dir }
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new(system_tool("umount"))
            .arg("-l")
            .arg(&self.dir)
            .output();
    }
}

/// Fills the file system holding `path` by writing `path` until ENOSPC.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create filler");
    let chunk = [0xa5u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
}

/// The lease file lives on a tiny tmpfs that the test then fills up. A new lease cannot be
/// written: the switch logs the error, the previous file stays byte for byte (no torn write,
/// no temporary file left), the new client still gets its address and frames still flow. Once
/// there is room again the next change writes every lease.
#[test]
fn full_disk_keeps_the_previous_lease_file() {
    require!(require_root(), SwitchKind::Ours.available());
    let tmp = TempDir::new("fulldisk");
    let disk = TinyFs::mount(tmp.join("disk"), "64k");
    let leases = disk.dir.join("leases.json");
    let sw = dhcp_switch(&tmp, "10.80.0.0/24", &leases);
    let first = client_mac(1);
    lease(&sw, first, 100);
    wait_file_has(&leases, &[first]);
    let saved = std::fs::read(&leases).expect("read the lease file");

    let filler = disk.dir.join("filler");
    fill(&filler);
    let second = client_mac(2);
    let ip2 = lease(&sw, second, 200);
    assert!(
        sw.wait_log("cannot write the DHCP lease file", SETTLE),
        "the failed write is logged: {}",
        sw.log()
    );
    assert_eq!(
        std::fs::read(&leases).expect("read the lease file"),
        saved,
        "the previous lease file is intact"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&disk.dir)
        .expect("list the disk")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert_forwards(&sw);

    std::fs::remove_file(&filler).expect("free the disk");
    let third = client_mac(3);
    lease(&sw, third, 300);
    wait_file_has(&leases, &[first, second, third]);
    let text = std::fs::read_to_string(&leases).unwrap_or_default();
    assert!(text.contains(&ip2.to_string()), "{text}");
}

/// The dialer's link: its state and how many sessions it has had.
fn dialed_link(sw: &Switch) -> (String, u64) {
    let l = links(sw);
    let first = l.first().cloned().unwrap_or_default();
    (
        first["state"].as_str().unwrap_or_default().to_string(),
        first["sessions"].as_u64().unwrap_or(0),
    )
}

/// Open files and resident memory of a switch.
fn usage(sw: &Switch) -> (usize, u64) {
    (open_fds(sw.child.pid()), memory_kib(sw.child.pid()).0)
}

/// A link dialed through a forwarder that cuts its TCP session the moment it is up, 100 times:
/// the dialer redials each time, both switches end with the link up and forwarding, and neither
/// leaks: open files back to the level after the first flaps (±2), resident memory within a few
/// MiB of it.
#[test]
fn a_link_flapped_100_times_leaks_nothing() {
    require!(require_root(), require_f2f());
    const FLAPS: u64 = 100;
    const WARMUP: u64 = 5;
    const RSS_MARGIN_KIB: u64 = 4 * 1024;
    let tmp = TempDir::new("flap");
    let key = keygen(&tmp, "net.key");
    let listen = free_addr();
    let a = LinkedHost::start(&tmp, "a", &key, "10.218.0.1/24", &["--listen", &listen]);
    let cutter = TcpCut::start(listen.parse().expect("listen address"));
    let dial = cutter.addr().to_string();
    let b = LinkedHost::start(&tmp, "b", &key, "10.218.0.2/24", &["--connect", &dial]);
    assert_pings(&b.ns, &a.addr, 3, "before the flaps");

    let started = Instant::now();
    let mut baseline = None;
    for flap in 1..=FLAPS {
        wait_for(SETTLE, "the link up again", || {
            dialed_link(&b.switch) == ("up".to_string(), flap) && links_up(&a.switch) == 1
        });
        if flap == WARMUP {
            baseline = Some((usage(&a.switch), usage(&b.switch)));
        }
        assert_eq!(cutter.cut(), 1, "flap {flap}: one connection to cut");
    }
    let flapped = started.elapsed();
    wait_links_up(&b.switch, 1, SETTLE);
    wait_links_up(&a.switch, 1, SETTLE);
    assert_pings(&b.ns, &a.addr, 5, "after the flaps");
    assert_pings(&a.ns, &b.addr, 5, "after the flaps");
    assert_eq!(
        dialed_link(&b.switch).1,
        FLAPS + 1,
        "{:?}",
        links(&b.switch)
    );

    let (base_a, base_b) = baseline.expect("baseline taken");
    for (name, sw, (fds0, rss0)) in [("listener", &a, base_a), ("dialer", &b, base_b)] {
        // Closed sessions' sockets may take a moment to be released.
        let settled = wait_until(SETTLE, || usage(&sw.switch).0 <= fds0 + 2);
        let (fds, rss) = usage(&sw.switch);
        eprintln!(
            "{name} after {FLAPS} flaps in {flapped:?}: open fds {fds0} -> {fds}, \
             VmRSS {rss0} -> {rss} KiB"
        );
        assert!(settled && fds + 2 >= fds0, "{name}: fds {fds0} -> {fds}");
        assert!(
            rss <= rss0 + RSS_MARGIN_KIB,
            "{name}: VmRSS grew {rss0} -> {rss} KiB"
        );
    }
    assert!(cutter.accepted() as u64 > FLAPS, "every flap redialed");
}
