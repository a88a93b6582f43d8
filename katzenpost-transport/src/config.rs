//! What kpclientd does not say over the connection: the box geometry, from its configuration.
//!
//! kpclientd v0.0.70 announces neither the Pigeonhole geometry nor anything that implies it;
//! the daemon's `client.toml` and the thin client's `thinclient.toml` (which genconfig writes
//! with the same values) hold it as `MaxPlaintextPayloadLength` in `[PigeonholeGeometry]`.
//! The thin-client file also says where the daemon listens (`Network`, `Address`) and the
//! daemon's own file says it as `ListenNetwork`, `ListenAddress`.
//!
//! This is a reader for those few keys, not a TOML parser: it looks at `key = value` lines, by
//! section, and ignores everything else.

use std::path::Path;

use bacap::Geometry;

/// The plaintext a box carries with the geometry genconfig v0.0.70 writes for a 2000-byte
/// Sphinx user payload (the network `scripts/katzenpost/kp` runs).
pub const DEFAULT_BOX_PLAINTEXT_LEN: usize = 1553;

/// Where kpclientd listens by default on the network `scripts/katzenpost/kp` runs.
pub const DEFAULT_DAEMON_ADDR: &str = "127.0.0.1:64331";

/// Why a daemon configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file has no `[PigeonholeGeometry]` `MaxPlaintextPayloadLength`.
    #[error("{0} has no MaxPlaintextPayloadLength in [PigeonholeGeometry]")]
    NoGeometry(String),
    /// A value is not what the key needs.
    #[error("{path}: {key} = {value} is not a valid value")]
    BadValue {
        /// The file.
        path: String,
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
    },
}

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAddr {
    /// TCP, `host:port`.
    Tcp(String),
    /// A Unix socket.
    Unix(std::path::PathBuf),
}

impl DaemonAddr {
    /// `unix:PATH` or a path starting with `/` is a Unix socket; anything else `host:port`.
    pub fn parse(s: &str) -> Self {
        match s.strip_prefix("unix:") {
            Some(p) => DaemonAddr::Unix(p.into()),
            None if s.starts_with('/') => DaemonAddr::Unix(s.into()),
            None => DaemonAddr::Tcp(s.to_owned()),
        }
    }
}

impl core::fmt::Display for DaemonAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DaemonAddr::Tcp(a) => f.write_str(a),
            DaemonAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// What a kpclientd or thin-client configuration file says about the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The box geometry.
    pub geometry: Geometry,
    /// Where the daemon listens, if the file says.
    pub addr: Option<DaemonAddr>,
}

impl DaemonConfig {
    /// Reads `path` (a `client.toml` or `thinclient.toml`).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a configuration file; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let mut section = String::new();
        let (mut len, mut network, mut address) = (None, None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_owned();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim().trim_matches('"'));
            match (section.as_str(), key) {
                ("PigeonholeGeometry", "MaxPlaintextPayloadLength") => {
                    let n = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1 << 20).contains(n))
                        .ok_or_else(|| ConfigError::BadValue {
                            path: path.to_owned(),
                            key: "MaxPlaintextPayloadLength",
                            value: value.to_owned(),
                        })?;
                    len = Some(n);
                }
                ("", "Network" | "ListenNetwork") => network = Some(value.to_owned()),
                ("", "Address" | "ListenAddress") => address = Some(value.to_owned()),
                _ => {}
            }
        }
        let len = len.ok_or_else(|| ConfigError::NoGeometry(path.to_owned()))?;
        let addr = match (network.as_deref(), address) {
            (_, None) => None,
            (Some("unix"), Some(a)) => Some(DaemonAddr::Unix(a.into())),
            (None | Some("tcp" | "tcp4" | "tcp6"), Some(a)) => Some(DaemonAddr::Tcp(a)),
            (Some(other), Some(_)) => {
                return Err(ConfigError::BadValue {
                    path: path.to_owned(),
                    key: "Network",
                    value: other.to_owned(),
                })
            }
        };
        Ok(Self {
            geometry: Geometry::new(len),
            addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of the thinclient.toml genconfig v0.0.70 writes (with `kp`'s address).
    const THINCLIENT: &str = r#"Network = "tcp"
Address = "127.0.0.1:64331"

[SphinxGeometry]
  PacketLength = 2754
  UserForwardPayloadLength = 2000
  NIKEName = "x25519"

[PigeonholeGeometry]
  MaxPlaintextPayloadLength = 1553
  CourierQueryReadLength = 359
  CourierQueryWriteLength = 2000
  NIKEName = "CTIDH1024-X25519"
  SignatureSchemeName = "Ed25519"
"#;

    #[test]
    fn reads_the_geometry_and_address_genconfig_writes() {
        let c = DaemonConfig::parse(THINCLIENT, "thinclient.toml").unwrap();
        assert_eq!(c.geometry, Geometry::new(DEFAULT_BOX_PLAINTEXT_LEN));
        assert_eq!(c.addr, Some(DaemonAddr::Tcp("127.0.0.1:64331".into())));

        let daemon = "ListenNetwork = \"unix\"\nListenAddress = \"/run/kp.sock\"\n\
                      [PigeonholeGeometry]\nMaxPlaintextPayloadLength = 3000\n";
        let c = DaemonConfig::parse(daemon, "client.toml").unwrap();
        assert_eq!(c.geometry.box_plaintext_len, 3000);
        assert_eq!(c.addr, Some(DaemonAddr::Unix("/run/kp.sock".into())));
    }

    #[test]
    fn refuses_a_file_without_a_usable_geometry() {
        assert!(matches!(
            DaemonConfig::parse("Network = \"tcp\"\n", "x"),
            Err(ConfigError::NoGeometry(_))
        ));
        // The key outside its section does not count.
        assert!(matches!(
            DaemonConfig::parse("MaxPlaintextPayloadLength = 1553\n", "x"),
            Err(ConfigError::NoGeometry(_))
        ));
        assert!(matches!(
            DaemonConfig::parse(
                "[PigeonholeGeometry]\nMaxPlaintextPayloadLength = -1\n",
                "x"
            ),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            DaemonConfig::parse(
                "Network = \"udp\"\nAddress = \"x\"\n[PigeonholeGeometry]\nMaxPlaintextPayloadLength = 9\n",
                "x"
            ),
            Err(ConfigError::BadValue { key: "Network", .. })
        ));
    }

    #[test]
    fn daemon_addresses() {
        assert_eq!(
            DaemonAddr::parse("127.0.0.1:64331"),
            DaemonAddr::Tcp("127.0.0.1:64331".into())
        );
        assert_eq!(
            DaemonAddr::parse("unix:/tmp/s"),
            DaemonAddr::Unix("/tmp/s".into())
        );
        assert_eq!(DaemonAddr::parse("/tmp/s").to_string(), "unix:/tmp/s");
    }
}
