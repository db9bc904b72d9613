//! `f2f-overlay vm` (issue 9) on our switch serving DHCP, with the master and slave image bundles
//! of `images/build-bundles.sh` (Debian kernel + busybox initramfs + a small qcow2 base disk):
//! two VMs from one bundle side by side get leases and the sweep inside one finds every host,
//! the base disk is never written; a missing or corrupt image, a qemu that is not installed, a
//! VM that crashes at boot each give a clear error while another VM runs on unharmed; the VM
//! stops when the switch goes away.
//!
//! qemu runs under TCG here (the test host has /dev/kvm but no vmx/svm), so boots take seconds:
//! the tests boot as few VMs as they can and overlap the boots with the fast checks.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use f2f_e2e::dhcp::{bare_tap, udhcpc, BUSYBOX};
use f2f_e2e::netns::assert_pings;
use f2f_e2e::proc::{cpu_secs, memory_kib, Child, Spawn};
use f2f_e2e::tools::{
    f2f_bin, require_f2f, require_root, require_tool, QEMU, QEMU_IMG, VDE_PLUG2TAP,
};
use f2f_e2e::vm::{alive, field, image_bundles, sha256, VmProc};
use f2f_e2e::{require, Netns, Switch, SwitchKind, TempDir};
use nix::sys::signal::Signal;

/// How long a failing `f2f-overlay vm` may take to say so (a panicking guest boots first).
const FAIL_DEADLINE: Duration = Duration::from_secs(60);
/// How long a stopped VM's launcher may take to exit (qemu gets 5 s after SIGTERM).
const STOP_DEADLINE: Duration = Duration::from_secs(15);

fn tools() -> bool {
    require_root()
        && require_f2f()
        && require_tool(QEMU)
        && require_tool(QEMU_IMG)
        && require_tool(VDE_PLUG2TAP)
        && require_tool(BUSYBOX)
}

/// Our switch serving DHCP on `PREFIX.0/24` (server `PREFIX.1`).
fn dhcp_switch(tmp: &TempDir, prefix: &str) -> Switch {
    let cidr = format!("{prefix}.0/24");
    let leases = tmp.join("leases.json");
    let leases = leases.to_str().expect("utf-8 path");
    Switch::start(
        SwitchKind::Ours,
        tmp,
        "sw",
        &["--dhcp", &cidr, "--dhcp-lease-file", leases],
    )
}

fn ip_of(ready: &str) -> Ipv4Addr {
    field(ready, "ip")
        .and_then(|ip| ip.parse().ok())
        .unwrap_or_else(|| panic!("no ip= in {ready:?}"))
}

/// Two VMs from the master bundle side by side, and a tap host: every one gets a lease from the
/// switch; each VM read the base disk and wrote its boot counter to its own overlay (both see
/// `boots=1`); the sweep inside one (asked for with `tvm_sweep=4` on its kernel command line)
/// finds the switch, the tap host and both VMs; Ctrl-C and SIGTERM stop them cleanly (exit 0,
/// qemu gone, the overlay removed unless `--keep-overlay`); the base image's checksum is
/// unchanged.
#[test]
fn two_vms_from_one_bundle_get_leases_and_the_sweep_finds_every_host() {
    require!(tools());
    let Some(bundles) = image_bundles() else {
        return;
    };
    let master = bundles.join("master");
    let base = master.join("base.qcow2");
    let base_sum = sha256(&base);
    let tmp = TempDir::new("vm2");
    let p = "10.221.0";
    let sw = dhcp_switch(&tmp, p);
    let state = tmp.join("state");

    let t0 = Instant::now();
    let sweep_append = "console=ttyS0 quiet panic=-1 tvm_name=a tvm_sweep=4 tvm_sweep_rounds=8";
    let (mac_a, mac_b) = ("52:54:00:21:00:0a", "52:54:00:21:00:0b");
    let mut a = VmProc::start(
        &master,
        &sw.dir,
        &state,
        "a",
        &["--mac", mac_a, "--append", sweep_append],
        tmp.path(),
    );
    let mut b = VmProc::start(
        &master,
        &sw.dir,
        &state,
        "b",
        &["--mac", mac_b, "--keep-overlay"],
        tmp.path(),
    );
    let ns = Netns::new();
    let _tap = bare_tap(&ns, &sw.dir, "tap1", None, tmp.path());
    let host = udhcpc(&ns, "tap1", tmp.path(), 10)
        .ip
        .expect("lease for the tap host");

    let ready_a = a.wait_ready();
    let ready_b = b.wait_ready();
    eprintln!(
        "both VMs ready {:?} after start:\n{ready_a}\n{ready_b}",
        t0.elapsed()
    );
    let (ip_a, ip_b) = (ip_of(&ready_a), ip_of(&ready_b));
    let all: BTreeSet<Ipv4Addr> = [ip_a, ip_b, host].into_iter().collect();
    assert_eq!(all.len(), 3, "addresses must differ: {ip_a} {ip_b} {host}");
    assert!(all
        .iter()
        .all(|ip| ip.to_string().starts_with(&format!("{p}."))));
    assert_eq!(field(&ready_a, "mac"), Some(mac_a));
    assert_eq!(field(&ready_b, "mac"), Some(mac_b));
    for vm in [&a, &b] {
        assert!(
            vm.console()
                .lines()
                .any(|l| l == "VM-DISK boots=1 id=master"),
            "each VM reads the base disk and counts its first boot in its own overlay:\n{}",
            vm.console()
        );
        let overlay = vm.dir.join("overlay.qcow2");
        let info = Command::new(QEMU_IMG)
            .args(["info", "-U", "--output=json"])
            .arg(&overlay)
            .output()
            .expect("qemu-img info");
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(
            info.contains("\"format\": \"qcow2\"") && info.contains(base.to_str().unwrap()),
            "the overlay must be a qcow2 on the base: {info}"
        );
    }
    assert_pings(&ns, &ip_a.to_string(), 2, "tap host -> VM a");

    let sweep = a
        .wait_line(&["F2F-SWEEP"], Duration::from_secs(150))
        .unwrap_or_else(|| panic!("no sweep result; console:\n{}", a.console()));
    eprintln!("{sweep} ({:?} after start)", t0.elapsed());
    let found: BTreeSet<Ipv4Addr> = field(&sweep, "hosts")
        .unwrap_or("")
        .split(',')
        .filter_map(|h| h.parse().ok())
        .collect();
    let server: Ipv4Addr = format!("{p}.1").parse().unwrap();
    let want: BTreeSet<Ipv4Addr> = [server, host, ip_a, ip_b].into_iter().collect();
    assert_eq!(found, want, "{sweep}");
    assert_eq!(field(&sweep, "up"), Some("4"));

    let pids: Vec<i32> = [&a, &b]
        .iter()
        .map(|vm| vm.qemu_pid().expect("qemu pid file"))
        .collect();
    a.child.signal(Signal::SIGINT);
    b.child.signal(Signal::SIGTERM);
    for ((vm, pid), keep) in [&mut a, &mut b].into_iter().zip(pids).zip([false, true]) {
        let status = vm.child.wait_exit(STOP_DEADLINE);
        assert!(
            status.is_some_and(|s| s.success()),
            "a stop on request is clean: {status:?}\n{}",
            vm.child.stderr()
        );
        assert!(!alive(pid), "qemu {pid} outlived its launcher");
        assert_eq!(
            vm.dir.join("overlay.qcow2").exists(),
            keep,
            "the overlay is removed after a clean stop, unless --keep-overlay"
        );
        assert!(vm.dir.join("console.log").exists());
    }
    assert_eq!(sha256(&base), base_sum, "the base image was written");
}

/// `f2f-overlay vm` that must fail: returns its stderr, after checking it exited non-zero
/// within [`FAIL_DEADLINE`].
fn fails(name: &str, args: &[&std::ffi::OsStr], path: Option<&Path>, tmp: &TempDir) -> String {
    let mut cmd = Command::new(f2f_bin());
    cmd.arg("vm").args(args);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let mut child = Child::spawn(&format!("fail-{name}"), cmd, tmp.path(), Spawn::default());
    let status = child.wait_exit(FAIL_DEADLINE);
    let err = child.stderr();
    assert!(
        status.is_some_and(|s| !s.success()),
        "{name}: expected a failure, got {status:?}; stderr:\n{err}"
    );
    eprintln!("{name}: {}", err.trim());
    err
}

/// A copy of `bundle` in `to` (the base disk copied, the rest linked).
fn copy_bundle(bundle: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for f in ["image.toml", "vmlinuz", "initramfs.gz", "base.qcow2"] {
        std::fs::copy(bundle.join(f), to.join(f)).unwrap();
    }
    to.to_path_buf()
}

/// While one VM (slave bundle) boots and runs: a missing image, a qcow2 with a damaged header,
/// a truncated qcow2, a bad image.toml, qemu not installed, no switch, a name already in use,
/// `--accel kvm` on a host that cannot, and a guest whose kernel panics at boot each end
/// `f2f-overlay vm` with a non-zero status and an error naming the cause (the crashed one keeps
/// its overlay and says so). The running VM is unaffected: it gets its lease and answers pings.
/// Then the switch is killed: the launcher notices, stops qemu and exits non-zero.
#[test]
fn failures_name_their_cause_and_leave_the_other_vm_running() {
    require!(tools());
    let Some(bundles) = image_bundles() else {
        return;
    };
    let slave = bundles.join("slave");
    let tmp = TempDir::new("vmfail");
    let p = "10.222.0";
    let mut sw = dhcp_switch(&tmp, p);
    let state = tmp.join("state");
    let mut good = VmProc::start(
        &slave,
        &sw.dir,
        &state,
        "good",
        &["--mac", "52:54:00:22:00:01"],
        tmp.path(),
    );
    let os = |s: &str| std::ffi::OsString::from(s);
    let on_switch = |image: &Path, name: &str| -> Vec<std::ffi::OsString> {
        vec![
            image.as_os_str().to_owned(),
            os("-s"),
            sw.dir.as_os_str().to_owned(),
            os("--state-dir"),
            state.as_os_str().to_owned(),
            os("--name"),
            os(name),
        ]
    };
    let run = |name: &str, args: Vec<std::ffi::OsString>, path: Option<&Path>| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        fails(name, &args, path, &tmp)
    };

    let missing = tmp.join("no-such-image");
    let err = run("missing", on_switch(&missing, "m"), None);
    assert!(
        err.contains("no-such-image") && err.contains("No such file"),
        "{err}"
    );

    let bad_header = copy_bundle(&slave, &tmp.join("bad-header"));
    std::fs::write(bad_header.join("base.qcow2"), b"not a qcow2 image").unwrap();
    let err = run("bad-header", on_switch(&bad_header, "h"), None);
    assert!(
        err.contains("base.qcow2") && err.contains("corrupt"),
        "{err}"
    );

    let truncated = copy_bundle(&slave, &tmp.join("truncated"));
    let disk = std::fs::OpenOptions::new()
        .write(true)
        .open(truncated.join("base.qcow2"))
        .unwrap();
    disk.set_len(200_000).unwrap();
    let err = run("truncated", on_switch(&truncated, "t"), None);
    assert!(
        err.contains("base.qcow2") && err.contains("corrupt"),
        "{err}"
    );

    let bad_toml = copy_bundle(&slave, &tmp.join("bad-toml"));
    std::fs::write(
        bad_toml.join("image.toml"),
        "disk = \"base.qcow2\"\nmemory = 4\n",
    )
    .unwrap();
    let err = run("bad-toml", on_switch(&bad_toml, "b"), None);
    assert!(
        err.contains("image.toml") && err.contains("memory"),
        "{err}"
    );

    // PATH with qemu-img but without qemu.
    let bin = tmp.join("bin-without-qemu");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(QEMU_IMG, bin.join("qemu-img")).unwrap();
    let err = run("no-qemu", on_switch(&slave, "q"), Some(&bin));
    assert!(
        err.contains("qemu-system-x86_64 is not installed") && err.contains("qemu-system-x86"),
        "{err}"
    );

    let mut args = on_switch(&slave, "n");
    args[2] = tmp.join("no-switch").into_os_string();
    let err = run("no-switch", args, None);
    assert!(err.contains("no VDE switch at"), "{err}");

    let err = run("same-name", on_switch(&slave, "good"), None);
    assert!(err.contains("already running"), "{err}");

    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if !cpuinfo.split_whitespace().any(|w| w == "vmx" || w == "svm") {
        let mut args = on_switch(&slave, "k");
        args.extend([os("--accel"), os("kvm")]);
        let err = run("kvm", args, None);
        assert!(err.contains("--accel kvm cannot work"), "{err}");
    }

    let mut args = on_switch(&slave, "crash");
    args.extend([
        os("--append"),
        os("console=ttyS0 quiet panic=-1 rdinit=/nonexistent"),
    ]);
    let err = run("crash", args, None);
    assert!(
        err.contains("VM crash failed: the guest crashed (kernel panic)")
            && err.contains("overlay kept for inspection"),
        "{err}"
    );
    assert!(state.join("vms/crash/overlay.qcow2").exists());

    // The good VM booted meanwhile, untouched by all of the above.
    let ready = good.wait_ready();
    assert!(good.child.is_running());
    let ns = Netns::new();
    let _tap = bare_tap(&ns, &sw.dir, "tap1", None, tmp.path());
    udhcpc(&ns, "tap1", tmp.path(), 10)
        .ip
        .expect("lease for the tap host");
    assert_pings(&ns, &ip_of(&ready).to_string(), 2, "tap host -> good VM");

    // The switch goes away (SIGKILL: no goodbye): the launcher stops qemu and says why.
    let qemu = good.qemu_pid().expect("qemu pid file");
    sw.child.signal(Signal::SIGKILL);
    let status = good.child.wait_exit(STOP_DEADLINE);
    let err = good.child.stderr();
    assert!(
        status.is_some_and(|s| !s.success()) && err.contains("went away"),
        "{status:?}: {err}"
    );
    assert!(!alive(qemu), "qemu {qemu} still runs without its switch");
}

/// Benchmark (BENCHMARKS.md, "VMs (issue 9)"): two VMs from the slave bundle started at once on
/// our switch serving DHCP; time from `f2f-overlay vm` start to each `VM-READY` line (lease
/// configured), the switch's resident memory and CPU before, once both are leased, and over
/// an idle minute with both running; the launchers' and qemus' own memory for scale. Run with
/// `cargo test --release -p f2f-e2e --test vm -- --ignored --nocapture vm_boot_to_lease_and_overhead`.
#[test]
#[ignore = "benchmark: run by hand, see BENCHMARKS.md"]
fn vm_boot_to_lease_and_overhead() {
    require!(tools());
    let Some(bundles) = image_bundles() else {
        return;
    };
    let slave = bundles.join("slave");
    let tmp = TempDir::new("vmbench");
    let sw = dhcp_switch(&tmp, "10.223.0");
    let state = tmp.join("state");
    let pid = sw.child.pid();
    let rss = |pid: u32| memory_kib(pid).0;
    std::thread::sleep(Duration::from_secs(2));
    let (rss0, cpu0) = (rss(pid), cpu_secs(pid));
    let t0 = Instant::now();
    let mut vms: Vec<VmProc> = ["v1", "v2"]
        .iter()
        .map(|n| VmProc::start(&slave, &sw.dir, &state, n, &[], tmp.path()))
        .collect();
    for vm in &mut vms {
        let ready = vm.wait_ready();
        eprintln!(
            "{}: start -> VM-READY {:.2} s (guest uptime {} s)",
            vm.child.name(),
            t0.elapsed().as_secs_f64(),
            field(&ready, "uptime").unwrap_or("?")
        );
    }
    let (rss1, cpu1) = (rss(pid), cpu_secs(pid));
    let idle = Duration::from_secs(60);
    std::thread::sleep(idle);
    let (rss2, cpu2) = (rss(pid), cpu_secs(pid));
    eprintln!(
        "switch RSS: {rss0} KiB alone, {rss1} KiB with 2 VMs leased, {rss2} KiB after {idle:?} idle \
         ({:+.0} KiB per VM)",
        (rss2 as f64 - rss0 as f64) / 2.0
    );
    eprintln!(
        "switch CPU: {:.3} s for both boots and leases ({:.3} s per VM); {:.3} % of a core per idle VM",
        cpu1 - cpu0,
        (cpu1 - cpu0) / 2.0,
        (cpu2 - cpu1) / idle.as_secs_f64() / 2.0 * 100.0
    );
    for vm in &mut vms {
        let launcher = vm.child.pid();
        let qemu = vm.qemu_pid().expect("qemu pid") as u32;
        eprintln!(
            "{}: launcher RSS {} KiB, CPU {:.3} s; qemu RSS {} KiB, CPU {:.1} s",
            vm.child.name(),
            rss(launcher),
            cpu_secs(launcher),
            rss(qemu),
            cpu_secs(qemu)
        );
        assert!(vm.child.is_running());
    }
}
