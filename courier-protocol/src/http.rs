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

use std::time::Duration;

use async_trait::async_trait;

use bacap::{BoxId, SealedBox, WriteCap};
use pigeonhole::store::{BoxStore, CopyStatus, ReadOutcome, StoreError, WriteOutcome};

use crate::wire::{self, Query, QueryId, Reply};

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

/// The HTTP client of a courier simulator.
#[derive(Debug, Clone)]
pub struct HttpStore {
    client: reqwest::Client,
    /// The query endpoint, parsed once rather than on every request.
    url: reqwest::Url,
    policy: RetryPolicy,
}

impl HttpStore {
    /// A client of the courier at `base_url` (such as `http://127.0.0.1:7800`) with the default
    /// retry policy.
    pub fn new(base_url: &str) -> Result<Self, StoreError> {
        Self::with_policy(base_url, RetryPolicy::default())
    }

    /// A client of the courier at `base_url` with this retry policy.
    pub fn with_policy(base_url: &str, policy: RetryPolicy) -> Result<Self, StoreError> {
        let client = reqwest::Client::builder()
            .timeout(policy.attempt_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build HTTP client: {e}")))?;
        let base = base_url.trim_end_matches('/');
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(StoreError::Unavailable(format!(
                "courier URL {base_url:?} is not an http(s) URL"
            )));
        }
        let url = format!("{base}{}", wire::QUERY_PATH);
        let url = reqwest::Url::parse(&url).map_err(|e| {
            StoreError::Unavailable(format!("courier URL {base_url:?} is not a valid URL: {e}"))
        })?;
        Ok(Self {
            client,
            url,
            policy: RetryPolicy {
                max_attempts: policy.max_attempts.max(1),
                ..policy
            },
        })
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
    /// with the same ID is how a lost reply is recovered.
    pub async fn query_with_id(
        &self,
        query_id: &QueryId,
        query: &Query,
    ) -> Result<Reply, StoreError> {
        let bytes = wire::encode_request(query_id, query);
        let mut last_error = String::new();
        for attempt in 0..self.policy.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.policy.backoff(attempt - 1)).await;
            }
            match self.send_once(bytes.clone()).await {
                Ok(reply) => return Ok(reply),
                Err(e) => {
                    tracing::debug!(attempt, error = %e, op = query.op_name(), "no reply, resending");
                    last_error = e;
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "no reply after {} attempts: {last_error}",
            self.policy.max_attempts
        )))
    }

    /// One attempt: `Ok` with the decoded reply, `Err` if no complete protocol reply arrived.
    async fn send_once(&self, body: Vec<u8>) -> Result<Reply, String> {
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, wire::CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("reply lost: {e}"))?;
        match wire::decode_reply(&bytes) {
            Ok(reply) => Ok(reply),
            // A reply without a protocol body (a proxy's error page, a server shutting down) is
            // treated like no reply at all: the query is resent.
            Err(e) => Err(format!("HTTP {status} without a protocol reply: {e}")),
        }
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
        assert!(HttpStore::new("127.0.0.1:80").is_err());
        assert!(HttpStore::new("http://[::1").is_err(), "unparsable host");
        assert!(HttpStore::new("http://127.0.0.1:80/").is_ok());
    }

    #[tokio::test]
    async fn unreachable_courier_is_unavailable_after_bounded_retries() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = HttpStore::with_policy(
            &format!("http://127.0.0.1:{port}"),
            RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
                attempt_timeout: Duration::from_secs(1),
            },
        )
        .unwrap();
        let err = store.read(&BoxId::from_array([0; 32])).await.unwrap_err();
        match err {
            StoreError::Unavailable(m) => assert!(m.contains("3 attempts"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
