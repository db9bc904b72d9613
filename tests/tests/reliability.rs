//! Reliability under attack and misuse (issue 11, the switch's part): a flood of 10^6 random
//! source MACs leaves memory under the `--max-macs` cap and the other ports forwarding; port
//! security (`--port-max-macs`, `hash/setportmax`) with its `mac_limit` counter; the limits on
//! ports, console sessions and VDE handshakes in progress, each with its log line; access
//! control by socket mode and group, tested with users made for the test; no network socket;
//! `status` of a MAC table of 10^5 addresses stays small and forwarding goes on meanwhile.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use f2f_e2e::mgmt::parse_stats;
use f2f_e2e::netns::{assert_pings, ping};
use f2f_e2e::proc::{memory_kib, Spawn};
use f2f_e2e::tools::{f2f_bin, require_root, require_tool, VDE_PLUG, VDE_PLUG2TAP};
use f2f_e2e::users::{TestGroup, TestUser};
use f2f_e2e::vde::{ctl_connect, frame, mac, BROADCAST};
use f2f_e2e::{
    require, wait_for, Child, Mgmt, Netns, RawClient, Switch, SwitchKind, TapHost, TempDir,
};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(10);

/// The switch's `status/json` document.
fn status_json(sw: &Switch) -> Value {
    let reply = sw.cmd("status/json");
    assert_eq!(reply.code, 1000, "status/json: {}", reply.raw);
    serde_json::from_str(reply.data.first().expect("one JSON line")).expect("status/json parses")
}

/// The `status/json` entry of the port whose endpoint describes itself as `descr`.
fn port_with(doc: &Value, descr: &str) -> Value {
    doc["ports"]
        .as_array()
        .and_then(|ps| {
            ps.iter().find(|p| {
                p["endpoints"]
                    .as_array()
                    .is_some_and(|es| es.iter().any(|e| e["description"] == descr))
            })
        })
        .cloned()
        .unwrap_or_else(|| panic!("no port with endpoint {descr:?} in status/json: {doc}"))
}

/// A random locally administered unicast MAC from a xorshift state.
fn random_mac(state: &mut u64) -> [u8; 6] {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let b = state.to_le_bytes();
    [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// Sends `count` 60-byte frames from `client`, each from a new random source to a random unicast
/// destination (unknown, so flooded); returns how long it took.
fn flood_random_sources(client: &RawClient, count: u32, seed: u64) -> Duration {
    let mut state = seed | 1;
    let mut f = frame(BROADCAST, mac(1), 60, 0xee);
    let start = Instant::now();
    for _ in 0..count {
        let dst = random_mac(&mut state);
        let src = random_mac(&mut state);
        f[..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        client.send(&f);
    }
    start.elapsed()
}

/// 10^6 random source MACs from one port against `--max-macs 10000`: the table never holds more
/// than the cap, the switch's peak memory grows by less than the cap allows (a table of 10^6
/// entries would need ~100 MB), two tap hosts on other ports keep pinging each other during and
/// after the flood, and a client that never reads costs only its own copies (`egress_full`).
#[test]
fn flood_of_random_sources_stays_under_the_mac_cap() {
    require!(
        require_root(),
        require_tool(VDE_PLUG2TAP),
        SwitchKind::Ours.available()
    );
    // F2F_FLOOD_MAX_MACS=1000000 shows what the cap saves (BENCHMARKS.md, "Reliability").
    let max_macs: u64 = std::env::var("F2F_FLOOD_MAX_MACS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    const FRAMES: u32 = 1_000_000;
    let tmp = TempDir::new("flood");
    let mut sw = Switch::start(
        SwitchKind::Ours,
        &tmp,
        "sw",
        &["--max-macs", &max_macs.to_string()],
    );
    let (ns_a, ns_b) = (Netns::new(), Netns::new());
    let tap_a = f2f_e2e::netns::unique_tap_name("fla");
    let tap_b = f2f_e2e::netns::unique_tap_name("flb");
    let _a = TapHost::start(&ns_a, &sw.dir, &tap_a, "10.77.0.1/24", None, tmp.path());
    let b = TapHost::start(&ns_b, &sw.dir, &tap_b, "10.77.0.2/24", None, tmp.path());
    assert_pings(&ns_a, &b.addr, 3, "before the flood");
    // A client that never reads: its queue fills and its copies are dropped and counted.
    let _sleeper = RawClient::attach(&sw.dir, 0, "sleeper").expect("attach the sleeper");
    let flooder = RawClient::attach(&sw.dir, 0, "flooder").expect("attach the flooder");
    let pid = sw.child.pid();
    let (rss_before, _) = memory_kib(pid);

    let pinger = std::thread::scope(|s| {
        let pinger = s.spawn(|| ping(&ns_a, &b.addr, 15));
        let took = flood_random_sources(&flooder, FRAMES, 0x5eed_f00d);
        eprintln!("sent {FRAMES} frames with random sources in {took:?}");
        pinger.join().expect("ping thread")
    });
    let (rss_after, hwm) = memory_kib(pid);
    eprintln!(
        "flood of {FRAMES} sources, --max-macs {max_macs}: VmRSS {rss_before} -> {rss_after} KiB, \
         VmHWM {hwm} KiB, ping loss during the flood {pinger}%"
    );
    let doc = status_json(&sw);
    let table = &doc["switch"]["mac_table"];
    assert!(
        table["size"].as_u64().unwrap_or(u64::MAX) <= max_macs,
        "{table}"
    );
    let flooded = port_with(&doc, "flooder");
    assert!(
        flooded["counters"]["in_frames"].as_u64().unwrap_or(0) >= u64::from(FRAMES) * 9 / 10,
        "the switch took the flood in: {flooded}"
    );
    let sleeper = port_with(&doc, "sleeper");
    assert!(
        sleeper["counters"]["drops"]["egress_full"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the full queue of a client that does not read is counted: {sleeper}"
    );
    // ~100 bytes per entry: 10^4 entries are ~1 MB; 16 MiB leaves room for buffers. A table
    // without the cap would have grown by ~100 MB.
    let bound_kib = rss_before + max_macs * 512 / 1024 + 16 * 1024;
    assert!(
        hwm <= bound_kib,
        "peak memory {hwm} KiB over {bound_kib} KiB (before the flood {rss_before} KiB)"
    );
    assert!(
        pinger <= 50.0,
        "{pinger}% ping loss between the other ports during the flood"
    );
    assert_pings(&ns_a, &b.addr, 5, "after the flood");
    assert!(sw.child.is_running(), "the switch survived the flood");
}

/// A MAC table of 10^5 addresses: `status --json` answers within a second or two with a
/// bounded document (1024 entries listed, the rest counted in `mac_table_omitted`), the text
/// form says how many it left out, and pings between two other ports see no loss while status
/// is asked for over and over.
#[test]
fn status_of_a_huge_mac_table_is_bounded_and_does_not_stall_forwarding() {
    require!(
        require_root(),
        require_tool(VDE_PLUG2TAP),
        SwitchKind::Ours.available()
    );
    const SOURCES: u32 = 100_000;
    let tmp = TempDir::new("hugetable");
    let sw = Switch::start(SwitchKind::Ours, &tmp, "sw", &["--max-macs", "200000"]);
    let (ns_a, ns_b) = (Netns::new(), Netns::new());
    let tap_a = f2f_e2e::netns::unique_tap_name("hta");
    let tap_b = f2f_e2e::netns::unique_tap_name("htb");
    let _a = TapHost::start(&ns_a, &sw.dir, &tap_a, "10.78.0.1/24", None, tmp.path());
    let b = TapHost::start(&ns_b, &sw.dir, &tap_b, "10.78.0.2/24", None, tmp.path());
    assert_pings(&ns_a, &b.addr, 3, "before the table fills");
    let flooder = RawClient::attach(&sw.dir, 0, "flooder").expect("attach the flooder");
    flood_random_sources(&flooder, SOURCES, 0x0bad_cafe);
    wait_for(SETTLE, "the table to hold the sources", || {
        status_json(&sw)["switch"]["mac_table"]["size"]
            .as_u64()
            .unwrap_or(0)
            >= u64::from(SOURCES) * 99 / 100
    });

    let status = |json: bool| {
        let mut cmd = std::process::Command::new(f2f_bin());
        cmd.arg("status").arg("-M").arg(&sw.mgmt);
        if json {
            cmd.arg("--json");
        }
        let start = Instant::now();
        let out = cmd.output().expect("run status");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.stdout, start.elapsed())
    };
    let (loss, slowest, size) = std::thread::scope(|s| {
        let pinger = s.spawn(|| ping(&ns_a, &b.addr, 20));
        let mut slowest = Duration::ZERO;
        let mut size = 0;
        while !pinger.is_finished() {
            let (out, took) = status(true);
            slowest = slowest.max(took);
            size = out.len();
        }
        (pinger.join().expect("ping thread"), slowest, size)
    });
    eprintln!(
        "status --json of a {SOURCES}-address table: {size} bytes, slowest {slowest:?}; \
         ping loss meanwhile {loss}%"
    );
    assert_eq!(loss, 0.0, "pings lost while status was read");
    assert!(slowest < Duration::from_secs(2), "status took {slowest:?}");
    assert!(size < 128 * 1024, "status --json is {size} bytes");
    let (out, _) = status(true);
    let doc: Value = serde_json::from_slice(&out).expect("status JSON");
    let held = doc["switch"]["mac_table"]["size"].as_u64().unwrap_or(0);
    assert_eq!(doc["mac_table"].as_array().map(Vec::len), Some(1024));
    assert_eq!(
        doc["mac_table_omitted"].as_u64(),
        Some(held - 1024),
        "{held}"
    );
    let (text, _) = status(false);
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains(&format!("... {} more entries not shown", held - 1024)),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    assert!(
        text.len() < 256 * 1024,
        "status text is {} bytes",
        text.len()
    );
}

/// A MAC numbered `n` in a block of its own (`02:ee:00:NN:NN:NN`).
fn numbered_mac(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0xee, b[0], b[1], b[2], b[3]]
}

/// Port security from the config file (`port-max-macs = 100`): a port sending from 5000 new
/// sources gets 100 learned and 4900 frames dropped as `mac_limit` (in `status/json` and
/// `port/stats`), the other ports' addresses stay and their traffic stays unicast, and
/// `hash/setportmax 0` lifts the limit at run time.
#[test]
fn port_max_macs_limits_one_port_and_counts_the_drops() {
    require!(SwitchKind::Ours.available());
    const LIMIT: u64 = 100;
    const SOURCES: u32 = 5000;
    let tmp = TempDir::new("portsec");
    let config = tmp.join("sw.toml");
    std::fs::write(&config, format!("port-max-macs = {LIMIT}\n")).expect("write config");
    let sw = Switch::start(
        SwitchKind::Ours,
        &tmp,
        "sw",
        &["--config", config.to_str().unwrap_or_default()],
    );
    let a = RawClient::attach(&sw.dir, 0, "host-a").expect("attach a");
    let b = RawClient::attach(&sw.dir, 0, "host-b").expect("attach b");
    let flooder = RawClient::attach(&sw.dir, 0, "flooder").expect("attach the flooder");
    a.send(&frame(BROADCAST, mac(1), 60, 1));
    b.send(&frame(mac(1), mac(2), 60, 2));
    assert!(a.recv(SETTLE).is_some(), "b reaches a");
    for n in 0..SOURCES {
        // To a host on another port: those within the limit are delivered unicast to a.
        flooder.send(&frame(mac(1), numbered_mac(n), 60, 3));
    }
    let mut doc = Value::Null;
    wait_for(SETTLE, "the flood counted", || {
        doc = status_json(&sw);
        let p = port_with(&doc, "flooder");
        p["counters"]["in_frames"].as_u64().unwrap_or(0)
            + p["counters"]["drops"]["mac_limit"].as_u64().unwrap_or(0)
            >= u64::from(SOURCES)
    });
    let p = port_with(&doc, "flooder");
    assert_eq!(doc["switch"]["mac_table"]["port_max_macs"], LIMIT, "{doc}");
    assert_eq!(p["macs"], LIMIT, "{p}");
    assert_eq!(p["counters"]["in_frames"], LIMIT, "{p}");
    assert_eq!(
        p["counters"]["drops"]["mac_limit"],
        u64::from(SOURCES) - LIMIT,
        "{p}"
    );
    let port = p["port"].as_u64().expect("port number") as u32;
    let stats = parse_stats(&sw.cmd(&format!("port/stats {port}")).data);
    assert_eq!(
        stats[&port]["drop_mac_limit"],
        u64::from(SOURCES) - LIMIT,
        "port/stats shows the same counter"
    );
    // The other hosts kept their entries: a frame from b to a goes to a only.
    let marker = frame(mac(1), mac(2), 60, 9);
    b.send(&marker);
    assert!(
        a.recv_matching(SETTLE, |f| f == marker.as_slice())
            .is_some(),
        "b still reaches a"
    );
    assert!(
        flooder
            .recv_matching(Duration::from_millis(300), |f| f == marker.as_slice())
            .is_none(),
        "unicast to a known host is not flooded to the flooder"
    );
    // At run time: no limit any more.
    assert_eq!(sw.cmd("hash/setportmax 0").code, 1000);
    flooder.send(&frame(mac(1), numbered_mac(SOURCES), 60, 4));
    wait_for(SETTLE, "a new source learned without the limit", || {
        port_with(&status_json(&sw), "flooder")["macs"] == LIMIT + 1
    });
}

/// Reads everything `stream` sends until it closes (up to `timeout`).
fn read_to_close(stream: &mut UnixStream, timeout: Duration) -> String {
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// The limits on ports (`-n`), console sessions (`--max-consoles`) and VDE handshakes in
/// progress: each refuses what is over it with a clear log line, and frees up when a session
/// ends.
#[test]
fn limits_on_ports_consoles_and_handshakes_are_logged() {
    require!(SwitchKind::Ours.available());
    let tmp = TempDir::new("limits");
    let sw = Switch::start(
        SwitchKind::Ours,
        &tmp,
        "sw",
        &["-n", "4", "--max-consoles", "2"],
    );
    // Ports: 1..3 are handed out, the fourth client is refused.
    let mut clients: Vec<RawClient> = (0..3)
        .map(|i| RawClient::attach(&sw.dir, 0, &format!("c{i}")).expect("attach"))
        .collect();
    assert!(RawClient::attach(&sw.dir, 0, "one too many").is_err());
    assert!(
        sw.wait_log("no free port: all 4 ports are in use", SETTLE),
        "log: {}",
        sw.log()
    );

    // Console sessions: two open, the third is told and closed.
    let first = Mgmt::connect(&sw.mgmt).expect("console 1");
    let _second = Mgmt::connect(&sw.mgmt).expect("console 2");
    let mut third = UnixStream::connect(&sw.mgmt).expect("connect 3");
    let said = read_to_close(&mut third, SETTLE);
    assert!(
        said.contains("too many management console sessions"),
        "third session got {said:?}"
    );
    assert!(
        sw.wait_log("limit reached: 2 management console sessions open", SETTLE),
        "log: {}",
        sw.log()
    );
    drop(first);
    wait_for(SETTLE, "a console slot free again", || {
        Mgmt::connect(&sw.mgmt).is_ok_and(|m| m.greeting.ends_with("vde$ "))
    });

    // Handshakes in progress: 128 silent control connections fill the slots.
    clients.pop();
    let silent: Vec<UnixStream> = (0..128).map(|_| ctl_connect(&sw.dir)).collect();
    let mut over = ctl_connect(&sw.dir);
    assert!(
        f2f_e2e::vde::closed_within(&mut over, SETTLE),
        "the 129th handshake is closed at once"
    );
    assert!(
        sw.wait_log("limit reached: 128 VDE handshakes in progress", SETTLE),
        "log: {}",
        sw.log()
    );
    drop(silent);
    wait_for(SETTLE, "attaching works again", || {
        RawClient::attach(&sw.dir, 0, "after").is_ok_and(|c| {
            clients.push(c);
            true
        })
    });
}

/// Socket inodes `pid` holds open (its `socket:[N]` descriptors).
fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect()
}

/// The inodes of every TCP and UDP socket in /proc/net/{tcp,tcp6,udp,udp6}.
fn inet_socket_inodes() -> Vec<String> {
    ["tcp", "tcp6", "udp", "udp6"]
        .iter()
        .flat_map(|t| {
            std::fs::read_to_string(format!("/proc/net/{t}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(9).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The switch opens no network socket at all, with the console, a client, DHCP and a stream
/// listener running: the management console is a unix socket only, never TCP or UDP.
#[test]
fn the_switch_never_listens_on_the_network() {
    require!(SwitchKind::Ours.available());
    let tmp = TempDir::new("nonet");
    let stream = tmp.join("qemu.sock");
    let sw = Switch::start(
        SwitchKind::Ours,
        &tmp,
        "sw",
        &[
            "--dhcp",
            "10.78.0.0/24",
            "--dhcp-lease-file",
            tmp.join("leases.json").to_str().unwrap_or_default(),
            "--stream-listen",
            stream.to_str().unwrap_or_default(),
        ],
    );
    let _client = RawClient::attach(&sw.dir, 0, "client").expect("attach");
    let _console = sw.console();
    let ours = socket_inodes(sw.child.pid());
    assert!(ours.len() >= 4, "the switch's sockets: {ours:?}");
    let inet = inet_socket_inodes();
    let on_network: Vec<&String> = ours.iter().filter(|i| inet.contains(i)).collect();
    assert!(
        on_network.is_empty(),
        "the switch has TCP/UDP sockets: {on_network:?}"
    );
}

/// Mode bits (with setgid) and group of `p`.
fn mode_gid(p: &std::path::Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.mode() & 0o7777, m.gid())
}

/// A plug (`vde_plug` or ours) started as `user` on the switch at `dir`, stdin held open.
fn plug_as(
    user: &TestUser,
    prog: &std::path::Path,
    args: &[&std::ffi::OsStr],
    name: &str,
    tmp: &TempDir,
) -> Child {
    let mut cmd = user.run(prog);
    cmd.args(args);
    Child::spawn(name, cmd, tmp.path(), Spawn::STDIN_OPEN)
}

/// `-m 0660 -g G --mgmtmode 0660 --mgmtgroup G`: the control directory, control socket and
/// management socket belong to group G with those modes; an unprivileged user outside G can
/// neither attach (real `vde_plug`, `f2f-overlay plug`) nor open the console, and a member of G
/// can do both. The users and the group are made for the test and deleted after it.
#[test]
fn only_members_of_the_group_attach_or_open_the_console() {
    require!(
        require_root(),
        require_tool(VDE_PLUG),
        require_tool("/usr/sbin/useradd"),
        require_tool("/usr/sbin/runuser"),
        SwitchKind::Ours.available()
    );
    let group = TestGroup::new("g");
    let member = TestUser::new("in", &[&group]);
    let outsider = TestUser::new("out", &[]);
    let gid = nix::unistd::Group::from_name(&group.name)
        .ok()
        .flatten()
        .expect("the group exists")
        .gid
        .as_raw();
    let tmp = TempDir::new("access");
    // Our binary where the test users can run it (the build tree may be private).
    let bin = tmp.join("f2f-overlay");
    std::fs::copy(f2f_bin(), &bin).expect("copy the binary");
    let sw = Switch::start(
        SwitchKind::Ours,
        &tmp,
        "sw",
        &[
            "-m",
            "0660",
            "-g",
            &group.name,
            "--mgmtmode",
            "0660",
            "--mgmtgroup",
            &group.name,
        ],
    );
    assert_eq!(mode_gid(&sw.dir), (0o2770, gid), "control directory");
    assert_eq!(
        mode_gid(&sw.dir.join("ctl")),
        (0o660, gid),
        "control socket"
    );
    assert_eq!(mode_gid(&sw.mgmt), (0o660, gid), "management socket");
    let dir = sw.dir.as_os_str();
    let mgmt = sw.mgmt.as_os_str();
    let console = |user: &TestUser| {
        user.output(
            &bin,
            &["console".as_ref(), "-M".as_ref(), mgmt, "showinfo".as_ref()],
        )
    };

    // The outsider: the console and both plugs are refused by the file system.
    let out = console(&outsider);
    assert!(
        !out.status.success(),
        "outsider's console: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for (prog, args, name) in [
        (std::path::Path::new(VDE_PLUG), vec![dir], "vde_plug-out"),
        (bin.as_path(), vec!["plug".as_ref(), dir], "plug-out"),
    ] {
        let mut plug = plug_as(&outsider, prog, &args, name, &tmp);
        let status = plug.wait_exit(SETTLE);
        assert!(
            status.is_some_and(|s| !s.success()),
            "{name} as the outsider: exit {status:?}, stderr {}",
            plug.stderr()
        );
    }
    let ports = sw.cmd("port/print");
    assert!(
        !ports.raw.contains("user="),
        "nobody attached: {}",
        ports.raw
    );

    // The member: the console answers and both plugs attach, as the member.
    let out = console(&member);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("VDE switch"),
        "member's console: {:?} {} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _plugs: Vec<Child> = [
        (std::path::Path::new(VDE_PLUG), vec![dir], "vde_plug-in"),
        (bin.as_path(), vec!["plug".as_ref(), dir], "plug-in"),
    ]
    .into_iter()
    .map(|(prog, args, name)| plug_as(&member, prog, &args, name, &tmp))
    .collect();
    let needle = format!("user={}", member.name);
    wait_for(SETTLE, "both of the member's plugs on port/print", || {
        sw.cmd("port/print").raw.matches(&needle).count() >= 2
    });
}
