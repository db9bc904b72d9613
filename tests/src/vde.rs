//! A raw VDE data-socket client (spec/vde-protocol.md §2–3), written out by hand so tests can
//! send both correct requests and arbitrary bytes on `DIR/ctl`, then frames as datagrams.
//!
//! Request v3: magic `0xfeedface`, version 3, type (`port << 8`), the client's 110-byte
//! `sockaddr_un`, a description; all little-endian, packed. Reply: the switch's 110-byte
//! `sockaddr_un`. The port lives as long as the control stream stays open.

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The request magic.
pub const MAGIC: u32 = 0xfeed_face;
/// The request version every current client sends.
pub const VERSION: u32 = 3;
/// `sizeof(struct sockaddr_un)` on Linux: the reply length.
pub const SOCKADDR_LEN: usize = 110;
/// Length of a request without description.
pub const REQUEST_HEADER_LEN: usize = 12 + SOCKADDR_LEN;
/// The EtherType our test frames carry (IEEE local experimental).
pub const TEST_ETHERTYPE: u16 = 0x88b5;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A `struct sockaddr_un` for `path`: family 1 (little-endian), path NUL padded to 108 bytes.
pub fn sockaddr_un(path: &Path) -> [u8; SOCKADDR_LEN] {
    let mut out = [0u8; SOCKADDR_LEN];
    out[..2].copy_from_slice(&1u16.to_le_bytes());
    let p = path.as_os_str().as_encoded_bytes();
    assert!(p.len() < SOCKADDR_LEN - 2, "socket path too long: {path:?}");
    out[2..2 + p.len()].copy_from_slice(p);
    out
}

/// A request record with every field chosen by the caller (`type_word` = `port << 8` for a
/// numbered port).
pub fn request(magic: u32, version: u32, type_word: u32, sock: &Path, descr: &str) -> Vec<u8> {
    let mut r = Vec::with_capacity(REQUEST_HEADER_LEN + descr.len());
    r.extend_from_slice(&magic.to_le_bytes());
    r.extend_from_slice(&version.to_le_bytes());
    r.extend_from_slice(&type_word.to_le_bytes());
    r.extend_from_slice(&sockaddr_un(sock));
    r.extend_from_slice(descr.as_bytes());
    r
}

/// Connects a bare control stream to `DIR/ctl`.
pub fn ctl_connect(dir: &Path) -> UnixStream {
    UnixStream::connect(dir.join("ctl"))
        .unwrap_or_else(|e| panic!("connect {}/ctl: {e}", dir.display()))
}

/// True if the peer closes `stream` within `timeout` (EOF or reset); data read is discarded.
pub fn closed_within(stream: &mut UnixStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
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

/// A data socket bound inside the switch directory, as libvdeplug does (`DIR/.PPPPP-SSSSS`),
/// unlinked on drop if still there.
#[derive(Debug)]
pub struct BoundDgram {
    /// The socket.
    pub sock: UnixDatagram,
    /// Where it is bound.
    pub path: PathBuf,
}

impl BoundDgram {
    /// Binds a fresh datagram socket in `dir`.
    pub fn new(dir: &Path) -> BoundDgram {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".e{:05}-{seq:05}", std::process::id() % 100_000));
        let _ = std::fs::remove_file(&path);
        let sock =
            UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        BoundDgram { sock, path }
    }
}

impl Drop for BoundDgram {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An attached endpoint: the open control stream and the connected data socket.
#[derive(Debug)]
pub struct RawClient {
    /// The control stream; dropping it detaches the endpoint.
    pub ctl: UnixStream,
    /// The data socket, connected to the switch's `DIR/NNN.F`.
    pub data: UnixDatagram,
    /// The switch's data socket path from the reply.
    pub switch_path: PathBuf,
}

impl RawClient {
    /// Attaches to the switch at `dir` asking for `port` (0 = any), as libvdeplug4 does.
    pub fn attach(dir: &Path, port: u32, descr: &str) -> std::io::Result<RawClient> {
        RawClient::attach_mapped(dir, port, descr, |p| p)
    }

    /// Like [`RawClient::attach`], with `map` applied to the data socket path the switch
    /// replies before connecting to it (for a switch in another mount namespace, reached
    /// through `/proc/PID/root`).
    pub fn attach_mapped(
        dir: &Path,
        port: u32,
        descr: &str,
        map: impl Fn(PathBuf) -> PathBuf,
    ) -> std::io::Result<RawClient> {
        let bound = BoundDgram::new(dir);
        let mut ctl = UnixStream::connect(dir.join("ctl"))?;
        ctl.write_all(&request(MAGIC, VERSION, port << 8, &bound.path, descr))?;
        ctl.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reply = [0u8; SOCKADDR_LEN];
        let mut got = 0;
        while got < SOCKADDR_LEN {
            match ctl.read(&mut reply[got..]) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        format!("switch closed the control stream after {got} reply bytes"),
                    ))
                }
                Ok(n) => got += n,
                Err(e) => return Err(e),
            }
        }
        ctl.set_read_timeout(None)?;
        let path_bytes = &reply[2..];
        let end = path_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(path_bytes.len());
        let switch_path = map(PathBuf::from(
            String::from_utf8_lossy(&path_bytes[..end]).into_owned(),
        ));
        bound.sock.connect(&switch_path)?;
        Ok(RawClient {
            ctl,
            data: bound.sock.try_clone()?,
            switch_path,
        })
    }

    /// Sends one frame (one datagram).
    pub fn send(&self, frame: &[u8]) {
        self.data
            .send(frame)
            .unwrap_or_else(|e| panic!("sending a {}-byte frame: {e}", frame.len()));
    }

    /// Receives one frame, or `None` if none arrives within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.data.set_read_timeout(Some(timeout)).ok()?;
        let mut buf = vec![0u8; 65536];
        match self.data.recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Some(buf)
            }
            Err(_) => None,
        }
    }

    /// Receives frames until one satisfies `want` (others, e.g. stray IPv6 multicast from a
    /// tap, are skipped) or `timeout` passes.
    pub fn recv_matching(
        &self,
        timeout: Duration,
        want: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let f = self.recv(left)?;
            if want(&f) {
                return Some(f);
            }
        }
    }
}

/// A locally administered unicast MAC `02:e2:e0:00:00:N`.
pub fn mac(n: u8) -> [u8; 6] {
    [0x02, 0xe2, 0xe0, 0x00, 0x00, n]
}

/// The broadcast MAC.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// An Ethernet frame of exactly `len` bytes (≥ 14): `dst`, `src`, [`TEST_ETHERTYPE`], then
/// `tag` repeated as payload, so a receiver can tell frames apart.
pub fn frame(dst: [u8; 6], src: [u8; 6], len: usize, tag: u8) -> Vec<u8> {
    assert!(len >= 14, "an Ethernet header is 14 bytes");
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    f.resize(len, tag);
    f
}

/// True if `f` is one of our test frames.
pub fn is_test_frame(f: &[u8]) -> bool {
    f.len() >= 14 && f[12..14] == TEST_ETHERTYPE.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_matches_spec_example() {
        // spec/vde-protocol.md §4: 151 bytes, magic ce fa ed fe, version 3, type 0,
        // family 01 00, path, description at offset 122.
        let descr = "plug1descr user=root pid=5410";
        let r = request(
            MAGIC,
            VERSION,
            0,
            Path::new("/tmp/specA_x/sw1/.05410-00000"),
            descr,
        );
        assert_eq!(r.len(), 151);
        assert_eq!(
            &r[..14],
            &[0xce, 0xfa, 0xed, 0xfe, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0]
        );
        assert_eq!(&r[14..17], b"/tm");
        assert_eq!(&r[122..], descr.as_bytes());
        assert_eq!(
            request(MAGIC, VERSION, 5 << 8, Path::new("/x"), "")[8..12],
            [0, 5, 0, 0]
        );
    }

    #[test]
    fn frames_have_the_asked_length_and_tag() {
        let f = frame(BROADCAST, mac(1), 60, 7);
        assert_eq!(f.len(), 60);
        assert!(is_test_frame(&f));
        assert_eq!(f[59], 7);
    }
}
