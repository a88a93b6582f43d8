//! A local stand-in for Katzenpost's Pigeonhole couriers and storage replicas, so clients can
//! be developed and tested without a mixnet yet meet what they would meet on one.
//!
//! It serves the CBOR-over-HTTP protocol of [`courier_protocol::wire`]: signed write-once boxes,
//! tombstones, batch reads and the all-or-nothing copy command, on `--replicas` simulated
//! replicas placed by Shard2, with seeded mixnet faults (latency, jitter, lost replies) and a
//! deduplication cache for resent queries. State lives in RocksDB.
//!
//! Embed it with [`serve`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = courier_sim::serve(courier_sim::Config::ephemeral()).await?;
//! let store = courier_protocol::HttpStore::new(&server.url())?;
//! // ... use `store` as a `pigeonhole::store::BoxStore` ...
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

// Two calls need `unsafe`: putting RocksDB's threads in SCHED_IDLE (`background`) and setting
// glibc malloc's parameters (`heap`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod background;
pub mod config;
pub mod connections;
pub mod dedup;
pub mod error;
pub mod faults;
pub mod heap;
pub mod metrics;
pub mod process;
pub mod replicas;
pub mod routes;
pub mod storage;
pub mod tls;
pub mod verifier;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pigeonhole::store::ReplyCode;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

pub use config::Config;
pub use error::Error;

use crate::dedup::Dedup;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::routes::App;
use crate::storage::Storage;
use crate::verifier::{StoreBatch, Verifier};

/// How long [`Server::shutdown`] waits for open connections before closing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator.
pub struct Server {
    addr: SocketAddr,
    https: bool,
    app: Arc<App>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Opens the storage `config` describes, binds its address (port 0 picks a free one) and serves
/// (HTTPS with `--tls-cert` and `--tls-key`, else HTTP) until [`Server::shutdown`]. Must be
/// called inside a Tokio runtime.
pub async fn serve(config: Config) -> Result<Server, Error> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    let open_config = config.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&open_config))
        .await
        .map_err(|e| Error::Thread {
            what: "opening storage",
            error: std::io::Error::other(e),
        })??;
    let storage = Arc::new(storage);
    let metrics = Arc::new(Metrics::default());
    // A weak reference: the storage closes when the server lets go of it (`Server::shutdown`).
    let stores = Arc::downgrade(&storage);
    let store: StoreBatch = Box::new(move |boxes, wait| match stores.upgrade() {
        Some(storage) => storage.write_many_or_decline(boxes, wait),
        None => Some(vec![Err(ReplyCode::InternalError); boxes.len()]),
    });
    let verifier = Arc::new(Verifier::new(
        config.geometry(),
        config.verify.into(),
        metrics.clone(),
        store,
    ));
    let app = Arc::new(App {
        storage,
        verifier,
        dedup: Dedup::new(config.dedup_entries, config.dedup_bytes),
        faults: Faults::new(&config),
        metrics,
        geometry: config.geometry(),
        max_body: config.max_body,
        body_timeout: Duration::from_secs(config.body_timeout),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| Error::Bind {
            addr: config.listen,
            error,
        })?;
    let addr = listener.local_addr().map_err(Error::Serve)?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback: the simulator has no authentication");
    }
    let router = routes::router(app.clone());
    let (shutdown, stop) = oneshot::channel::<()>();
    let https = tls.is_some();
    let stopped = async {
        let _ = stop.await;
    };
    let permits = Arc::new(Semaphore::new(config.max_connections as usize));
    let timeouts = connections::Timeouts {
        header: Duration::from_secs(config.header_timeout),
        write: Duration::from_secs(config.write_timeout),
    };
    let task = match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls, permits).map_err(Error::Serve)?;
            tokio::spawn(connections::serve(listener, router, timeouts, stopped))
        }
        None => tokio::spawn(connections::serve(
            connections::PlainListener::new(listener, permits),
            router,
            timeouts,
            stopped,
        )),
    };
    tracing::info!(
        %addr,
        replicas = config.replicas,
        ephemeral = config.ephemeral,
        data_dir = ?config.data_dir,
        sync = config.sync,
        https,
        max_connections = config.max_connections,
        "courier simulator listening"
    );
    Ok(Server {
        addr,
        https,
        app,
        shutdown,
        task,
    })
}

impl Server {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use, such as `http://127.0.0.1:7800` (`https://` when it serves
    /// TLS).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Whether each replica is up, by number.
    pub fn replicas_up(&self) -> Vec<bool> {
        let replicas = self.app.storage.replicas();
        (0..replicas.len() as u8)
            .map(|r| replicas.is_up(r))
            .collect()
    }

    /// The storage (for tests and diagnostics).
    pub fn storage(&self) -> &Storage {
        &self.app.storage
    }

    /// Takes replica `r` down or brings it back (replaying what it missed); like
    /// `POST /admin/replicas/{r}/down|up`. Returns how many boxes were replayed.
    pub async fn set_replica_up(&self, r: u8, up: bool) -> Result<usize, ReplyCode> {
        routes::off_executor(&self.app.storage, move |s| s.set_replica_up(r, up)).await
    }

    /// Stops accepting connections, lets open ones finish (closing them after a grace period)
    /// and closes the storage.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.shutdown.send(());
        let mut task = self.task;
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(joined) => joined.map_err(|e| Error::Serve(std::io::Error::other(e)))?,
            Err(_) => {
                task.abort();
                let _ = task.await;
            }
        }
        // The storage closes when its last reference goes: wait (boundedly) for in-flight
        // blocking work such as a copy command to let go of it.
        for _ in 0..500 {
            if Arc::strong_count(&self.app) == 1 && Arc::strong_count(&self.app.storage) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(self.app);
        tracing::info!("courier simulator stopped");
        Ok(())
    }
}
