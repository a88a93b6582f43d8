//! A hostile server cannot make the client read a reply of unbounded size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bacap::BoxId;
use courier_protocol::{HttpStore, RetryPolicy, MAX_REPLY_LEN};
use pigeonhole::store::{BoxStore, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The reply limit of these tests' clients.
const LIMIT: usize = 1 << 20;

/// One attempt, long enough that only the reply limit can end it early.
fn store(port: u16) -> HttpStore {
    HttpStore::with_policy(
        &format!("http://127.0.0.1:{port}"),
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            attempt_timeout: Duration::from_secs(60),
        },
    )
    .unwrap()
    .with_max_reply_len(LIMIT)
}

/// Serves one connection: reads the request head, answers with `head` and then, if `endless`,
/// 64 KiB chunks of a chunked body, until the client goes away. Returns the port and the count
/// of body bytes the client accepted from the socket.
async fn hostile_server(head: &'static str, endless: bool) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(head.as_bytes()).await.unwrap();
        if !endless {
            // Hold the connection until the client lets it go: closing it with the request
            // body unread would reset it, before the client reads the head.
            let _ = conn.read_to_end(&mut seen).await;
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "\u{a0}".repeat(32 << 10));
        while conn.write_all(chunk.as_bytes()).await.is_ok() {
            counter.fetch_add(64 << 10, Ordering::Relaxed);
        }
    });
    (port, sent)
}

#[tokio::test]
async fn an_endless_reply_is_cut_off_at_the_limit() {
    let (port, sent) = hostile_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ntransfer-encoding: chunked\r\n\r\n",
        true,
    )
    .await;
    let err = store(port)
        .read(&BoxId::from_array([7; 32]))
        .await
        .unwrap_err();
    match err {
        StoreError::Protocol(m) => {
            assert!(m.contains(&format!("more than the {LIMIT}")), "{m}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    // The server wrote until the client closed: what it managed is the limit plus what the
    // kernel's socket buffers hold on loopback (a few MiB), not gigabytes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent < (LIMIT as u64) + (32 << 20), "{sent} bytes were sent");
}

#[tokio::test]
async fn an_announced_oversize_reply_is_refused_before_reading_it() {
    let (port, _) = hostile_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: 10000000000\r\n\r\n",
        false,
    )
    .await;
    let err = store(port)
        .read(&BoxId::from_array([7; 32]))
        .await
        .unwrap_err();
    match err {
        StoreError::Protocol(m) => {
            assert!(m.contains("reply is 10000000000 bytes"), "{m}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn the_default_limit_holds_the_largest_batch_read() {
    let store = HttpStore::new("http://127.0.0.1:1").unwrap();
    assert_eq!(store.max_reply_len(), MAX_REPLY_LEN);
    // A batch read of the most boxes, each found, of the Katzenpost payload size.
    use courier_protocol::wire::{encode_reply, ReadResult, Reply, MAX_READ_BATCH};
    use serde_bytes::ByteBuf;
    let result = ReadResult {
        code: 0,
        signature: Some(ByteBuf::from(vec![0xff; 64])),
        payload: Some(ByteBuf::from(vec![0xff; 1576])),
    };
    let reply = encode_reply(&Reply::Read {
        results: vec![result; MAX_READ_BATCH],
    });
    assert!(reply.len() < MAX_REPLY_LEN, "{}", reply.len());
}
