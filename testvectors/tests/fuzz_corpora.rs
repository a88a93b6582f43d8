//! Every file of the fuzz targets' seed corpora (`fuzz/corpus/<target>/`), fed to the same
//! decoders as the fuzz targets (`fuzz/decoders.rs`): none may panic. A crash the fuzzer finds
//! goes into its target's corpus, so this test keeps it fixed.
//!
//! Here too: a real profile's stored records, corrupted every way one byte and one cut can,
//! are errors or loaded, never a panic; and the generator of the seed corpora that need code to
//! write (`cargo test -p testvectors --test fuzz_corpora -- --ignored`).

#[path = "../../fuzz/decoders.rs"]
mod decoders;
#[path = "../../groupchat/tests/sim/mod.rs"]
mod sim;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bacap::{BoxId, WriteCap};
use ciborium::Value;
use courier_protocol::wire::WireCopyStatus;
use courier_protocol::wire::{encode_reply, encode_request, Query, ReadResult, Reply};
use groupchat::chat::{Chat, Request};
use groupchat::messages::FileType;
use groupchat::records::{self, StuckRecord, RECORD_VERSION};
use groupchat::{keys, Config, HistoryEntry};
use pigeonhole::store::{CopyStatus, ReplyCode, WriteOutcome};
use rand_chacha::rand_core::SeedableRng;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn every_corpus_file_decodes_without_a_panic() {
    let corpus = corpus_dir();
    let mut replayed = 0;
    for (target, decode) in decoders::TARGETS {
        let dir = corpus.join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file());
        let mut files = 0;
        for path in entries {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| decode(&data));
            assert!(outcome.is_ok(), "{} panics {target}", path.display());
            files += 1;
        }
        assert!(files > 0, "the corpus of {target} is empty");
        replayed += files;
    }
    assert!(replayed >= 30, "{replayed} files");
}

/// Two profiles' records after a busy session: Alice's (a group of three with texts and a
/// file, a channel to Dave and an invitation of Dave, an operation pending and a request
/// queued behind it, a stuck stream) and Dave's (an invitation to answer, a channel text).
async fn busy_profiles() -> [BTreeMap<Vec<u8>, Vec<u8>>; 2] {
    let net = sim::net();
    let (mut members, group) = sim::group_of(&net, &["alice", "bob", "carol"], 11).await;
    let mut dave = sim::Member::new("dave", 1199);
    {
        let alice = &mut members[0];
        alice
            .send(&net, |c, r| c.post_text(r, &group, "hello, group"))
            .await;
        alice
            .send(&net, |c, r| {
                c.send_file(r, &group, "notes.txt", FileType::Arbitrary, vec![7; 3000])
            })
            .await;
        sim::connect(alice, "dave", &mut dave, "alice");
        dave.send(&net, |c, r| c.send_channel_text(r, "alice", "hi alice"))
            .await;
        alice.send(&net, |c, r| c.invite(r, &group, "dave")).await;
        dave.poll(&net).await;
        alice.poll(&net).await;
    }
    sim::settle(&net, &mut members).await;
    let alice = &mut members[0];
    // An operation prepared but not run, and a request queued behind it on the same stream.
    alice
        .chat
        .post_text(&mut alice.rng, &group, "pending")
        .unwrap();
    let request = Request::PostText {
        group,
        text: "queued".into(),
    };
    alice.chat.submit(&mut alice.rng, request, 5_000).unwrap();
    alice.store();
    let stuck = StuckRecord {
        v: RECORD_VERSION,
        polls: 3,
        since_ms: 4_000,
    };
    let mut alice_state = alice.state.clone();
    alice_state.insert(keys::stuck("bob"), records::encode(&stuck).to_vec());
    dave.store();
    [alice_state, dave.state.clone()]
}

fn load(records: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Chat, groupchat::Error> {
    Chat::load(
        Config::default(),
        bacap::Geometry::default(),
        Path::new("/nonexistent/corrupt-records"),
        records,
        1,
    )
}

fn is_history(key: &[u8]) -> bool {
    key.starts_with(keys::GROUP_HISTORY) || key.starts_with(keys::CHANNEL_HISTORY)
}

#[tokio::test]
async fn corrupt_stored_records_are_errors_never_panics() {
    let profiles = busy_profiles().await;
    let [alice, dave] = &profiles;
    for (key, kind) in [
        (keys::GROUP, "group"),
        (keys::CHANNEL, "channel"),
        (keys::INVITATION_OUT, "invitation out"),
        (keys::PENDING, "pending operation"),
        (keys::QUEUED, "queued request"),
        (keys::STUCK, "stuck stream"),
        (keys::GROUP_HISTORY, "group history"),
    ] {
        assert!(
            alice.keys().any(|k| k.starts_with(key)),
            "alice has no {kind}"
        );
    }
    assert!(dave.keys().any(|k| k.starts_with(keys::INVITATION_IN)));
    assert!(dave.keys().any(|k| k.starts_with(keys::CHANNEL_HISTORY)));

    let mut variants = 0;
    for state in &profiles {
        let whole: Vec<_> = state.clone().into_iter().collect();
        let chat = load(whole.clone()).expect("the profile as stored loads");
        let groups = whole.iter().filter(|(k, _)| k.starts_with(keys::GROUP));
        assert_eq!(chat.groups().len(), groups.count());
        let (history, others): (Vec<_>, Vec<_>) = whole.iter().partition(|(k, _)| is_history(k));
        for (key, value) in &history {
            HistoryEntry::decode(value).expect("a stored history entry decodes");
            for cut in 0..value.len() {
                assert!(
                    HistoryEntry::decode(&value[..cut]).is_err(),
                    "{} cut to {cut} bytes decodes",
                    String::from_utf8_lossy(key)
                );
            }
        }
        // Each record alone (with the profile record) keeps every variant cheap; a record
        // whose group is missing is one more case a damaged database can show.
        for (key, value) in &others {
            let name = String::from_utf8_lossy(key).into_owned();
            let mut cases: Vec<(String, Vec<u8>)> = (0..value.len())
                .map(|cut| (format!("cut to {cut} bytes"), value[..cut].to_vec()))
                .collect();
            for i in 0..value.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut v = value.clone();
                    v[i] ^= flip;
                    cases.push((format!("byte {i} ^ {flip:#04x}"), v));
                }
            }
            for (what, v) in cases {
                let cut = what.starts_with("cut");
                let records = vec![(key.clone(), v)];
                let outcome = std::panic::catch_unwind(|| {
                    decoders::stored_records(&decoders::records_input(&records));
                    load(records.clone()).is_err()
                });
                match outcome {
                    Err(_) => panic!("{name} with {what} panics"),
                    Ok(failed) => assert!(!cut || failed, "{name} {what} loads"),
                }
                variants += 1;
            }
        }
    }
    assert!(variants > 10_000, "{variants} variants");
}

fn write_seed(target: &str, name: &str, data: &[u8]) {
    let dir = corpus_dir().join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A daemon response as kpclientd sends it: one map holding every response name, null but for
/// the one it is (here two others stand for the rest).
fn response(name: &str, fields: Vec<(&str, Value)>) -> Vec<u8> {
    let body = Value::Map(fields.into_iter().map(|(k, v)| (text(k), v)).collect());
    let mut top = Vec::new();
    if name != "connection_status_event" {
        top.push((text("connection_status_event"), Value::Null));
    }
    top.push((text(name), body));
    top.push((text("message_sent_event"), Value::Null));
    cbor(&Value::Map(top))
}

/// Writes the seeds of `courier_wire`, `thin_client` and `stored_records`.
#[tokio::test]
#[ignore = "writes fuzz/corpus; run by hand to regenerate the seeds"]
async fn write_seed_corpora() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let cap = WriteCap::generate(&mut rng);
    let sealed = cap.seal(cap.first_index(), b"fuzz-seed", b"a box payload");
    let ids: Vec<BoxId> = (1..4).map(|i| BoxId::from_array([i; 32])).collect();
    let qid = [9; 16];
    for (name, query) in [
        ("request_write", Query::Write(sealed.clone())),
        ("request_read", Query::Read(ids)),
        ("request_copy", Query::Copy(cap.clone())),
        ("request_copy_status", Query::CopyStatus([4; 32])),
    ] {
        write_seed("courier_wire", name, &encode_request(&qid, &query));
    }
    let failed = CopyStatus::Failed(pigeonhole::store::CopyFailure {
        code: ReplyCode::AlreadyExists,
        position: 2,
    });
    for (name, reply) in [
        ("reply_stored", Reply::write(Ok(WriteOutcome::Stored))),
        (
            "reply_exists",
            Reply::write(Ok(WriteOutcome::AlreadyExists { identical: false })),
        ),
        (
            "reply_read",
            Reply::Read {
                results: vec![
                    ReadResult::stored(sealed.signature.as_bytes(), &sealed.payload),
                    ReadResult::not_found(),
                    ReadResult::stored(sealed.signature.as_bytes(), &[]),
                ],
            },
        ),
        (
            "reply_copy",
            Reply::Copy {
                status: WireCopyStatus::from_status(failed),
            },
        ),
        (
            "reply_copy_status",
            Reply::CopyStatus {
                status: Some(WireCopyStatus::from_status(CopyStatus::InProgress)),
            },
        ),
        ("reply_error", Reply::error(ReplyCode::InvalidBoxId, "bad")),
    ] {
        write_seed("courier_wire", name, &encode_reply(&reply));
    }

    let id = bytes(&[3; 16]);
    let index = bytes(&[5; 104]);
    let seeds = [
        (
            "connection_status",
            response(
                "connection_status_event",
                vec![("is_connected", Value::Bool(true)), ("err", Value::Null)],
            ),
        ),
        (
            "write_channel_reply",
            response(
                "write_channel_reply",
                vec![
                    ("query_id", id.clone()),
                    ("channel_id", Value::Integer(7.into())),
                    ("send_message_payload", bytes(&[1; 600])),
                    ("current_message_index", index),
                    ("error_code", Value::Integer(0.into())),
                ],
            ),
        ),
        (
            "resume_read_channel_reply",
            response(
                "resume_read_channel_reply",
                vec![
                    ("query_id", id.clone()),
                    ("channel_id", Value::Integer(7.into())),
                    ("error_code", Value::Integer(0.into())),
                ],
            ),
        ),
        (
            "query_sent",
            response(
                "channel_query_sent_event",
                vec![
                    ("message_id", id.clone()),
                    ("reply_eta", Value::Integer(1_500_000_000.into())),
                    ("error_code", Value::Integer(0.into())),
                ],
            ),
        ),
        (
            "query_reply",
            response(
                "channel_query_reply_event",
                vec![
                    ("message_id", id),
                    ("payload", bytes(b"a box plaintext")),
                    ("reply_index", Value::Integer(1.into())),
                    ("error_code", Value::Integer(0.into())),
                ],
            ),
        ),
    ];
    for (name, data) in seeds {
        write_seed("thin_client", name, &data);
    }
    let descriptor = |name: &str, services: &[&str]| {
        let kaetzchen = services
            .iter()
            .map(|s| (text(s), Value::Map(vec![(text("endpoint"), text(s))])))
            .collect();
        cbor(&Value::Map(vec![
            (text("Name"), text(name)),
            (text("IdentityKey"), bytes(&[2; 32])),
            (text("Kaetzchen"), Value::Map(kaetzchen)),
        ]))
    };
    let doc = cbor(&Value::Map(vec![
        (text("Epoch"), Value::Integer(42.into())),
        (
            text("ServiceNodes"),
            Value::Array(vec![
                bytes(&descriptor("other", &["echo"])),
                bytes(&descriptor("servicenode1", &["echo", "courier"])),
            ]),
        ),
    ]));
    write_seed("thin_client", "pki_document", &doc);
    write_seed(
        "thin_client",
        "pki_document_event",
        &response("new_pki_document_event", vec![("payload", bytes(&doc))]),
    );

    let [alice, dave] = busy_profiles().await;
    for (name, state) in [("alice", &alice), ("dave", &dave)] {
        let records: Vec<_> = state.clone().into_iter().collect();
        write_seed("stored_records", name, &decoders::records_input(&records));
        // Each kind of record alone too, so the fuzzer's mutations of one do not have to
        // keep the rest intact.
        let mut kinds = BTreeMap::new();
        for (k, v) in &records {
            let kind = keys::STATE
                .iter()
                .chain([keys::GROUP_HISTORY, keys::CHANNEL_HISTORY].iter())
                .find(|p| k.starts_with(p))
                .expect("a known key");
            kinds.entry(*kind).or_insert((k.clone(), v.clone()));
        }
        for (kind, record) in kinds {
            let kind = String::from_utf8_lossy(kind)
                .trim_end_matches('/')
                .replace(['/', '-'], "_");
            let file = format!("{name}_{kind}");
            write_seed("stored_records", &file, &decoders::records_input(&[record]));
        }
    }
}
