//! The load generator's clients. Two speak the same wire protocol (`courier_protocol::wire`) over
//! HTTP/1.1 keep-alive and differ in what they cost the machine they share with the courier:
//!
//! - [`ClientKind::Lean`] (the default): one connection per writer or reader, opened before the
//!   clock starts, straight on hyper's connection API. A query is encoded, sent, answered and
//!   decoded, and nothing else happens: no pool, no redirect or proxy layers, no resends (a
//!   query that gets no reply within [`LEAN_TIMEOUT`] counts as an error). A connection that
//!   failed a query (or was closed) is dropped, and the task's next query opens a new one, as
//!   a client would, so that one stall of the courier does not turn the rest of a run into
//!   errors.
//! - [`ClientKind::Store`]: the client applications use, [`HttpStore`] (reqwest, with its
//!   connection pool, timeouts and resends), shared by every task.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use bacap::{BoxId, SealedBox};
use courier_protocol::wire::{self, Query};
use courier_protocol::{HttpStore, RetryPolicy};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use pigeonhole::store::{BoxStore, ReadOutcome, StoreError, WriteOutcome};

/// How long the lean client waits for a reply before counting the query as failed (the
/// application client's default attempt timeout), so that a run stays bounded in time even if
/// the courier stops answering.
pub const LEAN_TIMEOUT: Duration = Duration::from_secs(10);

/// Which client the load generator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// One hyper HTTP/1.1 connection per task, no pool, no resends.
    Lean,
    /// The application client, `courier_protocol::HttpStore` (reqwest), shared by every task.
    Store,
}

impl ClientKind {
    /// The name `--client` takes.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Lean => "lean",
            ClientKind::Store => "store",
        }
    }
}

/// Where the tasks of a run get their clients.
pub(crate) enum Connector {
    Lean { addr: SocketAddr, host: HeaderValue },
    Store(HttpStore),
}

impl Connector {
    /// A connector of `kind` for the courier at `url` (`http://host:port`, checked to be
    /// loopback by the caller).
    pub(crate) async fn new(kind: ClientKind, url: &str) -> anyhow::Result<Self> {
        Ok(match kind {
            ClientKind::Store => {
                let policy = RetryPolicy {
                    max_attempts: 3,
                    ..RetryPolicy::default()
                };
                Connector::Store(HttpStore::with_policy(url, policy)?)
            }
            ClientKind::Lean => {
                let authority = loopback_authority(url)?;
                let addr = tokio::net::lookup_host(authority)
                    .await
                    .with_context(|| format!("resolving {authority}"))?
                    .next()
                    .with_context(|| format!("{authority} resolves to no address"))?;
                let host = HeaderValue::from_str(authority)
                    .with_context(|| format!("{authority} is not a valid Host header"))?;
                Connector::Lean { addr, host }
            }
        })
    }

    /// A client for one task: a new connection (lean), or the shared store.
    pub(crate) async fn connect(&self) -> anyhow::Result<Client> {
        Ok(match self {
            Connector::Store(store) => Client::Store(store.clone()),
            Connector::Lean { addr, host } => Client::Lean(LeanConnection {
                send: Some(open(*addr).await?),
                addr: *addr,
                host: host.clone(),
                timeout: LEAN_TIMEOUT,
            }),
        })
    }

    /// Makes `sealed` ready to be written by this connector's clients: encoded into a request
    /// for the lean client, as it is for the application client.
    pub(crate) fn prepare_write(&self, sealed: SealedBox) -> PreparedWrite {
        match self {
            Connector::Store(_) => PreparedWrite::Box(sealed),
            Connector::Lean { .. } => PreparedWrite::Request(lean_request(&Query::Write(sealed))),
        }
    }

    /// The client every task shares, if it is the application client (whose pool a warm-up
    /// should fill before the clock starts).
    pub(crate) fn shared_store(&self) -> Option<&HttpStore> {
        match self {
            Connector::Store(store) => Some(store),
            Connector::Lean { .. } => None,
        }
    }
}

/// Opens an HTTP/1.1 connection to `addr`.
async fn open(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true)?;
    let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .context("HTTP/1.1 handshake")?;
    // Drives the connection; it ends when its `SendRequest` is dropped or the courier closes it.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

/// One task's client.
pub(crate) enum Client {
    Lean(LeanConnection),
    Store(HttpStore),
}

impl Client {
    /// Writes a box.
    pub(crate) async fn write(&mut self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError> {
        match self {
            Client::Store(store) => store.write(sealed).await,
            Client::Lean(c) => {
                write_outcome(&c.query(lean_request(&Query::Write(sealed.clone()))).await?)
            }
        }
    }

    /// Writes a box prepared by [`Connector::prepare_write`].
    pub(crate) async fn write_prepared(
        &mut self,
        write: &PreparedWrite,
    ) -> Result<WriteOutcome, StoreError> {
        match (self, write) {
            (Client::Lean(c), PreparedWrite::Request(body)) => {
                write_outcome(&c.query(body.clone()).await?)
            }
            (client, PreparedWrite::Box(sealed)) => client.write(sealed).await,
            (Client::Store(_), PreparedWrite::Request(_)) => Err(StoreError::Protocol(
                "the application client sends boxes, not prepared requests".into(),
            )),
        }
    }

    /// Reads a batch of boxes and decodes the reply (the readers of a run use
    /// [`Client::read_reply`]).
    #[cfg(test)]
    pub(crate) async fn read_many(
        &mut self,
        ids: &[BoxId],
    ) -> Result<Vec<ReadOutcome>, StoreError> {
        self.read_reply(ids).await?.into_outcomes(ids)
    }

    /// Reads a batch of boxes, leaving the reply undecoded where the client can (lean), so that
    /// a caller that knows what to expect can compare bytes instead of decoding them.
    pub(crate) async fn read_reply(&mut self, ids: &[BoxId]) -> Result<ReadReply, StoreError> {
        match self {
            Client::Store(store) => Ok(ReadReply::Outcomes(store.read_many(ids).await?)),
            Client::Lean(c) => Ok(ReadReply::Body(
                c.query(lean_request(&Query::Read(ids.to_vec()))).await?,
            )),
        }
    }
}

/// The body of a lean client's request for `query`, under a fresh random query ID (the lean
/// client never resends, so every request is a new query).
fn lean_request(query: &Query) -> Bytes {
    Bytes::from(wire::encode_request(&wire::fresh_query_id(), query))
}

/// A write made ready before a run's clock starts.
pub(crate) enum PreparedWrite {
    /// The box, for the application client (which encodes it, and resends under one query ID).
    Box(SealedBox),
    /// The whole request body under its own fresh query ID, for the lean client: the clock
    /// then measures the courier, not the encoding of requests or the drawing of query IDs.
    Request(Bytes),
}

/// The outcome of a write from its reply body.
fn write_outcome(body: &[u8]) -> Result<WriteOutcome, StoreError> {
    wire::decode_reply(body)?.into_write_outcome()
}

/// A batch read's reply as a client got it.
pub(crate) enum ReadReply {
    /// The reply body, not yet decoded (the lean client).
    Body(Bytes),
    /// The outcomes, decoded (the application client).
    Outcomes(Vec<ReadOutcome>),
}

impl ReadReply {
    /// The outcome for each of `ids`, the IDs the read asked for, in order.
    pub(crate) fn into_outcomes(self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        match self {
            ReadReply::Body(body) => wire::decode_reply(&body)?.into_read_outcomes(ids),
            ReadReply::Outcomes(outcomes) => Ok(outcomes),
        }
    }
}

/// One HTTP/1.1 connection of the lean client.
pub(crate) struct LeanConnection {
    /// The open connection; `None` after a failed query, until the next one opens another.
    send: Option<SendRequest<Full<Bytes>>>,
    addr: SocketAddr,
    host: HeaderValue,
    /// [`LEAN_TIMEOUT`], shorter in tests.
    timeout: Duration,
}

impl LeanConnection {
    /// Sends an encoded query (`body`, see [`wire::encode_request`]) and returns the reply
    /// body, or fails after [`LEAN_TIMEOUT`] (opening a new connection first if the last query
    /// failed). A query that failed in transport leaves no connection behind: its request may
    /// still be in flight, and a late reply must not be taken for the next query's.
    async fn query(&mut self, body: Bytes) -> Result<Bytes, StoreError> {
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, self.exchange(body))
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "no reply within {timeout:?}"
                )))
            });
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.send = None;
        }
        result
    }

    async fn exchange(&mut self, body: Bytes) -> Result<Bytes, StoreError> {
        let lost = |e: hyper::Error| StoreError::Unavailable(format!("no reply: {e}"));
        let send = match &mut self.send {
            Some(send) if !send.is_closed() => send,
            _ => self.send.insert(
                open(self.addr)
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("reconnecting: {e:#}")))?,
            ),
        };
        let request = Request::post(wire::QUERY_PATH)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(wire::CONTENT_TYPE))
            .body(Full::new(body))
            .map_err(|e| StoreError::Protocol(format!("building a request: {e}")))?;
        send.ready().await.map_err(lost)?;
        let response = send.send_request(request).await.map_err(lost)?;
        Ok(response
            .into_body()
            .collect()
            .await
            .map_err(lost)?
            .to_bytes())
    }
}

/// The authority (`host:port`) of `url`, checked to be an `http://` URL of a loopback address.
pub fn loopback_authority(url: &str) -> anyhow::Result<&str> {
    let rest = url
        .strip_prefix("http://")
        .context("the load generator only speaks plain http:// to loopback")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("{url} is not a loopback address: the load generator only loads this machine");
    }
    Ok(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_loaded() {
        for ok in [
            "http://127.0.0.1:7800",
            "http://127.3.2.1:1/",
            "http://localhost:80",
            "http://[::1]:7800",
        ] {
            assert!(loopback_authority(ok).is_ok(), "{ok}");
            assert_eq!(
                loopback_authority("http://127.0.0.1:7800/").unwrap(),
                "127.0.0.1:7800"
            );
            assert_eq!(
                loopback_authority("http://[::1]:7800").unwrap(),
                "[::1]:7800"
            );
        }
        for bad in [
            "http://10.0.0.1:7800",
            "http://192.168.1.2",
            "http://example.com",
            "https://127.0.0.1",
            "127.0.0.1:7800",
        ] {
            assert!(loopback_authority(bad).is_err(), "{bad}");
        }
    }
    use courier_sim::Config;
    use pigeonhole_suite::fresh_boxes;

    async fn client(kind: ClientKind, url: &str) -> Client {
        Connector::new(kind, url)
            .await
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_lean_client_gets_the_same_answers_as_the_application_client() {
        let server = courier_sim::serve(Config::ephemeral()).await.unwrap();
        let url = server.url();
        let (_, boxes) = fresh_boxes(3, 50);
        let mut lean = client(ClientKind::Lean, &url).await;
        let mut store = client(ClientKind::Store, &url).await;
        assert_eq!(lean.write(&boxes[0]).await.unwrap(), WriteOutcome::Stored);
        assert_eq!(store.write(&boxes[1]).await.unwrap(), WriteOutcome::Stored);
        for client in [&mut lean, &mut store] {
            assert_eq!(
                client.write(&boxes[0]).await.unwrap(),
                WriteOutcome::AlreadyExists { identical: true }
            );
            let mut forged = boxes[2].clone();
            forged.payload[0] ^= 1;
            assert!(
                client.write(&forged).await.is_err(),
                "a box whose signature does not verify is refused"
            );
            let ids: Vec<BoxId> = boxes.iter().map(|b| b.box_id).collect();
            let read = client.read_many(&ids).await.unwrap();
            assert_eq!(
                read,
                vec![
                    ReadOutcome::Found(boxes[0].clone()),
                    ReadOutcome::Found(boxes[1].clone()),
                    ReadOutcome::NotFound
                ]
            );
        }
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn prepared_writes_are_written_by_the_client_they_were_prepared_for() {
        let server = courier_sim::serve(Config::ephemeral()).await.unwrap();
        let url = server.url();
        let (_, boxes) = fresh_boxes(3, 70);
        let lean = Connector::new(ClientKind::Lean, &url).await.unwrap();
        let store = Connector::new(ClientKind::Store, &url).await.unwrap();
        let mut lean_client = lean.connect().await.unwrap();
        let mut store_client = store.connect().await.unwrap();
        let request = lean.prepare_write(boxes[0].clone());
        assert!(matches!(request, PreparedWrite::Request(_)));
        assert_eq!(
            lean_client.write_prepared(&request).await.unwrap(),
            WriteOutcome::Stored
        );
        // Each preparation draws its own query ID: a second one is a new query, not a resend
        // answered from the dedup cache.
        let again = lean.prepare_write(boxes[0].clone());
        assert_eq!(
            lean_client.write_prepared(&again).await.unwrap(),
            WriteOutcome::AlreadyExists { identical: true }
        );
        let sealed = store.prepare_write(boxes[1].clone());
        assert!(matches!(sealed, PreparedWrite::Box(_)));
        assert_eq!(
            store_client.write_prepared(&sealed).await.unwrap(),
            WriteOutcome::Stored
        );
        assert!(matches!(
            store_client
                .write_prepared(&lean.prepare_write(boxes[2].clone()))
                .await,
            Err(StoreError::Protocol(_))
        ));
        let ids: Vec<BoxId> = boxes.iter().map(|b| b.box_id).collect();
        assert_eq!(
            lean_client.read_many(&ids).await.unwrap(),
            vec![
                ReadOutcome::Found(boxes[0].clone()),
                ReadOutcome::Found(boxes[1].clone()),
                ReadOutcome::NotFound
            ],
            "the refused prepared write wrote nothing"
        );
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_lean_client_without_a_courier_fails_clearly() {
        assert!(Connector::new(ClientKind::Lean, "ftp://127.0.0.1:1")
            .await
            .is_err());
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let connector = Connector::new(ClientKind::Lean, &format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        let err = connector.connect().await.err().expect("nothing listens");
        assert!(err.to_string().contains("connecting to"), "{err:#}");
    }

    #[tokio::test]
    async fn a_lean_client_opens_a_new_connection_after_a_query_failed() {
        let server = courier_sim::serve(Config::ephemeral()).await.unwrap();
        let courier = server.addr();
        // The first connection is held and never answered; later ones are passed to the courier.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = tokio::spawn(async move {
            let (silent, _) = listener.accept().await.unwrap();
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(courier).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                let _ = &silent;
            }
        });
        let (_, boxes) = fresh_boxes(1, 60);
        let mut client = client(ClientKind::Lean, &url).await;
        let Client::Lean(lean) = &mut client else {
            panic!("a lean connector gives lean clients");
        };
        lean.timeout = Duration::from_millis(200);
        let err = client.write(&boxes[0]).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Unavailable(ref m) if m.contains("no reply within")),
            "{err:?}"
        );
        assert_eq!(client.write(&boxes[0]).await.unwrap(), WriteOutcome::Stored);
        assert_eq!(
            client.read_many(&[boxes[0].box_id]).await.unwrap(),
            vec![ReadOutcome::Found(boxes[0].clone())]
        );
        proxy.abort();
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_lean_query_that_gets_no_reply_fails_in_bounded_time() {
        // Accepts connections and reads requests, but never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                held.push(socket);
            }
        });
        let connector = Connector::new(ClientKind::Lean, &url).await.unwrap();
        let mut client = connector.connect().await.unwrap();
        let Client::Lean(lean) = &mut client else {
            panic!("a lean connector gives lean clients");
        };
        lean.timeout = Duration::from_millis(200);
        let err = client
            .read_many(&[BoxId::from_array([1; 32])])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Unavailable(ref m) if m.contains("no reply within")),
            "{err:?}"
        );
        silent.abort();
    }
}
