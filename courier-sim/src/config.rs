//! The simulator's configuration: every flag of `courier-sim serve`, usable as a library value.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser};
use pigeonhole::padding::PaddedGeometry;

/// How a courier simulator runs. Build one with [`Config::ephemeral`] for tests and demos, or
/// parse it from the command line (every field is a flag of `courier-sim serve`).
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port. Loopback by default: the simulator has no
    /// authentication and is meant for one machine.
    #[arg(long, default_value = "127.0.0.1:7800")]
    pub listen: SocketAddr,

    /// Directory of the RocksDB state (created 0700 if missing). Required unless --ephemeral.
    #[arg(long, value_name = "DIR", required_unless_present = "ephemeral")]
    pub data_dir: Option<PathBuf>,

    /// Keep all state in memory (RocksDB's in-memory environment) and lose it on exit. For tests
    /// and demos; conflicts with --data-dir.
    #[arg(long, conflicts_with = "data_dir")]
    pub ephemeral: bool,

    /// Number of storage replicas in this process (at least 2). Each box lives on the two chosen
    /// by Shard2 from the replicas' identity keys.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(2..))]
    pub replicas: u8,

    /// Replicas (0-based) that start down; repeat or comma-separate. They can be brought back
    /// with `POST /admin/replicas/N/up`.
    #[arg(long = "replica-down", value_name = "N", value_delimiter = ',')]
    pub replicas_down: Vec<u8>,

    /// Seed of every random choice: replica identity keys (on first start; they are persisted)
    /// and the simulated mixnet faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Fixed delay added to every reply, in milliseconds (a simulated mixnet round trip).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,

    /// Extra random delay, uniform in [0, MS] milliseconds, added to every reply.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub jitter: u64,

    /// Probability in [0, 1) that a reply is lost: the query is carried out but the connection
    /// is dropped without a complete reply, so the client must resend it.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub loss: f64,

    /// The one accepted size of a box payload, besides the empty payload of a tombstone: every
    /// box plaintext is padded to one size before sealing (default: a 4-byte length and up to
    /// 1556 message bytes padded to 1560, plus the 16-byte AEAD tag). Any other size is refused
    /// as an invalid payload (code 5), inside copy commands too.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = PaddedGeometry::KATZENPOST.payload_len(),
        value_parser = parse_payload_len
    )]
    pub payload_len: usize,

    /// How the signatures of writes are verified: `batch` checks concurrent writes with one
    /// Ed25519 batch equation (about a third cheaper per write; the same answers except for
    /// signatures built with small-order components, which only whoever made the box ID can
    /// make); `each` verifies every write on its own, exactly as Go's `ed25519.Verify` on the
    /// real replicas.
    #[arg(long, value_enum, default_value_t = VerifyMode::Batch)]
    pub verify: VerifyMode,

    /// Largest accepted request body in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_body: usize,

    /// Most connections served at once (TLS handshakes in progress included); more wait in
    /// the kernel's listen queue until one closes.
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Seconds a client has to send a request's headers, from the connection's start or the
    /// previous reply (so also how long an idle connection stays open); then it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,

    /// Seconds a client has to send a request's body once its headers arrived; then the query
    /// is refused (HTTP 408) and the connection closed.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,

    /// Seconds a write of a reply may make no progress (the client stopped reading and the
    /// socket's buffers are full); then the connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout: u64,

    /// fsync the RocksDB write-ahead log on every committed write batch: acknowledged writes
    /// then survive power loss and kernel crashes, not only `kill -9`, at the cost of one fsync
    /// per write (milliseconds on most disks).
    #[arg(long)]
    pub sync: bool,

    /// Most replies held in the deduplication cache.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub dedup_entries: usize,

    /// Most reply bytes held in the deduplication cache.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub dedup_bytes: usize,

    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first); needs
    /// --tls-key. Clients trust it through its CA (`bacap-chat --courier-ca FILE`).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The values of `--verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyMode {
    /// Concurrent writes together, in one batch equation.
    Batch,
    /// Every write on its own.
    Each,
}

impl From<VerifyMode> for pigeonhole::store::Verification {
    fn from(mode: VerifyMode) -> Self {
        match mode {
            VerifyMode::Batch => Self::Batched,
            VerifyMode::Each => Self::Each,
        }
    }
}

fn parse_payload_len(s: &str) -> Result<usize, String> {
    let len: usize = s.parse().map_err(|e| format!("{e}"))?;
    PaddedGeometry::from_payload_len(len)
        .map(|g| g.payload_len())
        .ok_or_else(|| format!("{len} bytes cannot hold a length field, a message and a tag"))
}

fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not in [0, 1)"))
    }
}

#[derive(Parser)]
struct DefaultsOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// The defaults of every flag, with ephemeral in-memory state on an ephemeral loopback port
    /// (`127.0.0.1:0`): what tests and embedded demos want.
    pub fn ephemeral() -> Self {
        let mut config = DefaultsOnly::parse_from(["courier-sim", "--ephemeral"]).config;
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }

    /// The box sizes `--payload-len` stands for.
    pub fn geometry(&self) -> PaddedGeometry {
        PaddedGeometry::from_payload_len(self.payload_len).unwrap_or_default()
    }

    /// The defaults of every flag, with persistent state in `dir` on an ephemeral loopback port.
    pub fn persistent(dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::ephemeral();
        config.ephemeral = false;
        config.data_dir = Some(dir.into());
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_issue() {
        let c = Config::ephemeral();
        assert_eq!(c.replicas, 4);
        assert_eq!(c.payload_len, 4 + 1556 + 16);
        assert_eq!(c.geometry(), PaddedGeometry::KATZENPOST);
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.listen.port(), 0);
        assert!(!c.sync);
        assert_eq!(c.loss, 0.0);
        assert_eq!(c.verify, VerifyMode::Batch);
        assert_eq!(c.max_connections, 512);
        assert_eq!(c.header_timeout, 10);
        assert_eq!(c.body_timeout, 30);
        assert_eq!(c.write_timeout, 30);
    }

    #[test]
    fn flags_parse_and_validate() {
        let parse = |args: &[&str]| {
            DefaultsOnly::try_parse_from(std::iter::once("courier-sim").chain(args.iter().copied()))
        };
        let c = parse(&[
            "--data-dir",
            "/tmp/x",
            "--replica-down",
            "1,3",
            "--loss",
            "0.25",
        ])
        .unwrap()
        .config;
        assert_eq!(c.replicas_down, vec![1, 3]);
        assert_eq!(c.loss, 0.25);
        let each = parse(&["--ephemeral", "--verify", "each"]).unwrap().config;
        assert_eq!(
            pigeonhole::store::Verification::from(each.verify),
            pigeonhole::store::Verification::Each
        );
        assert!(parse(&["--ephemeral", "--verify", "some"]).is_err());
        assert!(parse(&[]).is_err(), "state must be chosen explicitly");
        assert!(parse(&["--ephemeral", "--data-dir", "/tmp/x"]).is_err());
        assert!(parse(&["--ephemeral", "--loss", "1.0"]).is_err());
        assert!(parse(&["--ephemeral", "--replicas", "1"]).is_err());
        assert!(parse(&["--ephemeral", "--payload-len", "20"]).is_err());
        for zero in ["--max-connections", "--header-timeout", "--body-timeout"] {
            assert!(parse(&["--ephemeral", zero, "0"]).is_err(), "{zero}");
        }
        assert!(
            parse(&["--ephemeral", "--tls-cert", "c.pem"]).is_err(),
            "needs the key"
        );
        assert!(
            parse(&["--ephemeral", "--tls-key", "k.pem"]).is_err(),
            "needs the cert"
        );
        let tls = parse(&["--ephemeral", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .unwrap()
            .config;
        assert_eq!(tls.tls_cert, Some(PathBuf::from("c.pem")));
        let small = parse(&["--ephemeral", "--payload-len", "120"])
            .unwrap()
            .config;
        assert_eq!(small.geometry().message_len(), 100);
    }
}
