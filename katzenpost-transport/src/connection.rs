//! One thin-client connection to kpclientd: a task writing request frames, a task reading
//! response frames and handing each to whoever waits for its query or message ID, and the
//! daemon's state as its events tell it (connected or not, the courier of the latest PKI
//! document).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pigeonhole::store::StoreError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::config::DaemonAddr;
use crate::pki::{self, Courier};
use crate::wire::{self, Id, Request, Response};

/// The daemon as this connection last heard from it.
#[derive(Debug, Clone, Default)]
struct State {
    /// Whether a `connection_status_event` arrived yet, and what it said.
    status: Option<bool>,
    /// The courier of the latest PKI document that names one.
    courier: Option<Courier>,
    /// Why the connection is gone, once it is.
    closed: Option<String>,
}

type Waiters = Mutex<HashMap<Id, mpsc::UnboundedSender<Response>>>;

/// A live connection to kpclientd.
pub struct Connection {
    addr: DaemonAddr,
    out: mpsc::UnboundedSender<Zeroizing<Vec<u8>>>,
    waiters: Arc<Waiters>,
    state: watch::Receiver<State>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

/// The responses about one query or message ID, until dropped.
pub struct Subscription {
    id: Id,
    rx: mpsc::UnboundedReceiver<Response>,
    waiters: Arc<Waiters>,
}

impl Subscription {
    /// The next response about this ID, `None` if none came within `timeout`, an error if the
    /// connection closed.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Response>, StoreError> {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Ok(Some(r)) => Ok(Some(r)),
            Ok(None) => Err(StoreError::Unavailable(
                "the connection to kpclientd closed".into(),
            )),
            Err(_) => Ok(None),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.waiters).remove(&self.id);
    }
}

fn lock(w: &Waiters) -> std::sync::MutexGuard<'_, HashMap<Id, mpsc::UnboundedSender<Response>>> {
    w.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh random query or message ID.
pub fn fresh_id() -> Id {
    let mut id = [0; wire::ID_LEN];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    id
}

impl Connection {
    /// Connects to the daemon at `addr` and waits, up to `timeout`, until it says it is
    /// connected to the mixnet and has sent a PKI document naming a courier.
    pub async fn open(addr: &DaemonAddr, timeout: Duration) -> Result<Self, StoreError> {
        let unreachable = |e: std::io::Error| {
            StoreError::Unreachable(format!("cannot connect to kpclientd at {addr}: {e}"))
        };
        let connect = async {
            Ok::<_, std::io::Error>(match addr {
                DaemonAddr::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str()).await?;
                    s.set_nodelay(true)?;
                    let (r, w) = s.into_split();
                    (
                        Box::new(r) as Box<dyn AsyncRead + Send + Unpin>,
                        Box::new(w) as Box<dyn AsyncWrite + Send + Unpin>,
                    )
                }
                DaemonAddr::Unix(p) => {
                    let (r, w) = tokio::net::UnixStream::connect(p).await?.into_split();
                    (
                        Box::new(r) as Box<dyn AsyncRead + Send + Unpin>,
                        Box::new(w) as Box<dyn AsyncWrite + Send + Unpin>,
                    )
                }
            })
        };
        let (read, write) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!("connecting to kpclientd at {addr} timed out"))
            })?
            .map_err(unreachable)?;

        let (out, out_rx) = mpsc::unbounded_channel();
        let waiters: Arc<Waiters> = Arc::default();
        let (state_tx, state) = watch::channel(State::default());
        let writer = tokio::spawn(write_frames(write, out_rx));
        let reader = tokio::spawn(read_frames(read, waiters.clone(), state_tx));
        let conn = Self {
            addr: addr.clone(),
            out,
            waiters,
            state,
            reader,
            writer,
        };
        conn.wait_ready(timeout).await?;
        Ok(conn)
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<(), StoreError> {
        let mut state = self.state.clone();
        let ready = async move {
            state
                .wait_for(|s| s.closed.is_some() || (s.status == Some(true) && s.courier.is_some()))
                .await
                .map(|s| s.closed.clone())
        };
        match tokio::time::timeout(timeout, ready).await {
            Ok(Ok(closed)) => match closed {
                Some(why) => Err(StoreError::Unavailable(why)),
                None => Ok(()),
            },
            Ok(Err(_)) => Err(StoreError::Unavailable(
                "the connection to kpclientd closed".into(),
            )),
            Err(_) => {
                let s = self.state.borrow();
                Err(StoreError::Unavailable(match (s.status, &s.courier) {
                    (Some(false), _) => format!(
                        "kpclientd at {} is not connected to the mixnet (waited {} s)",
                        self.addr,
                        timeout.as_secs()
                    ),
                    (_, None) => format!(
                        "kpclientd at {} sent no PKI document naming a courier within {} s",
                        self.addr,
                        timeout.as_secs()
                    ),
                    _ => format!("kpclientd at {} did not answer", self.addr),
                }))
            }
        }
    }

    /// Whether the connection is gone (the daemon closed it, or a frame was malformed).
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed.is_some() || self.out.is_closed()
    }

    /// The courier of the latest PKI document.
    pub fn courier(&self) -> Result<Courier, StoreError> {
        let s = self.state.borrow();
        if let Some(why) = &s.closed {
            return Err(StoreError::Unavailable(why.clone()));
        }
        s.courier
            .clone()
            .ok_or_else(|| StoreError::Unavailable("kpclientd named no courier".into()))
    }

    /// Starts receiving the responses about `id`.
    pub fn subscribe(&self, id: Id) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.waiters).insert(id, tx);
        Subscription {
            id,
            rx,
            waiters: self.waiters.clone(),
        }
    }

    /// Queues a request for the daemon.
    pub fn send(&self, request: &Request<'_>) -> Result<(), StoreError> {
        self.out
            .send(request.to_frame())
            .map_err(|_| StoreError::Unavailable("the connection to kpclientd closed".into()))
    }

    /// Sends a request and waits up to `timeout` for the first response about `id`.
    pub async fn call(
        &self,
        id: Id,
        request: &Request<'_>,
        timeout: Duration,
    ) -> Result<Response, StoreError> {
        let mut sub = self.subscribe(id);
        self.send(request)?;
        sub.next(timeout).await?.ok_or_else(|| {
            StoreError::Unavailable(format!(
                "kpclientd at {} did not answer within {} s",
                self.addr,
                timeout.as_secs()
            ))
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer sends the goodbye and stops once this sender is gone.
        let _ = self.out.send(Request::ThinClose.to_frame());
        self.reader.abort();
        let _ = &self.writer;
    }
}

async fn write_frames(
    mut w: Box<dyn AsyncWrite + Send + Unpin>,
    mut frames: mpsc::UnboundedReceiver<Zeroizing<Vec<u8>>>,
) {
    while let Some(frame) = frames.recv().await {
        if w.write_all(&frame).await.is_err() || w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_frames(
    mut r: Box<dyn AsyncRead + Send + Unpin>,
    waiters: Arc<Waiters>,
    state: watch::Sender<State>,
) {
    let why = loop {
        let mut prefix = [0; 4];
        if let Err(e) = r.read_exact(&mut prefix).await {
            break format!("kpclientd closed the connection ({e})");
        }
        let len = match wire::frame_len(prefix) {
            Ok(len) => len,
            Err(e) => break format!("bad frame from kpclientd: {e}"),
        };
        let mut body = Zeroizing::new(vec![0; len]);
        if let Err(e) = r.read_exact(&mut body).await {
            break format!("kpclientd closed the connection inside a frame ({e})");
        }
        let response = match wire::decode_response(&body) {
            Ok(r) => r,
            Err(e) => break format!("malformed response from kpclientd: {e}"),
        };
        match response {
            Response::ConnectionStatus { connected } => {
                state.send_modify(|s| s.status = Some(connected));
            }
            Response::PkiDocument(doc) => {
                // A document without a courier leaves the last one that had it.
                if let Ok(c) = pki::courier(&doc) {
                    state.send_modify(|s| s.courier = Some(c));
                }
            }
            other => {
                let Some(id) = other.id().copied() else {
                    continue;
                };
                if let Some(tx) = lock(&waiters).get(&id) {
                    let _ = tx.send(other);
                }
            }
        }
    };
    state.send_modify(|s| s.closed = Some(why));
    // Every waiter learns that nothing more will come.
    lock(&waiters).clear();
}
