//! Opening a Linux tap interface: the one place in the crate that calls
//! `ioctl` (there is no maintained safe wrapper for `TUNSETIFF` that would not
//! bring a whole async tun library with it).
//!
//! What it owns: turning a name into an open, non-blocking, close-on-exec file
//! descriptor of `/dev/net/tun` bound to a tap with `IFF_TAP | IFF_NO_PI` (raw
//! Ethernet frames, no packet-information header), the way vde_switch's tuntap
//! module opens its taps. The interface is created if missing and disappears
//! when the last descriptor closes (it is not made persistent). Reading and
//! writing frames is ordinary fd I/O done by the caller.
//!
//! Invariant: every `unsafe` block has a `// SAFETY:` comment; nothing else in
//! the crate may use `unsafe`.
#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// The clone device every tun/tap interface is opened through.
pub const TUN_DEVICE: &str = "/dev/net/tun";

/// Longest interface name the kernel takes (`IFNAMSIZ` minus the NUL).
pub const MAX_NAME_LEN: usize = libc::IFNAMSIZ - 1;

/// Why a tap could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name is empty, too long for `IFNAMSIZ`, or contains a NUL or `/`.
    #[error("{name:?} is not a valid interface name (1 to {MAX_NAME_LEN} bytes, no '/', no NUL, no spaces)")]
    BadName {
        /// The name given.
        name: String,
    },
    /// `/dev/net/tun` could not be opened (module not loaded, no permission).
    #[error("cannot open {TUN_DEVICE}: {source} (is the tun module loaded, and are we root or CAP_NET_ADMIN?)")]
    Device {
        /// The error from `open`.
        source: io::Error,
    },
    /// The kernel refused to create or attach the interface.
    #[error("cannot attach tap {name:?}: {source} (EBUSY: another process holds it; EPERM: needs CAP_NET_ADMIN; EINVAL: an interface of another type has this name)")]
    Attach {
        /// The name asked for.
        name: String,
        /// The error from `ioctl(TUNSETIFF)`.
        source: io::Error,
    },
}

/// `IFF_VNET_HDR`: every frame read or written starts with a virtio-net header.
const IFF_VNET_HDR: libc::c_int = 0x4000;
/// `TUNSETOFFLOAD` (`_IOW('T', 208, unsigned int)`).
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
/// Offloads asked for: partial checksums, TSO for IPv4 and IPv6.
const TUN_F_CSUM_TSO: libc::c_ulong = 0x01 | 0x02 | 0x04;

/// Opens (creating if missing) tap `name` for raw Ethernet frames. Returns
/// the non-blocking descriptor and the interface's name as the kernel
/// reports it (the same as `name` unless `name` was a pattern like `tap%d`).
///
/// With `offloads`, every frame read and written starts with a virtio-net
/// header (`IFF_VNET_HDR`, see `f2f_core::wire::offload`) and the kernel may
/// hand over TCP super-segments with partial checksums (`TUNSETOFFLOAD`:
/// checksum, TSO4, TSO6).
pub fn open_tap(name: &str, offloads: bool) -> Result<(OwnedFd, String), TapError> {
    let bytes = name.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_NAME_LEN
        || bytes
            .iter()
            .any(|b| *b == 0 || *b == b'/' || b.is_ascii_whitespace())
    {
        return Err(TapError::BadName {
            name: name.to_string(),
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(TUN_DEVICE)
        .map_err(|source| TapError::Device { source })?;
    let fd = OwnedFd::from(file);

    let mut ifr_name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (dst, src) in ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let flags = libc::IFF_TAP | libc::IFF_NO_PI | if offloads { IFF_VNET_HDR } else { 0 };
    let mut ifr = libc::ifreq {
        ifr_name,
        // Constructing a union is safe; only reading one is not. The flags
        // fit a c_short (0x1002, 0x5002 with IFF_VNET_HDR).
        ifr_ifru: libc::__c_anonymous_ifr_ifru {
            ifru_flags: flags as libc::c_short,
        },
    };
    // SAFETY: `fd` is an open descriptor of /dev/net/tun that we own for the
    // whole call; TUNSETIFF reads and writes exactly one `struct ifreq`, and
    // `ifr` is a properly initialised, exclusively borrowed `libc::ifreq`
    // (the kernel's layout) that outlives the call. The kernel writes back
    // only the NUL-terminated interface name inside `ifr_name`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) };
    if rc < 0 {
        return Err(TapError::Attach {
            name: name.to_string(),
            source: io::Error::last_os_error(),
        });
    }
    if offloads {
        // SAFETY: as above for the descriptor; TUNSETOFFLOAD takes its
        // argument by value (an unsigned int of TUN_F_* bits) and touches no
        // memory of ours.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD as _, TUN_F_CSUM_TSO) };
        if rc < 0 {
            return Err(TapError::Attach {
                name: name.to_string(),
                source: io::Error::last_os_error(),
            });
        }
    }
    let actual: Vec<u8> = ifr
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Ok((fd, String::from_utf8_lossy(&actual).into_owned()))
}

/// Set interface `name`'s MAC address (`SIOCSIFHWADDR`). A tap accepts this
/// while up; the name must be one [`open_tap`] returned.
pub fn set_mac(name: &str, mac: [u8; 6]) -> io::Result<()> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    let mut ifr_name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (dst, src) in ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let mut sa_data = [0 as libc::c_char; 14];
    for (dst, src) in sa_data.iter_mut().zip(mac) {
        *dst = src as libc::c_char;
    }
    let mut ifr = libc::ifreq {
        ifr_name,
        ifr_ifru: libc::__c_anonymous_ifr_ifru {
            ifru_hwaddr: libc::sockaddr {
                sa_family: libc::ARPHRD_ETHER,
                sa_data,
            },
        },
    };
    // SAFETY: `sock` is an open socket we own for the whole call;
    // SIOCSIFHWADDR reads exactly one `struct ifreq`, and `ifr` is a properly
    // initialised, exclusively borrowed `libc::ifreq` (the kernel's layout)
    // that outlives the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFHWADDR, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_before_touching_the_kernel() {
        for name in ["", "a/b", "has space", "0123456789abcdef", "nul\0"] {
            assert!(
                matches!(open_tap(name, true), Err(TapError::BadName { .. })),
                "{name:?}"
            );
        }
    }

    #[test]
    fn opens_a_tap_when_root() {
        if !nix::unistd::Uid::effective().is_root() || !std::path::Path::new(TUN_DEVICE).exists() {
            eprintln!("skipped: needs root and {TUN_DEVICE}");
            return;
        }
        let name = format!("f2fut{}", std::process::id() % 100_000);
        let (fd, actual) = open_tap(&name, false).expect("open tap");
        assert_eq!(actual, name);
        let flags =
            std::fs::read_to_string(format!("/sys/class/net/{name}/tun_flags")).expect("tun_flags");
        assert_eq!(flags.trim(), "0x1002", "IFF_TAP|IFF_NO_PI");
        // Non-blocking: nothing to read yet.
        let mut buf = [0u8; 64];
        assert_eq!(
            nix::unistd::read(fd.as_raw_fd(), &mut buf),
            Err(nix::errno::Errno::EAGAIN)
        );
        drop(fd);
        assert!(!std::path::Path::new(&format!("/sys/class/net/{name}")).exists());
        let (fd, _) = open_tap(&name, true).expect("open tap with offloads");
        let flags =
            std::fs::read_to_string(format!("/sys/class/net/{name}/tun_flags")).expect("tun_flags");
        assert_eq!(flags.trim(), "0x5002", "IFF_TAP|IFF_NO_PI|IFF_VNET_HDR");
        drop(fd);
    }
}
