//! Image provisioning (issue 9): a member started with `join --vm room:` fetches the bundle the
//! master serves (`--serve-image`) over a direct connection to the master's `--listen` port,
//! never through the XMPP server; every file's SHA-256 equals the master's; a transfer killed
//! midway resumes at the `.part`'s size, as does one whose master is killed and restarted; a
//! verified copy is not fetched again; and without a direct path (or an offer) the member fails
//! saying so.
//!
//! The master's upload is rate-limited (`--serve-image-rate`) so the member can be killed in
//! the middle of the ~11 MB slave bundle; the whole test takes ~15 s.

use std::path::Path;
use std::time::Duration;

use f2f_e2e::prosody::{free_port, require_prosody, Prosody};
use f2f_e2e::room::{room_jid, JoinSpec, Member};
use f2f_e2e::tools::{require_f2f, require_tool, QEMU, QEMU_IMG};
use f2f_e2e::vm::{image_bundles, sha256};
use f2f_e2e::{wait_until, TempDir};
use nix::sys::signal::Signal;

/// Bytes per second the master sends: the bundle takes ~5 s.
const RATE: &str = "2000000";
/// How long a step may take (a grant, a transfer, a VM launch).
const STEP: Duration = Duration::from_secs(40);
/// What `--vm` says to take the master's image.
const ROOM_IMAGE: &str = "room:";

/// The image bundles, when every tool the tests need is there.
fn bundles() -> Option<std::path::PathBuf> {
    let tools = require_f2f() && require_prosody() && require_tool(QEMU) && require_tool(QEMU_IMG);
    tools.then(image_bundles).flatten()
}

fn spec(user: &str, room: &str, flags: &[String]) -> JoinSpec {
    JoinSpec {
        user: user.to_string(),
        room: room.to_string(),
        flags: flags.to_vec(),
    }
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Waits until `member`'s log has a line `pick` returns true for; panics with the log when it
/// does not come (or the process exits).
fn wait_log(member: &mut Member, what: &str, pick: impl Fn(&str) -> bool) -> String {
    let mut found = None;
    wait_until(STEP, || {
        found = member
            .child
            .stderr()
            .lines()
            .find(|l| pick(l))
            .map(str::to_string);
        found.is_some() || !member.child.is_running()
    });
    found.unwrap_or_else(|| {
        panic!(
            "{}: no {what} in the log:\n{}",
            member.user,
            member.child.stderr()
        )
    })
}

/// The number after `key` in a log line (`resuming vmlinuz at 123 bytes` → 123 for "at ").
fn number_after(line: &str, key: &str) -> u64 {
    line.split(key)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {line:?}"))
}

#[test]
fn a_member_fetches_the_image_from_the_master_resumes_and_keeps_it() {
    let Some(bundles) = bundles() else {
        return;
    };
    let bundle = bundles.join("slave");
    let tmp = TempDir::new("provision");
    let prosody = Prosody::start();
    let room = room_jid(&format!("prov{}", std::process::id()));
    let listen = format!("127.0.0.1:{}", free_port());
    let master_flags = flags(&[
        "--master",
        "--listen",
        &listen,
        "--serve-image",
        &bundle.to_string_lossy(),
        "--serve-image-rate",
        RATE,
    ]);
    let mut master = Member::start(&prosody, tmp.path(), &spec("master", &room, &master_flags));
    wait_log(&mut master, "join", |l| l.contains("joined the room"));
    assert!(master.logged("serving the image to the room's members"));

    let member_spec = spec("m1", &room, &[]);
    let mut m1 = Member::start_vm(&prosody, tmp.path(), &member_spec, Path::new(ROOM_IMAGE));
    // Killed once a megabyte or more is in: the transfer is cut in the middle of a file.
    let line = wait_log(&mut m1, "progress", |l| {
        l.contains("fetching image slave:") && number_after(l, "slave: ") >= 1_000_000
    });
    m1.child.signal(Signal::SIGKILL);
    m1.child.wait_exit(Duration::from_secs(5));
    eprintln!("killed at: {line}");
    let images = m1.state.join("images").join("slave");
    let parts: Vec<_> = std::fs::read_dir(&images)
        .expect("the images directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert_eq!(parts.len(), 1, "one file in progress: {parts:?}");
    let held = parts[0].metadata().expect("the .part").len();
    assert!(held > 0);

    m1.restart(&prosody, tmp.path(), &member_spec);
    let resumed = wait_log(&mut m1, "resume", |l| l.contains("resuming "));
    eprintln!("after the restart: {resumed}");
    assert!(
        number_after(&resumed, " at ") >= held,
        "resumed below what was held ({held}): {resumed}"
    );

    // The master dies in the middle of the rest: the member retries, and resumes further on
    // once the master is back.
    let first = number_after(&resumed, " at ");
    wait_log(&mut m1, "progress", |l| {
        l.contains("fetching image slave:") && number_after(l, "slave: ") >= 4_000_000
    });
    master.child.signal(Signal::SIGKILL);
    master.child.wait_exit(Duration::from_secs(5));
    wait_log(&mut m1, "retry", |l| {
        l.contains("image transfer failed, retrying")
    });
    master.restart(&prosody, tmp.path(), &spec("master", &room, &master_flags));
    let again = wait_log(&mut m1, "second resume", |l| {
        l.contains("resuming ") && number_after(l, " at ") > first
    });
    eprintln!("after the master's restart: {again}");
    wait_log(&mut m1, "VM start", |l| l.contains("VM started"));
    for file in ["image.toml", "base.qcow2", "vmlinuz", "initramfs.gz"] {
        assert_eq!(
            sha256(&images.join(file)),
            sha256(&bundle.join(file)),
            "{file} differs from the master's"
        );
    }
    let sent = |m: &Member| m.child.stderr().matches("sending an image file").count();
    let sent_before = sent(&master);

    // A verified copy is used as it is.
    m1.child.signal(Signal::SIGTERM);
    m1.child.wait_exit(Duration::from_secs(15));
    m1.restart(&prosody, tmp.path(), &member_spec);
    wait_log(&mut m1, "VM start", |l| l.contains("VM started"));
    assert!(m1.logged("image in place, hashes verified"));
    assert_eq!(
        sent(&master),
        sent_before,
        "the cached image was sent again"
    );
    assert!(!m1.logged("resuming "));
}

#[test]
fn without_a_direct_path_or_an_offer_the_member_says_why() {
    let Some(bundles) = bundles() else {
        return;
    };
    let tmp = TempDir::new("provision-fail");
    let prosody = Prosody::start();
    let pid = std::process::id();
    // A master listening on every address without --advertise has no address to offer.
    let (nopath, nooffer) = (
        room_jid(&format!("nopath{pid}")),
        room_jid(&format!("nooffer{pid}")),
    );
    let listen = format!("0.0.0.0:{}", free_port());
    let bundle = bundles.join("slave").to_string_lossy().to_string();
    let masters = [
        (
            "ma",
            &nopath,
            flags(&["--master", "--listen", &listen, "--serve-image", &bundle]),
        ),
        ("mb", &nooffer, flags(&["--master"])),
    ];
    let mut running = Vec::new();
    for (user, room, f) in &masters {
        let mut m = Member::start(&prosody, tmp.path(), &spec(user, room, f));
        wait_log(&mut m, "join", |l| l.contains("joined the room"));
        running.push(m);
    }
    for (user, room, expected) in [
        ("a1", &nopath, "no address to fetch it from"),
        ("b1", &nooffer, "the master offers no image"),
    ] {
        let mut m = Member::start_vm(
            &prosody,
            tmp.path(),
            &spec(user, room, &[]),
            Path::new(ROOM_IMAGE),
        );
        let status = m.child.wait_exit(STEP);
        let log = m.child.stderr();
        assert!(
            status.is_some_and(|s| !s.success()) && log.contains(expected),
            "{user}: expected a failure saying {expected:?}, got {status:?}:\n{log}"
        );
        if user == "a1" {
            assert!(log.contains("never through the XMPP server"), "{log}");
        }
    }
    for m in &mut running {
        assert!(m.child.is_running(), "{}: {}", m.user, m.child.stderr());
    }
}
