//! Batched datagram I/O: `recvmmsg(2)` and `sendmmsg(2)`, so a burst of frames
//! costs one system call instead of one per frame.
//!
//! A receive either looks without waiting or sleeps in the call itself until
//! the first datagram arrives and then takes whatever else is queued
//! (`MSG_WAITFORONE`): a receive loop needs no `poll` before it, nor a failed
//! call to find its queue empty. Both calls go straight to the kernel
//! (`syscall(2)`), not through libc's wrappers, which switch thread
//! cancellation on and off around every call (nothing here is ever
//! cancelled), and report failure as a bare [`Errno`].
//!
//! The receive headers are built once per [`RecvBatch`]; the send headers on
//! the stack for each call, pointing only into the caller's buffers, which
//! outlive the call.

#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::os::fd::RawFd;

use nix::errno::Errno;

/// Most datagrams moved by one call.
pub const BATCH: usize = 32;

/// A receive batch built once and reused for every `recvmmsg(2)` call: up to
/// [`BATCH`] slots of `slot` bytes each, and the message headers pointing into
/// them (rebuilding and zeroing the headers for every call cost more
/// instructions than the rest of a frame's forwarding).
///
/// Not `Send`: the headers hold raw pointers into the buffer; a receive
/// loop builds its own on its thread.
#[derive(Debug)]
pub struct RecvBatch {
    buf: Vec<u8>,
    slot: usize,
    lens: [usize; BATCH],
    /// Never read again: only kept alive for the pointers in `hdrs`.
    _iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    /// Room for `slots` (clamped to 1..=[`BATCH`]) datagrams of up to `slot` bytes.
    pub fn new(slot: usize, slots: usize) -> RecvBatch {
        let slot = slot.max(1);
        let slots = slots.clamp(1, BATCH);
        let mut buf = vec![0u8; slot * slots];
        let mut iov: Vec<libc::iovec> = buf
            .chunks_mut(slot)
            .map(|chunk| libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            })
            .collect();
        let hdrs = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = v;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        RecvBatch {
            buf,
            slot,
            lens: [0; BATCH],
            _iov: iov,
            hdrs,
        }
    }

    /// Receive what is queued on `fd`: how many datagrams arrived. With
    /// `wait` false, without blocking (`EAGAIN` if none); with `wait` true,
    /// sleeping until at least one is there (on a blocking socket; a socket
    /// shut down for reading answers at once with one empty datagram). A
    /// datagram longer than its slot shows as `slot + 1` bytes long (cut), so
    /// the caller can tell.
    pub fn recv(&mut self, fd: RawFd, wait: bool) -> Result<usize, Errno> {
        let flags = if wait {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        // SAFETY: `hdrs` point to `iov`, which point to disjoint slices of
        // `buf`; none of the three has been moved or resized since `new`
        // (their heap storage is fixed) and all outlive the call. The
        // arguments are recvmmsg(2)'s, in its order (no timeout).
        let got = unsafe {
            libc::syscall(
                libc::SYS_recvmmsg,
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                flags,
                std::ptr::null_mut::<libc::timespec>(),
            )
        };
        let got = usize::try_from(got).map_err(|_| Errno::last())?;
        for (len, h) in self.lens.iter_mut().zip(self.hdrs.iter()).take(got) {
            *len = if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.slot + 1
            } else {
                h.msg_len as usize
            };
        }
        Ok(got)
    }

    /// The first `n` datagrams of the last [`RecvBatch::recv`] into `out`
    /// (a cut one as its first `slot` bytes: give slots one byte more than
    /// the longest datagram accepted to tell).
    pub fn frames<'a>(&'a self, n: usize, out: &mut [&'a [u8]; BATCH]) {
        for ((f, chunk), len) in out
            .iter_mut()
            .zip(self.buf.chunks(self.slot))
            .zip(self.lens)
            .take(n)
        {
            *f = chunk.get(..len.min(chunk.len())).unwrap_or(&[]);
        }
    }
}

/// Send `frames` (≤ [`BATCH`] are attempted) as datagrams on a connected
/// socket without blocking. Returns how many were sent (`EAGAIN` if none).
pub fn send_batch(fd: RawFd, frames: &[&[u8]]) -> Result<usize, Errno> {
    let n = frames.len().min(BATCH);
    // Only the first `n` vectors and headers are written and passed
    // (zeroing all BATCH of them cost more than a small batch's forwarding).
    let mut iov: [MaybeUninit<libc::iovec>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    for ((frame, v), h) in frames
        .iter()
        .take(n)
        .zip(iov.iter_mut())
        .zip(hdrs.iter_mut())
    {
        // sendmmsg only reads through iov_base; the cast to *mut is what the
        // C type demands.
        let v = v.write(libc::iovec {
            iov_base: frame.as_ptr().cast_mut().cast(),
            iov_len: frame.len(),
        });
        // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
        let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        hdr.msg_hdr.msg_iov = v;
        hdr.msg_hdr.msg_iovlen = 1;
        h.write(hdr);
    }
    // SAFETY: `hdrs[..n]` are initialised and point to `iov[..n]`, which
    // point to the caller's frames; all of them live until after the call
    // returns; the kernel reads only the first `n`. The arguments are
    // sendmmsg(2)'s, in its order.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_sendmmsg,
            fd,
            hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(sent).map_err(|_| Errno::last())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn batches_round_trip_and_cut_long_datagrams() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let big = vec![7u8; 100];
        let frames: Vec<&[u8]> = vec![b"one", b"second", &big];
        assert_eq!(send_batch(a.as_raw_fd(), &frames).unwrap(), 3);
        let mut batch = RecvBatch::new(16, 4);
        let got = batch.recv(b.as_raw_fd(), false).unwrap();
        assert_eq!(got, 3);
        let mut frames: [&[u8]; BATCH] = [&[]; BATCH];
        batch.frames(got, &mut frames);
        assert_eq!(frames[0], b"one");
        assert_eq!(frames[1], b"second");
        assert_eq!(frames[2], &big[..16]);
        assert_eq!(batch.recv(b.as_raw_fd(), false), Err(Errno::EAGAIN));
        // the batch is reused: a second round lands in the same slots
        assert_eq!(send_batch(a.as_raw_fd(), &[b"again"]).unwrap(), 1);
        assert_eq!(batch.recv(b.as_raw_fd(), true).unwrap(), 1);
        let mut again: [&[u8]; BATCH] = [&[]; BATCH];
        batch.frames(1, &mut again);
        assert_eq!(again[0], b"again");
    }

    #[test]
    fn a_waiting_receive_takes_the_whole_queue_and_wakes_on_shutdown() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let b = std::sync::Arc::new(b);
        let frames: Vec<&[u8]> = vec![b"1", b"22", b"333"];
        assert_eq!(send_batch(a.as_raw_fd(), &frames).unwrap(), 3);
        let sock = std::sync::Arc::clone(&b);
        let receiver = std::thread::spawn(move || {
            let mut batch = RecvBatch::new(8, 8);
            let first = batch.recv(sock.as_raw_fd(), true).unwrap();
            // the queue is empty now: this one sleeps until the shutdown
            let after_shutdown = batch.recv(sock.as_raw_fd(), true).unwrap();
            let mut out: [&[u8]; BATCH] = [&[]; BATCH];
            batch.frames(after_shutdown, &mut out);
            (first, after_shutdown, out[0].len())
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        b.shutdown(std::net::Shutdown::Read).unwrap();
        assert_eq!(receiver.join().unwrap(), (3, 1, 0));
    }
}
