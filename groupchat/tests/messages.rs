//! Messages: round trips, katzenqt's decoding rules, membership hashes and hostile input.

use bacap::WriteCap;
use groupchat::channel::{ChannelError, ChannelMessage};
use groupchat::display_name::DisplayName;
use groupchat::membership::MembershipHash;
use groupchat::messages::{
    msg_type, Body, DecodeError, FileType, FileUpload, GroupChatMessage, PleaseAdd, ReplyWho,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn member(seed: u64, name: &str) -> PleaseAdd {
    let cap = WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(seed));
    PleaseAdd::new(DisplayName::new(name).unwrap(), &cap.read_cap())
}

fn cbor(value: ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&value, &mut out).unwrap();
    out
}

fn map(entries: Vec<(&str, ciborium::Value)>) -> ciborium::Value {
    ciborium::Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

#[test]
fn every_body_round_trips_and_the_cap_parses() {
    let alice = member(1, "alice");
    assert_eq!(
        alice.read_cap().unwrap().to_bytes().as_ref(),
        alice.read_cap.as_bytes()
    );
    let hash = MembershipHash::of(&[alice.clone(), member(2, "bob")]);
    for body in [
        Body::Text("hi 👋".into()),
        Body::Text(String::new()),
        Body::Introduction(member(3, "carol")),
        Body::FileUpload(FileUpload {
            payload: vec![1, 2, 3],
            filetype: FileType::Sound,
            basename: "a.opus".into(),
        }),
        Body::Who("?".into()),
        Body::WhoReply(ReplyWho::of(vec![member(5, "eve"), member(6, "frank")])),
    ] {
        let m = GroupChatMessage::new(hash, body);
        assert_eq!(GroupChatMessage::from_cbor(&m.to_cbor()).unwrap(), m);
    }
    assert_eq!(PleaseAdd::from_cbor(&alice.to_cbor()).unwrap(), alice);
    let rw = ReplyWho::of(vec![alice, member(2, "bob")]);
    assert_eq!(ReplyWho::from_cbor(&rw.to_cbor()).unwrap(), rw);
}

#[test]
fn membership_hash_ignores_order_and_duplicates_but_not_members() {
    let (a, b, c) = (member(1, "a"), member(2, "b"), member(3, "c"));
    let h = MembershipHash::of(&[a.clone(), b.clone(), c.clone()]);
    assert_eq!(h, MembershipHash::of(&[c.clone(), a.clone(), b.clone()]));
    assert_eq!(
        h,
        MembershipHash::of(&[b.clone(), c.clone(), a.clone(), b.clone()])
    );
    assert_ne!(h, MembershipHash::of(&[a.clone(), b.clone()]));
    let renamed = PleaseAdd {
        display_name: DisplayName::new("A").unwrap(),
        ..a.clone()
    };
    assert_ne!(h, MembershipHash::of(&[renamed, b, c]));
}

#[test]
fn missing_msg_type_is_inferred_from_the_field_present() {
    let hash = ciborium::Value::Bytes(vec![7; 32]);
    let intro = member(4, "dave");
    let introduction = ciborium::Value::Map(vec![
        ("display_name".into(), "dave".into()),
        (
            "read_cap".into(),
            ciborium::Value::Bytes(intro.read_cap.as_bytes().to_vec()),
        ),
    ]);
    let m = GroupChatMessage::from_cbor(&cbor(map(vec![
        ("version", 0.into()),
        ("membership_hash", hash.clone()),
        ("introduction", introduction),
    ])))
    .unwrap();
    assert_eq!(m.body, Body::Introduction(intro));
    let m = GroupChatMessage::from_cbor(&cbor(map(vec![
        ("version", 0.into()),
        ("membership_hash", hash.clone()),
    ])))
    .unwrap();
    assert_eq!(m.body, Body::Text(String::new()), "defaults to TEXT");
    let m = GroupChatMessage::from_cbor(&cbor(map(vec![
        ("version", 0.into()),
        ("membership_hash", hash),
        ("who", "x".into()),
    ])))
    .unwrap();
    assert_eq!(m.body.msg_type(), msg_type::WHO);
}

#[test]
fn katzenqt_text_reply_who_is_reported_not_fatal() {
    let m = cbor(map(vec![
        ("version", 0.into()),
        ("membership_hash", ciborium::Value::Bytes(vec![1; 32])),
        ("msg_type", 4.into()),
        ("reply_who", "alice, bob".into()),
    ]));
    assert!(matches!(
        GroupChatMessage::from_cbor(&m),
        Err(DecodeError::Unsupported(_))
    ));
    let bad = cbor(map(vec![
        ("version", 0.into()),
        ("membership_hash", ciborium::Value::Bytes(vec![1; 32])),
        ("msg_type", 4.into()),
        ("reply_who", map(vec![("please_adds", 3.into())])),
    ]));
    assert!(matches!(
        GroupChatMessage::from_cbor(&bad),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let hash = ciborium::Value::Bytes(vec![7; 32]);
    let text = |extra: Vec<(&str, ciborium::Value)>| {
        let mut entries = vec![("version", 0.into()), ("membership_hash", hash.clone())];
        entries.extend(extra);
        GroupChatMessage::from_cbor(&cbor(map(entries)))
    };
    assert!(matches!(
        GroupChatMessage::from_cbor(b"\xff\x00garbage"),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        GroupChatMessage::from_cbor(&[]),
        Err(DecodeError::Malformed(_))
    ));
    assert_eq!(
        text(vec![("msg_type", 7.into()), ("text", "t".into())]).unwrap_err(),
        DecodeError::UnknownType(7)
    );
    assert!(
        matches!(
            text(vec![("msg_type", 0.into())]),
            Err(DecodeError::Malformed(_))
        ),
        "TEXT without text"
    );
    assert!(
        matches!(
            text(vec![("msg_type", 2.into())]),
            Err(DecodeError::Malformed(_))
        ),
        "FILE_UPLOAD without file"
    );
    let short = GroupChatMessage::from_cbor(&cbor(map(vec![
        ("version", 0.into()),
        ("membership_hash", ciborium::Value::Bytes(vec![1; 31])),
    ])));
    assert!(matches!(
        short,
        Err(DecodeError::BadLength {
            field: "membership_hash",
            got: 31,
            ..
        })
    ));
    let v1 = GroupChatMessage::from_cbor(&cbor(map(vec![
        ("version", 1.into()),
        ("membership_hash", hash.clone()),
    ])));
    assert_eq!(v1.unwrap_err(), DecodeError::UnknownVersion(1));

    let bad_cap = PleaseAdd::from_cbor(&cbor(map(vec![
        ("display_name", "x".into()),
        ("read_cap", ciborium::Value::Bytes(vec![0; 135])),
    ])));
    assert!(matches!(
        bad_cap,
        Err(DecodeError::BadLength {
            field: "read_cap",
            got: 135,
            ..
        })
    ));
    let bad_name = PleaseAdd::from_cbor(&cbor(map(vec![
        ("display_name", "a\u{7}".into()),
        ("read_cap", ciborium::Value::Bytes(vec![0; 136])),
    ])));
    assert!(matches!(bad_name, Err(DecodeError::DisplayName(_))));
    // Decodes by length, but the root key is no point: refused only when the cap is used.
    let no_point = PleaseAdd::from_cbor(&cbor(map(vec![
        ("display_name", "x".into()),
        ("read_cap", ciborium::Value::Bytes(vec![0xff; 136])),
    ])))
    .unwrap();
    assert!(no_point.read_cap().is_err());
    let bad_type = text(vec![(
        "file_upload",
        map(vec![
            ("payload", ciborium::Value::Bytes(vec![])),
            ("filetype", "video".into()),
            ("basename", "x".into()),
        ]),
    )]);
    assert!(matches!(bad_type, Err(DecodeError::Malformed(_))));

    // A byte string claiming 2^62 bytes in a 20-byte message.
    let mut lying = vec![0xa2, 0x67];
    lying.extend_from_slice(b"version");
    lying.push(0x00);
    lying.push(0x6f);
    lying.extend_from_slice(b"membership_hash");
    lying.extend_from_slice(&[0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        GroupChatMessage::from_cbor(&lying),
        Err(DecodeError::Malformed(_))
    ));
    // Trailing bytes after one message.
    let mut trailing =
        GroupChatMessage::new(MembershipHash([0; 32]), Body::Text("x".into())).to_cbor();
    trailing.push(0);
    assert!(matches!(
        GroupChatMessage::from_cbor(&trailing),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn a_box_of_several_messages_decodes_each_and_survives_an_unknown_one() {
    let hash = MembershipHash([9; 32]);
    let first = GroupChatMessage::new(hash, Body::Text("one".into()));
    let third = GroupChatMessage::new(hash, Body::Text("three".into()));
    let mut bytes = first.to_cbor();
    bytes.extend(cbor(map(vec![
        ("version", 0.into()),
        ("membership_hash", ciborium::Value::Bytes(vec![9; 32])),
        ("msg_type", 5.into()),
    ])));
    bytes.extend(third.to_cbor());
    let decoded = GroupChatMessage::decode_sequence(&bytes);
    assert_eq!(decoded.len(), 3);
    assert_eq!(decoded[0].as_ref().unwrap(), &first);
    assert_eq!(
        decoded[1].as_ref().unwrap_err(),
        &DecodeError::UnknownType(5)
    );
    assert_eq!(decoded[2].as_ref().unwrap(), &third);

    bytes.extend_from_slice(&[0xff, 0xff]);
    let decoded = GroupChatMessage::decode_sequence(&bytes);
    assert_eq!(decoded.len(), 4);
    assert!(decoded[3].is_err());
}

#[test]
fn debug_never_prints_caps_or_file_contents() {
    let alice = member(1, "alice");
    let cap_hex: String = alice.read_cap.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = FileUpload {
        payload: b"secret-bytes".to_vec(),
        filetype: FileType::Arbitrary,
        basename: "f".into(),
    };
    for s in [
        format!("{alice:?}"),
        format!("{:?}", Body::Introduction(alice.clone())),
        format!("{file:?}"),
    ] {
        assert!(!s.contains(&cap_hex), "{s}");
        assert!(
            !s.contains("secret-bytes") && !s.contains("115, 101"),
            "{s}"
        );
    }
}

/// Garbage in every field of the lifecycle messages, the roster and the Welcome's history: an
/// error naming what is wrong, never a panic.
#[test]
fn lifecycle_fields_with_garbage_are_errors() {
    use ciborium::Value;
    let body = |msg_type: u8, field: &str, value: Value| {
        GroupChatMessage::from_cbor(&cbor(map(vec![
            ("version", 0.into()),
            ("membership_hash", Value::Bytes(vec![7; 32])),
            ("msg_type", msg_type.into()),
            (field, value),
        ])))
    };
    let bytes = |n: usize| Value::Bytes(vec![1; n]);
    let bad_length = |r: Result<GroupChatMessage, DecodeError>, want: usize| {
        assert!(
            matches!(r, Err(DecodeError::BadLength { got, .. }) if got == want),
            "{r:?}"
        )
    };
    let malformed = |r: Result<GroupChatMessage, DecodeError>| {
        assert!(matches!(r, Err(DecodeError::Malformed(_))), "{r:?}")
    };
    let entry = |member: usize, sealed: usize| {
        map(vec![("member", bytes(member)), ("sealed", bytes(sealed))])
    };

    bad_length(body(16, "key", map(vec![("public", bytes(31))])), 31);
    malformed(body(16, "leave", map(vec![])));
    bad_length(body(18, "remove", map(vec![("member", bytes(33))])), 33);
    malformed(body(18, "remove", "dave".into()));
    // ROTATE: both forms at once, neither, a short member ID, a short substream cap, a short
    // index entry.
    malformed(body(
        19,
        "rotate",
        map(vec![
            ("epoch", 1.into()),
            ("caps", Value::Array(vec![entry(32, 184)])),
            ("caps_in", bytes(136)),
            ("index", Value::Array(vec![bytes(32)])),
        ]),
    ));
    malformed(body(19, "rotate", map(vec![("epoch", 1.into())])));
    bad_length(
        body(
            19,
            "rotate",
            map(vec![
                ("epoch", 1.into()),
                ("caps", Value::Array(vec![entry(31, 184)])),
            ]),
        ),
        31,
    );
    bad_length(
        body(
            19,
            "rotate",
            map(vec![
                ("epoch", 1.into()),
                ("caps_in", bytes(135)),
                ("index", Value::Array(vec![bytes(32)])),
            ]),
        ),
        135,
    );
    bad_length(
        body(
            19,
            "rotate",
            map(vec![
                ("epoch", 1.into()),
                ("caps_in", bytes(136)),
                ("index", Value::Array(vec![bytes(3)])),
            ]),
        ),
        3,
    );
    malformed(body(
        19,
        "rotate",
        map(vec![("epoch", (-1).into()), ("caps", Value::Array(vec![]))]),
    ));
    // ROLE: an unknown role, a short member ID.
    malformed(body(
        20,
        "role",
        map(vec![("member", bytes(32)), ("role", "king".into())]),
    ));
    bad_length(
        body(
            20,
            "role",
            map(vec![("member", bytes(2)), ("role", "admin".into())]),
        ),
        2,
    );
    // A roster of another length than the member list, and a roster entry with a bad role or
    // key.
    let alice = member(1, "alice");
    let add = map(vec![
        ("display_name", "alice".into()),
        ("read_cap", Value::Bytes(alice.read_cap.as_bytes().to_vec())),
    ]);
    let roster_entry = |role: &str, key: usize| {
        map(vec![
            ("member", bytes(32)),
            ("role", role.into()),
            ("epoch", 0.into()),
            ("key", bytes(key)),
        ])
    };
    let reply = |roster: Vec<Value>| {
        body(
            4,
            "reply_who",
            map(vec![
                ("please_adds", Value::Array(vec![add.clone()])),
                ("roster", Value::Array(roster)),
            ]),
        )
    };
    assert!(reply(vec![roster_entry("member", 32)]).is_ok());
    malformed(reply(vec![]));
    malformed(reply(vec![roster_entry("king", 32)]));
    bad_length(reply(vec![roster_entry("member", 5)]), 5);
    // A Welcome with an unknown history setting.
    let welcome = ChannelMessage::from_cbor(&cbor(map(vec![
        ("version", 1.into()),
        ("kind", "welcome".into()),
        ("group_id", bytes(32)),
        ("group_name", "g".into()),
        ("members", Value::Bytes(ReplyWho::of(vec![alice]).to_cbor())),
        ("history", "everything".into()),
    ])));
    assert!(
        matches!(
            welcome,
            Err(ChannelError::Malformed(_) | ChannelError::PleaseAdd(DecodeError::Malformed(_)))
        ),
        "{welcome:?}"
    );
}

#[test]
fn decline_and_reject_with_garbage_are_errors() {
    use ciborium::Value::{Bytes, Integer, Text};
    let channel = |kind: &str, extra: Vec<(&str, ciborium::Value)>| {
        let mut fields = vec![("version", Integer(1.into())), ("kind", Text(kind.into()))];
        fields.extend(extra);
        ChannelMessage::from_cbor(&cbor(map(fields)))
    };
    assert!(channel("decline", vec![]).is_err(), "no group ID");
    assert!(channel("decline", vec![("group_id", Bytes(vec![1; 31]))]).is_err());
    assert!(
        channel("reject", vec![("group_id", Bytes(vec![1; 32]))]).is_err(),
        "no reason"
    );
    assert!(matches!(
        channel(
            "reject",
            vec![
                ("group_id", Bytes(vec![1; 32])),
                ("reason", Text("no".into()))
            ]
        ),
        Ok(ChannelMessage::Reject(_, ref r)) if r == "no"
    ));
}

#[test]
fn stored_requests_with_garbage_are_errors() {
    use groupchat::chat::Request;
    use groupchat::records::{self, RequestRecord};
    // A group ID of the wrong length inside a stored request.
    let bad = cbor(map(vec![
        ("v", ciborium::Value::Integer(1.into())),
        ("queued_ms", ciborium::Value::Integer(0.into())),
        (
            "request",
            map(vec![(
                "Who",
                map(vec![("group", ciborium::Value::Bytes(vec![0; 5]))]),
            )]),
        ),
    ]));
    assert!(records::decode::<RequestRecord>("queued request", &bad).is_err());
    assert!(records::decode::<RequestRecord>("queued request", b"\xff\x00").is_err());
    let good = RequestRecord {
        v: 1,
        queued_ms: 7,
        request: Request::Who {
            group: groupchat::channel::GroupId([3; 32]),
        },
    };
    let back: RequestRecord = records::decode("queued request", &records::encode(&good)).unwrap();
    assert_eq!(back.request, good.request);
}
