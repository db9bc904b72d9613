//! Unprivileged users and groups a test creates (`useradd`, `groupadd`) to run clients as
//! someone else with `runuser`, deleted when the guards drop. Names carry the test's pid, so
//! concurrent runs never share one.

use std::ffi::OsStr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::netns::run_ok;
use crate::tools::system_tool;

static SEQ: AtomicU32 = AtomicU32::new(0);

fn unique(tag: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    // useradd limits names to 32 characters.
    format!("f2f{tag}{}x{n}", std::process::id())
}

/// A group, deleted on drop.
#[derive(Debug)]
pub struct TestGroup {
    /// Its name.
    pub name: String,
}

impl TestGroup {
    /// Creates `f2fTAG<pid>x<n>`.
    pub fn new(tag: &str) -> TestGroup {
        let name = unique(tag);
        run_ok(Command::new(system_tool("groupadd")).arg(&name));
        TestGroup { name }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = Command::new(system_tool("groupdel"))
            .arg(&self.name)
            .output();
    }
}

/// A user without home directory or login shell, deleted on drop (declare its groups first,
/// so the user goes before them).
#[derive(Debug)]
pub struct TestUser {
    /// Its name.
    pub name: String,
}

impl TestUser {
    /// Creates `f2fTAG<pid>x<n>` with its own primary group, member of `groups`.
    pub fn new(tag: &str, groups: &[&TestGroup]) -> TestUser {
        let name = unique(tag);
        let mut cmd = Command::new(system_tool("useradd"));
        cmd.args([
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
        ]);
        if !groups.is_empty() {
            let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            cmd.args(["--groups", &names.join(",")]);
        }
        run_ok(cmd.arg(&name));
        TestUser { name }
    }

    /// `runuser -u NAME -- PROG` (append PROG's arguments): PROG runs as this user with its
    /// groups.
    pub fn run(&self, prog: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(system_tool("runuser"));
        c.args(["-u", &self.name, "--"]).arg(prog);
        c
    }

    /// Runs `prog args…` as this user and returns its output.
    pub fn output(&self, prog: impl AsRef<OsStr>, args: &[&OsStr]) -> Output {
        self.run(prog)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("runuser -u {}: {e}", self.name))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // userdel removes the user's own group too (USERGROUPS_ENAB).
        let _ = Command::new(system_tool("userdel"))
            .arg(&self.name)
            .output();
    }
}
