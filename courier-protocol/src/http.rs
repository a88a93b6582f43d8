//! A [`BoxStore`] that talks to a courier simulator over HTTP, as a client talks to a courier
//! through the mixnet: it resends an identical query until a reply arrives.
//!
//! Every logical query gets a fresh random query ID; every resend of it carries exactly the same
//! bytes, so the courier answers resends from its deduplication cache and a write whose reply
//! was lost is not reported as "already exists" when the resend gets through. Transport errors
//! (refused or dropped connections, a reply cut off, a timeout) are retried with exponential
//! backoff, up to a bounded number of attempts, then reported as [`StoreError::Unavailable`].
//! A reply that arrives but does not follow the protocol is [`StoreError::Protocol`] and is not
//! retried.
//!
//! A reply body is read piece by piece and never beyond [`MAX_REPLY_LEN`] bytes (or the limit
//! of [`HttpStore::with_max_reply_len`]): a courier that announces or sends more is cut off with
//! [`StoreError::Protocol`], so a hostile server cannot make the client hold more than that.
//!
//! `https://` couriers are reached with rustls, trusting the web's root CAs and any CA of
//! [`Trust::extra_roots_pem`]; a certificate that does not verify is [`StoreError::Untrusted`],
//! at once, without resending. Plain `http://` is accepted only to loopback addresses (the
//! bundled simulator), unless [`Trust::insecure_http`] says otherwise: beyond this machine
//! anyone on the path could read and change the queries.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

use bacap::{BoxId, SealedBox, WriteCap};
use pigeonhole::store::{BoxStore, CopyStatus, ReadOutcome, StoreError, WriteOutcome};

use crate::wire::{self, Query, QueryId, Reply};

/// The most bytes of one reply body the client reads by default: 8 MiB. The largest legitimate
/// reply is a batch read of [`MAX_READ_BATCH`](wire::MAX_READ_BATCH) (4096) boxes of the
/// Katzenpost geometry, each result a 1,576-byte payload, a 64-byte signature and about 40
/// bytes of CBOR around them, under 7 MiB in all; the rest is headroom. A courier configured
/// with larger boxes needs [`HttpStore::with_max_reply_len`].
pub const MAX_REPLY_LEN: usize = 8 << 20;

/// How persistently a query is resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most times one query is sent (at least 1).
    pub max_attempts: u32,
    /// The wait before the first resend; it doubles after each failed attempt.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// How long one attempt may take before it counts as lost.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (counting from 0).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// How many refused connections in a row, with nothing sent, make a courier unreachable.
const CONNECT_ATTEMPTS: u32 = 3;

/// Whom the client trusts to be the courier, and which plain-HTTP couriers it accepts.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// PEM certificates of CAs to trust besides the web's roots: a private CA, or a courier's
    /// self-signed certificate.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Accept `http://` to any address. Without it, plain HTTP is accepted only to loopback
    /// addresses (`127.0.0.0/8`, `::1`, `localhost`).
    pub insecure_http: bool,
}

/// Why a client of a courier cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not an `http://` or `https://` URL.
    #[error("courier URL {0:?} is not an http(s) URL")]
    NotHttp(String),
    /// The URL does not parse.
    #[error("courier URL {url:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Plain HTTP to an address beyond loopback, without [`Trust::insecure_http`].
    #[error(
        "courier URL {0} is plain HTTP to a host beyond this machine, where anyone on the path \
         could read and change what is sent; use https://"
    )]
    PlainHttpBeyondLoopback(String),
    /// The extra CA certificates do not load.
    #[error("courier CA certificate: {0}")]
    Ca(String),
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Whether `url`'s host is this machine: a loopback IP address or `localhost`.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// The HTTP client of a courier simulator.
#[derive(Debug, Clone)]
pub struct HttpStore {
    client: reqwest::Client,
    /// The query endpoint, parsed once rather than on every request.
    url: reqwest::Url,
    policy: RetryPolicy,
    /// The most bytes of one reply body read before the reply is refused.
    max_reply_len: usize,
}

impl HttpStore {
    /// A client of the courier at `base_url` (such as `http://127.0.0.1:7800`) with the default
    /// retry policy and trust.
    pub fn new(base_url: &str) -> Result<Self, ConnectError> {
        Self::with_policy(base_url, RetryPolicy::default())
    }

    /// A client of the courier at `base_url` with this retry policy and the default trust.
    pub fn with_policy(base_url: &str, policy: RetryPolicy) -> Result<Self, ConnectError> {
        Self::connect(base_url, policy, &Trust::default())
    }

    /// A client of the courier at `base_url` with this retry policy, trusting as `trust` says.
    pub fn connect(
        base_url: &str,
        policy: RetryPolicy,
        trust: &Trust,
    ) -> Result<Self, ConnectError> {
        let base = base_url.trim_end_matches('/');
        let https = base.starts_with("https://");
        if !https && !base.starts_with("http://") {
            return Err(ConnectError::NotHttp(base_url.to_owned()));
        }
        let url = format!("{base}{}", wire::QUERY_PATH);
        let url = reqwest::Url::parse(&url).map_err(|e| ConnectError::InvalidUrl {
            url: base_url.to_owned(),
            reason: e.to_string(),
        })?;
        if !https && !trust.insecure_http && !is_loopback(&url) {
            return Err(ConnectError::PlainHttpBeyondLoopback(base.to_owned()));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(policy.attempt_timeout)
            .tcp_nodelay(true);
        if let Some(pem) = &trust.extra_roots_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ConnectError::Ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ConnectError::Ca("no PEM certificate in it".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| ConnectError::Client(e.to_string()))?;
        Ok(Self {
            client,
            url,
            policy: RetryPolicy {
                max_attempts: policy.max_attempts.max(1),
                ..policy
            },
            max_reply_len: MAX_REPLY_LEN,
        })
    }

    /// The same client, reading at most `max` bytes of a reply body instead of
    /// [`MAX_REPLY_LEN`].
    pub fn with_max_reply_len(mut self, max: usize) -> Self {
        self.max_reply_len = max;
        self
    }

    /// The most bytes of a reply body this client reads.
    pub fn max_reply_len(&self) -> usize {
        self.max_reply_len
    }

    /// The retry policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Sends `query` under a fresh query ID until a reply arrives or the attempts run out.
    pub async fn query(&self, query: &Query) -> Result<Reply, StoreError> {
        self.query_with_id(&wire::fresh_query_id(), query).await
    }

    /// Sends `query` under `query_id` until a reply arrives or the attempts run out. Resending
    /// with the same ID is how a lost reply is recovered. A courier whose certificate does not
    /// verify is not asked again.
    pub async fn query_with_id(
        &self,
        query_id: &QueryId,
        query: &Query,
    ) -> Result<Reply, StoreError> {
        let bytes = wire::encode_request(query_id, query);
        let mut last_error = String::new();
        let mut sent = false;
        let mut refused = 0;
        for attempt in 0..self.policy.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.policy.backoff(attempt - 1)).await;
            }
            match self.send_once(bytes.clone()).await {
                Ok(reply) => return Ok(reply),
                Err(Failure::Untrusted(e)) => return Err(StoreError::Untrusted(e)),
                Err(Failure::NoConnection(e)) => {
                    tracing::debug!(attempt, error = %e, op = query.op_name(), "cannot connect");
                    last_error = e;
                    refused += 1;
                    // A courier that refuses connections is down: the caller keeps the
                    // operation for later rather than wait out the whole retry budget.
                    if refused >= CONNECT_ATTEMPTS && !sent {
                        break;
                    }
                }
                Err(Failure::TooLarge(e)) => return Err(StoreError::Protocol(e)),
                Err(Failure::NoReply(e)) => {
                    tracing::debug!(attempt, error = %e, op = query.op_name(), "no reply, resending");
                    last_error = e;
                    sent = true;
                }
            }
        }
        if sent {
            Err(StoreError::Unavailable(format!(
                "no reply after {} attempts: {last_error}",
                self.policy.max_attempts
            )))
        } else {
            Err(StoreError::Unreachable(format!(
                "cannot connect: {last_error}"
            )))
        }
    }

    /// One attempt: `Ok` with the decoded reply, `Err` if no complete protocol reply arrived.
    async fn send_once(&self, body: Vec<u8>) -> Result<Reply, Failure> {
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, wire::CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| match certificate_error(&e) {
                Some(why) => Failure::Untrusted(format!(
                    "the TLS certificate of {} is rejected: {why}",
                    self.url.origin().ascii_serialization()
                )),
                None if e.is_connect() => Failure::NoConnection(chain(&e)),
                None => Failure::NoReply(format!("request failed: {}", chain(&e))),
            })?;
        let status = response.status();
        let bytes = self.read_body(response).await?;
        match wire::decode_reply(&bytes) {
            Ok(reply) => Ok(reply),
            // A reply without a protocol body (a proxy's error page, a server shutting down) is
            // treated like no reply at all: the query is resent.
            Err(e) => Err(Failure::NoReply(format!(
                "HTTP {status} without a protocol reply: {e}"
            ))),
        }
    }
}

impl HttpStore {
    /// The body of `response`, read chunk by chunk up to [`HttpStore::max_reply_len`] bytes: a
    /// longer body, announced or sent, is refused as soon as it shows.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
        let max = self.max_reply_len;
        let too_large = |len: String| {
            Failure::TooLarge(format!(
                "the courier's reply is {len} bytes, more than the {max} a reply may have; \
                 refused"
            ))
        };
        let announced = response.content_length();
        if let Some(len) = announced.filter(|len| *len > max as u64) {
            return Err(too_large(len.to_string()));
        }
        // Reserve what the courier announced (within the limit), else grow as chunks arrive.
        let mut body = Vec::with_capacity(announced.map_or(0, |len| len as usize));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::NoReply(format!("reply lost: {}", chain(&e))))?
        {
            if chunk.len() > max - body.len() {
                return Err(too_large(format!("over {}", body.len() + chunk.len())));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Why one attempt got no reply.
enum Failure {
    /// No connection could be made, so nothing was sent.
    NoConnection(String),
    /// Nothing (complete) came back: resend.
    NoReply(String),
    /// The courier's certificate does not verify: resending cannot help.
    Untrusted(String),
    /// The reply is longer than any reply of the protocol: resending cannot help.
    TooLarge(String),
}

/// The errors under `e`, each once, as one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// What rustls found wrong with the server's certificate, if that is why `e` happened.
fn certificate_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    match rustls_error(e)? {
        rustls::Error::InvalidCertificate(why) => Some(describe(why)),
        rustls::Error::InvalidCertRevocationList(why) => Some(format!("revocation list: {why:?}")),
        _ => None,
    }
}

/// The rustls error under `e`, if any. The connector wraps it in an `io::Error` inside another
/// `io::Error`, and `io::Error::source` skips the error it wraps, so those are opened by hand.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if let Some(tls) = rustls_error(inner) {
            return Some(tls);
        }
    }
    e.source().and_then(rustls_error)
}

/// A certificate error in words.
fn describe(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError::*;
    match e {
        UnknownIssuer => "signed by a CA that is not trusted".into(),
        BadSignature => "its signature is invalid".into(),
        Expired | ExpiredContext { .. } => "expired".into(),
        NotValidYet | NotValidYetContext { .. } => "not valid yet".into(),
        Revoked => "revoked".into(),
        NotValidForName | NotValidForNameContext { .. } => "not valid for this host name".into(),
        other => format!("{other:?}"),
    }
}

#[async_trait]
impl BoxStore for HttpStore {
    async fn write(&self, sealed: &SealedBox) -> Result<WriteOutcome, StoreError> {
        self.query(&Query::Write(sealed.clone()))
            .await?
            .into_write_outcome()
    }

    async fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadOutcome>, StoreError> {
        self.query(&Query::Read(ids.to_vec()))
            .await?
            .into_read_outcomes(ids)
    }

    async fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, StoreError> {
        self.query(&Query::Copy(temp.clone()))
            .await?
            .into_copy_status()
    }

    async fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, StoreError> {
        self.query(&Query::CopyStatus(*key))
            .await?
            .into_copy_status_query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            attempt_timeout: Duration::from_secs(1),
        };
        let waits: Vec<_> = (0..5).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 50, 50]);
        assert_eq!(p.backoff(1000), Duration::from_millis(50));
    }

    #[test]
    fn rejects_non_http_urls() {
        assert!(matches!(
            HttpStore::new("127.0.0.1:80"),
            Err(ConnectError::NotHttp(_))
        ));
        assert!(matches!(
            HttpStore::new("http://[::1"),
            Err(ConnectError::InvalidUrl { .. })
        ));
        assert!(HttpStore::new("http://127.0.0.1:80/").is_ok());
    }

    #[test]
    fn plain_http_only_to_loopback_unless_insecure() {
        for ok in [
            "http://127.0.0.1:7800",
            "http://127.3.4.5",
            "http://[::1]:7800/",
            "http://localhost:7800",
            "http://LOCALHOST.",
            "http://courier.localhost",
            "https://courier.example",
            "https://10.1.2.3:7800",
        ] {
            assert!(HttpStore::new(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://10.1.2.3:7800",
            "http://192.168.0.1",
            "http://[fe80::1]:7800",
            "http://courier.example",
            "http://localhost.example.com",
            "http://0.0.0.0:7800",
        ] {
            assert_eq!(
                HttpStore::new(refused).unwrap_err(),
                ConnectError::PlainHttpBeyondLoopback(refused.to_owned()),
            );
            let insecure = Trust {
                insecure_http: true,
                ..Trust::default()
            };
            assert!(
                HttpStore::connect(refused, RetryPolicy::default(), &insecure).is_ok(),
                "{refused}"
            );
        }
    }

    #[test]
    fn an_extra_ca_must_hold_a_pem_certificate() {
        for bad in [&b""[..], b"not a certificate\n"] {
            let trust = Trust {
                extra_roots_pem: Some(bad.to_vec()),
                ..Trust::default()
            };
            assert!(matches!(
                HttpStore::connect("https://127.0.0.1:1", RetryPolicy::default(), &trust),
                Err(ConnectError::Ca(_))
            ));
        }
    }

    #[test]
    fn a_certificate_error_is_found_under_nested_io_errors() {
        use std::io::{Error, ErrorKind};
        // As the rustls connector reports it: rustls's error in an io::Error in another.
        let why = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested = Error::other(Error::new(ErrorKind::InvalidData, why));
        assert_eq!(
            certificate_error(&nested).as_deref(),
            Some("signed by a CA that is not trusted")
        );
        let other = Error::other(Error::new(ErrorKind::InvalidData, "reset"));
        assert_eq!(certificate_error(&other), None);
        let handshake = Error::other(rustls::Error::HandshakeNotComplete);
        assert_eq!(certificate_error(&handshake), None);
    }

    #[tokio::test]
    async fn a_courier_that_refuses_connections_is_unreachable_after_three_tries() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = HttpStore::with_policy(
            &format!("http://127.0.0.1:{port}"),
            RetryPolicy {
                max_attempts: 10,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
                attempt_timeout: Duration::from_secs(1),
            },
        )
        .unwrap();
        let err = store.read(&BoxId::from_array([0; 32])).await.unwrap_err();
        match err {
            StoreError::Unreachable(m) => assert!(m.contains("cannot connect"), "{m}"),
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }
}
