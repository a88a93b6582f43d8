//! Clients that stall or send garbage: stalled connections (in their headers, in their body,
//! or not reading their reply) are closed after their timeouts while other clients are still
//! served, and a malformed body gets a refusal written for people.

use std::time::{Duration, Instant};

use bacap::{BoxId, WriteCap};
use courier_protocol::wire::{self, Query, Reply};
use courier_protocol::{HttpStore, RetryPolicy};
use courier_sim::{serve, Config};
use pigeonhole::store::{BoxStore, ReadOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The start of a request whose headers never end.
const PARTIAL_HEADERS: &[u8] = b"POST /v1/query HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-le";

/// Whole headers announcing 1000 bytes of body, and the first byte of it.
const PARTIAL_BODY: &[u8] = b"POST /v1/query HTTP/1.1\r\nhost: 127.0.0.1\r\n\
    content-type: application/cbor\r\ncontent-length: 1000\r\n\r\n\xa2";

#[tokio::test]
async fn stalled_connections_are_closed_and_a_client_is_still_served() {
    let mut config = Config::ephemeral();
    config.max_connections = 8;
    config.header_timeout = 1;
    config.body_timeout = 1;
    let server = serve(config).await.unwrap();
    let start = Instant::now();
    // Twice as many stalled connections as the courier serves at once.
    let mut stalled = Vec::new();
    for i in 0..16 {
        let mut c = TcpStream::connect(server.addr()).await.unwrap();
        let partial = if i % 2 == 0 {
            PARTIAL_HEADERS
        } else {
            PARTIAL_BODY
        };
        c.write_all(partial).await.unwrap();
        stalled.push(c);
    }

    // A client arriving now is served once the stalled ones are gone.
    let store = one_attempt(&server);
    assert_eq!(
        store.read(&BoxId::from_array([1; 32])).await,
        Ok(ReadOutcome::NotFound)
    );

    // Each stalled connection was closed by the courier, not before its timeout: those stuck
    // in their body after a 408 refusal.
    for (i, mut c) in stalled.into_iter().enumerate() {
        let mut answer = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(60), c.read_to_end(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("connection {i} is still open"));
        assert!(start.elapsed() >= Duration::from_secs(1));
        if i % 2 == 1 {
            closed.unwrap();
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains("did not arrive within 1 s"), "{answer}");
        }
    }
    server.shutdown().await.unwrap();
}

fn one_attempt(server: &courier_sim::Server) -> HttpStore {
    HttpStore::with_policy(
        &server.url(),
        RetryPolicy {
            max_attempts: 1,
            attempt_timeout: Duration::from_secs(60),
            ..RetryPolicy::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_client_that_never_reads_its_reply_is_closed_after_the_write_timeout() {
    let mut config = Config::ephemeral();
    config.max_connections = 1;
    config.write_timeout = 1;
    let server = serve(config).await.unwrap();
    let cap = WriteCap::generate(&mut rand_core::OsRng);
    let sealed = pigeonhole_suite::seal(&cap, cap.first_index(), b"stall", b"read me often");
    let store = one_attempt(&server);
    store.write(&sealed).await.unwrap();
    drop(store);

    // One box read 4096 times: a reply of about 6.7 MB, more than the courier's send buffer
    // (4 MiB at most here) and our tiny receive buffer hold together.
    let body = wire::encode_request(&[7; 16], &Query::Read(vec![sealed.box_id; 4096]));
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(server.addr()).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/cbor\r\n\
         content-length: {}\r\n\r\n",
        wire::QUERY_PATH,
        body.len()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body).await.unwrap();
    let start = Instant::now();

    // The only connection the courier serves is the stalled one, until its write times out.
    let store = one_attempt(&server);
    assert!(matches!(
        store.read(&sealed.box_id).await,
        Ok(ReadOutcome::Found(_))
    ));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1), "served after {waited:?}");
    assert!(waited < Duration::from_secs(20), "served after {waited:?}");

    // The stalled client finds its connection closed with the reply cut short.
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), stalled.read_to_end(&mut got))
        .await
        .expect("the stalled connection was closed");
    assert!(got.len() < 4096 * 1576, "{} bytes arrived", got.len());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_body_is_refused_in_words_for_people() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}{}", server.url(), wire::QUERY_PATH);
    // Not CBOR; CBOR of the wrong shape; a body over the limit.
    let cases: [(Vec<u8>, u16, &str); 3] = [
        (
            vec![0x1c, 0, 0],
            400,
            "malformed request: not valid CBOR at byte 0",
        ),
        (
            vec![0xa1, 0x61, 0x78, 0x01],
            400,
            "malformed request: missing field `query_id`",
        ),
        (
            vec![0; (1 << 20) + 1],
            413,
            "request refused: its body is larger than the 1048576 bytes allowed",
        ),
    ];
    for (body, status, message) in cases {
        let response = client.post(&url).body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let reply = wire::decode_reply(&response.bytes().await.unwrap()).unwrap();
        let Reply::Error { message: got, .. } = reply else {
            panic!("expected an error reply, got {reply:?}");
        };
        assert!(got.starts_with(message), "{got}");
        for debug in ["Semantic(", "Syntax(", "Some(", "None"] {
            assert!(!got.contains(debug), "{got}");
        }
    }
    server.shutdown().await.unwrap();
}
