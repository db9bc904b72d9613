//! Data plane against the real VDE clients: `vde_plug2tap` taps in namespaces, a `dpipe`
//! cable of real `vde_plug`s to a real `vde_switch`, a paused qemu with `-netdev vde`, and
//! learning/flooding seen by raw clients. Each scenario runs against every [`SwitchKind`].

use std::time::Duration;

use f2f_e2e::mgmt::parse_ports;
use f2f_e2e::netns::assert_pings;
use f2f_e2e::peers::{dpipe_cable, qemu_paused};
use f2f_e2e::tools::{require_real_vde, require_root, require_tool, QEMU};
use f2f_e2e::vde::{frame, is_test_frame, mac, BROADCAST};
use f2f_e2e::{
    for_kinds, require, wait_until, Netns, RawClient, Switch, SwitchKind, TapHost, TempDir,
};

/// Long enough for any attach or listing to show up.
const SETTLE: Duration = Duration::from_secs(10);
/// How long a frame that must not arrive is waited for.
const SILENCE: Duration = Duration::from_millis(300);

/// Two taps in two namespaces ping each other with 0% loss, and `port/print` shows both
/// `vde_plug2tap` endpoints on active ports.
fn taps_ping(kind: SwitchKind) {
    require!(require_root(), require_real_vde(), kind.available());
    let tmp = TempDir::new("taps");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let _t1 = TapHost::start(&ns1, &sw.dir, "tap1", "10.201.0.1/24", None, tmp.path());
    let _t2 = TapHost::start(&ns2, &sw.dir, "tap2", "10.201.0.2/24", None, tmp.path());
    assert_pings(&ns1, "10.201.0.2", 10, "tap1 -> tap2");
    assert_pings(&ns2, "10.201.0.1", 10, "tap2 -> tap1");

    let ports = parse_ports(&sw.cmd("port/print").data);
    let taps: Vec<_> = ports
        .iter()
        .filter(|p| p.active && p.endpoints.iter().any(|e| e.contains("vde_plug2tap")))
        .collect();
    assert_eq!(
        taps.len(),
        2,
        "port/print should list both taps: {ports:#?}"
    );
}
for_kinds!(taps_ping);

/// `dpipe vde_plug DIR_A = vde_plug DIR_B` between this switch and a real `vde_switch` carries
/// pings between a tap on each side.
fn dpipe_cable_to_real_vde_switch(kind: SwitchKind) {
    require!(require_root(), require_real_vde(), kind.available());
    let tmp = TempDir::new("cable");
    let a = Switch::start(kind, &tmp, "a", &[]);
    let b = Switch::start(SwitchKind::RealVdeSwitch, &tmp, "b", &[]);
    let _cable = dpipe_cable(&a.dir, &b.dir, tmp.path());
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let _t1 = TapHost::start(&ns1, &a.dir, "tapa", "10.202.0.1/24", None, tmp.path());
    let _t2 = TapHost::start(&ns2, &b.dir, "tapb", "10.202.0.2/24", None, tmp.path());
    assert_pings(&ns1, "10.202.0.2", 10, "across the cable a -> b");
    assert_pings(&ns2, "10.202.0.1", 10, "across the cable b -> a");
    let ports = parse_ports(&a.cmd("port/print").data);
    assert!(
        ports
            .iter()
            .any(|p| p.endpoints.iter().any(|e| e.contains("vdeplug"))),
        "port/print on {kind:?} should show the vde_plug end of the cable: {ports:#?}"
    );
}
for_kinds!(dpipe_cable_to_real_vde_switch);

/// Waits until `port/allprint` shows a QEMU endpoint and returns that port's number.
fn wait_qemu_port(sw: &Switch) -> Option<u32> {
    let mut found = None;
    wait_until(SETTLE, || {
        let ports = parse_ports(&sw.cmd("port/allprint").data);
        found = ports
            .iter()
            .find(|p| p.endpoints.iter().any(|e| e.contains("QEMU")))
            .map(|p| p.port);
        found.is_some()
    });
    found
}

/// A paused qemu with `-netdev vde,sock=DIR` attaches and `port/allprint` lists it.
fn qemu_attaches(kind: SwitchKind) {
    require!(require_root(), require_tool(QEMU), kind.available());
    let tmp = TempDir::new("qemu");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let mut qemu = qemu_paused(&sw.dir, None, tmp.path());
    let port = wait_qemu_port(&sw);
    assert!(
        port.is_some(),
        "port/allprint never listed QEMU (qemu running: {}): {}",
        qemu.is_running(),
        sw.cmd("port/allprint").raw
    );
}
for_kinds!(qemu_attaches);

/// With `-netdev vde,…,port=5` qemu gets port 5.
fn qemu_requested_port(kind: SwitchKind) {
    require!(require_root(), require_tool(QEMU), kind.available());
    let tmp = TempDir::new("qemuport");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let _qemu = qemu_paused(&sw.dir, Some(5), tmp.path());
    assert_eq!(
        wait_qemu_port(&sw),
        Some(5),
        "qemu asked for port 5: {}",
        sw.cmd("port/allprint").raw
    );
}
for_kinds!(qemu_requested_port);

/// Broadcast floods to every other port; once B's MAC is learned, a unicast to it reaches B
/// and not C; nothing comes back to the sender.
fn learning_and_flooding(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("learn");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let a = RawClient::attach(&sw.dir, 0, "e2e-a").expect("attach a");
    let b = RawClient::attach(&sw.dir, 0, "e2e-b").expect("attach b");
    let c = RawClient::attach(&sw.dir, 0, "e2e-c").expect("attach c");
    let tagged = |t: u8| move |f: &[u8]| is_test_frame(f) && f.last() == Some(&t);

    let bcast = frame(BROADCAST, mac(1), 60, 1);
    a.send(&bcast);
    assert_eq!(
        b.recv_matching(SETTLE, tagged(1)),
        Some(bcast.clone()),
        "broadcast to b"
    );
    assert_eq!(
        c.recv_matching(SETTLE, tagged(1)),
        Some(bcast),
        "broadcast to c"
    );
    assert_eq!(
        a.recv_matching(SILENCE, tagged(1)),
        None,
        "broadcast came back to a"
    );

    // b makes itself known; then a unicasts to b.
    b.send(&frame(BROADCAST, mac(2), 60, 2));
    assert!(
        a.recv_matching(SETTLE, tagged(2)).is_some(),
        "b's broadcast to a"
    );
    assert!(
        c.recv_matching(SETTLE, tagged(2)).is_some(),
        "b's broadcast to c"
    );
    let uni = frame(mac(2), mac(1), 100, 3);
    a.send(&uni);
    assert_eq!(
        b.recv_matching(SETTLE, tagged(3)),
        Some(uni),
        "unicast to b"
    );
    assert_eq!(
        c.recv_matching(SILENCE, tagged(3)),
        None,
        "unicast to learned b leaked to c"
    );
}
for_kinds!(learning_and_flooding);

/// `-x` (hub): even a unicast to a MAC seen on another port goes to every other port, never
/// back to the sender.
fn hub_mode(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("hub");
    let sw = Switch::start(kind, &tmp, "sw", &["-x"]);
    let a = RawClient::attach(&sw.dir, 0, "e2e-a").expect("attach a");
    let b = RawClient::attach(&sw.dir, 0, "e2e-b").expect("attach b");
    let c = RawClient::attach(&sw.dir, 0, "e2e-c").expect("attach c");
    let tagged = |t: u8| move |f: &[u8]| is_test_frame(f) && f.last() == Some(&t);
    b.send(&frame(BROADCAST, mac(2), 60, 2));
    assert!(a.recv_matching(SETTLE, tagged(2)).is_some());
    assert!(c.recv_matching(SETTLE, tagged(2)).is_some());
    let uni = frame(mac(2), mac(1), 100, 3);
    a.send(&uni);
    assert_eq!(b.recv_matching(SETTLE, tagged(3)), Some(uni.clone()));
    assert_eq!(
        c.recv_matching(SETTLE, tagged(3)),
        Some(uni),
        "a hub copies to every port"
    );
    assert_eq!(
        a.recv_matching(SILENCE, tagged(3)),
        None,
        "never back to the sender"
    );
}
for_kinds!(hub_mode);
