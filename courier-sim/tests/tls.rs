//! The simulator over HTTPS: a client that trusts the courier's CA meets the same storage
//! semantics as over HTTP; one that does not is told about the certificate at once, without
//! resending.

use std::time::{Duration, Instant};

use courier_protocol::{HttpStore, RetryPolicy, Trust};
use courier_sim::{serve, Config, Server};
use pigeonhole::store::{BoxStore, ReadOutcome, StoreError, WriteOutcome};
use pigeonhole_suite as suite;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A self-signed CA's certificate (PEM), and a server certificate and key it signed for
/// 127.0.0.1 and localhost, written into `dir`.
fn pki(dir: &std::path::Path) -> (String, Config) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "courier-sim test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let mut config = Config::ephemeral();
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path);
    (ca.pem(), config)
}

async fn tls_server() -> (Server, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (ca, config) = pki(dir.path());
    let server = serve(config).await.unwrap();
    (server, ca, dir)
}

fn trusting(server: &Server, ca: &str) -> HttpStore {
    let trust = Trust {
        extra_roots_pem: Some(ca.as_bytes().to_vec()),
        insecure_http: false,
    };
    HttpStore::connect(&server.url(), RetryPolicy::default(), &trust).unwrap()
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_gets_the_whole_suite_over_https() {
    let (server, ca, _dir) = tls_server().await;
    assert!(server.url().starts_with("https://127.0.0.1:"));
    suite::run_all(&trusting(&server, &ca)).await;
    // By name too: the certificate names localhost.
    let by_name = server.url().replace("127.0.0.1", "localhost");
    let trust = Trust {
        extra_roots_pem: Some(ca.into_bytes()),
        insecure_http: false,
    };
    let store = HttpStore::connect(&by_name, RetryPolicy::default(), &trust).unwrap();
    let (_, boxes) = suite::fresh_boxes(1, 10);
    assert_eq!(store.write(&boxes[0]).await, Ok(WriteOutcome::Stored));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_at_once() {
    let (server, _ca, _dir) = tls_server().await;
    let policy = RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    let store = HttpStore::with_policy(&server.url(), policy).unwrap();
    let started = Instant::now();
    let err = store.read(&suite::invalid_box_id()).await.unwrap_err();
    let StoreError::Untrusted(message) = err else {
        panic!("expected Untrusted, got {err:?}");
    };
    assert!(
        message.contains("TLS certificate") && message.contains("not trusted"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "not resent: {:?}",
        started.elapsed()
    );
    // Plain HTTP to the TLS port gets no protocol reply.
    let plain = HttpStore::with_policy(
        &server.url().replace("https://", "http://"),
        RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    )
    .unwrap();
    assert!(matches!(
        plain.read(&suite::invalid_box_id()).await,
        Err(StoreError::Unavailable(_))
    ));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_connects_and_says_nothing_holds_up_no_one() {
    let (server, ca, _dir) = tls_server().await;
    // Open connections that never start a handshake.
    let silent: Vec<_> = futures_util::future::join_all(
        (0..8).map(|_| tokio::net::TcpStream::connect(server.addr())),
    )
    .await;
    let store = trusting(&server, &ca);
    let (_, boxes) = suite::fresh_boxes(1, 10);
    let started = Instant::now();
    assert_eq!(store.write(&boxes[0]).await, Ok(WriteOutcome::Stored));
    assert_eq!(
        store.read(&boxes[0].box_id).await,
        Ok(ReadOutcome::Found(boxes[0].clone()))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_missing_or_bad_certificate_file_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::ephemeral();
    config.tls_cert = Some(dir.path().join("missing.pem"));
    config.tls_key = Some(dir.path().join("missing.key"));
    let err = serve(config.clone()).await.unwrap_err().to_string();
    assert!(err.contains("missing.pem"), "{err}");
    std::fs::write(dir.path().join("missing.pem"), "not PEM\n").unwrap();
    let err = serve(config).await.unwrap_err().to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
}
