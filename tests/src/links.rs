//! Switches joined by links (`--key`, `--listen`, `--connect`): keys made with our `keygen`,
//! free loopback ports, and the `links` section of `status/json`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::{move_tap_into, run_ok};
use crate::switch::{Switch, SwitchKind};
use crate::tmp::TempDir;
use crate::tools::f2f_bin;
use crate::{wait_until, Netns};

/// Writes a new network key `tmp/NAME` with `f2f-overlay keygen`.
pub fn keygen(tmp: &TempDir, name: &str) -> PathBuf {
    let path = tmp.join(name);
    run_ok(Command::new(f2f_bin()).arg("keygen").arg(&path));
    path
}

/// A loopback address with a TCP port free right now.
pub fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").to_string()
}

/// A switch with a tap moved into its own namespace, plus link flags.
#[derive(Debug)]
pub struct LinkedHost {
    /// The switch (dropped before the namespace).
    pub switch: Switch,
    /// The namespace holding the switch's tap.
    pub ns: Netns,
    /// The tap's address in the namespace.
    pub addr: String,
}

impl LinkedHost {
    /// Starts our switch `NAME` (state dir `tmp/NAME.state`) with `--key key`, a tap moved into
    /// a fresh namespace with `cidr`, and `flags` (e.g. `--listen`, `--connect`, `-F`).
    pub fn start(tmp: &TempDir, name: &str, key: &Path, cidr: &str, flags: &[&str]) -> LinkedHost {
        let ns = Netns::new();
        let switch = start_switch(&ns, tmp, name, name, key, cidr, flags);
        let addr = cidr.split('/').next().unwrap_or(cidr).to_string();
        LinkedHost { switch, ns, addr }
    }

    /// Starts the switch again after it stopped: under the new `name`, with the state dir (and
    /// so the node key) of `first_name`, its new tap moved into the same namespace.
    pub fn restart(
        &mut self,
        tmp: &TempDir,
        name: &str,
        first_name: &str,
        key: &Path,
        cidr: &str,
        flags: &[&str],
    ) {
        self.switch = start_switch(&self.ns, tmp, name, first_name, key, cidr, flags);
    }
}

fn start_switch(
    ns: &Netns,
    tmp: &TempDir,
    name: &str,
    state_name: &str,
    key: &Path,
    cidr: &str,
    flags: &[&str],
) -> Switch {
    let tap = crate::netns::unique_tap_name(name);
    let state = tmp.join(&format!("{state_name}.state"));
    let key = key.to_string_lossy().into_owned();
    let state = state.to_string_lossy().into_owned();
    let mut args = vec!["--state-dir", &state, "--key", &key, "--tap", &tap];
    args.extend_from_slice(flags);
    let switch = Switch::start(SwitchKind::Ours, tmp, name, &args);
    let addr = move_tap_into(ns, &tap, cidr);
    // The host keeps its MAC across switch restarts, as a VM would.
    let octets: Vec<u8> = addr.split('.').filter_map(|o| o.parse().ok()).collect();
    let mac = format!(
        "02:f2:{}",
        octets
            .iter()
            .map(|o| format!("{o:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    );
    run_ok(ns.ip().args(["link", "set", "dev", &tap, "address", &mac]));
    switch
}

/// The `links` section of the switch's `status/json`.
pub fn links(sw: &Switch) -> Vec<serde_json::Value> {
    status(sw)["links"].as_array().cloned().unwrap_or_default()
}

/// The whole `status/json` document.
pub fn status(sw: &Switch) -> serde_json::Value {
    let reply = sw.cmd("status/json");
    reply
        .data
        .first()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no status document in {}", reply.raw))
}

/// How many of the switch's links are up.
pub fn links_up(sw: &Switch) -> usize {
    links(sw).iter().filter(|l| l["state"] == "up").count()
}

/// Waits until `n` links of `sw` are up; panics with its log otherwise.
pub fn wait_links_up(sw: &Switch, n: usize, timeout: Duration) {
    assert!(
        wait_until(timeout, || links_up(sw) >= n),
        "{n} links never came up on {}: {:?}\n{}",
        sw.dir.display(),
        links(sw),
        sw.log()
    );
}
