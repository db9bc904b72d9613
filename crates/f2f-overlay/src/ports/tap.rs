//! Tap ports (`-t/--tap NAME`): a Linux tap interface attached directly as a
//! switch port, as vde_switch's tuntap module does, so a host needs no
//! `vde_plug2tap` process (and its two extra copies per frame).
//!
//! The tap is opened (created if missing) before the switch daemonizes, so a
//! bad name or a missing `/dev/net/tun` stops the start with a clear error.
//! Once running, each tap is one endpoint (module `tuntap`, description the
//! interface name, user `NONE`, id its file descriptor: vde_switch's
//! `port/print` line) on the lowest free port.
//!
//! Receive: one thread per tap waits for readability and reads up to
//! [`BATCH`] frames (one `read` each: a tap returns exactly one frame per
//! read), then hands them to [`Datapath::forward_offloaded`] together. A thread,
//! not a task on the switch's single-threaded runtime: writing a frame into a
//! tap runs the receiving host's network stack in the writer's system call,
//! so with one thread the two directions of a TCP flow (data one way, ACKs
//! the other) would queue behind each other; with a thread per tap they run
//! on both cores (benchmarked in BENCHMARKS.md, "Direct tap ports"). Send: the sink writes
//! straight to the tap's non-blocking descriptor from the sender's task; a
//! full or downed interface (EAGAIN, EIO) drops the copy and the datapath
//! counts it. A tap deleted from under us (`ip link del`) ends the task and
//! frees the port. The interface is not persistent: it disappears when the
//! switch exits.
//!
//! Offloads: taps are opened with virtio-net headers and checksum/TSO
//! offloads (see `f2f_core::wire::offload`), so the host's TCP hands over
//! super-segments of up to 64 KiB that cross the switch whole: one read, one
//! decision and one write instead of some 45 of each. Another tap takes them
//! with their header as they are; any other port gets them finished (checksum
//! completed, segments cut) by the datapath.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use f2f_core::switch::{AttachRequest, Endpoint, PortId, PortRequest, NO_USER};
use f2f_core::wire::offload::{VnetHdr, VNET_HDR_LEN};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tracing::{info, warn};

use crate::datapath::{Datapath, FrameSink, Scratch, Sink};
use crate::sys::tap::{open_tap, TapError};

/// Frames read per readiness and forwarded together (the datapath's batch).
const BATCH: usize = crate::sys::mmsg::BATCH;
/// One read slot: the virtio-net header, then one more than the largest
/// super-frame the switch could accept, so that a longer one reaches the core
/// and is counted as oversize.
const SLOT: usize = VNET_HDR_LEN + f2f_core::switch::MAX_SUPER_FRAME + 1;
/// `port/print`'s module name for taps, as vde_switch prints it.
pub const MODULE: &str = "tuntap";

/// A tap interface opened at start, not yet attached.
#[derive(Debug)]
pub struct OpenTap {
    name: String,
    fd: OwnedFd,
    /// Opened with virtio-net headers and offloads.
    offloads: bool,
}

impl OpenTap {
    /// Opens (creating if missing) tap `name`, with virtio-net headers and
    /// offloads unless `offloads` is false.
    pub fn open(name: &str, offloads: bool) -> Result<OpenTap, TapError> {
        let (fd, name) = open_tap(name, offloads)?;
        Ok(OpenTap { name, fd, offloads })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Attaches the tap to a free port and registers its sink; returns the
    /// port and the task that forwards its frames until the tap goes away.
    pub fn attach(
        self,
        datapath: &Arc<Datapath>,
    ) -> Result<(PortId, std::thread::JoinHandle<()>), AttachFailed> {
        let OpenTap { name, fd, offloads } = self;
        let id = u32::try_from(fd.as_raw_fd()).unwrap_or(0);
        let fd = Arc::new(fd);
        let port = datapath
            .lock()
            .attach(AttachRequest {
                port: PortRequest::Any,
                endpoint: Endpoint {
                    id,
                    module: MODULE,
                    description: name.clone(),
                    user: NO_USER,
                },
                groups: Vec::new(),
            })
            .map_err(|source| AttachFailed::Port {
                name: name.clone(),
                source,
            })?;
        datapath.add_sink(
            port,
            Sink {
                endpoint: id,
                socket: Arc::new(TapSink {
                    fd: Arc::clone(&fd),
                    offloads,
                }),
            },
        );
        info!(port, endpoint = id, tap = %name, "tap attached");
        let dp = Arc::clone(datapath);
        let thread_name = format!("tap {name}");
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                receive(&dp, port, &name, &fd, offloads);
                dp.remove_sink(port, id);
                dp.lock().detach(port, id);
                warn!(port, endpoint = id, tap = %name, "tap detached");
            });
        match spawned {
            Ok(handle) => Ok((port, handle)),
            Err(source) => {
                datapath.remove_sink(port, id);
                datapath.lock().detach(port, id);
                Err(AttachFailed::Thread { source })
            }
        }
    }
}

/// Why an opened tap could not become a port.
#[derive(Debug, thiserror::Error)]
pub enum AttachFailed {
    /// Its receive thread could not be started.
    #[error("cannot start the tap's receive thread: {source}")]
    Thread {
        /// Why.
        source: io::Error,
    },
    /// No port for it (every port taken, or `-n` too small).
    #[error("tap {name}: {source}")]
    Port {
        /// The interface.
        name: String,
        /// Why.
        source: f2f_core::switch::AttachError,
    },
}

/// Where the switch's frames for a tap go: a direct, non-blocking write of
/// the frame behind its virtio-net header.
#[derive(Debug)]
struct TapSink {
    fd: Arc<OwnedFd>,
    /// The tap takes (and wants) a virtio-net header before each frame.
    offloads: bool,
}

impl TapSink {
    fn write(&self, hdr: &VnetHdr, frame: &[u8]) -> io::Result<()> {
        let head = hdr.emit();
        let with_hdr = [IoSlice::new(&head), IoSlice::new(frame)];
        let iov = if self.offloads {
            &with_hdr[..]
        } else {
            with_hdr.get(1..).unwrap_or_default()
        };
        loop {
            match nix::sys::uio::writev(self.fd.as_fd(), iov) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(io::Error::from(errno)),
            }
        }
    }
}

impl FrameSink for TapSink {
    fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        self.write(&VnetHdr::default(), frame)
    }

    fn try_send_offloaded(&self, hdr: &VnetHdr, frame: &[u8]) -> Option<io::Result<()>> {
        self.offloads.then(|| self.write(hdr, frame))
    }
}

/// Forward the tap's frames until it fails for good: wait for readability
/// (or an error: a deleted interface reports only `POLLERR`), then read up to
/// [`BATCH`] frames (one `read` each) into consecutive slots of one buffer and
/// forward them together, one switch lock for the lot.
fn receive(datapath: &Datapath, port: PortId, name: &str, fd: &OwnedFd, offloads: bool) {
    let mut buf = vec![0u8; SLOT * BATCH];
    let mut lens = [0usize; BATCH];
    let mut hdrs = [VnetHdr::default(); BATCH];
    let mut scratch = Scratch::default();
    loop {
        let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut pfd, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => {
                warn!(port, tap = %name, err = %errno, "poll on the tap failed; detaching it");
                return;
            }
        }
        let mut got = 0;
        let mut failed = None;
        for (slot, len) in buf.chunks_mut(SLOT).zip(lens.iter_mut()) {
            match read_frame(fd, slot) {
                Ok(n) => {
                    *len = n;
                    got += 1;
                }
                Err(Errno::EAGAIN) => break,
                // The interface was deleted (EBADFD) or the device failed.
                Err(errno) => {
                    failed = Some(errno);
                    break;
                }
            }
        }
        if got > 0 {
            let mut frames: [&[u8]; BATCH] = [&[]; BATCH];
            for (((frame, hdr), slot), len) in frames
                .iter_mut()
                .zip(hdrs.iter_mut())
                .zip(buf.chunks(SLOT))
                .zip(lens)
            {
                let read = slot.get(..len).unwrap_or(&[]);
                (*hdr, *frame) = if offloads {
                    // A read shorter than the header is an empty frame (a runt).
                    VnetHdr::parse(read).unwrap_or((VnetHdr::default(), &[]))
                } else {
                    (VnetHdr::default(), read)
                };
            }
            datapath.forward_offloaded(
                port,
                frames.get(..got).unwrap_or(&[]),
                hdrs.get(..got).unwrap_or(&[]),
                &mut scratch,
            );
        }
        if let Some(errno) = failed {
            warn!(port, tap = %name, err = %errno, "tap read failed; detaching it");
            return;
        }
    }
}

/// One non-blocking read of one frame, retried on EINTR.
fn read_frame(fd: &OwnedFd, slot: &mut [u8]) -> Result<usize, Errno> {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), slot) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names() {
        let err = OpenTap::open("bad name", true).unwrap_err();
        assert!(
            err.to_string().contains("not a valid interface name"),
            "{err}"
        );
    }
}
