//! The shared `BoxStore` suite, against the HTTP client on a live simulator and against the
//! in-memory store: both must behave identically.

use courier_protocol::HttpStore;
use courier_sim::{serve, Config};
use pigeonhole::store::MemoryStore;
use pigeonhole_suite as suite;

macro_rules! against_both {
    ($($name:ident),* $(,)?) => {
        mod http {
            $(
                #[tokio::test]
                async fn $name() {
                    let server = super::serve(super::Config::ephemeral()).await.unwrap();
                    let store = super::HttpStore::new(&server.url()).unwrap();
                    super::suite::$name(&store).await;
                    server.shutdown().await.unwrap();
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::suite::$name(&super::MemoryStore::default()).await;
                }
            )*
        }
    };
}

against_both!(
    write_then_read,
    unwritten_box_is_not_found,
    invalid_signature_is_refused,
    invalid_box_id_is_refused,
    boxes_are_write_once,
    tombstone_replaces_box,
    tombstone_of_unwritten_box,
    payload_has_one_size,
    batch_read_answers_each_box,
    copy_writes_everything,
    repeated_copy_returns_status,
    failing_copy_writes_nothing,
    copy_refuses_unpadded_write,
    copy_tolerates_identical_existing_box,
    unknown_copy_status,
);

#[tokio::test]
async fn whole_suite_on_one_server_with_persistent_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(Config::persistent(dir.path().join("db")))
        .await
        .unwrap();
    assert_ne!(server.addr().port(), 0, "port 0 picks a free port");
    assert!(server.addr().ip().is_loopback());
    let store = HttpStore::new(&server.url()).unwrap();
    suite::run_all(&store).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn whole_suite_with_each_write_verified_on_its_own() {
    let mut config = Config::ephemeral();
    config.verify = courier_sim::config::VerifyMode::Each;
    let server = serve(config).await.unwrap();
    let store = HttpStore::new(&server.url()).unwrap();
    suite::run_all(&store).await;
    server.shutdown().await.unwrap();
}
