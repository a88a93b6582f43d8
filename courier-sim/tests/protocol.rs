//! The HTTP/CBOR protocol at the byte level: malformed bodies, malformed box IDs, oversize
//! payloads and refused writes get a clear 4xx and a reply code, never a panic; metrics and
//! admin endpoints answer.

use courier_protocol::wire::{self, Op, Query, Reply, Request};
use courier_protocol::HttpStore;
use courier_sim::{serve, Config, Server};
use pigeonhole::store::{BoxStore, ReplyCode, WriteOutcome};
use pigeonhole_suite::{fresh_boxes, invalid_box_id};
use serde_bytes::ByteBuf;

async fn post(server: &Server, body: Vec<u8>) -> (u16, Reply) {
    let response = reqwest::Client::new()
        .post(format!("{}{}", server.url(), wire::QUERY_PATH))
        .header("content-type", wire::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        wire::decode_reply(&bytes).expect("every answer is a CBOR reply"),
    )
}

fn cbor(request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(request, &mut out).unwrap();
    out
}

fn request(op: Op) -> Vec<u8> {
    cbor(&Request {
        query_id: ByteBuf::from(vec![1; wire::QUERY_ID_LEN]),
        op,
    })
}

fn error_code(reply: &Reply) -> u8 {
    match reply {
        Reply::Error { code, message } => {
            assert!(!message.is_empty());
            *code
        }
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_bodies_get_400_and_a_code() {
    let server = serve(Config::ephemeral()).await.unwrap();
    for body in [
        Vec::new(),
        b"not cbor at all".to_vec(),
        vec![0xff; 100],
        vec![0xbf],                   // an unterminated map
        vec![0xa1, 0x61, 0x78, 0x01], // {"x": 1}
    ] {
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 400);
        assert_eq!(error_code(&reply), ReplyCode::InvalidPayload.as_u8());
    }
    let bad_query_id = cbor(&Request {
        query_id: ByteBuf::from(vec![1; 3]),
        op: Op::Read { box_ids: vec![] },
    });
    let (status, reply) = post(&server, bad_query_id).await;
    assert_eq!((status, error_code(&reply)), (400, 5));
    // The server is still fine.
    let store = HttpStore::new(&server.url()).unwrap();
    assert!(store.read(&fresh_boxes(1, 1).1[0].box_id).await.is_ok());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_box_ids_get_4xx_and_the_invalid_box_id_code() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let b = &fresh_boxes(1, 10).1[0];
    for len in [0, 31, 33] {
        let (status, reply) = post(
            &server,
            request(Op::Read {
                box_ids: vec![ByteBuf::from(vec![7; 32]), ByteBuf::from(vec![7; len])],
            }),
        )
        .await;
        assert_eq!((status, error_code(&reply)), (400, 2), "read, length {len}");
        let (status, reply) = post(
            &server,
            request(Op::Write {
                box_id: ByteBuf::from(vec![7; len]),
                signature: ByteBuf::from(b.signature.as_bytes().to_vec()),
                payload: ByteBuf::from(b.payload.clone()),
            }),
        )
        .await;
        assert_eq!(
            (status, error_code(&reply)),
            (400, 2),
            "write, length {len}"
        );
    }
    // 32 bytes that are no curve point: refused when verifying.
    let (status, reply) = post(
        &server,
        wire::encode_request(
            &[2; 16],
            &Query::Write(bacap::SealedBox {
                box_id: invalid_box_id(),
                ..b.clone()
            }),
        ),
    )
    .await;
    assert_eq!((status, error_code(&reply)), (422, 2));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unpadded_payloads_and_oversize_bodies_get_413() {
    let mut config = Config::ephemeral();
    config.max_body = 64 * 1024;
    let server = serve(config).await.unwrap();
    let cap = bacap::WriteCap::generate(&mut rand_core::OsRng);
    let mut index = cap.first_index().clone();
    // Validly signed boxes that were not padded: one short text, and one over the padded size.
    for len in [5, 1557] {
        let unpadded = cap.seal(&index, b"protocol", &vec![b'a'; len]);
        assert_eq!(unpadded.verify(), Ok(()));
        let (status, reply) = post(
            &server,
            wire::encode_request(&[3; 16], &Query::Write(unpadded.clone())),
        )
        .await;
        assert_eq!((status, error_code(&reply)), (413, 5));
        let Reply::Error { message, .. } = reply else {
            unreachable!("an error reply");
        };
        let size = (len + 16).to_string();
        assert!(message.contains(&size), "{message}");
        assert!(message.contains("exactly 1576 bytes"), "{message}");
        assert!(message.contains("tombstone"), "{message}");
        index = index.next().unwrap();
    }
    let (status, reply) = post(&server, vec![0u8; 65 * 1024]).await;
    assert_eq!((status, error_code(&reply)), (413, 5));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn configurable_payload_len() {
    let mut config = Config::ephemeral();
    config.payload_len = 120;
    let geometry = config.geometry();
    assert_eq!(geometry.message_len(), 100);
    let server = serve(config).await.unwrap();
    let store = HttpStore::new(&server.url()).unwrap();
    let cap = bacap::WriteCap::generate(&mut rand_core::OsRng);
    let second = cap.first_index().next().unwrap();
    let padded = pigeonhole::padding::pad(&[1; 100], geometry).unwrap();
    let fits = cap.seal(cap.first_index(), b"small", &padded);
    assert_eq!(fits.payload.len(), 120);
    assert_eq!(store.write(&fits).await, Ok(WriteOutcome::Stored));
    // A box padded to the default size is not this courier's size.
    let (_, default_size) = fresh_boxes(1, 100);
    let tomb = cap.tombstone(&second, b"small");
    for refused in [
        default_size[0].clone(),
        cap.seal(&second, b"small", &[1; 103]),
    ] {
        assert_eq!(
            store.write(&refused).await,
            Err(pigeonhole::store::StoreError::Rejected(
                ReplyCode::InvalidPayload
            ))
        );
    }
    assert_eq!(store.write(&tomb).await, Ok(WriteOutcome::Stored));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_writes_get_422_with_the_spec_code() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let mut b = fresh_boxes(1, 10).1.remove(0);
    b.payload[3] ^= 0x80;
    let (status, reply) = post(&server, wire::encode_request(&[4; 16], &Query::Write(b))).await;
    assert_eq!((status, error_code(&reply)), (422, 3));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn expected_outcomes_are_200_with_their_codes() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let (cap, boxes) = fresh_boxes(1, 10);
    let b = boxes[0].clone();
    let write = |id: u8, b: bacap::SealedBox| wire::encode_request(&[id; 16], &Query::Write(b));
    assert_eq!(
        post(&server, write(1, b.clone())).await,
        (
            200,
            Reply::Write {
                code: 0,
                identical: None
            }
        )
    );
    // A different query ID: a new query, answered "already exists, identical".
    assert_eq!(
        post(&server, write(2, b.clone())).await,
        (
            200,
            Reply::Write {
                code: 10,
                identical: Some(true)
            }
        )
    );
    let tomb = cap.tombstone(cap.first_index(), b"store-suite");
    assert_eq!(post(&server, write(3, tomb)).await.0, 200);
    assert_eq!(
        post(&server, write(4, b.clone())).await,
        (
            200,
            Reply::Write {
                code: 11,
                identical: None
            }
        )
    );
    let (status, reply) = post(
        &server,
        wire::encode_request(&[5; 16], &Query::Read(vec![b.box_id, invalid_box_id()])),
    )
    .await;
    assert_eq!(status, 200);
    match reply {
        Reply::Read { results } => {
            let codes: Vec<u8> = results.iter().map(|r| r.code).collect();
            assert_eq!(codes, [11, 1]);
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_health_and_admin_endpoints() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let store = HttpStore::new(&server.url()).unwrap();
    let (_, boxes) = fresh_boxes(2, 10);
    store.write(&boxes[0]).await.unwrap();
    store.write(&boxes[0]).await.unwrap();
    store
        .read_many(&[boxes[0].box_id, boxes[1].box_id])
        .await
        .unwrap();
    let mut bad = boxes[1].clone();
    bad.payload[0] ^= 1;
    assert!(store.write(&bad).await.is_err());

    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.url())).send();
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for line in [
        "courier_queries_total{op=\"write\",outcome=\"success\"} 1",
        "courier_queries_total{op=\"write\",outcome=\"already_exists_identical\"} 1",
        "courier_queries_total{op=\"write\",outcome=\"invalid_signature\"} 1",
        "courier_queries_total{op=\"read\",outcome=\"success\"} 1",
        "courier_boxes_read_total{outcome=\"found\"} 1",
        "courier_boxes_read_total{outcome=\"not_found\"} 1",
        "courier_query_duration_seconds_count{op=\"write\"} 3",
        "courier_replica_up{replica=\"3\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    assert_eq!(get("/healthz").await.unwrap().text().await.unwrap(), "ok\n");
    let list = get("/admin/replicas").await.unwrap().text().await.unwrap();
    assert_eq!(list.lines().count(), 4);
    assert!(
        list.lines().all(|l| l.split(' ').nth(1) == Some("up")),
        "{list}"
    );
    let down = client
        .post(format!("{}/admin/replicas/2/down", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 200);
    assert_eq!(server.replicas_up(), [true, true, false, true]);
    for (path, status) in [
        ("/admin/replicas/9/down", 404),
        ("/admin/replicas/1/sideways", 404),
        ("/admin/replicas/x/up", 400),
    ] {
        let r = client
            .post(format!("{}{path}", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_conflicting_writes_store_exactly_one() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let store = HttpStore::new(&server.url()).unwrap();
    let cap = bacap::WriteCap::generate(&mut rand_core::OsRng);
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = store.clone();
            let b = pigeonhole_suite::seal(&cap, cap.first_index(), b"race", &[i; 40]);
            tokio::spawn(async move { store.write(&b).await })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            WriteOutcome::Stored => stored += 1,
            WriteOutcome::AlreadyExists { identical: false } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stored, 1);
    server.shutdown().await.unwrap();
}
