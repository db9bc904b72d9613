//! Log output: `tracing` to stderr, or to syslog (`/dev/log`) once the switch
//! has daemonized, as vde_switch does.

use std::io::{self, IsTerminal, Write};
use std::os::unix::net::UnixDatagram;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `RUST_LOG` wins over `level`.
pub fn init(level: Option<&str>, syslog: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(level.unwrap_or("info")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if syslog {
        builder
            .with_ansi(false)
            .without_time()
            .with_writer(Syslog)
            .try_init()
    } else {
        builder
            .with_ansi(io::stderr().is_terminal())
            .with_writer(io::stderr)
            .try_init()
    };
}

/// Writes each log record as one datagram to the local syslog socket.
#[derive(Clone, Copy, Debug)]
struct Syslog;

/// One record being written.
struct SyslogRecord {
    buf: Vec<u8>,
}

impl Write for SyslogRecord {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogRecord {
    fn drop(&mut self) {
        // <14> = facility user, severity info (RFC 3164 §4.1.1).
        let text = String::from_utf8_lossy(&self.buf);
        let msg = format!(
            "<14>f2f-overlay[{}]: {}",
            std::process::id(),
            text.trim_end()
        );
        if let Ok(sock) = UnixDatagram::unbound() {
            let _ = sock.send_to(msg.as_bytes(), "/dev/log");
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogRecord;
    fn make_writer(&'a self) -> SyslogRecord {
        SyslogRecord { buf: Vec::new() }
    }
}
