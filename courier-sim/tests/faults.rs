//! Simulated mixnet faults: lost replies are recovered by resending the identical query,
//! answered from the deduplication cache; latency delays replies; faults are reproducible.

use std::time::{Duration, Instant};

use courier_protocol::wire::{self, Query};
use courier_protocol::{HttpStore, RetryPolicy};
use courier_sim::{serve, Config, Server};
use pigeonhole::store::{BoxStore, ReadOutcome, StoreError, WriteOutcome};
use pigeonhole_suite::fresh_boxes;

fn lossy(loss: f64, seed: u64) -> Config {
    let mut c = Config::ephemeral();
    c.loss = loss;
    c.seed = seed;
    c
}

/// Sends `body` once; `None` if the reply was lost.
async fn send_once(server: &Server, body: &[u8]) -> Option<Vec<u8>> {
    let response = reqwest::Client::new()
        .post(format!("{}{}", server.url(), wire::QUERY_PATH))
        .body(body.to_vec())
        .send()
        .await
        .ok()?;
    response.bytes().await.ok().map(|b| b.to_vec())
}

async fn metric(server: &Server, name: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn lost_replies_are_recovered_by_identical_resends() {
    let server = serve(lossy(0.5, 7)).await.unwrap();
    let (_, boxes) = fresh_boxes(24, 20);
    let bodies: Vec<Vec<u8>> = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| wire::encode_request(&[i as u8; 16], &Query::Write(b.clone())))
        .collect();
    let mut lost = Vec::new();
    for body in &bodies {
        match send_once(&server, body).await {
            Some(reply) => assert_eq!(
                wire::decode_reply(&reply).unwrap().into_write_outcome(),
                Ok(WriteOutcome::Stored)
            ),
            None => lost.push(body),
        }
    }
    assert!(
        !lost.is_empty() && lost.len() < bodies.len(),
        "{} lost",
        lost.len()
    );
    // Resending the identical query gets the original reply ("stored"), not "already exists".
    for body in lost {
        let mut reply = None;
        for _ in 0..200 {
            reply = send_once(&server, body).await;
            if reply.is_some() {
                break;
            }
        }
        let reply = reply.expect("a reply within 200 resends at 50% loss");
        assert_eq!(
            wire::decode_reply(&reply).unwrap().into_write_outcome(),
            Ok(WriteOutcome::Stored)
        );
    }
    assert!(metric(&server, "courier_lost_replies_total").await > 0);
    assert!(metric(&server, "courier_dedup_hits_total").await > 0);
    // The work was done once: every box is stored, with its content.
    let store = HttpStore::with_policy(
        &server.url(),
        RetryPolicy {
            max_attempts: 50,
            initial_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    )
    .unwrap();
    let ids: Vec<_> = boxes.iter().map(|b| b.box_id).collect();
    let outcomes = store.read_many(&ids).await.unwrap();
    assert!(outcomes
        .iter()
        .zip(&boxes)
        .all(|(o, b)| *o == ReadOutcome::Found(b.clone())));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_http_client_resends_through_loss() {
    let server = serve(lossy(0.4, 1)).await.unwrap();
    let store = HttpStore::with_policy(
        &server.url(),
        RetryPolicy {
            max_attempts: 30,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            attempt_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    let (_, boxes) = fresh_boxes(30, 20);
    for b in &boxes {
        assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored));
    }
    let ids: Vec<_> = boxes.iter().map(|b| b.box_id).collect();
    let outcomes = store.read_many(&ids).await.unwrap();
    assert!(outcomes
        .iter()
        .zip(&boxes)
        .all(|(o, b)| *o == ReadOutcome::Found(b.clone())));
    assert!(metric(&server, "courier_lost_replies_total").await > 0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_http_client_gives_up_after_bounded_retries() {
    let server = serve(lossy(0.999, 3)).await.unwrap();
    let store = HttpStore::with_policy(
        &server.url(),
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            attempt_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    let b = &fresh_boxes(1, 10).1[0];
    assert!(matches!(
        store.write(b).await,
        Err(StoreError::Unavailable(_))
    ));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_are_reproducible_from_the_seed() {
    let (_, boxes) = fresh_boxes(32, 10);
    let bodies: Vec<Vec<u8>> = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| wire::encode_request(&[i as u8; 16], &Query::Write(b.clone())))
        .collect();
    let mut patterns = Vec::new();
    for seed in [11, 11, 12] {
        let server = serve(lossy(0.5, seed)).await.unwrap();
        let mut pattern = Vec::new();
        for body in &bodies {
            pattern.push(send_once(&server, body).await.is_some());
        }
        patterns.push(pattern);
        server.shutdown().await.unwrap();
    }
    assert_eq!(patterns[0], patterns[1]);
    assert_ne!(patterns[0], patterns[2]);
}

#[tokio::test]
async fn latency_and_jitter_delay_replies() {
    let mut config = Config::ephemeral();
    config.latency = 60;
    config.jitter = 40;
    let server = serve(config).await.unwrap();
    let store = HttpStore::new(&server.url()).unwrap();
    let id = fresh_boxes(1, 1).1[0].box_id;
    let mut took = Vec::new();
    for _ in 0..6 {
        let t = Instant::now();
        store.read(&id).await.unwrap();
        took.push(t.elapsed());
    }
    assert!(
        took.iter().all(|d| *d >= Duration::from_millis(60)),
        "{took:?}"
    );
    assert!(
        took.iter().all(|d| *d < Duration::from_millis(1000)),
        "{took:?}"
    );
    server.shutdown().await.unwrap();
}
