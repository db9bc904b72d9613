//! Stream peers: a client speaking qemu's `-netdev stream` framing (a 4-byte big-endian length
//! before each frame) to a switch's `--stream-listen` socket, and a parser for vde_plug's
//! 2-byte-length stream as a plug writes it to stdout.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A connection to a `--stream-listen` socket, framing as qemu does.
#[derive(Debug)]
pub struct StreamClient {
    /// The connection.
    pub sock: UnixStream,
    pending: Vec<u8>,
}

impl StreamClient {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> std::io::Result<StreamClient> {
        Ok(StreamClient {
            sock: UnixStream::connect(path)?,
            pending: Vec::new(),
        })
    }

    /// Sends one frame with its 4-byte length.
    pub fn send(&mut self, frame: &[u8]) {
        let mut rec = (frame.len() as u32).to_be_bytes().to_vec();
        rec.extend_from_slice(frame);
        self.sock
            .write_all(&rec)
            .unwrap_or_else(|e| panic!("stream send of {} bytes: {e}", frame.len()));
    }

    /// Sends raw bytes (for bad input).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// Receives frames until one satisfies `want` or `timeout` passes.
    pub fn recv_matching(
        &mut self,
        timeout: Duration,
        want: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(frame) = take_record(&mut self.pending, 4) {
                if want(&frame) {
                    return Some(frame);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).ok()?;
            let mut buf = [0u8; 65536];
            match self.sock.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// True if the switch closes the connection within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let _ = self.sock.set_read_timeout(Some(Duration::from_millis(100)));
            match self.sock.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// Removes and returns the first whole record (`prefix`-byte big-endian length, then the
/// frame) from `buf`; zero-length records are skipped.
pub fn take_record(buf: &mut Vec<u8>, prefix: usize) -> Option<Vec<u8>> {
    loop {
        if buf.len() < prefix {
            return None;
        }
        let len = buf[..prefix]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if buf.len() < prefix + len {
            return None;
        }
        let frame = buf[prefix..prefix + len].to_vec();
        buf.drain(..prefix + len);
        if !frame.is_empty() {
            return Some(frame);
        }
    }
}

/// Every frame in a vde_plug stream (2-byte lengths), e.g. a plug's stdout; an incomplete
/// record at the end is ignored.
pub fn plug_frames(mut bytes: Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(f) = take_record(&mut bytes, 2) {
        out.push(f);
    }
    out
}

/// A frame as vde_plug's stream carries it: 2-byte big-endian length, then the frame.
pub fn plug_record(frame: &[u8]) -> Vec<u8> {
    let mut rec = (frame.len() as u16).to_be_bytes().to_vec();
    rec.extend_from_slice(frame);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_both_widths() {
        let mut b = vec![0, 0, 0, 2, 7, 8, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(take_record(&mut b, 4), Some(vec![7, 8]));
        assert_eq!(
            take_record(&mut b, 4),
            None,
            "empty skipped, then incomplete"
        );
        assert_eq!(b, vec![0, 0, 0, 1]);
        assert_eq!(
            plug_frames([plug_record(b"ab"), plug_record(b"c"), vec![0]].concat()),
            vec![b"ab".to_vec(), b"c".to_vec()]
        );
    }
}
