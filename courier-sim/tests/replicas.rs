//! Replicas: every box lives on its two Shard2 replicas; with one of them down reads are served
//! by the other, and a replica brought back catches up on what it missed.

use bacap::SealedBox;
use courier_protocol::HttpStore;
use courier_sim::{serve, Config, Server};
use pigeonhole::store::{BoxStore, ReadOutcome, ReplyCode, StoreError, WriteOutcome};
use pigeonhole_suite::fresh_boxes;

async fn admin(server: &Server, replica: u8, state: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/admin/replicas/{replica}/{state}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn all_found(store: &HttpStore, boxes: &[SealedBox]) {
    let ids: Vec<_> = boxes.iter().map(|b| b.box_id).collect();
    let outcomes = store.read_many(&ids).await.unwrap();
    for (o, b) in outcomes.iter().zip(boxes) {
        assert_eq!(*o, ReadOutcome::Found(b.clone()));
    }
}

#[tokio::test]
async fn each_replica_down_in_turn_loses_no_read() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let store = HttpStore::new(&server.url()).unwrap();
    let (_, boxes) = fresh_boxes(64, 20);
    for b in &boxes {
        assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored));
        let shard = server.storage().replicas().shard(&b.box_id);
        for r in 0..4 {
            assert_eq!(
                server.storage().replica_holds(r, &b.box_id),
                Ok(shard.contains(&r))
            );
        }
    }
    let mut written_while_down = Vec::new();
    for r in 0..4u8 {
        admin(&server, r, "down").await;
        all_found(&store, &boxes).await;
        all_found(&store, &written_while_down).await;
        let (_, more) = fresh_boxes(16, 20);
        for b in &more {
            assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored));
            assert_eq!(
                store.write(b).await,
                Ok(WriteOutcome::AlreadyExists { identical: true })
            );
        }
        written_while_down.extend(more);
        admin(&server, r, "up").await;
    }
    // Every replica is back and holds everything of its shards.
    for b in boxes.iter().chain(&written_while_down) {
        for r in server.storage().replicas().shard(&b.box_id) {
            assert_eq!(server.storage().replica_holds(r, &b.box_id), Ok(true));
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_replica_down_from_the_start_and_both_of_a_shard_down() {
    let mut config = Config::ephemeral();
    config.replicas_down = vec![1];
    let server = serve(config).await.unwrap();
    assert_eq!(server.replicas_up(), [true, false, true, true]);
    let store = HttpStore::new(&server.url()).unwrap();
    let (_, boxes) = fresh_boxes(40, 20);
    for b in &boxes {
        assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored));
        assert_eq!(server.storage().replica_holds(1, &b.box_id), Ok(false));
    }
    all_found(&store, &boxes).await;

    // Take down the other replica of some box's shard: that box cannot be served.
    let b = boxes
        .iter()
        .find(|b| server.storage().replicas().shard(&b.box_id).contains(&1))
        .expect("replica 1 holds about half the boxes");
    let other = server
        .storage()
        .replicas()
        .shard(&b.box_id)
        .into_iter()
        .find(|&r| r != 1)
        .unwrap();
    server.set_replica_up(other, false).await.unwrap();
    assert_eq!(
        store.read(&b.box_id).await,
        Err(StoreError::Rejected(ReplyCode::DatabaseFailure))
    );
    server.set_replica_up(1, true).await.unwrap();
    assert_eq!(
        store.read(&b.box_id).await,
        Ok(ReadOutcome::Found(b.clone()))
    );
    server.set_replica_up(other, true).await.unwrap();
    all_found(&store, &boxes).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn replica_keys_are_seeded_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::persistent(dir.path().join("db"));
    config.seed = 5;
    let server = serve(config.clone()).await.unwrap();
    let keys = server.storage().replicas().keys().to_vec();
    server.shutdown().await.unwrap();
    assert_eq!(keys, courier_sim::replicas::Replicas::derive(4, 5).keys());

    // A later start keeps the persisted keys whatever the seed, and refuses another count.
    config.seed = 6;
    let server = serve(config.clone()).await.unwrap();
    assert_eq!(server.storage().replicas().keys(), &keys[..]);
    server.shutdown().await.unwrap();
    config.replicas = 5;
    assert!(serve(config).await.is_err());
}
