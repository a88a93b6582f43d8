//! HTTPS: the simulator serves TLS (rustls) when given a certificate chain and its key in PEM
//! files (`--tls-cert`, `--tls-key`), so clients reach it as they reach a courier on another
//! machine, trusting its CA.
//!
//! [`TlsListener`] hands the server (`connections`) connections whose TLS handshake is done.
//! Handshakes run in tasks of their own, each bounded by [`HANDSHAKE_TIMEOUT`], so a client that
//! connects and says nothing holds up no other; a connection counts towards the connection limit
//! from its handshake on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::connections::{self, Accept};

/// How long a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many handshaken connections wait for the server to take them.
const READY_QUEUE: usize = 64;

/// Why the TLS configuration cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be read or holds nothing usable.
    #[error("{}: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refuses the certificate and key.
    #[error("TLS certificate and key: {0}")]
    Config(#[from] rustls::Error),
}

/// The server configuration for the certificate chain in `cert` and the private key in `key`
/// (both PEM), with rustls's safe defaults (TLS 1.2 and 1.3) and ring's cryptography.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let pem_error = |path: &Path, reason: String| TlsError::Pem {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(cert, "no PEM certificate in it".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e.to_string()))?;
    // rustls 0.23.48 deprecates its ring provider because ring has no post-quantum key
    // exchange; the client (reqwest's rustls-tls) uses the same provider, so the two agree on
    // X25519 and the NIST curves. The aws-lc-rs provider would add X25519MLKEM768 at the cost of
    // a second C build.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    Ok(Arc::new(config))
}

/// A handshaken connection, its peer and its permit of the connection limit.
type Ready = (TlsStream<TcpStream>, SocketAddr, OwnedSemaphorePermit);

/// A listener whose connections speak TLS.
pub struct TlsListener {
    ready: mpsc::Receiver<Ready>,
    addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts connections on `tcp`, each taking one of `permits`, and completes their
    /// handshakes with `config`.
    pub fn new(
        tcp: TcpListener,
        config: Arc<ServerConfig>,
        permits: Arc<Semaphore>,
    ) -> std::io::Result<Self> {
        let addr = tcp.local_addr()?;
        let (send, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        let accepting = tokio::spawn(async move {
            loop {
                let permit = connections::acquire(&permits).await;
                let (stream, peer) = connections::accept_tcp(&tcp).await;
                let acceptor = acceptor.clone();
                let send = send.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = send.send((tls, peer, permit)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Accept for TlsListener {
    type Io = TlsStream<TcpStream>;

    async fn accept(&mut self) -> Ready {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task owns a sender for as long as it runs, and it runs until this
            // listener drops it.
            None => std::future::pending().await,
        }
    }
}

impl TlsListener {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}
