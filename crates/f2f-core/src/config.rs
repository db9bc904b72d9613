//! The switch's configuration file (`--config FILE`): TOML whose keys are the
//! switch's long flag names (spec/cli.md), so a command line translates key
//! for key: `-n 64 --max-macs 4096 -x` is
//!
//! ```toml
//! numports = 64
//! max-macs = 4096
//! hub = true
//! ```
//!
//! Multi-word keys are written as the flags are (`max-macs`); `max_macs` is
//! accepted too. Unknown keys are refused by name (`deny_unknown_fields`): a
//! misspelt key never silently does nothing. Modes are octal strings
//! (`mode = "0660"`): TOML has no leading-zero integers, and a decimal 660
//! would be a different mode.
//!
//! This module parses and validates text; reading the file, resolving paths
//! relative to it and merging with the flags (flags win) is the shell's job.

use serde::{Deserialize, Serialize};

use crate::mac::MacAddr;

/// Why a configuration text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, a wrong type, or an unknown key; the message names the key
    /// and the line.
    #[error("{0}")]
    Syntax(String),
    /// A key with a value out of its range.
    #[error("{key} = {value}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
}

/// A file mode written as an octal string (`"0660"`, `"660"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let text = String::deserialize(d)?;
        parse_mode(&text).map(Mode).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not an octal mode: write it as a string like \"0660\""
            ))
        })
    }
}

/// Parse an octal mode such as `0660`, `660` or `0o660`, at most `07777`.
pub fn parse_mode(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777)
}

/// Every setting of `f2f-overlay switch`, all optional: what is absent keeps
/// its flag's default. Field docs name the flag.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SwitchFile {
    /// `-s/--sock`: the control directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sock: Option<String>,
    /// `-M/--mgmt`: the management socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mgmt: Option<String>,
    /// `--mgmtmode`: its mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mgmtmode: Option<Mode>,
    /// `--mgmtgroup`: its group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mgmtgroup: Option<String>,
    /// `-n/--numports`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numports: Option<u32>,
    /// `-x/--hub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<bool>,
    /// `-F/--fstp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fstp: Option<bool>,
    /// `-d/--daemon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<bool>,
    /// `-p/--pidfile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pidfile: Option<String>,
    /// `-m/--mode`: the control socket's mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// `--dirmode`: the control directory's mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirmode: Option<Mode>,
    /// `-g/--group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `--macaddr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macaddr: Option<MacAddr>,
    /// `--priority`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// `--hashsize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashsize: Option<u32>,
    /// `-f/--rcfile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcfile: Option<String>,
    /// `-t/--tap`, one entry per tap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tap: Vec<String>,
    /// `-D/--debugclients`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debugclients: Option<u32>,
    /// `--max-macs`.
    #[serde(alias = "max_macs", skip_serializing_if = "Option::is_none")]
    pub max_macs: Option<u64>,
    /// `--max-frame`.
    #[serde(alias = "max_frame", skip_serializing_if = "Option::is_none")]
    pub max_frame: Option<u32>,
    /// `--port-max-macs`: most addresses learned per port (port security).
    #[serde(alias = "port_max_macs", skip_serializing_if = "Option::is_none")]
    pub port_max_macs: Option<u32>,
    /// `--max-consoles`: most management console sessions at once.
    #[serde(alias = "max_consoles", skip_serializing_if = "Option::is_none")]
    pub max_consoles: Option<u32>,
    /// `--stream-listen`.
    #[serde(alias = "stream_listen", skip_serializing_if = "Option::is_none")]
    pub stream_listen: Option<String>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--connect`, one entry per peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect: Vec<String>,
    /// `--key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `--dhcp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<String>,
    /// `--dhcp-range`.
    #[serde(alias = "dhcp_range", skip_serializing_if = "Option::is_none")]
    pub dhcp_range: Option<String>,
    /// `--dhcp-lease-time`.
    #[serde(alias = "dhcp_lease_time", skip_serializing_if = "Option::is_none")]
    pub dhcp_lease_time: Option<u64>,
    /// `--dhcp-router`.
    #[serde(alias = "dhcp_router", skip_serializing_if = "Option::is_none")]
    pub dhcp_router: Option<String>,
    /// `--dhcp-dns`: one address, or several separated by commas.
    #[serde(alias = "dhcp_dns", skip_serializing_if = "Option::is_none")]
    pub dhcp_dns: Option<String>,
    /// `--dhcp-server-ip`.
    #[serde(alias = "dhcp_server_ip", skip_serializing_if = "Option::is_none")]
    pub dhcp_server_ip: Option<String>,
    /// `--dhcp-reserve`, `MAC=IP` per entry.
    #[serde(alias = "dhcp_reserve", default, skip_serializing_if = "Vec::is_empty")]
    pub dhcp_reserve: Vec<String>,
    /// `--dhcp-lease-file`.
    #[serde(alias = "dhcp_lease_file", skip_serializing_if = "Option::is_none")]
    pub dhcp_lease_file: Option<String>,
    /// `--log-level`.
    #[serde(alias = "log_level", skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// `--state-dir`.
    #[serde(alias = "state_dir", skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
}

/// Largest `numports` (port numbers are 16-bit).
pub const MAX_NUMPORTS: u32 = 65535;
/// Smallest `max-frame`: a bare Ethernet header.
pub const MIN_MAX_FRAME: u32 = 14;
/// Largest `max-frame`.
pub const MAX_MAX_FRAME: u32 = 65535;

impl SwitchFile {
    /// Parse and validate a configuration text.
    pub fn parse(text: &str) -> Result<SwitchFile, ConfigError> {
        let file: SwitchFile =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        file.validate()?;
        Ok(file)
    }

    /// The file as TOML (keys in the flags' spelling).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Check the ranges TOML types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(n) = self.numports {
            if n == 0 || n > MAX_NUMPORTS {
                return Err(ConfigError::Invalid {
                    key: "numports",
                    value: n.to_string(),
                    reason: "must be between 1 and 65535",
                });
            }
        }
        if let Some(n) = self.max_frame {
            if !(MIN_MAX_FRAME..=MAX_MAX_FRAME).contains(&n) {
                return Err(ConfigError::Invalid {
                    key: "max-frame",
                    value: n.to_string(),
                    reason: "the largest frame must be between 14 and 65535 bytes",
                });
            }
        }
        if let Some(n) = self.max_macs {
            if usize::try_from(n).is_err() {
                return Err(ConfigError::Invalid {
                    key: "max-macs",
                    value: n.to_string(),
                    reason: "too large for this machine",
                });
            }
        }
        if let Some(level) = &self.log_level {
            let known = ["error", "warn", "info", "debug", "trace", "off"];
            if !known.contains(&level.to_ascii_lowercase().as_str()) {
                return Err(ConfigError::Invalid {
                    key: "log-level",
                    value: format!("{level:?}"),
                    reason: "must be one of error, warn, info, debug, trace, off",
                });
            }
        }
        for (key, value) in self.paths() {
            if value.is_empty() {
                return Err(ConfigError::Invalid {
                    key,
                    value: "\"\"".to_string(),
                    reason: "an empty path; leave the key out for the default",
                });
            }
        }
        Ok(())
    }

    /// The keys holding paths, with their values (the shell resolves relative
    /// ones against the file's directory).
    pub fn paths(&self) -> Vec<(&'static str, &str)> {
        [
            ("sock", &self.sock),
            ("mgmt", &self.mgmt),
            ("pidfile", &self.pidfile),
            ("rcfile", &self.rcfile),
            ("stream-listen", &self.stream_listen),
            ("key", &self.key),
            ("state-dir", &self.state_dir),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_flag_names() {
        let f = SwitchFile::parse(
            "sock = \"/tmp/sw\"\nnumports = 64\nhub = true\nmax-macs = 4096\nmax_frame = 9000\n\
             mode = \"0660\"\nmgmtmode = \"600\"\nmacaddr = \"02:00:00:00:00:01\"\ntap = [\"t0\", \"t1\"]\n",
        )
        .unwrap();
        assert_eq!(f.sock.as_deref(), Some("/tmp/sw"));
        assert_eq!((f.numports, f.hub), (Some(64), Some(true)));
        assert_eq!((f.max_macs, f.max_frame), (Some(4096), Some(9000)));
        assert_eq!((f.mode, f.mgmtmode), (Some(Mode(0o660)), Some(Mode(0o600))));
        assert_eq!(f.macaddr.unwrap().to_string(), "02:00:00:00:00:01");
        assert_eq!(f.tap, ["t0", "t1"]);
        assert_eq!(SwitchFile::parse("").unwrap(), SwitchFile::default());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = SwitchFile::parse("numports = 8\nnumport = 9\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `numport`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = SwitchFile::parse("[switch]\nhub = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `switch`"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let cases = [
            ("numports = 0", "numports = 0"),
            ("numports = 70000", "numports = 70000"),
            ("max-frame = 13", "max-frame = 13"),
            ("mode = 660", "invalid type: integer `660`"),
            ("mode = \"0999\"", "not an octal mode"),
            ("mode = \"017777\"", "not an octal mode"),
            ("macaddr = \"02:00\"", "invalid MAC address"),
            ("hub = \"yes\"", "invalid type"),
            ("numports = -1", "invalid value"),
            ("log-level = \"loud\"", "log-level = \"loud\""),
            ("sock = \"\"", "sock = \"\""),
        ];
        for (text, want) in cases {
            let err = SwitchFile::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let f = SwitchFile::parse(
            "mgmt = \"m\"\nmode = \"0o640\"\nconnect = [\"a:1\"]\ndhcp = \"10.0.0.0/24\"\n",
        )
        .unwrap();
        let text = f.to_toml();
        assert!(text.contains("mode = \"0640\""), "{text}");
        assert_eq!(SwitchFile::parse(&text).unwrap(), f);
        assert_eq!(f.connect, ["a:1"]);
        assert_eq!(f.paths(), [("mgmt", "m")]);
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0660"), Some(0o660));
        assert_eq!(parse_mode("2775"), Some(0o2775));
        assert_eq!(parse_mode("0o600"), Some(0o600));
        assert_eq!(parse_mode(""), None);
        assert_eq!(parse_mode("8"), None);
        assert_eq!(parse_mode("+7"), None);
    }
}
