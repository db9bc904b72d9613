//! [`Child`]: a process the test started, killed (with its process group when it has its own)
//! when the guard drops; its stdout and stderr go to files that tests read for assertions.
//!
//! Only the pid (or process group) this guard started is ever signalled; nothing is killed by
//! name. When a test is failing (panicking), the guard prints the tail of the child's stderr so
//! the failure explains itself.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::tools::system_tool;
use crate::wait_until;

/// How a [`Child`] is started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spawn {
    /// Keep a pipe to the child's stdin open (the real `vde_switch` exits on stdin EOF);
    /// otherwise stdin is `/dev/null`.
    pub keep_stdin_open: bool,
    /// Put the child in its own process group and signal the whole group on drop (`dpipe`,
    /// which starts two `vde_plug`s).
    pub own_group: bool,
}

impl Spawn {
    /// Stdin a pipe held open, no own group: for clients that leave on end of input (plugs).
    pub const STDIN_OPEN: Spawn = Spawn {
        keep_stdin_open: true,
        own_group: false,
    };
}

/// `VmRSS` and `VmHWM` (peak resident memory) of `pid` in KiB, from /proc/PID/status (0 when
/// the process or the field is gone).
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// How many file descriptors `pid` has open (0 when it is gone).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A running process owned by the test.
#[derive(Debug)]
pub struct Child {
    name: String,
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    own_group: bool,
    status: Option<ExitStatus>,
}

impl Child {
    /// Starts `cmd`; its output goes to `logdir/NAME.stdout` and `logdir/NAME.stderr`.
    pub fn spawn(name: &str, mut cmd: Command, logdir: &Path, how: Spawn) -> Child {
        use std::os::unix::process::CommandExt;
        let stdout_path = logdir.join(format!("{name}.stdout"));
        let stderr_path = logdir.join(format!("{name}.stderr"));
        let out = File::create(&stdout_path).expect("create stdout log");
        let err = File::create(&stderr_path).expect("create stderr log");
        cmd.stdout(out).stderr(err);
        cmd.stdin(if how.keep_stdin_open {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        if how.own_group {
            cmd.process_group(0);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        let stdin = child.stdin.take();
        Child {
            name: name.to_string(),
            child,
            stdin,
            stdout_path,
            stderr_path,
            own_group: how.own_group,
            status: None,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn (used in log file names and messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status, if the child has exited (reaps it).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(timeout, || self.try_status().is_some());
        self.status
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Writes to the child's stdin (spawned with `keep_stdin_open`).
    pub fn write_stdin(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.stdin.as_mut() {
            Some(s) => s.write_all(bytes).and_then(|_| s.flush()),
            None => Err(std::io::Error::other("stdin is not a pipe")),
        }
    }

    /// Closes the child's stdin (it sees EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `sig` to the child (or its group), if it still runs.
    pub fn signal(&mut self, sig: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32);
        if self.own_group {
            let _ = killpg(pid, sig);
        } else if self.is_running() {
            let _ = kill(pid, sig);
        }
    }

    /// Stops the child: SIGTERM, then SIGKILL if it is still there after 3 s; reaps it.
    pub fn stop(&mut self) {
        self.signal(Signal::SIGTERM);
        if self.wait_exit(Duration::from_secs(3)).is_none() {
            self.signal(Signal::SIGKILL);
            self.status = self.child.wait().ok();
        }
        if self.own_group {
            // The leader may be gone while group members linger.
            let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stdin = None;
        self.stop();
        if std::thread::panicking() {
            let err = self.stderr();
            let tail: Vec<&str> = err.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!(
                "--- {} (pid {}) exited {:?}; last stderr lines:\n{}\n---",
                self.name,
                self.child.id(),
                self.status,
                tail.join("\n")
            );
        }
    }
}

/// A process the test caused to exist but did not spawn directly (a daemon that forked and
/// wrote its pid file): killed by that pid on drop.
#[derive(Debug)]
pub struct PidGuard(pub i32);

impl PidGuard {
    /// True while the process exists.
    pub fn alive(&self) -> bool {
        kill(Pid::from_raw(self.0), None).is_ok()
    }
}

impl Drop for PidGuard {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.0);
        if kill(pid, Signal::SIGTERM).is_ok()
            && !wait_until(Duration::from_secs(3), || !self.alive())
        {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// CPU seconds (user + system) the process used so far.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 of proc(5); `rest` starts at field 3.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new(system_tool("getconf"))
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
