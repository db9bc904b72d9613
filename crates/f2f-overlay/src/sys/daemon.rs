//! Daemonizing so that the starting process returns only when the daemon is
//! ready: its sockets bound and its pid file written. `daemon(3)` returns in
//! the parent at once, which leaves scripts racing the pid file.

#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use nix::unistd::{fork, pipe, setsid, ForkResult};

/// Which side of the fork this process is on.
#[derive(Debug)]
pub enum Forked {
    /// The starting process: the daemon reported ready (`true`) or failed.
    Parent {
        /// Whether the daemon said it is ready.
        ready: bool,
    },
    /// The daemon: call [`Ready::notify`] once the pid file is written.
    Daemon(Ready),
}

/// The daemon's end of the readiness pipe.
#[derive(Debug)]
pub struct Ready(File);

impl Ready {
    /// Tell the starting process that the daemon is ready; it then exits 0.
    pub fn notify(mut self) {
        let _ = self.0.write_all(b"1");
    }
}

/// Fork; in the child start a new session, move to `/` and point stdio at
/// `/dev/null`. Must be called while the process has a single thread.
pub fn fork_daemon() -> io::Result<Forked> {
    let (rd, wr): (OwnedFd, OwnedFd) = pipe()?;
    // SAFETY: called before any thread is started (the runtime is built after
    // this), so the child's only thread is a copy of ours.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            drop(wr);
            let mut byte = [0u8; 1];
            let ready = matches!(File::from(rd).read(&mut byte), Ok(1));
            Ok(Forked::Parent { ready })
        }
        ForkResult::Child => {
            drop(rd);
            setsid()?;
            std::env::set_current_dir("/")?;
            let null = File::options().read(true).write(true).open("/dev/null")?;
            for fd in [0, 1, 2] {
                nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd)?;
            }
            Ok(Forked::Daemon(Ready(File::from(wr))))
        }
    }
}
