//! Child processes that must not outlive us: `prctl(PR_SET_PDEATHSIG)` in the
//! child between fork and exec.

#![allow(unsafe_code)]

use nix::sys::signal::Signal;

/// Makes the child started by `cmd` receive `signal` when the thread that
/// spawned it exits, so a launcher killed with SIGKILL leaves no orphan (the
/// kernel ties this to the spawning thread: spawn from a thread that lives as
/// long as the child should).
pub fn signal_with_parent(cmd: &mut tokio::process::Command, signal: Signal) {
    // SAFETY: the closure runs in the forked child before exec and only calls
    // prctl(2), which is async-signal-safe; it touches no memory of ours.
    unsafe {
        cmd.pre_exec(move || nix::sys::prctl::set_pdeathsig(signal).map_err(std::io::Error::from));
    }
}
