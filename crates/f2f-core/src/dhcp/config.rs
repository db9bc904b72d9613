//! What the DHCP server hands out: subnet, pool range, server address, lease
//! time, router, DNS servers and reservations, with the parsers for the
//! `--dhcp*` flags of `spec/cli.md`.
//!
//! A [`DhcpConfig`] is plain data; [`DhcpConfig::validate`] is the one place
//! that decides whether it makes sense, and every refusal names the value at
//! fault. The server refuses to start on a config that does not validate.

use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

use crate::mac::MacAddr;
use crate::time::Duration;

/// Default lease time (`--dhcp-lease-time`, spec/cli.md): one hour.
pub const DEFAULT_LEASE_TIME: Duration = Duration::from_secs(3600);

/// Most DNS servers handed out (option 6 holds up to 63; more is a config error).
pub const MAX_DNS_SERVERS: usize = 8;

/// An IPv4 network: a network address and a prefix length, e.g. `10.0.0.0/24`.
///
/// The host bits of the address are always zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Net {
    /// The network `network/prefix_len`; refused when the prefix is over 32 or
    /// the address has host bits set.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Net, DhcpParseError> {
        if prefix_len > 32 {
            return Err(DhcpParseError::PrefixTooLong { prefix_len });
        }
        let net = Ipv4Net {
            network,
            prefix_len,
        };
        if net.mask_u32() & u32::from(network) != u32::from(network) {
            return Err(DhcpParseError::HostBitsSet {
                given: network,
                prefix_len,
                network: Ipv4Addr::from(u32::from(network) & net.mask_u32()),
            });
        }
        Ok(net)
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length, 0 to 32.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The subnet mask, e.g. 255.255.255.0 for a /24 (option 1, RFC 2132 §3.3).
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_u32())
    }

    /// The directed broadcast address (all host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask_u32())
    }

    /// True when `ip` is in the network (network and broadcast addresses included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask_u32() == u32::from(self.network)
    }

    /// True when `ip` is a usable host address: in the network and neither its
    /// network nor its broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.broadcast()
    }

    /// The first and last host addresses, `None` for /31 and /32 (no room for a
    /// server and a client).
    pub fn hosts(&self) -> Option<IpRange> {
        if self.prefix_len > 30 {
            return None;
        }
        let first = u32::from(self.network).checked_add(1)?;
        let last = u32::from(self.broadcast()).checked_sub(1)?;
        Some(IpRange {
            first: Ipv4Addr::from(first),
            last: Ipv4Addr::from(last),
        })
    }

    fn mask_u32(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Net {
    type Err = DhcpParseError;
    /// Parses `A.B.C.D/N` (`--dhcp CIDR`).
    fn from_str(s: &str) -> Result<Ipv4Net, DhcpParseError> {
        let bad = || DhcpParseError::Cidr {
            text: s.to_string(),
        };
        let (addr, len) = s.trim().split_once('/').ok_or_else(bad)?;
        let network: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix_len: u8 = len.parse().map_err(|_| bad())?;
        Ipv4Net::new(network, prefix_len)
    }
}

/// An inclusive range of IPv4 addresses, `first-last` (`--dhcp-range A-B`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRange {
    /// The first address of the range.
    pub first: Ipv4Addr,
    /// The last address of the range (included).
    pub last: Ipv4Addr,
}

impl IpRange {
    /// True when `ip` is in the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.first <= ip && ip <= self.last
    }

    /// How many addresses the range holds (0 when reversed).
    pub fn len(&self) -> u64 {
        let (first, last) = (u32::from(self.first), u32::from(self.last));
        if last < first {
            0
        } else {
            u64::from(last - first) + 1
        }
    }

    /// True when the range holds no address (it is reversed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for IpRange {
    type Err = DhcpParseError;
    /// Parses `A.B.C.D-E.F.G.H`.
    fn from_str(s: &str) -> Result<IpRange, DhcpParseError> {
        let bad = || DhcpParseError::Range {
            text: s.to_string(),
        };
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        Ok(IpRange {
            first: a.trim().parse().map_err(|_| bad())?,
            last: b.trim().parse().map_err(|_| bad())?,
        })
    }
}

/// A fixed address for one MAC (`--dhcp-reserve MAC=IP`).
///
/// A reserved address is offered to its MAC only, never to anyone else, and
/// the MAC always gets it, whatever it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reservation {
    /// The client's hardware address (`chaddr`).
    pub mac: MacAddr,
    /// The address it always gets.
    pub ip: Ipv4Addr,
}

impl FromStr for Reservation {
    type Err = DhcpParseError;
    /// Parses `02:00:00:00:00:01=10.0.0.7`.
    fn from_str(s: &str) -> Result<Reservation, DhcpParseError> {
        let bad = || DhcpParseError::Reservation {
            text: s.to_string(),
        };
        let (mac, ip) = s.trim().split_once('=').ok_or_else(bad)?;
        Ok(Reservation {
            mac: mac.trim().parse().map_err(|_| bad())?,
            ip: ip.trim().parse().map_err(|_| bad())?,
        })
    }
}

/// Why a `--dhcp*` flag value did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpParseError {
    /// Not `A.B.C.D/N`.
    #[error("invalid network {text:?}: expected an IPv4 network like 10.0.0.0/24")]
    Cidr {
        /// The text given.
        text: String,
    },
    /// The prefix length is over 32.
    #[error("invalid prefix length /{prefix_len}: an IPv4 prefix is at most /32")]
    PrefixTooLong {
        /// The prefix length given.
        prefix_len: u8,
    },
    /// The network address has host bits set (e.g. `10.0.0.1/24`).
    #[error(
        "{given}/{prefix_len} is not a network address: did you mean {network}/{prefix_len}? \
         (the server's own address is --dhcp-server-ip)"
    )]
    HostBitsSet {
        /// The address given.
        given: Ipv4Addr,
        /// The prefix length given.
        prefix_len: u8,
        /// The network it lies in.
        network: Ipv4Addr,
    },
    /// Not `A.B.C.D-E.F.G.H`.
    #[error("invalid address range {text:?}: expected FIRST-LAST like 10.0.0.100-10.0.0.200")]
    Range {
        /// The text given.
        text: String,
    },
    /// Not `MAC=IP`.
    #[error("invalid reservation {text:?}: expected MAC=IP like 52:54:00:12:34:56=10.0.0.7")]
    Reservation {
        /// The text given.
        text: String,
    },
}

/// The DHCP server's settings (spec/cli.md, `--dhcp*` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpConfig {
    /// The subnet served (`--dhcp CIDR`).
    pub subnet: Ipv4Net,
    /// Addresses handed out dynamically (`--dhcp-range`); [`DhcpConfig::new`]
    /// sets every host of the subnet. The server address and reserved
    /// addresses inside it are never handed out dynamically.
    pub range: IpRange,
    /// The server's own address (`--dhcp-server-ip`, default the first host):
    /// option 54, and the address answering ARP and ping.
    pub server_ip: Ipv4Addr,
    /// The server's Ethernet address, source of every frame it sends.
    pub server_mac: MacAddr,
    /// Lease duration (`--dhcp-lease-time`, option 51), whole seconds.
    pub lease_time: Duration,
    /// Default gateway handed out (option 3), if any (`--dhcp-router`).
    pub router: Option<Ipv4Addr>,
    /// DNS servers handed out (option 6), at most [`MAX_DNS_SERVERS`] (`--dhcp-dns`).
    pub dns: Vec<Ipv4Addr>,
    /// Fixed addresses per MAC (`--dhcp-reserve`).
    pub reservations: Vec<Reservation>,
}

impl DhcpConfig {
    /// The defaults of spec/cli.md for `subnet`: server at the first host, the
    /// other hosts as the pool, one-hour leases, no router, no DNS.
    ///
    /// Fails for a /31 or /32, which leave no address for a client.
    pub fn new(subnet: Ipv4Net, server_mac: MacAddr) -> Result<DhcpConfig, DhcpConfigError> {
        let hosts = subnet
            .hosts()
            .ok_or(DhcpConfigError::SubnetTooSmall { subnet })?;
        Ok(DhcpConfig {
            subnet,
            range: hosts,
            server_ip: hosts.first,
            server_mac,
            lease_time: DEFAULT_LEASE_TIME,
            router: None,
            dns: Vec::new(),
            reservations: Vec::new(),
        })
    }

    /// Checks that the settings make sense together; the first problem found
    /// is returned.
    pub fn validate(&self) -> Result<(), DhcpConfigError> {
        let subnet = self.subnet;
        if subnet.hosts().is_none() {
            return Err(DhcpConfigError::SubnetTooSmall { subnet });
        }
        if !subnet.is_host(self.server_ip) {
            return Err(DhcpConfigError::ServerNotHost {
                server_ip: self.server_ip,
                subnet,
            });
        }
        if self.server_mac.is_multicast() || self.server_mac == MacAddr::default() {
            return Err(DhcpConfigError::ServerMacNotUnicast {
                mac: self.server_mac,
            });
        }
        let range = self.range;
        if range.is_empty() {
            return Err(DhcpConfigError::RangeReversed { range });
        }
        if !subnet.is_host(range.first) || !subnet.is_host(range.last) {
            return Err(DhcpConfigError::RangeOutsideSubnet { range, subnet });
        }
        let secs = self.lease_time.as_secs();
        if secs == 0 || secs >= u64::from(u32::MAX) || self.lease_time.subsec_nanos() != 0 {
            return Err(DhcpConfigError::LeaseTime {
                lease_time: self.lease_time,
            });
        }
        if let Some(router) = self.router {
            if !subnet.is_host(router) {
                return Err(DhcpConfigError::RouterOutsideSubnet { router, subnet });
            }
        }
        if self.dns.len() > MAX_DNS_SERVERS {
            return Err(DhcpConfigError::TooManyDns {
                count: self.dns.len(),
                max: MAX_DNS_SERVERS,
            });
        }
        self.validate_reservations()?;
        if self.dynamic_pool_size() == 0 && self.reservations.is_empty() {
            return Err(DhcpConfigError::NothingToHandOut { range });
        }
        Ok(())
    }

    /// How many addresses can be handed out dynamically: the range less the
    /// server address and reserved addresses inside it.
    pub fn dynamic_pool_size(&self) -> u64 {
        let mut n = self.range.len();
        if self.range.contains(self.server_ip) {
            n = n.saturating_sub(1);
        }
        let reserved_inside = self
            .reservations
            .iter()
            .filter(|r| self.range.contains(r.ip) && r.ip != self.server_ip)
            .count();
        n.saturating_sub(reserved_inside as u64)
    }

    /// The reservation for `mac`, if any.
    pub fn reservation_for_mac(&self, mac: MacAddr) -> Option<Ipv4Addr> {
        self.reservations
            .iter()
            .find(|r| r.mac == mac)
            .map(|r| r.ip)
    }

    /// The MAC `ip` is reserved for, if any.
    pub fn reservation_for_ip(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.reservations.iter().find(|r| r.ip == ip).map(|r| r.mac)
    }

    fn validate_reservations(&self) -> Result<(), DhcpConfigError> {
        for (i, r) in self.reservations.iter().enumerate() {
            if !self.subnet.is_host(r.ip) {
                return Err(DhcpConfigError::ReservationOutsideSubnet {
                    mac: r.mac,
                    ip: r.ip,
                    subnet: self.subnet,
                });
            }
            if r.ip == self.server_ip {
                return Err(DhcpConfigError::ReservationIsServer {
                    mac: r.mac,
                    ip: r.ip,
                });
            }
            if r.mac.is_multicast() {
                return Err(DhcpConfigError::ReservationMacNotUnicast { mac: r.mac });
            }
            for other in self.reservations.iter().skip(i + 1) {
                if other.mac == r.mac {
                    return Err(DhcpConfigError::DuplicateReservationMac {
                        mac: r.mac,
                        first: r.ip,
                        second: other.ip,
                    });
                }
                if other.ip == r.ip {
                    return Err(DhcpConfigError::DuplicateReservationIp {
                        ip: r.ip,
                        first: r.mac,
                        second: other.mac,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Why a [`DhcpConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpConfigError {
    /// A /31 or /32 leaves no address for both the server and a client.
    #[error("--dhcp {subnet} is too small: use at most a /30 (a server and one client)")]
    SubnetTooSmall {
        /// The subnet configured.
        subnet: Ipv4Net,
    },
    /// The server address is not a host address of the subnet.
    #[error("--dhcp-server-ip {server_ip} is not a host address of {subnet}")]
    ServerNotHost {
        /// The server address configured.
        server_ip: Ipv4Addr,
        /// The subnet configured.
        subnet: Ipv4Net,
    },
    /// The server MAC is multicast or all zeros.
    #[error("the DHCP server's MAC {mac} is not a unicast address")]
    ServerMacNotUnicast {
        /// The MAC configured.
        mac: MacAddr,
    },
    /// The range's last address is below its first.
    #[error("--dhcp-range {range} is reversed: write the lower address first")]
    RangeReversed {
        /// The range configured.
        range: IpRange,
    },
    /// The range reaches outside the subnet's host addresses.
    #[error("--dhcp-range {range} is not inside the host addresses of {subnet}")]
    RangeOutsideSubnet {
        /// The range configured.
        range: IpRange,
        /// The subnet configured.
        subnet: Ipv4Net,
    },
    /// No address left to hand out: the range holds only the server and
    /// reserved addresses, and there is no reservation.
    #[error("--dhcp-range {range} leaves no address to hand out once the server address is taken")]
    NothingToHandOut {
        /// The range configured.
        range: IpRange,
    },
    /// The lease time is zero, not whole seconds, or too long for option 51.
    #[error(
        "--dhcp-lease-time {lease_time:?} is out of range: whole seconds from 1 to 4294967294"
    )]
    LeaseTime {
        /// The lease time configured.
        lease_time: Duration,
    },
    /// The router is not a host of the subnet, so clients could not reach it.
    #[error("--dhcp-router {router} is not a host address of {subnet}")]
    RouterOutsideSubnet {
        /// The router configured.
        router: Ipv4Addr,
        /// The subnet configured.
        subnet: Ipv4Net,
    },
    /// More DNS servers than [`MAX_DNS_SERVERS`].
    #[error("{count} --dhcp-dns servers given; at most {max} are handed out")]
    TooManyDns {
        /// How many were configured.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A reserved address is not a host of the subnet.
    #[error("--dhcp-reserve {mac}={ip}: {ip} is not a host address of {subnet}")]
    ReservationOutsideSubnet {
        /// The MAC of the reservation.
        mac: MacAddr,
        /// The address of the reservation.
        ip: Ipv4Addr,
        /// The subnet configured.
        subnet: Ipv4Net,
    },
    /// A reserved address is the server's own.
    #[error("--dhcp-reserve {mac}={ip}: {ip} is the DHCP server's own address")]
    ReservationIsServer {
        /// The MAC of the reservation.
        mac: MacAddr,
        /// The server address.
        ip: Ipv4Addr,
    },
    /// A reservation names a multicast MAC, which no client has.
    #[error("--dhcp-reserve {mac}=…: {mac} is a multicast address, no client has it")]
    ReservationMacNotUnicast {
        /// The MAC of the reservation.
        mac: MacAddr,
    },
    /// One MAC is reserved twice.
    #[error("--dhcp-reserve: {mac} is reserved twice ({first} and {second})")]
    DuplicateReservationMac {
        /// The MAC reserved twice.
        mac: MacAddr,
        /// Its first address.
        first: Ipv4Addr,
        /// Its second address.
        second: Ipv4Addr,
    },
    /// One address is reserved for two MACs.
    #[error("--dhcp-reserve: {ip} is reserved for both {first} and {second}")]
    DuplicateReservationIp {
        /// The address reserved twice.
        ip: Ipv4Addr,
        /// The first MAC.
        first: MacAddr,
        /// The second MAC.
        second: MacAddr,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn mac(last: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, last])
    }

    fn config() -> DhcpConfig {
        DhcpConfig::new("10.0.0.0/24".parse().unwrap(), mac(0xfe)).unwrap()
    }

    #[test]
    fn parses_flag_syntaxes() {
        let net: Ipv4Net = "192.168.254.0/24".parse().unwrap();
        assert_eq!(net.mask(), ip("255.255.255.0"));
        assert_eq!(net.broadcast(), ip("192.168.254.255"));
        assert_eq!(net.to_string(), "192.168.254.0/24");
        assert_eq!(
            "10.0.0.1/24".parse::<Ipv4Net>(),
            Err(DhcpParseError::HostBitsSet {
                given: ip("10.0.0.1"),
                prefix_len: 24,
                network: ip("10.0.0.0")
            })
        );
        assert!(matches!(
            "10.0.0.0/33".parse::<Ipv4Net>(),
            Err(DhcpParseError::PrefixTooLong { .. })
        ));
        assert!(matches!(
            "10.0.0.0".parse::<Ipv4Net>(),
            Err(DhcpParseError::Cidr { .. })
        ));
        let range: IpRange = "10.0.0.100-10.0.0.199".parse().unwrap();
        assert_eq!(range.len(), 100);
        assert!(matches!(
            "10.0.0.100".parse::<IpRange>(),
            Err(DhcpParseError::Range { .. })
        ));
        let r: Reservation = "02:00:00:00:00:07=10.0.0.7".parse().unwrap();
        assert_eq!(
            r,
            Reservation {
                mac: mac(7),
                ip: ip("10.0.0.7")
            }
        );
        assert!(matches!(
            "02:00:00:00:00:07".parse::<Reservation>(),
            Err(DhcpParseError::Reservation { .. })
        ));
        assert!(matches!(
            "nope=10.0.0.7".parse::<Reservation>(),
            Err(DhcpParseError::Reservation { .. })
        ));
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = config();
        assert_eq!(c.server_ip, ip("10.0.0.1"));
        assert_eq!(
            c.range,
            IpRange {
                first: ip("10.0.0.1"),
                last: ip("10.0.0.254")
            }
        );
        assert_eq!(c.lease_time, Duration::from_secs(3600));
        assert_eq!(c.dynamic_pool_size(), 253);
        c.validate().unwrap();
        assert!(matches!(
            DhcpConfig::new("10.0.0.0/31".parse().unwrap(), mac(1)),
            Err(DhcpConfigError::SubnetTooSmall { .. })
        ));
        let tiny = DhcpConfig::new("10.0.0.0/30".parse().unwrap(), mac(1)).unwrap();
        assert_eq!(tiny.dynamic_pool_size(), 1);
        tiny.validate().unwrap();
    }

    #[test]
    fn validation_names_the_problem() {
        let mut c = config();
        c.range = "10.0.0.200-10.0.1.10".parse().unwrap();
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::RangeOutsideSubnet { .. })
        ));
        c.range = "10.0.0.20-10.0.0.10".parse().unwrap();
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::RangeReversed { .. })
        ));
        c.range = "10.0.0.1-10.0.0.1".parse().unwrap();
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::NothingToHandOut { .. })
        ));

        let mut c = config();
        c.server_ip = ip("10.0.0.255");
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::ServerNotHost { .. })
        ));

        let mut c = config();
        c.reservations
            .push("02:00:00:00:00:01=10.0.1.5".parse().unwrap());
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::ReservationOutsideSubnet { .. })
        ));
        c.reservations = vec!["02:00:00:00:00:01=10.0.0.1".parse().unwrap()];
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::ReservationIsServer { .. })
        ));
        c.reservations = vec![
            "02:00:00:00:00:01=10.0.0.5".parse().unwrap(),
            "02:00:00:00:00:02=10.0.0.5".parse().unwrap(),
        ];
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::DuplicateReservationIp { .. })
        ));
        c.reservations = vec![
            "02:00:00:00:00:01=10.0.0.5".parse().unwrap(),
            "02:00:00:00:00:01=10.0.0.6".parse().unwrap(),
        ];
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::DuplicateReservationMac { .. })
        ));
        c.reservations = vec!["02:00:00:00:00:01=10.0.0.5".parse().unwrap()];
        c.validate().unwrap();
        assert_eq!(c.dynamic_pool_size(), 252);

        let mut c = config();
        c.lease_time = Duration::ZERO;
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::LeaseTime { .. })
        ));
        let mut c = config();
        c.router = Some(ip("192.168.0.1"));
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::RouterOutsideSubnet { .. })
        ));
        let mut c = config();
        c.dns = vec![ip("10.0.0.1"); 9];
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::TooManyDns { count: 9, .. })
        ));
        let mut c = config();
        c.server_mac = MacAddr::BROADCAST;
        assert!(matches!(
            c.validate(),
            Err(DhcpConfigError::ServerMacNotUnicast { .. })
        ));
    }
}
