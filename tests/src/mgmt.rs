//! The management console (`-M` socket) as a client sees it (spec/vde-console.md §2): a banner
//! and the prompt `"\nvde$ "` on connect; per command an optional data block
//! (`0000 DATA END WITH '.'` … `.`), a status line (`1000 Success`, `1EEE strerror`), then the
//! prompt; `logout`/`shutdown` answer `9999 END OF SESSION` and close.
//!
//! Also: parsers for `port/print` and our `port/stats`, and a runner for the real `unixterm`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::proc::{Child, Spawn};
use crate::tools::UNIXTERM;
use crate::wait_until;

/// The prompt after the banner and after every reply.
pub const PROMPT: &str = "\nvde$ ";
/// vde_switch 2.3.2's banner, byte for byte, as sent on connect before the prompt.
pub const BANNER: &str =
    "VDE switch V.2.3.2\n(C) Virtual Square Team (coord. R. Davoli) 2005,2006,2007 - GPLv2\n";
/// The line that opens a data block.
pub const DATA_START: &str = "0000 DATA END WITH '.'";
/// What `logout` and `shutdown` answer before closing.
pub const END_OF_SESSION: &str = "9999 END OF SESSION";

/// How long a reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected console client.
#[derive(Debug)]
pub struct Mgmt {
    stream: UnixStream,
    /// Everything received before the first command: banner and prompt.
    pub greeting: String,
}

/// One parsed reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The bytes received, prompt included.
    pub raw: String,
    /// The lines of the data block (empty when the command printed none).
    pub data: Vec<String>,
    /// True if a data block (`0000 DATA END WITH '.'` … `.`) was present.
    pub has_data_block: bool,
    /// The status line, e.g. `1000 Success`.
    pub status: String,
    /// The status code: 1000 success, 1EEE errno EEE, 9999 end of session; 0 if unreadable.
    pub code: u16,
}

impl Mgmt {
    /// Connects and reads the greeting up to the first prompt.
    pub fn connect(path: &Path) -> std::io::Result<Mgmt> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut m = Mgmt {
            stream,
            greeting: String::new(),
        };
        m.greeting = m.read_until(|s| s.ends_with(PROMPT))?;
        Ok(m)
    }

    /// Sends `line` (a newline is added) and reads the reply up to the next prompt, or up to
    /// the end of the session for `logout`/`shutdown`.
    pub fn cmd(&mut self, line: &str) -> std::io::Result<Reply> {
        self.stream.write_all(format!("{line}\n").as_bytes())?;
        let raw = self.read_until(|s| s.ends_with(PROMPT))?;
        Ok(parse_reply(&raw))
    }

    /// Sends raw bytes without waiting for anything.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until `done(text so far)` or EOF; errors on timeout.
    pub fn read_until(&mut self, done: impl Fn(&str) -> bool) -> std::io::Result<String> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if done(&text) {
                return Ok(text);
            }
            if Instant::now() >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no complete reply within {REPLY_TIMEOUT:?}; got {text:?}"),
                ));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(text),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(text),
                Err(e) => return Err(e),
            }
        }
    }

    /// True if the switch closes the connection within `timeout` (reads and discards).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        crate::vde::closed_within(&mut self.stream, timeout)
    }
}

/// Parses one reply (see the module docs).
pub fn parse_reply(raw: &str) -> Reply {
    let body = raw.strip_suffix(PROMPT).unwrap_or(raw);
    let mut lines = body.split('\n');
    let mut data = Vec::new();
    let mut has_data_block = false;
    let mut status = String::new();
    while let Some(line) = lines.next() {
        if line == DATA_START {
            has_data_block = true;
            for l in lines.by_ref() {
                if l == "." {
                    break;
                }
                data.push(l.to_string());
            }
            continue;
        }
        if !line.is_empty() {
            status = line.to_string();
            break;
        }
    }
    let code = status.get(..4).and_then(|c| c.parse().ok()).unwrap_or(0);
    Reply {
        raw: raw.to_string(),
        data,
        has_data_block,
        status,
        code,
    }
}

/// One port as `port/print` / `port/allprint` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEntry {
    /// Port number.
    pub port: u32,
    /// `ACTIVE` (not `INACTIVE`).
    pub active: bool,
    /// The `Port NNNN …` line.
    pub header: String,
    /// The `  -- endpoint ID …` lines, in order.
    pub endpoints: Vec<String>,
}

/// Parses the data lines of `port/print` / `port/allprint`.
pub fn parse_ports(data: &[String]) -> Vec<PortEntry> {
    let mut out: Vec<PortEntry> = Vec::new();
    for line in data {
        if let Some(rest) = line.strip_prefix("Port ") {
            let port = rest
                .get(..4)
                .and_then(|n| n.parse().ok())
                .unwrap_or(u32::MAX);
            out.push(PortEntry {
                port,
                active: line.contains(" ACTIVE"),
                header: line.clone(),
                endpoints: Vec::new(),
            });
        } else if line.trim_start().starts_with("-- endpoint") {
            if let Some(last) = out.last_mut() {
                last.endpoints.push(line.clone());
            }
        }
    }
    out
}

/// Per-port counters from our `port/stats` extension:
/// `Port 0001 in_frames=N in_bytes=N out_frames=N out_bytes=N drop_runt=N …`.
pub fn parse_stats(data: &[String]) -> BTreeMap<u32, BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for line in data {
        let mut words = line.split_whitespace();
        if words.next() != Some("Port") {
            continue;
        }
        let Some(port) = words.next().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let fields = words
            .filter_map(|w| {
                let (k, v) = w.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        out.insert(port, fields);
    }
    out
}

/// Runs the real `unixterm PATH`, typing each command only after the previous reply's prompt
/// arrived (unixterm forwards one read per write and exits at stdin EOF), and returns its stdout
/// and whether it exited by itself after the last command. unixterm exits as soon as it has
/// sent `logout` or `shutdown`, often before printing `9999 END OF SESSION`.
pub fn unixterm_session(mgmt: &Path, cmds: &[&str], logdir: &Path) -> (String, bool) {
    let mut cmd = std::process::Command::new(UNIXTERM);
    cmd.arg(mgmt);
    let how = Spawn {
        keep_stdin_open: true,
        own_group: false,
    };
    let mut term = Child::spawn("unixterm", cmd, logdir, how);
    let prompts = |t: &Child| t.stdout().matches(PROMPT).count();
    assert!(
        wait_until(REPLY_TIMEOUT, || prompts(&term) >= 1),
        "unixterm showed no prompt: {:?} {:?}",
        term.stdout(),
        term.stderr()
    );
    for (i, c) in cmds.iter().enumerate() {
        term.write_stdin(format!("{c}\n").as_bytes())
            .expect("typing into unixterm");
        let ok = wait_until(REPLY_TIMEOUT, || {
            prompts(&term) > i + 1 || term.stdout().contains(END_OF_SESSION) || !term.is_running()
        });
        assert!(
            ok,
            "no reply to {c:?} through unixterm: {:?}",
            term.stdout()
        );
    }
    let exited = term.wait_exit(Duration::from_secs(5)).is_some();
    (term.stdout(), exited)
}

/// Splits what a console client (e.g. `unixterm`) printed into the greeting and one [`Reply`]
/// per command, by the prompt that ends each; a final `9999 END OF SESSION` is a reply too.
pub fn split_transcript(out: &str) -> (String, Vec<Reply>) {
    let mut chunks = out.split(PROMPT);
    let greeting = chunks.next().unwrap_or("").to_string();
    let mut replies: Vec<Reply> = Vec::new();
    for chunk in chunks {
        if chunk.is_empty() {
            continue;
        }
        replies.push(parse_reply(&format!("{chunk}{PROMPT}")));
    }
    (greeting, replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_data_reply() {
        let r =
            parse_reply("0000 DATA END WITH '.'\nNumports=32\nHUB=false\n.\n1000 Success\n\nvde$ ");
        assert!(r.has_data_block);
        assert_eq!(r.data, vec!["Numports=32", "HUB=false"]);
        assert_eq!((r.code, r.status.as_str()), (1000, "1000 Success"));
    }

    #[test]
    fn splits_a_unixterm_transcript() {
        let t = format!("{BANNER}{PROMPT}1038 Function not implemented\n{PROMPT}0000 DATA END WITH '.'\nx\n.\n1000 Success\n{PROMPT}9999 END OF SESSION");
        let (greeting, replies) = split_transcript(&t);
        assert_eq!(greeting, BANNER);
        let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
        assert_eq!(codes, [1038, 1000, 9999]);
        assert_eq!(replies[1].data, ["x"]);
    }

    #[test]
    fn parses_status_only_and_end_of_session() {
        let r = parse_reply("1038 Function not implemented\n\nvde$ ");
        assert!(!r.has_data_block && r.data.is_empty());
        assert_eq!(r.code, 1038);
        assert_eq!(parse_reply("9999 END OF SESSION").code, 9999);
    }

    #[test]
    fn parses_port_table_and_stats() {
        let data: Vec<String> = [
            "Port 0001 untagged_vlan=0000 ACTIVE - Unnamed Allocatable",
            " Current User: root Access Control: (User: NONE - Group: NONE)",
            "  -- endpoint ID 0003 module unix prog   : QEMU user=root pid=1",
            "Port 0003 untagged_vlan=0000 INACTIVE - Unnamed Allocatable",
        ]
        .map(String::from)
        .to_vec();
        let p = parse_ports(&data);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].port, p[0].active, p[0].endpoints.len()), (1, true, 1));
        assert_eq!((p[1].port, p[1].active), (3, false));
        let s = parse_stats(&["Port 0002 in_frames=3 drop_runt=1".to_string()]);
        assert_eq!(s[&2]["in_frames"], 3);
        assert_eq!(s[&2]["drop_runt"], 1);
    }
}
