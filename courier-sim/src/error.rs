//! The errors of starting, running and stopping the simulator.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the simulator could not start, serve or stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither a data directory nor in-memory storage was asked for.
    #[error("either --data-dir or --ephemeral is required")]
    NoDataDir,
    /// The data directory could not be made.
    #[error("creating data directory {}: {error}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why: in the message, and not a source, so that a chain of causes says it once.
        error: std::io::Error,
    },
    /// RocksDB could not open the data directory.
    #[error("opening RocksDB at {}: {message}", path.display())]
    Open {
        /// The data directory.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// RocksDB refused.
    #[error("{what}: {message}")]
    Database {
        /// What was being done.
        what: &'static str,
        /// RocksDB's message.
        message: String,
    },
    /// The data directory was written by another storage layout.
    #[error(
        "{} was written by another version of courier-sim (storage layout {found}, this one \
         reads layout {expected}); start with a new --data-dir",
        path.display()
    )]
    Layout {
        /// The data directory.
        path: PathBuf,
        /// The layout found.
        found: String,
        /// The layout this build reads.
        expected: u8,
    },
    /// The data directory holds another number of replicas than asked for.
    #[error("{} holds {stored} replicas' keys but --replicas is {asked}", path.display())]
    ReplicaCount {
        /// The data directory.
        path: PathBuf,
        /// How many it holds.
        stored: usize,
        /// How many were asked for.
        asked: u8,
    },
    /// `--replica-down` names a replica that does not exist.
    #[error("--replica-down {replica}: there are only {replicas} replicas")]
    NoSuchReplica {
        /// The replica named.
        replica: u8,
        /// How many there are.
        replicas: usize,
    },
    /// A thread of the simulator could not start.
    #[error("starting {what}: {error}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why: in the message, and not a source, so that a chain of causes says it once.
        error: std::io::Error,
    },
    /// The listening address could not be bound.
    #[error("binding {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why: in the message, and not a source, so that a chain of causes says it once.
        error: std::io::Error,
    },
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
}

impl Error {
    /// A RocksDB failure while doing `what`.
    pub(crate) fn database(what: &'static str) -> impl FnOnce(rocksdb::Error) -> Self {
        move |e| Error::Database {
            what,
            message: e.into_string(),
        }
    }
}
