//! Clients of a running switch's management socket: `f2f-overlay status`
//! and `f2f-overlay capture`.
//!
//! Both speak the console protocol (spec/vde-console.md §2) through
//! [`MgmtClient`]: read the banner up to the prompt, send one command, read
//! the reply up to the next prompt. `status` asks for `status/json` and prints
//! the document or a summary of it; `capture` asks for `port/capture`, then
//! turns the capture stream into a pcap file written with the user's own
//! rights (see [`f2f_core::capture`] for why the client writes it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use f2f_core::capture::{pcap_header, pcap_record_header, Message, PCAP_SNAPLEN};
use f2f_core::console::PROMPT;
use f2f_core::status::Snapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::cli::{CaptureArgs, StatusArgs, SwitchAddr};

/// How long the switch may take to greet or answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the switch may take to end a capture after the client's stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Most bytes of one console reply kept (a status document of a full
/// 65536-entry MAC table is about 5 MB).
const MAX_REPLY: usize = 64 << 20;
/// The line that opens a data block.
const DATA_START: &str = "0000 DATA END WITH '.'\n";

/// The management socket a client talks to: `-M PATH`, else `DIR/mgmt` for
/// `-s DIR`, else the default control directory's.
pub fn mgmt_path(at: &SwitchAddr) -> PathBuf {
    if let Some(m) = &at.mgmt {
        return m.clone();
    }
    at.sock
        .clone()
        .unwrap_or_else(crate::switchd::default_ctl_dir)
        .join("mgmt")
}

/// One console reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleReply {
    /// The data block's text, lines ending in `\n` (empty when none).
    pub data: String,
    /// The status code: 1000, 1EEE, 9999.
    pub code: u16,
    /// The whole status line, e.g. `1006 No such device or address`.
    pub status: String,
}

/// A connection to a switch's management console.
#[derive(Debug)]
pub struct MgmtClient {
    stream: UnixStream,
    path: PathBuf,
    buf: Vec<u8>,
}

impl MgmtClient {
    /// Connect and read the greeting.
    pub async fn connect(path: &Path) -> Result<MgmtClient> {
        let stream = UnixStream::connect(path).await.with_context(|| {
            format!(
                "cannot connect to the management socket {}: is a switch running there? \
                 (name it with -s DIR or -M PATH)",
                path.display()
            )
        })?;
        let mut c = MgmtClient {
            stream,
            path: path.to_path_buf(),
            buf: Vec::new(),
        };
        c.read_until(|b| b.ends_with(PROMPT.as_bytes()).then_some(b.len()))
            .await
            .context("reading the console banner")?;
        c.buf.clear();
        Ok(c)
    }

    /// Run one command and read its reply.
    pub async fn command(&mut self, line: &str) -> Result<ConsoleReply> {
        self.send(line).await?;
        let end = self
            .read_until(|b| b.ends_with(PROMPT.as_bytes()).then_some(b.len()))
            .await
            .with_context(|| format!("reading the reply to {line:?}"))?;
        let text = String::from_utf8_lossy(self.buf.get(..end).unwrap_or_default()).into_owned();
        self.buf.drain(..end);
        Ok(parse_reply(&text))
    }

    /// Send `port/capture PORT [COUNT]`; on success the stream and the bytes
    /// of it already read are returned.
    pub async fn start_capture(
        mut self,
        port: u16,
        count: Option<u64>,
    ) -> Result<(UnixStream, Vec<u8>)> {
        let line = match count {
            Some(n) => format!("port/capture {port} {n}"),
            None => format!("port/capture {port}"),
        };
        self.send(&line).await?;
        const OK: &[u8] = b"1000 Success\n";
        let end = self
            .read_until(|b| {
                if b.starts_with(OK) {
                    Some(OK.len())
                } else if b.ends_with(PROMPT.as_bytes()) {
                    Some(b.len())
                } else {
                    None
                }
            })
            .await
            .with_context(|| format!("reading the reply to {line:?}"))?;
        let head = String::from_utf8_lossy(self.buf.get(..end).unwrap_or_default()).into_owned();
        if head.as_bytes() != OK {
            let reply = parse_reply(&head);
            let hint = match reply.code {
                1006 => {
                    format!("port {port} does not exist on this switch (see f2f-overlay status)")
                }
                1038 => "this switch has no port/capture: is it a real vde_switch?".to_string(),
                _ => format!("the switch refused {line:?}"),
            };
            bail!("{hint}: {}", reply.status);
        }
        let rest = self.buf.split_off(end);
        Ok((self.stream, rest))
    }

    async fn send(&mut self, line: &str) -> Result<()> {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .await
            .with_context(|| format!("sending {line:?} to {}", self.path.display()))
    }

    /// Read until `done(buffer)` names the end of what is wanted.
    async fn read_until(&mut self, done: impl Fn(&[u8]) -> Option<usize>) -> Result<usize> {
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(end) = done(&self.buf) {
                return Ok(end);
            }
            if self.buf.len() > MAX_REPLY {
                bail!("the switch's reply exceeds {MAX_REPLY} bytes");
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .map_err(|_| {
                    anyhow!(
                        "{} did not answer within {REPLY_TIMEOUT:?}",
                        self.path.display()
                    )
                })??;
            if n == 0 {
                bail!(
                    "{} closed the connection; got {:?}",
                    self.path.display(),
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// Split a reply (prompt included) into data block and status line.
pub fn parse_reply(text: &str) -> ConsoleReply {
    let body = text.strip_suffix(PROMPT).unwrap_or(text);
    let (data, rest) = match body.strip_prefix(DATA_START) {
        Some(after) => match after.find("\n.\n").map(|i| i + 1).or_else(|| {
            // An empty data block: the end marker comes first.
            after.starts_with(".\n").then_some(0)
        }) {
            Some(i) => (
                after.get(..i).unwrap_or_default(),
                after.get(i + 2..).unwrap_or_default(),
            ),
            None => ("", after),
        },
        None => ("", body),
    };
    let status = rest
        .lines()
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    let code = status.get(..4).and_then(|c| c.parse().ok()).unwrap_or(0);
    ConsoleReply {
        data: data.to_string(),
        code,
        status,
    }
}

/// `f2f-overlay status`.
pub fn status(args: &StatusArgs) -> Result<()> {
    let path = mgmt_path(&args.at);
    let reply = runtime()?.block_on(async {
        let mut c = MgmtClient::connect(&path).await?;
        c.command("status/json").await
    })?;
    if reply.code != 1000 {
        bail!(
            "{} answered status/json with {:?}: is it a real vde_switch? \
             (f2f-overlay console -M PATH port/print works with both)",
            path.display(),
            reply.status
        );
    }
    let json = reply.data.trim_end();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{json}")?;
    } else {
        let snapshot = Snapshot::from_json(json)
            .with_context(|| format!("{} sent a status document we cannot read", path.display()))?;
        write!(out, "{}", snapshot.render_text())?;
    }
    Ok(())
}

/// `f2f-overlay capture`.
pub fn capture(args: &CaptureArgs) -> Result<()> {
    let path = mgmt_path(&args.at);
    let to_stdout = args.file.as_os_str() == "-";
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        let f = std::fs::File::create(&args.file)
            .with_context(|| format!("cannot create the capture file {}", args.file.display()))?;
        Box::new(std::io::BufWriter::new(f))
    };
    let name = if to_stdout {
        "stdout".to_string()
    } else {
        args.file.display().to_string()
    };
    let port = args.port;
    let (frames, dropped) = runtime()?.block_on(async {
        let client = MgmtClient::connect(&path).await?;
        let (stream, rest) = client.start_capture(port, args.count).await?;
        eprintln!(
            "f2f-overlay: capturing port {port} to {name}{}",
            match args.count {
                Some(n) => format!(" ({n} frames; Ctrl-C stops early)"),
                None => " (Ctrl-C stops)".to_string(),
            }
        );
        out.write_all(&pcap_header())?;
        out.flush()?;
        write_capture(stream, rest, &mut out).await
    })?;
    out.flush()
        .with_context(|| format!("writing the capture file {name}"))?;
    eprintln!(
        "f2f-overlay: {frames} frames from port {port} written to {name}{}",
        if dropped > 0 {
            format!("; {dropped} dropped by the switch because the capture did not keep up")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Turn the capture stream into pcap records until the switch's `End` (or
/// its closing the connection); Ctrl-C asks the switch to stop. Returns the
/// frames written and the drops the switch reported.
async fn write_capture(
    stream: UnixStream,
    mut buf: Vec<u8>,
    out: &mut dyn Write,
) -> Result<(u64, u64)> {
    let (mut rd, mut wr) = stream.into_split();
    let mut frames = 0u64;
    let mut stop_deadline: Option<tokio::time::Instant> = None;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let mut used = 0;
        loop {
            let rest = buf.get(used..).unwrap_or_default();
            match Message::decode(rest).context("reading the capture stream")? {
                None => break,
                Some((
                    Message::Frame {
                        ts_micros, frame, ..
                    },
                    n,
                )) => {
                    out.write_all(&pcap_record_header(ts_micros, frame.len()))?;
                    let incl = frame.len().min(PCAP_SNAPLEN as usize);
                    out.write_all(frame.get(..incl).unwrap_or_default())?;
                    frames += 1;
                    used += n;
                }
                Some((Message::End { dropped, .. }, _)) => return Ok((frames, dropped)),
            }
        }
        buf.drain(..used);
        out.flush()?;
        let stopping = stop_deadline.is_some();
        let deadline = stop_deadline.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            r = rd.read_buf(&mut buf) => {
                if r? == 0 {
                    return Ok((frames, 0));
                }
            }
            _ = &mut interrupt, if !stopping => {
                // Any byte asks the switch to stop; it answers with End.
                let _ = wr.write_all(b"\n").await;
                stop_deadline = Some(tokio::time::Instant::now() + STOP_TIMEOUT);
            }
            () = tokio::time::sleep_until(deadline), if stopping => {
                return Ok((frames, 0));
            }
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_split_into_data_and_status() {
        let r = parse_reply("0000 DATA END WITH '.'\n{\"a\":1}\n.\n1000 Success\n\nvde$ ");
        assert_eq!((r.data.as_str(), r.code), ("{\"a\":1}\n", 1000));
        let r = parse_reply("0000 DATA END WITH '.'\n.\n1006 No such device or address\n\nvde$ ");
        assert_eq!((r.data.as_str(), r.code), ("", 1006));
        assert_eq!(r.status, "1006 No such device or address");
        let r = parse_reply("1038 Function not implemented\n\nvde$ ");
        assert_eq!((r.data.as_str(), r.code), ("", 1038));
    }

    #[test]
    fn mgmt_path_rules() {
        let at = |s: Option<&str>, m: Option<&str>| SwitchAddr {
            sock: s.map(PathBuf::from),
            mgmt: m.map(PathBuf::from),
        };
        assert_eq!(mgmt_path(&at(None, Some("/m"))), PathBuf::from("/m"));
        assert_eq!(mgmt_path(&at(Some("/d"), None)), PathBuf::from("/d/mgmt"));
        assert!(mgmt_path(&at(None, None)).ends_with("vde.ctl/mgmt"));
    }
}
