//! `f2f-overlay status`, `f2f-overlay capture` and `--config`, against our switch with two
//! `vde_plug2tap` hosts in namespaces: the status document (human and `--json`, parsed here)
//! lists both taps with their counters and MAC entries after a ping; a capture of a ping run
//! opens in `tcpdump -r` and shows the echo requests and replies; a config file is applied
//! under a flag that overrides it; an unknown key is refused by name. These are our own
//! commands, so they run against ours only (plus one check that a real vde_switch gets a clear
//! refusal from `status`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use f2f_e2e::netns::assert_pings;
use f2f_e2e::proc::Spawn;
use f2f_e2e::switch::is_socket;
use f2f_e2e::tools::{
    f2f_bin, require_f2f, require_real_vde, require_root, require_tool, system_tool,
};
use f2f_e2e::{require, wait_until, Child, Netns, Switch, SwitchKind, TapHost, TempDir};
use nix::sys::signal::Signal;
use serde_json::Value;

/// Long enough for a switch, a tap or a capture to come up or wind down.
const SETTLE: Duration = Duration::from_secs(10);

/// Runs `f2f-overlay ARGS…` to completion.
fn f2f(args: &[&str]) -> Output {
    Command::new(f2f_bin())
        .args(args)
        .output()
        .expect("running f2f-overlay")
}

/// `f2f-overlay status -M MGMT --json`, parsed.
fn status_json(mgmt: &Path) -> Value {
    let out = f2f(&["status", "-M", &mgmt.to_string_lossy(), "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "status --json failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "--json prints one line: {stdout}"
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {stdout}"))
}

/// The MAC address of `dev` in namespace `ns`.
fn mac_of(ns: &Netns, dev: &str) -> String {
    let out = ns
        .ip()
        .args(["-o", "link", "show", dev])
        .output()
        .expect("ip link show");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words
        .find(|w| *w == "link/ether")
        .and_then(|_| words.next())
        .unwrap_or_else(|| panic!("no MAC for {dev}: {text}"))
        .to_string()
}

/// The port the MAC table has `mac` on.
fn port_of(status: &Value, mac: &str) -> Option<u64> {
    status["mac_table"]
        .as_array()?
        .iter()
        .find(|e| e["mac"] == mac && e["vlan"] == 0)
        .and_then(|e| e["port"].as_u64())
}

/// A switch with two tap hosts that ping each other. Fields drop in order: taps, then their
/// namespaces, then the switch.
struct Lan {
    _taps: [TapHost; 2],
    ns: [Netns; 2],
    sw: Switch,
    macs: [String; 2],
}

impl Lan {
    fn start(tmp: &TempDir, net: &str) -> Lan {
        let sw = Switch::start(SwitchKind::Ours, tmp, "sw", &[]);
        let ns = [Netns::new(), Netns::new()];
        let taps = [
            TapHost::start(
                &ns[0],
                &sw.dir,
                "tap1",
                &format!("{net}.1/24"),
                None,
                tmp.path(),
            ),
            TapHost::start(
                &ns[1],
                &sw.dir,
                "tap2",
                &format!("{net}.2/24"),
                None,
                tmp.path(),
            ),
        ];
        let macs = [mac_of(&ns[0], "tap1"), mac_of(&ns[1], "tap2")];
        Lan {
            _taps: taps,
            ns,
            sw,
            macs,
        }
    }
}

/// After a ping, `status --json` shows two active ports with `vde_plug2tap` endpoints, their
/// counters, the taps' MACs on those ports, VLAN 0 with both, and the later sections empty;
/// the human summary shows the same ports and MACs.
#[test]
fn status_shows_taps_counters_and_macs() {
    require!(require_root(), require_real_vde(), require_f2f());
    let tmp = TempDir::new("status");
    let lan = Lan::start(&tmp, "10.211.0");
    assert_pings(&lan.ns[0], "10.211.0.2", 5, "tap1 -> tap2");

    let s = status_json(&lan.sw.mgmt);
    assert_eq!(s["format"], 1);
    assert_eq!(s["switch"]["numports"], 32);
    assert_eq!(s["switch"]["max_frame"], 1518);
    assert_eq!(s["switch"]["mac_table"]["capacity"], 65536);
    assert_eq!(s["switch"]["mgmt"], lan.sw.mgmt.to_string_lossy().as_ref());
    let ports: Vec<&Value> = s["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter(|p| {
            p["active"] == true
                && p["endpoints"].as_array().is_some_and(|e| {
                    e.iter().any(|e| {
                        e["description"]
                            .as_str()
                            .unwrap_or("")
                            .contains("vde_plug2tap")
                    })
                })
        })
        .collect();
    assert_eq!(ports.len(), 2, "two vde_plug2tap ports: {s:#}");
    for p in &ports {
        let c = &p["counters"];
        assert!(
            c["in_frames"].as_u64() >= Some(5),
            "5 echo requests or replies in: {p:#}"
        );
        assert!(c["out_frames"].as_u64() >= Some(5), "{p:#}");
        assert!(c["in_bytes"].as_u64() >= Some(5 * 98), "{p:#}");
        assert_eq!(c["drops"]["runt"], 0, "{p:#}");
        assert!(c["drops"]
            .as_object()
            .is_some_and(|d| d.contains_key("egress_full")));
        assert_eq!(p["untagged_vlan"], 0);
    }
    let port_numbers: Vec<u64> = ports.iter().filter_map(|p| p["port"].as_u64()).collect();
    for mac in &lan.macs {
        let port = port_of(&s, mac);
        assert!(
            port.is_some_and(|p| port_numbers.contains(&p)),
            "{mac} should be learned on a tap port {port_numbers:?}: {:#}",
            s["mac_table"]
        );
    }
    assert_ne!(port_of(&s, &lan.macs[0]), port_of(&s, &lan.macs[1]));
    assert_eq!(s["vlans"][0]["vlan"], 0);
    assert_eq!(s["stp"]["enabled"], false);
    assert_eq!(s["links"], Value::Array(vec![]));
    assert_eq!(s["dhcp"], Value::Null);
    assert_eq!(s["room"], Value::Null);

    let out = f2f(&["status", "-M", &lan.sw.mgmt.to_string_lossy()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "status: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("\nPorts\n") && text.contains("\nMAC table\n"),
        "{text}"
    );
    for mac in &lan.macs {
        assert!(
            text.contains(mac.as_str()),
            "human status lacks {mac}: {text}"
        );
    }
    assert_eq!(text.matches("vde_plug2tap").count(), 2, "{text}");
}

/// `tcpdump -n -r FILE` as text, asserting it reads the file.
fn tcpdump_read(file: &Path) -> String {
    let out = Command::new(system_tool("tcpdump"))
        .args(["-n", "-r"])
        .arg(file)
        .output()
        .expect("running tcpdump");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tcpdump cannot read {}: {}{text}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A capture of tap1's port during a ping run, stopped with Ctrl-C (SIGINT), opens in tcpdump
/// and shows the echo requests and replies; `--count 4` stops by itself after 4 frames.
#[test]
fn capture_of_a_ping_run_opens_in_tcpdump() {
    require!(
        require_root(),
        require_real_vde(),
        require_f2f(),
        require_tool("/usr/bin/tcpdump")
    );
    let tmp = TempDir::new("capture");
    let lan = Lan::start(&tmp, "10.212.0");
    assert_pings(&lan.ns[0], "10.212.0.2", 2, "tap1 -> tap2");
    let port = port_of(&status_json(&lan.sw.mgmt), &lan.macs[0])
        .expect("tap1's port")
        .to_string();
    let mgmt = lan.sw.mgmt.to_string_lossy().into_owned();

    let file = tmp.join("ping.pcap");
    let mut cmd = Command::new(f2f_bin());
    cmd.args(["capture", "-M", &mgmt, &port]).arg(&file);
    let mut cap = Child::spawn("capture", cmd, tmp.path(), Spawn::default());
    assert!(
        wait_until(SETTLE, || cap.stderr().contains("capturing port")
            || !cap.is_running()),
        "capture did not start: {}",
        cap.stderr()
    );
    let running = status_json(&lan.sw.mgmt);
    assert_eq!(
        running["captures"][0]["port"].to_string(),
        port,
        "{:#}",
        running["captures"]
    );
    assert_pings(&lan.ns[0], "10.212.0.2", 5, "tap1 -> tap2 while capturing");
    cap.signal(Signal::SIGINT);
    let status = cap.wait_exit(SETTLE);
    assert!(
        status.is_some_and(|s| s.success()),
        "capture exit {status:?}: {}",
        cap.stderr()
    );
    assert!(
        cap.stderr().contains("frames from port"),
        "{}",
        cap.stderr()
    );

    let text = tcpdump_read(&file);
    let requests = text.matches("ICMP echo request").count();
    let replies = text.matches("ICMP echo reply").count();
    assert!(
        requests >= 5 && replies >= 5,
        "5 requests and 5 replies expected:\n{text}"
    );
    assert!(
        text.contains("10.212.0.1 > 10.212.0.2: ICMP echo request"),
        "{text}"
    );
    assert!(
        text.contains("10.212.0.2 > 10.212.0.1: ICMP echo reply"),
        "{text}"
    );
    assert!(
        status_json(&lan.sw.mgmt)["captures"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "the capture ends with its client"
    );

    // --count: the switch ends the stream after N frames and the client exits by itself.
    let counted = tmp.join("count.pcap");
    let mut cmd = Command::new(f2f_bin());
    cmd.args(["capture", "-M", &mgmt, &port])
        .arg(&counted)
        .args(["--count", "4"]);
    let mut cap = Child::spawn("capture-count", cmd, tmp.path(), Spawn::default());
    assert!(
        wait_until(SETTLE, || cap.stderr().contains("capturing port")
            || !cap.is_running()),
        "counted capture did not start: {}",
        cap.stderr()
    );
    assert_pings(&lan.ns[0], "10.212.0.2", 3, "ping for the counted capture");
    let status = cap.wait_exit(SETTLE);
    assert!(
        status.is_some_and(|s| s.success()),
        "counted capture exit {status:?}: {}",
        cap.stderr()
    );
    assert_eq!(
        tcpdump_read(&counted).lines().count(),
        4,
        "exactly 4 frames"
    );

    // A port that does not exist is refused with the reason.
    let out = f2f(&[
        "capture",
        "-M",
        &mgmt,
        "30",
        &tmp.join("none.pcap").to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("port 30 does not exist"),
        "{err}"
    );
}

/// `--config FILE` sets the control directory (relative to the file) and sizes; `-n` on the
/// command line overrides the file's `numports`; `status -s DIR` finds `DIR/mgmt`.
#[test]
fn config_file_with_a_flag_override() {
    require!(require_f2f());
    let tmp = TempDir::new("config");
    let conf = tmp.join("switch.toml");
    std::fs::write(
        &conf,
        "sock = \"sw\"\nnumports = 8\nmax-macs = 100\nmax-frame = 9000\n",
    )
    .expect("write config");
    let mut cmd = Command::new(f2f_bin());
    cmd.arg("switch")
        .arg("--config")
        .arg(&conf)
        .args(["-n", "12"]);
    let mut sw = Child::spawn("switch-config", cmd, tmp.path(), Spawn::default());
    let mgmt = tmp.join("sw/mgmt");
    assert!(
        wait_until(SETTLE, || (is_socket(&mgmt)
            && is_socket(&tmp.join("sw/ctl")))
            || !sw.is_running()),
        "switch with --config did not come up: {}",
        sw.stderr()
    );
    let out = f2f(&["status", "-s", &tmp.join("sw").to_string_lossy(), "--json"]);
    assert!(
        out.status.success(),
        "status -s DIR: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(s["switch"]["mgmt"], mgmt.to_string_lossy().as_ref());
    assert_eq!(
        s["switch"]["numports"], 12,
        "the -n flag wins over the file"
    );
    assert_eq!(s["switch"]["mac_table"]["capacity"], 100);
    assert_eq!(s["switch"]["max_frame"], 9000);
    assert_eq!(
        s["switch"]["ctl_dir"],
        tmp.join("sw").to_string_lossy().as_ref()
    );
}

/// An unknown key is refused naming the key and the file; links without a key, and a key file
/// others can read, are refused saying why.
#[test]
fn config_unknown_key_refused_by_name() {
    require!(require_f2f());
    let tmp = TempDir::new("config-bad");
    let conf = tmp.join("bad.toml");
    let sock = tmp.join("sw");
    std::fs::write(&conf, "numports = 8\nnumprots = 9\n").expect("write config");
    let out = f2f(&[
        "switch",
        "-s",
        &sock.to_string_lossy(),
        "--config",
        &conf.to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an unknown key must stop the switch: {err}"
    );
    assert!(err.contains("unknown field `numprots`"), "{err}");
    assert!(
        err.contains(&*conf.to_string_lossy()),
        "the file is named: {err}"
    );
    assert!(
        !sock.exists(),
        "nothing is created before the config is read"
    );

    std::fs::write(&conf, "listen = \"127.0.0.1:7000\"\n").expect("write config");
    let out = f2f(&[
        "switch",
        "-s",
        &sock.to_string_lossy(),
        "--config",
        &conf.to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--listen and --connect need --key FILE"),
        "{err}"
    );

    let key = tmp.join("net.key");
    assert!(f2f(&["keygen", &key.to_string_lossy()]).status.success());
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&conf, "key = \"net.key\"\nlisten = \"127.0.0.1:7000\"\n")
        .expect("write config");
    let out = f2f(&[
        "switch",
        "-s",
        &sock.to_string_lossy(),
        "--config",
        &conf.to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("must not be readable by group or others"),
        "{err}"
    );
    assert!(!sock.exists(), "nothing is created when the key is refused");
}

/// `status` against a real vde_switch (no `status/json`) fails with a clear message.
#[test]
fn status_against_real_vde_switch_explains() {
    require!(require_real_vde(), require_f2f());
    let tmp = TempDir::new("status-real");
    let sw = Switch::start(SwitchKind::RealVdeSwitch, &tmp, "sw", &[]);
    let out = f2f(&["status", "-M", &sw.mgmt.to_string_lossy()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("1038 Function not implemented") && err.contains("real vde_switch"),
        "{err}"
    );
}
