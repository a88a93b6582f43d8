//! The HTTP routes: the CBOR query endpoint, `/metrics`, `/healthz` and the replica admin
//! endpoints.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use courier_protocol::wire::{self, Query, Reply, WireCopyStatus};
use pigeonhole::padding::PaddedGeometry;
use pigeonhole::store::{payload_refusal, CopyStatus, ReplyCode, WriteOutcome};

use crate::dedup::{query_hash, CachedReply, Dedup};
use crate::faults::Faults;
use crate::metrics::{BoxRead, Metrics};
use crate::storage::Storage;
use crate::verifier::Verifier;

/// Everything the routes share.
pub struct App {
    /// The replicas' storage.
    pub storage: Arc<Storage>,
    /// Replies by query hash.
    pub dedup: Dedup,
    /// The signature checks of writes.
    pub verifier: Arc<Verifier>,
    /// The simulated mixnet.
    pub faults: Faults,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// The box sizes: every payload has the one padded size, or is empty.
    pub geometry: PaddedGeometry,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
}

/// The router of a simulator.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(wire::QUERY_PATH, post(query))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/admin/replicas", get(list_replicas))
        .route("/admin/replicas/{replica}/{state}", post(set_replica))
        .with_state(app)
}

/// The metrics label of a reply code.
pub fn outcome_label(code: ReplyCode) -> &'static str {
    use ReplyCode::*;
    match code {
        Success => "success",
        NotFound => "not_found",
        InvalidBoxId => "invalid_box_id",
        InvalidSignature => "invalid_signature",
        DatabaseFailure => "database_failure",
        InvalidPayload => "invalid_payload",
        StorageFull => "storage_full",
        InternalError => "internal_error",
        InvalidEpoch => "invalid_epoch",
        ReplicationFailed => "replication_failed",
        AlreadyExists => "already_exists",
        Tombstone => "tombstone",
    }
}

/// The metrics label of an accepted write's outcome.
fn write_label(outcome: WriteOutcome) -> &'static str {
    match outcome {
        WriteOutcome::Stored => "success",
        WriteOutcome::AlreadyExists { identical: true } => "already_exists_identical",
        WriteOutcome::AlreadyExists { identical: false } => "already_exists_different",
        WriteOutcome::Tombstoned => "tombstone",
    }
}

fn refusal(code: ReplyCode, malformed: bool, message: String) -> (u16, Reply, &'static str) {
    (
        wire::http_status(code, malformed),
        Reply::error(code, message),
        outcome_label(code),
    )
}

/// Runs `work` on the storage on Tokio's blocking pool, off the executor threads; a task that
/// panics answers InternalError.
///
/// Batch reads go there: boxes that are no longer in a memtable are read from table files, and
/// once the data outgrows the page cache that means waiting on the disk, up to one wait per box;
/// on the executor threads each wait would hold up every other query, writes included. A read
/// request carries many boxes, so the hop to the pool is paid once for all of them. So do copy
/// commands (which read and verify a whole stream) and replicas coming back (which replay what
/// they missed).
pub(crate) async fn off_executor<T: Send + 'static>(
    storage: &Arc<Storage>,
    work: impl FnOnce(&Storage) -> Result<T, ReplyCode> + Send + 'static,
) -> Result<T, ReplyCode> {
    let storage = storage.clone();
    tokio::task::spawn_blocking(move || work(&storage))
        .await
        .unwrap_or(Err(ReplyCode::InternalError))
}

/// Carries out one query (not yet seen) and encodes its reply.
async fn carry_out(app: Arc<App>, body: Bytes) -> CachedReply {
    let start = Instant::now();
    let storage = &app.storage;
    let (op, (status, reply, outcome)) = match wire::decode_request(&body) {
        Err(e) => ("malformed", refusal(e.code, true, e.message)),
        Ok((_, query)) => {
            let op = query.op_name();
            let answer = match query {
                // Checked and stored in a batch with other writes (see `verifier`), on the
                // executor threads: the RocksDB write with its one WAL append is cheap enough
                // for them, and cheaper than a hop to the blocking pool.
                Query::Write(b) => {
                    let len = b.payload.len();
                    match app.verifier.write(b).await {
                        Ok(outcome) => (200, Reply::write(Ok(outcome)), write_label(outcome)),
                        Err(ReplyCode::InvalidPayload) => refusal(
                            ReplyCode::InvalidPayload,
                            false,
                            format!("write refused: {}", payload_refusal(len, app.geometry)),
                        ),
                        Err(code) => refusal(code, false, format!("write refused: {code}")),
                    }
                }
                Query::Read(ids) => match off_executor(storage, move |s| s.read_many(&ids)).await {
                    Ok(results) => {
                        let mut counts = [0u64; 3];
                        for r in &results {
                            let i = match ReplyCode::from_u8(r.code) {
                                Some(ReplyCode::Success) => BoxRead::Found,
                                Some(ReplyCode::Tombstone) => BoxRead::Tombstone,
                                _ => BoxRead::NotFound,
                            };
                            counts[i as usize] += 1;
                        }
                        for (what, n) in [BoxRead::Found, BoxRead::NotFound, BoxRead::Tombstone]
                            .into_iter()
                            .zip(counts)
                        {
                            app.metrics.boxes_read(what, n);
                        }
                        (200, Reply::Read { results }, "success")
                    }
                    Err(code) => refusal(code, false, format!("read failed: {code}")),
                },
                Query::Copy(cap) => match off_executor(storage, move |s| s.copy(&cap)).await {
                    Ok(status) => {
                        let label = match status {
                            CopyStatus::Succeeded => "succeeded",
                            CopyStatus::InProgress => "in_progress",
                            CopyStatus::Failed(_) => "failed",
                        };
                        let status = WireCopyStatus::from_status(status);
                        (200, Reply::Copy { status }, label)
                    }
                    Err(code) => refusal(code, false, format!("copy failed: {code}")),
                },
                Query::CopyStatus(key) => match storage.copy_status(&key) {
                    Ok(status) => {
                        let label = if status.is_some() { "known" } else { "unknown" };
                        let status = status.map(WireCopyStatus::from_status);
                        (200, Reply::CopyStatus { status }, label)
                    }
                    Err(code) => refusal(code, false, format!("copy status failed: {code}")),
                },
            };
            (op, answer)
        }
    };
    app.metrics.query(op, outcome, start.elapsed());
    if status >= 500 {
        tracing::warn!(op, outcome, status, "query failed");
    } else {
        tracing::debug!(op, outcome, status, "query");
    }
    CachedReply {
        status,
        body: Bytes::from(wire::encode_reply(&reply)),
        op,
        outcome,
    }
}

fn cbor_response(status: u16, body: Bytes) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, wire::CONTENT_TYPE)], body).into_response()
}

/// A reply the simulated mixnet loses: the headers may go out, but the body fails, so hyper
/// aborts the connection and the client never gets a complete reply.
fn lost_reply() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::other("reply lost by the simulated mixnet"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, wire::CONTENT_TYPE)
        .body(Body::from_stream(failing))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Why a request body was not read whole.
#[derive(Debug)]
enum BodyRefusal {
    /// More bytes than the limit, announced or sent.
    TooLarge(usize),
    /// Not all of it arrived in time.
    TimedOut(Duration),
    /// The connection failed while it arrived.
    Broken(String),
}

impl BodyRefusal {
    /// The HTTP status of the refusal.
    fn status(&self) -> StatusCode {
        match self {
            BodyRefusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyRefusal::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyRefusal::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Why, for people.
    fn message(&self) -> String {
        match self {
            BodyRefusal::TooLarge(max) => {
                format!("request refused: its body is larger than the {max} bytes allowed")
            }
            BodyRefusal::TimedOut(t) => format!(
                "request refused: its body did not arrive within {} s",
                t.as_secs()
            ),
            BodyRefusal::Broken(why) => {
                format!("request refused: its body could not be read ({why})")
            }
        }
    }
}

/// Reads a request body whole: at most `max` bytes (a larger one is refused as soon as it is
/// announced or shows), all of it within `timeout`.
async fn read_body(body: Body, max: usize, timeout: Duration) -> Result<Bytes, BodyRefusal> {
    if body.size_hint().lower() > max as u64 {
        return Err(BodyRefusal::TooLarge(max));
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut whole = Vec::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            let chunk = chunk.map_err(|e| BodyRefusal::Broken(e.to_string()))?;
            if chunk.len() > max - whole.len() {
                return Err(BodyRefusal::TooLarge(max));
            }
            whole.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(whole))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyRefusal::TimedOut(timeout)))
}

async fn query(State(app): State<Arc<App>>, body: Body) -> Response {
    let body = match read_body(body, app.max_body, app.body_timeout).await {
        Ok(b) => b,
        Err(refusal) => {
            let code = ReplyCode::InvalidPayload;
            app.metrics
                .query("malformed", outcome_label(code), Duration::ZERO);
            tracing::debug!(?refusal, "request body refused");
            let reply = Bytes::from(wire::encode_reply(&Reply::error(code, refusal.message())));
            let mut response = cbor_response(refusal.status().as_u16(), reply);
            // What is left of the body is not read: the connection cannot carry another query.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    let hash = query_hash(&body);
    let entry = app.dedup.entry(hash);
    let arrival = entry.arrival();
    let (reply, cached) = entry.reply(|| carry_out(app.clone(), body)).await;
    if cached {
        app.metrics.dedup_hit();
        tracing::debug!(
            op = reply.op,
            arrival,
            "answered from the deduplication cache"
        );
    } else {
        app.dedup.settle(hash, &entry, reply.body.len());
    }
    let fate = app.faults.fate(&hash, arrival);
    if !fate.delay.is_zero() {
        tokio::time::sleep(fate.delay).await;
    }
    if fate.lost {
        app.metrics.lost_reply();
        tracing::debug!(op = reply.op, arrival, "reply lost");
        return lost_reply();
    }
    cbor_response(reply.status, reply.body)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let replicas = app.storage.replicas();
    let up: Vec<bool> = (0..replicas.len() as u8)
        .map(|r| replicas.is_up(r))
        .collect();
    let text = app.metrics.render(&up, app.dedup.len());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn list_replicas(State(app): State<Arc<App>>) -> String {
    let replicas = app.storage.replicas();
    replicas
        .keys()
        .iter()
        .enumerate()
        .map(|(r, key)| {
            let state = if replicas.is_up(r as u8) {
                "up"
            } else {
                "down"
            };
            format!("{r} {state} {}\n", hex::encode(key))
        })
        .collect()
}

async fn set_replica(
    State(app): State<Arc<App>>,
    Path((replica, state)): Path<(String, String)>,
) -> Response {
    let up = match state.as_str() {
        "up" => true,
        "down" => false,
        _ => return (StatusCode::NOT_FOUND, "state must be up or down\n").into_response(),
    };
    let Ok(r) = replica.parse::<u8>() else {
        return (StatusCode::BAD_REQUEST, "replica must be a number\n").into_response();
    };
    if usize::from(r) >= app.storage.replicas().len() {
        return (StatusCode::NOT_FOUND, "no such replica\n").into_response();
    }
    let storage = app.storage.clone();
    match tokio::task::spawn_blocking(move || storage.set_replica_up(r, up)).await {
        Ok(Ok(replayed)) => {
            tracing::info!(replica = r, up, replayed, "replica state changed");
            format!("replica {r} {state} ({replayed} boxes replayed)\n").into_response()
        }
        Ok(Err(code)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("failed: {code}\n")).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
