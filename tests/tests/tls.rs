//! A client and a courier over TLS, with a CA made for the test: the courier serves HTTPS with
//! a certificate for 127.0.0.1 and localhost signed by that CA, and the profiles trust the CA
//! through `--courier-ca`. A profile that does not trust it gets one line about the
//! certificate.

use std::path::{Path, PathBuf};

use e2e_tests::{connect, group_of, texts, Courier, Faults, Home, Run};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A CA's certificate (PEM) and a server certificate and key (PEM) it signed for loopback.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
}

fn make_ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, key)
}

fn pki() -> Pki {
    let (ca_cert, ca_key) = make_ca("bacap-chat test CA");
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = params.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    Pki {
        ca: ca_cert.pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn one_line_error(run: Run) -> String {
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let err = run.stderr.trim().to_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_client_chats_through_a_tls_courier_it_trusts_by_its_ca() {
    let pki = pki();
    let files = tempfile::tempdir().unwrap();
    let ca = write(files.path(), "ca.pem", &pki.ca);
    let cert = write(files.path(), "courier.pem", &pki.server_cert);
    let key = write(files.path(), "courier.key", &pki.server_key);
    let other_ca = write(files.path(), "other-ca.pem", &make_ca("another CA").0.pem());
    let state = tempfile::tempdir().unwrap();
    let courier = Courier::start_with(
        state.path(),
        0,
        Faults {
            latency: 0,
            loss: 0.0,
            seed: 1,
        },
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        courier.url.starts_with("https://127.0.0.1:"),
        "{}",
        courier.url
    );

    let home = Home::new(&courier.url);
    let ca = ca.to_str().unwrap();
    // The CA is saved in each profile; group_of's own `profile init` keeps it.
    for p in ["alice", "bob"] {
        home.run(p, &["profile", "init", "--name", p, "--courier-ca", ca])
            .ok();
    }
    group_of(&home, "alice", &["bob"], "tls");
    home.run("alice", &["post", "tls", "over TLS"]).ok();
    home.run("bob", &["poll"]).ok();
    home.run("bob", &["post", "tls", "and back"]).ok();
    home.run("alice", &["poll"]).ok();
    let expected = [
        ("alice".to_owned(), "over TLS".to_owned()),
        ("bob".to_owned(), "and back".to_owned()),
    ];
    assert_eq!(texts(&home, "alice", "tls"), expected);
    assert_eq!(texts(&home, "bob", "tls"), expected);

    // The same courier, not trusted: no CA, or another one. One line about the certificate, at
    // once (a certificate that does not verify is not resent). Carol and Dave open a channel (offline), so Carol's poll has an inbox to read.
    for p in ["carol", "dave"] {
        home.run(p, &["profile", "init", "--name", p]).ok();
    }
    connect(&home, "carol", "dave");
    for extra in [&[][..], &["--courier-ca", other_ca.to_str().unwrap()][..]] {
        let mut args = extra.to_vec();
        args.push("poll");
        let started = std::time::Instant::now();
        let err = one_line_error(home.run("carol", &args));
        assert!(
            err.starts_with(&format!(
                "bacap-chat: courier at {} not trusted",
                courier.url
            )),
            "{err}"
        );
        assert!(err.contains("TLS certificate"), "{err}");
        assert!(err.contains("signed by a CA that is not trusted"), "{err}");
        assert!(err.contains("--courier-ca FILE"), "{err}");
        assert!(!err.contains("error sending request"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    // `profile init` checks what it saves.
    let err = one_line_error(home.run(
        "erin",
        &["profile", "init", "--courier-ca", "/nonexistent.pem"],
    ));
    assert!(
        err.contains("cannot read the courier CA /nonexistent.pem"),
        "{err}"
    );
    let not_pem = write(files.path(), "not.pem", "not a certificate\n");
    let err = one_line_error(home.run(
        "erin",
        &["profile", "init", "--courier-ca", not_pem.to_str().unwrap()],
    ));
    assert!(err.contains("courier CA certificate"), "{err}");
}

#[test]
fn the_bundled_courier_serves_https_too() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let pki = pki();
    let files = tempfile::tempdir().unwrap();
    let ca = write(files.path(), "ca.pem", &pki.ca);
    let cert = write(files.path(), "courier.pem", &pki.server_cert);
    let key = write(files.path(), "courier.key", &pki.server_key);
    let mut child = Command::new(e2e_tests::binary("bacap-chat"))
        .args(["courier", "--ephemeral", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bacap-chat courier");
    let stdout = child.stdout.take().unwrap();
    let _courier = e2e_tests::KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let home = Home::new(&url);
    let ca = ca.to_str().unwrap();
    for p in ["ann", "ben"] {
        home.run(p, &["profile", "init", "--name", p, "--courier-ca", ca])
            .ok();
    }
    connect(&home, "ann", "ben");
    home.run(
        "ann",
        &["channel", "send", "ben", "over the bundled courier"],
    )
    .ok();
    let polled = home.run("ben", &["--json", "poll"]).json();
    assert!(
        polled
            .iter()
            .any(|v| v["event"] == "channel_text" && v["text"] == "over the bundled courier"),
        "{polled:?}"
    );
}
