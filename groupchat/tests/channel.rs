//! 1:1 channel messages and tokens: round trips, signatures, and hostile input.

use bacap::WriteCap;
use groupchat::channel::{
    ChannelError, ChannelMessage, ChannelToken, GroupId, Invitation, PleaseReviseDisplayName,
    SignedPleaseAdd, Welcome, TOKEN_PREFIX,
};
use groupchat::display_name::DisplayName;
use groupchat::messages::{PleaseAdd, ReplyWho};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn cap(seed: u64) -> WriteCap {
    WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

fn please_add(cap: &WriteCap, name: &str) -> PleaseAdd {
    PleaseAdd::new(DisplayName::new(name).unwrap(), &cap.read_cap())
}

fn cbor(entries: Vec<(&str, ciborium::Value)>) -> Vec<u8> {
    let mut out = Vec::new();
    let map = ciborium::Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect());
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

#[test]
fn every_kind_round_trips() {
    let group_id = GroupId([3; 32]);
    let bob = cap(2);
    let signed = SignedPleaseAdd::sign(group_id, &please_add(&bob, "bob"), &bob);
    for m in [
        ChannelMessage::Invitation(Invitation {
            group_id,
            group_name: "book club 📚".into(),
        }),
        ChannelMessage::SignedPleaseAdd(signed.clone()),
        ChannelMessage::PleaseReviseDisplayName(PleaseReviseDisplayName {
            group_id,
            original: signed,
            reason: "two bobs already".into(),
        }),
        ChannelMessage::Welcome(Welcome {
            group_id,
            group_name: "book club".into(),
            members: ReplyWho::of(vec![please_add(&cap(1), "alice"), please_add(&bob, "bob")]),
            history: None,
        }),
        ChannelMessage::Text("hi".into()),
    ] {
        assert_eq!(ChannelMessage::from_cbor(&m.to_cbor()).unwrap(), m);
    }
}

#[test]
fn signed_please_add_proves_the_stream_owner() {
    let group_id = GroupId([1; 32]);
    let bob = cap(2);
    let signed = SignedPleaseAdd::sign(group_id, &please_add(&bob, "bob"), &bob);
    assert_eq!(signed.verify().unwrap(), please_add(&bob, "bob"));

    // Someone offering bob's ReadCap without bob's WriteCap.
    let mallory = cap(3);
    let forged = SignedPleaseAdd::sign(group_id, &please_add(&bob, "bob"), &mallory);
    assert_eq!(forged.verify().unwrap_err(), ChannelError::BadSignature);
    // A signature for another group does not carry over.
    let replayed = SignedPleaseAdd {
        group_id: GroupId([2; 32]),
        ..signed.clone()
    };
    assert_eq!(replayed.verify().unwrap_err(), ChannelError::BadSignature);
    // A changed name is not what bob signed.
    let renamed = SignedPleaseAdd {
        please_add: please_add(&bob, "bobby").to_cbor(),
        ..signed.clone()
    };
    assert_eq!(renamed.verify().unwrap_err(), ChannelError::BadSignature);
    let mut bad_sig = signed.clone();
    bad_sig.signature[40] ^= 1;
    assert_eq!(bad_sig.verify().unwrap_err(), ChannelError::BadSignature);
    let garbage = SignedPleaseAdd {
        please_add: vec![0xff],
        ..signed
    };
    assert!(matches!(
        garbage.verify().unwrap_err(),
        ChannelError::PleaseAdd(_)
    ));
}

#[test]
fn bad_channel_bytes_are_errors() {
    assert!(matches!(
        ChannelMessage::from_cbor(b"\x00\x01"),
        Err(ChannelError::Malformed(_))
    ));
    assert_eq!(
        ChannelMessage::from_cbor(&cbor(vec![("version", 1.into()), ("kind", "poll".into())]))
            .unwrap_err(),
        ChannelError::UnknownKind("poll".into())
    );
    assert_eq!(
        ChannelMessage::from_cbor(&cbor(vec![
            ("version", 2.into()),
            ("kind", "text".into()),
            ("text", "x".into())
        ]))
        .unwrap_err(),
        ChannelError::UnknownVersion(2)
    );
    let short_id = cbor(vec![
        ("version", 1.into()),
        ("kind", "invitation".into()),
        ("group_id", ciborium::Value::Bytes(vec![0; 31])),
        ("group_name", "g".into()),
    ]);
    assert!(matches!(
        ChannelMessage::from_cbor(&short_id),
        Err(ChannelError::Malformed(_))
    ));
    let bad_name = cbor(vec![
        ("version", 1.into()),
        ("kind", "invitation".into()),
        ("group_id", ciborium::Value::Bytes(vec![0; 32])),
        ("group_name", "\u{1b}[2J".into()),
    ]);
    assert!(matches!(
        ChannelMessage::from_cbor(&bad_name),
        Err(ChannelError::GroupName(_))
    ));
    let no_text = cbor(vec![("version", 1.into()), ("kind", "text".into())]);
    assert!(matches!(
        ChannelMessage::from_cbor(&no_text),
        Err(ChannelError::Malformed(_))
    ));
}

#[test]
fn tokens_round_trip_and_catch_copy_mistakes() {
    let read_cap = cap(4).read_cap();
    let token = ChannelToken::new(&read_cap);
    let text = token.to_text();
    assert!(text.starts_with(TOKEN_PREFIX));
    let parsed = ChannelToken::parse(&format!("  {}\n", text.as_str())).unwrap();
    assert_eq!(parsed.read_cap(), read_cap);

    assert!(matches!(
        ChannelToken::parse("hello"),
        Err(ChannelError::BadToken(_))
    ));
    assert!(matches!(
        ChannelToken::parse(&text[..text.len() - 2]),
        Err(ChannelError::BadToken(_))
    ));
    assert!(matches!(
        ChannelToken::parse(&format!("{TOKEN_PREFIX}zz")),
        Err(ChannelError::BadToken(_))
    ));
    // One character changed: the checksum catches it.
    let mut typo = text.to_string();
    let i = TOKEN_PREFIX.len() + 10;
    let c = if &typo[i..i + 1] == "0" { "1" } else { "0" };
    typo.replace_range(i..i + 1, c);
    assert_eq!(
        ChannelToken::parse(&typo).unwrap_err(),
        ChannelError::BadToken("its checksum does not match (was it copied whole?)")
    );
    assert_eq!(format!("{token:?}"), "ChannelToken(…)");
}
