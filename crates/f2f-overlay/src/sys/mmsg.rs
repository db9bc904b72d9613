//! Batched datagram I/O: `recvmmsg(2)` and `sendmmsg(2)`, so a burst of frames
//! costs one system call instead of one per frame.
//!
//! The message headers are built on the stack for each call and point only
//! into the caller's buffers, which outlive the call.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// Most datagrams moved by one call.
pub const BATCH: usize = 32;

/// Receive up to `lens.len()` (≤ [`BATCH`]) datagrams into consecutive
/// `slot`-byte slices of `buf`, without blocking. `lens[i]` is the length of
/// datagram `i`; a datagram longer than its slot reports `slot + 1` so the
/// caller can tell it was cut. Returns how many arrived (`WouldBlock` if none).
pub fn recv_batch(fd: RawFd, buf: &mut [u8], slot: usize, lens: &mut [usize]) -> io::Result<usize> {
    let n = lens.len().min(BATCH).min(buf.len() / slot.max(1));
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for ((chunk, v), h) in buf
        .chunks_mut(slot)
        .take(n)
        .zip(iov.iter_mut())
        .zip(hdrs.iter_mut())
    {
        *v = libc::iovec {
            iov_base: chunk.as_mut_ptr().cast(),
            iov_len: chunk.len(),
        };
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `hdrs[..n]` point to `iov[..n]`, which point to disjoint slices
    // of `buf`; all of them live until after the call returns.
    let got = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    let got = usize::try_from(got).map_err(|_| io::Error::last_os_error())?;
    for (len, h) in lens.iter_mut().zip(hdrs.iter()).take(got) {
        let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        *len = if truncated {
            slot + 1
        } else {
            h.msg_len as usize
        };
    }
    Ok(got)
}

/// Send `frames` (≤ [`BATCH`] are attempted) as datagrams on a connected
/// socket without blocking. Returns how many were sent (`WouldBlock` if none).
pub fn send_batch(fd: RawFd, frames: &[&[u8]]) -> io::Result<usize> {
    let n = frames.len().min(BATCH);
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for ((frame, v), h) in frames
        .iter()
        .take(n)
        .zip(iov.iter_mut())
        .zip(hdrs.iter_mut())
    {
        // sendmmsg only reads through iov_base; the cast to *mut is what the
        // C type demands.
        *v = libc::iovec {
            iov_base: frame.as_ptr().cast_mut().cast(),
            iov_len: frame.len(),
        };
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `hdrs[..n]` point to `iov[..n]`, which point to the caller's
    // frames; all of them live until after the call returns.
    let sent =
        unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn batches_round_trip_and_report_truncation() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let big = vec![7u8; 100];
        let frames: Vec<&[u8]> = vec![b"one", b"second", &big];
        assert_eq!(send_batch(a.as_raw_fd(), &frames).unwrap(), 3);
        let mut buf = vec![0u8; 4 * 16];
        let mut lens = [0usize; 4];
        let got = recv_batch(b.as_raw_fd(), &mut buf, 16, &mut lens).unwrap();
        assert_eq!(got, 3);
        assert_eq!(&lens[..3], &[3, 6, 17]);
        assert_eq!(&buf[..3], b"one");
        assert_eq!(&buf[16..22], b"second");
        let err = recv_batch(b.as_raw_fd(), &mut buf, 16, &mut lens).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
