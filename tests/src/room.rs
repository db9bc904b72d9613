//! `f2f-overlay join` processes for the room tests: each with its own control directory, state
//! directory and `--tap`, whose tap (made when the master's grant arrives, with the granted
//! MAC) is moved into a namespace of its own, where a DHCP client asks the master's switch for
//! an address. Also the rooms of three (master, `alice`, `bob`) the room tests start, and
//! their all-pairs ping check.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::dhcp::{addr_of, udhcpc, BUSYBOX};
use crate::netns::{ping_within, run_ok, unique_tap_name, wait_ping};
use crate::proc::{Child, Spawn};
use crate::prosody::{password_file, require_prosody, Prosody, DOMAIN, MUC_DOMAIN};
use crate::tools::{f2f_bin, require_f2f, require_root, require_tool, system_tool};
use crate::{wait_until, Netns, TempDir};

/// How long a grant may take to arrive and its tap to appear.
pub const GRANT_DEADLINE: Duration = Duration::from_secs(15);

/// The room JID for `name` on the test server.
pub fn room_jid(name: &str) -> String {
    format!("{name}@{MUC_DOMAIN}")
}

/// How to start one `join`.
#[derive(Debug, Clone)]
pub struct JoinSpec {
    /// Account name (also the nick), e.g. `alice`.
    pub user: String,
    /// The room JID.
    pub room: String,
    /// Extra flags (`--master`, `--topology mesh`, `--transport xmpp`...).
    pub flags: Vec<String>,
}

/// A running `join` with its directories and its tap's namespace.
#[derive(Debug)]
pub struct Member {
    /// The process.
    pub child: Child,
    /// The account name.
    pub user: String,
    /// Its switch's control directory.
    pub ctl: PathBuf,
    /// Its state directory (kept across restarts).
    pub state: PathBuf,
    /// Its tap's name (empty for a member started with `--vm`).
    pub tap: String,
    /// How it attaches (`--tap NAME` or `--vm IMAGE`), again on a restart.
    attach: Vec<OsString>,
}

impl Member {
    /// Creates the account (password `pw-USER`) and starts `join` for it, with directories
    /// under `dir` and output logged there.
    pub fn start(prosody: &Prosody, dir: &Path, spec: &JoinSpec) -> Member {
        let password = format!("pw-{}", spec.user);
        prosody.add_account(&spec.user, &password);
        let state = dir.join(format!("{}-state", spec.user));
        let tap = unique_tap_name(&spec.user);
        let attach = vec!["--tap".into(), tap.clone().into()];
        Member::launch(prosody, dir, spec, &password, state, tap, &attach)
    }

    /// Like [`Member::start`] but with `--vm IMAGE` instead of a tap: the member's VM gets the
    /// granted MAC; its files are in `STATE/vms/USER/`.
    pub fn start_vm(prosody: &Prosody, dir: &Path, spec: &JoinSpec, image: &Path) -> Member {
        let password = format!("pw-{}", spec.user);
        prosody.add_account(&spec.user, &password);
        let state = dir.join(format!("{}-state", spec.user));
        let attach = vec!["--vm".into(), image.as_os_str().to_owned()];
        Member::launch(prosody, dir, spec, &password, state, String::new(), &attach)
    }

    /// The directory of its `--vm` VM: `STATE/vms/USER`.
    pub fn vm_dir(&self) -> PathBuf {
        self.state.join("vms").join(&self.user)
    }

    /// Starts `join` again with the same account, state directory and tap name or `--vm`
    /// image (after the previous process was killed).
    pub fn restart(&mut self, prosody: &Prosody, dir: &Path, spec: &JoinSpec) {
        let password = format!("pw-{}", spec.user);
        let fresh = Member::launch(
            prosody,
            dir,
            spec,
            &password,
            self.state.clone(),
            self.tap.clone(),
            &self.attach,
        );
        *self = fresh;
    }

    fn launch(
        prosody: &Prosody,
        dir: &Path,
        spec: &JoinSpec,
        password: &str,
        state: PathBuf,
        tap: String,
        attach: &[OsString],
    ) -> Member {
        let pw = password_file(dir, &spec.user, password);
        let ctl = dir.join(format!("{}-ctl", spec.user));
        let mut cmd = Command::new(f2f_bin());
        cmd.arg("join")
            .arg(&spec.room)
            .args(["--jid", &format!("{}@{DOMAIN}", spec.user)])
            .arg("--password-file")
            .arg(&pw)
            .args(["--server", &prosody.addr().to_string()])
            .arg("-s")
            .arg(&ctl)
            .arg("--state-dir")
            .arg(&state)
            .args(attach)
            .args(&spec.flags);
        cmd.env("RUST_LOG", "info");
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let child = Child::spawn(
            &format!("join-{}-{n}", spec.user),
            cmd,
            dir,
            Spawn::default(),
        );
        Member {
            child,
            user: spec.user.clone(),
            ctl,
            state,
            tap,
            attach: attach.to_vec(),
        }
    }

    /// Waits for the tap (made when the grant arrives, then given the granted MAC, then
    /// attached: the log says so) and moves it into `ns`, up, without an address; returns its
    /// MAC. Panics with the process's log if it does not appear.
    pub fn tap_into(&mut self, ns: &Netns) -> String {
        let tap = self.tap.clone();
        let attached = "tap attached";
        let named = format!("tap={tap}");
        let appeared = wait_until(GRANT_DEADLINE, || {
            let log = self.child.stderr();
            log.lines()
                .any(|l| l.contains(attached) && l.contains(&named))
                || !self.child.is_running()
        });
        assert!(
            appeared && self.child.is_running(),
            "{}: no tap {tap} (no grant?): {}",
            self.user,
            self.child.stderr()
        );
        let mac = std::fs::read_to_string(format!("/sys/class/net/{tap}/address"))
            .expect("read tap MAC")
            .trim()
            .to_string();
        run_ok(Command::new(system_tool("ip")).args(["link", "set", &tap, "netns", ns.name()]));
        run_ok(ns.ip().args(["link", "set", &tap, "up"]));
        mac
    }

    /// Runs udhcpc on the tap in `ns` (up to `tries` DISCOVERs a second apart); returns the
    /// leased address.
    pub fn lease(&self, ns: &Netns, tmp: &Path, tries: u32) -> Ipv4Addr {
        let run = udhcpc(ns, &self.tap, tmp, tries);
        run.ip
            .or_else(|| addr_of(ns, &self.tap))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no DHCP lease: {}\n--- join log:\n{}",
                    self.user,
                    run.output,
                    self.child.stderr()
                )
            })
    }

    /// `f2f-overlay status --json` of its switch.
    pub fn status(&self) -> serde_json::Value {
        let out = Command::new(f2f_bin())
            .arg("status")
            .arg("-s")
            .arg(&self.ctl)
            .arg("--json")
            .output()
            .expect("run status");
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// Whether the log has a line containing `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.child.stderr().contains(text) || self.child.stdout().contains(text)
    }
}

/// One joined node of a room test: its process, namespace, MAC and address.
#[derive(Debug)]
pub struct Node {
    /// The `join` process (dropped before the namespace).
    pub member: Member,
    /// How it was started.
    pub spec: JoinSpec,
    /// The namespace holding its tap.
    pub ns: Netns,
    /// The tap's (granted) MAC.
    pub mac: String,
    /// The tap's leased address.
    pub ip: Ipv4Addr,
}

/// A [`JoinSpec`] for `user` in `room` with `flags`.
pub fn spec(user: &str, room: &str, flags: &[&str]) -> JoinSpec {
    JoinSpec {
        user: user.to_string(),
        room: room.to_string(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
    }
}

/// Starts `join` for `spec`, moves its tap into a fresh namespace and leases an address.
pub fn join_and_lease(prosody: &Prosody, tmp: &TempDir, spec: JoinSpec) -> Node {
    let start = Instant::now();
    let mut member = Member::start(prosody, tmp.path(), &spec);
    let ns = Netns::new();
    let mac = member.tap_into(&ns);
    let ip = member.lease(&ns, tmp.path(), 10);
    eprintln!(
        "{}: from join to DHCP lease {ip}: {:?}",
        spec.user,
        start.elapsed()
    );
    Node {
        member,
        spec,
        ns,
        mac,
        ip,
    }
}

/// Every node reaches every other (within `reach`), then 3 pings each way see no loss. Replies
/// may take up to 3 s: the frames may go through Prosody, which shares two cores with
/// everything else.
pub fn assert_all_pairs_ping_within(nodes: &[Node], reach: Duration, context: &str) {
    for a in nodes {
        for b in nodes {
            if a.member.user != b.member.user {
                let to = b.ip.to_string();
                assert!(
                    wait_ping(&a.ns, &to, reach),
                    "{context}: {} never reached {to}",
                    a.member.user
                );
                let loss = ping_within(&a.ns, &to, 3, 3);
                assert_eq!(
                    loss, 0.0,
                    "{context}: {loss}% loss from {} to {to}",
                    a.member.user
                );
            }
        }
    }
}

/// [`assert_all_pairs_ping_within`] 20 s.
pub fn assert_all_pairs_ping(nodes: &[Node], context: &str) {
    assert_all_pairs_ping_within(nodes, Duration::from_secs(20), context);
}

/// What the room tests need: root, our binary, Prosody and busybox's udhcpc.
pub fn prerequisites() -> bool {
    require_root() && require_f2f() && require_prosody() && require_tool(BUSYBOX)
}

/// Master plus two members (`alice`, `bob`) over XMPP in `topology`: leases in the room's
/// subnet, all pairs ping; returns the nodes (master first).
pub fn room_of_three(prosody: &Prosody, tmp: &TempDir, room: &str, topology: &str) -> Vec<Node> {
    room_of_three_with(prosody, tmp, room, topology, |_| {
        vec!["--transport".into(), "xmpp".into()]
    })
}

/// [`room_of_three`] with each node's transport flags from `transport` (given the user). The
/// subnet is `10.(100 + pid % 100).X.0/24`, X from the topology and whether the room's name
/// says `tcp`, so concurrent rooms do not share one.
pub fn room_of_three_with(
    prosody: &Prosody,
    tmp: &TempDir,
    room: &str,
    topology: &str,
    transport: impl Fn(&str) -> Vec<String>,
) -> Vec<Node> {
    let third = if topology == "mesh" { 2 } else { 1 } + 10 * u32::from(room.contains("tcp"));
    let subnet = format!("10.{}.{third}.0/24", 100 + std::process::id() % 100);
    let mut master = spec(
        "master",
        room,
        &["--master", "--subnet", &subnet, "--topology", topology],
    );
    master.flags.extend(transport("master"));
    let mut nodes = vec![join_and_lease(prosody, tmp, master)];
    for user in ["alice", "bob"] {
        let mut member = spec(user, room, &[]);
        member.flags.extend(transport(user));
        nodes.push(join_and_lease(prosody, tmp, member));
    }
    let prefix = subnet.trim_end_matches("0/24");
    for n in &nodes {
        assert!(
            n.ip.to_string().starts_with(prefix),
            "{} leased {} outside {subnet}",
            n.member.user,
            n.ip
        );
    }
    let macs: std::collections::BTreeSet<_> = nodes.iter().map(|n| n.mac.clone()).collect();
    assert_eq!(macs.len(), nodes.len(), "granted MACs are not unique");
    assert_all_pairs_ping(&nodes, topology);
    nodes
}
