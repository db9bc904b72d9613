//! Stream ports (`--stream-listen PATH`): a unix stream socket on which qemu's
//! `-netdev stream,addr.type=unix,addr.path=PATH,server=off` (or anything
//! speaking the same framing) connects; each connection is one port
//! (spec/vde-protocol.md §7: a 4-byte big-endian length before every frame,
//! nothing else).
//!
//! Receive: a task per connection reads as much as the socket holds straight
//! into a [`StreamDecoder`] and forwards every whole frame. A record longer
//! than qemu itself would send ([`QEMU_MAX_LEN`]) means the stream is out of
//! step or the peer misbehaves; there is nothing to resynchronise on, so that
//! connection is closed (logged with the running count of such closes)
//! while every other port keeps forwarding.
//!
//! Send: the sink is a [`FrameQueue`], a byte buffer of at most
//! [`QUEUE_BYTES`] that the datapath appends encoded frames to without
//! waiting, drained by one writer task per connection. A frame that does not
//! fit is dropped and counted as `egress_full`; the buffer never grows past
//! its bound, so a peer that stops reading costs a fixed amount of memory.
//!
//! Each endpoint shows in `port/print` as module `stream` with the peer's
//! process (from `SO_PEERCRED`) as description and its uid as user.

use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use f2f_core::switch::{AttachRequest, Endpoint, PortId, PortRequest, NO_USER};
use f2f_core::wire::stream::{encode_header, LengthPrefix, StreamDecoder, QEMU_MAX_LEN};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::datapath::{Datapath, FrameSink, Scratch, Sink};
use crate::sys;

/// `port/print`'s module name for stream connections.
pub const MODULE: &str = "stream";
/// Most bytes (frames with their length prefixes) queued for one connection.
pub const QUEUE_BYTES: usize = 256 * 1024;

/// The listener for `--stream-listen`.
#[derive(Debug)]
pub struct StreamServer {
    datapath: Arc<Datapath>,
    path: PathBuf,
    closed_bad: AtomicU64,
}

impl StreamServer {
    /// A server for connections accepted on the socket at `path`.
    pub fn new(datapath: Arc<Datapath>, path: PathBuf) -> Arc<StreamServer> {
        Arc::new(StreamServer {
            datapath,
            path,
            closed_bad: AtomicU64::new(0),
        })
    }

    /// Accept connections forever.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let me = Arc::clone(&self);
                    tokio::spawn(async move { me.run_connection(stream).await });
                }
                Err(err) => {
                    warn!(path = %self.path.display(), %err, "accept on stream socket failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn run_connection(&self, stream: UnixStream) {
        let id = u32::try_from(stream.as_raw_fd()).unwrap_or(0);
        let (user, description) = describe_peer(&stream, &self.path);
        let attached = self.datapath.lock().attach(AttachRequest {
            port: PortRequest::Any,
            endpoint: Endpoint {
                id,
                module: MODULE,
                description: description.clone(),
                user,
            },
            groups: Vec::new(),
        });
        let port = match attached {
            Ok(p) => p,
            Err(err) => {
                warn!(endpoint = id, peer = %description, "stream connection refused: {err}");
                return;
            }
        };
        info!(port, endpoint = id, peer = %description, "stream endpoint attached");
        let (mut rd, wr) = stream.into_split();
        let queue = Arc::new(FrameQueue::new(LengthPrefix::U32, QUEUE_BYTES));
        self.datapath.add_sink(
            port,
            Sink {
                endpoint: id,
                socket: Arc::clone(&queue) as Arc<dyn FrameSink>,
            },
        );
        let writer = tokio::spawn(write_queue(Arc::clone(&queue), wr));
        let why = receive(&self.datapath, port, &mut rd).await;
        self.datapath.remove_sink(port, id);
        self.datapath.lock().detach(port, id);
        queue.close();
        writer.abort();
        match why {
            Ended::Closed => info!(port, endpoint = id, "stream endpoint detached"),
            Ended::Error(err) => {
                info!(port, endpoint = id, %err, "stream endpoint detached after an error")
            }
            Ended::Bad(err) => {
                let total = self.closed_bad.fetch_add(1, Ordering::Relaxed) + 1;
                warn!(
                    port,
                    endpoint = id,
                    closed_bad = total,
                    "stream connection closed: bad input: {err}"
                );
            }
        }
    }
}

/// Why a connection's receive loop ended.
#[derive(Debug)]
enum Ended {
    /// The peer closed it.
    Closed,
    /// A socket error.
    Error(io::Error),
    /// A record that cannot be a frame.
    Bad(f2f_core::wire::stream::StreamError),
}

/// Forward frames from the connection until it ends.
async fn receive(
    datapath: &Datapath,
    port: PortId,
    rd: &mut tokio::net::unix::OwnedReadHalf,
) -> Ended {
    let mut decoder = StreamDecoder::new(LengthPrefix::U32, QEMU_MAX_LEN);
    let mut scratch = Scratch::default();
    loop {
        if let Err(err) = rd.readable().await {
            return Ended::Error(err);
        }
        // Drain what the socket holds, a decoder chunk at a time.
        loop {
            match rd.try_read(decoder.spare()) {
                Ok(0) => return Ended::Closed,
                Ok(n) => decoder.commit(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Ended::Error(err),
            }
            while let Some(frame) = decoder.next_frame() {
                match frame {
                    Ok(frame) => datapath.forward(port, frame, &mut scratch),
                    Err(err) => return Ended::Bad(err),
                }
            }
        }
    }
}

/// The peer's uid and a description for `port/print`: its command name and
/// pid when the kernel tells them (`SO_PEERCRED`); the uid shows as the
/// port's current user.
fn describe_peer(stream: &UnixStream, path: &std::path::Path) -> (u32, String) {
    match stream.peer_cred() {
        Ok(cred) => {
            let pid = cred.pid().unwrap_or(0);
            let comm = sys::process_name(pid).unwrap_or_else(|| "?".to_string());
            (
                cred.uid(),
                format!("{comm} pid={pid} on {}", path.display()),
            )
        }
        Err(_) => (NO_USER, format!("stream on {}", path.display())),
    }
}

/// A bounded byte queue of length-prefixed frames: the datapath appends
/// without waiting ([`FrameSink::try_send`]), one writer drains it.
///
/// Memory: two buffers of at most `capacity` bytes each (the one being filled
/// and the one being written), reused, never grown past the bound.
#[derive(Debug)]
pub struct FrameQueue {
    framing: Framing,
    capacity: usize,
    state: Mutex<QueueState>,
    ready: Notify,
}

/// The header a [`FrameQueue`] puts before each frame.
#[derive(Clone, Copy, Debug)]
pub enum Framing {
    /// A big-endian length (vde_plug's and qemu's streams).
    Length(LengthPrefix),
    /// A link's frame message ([`f2f_core::link::wire::frame_header`]).
    LinkMessage,
}

impl Framing {
    fn header(self, len: usize) -> io::Result<([u8; 4], usize)> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        match self {
            Framing::Length(prefix) => {
                encode_header(prefix, len).map_err(|e| invalid(e.to_string()))
            }
            Framing::LinkMessage => {
                let [a, b, c] =
                    f2f_core::link::wire::frame_header(len).map_err(|e| invalid(e.to_string()))?;
                Ok(([a, b, c, 0], 3))
            }
        }
    }
}

#[derive(Debug, Default)]
struct QueueState {
    buf: Vec<u8>,
    closed: bool,
}

impl FrameQueue {
    /// A queue of at most `capacity` bytes framing with `prefix`.
    pub fn new(prefix: LengthPrefix, capacity: usize) -> FrameQueue {
        FrameQueue::with_framing(Framing::Length(prefix), capacity)
    }

    /// A queue of at most `capacity` bytes framing with `framing`.
    pub fn with_framing(framing: Framing, capacity: usize) -> FrameQueue {
        FrameQueue {
            framing,
            capacity,
            state: Mutex::new(QueueState::default()),
            ready: Notify::new(),
        }
    }

    /// Refuse further frames and wake the writer so that it ends.
    pub fn close(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.ready.notify_one();
    }

    /// Swap the queued bytes into `out` (cleared first) without waiting;
    /// false when none are queued.
    pub fn take_now(&self, out: &mut Vec<u8>) -> bool {
        out.clear();
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut st.buf, out);
        !out.is_empty()
    }

    /// Resolves when bytes may have been queued, or the queue closed, since
    /// the last call (possibly at once).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Wait for queued bytes and swap them into `out` (cleared first);
    /// false once the queue is closed and empty.
    pub async fn take(&self, out: &mut Vec<u8>) -> bool {
        out.clear();
        loop {
            {
                let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if !st.buf.is_empty() {
                    std::mem::swap(&mut st.buf, out);
                    return true;
                }
                if st.closed {
                    return false;
                }
            }
            self.ready.notified().await;
        }
    }
}

impl FrameSink for FrameQueue {
    /// One lock and one wakeup for the whole batch; frames that do not fit
    /// (and the ones after them, to keep order) are refused.
    fn try_send_batch(&self, frames: &[&[u8]]) -> usize {
        let mut taken = 0;
        {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if st.closed {
                return 0;
            }
            for frame in frames {
                let Ok((header, n)) = self.framing.header(frame.len()) else {
                    break;
                };
                if st.buf.len() + n + frame.len() > self.capacity {
                    break;
                }
                st.buf.extend_from_slice(header.get(..n).unwrap_or(&[]));
                st.buf.extend_from_slice(frame);
                taken += 1;
            }
        }
        if taken > 0 {
            self.ready.notify_one();
        }
        taken
    }

    fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        let (header, n) = self.framing.header(frame.len())?;
        self.try_send_with_header(header.get(..n).unwrap_or(&[]), frame)
    }
}

impl FrameQueue {
    /// Queue `frame` behind `header` (bytes the caller framed itself, such
    /// as a link's offloaded-frame header), or refuse both when they do not
    /// fit.
    pub fn try_send_with_header(&self, header: &[u8], frame: &[u8]) -> io::Result<()> {
        {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if st.closed {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if st.buf.len() + header.len() + frame.len() > self.capacity {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            st.buf.extend_from_slice(header);
            st.buf.extend_from_slice(frame);
        }
        self.ready.notify_one();
        Ok(())
    }
}

/// Write everything queued until the queue closes or the peer goes away.
async fn write_queue(queue: Arc<FrameQueue>, mut wr: OwnedWriteHalf) {
    let mut out = Vec::new();
    while queue.take(&mut out).await {
        if let Err(err) = wr.write_all(&out).await {
            debug!(%err, "stream write failed");
            queue.close();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_frames_with_prefix_and_bound() {
        let q = FrameQueue::new(LengthPrefix::U32, 20);
        q.try_send(b"abcdef").unwrap();
        q.try_send(b"xy").unwrap();
        // 10 + 6 bytes queued; 4 + 1 more would pass 20.
        assert_eq!(
            q.try_send(b"z").unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut out = Vec::new();
        assert!(q.take(&mut out).await);
        assert_eq!(out, b"\0\0\0\x06abcdef\0\0\0\x02xy");
        q.try_send(b"z").unwrap();
        q.close();
        assert_eq!(
            q.try_send(b"late").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        // What was queued before close is still delivered, then the end.
        assert!(q.take(&mut out).await);
        assert_eq!(out, b"\0\0\0\x01z");
        assert!(!q.take(&mut out).await);
    }

    #[tokio::test]
    async fn batches_take_what_fits_in_order() {
        let q = FrameQueue::with_framing(Framing::LinkMessage, 12);
        assert_eq!(q.try_send_batch(&[b"ab", b"cd", b"ef"]), 2);
        let mut out = Vec::new();
        assert!(q.take_now(&mut out));
        assert_eq!(out, b"\x01\0\x02ab\x01\0\x02cd");
        assert!(!q.take_now(&mut out));
        q.close();
        assert_eq!(q.try_send_batch(&[b"x"]), 0);
    }

    #[tokio::test]
    async fn two_byte_prefix() {
        let q = FrameQueue::new(LengthPrefix::U16, 1000);
        q.try_send(&[7; 300]).unwrap();
        let mut out = Vec::new();
        assert!(q.take(&mut out).await);
        assert_eq!(&out[..2], &[0x01, 0x2c]);
        assert_eq!(out.len(), 302);
    }
}
