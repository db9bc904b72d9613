//! A [`ConsoleHost`] with fixed answers, shared by the console's and the
//! status module's unit tests.

use super::ConsoleHost;
use crate::time::Instant;

/// Fixed facts: uid 0 is `root`, gid 1 is `daemon`, the control directory is
/// `/tmp/sw` with mode 0600.
pub(crate) struct TestHost {
    /// `pid` answer.
    pub pid: u32,
    /// `uptime_secs` answer.
    pub uptime: u64,
    /// Management socket path (mode 0600), if any.
    pub mgmt: Option<&'static str>,
    /// `now` answer, in seconds.
    pub now: u64,
    /// `debug_mask` answer.
    pub debug: u16,
}

impl ConsoleHost for TestHost {
    fn pid(&self) -> u32 {
        self.pid
    }
    fn uptime_secs(&self) -> u64 {
        self.uptime
    }
    fn mgmt_socket(&self) -> Option<(String, u32)> {
        self.mgmt.map(|p| (p.to_string(), 0o600))
    }
    fn ctl_dir(&self) -> (String, u32) {
        ("/tmp/sw".into(), 0o600)
    }
    fn user_name(&self, uid: u32) -> String {
        match uid {
            0 => "root".into(),
            _ => uid.to_string(),
        }
    }
    fn group_name(&self, gid: u32) -> String {
        match gid {
            1 => "daemon".into(),
            _ => gid.to_string(),
        }
    }
    fn user_by_name(&self, name: &str) -> Option<u32> {
        (name == "root").then_some(0)
    }
    fn group_by_name(&self, name: &str) -> Option<u32> {
        (name == "daemon").then_some(1)
    }
    fn debug_mask(&self) -> u16 {
        self.debug
    }
    fn now(&self) -> Instant {
        Instant::from_secs(self.now)
    }
}
