//! Network namespaces the test creates, taps attached to a switch inside them, and `ping`.
//!
//! All traffic stays inside namespaces made here (unique names with the test's pid) and
//! loopback. Each [`Netns`] is deleted when dropped; a [`TapHost`]'s `vde_plug2tap` is killed
//! when it drops (declare the namespace first, so the tap goes first).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::proc::{Child, Spawn};
use crate::tools::{system_tool, VDE_PLUG2TAP};
use crate::wait_until;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `f2f-PID-N` with its loopback up.
    pub fn new() -> Netns {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("f2f-{}-{n}", std::process::id());
        run_ok(Command::new(system_tool("ip")).args(["netns", "add", &name]));
        let ns = Netns { name };
        run_ok(ns.ip().args(["link", "set", "lo", "up"]));
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME` (append the rest of the ip command).
    pub fn ip(&self) -> Command {
        let mut c = Command::new(system_tool("ip"));
        c.args(["-n", &self.name]);
        c
    }

    /// `ip netns exec NAME PROG` (append PROG's arguments). `ip netns exec` execs PROG, so the
    /// spawned pid is PROG's own.
    pub fn exec(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(system_tool("ip"));
        c.args(["netns", "exec", &self.name]).arg(prog);
        c
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(system_tool("ip"))
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Runs a command and panics with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A host on a switch: `vde_plug2tap` inside a namespace, the tap addressed and up.
#[derive(Debug)]
pub struct TapHost {
    /// The `vde_plug2tap` process.
    pub plug: Child,
    /// The tap's name inside the namespace.
    pub tap: String,
    /// The address given to the tap, without the prefix length.
    pub addr: String,
}

impl TapHost {
    /// Runs `ip netns exec NS vde_plug2tap [-p PORT] -s DIR TAP`, then gives the tap `cidr` and
    /// brings it up. Panics if the tap does not appear within 10 s.
    pub fn start(
        ns: &Netns,
        switch_dir: &Path,
        tap: &str,
        cidr: &str,
        port: Option<u32>,
        logdir: &Path,
    ) -> TapHost {
        let plug = start_plug2tap(ns, switch_dir, tap, port, logdir);
        run_ok(ns.ip().args(["addr", "add", cidr, "dev", tap]));
        run_ok(ns.ip().args(["link", "set", tap, "up"]));
        let addr = cidr.split('/').next().unwrap_or(cidr).to_string();
        TapHost {
            plug,
            tap: tap.to_string(),
            addr,
        }
    }
}

/// Runs `ip netns exec NS vde_plug2tap [-p PORT] -s DIR TAP` and waits until the tap exists.
/// Panics if it does not appear within 10 s or the plug dies.
pub fn start_plug2tap(
    ns: &Netns,
    switch_dir: &Path,
    tap: &str,
    port: Option<u32>,
    logdir: &Path,
) -> Child {
    let mut cmd = ns.exec(VDE_PLUG2TAP);
    if let Some(p) = port {
        cmd.args(["-p", &p.to_string()]);
    }
    cmd.arg("-s").arg(switch_dir).arg(tap);
    let mut plug = Child::spawn(
        &format!("vde_plug2tap-{}-{tap}", ns.name()),
        cmd,
        logdir,
        Spawn::default(),
    );
    let appeared = wait_until(Duration::from_secs(10), || {
        ns.ip()
            .args(["link", "show", tap])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
            || !plug.is_running()
    });
    assert!(
        appeared && plug.is_running(),
        "vde_plug2tap did not create {tap} in {}: {}",
        ns.name(),
        plug.stderr()
    );
    plug
}

/// A tap name unique to this test process: `f2PPPPPtagN` (at most 15 bytes, the kernel's
/// limit), so that concurrent test runs on one machine never collide.
pub fn unique_tap_name(tag: &str) -> String {
    static TAPS: AtomicU32 = AtomicU32::new(0);
    let n = TAPS.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag.chars().take(4).collect();
    format!("f2{:05}{tag}{n}", std::process::id() % 100_000)
}

/// Moves `host_tap` (created in the root namespace by a switch's `-t`/`--tap`) into `ns`, gives
/// it `cidr` and brings it up; returns the address without the prefix length. Panics if the
/// tap does not appear within 10 s.
pub fn move_tap_into(ns: &Netns, host_tap: &str, cidr: &str) -> String {
    let appeared = wait_until(Duration::from_secs(10), || {
        Command::new(system_tool("ip"))
            .args(["link", "show", host_tap])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    assert!(
        appeared,
        "tap {host_tap} did not appear in the root namespace"
    );
    run_ok(Command::new(system_tool("ip")).args(["link", "set", host_tap, "netns", ns.name()]));
    run_ok(ns.ip().args(["addr", "add", cidr, "dev", host_tap]));
    run_ok(ns.ip().args(["link", "set", host_tap, "up"]));
    cidr.split('/').next().unwrap_or(cidr).to_string()
}

/// Runs `iperf3` for `seconds` from `client` to a one-off server in `server` at `addr`;
/// returns the receiver's throughput in bit/s (panics with iperf3's output on failure).
pub fn iperf3(server: &Netns, client: &Netns, addr: &str, seconds: u32, logdir: &Path) -> f64 {
    let mut srv = Child::spawn(
        &format!("iperf3-server-{}", server.name()),
        {
            let mut c = server.exec(system_tool("iperf3"));
            c.args(["-s", "-1", "-B", addr, "-p", "5201"]);
            c
        },
        logdir,
        Spawn::default(),
    );
    let listening = wait_until(Duration::from_secs(10), || {
        server
            .exec(system_tool("ss"))
            .args(["-Hltn", "sport = :5201"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("LISTEN"))
            .unwrap_or(false)
    });
    assert!(listening, "iperf3 server did not listen: {}", srv.stderr());
    let out = client
        .exec(system_tool("iperf3"))
        .args(["-c", addr, "-p", "5201", "-t", &seconds.to_string(), "-J"])
        .output()
        .expect("running iperf3 -c");
    let _ = srv.wait_exit(Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "iperf3 client failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "sum_received": { ... "bits_per_second": N ... } in iperf3's JSON.
    let received = text
        .split("\"sum_received\"")
        .nth(1)
        .and_then(|r| r.split("\"bits_per_second\":").nth(1))
        .and_then(|r| r.trim_start().split([',', '\n', '}']).next())
        .and_then(|v| v.trim().parse::<f64>().ok());
    received.unwrap_or_else(|| panic!("no sum_received in iperf3's output: {text}"))
}

/// Pings `addr` from namespace `ns` `count` times (0.2 s apart, 1 s reply timeout) and returns
/// the packet loss in percent (100 when ping's summary cannot be read).
pub fn ping(ns: &Netns, addr: &str, count: u32) -> f64 {
    ping_within(ns, addr, count, 1)
}

/// [`ping`] with a reply timeout of `wait_secs` (paths through a server on a loaded machine).
pub fn ping_within(ns: &Netns, addr: &str, count: u32, wait_secs: u32) -> f64 {
    let out = ns
        .exec(system_tool("ping"))
        .args([
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            &wait_secs.to_string(),
            addr,
        ])
        .output()
        .expect("running ping");
    parse_loss(&String::from_utf8_lossy(&out.stdout)).unwrap_or(100.0)
}

/// Polls single pings from `ns` to `addr` until one is answered; true if one was within `timeout`.
pub fn wait_ping(ns: &Netns, addr: &str, timeout: Duration) -> bool {
    wait_until(timeout, || ping(ns, addr, 1) == 0.0)
}

/// Waits until `from` reaches `to` (up to 20 s: taps, ARP and learning settle), then asserts
/// that `count` pings see 0% loss.
pub fn assert_pings(from: &Netns, to: &str, count: u32, context: &str) {
    assert!(
        wait_ping(from, to, Duration::from_secs(20)),
        "{context}: {} never reached {to}",
        from.name()
    );
    let loss = ping(from, to, count);
    assert_eq!(
        loss,
        0.0,
        "{context}: {loss}% loss pinging {to} from {}",
        from.name()
    );
}

fn parse_loss(summary: &str) -> Option<f64> {
    let line = summary.lines().find(|l| l.contains("packet loss"))?;
    let pct = line.split(',').find(|f| f.contains("packet loss"))?;
    pct.trim().split('%').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_loss;

    #[test]
    fn reads_loss_from_ping_summary() {
        let s = "--- 10.0.0.2 ping statistics ---\n5 packets transmitted, 5 received, 0% packet loss, time 805ms\n";
        assert_eq!(parse_loss(s), Some(0.0));
        let s = "3 packets transmitted, 1 received, +2 errors, 66.6667% packet loss, time 2s\n";
        assert_eq!(parse_loss(s), Some(66.6667));
        assert_eq!(parse_loss("ping: connect: Network is unreachable\n"), None);
    }
}
