//! Caps, boxes and stateful streams: encodings, validation, round trips and tampering.

use bacap::{
    Error, MessageBoxIndex, Opened, ReadCap, SealedBox, Signature, StatefulReader, StatefulWriter,
    WriteCap, READ_CAP_LEN, TABLE_AFTER_DERIVATIONS, WRITE_CAP_LEN,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn cap(seed: u64) -> WriteCap {
    WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

#[test]
fn generation_is_deterministic_per_rng_and_clears_top_bits() {
    assert_eq!(cap(1), cap(1));
    assert_ne!(cap(1), cap(2));
    for seed in 0..200 {
        // The starting counter is drawn below 2^62 and advanced once.
        assert!(cap(seed).first_index().idx() <= 1 << 62);
    }
}

#[test]
fn write_cap_encoding_round_trips_and_is_checked() {
    let w = cap(3);
    let bytes = w.to_bytes();
    assert_eq!(bytes.len(), WRITE_CAP_LEN);
    assert_eq!(WriteCap::from_bytes(bytes.as_ref()).unwrap(), w);

    assert!(matches!(
        WriteCap::from_bytes(&bytes[..167]).unwrap_err(),
        Error::InvalidLength {
            expected: 168,
            got: 167,
            ..
        }
    ));
    // A public key from another seed.
    let mut other = *bytes;
    other[32..64].copy_from_slice(cap(4).root_public_key());
    assert_eq!(
        WriteCap::from_bytes(&other).unwrap_err(),
        Error::KeyMismatch
    );
    // A public key that is not a point (y = 2 has no x on the curve).
    let mut not_point = *bytes;
    not_point[32..64].copy_from_slice(&{
        let mut y = [0u8; 32];
        y[0] = 2;
        y
    });
    assert_eq!(
        WriteCap::from_bytes(&not_point).unwrap_err(),
        Error::InvalidPoint("write cap public key")
    );
}

#[test]
fn read_cap_encoding_round_trips_and_rejects_bad_points() {
    let r = cap(5).read_cap();
    let bytes = r.to_bytes();
    assert_eq!(bytes.len(), READ_CAP_LEN);
    assert_eq!(ReadCap::from_bytes(bytes.as_ref()).unwrap(), r);
    assert!(matches!(
        ReadCap::from_bytes(&bytes[1..]).unwrap_err(),
        Error::InvalidLength { .. }
    ));

    let mut identity = *bytes;
    identity[0..32].copy_from_slice(&{
        let mut y = [0u8; 32];
        y[0] = 1; // the identity point, of small order
        y
    });
    assert!(matches!(
        ReadCap::from_bytes(&identity).unwrap_err(),
        Error::InvalidPoint(_)
    ));
    let mut not_point = *bytes;
    not_point[0..32].copy_from_slice(&{
        let mut y = [0u8; 32];
        y[0] = 2;
        y
    });
    assert!(matches!(
        ReadCap::from_bytes(&not_point).unwrap_err(),
        Error::InvalidPoint(_)
    ));
}

#[test]
fn read_and_write_caps_agree_on_box_ids() {
    let w = cap(6);
    let r = ReadCap::from_bytes(w.read_cap().to_bytes().as_ref()).unwrap();
    let mut index = w.first_index().clone();
    for ctx in [&b""[..], b"a", b"groupchat-v1"] {
        for _ in 0..5 {
            assert_eq!(w.box_id(&index, ctx), r.box_id(&index, ctx));
            index = index.next().unwrap();
        }
    }
    // Contexts separate streams that share a cap.
    assert_ne!(r.box_id(&index, b"a"), r.box_id(&index, b"b"));
}

#[test]
fn seal_open_round_trip_and_tombstones() {
    let w = cap(7);
    let r = w.read_cap();
    let index = w.first_index().next().unwrap();
    let sealed = w.seal(&index, b"ctx", b"attack at dawn");
    assert_eq!(sealed.payload.len(), 14 + 16);
    sealed.verify().unwrap();
    assert_eq!(
        w.seal(&index, b"ctx", b"attack at dawn"),
        sealed,
        "sealing is deterministic"
    );
    assert_eq!(
        r.open(&index, b"ctx", &sealed).unwrap().plaintext(),
        b"attack at dawn"
    );

    let tomb = w.tombstone(&index, b"ctx");
    assert!(tomb.is_tombstone());
    tomb.verify().unwrap();
    assert_eq!(r.open(&index, b"ctx", &tomb).unwrap(), Opened::Tombstone);
}

#[test]
fn tampering_is_rejected() {
    let w = cap(8);
    let r = w.read_cap();
    let index = w.first_index().clone();
    let sealed = w.seal(&index, b"", b"some message");

    let mut bad = sealed.clone();
    bad.payload[3] ^= 1;
    assert_eq!(
        r.open(&index, b"", &bad).unwrap_err(),
        Error::InvalidSignature
    );

    let mut bad = sealed.clone();
    let mut sig = *bad.signature.as_bytes();
    sig[10] ^= 1;
    bad.signature = Signature::from_array(sig);
    assert_eq!(
        r.open(&index, b"", &bad).unwrap_err(),
        Error::InvalidSignature
    );

    // The right box read at the wrong index or context.
    assert_eq!(
        r.open(&index.next().unwrap(), b"", &sealed).unwrap_err(),
        Error::BoxIdMismatch
    );
    assert_eq!(
        r.open(&index, b"other", &sealed).unwrap_err(),
        Error::BoxIdMismatch
    );

    // A tombstone signature does not cover a payload, nor a payload signature a tombstone.
    let mut forged = w.tombstone(&index, b"");
    forged.payload = sealed.payload.clone();
    assert_eq!(
        r.open(&index, b"", &forged).unwrap_err(),
        Error::InvalidSignature
    );
    let mut emptied = sealed.clone();
    emptied.payload.clear();
    assert_eq!(
        r.open(&index, b"", &emptied).unwrap_err(),
        Error::InvalidSignature
    );

    // Someone else's cap cannot write this stream.
    let intruder = cap(9);
    let forged = intruder.seal(&index, b"", b"some message");
    assert_ne!(forged.box_id, sealed.box_id);
    let relabelled = SealedBox {
        box_id: sealed.box_id,
        ..forged
    };
    assert_eq!(
        r.open(&index, b"", &relabelled).unwrap_err(),
        Error::InvalidSignature
    );
}

#[test]
fn stateful_writer_and_reader_follow_each_other() {
    let w = cap(10);
    let mut writer = StatefulWriter::new(w.clone(), b"chat");
    let mut reader = StatefulReader::new(w.read_cap(), b"chat");
    for i in 0..5u8 {
        let msg = vec![i; i as usize * 100];
        let sealed = writer.prepare_next(&msg);
        assert_eq!(
            writer.prepare_next(&msg),
            sealed,
            "preparing does not advance"
        );
        assert_eq!(writer.next_box_id(), sealed.box_id);
        assert_eq!(reader.next_box_id(), sealed.box_id);

        // A bad box is refused and the reader stays where it is.
        let mut bad = sealed.clone();
        bad.payload.push(0);
        assert!(reader.decrypt_next(&bad.signature, &bad.payload).is_err());
        assert_eq!(reader.next_box_id(), sealed.box_id);

        assert_eq!(
            reader
                .decrypt_next(&sealed.signature, &sealed.payload)
                .unwrap()
                .plaintext(),
            msg.as_slice()
        );
        writer.advance().unwrap();
        assert_eq!(writer.next_index(), reader.next_index());
    }
    // A tombstone is read as such and skipped.
    let tomb = writer.cap().tombstone(writer.next_index(), writer.ctx());
    assert_eq!(
        reader.decrypt_next(&tomb.signature, &tomb.payload).unwrap(),
        Opened::Tombstone
    );
}

#[test]
fn stateful_state_round_trips_and_is_checked() {
    let w = cap(11);
    let mut writer = StatefulWriter::new(w.clone(), b"ctx");
    writer.advance().unwrap();
    writer.advance().unwrap();
    let bytes = writer.to_bytes();
    let restored = StatefulWriter::from_bytes(&bytes).unwrap();
    assert_eq!(restored, writer);
    assert_eq!(restored.prepare_next(b"x"), writer.prepare_next(b"x"));

    let mut reader = StatefulReader::new(w.read_cap(), b"ctx");
    let first = StatefulWriter::new(w.clone(), b"ctx").prepare_next(b"hi");
    reader
        .decrypt_next(&first.signature, &first.payload)
        .unwrap();
    let restored = StatefulReader::from_bytes(&reader.to_bytes()).unwrap();
    assert_eq!(restored, reader);
    assert_eq!(restored.next_box_id(), reader.next_box_id());

    assert!(matches!(
        StatefulWriter::from_bytes(&bytes[..100]).unwrap_err(),
        Error::InvalidLength { .. }
    ));
    let mut wrong_version = bytes.to_vec();
    wrong_version[0] = 9;
    assert!(matches!(
        StatefulWriter::from_bytes(&wrong_version).unwrap_err(),
        Error::InvalidEncoding(_)
    ));
    // A position before the cap's first index is refused.
    let mut before = bytes.to_vec();
    let first_idx = w.first_index().idx() - 1;
    let behind = MessageBoxIndex::from_parts(first_idx, [0; 32], [0; 32], [0; 32]);
    before[1 + WRITE_CAP_LEN..1 + WRITE_CAP_LEN + 104].copy_from_slice(behind.to_bytes().as_ref());
    assert!(matches!(
        StatefulWriter::from_bytes(&before).unwrap_err(),
        Error::InvalidEncoding(_)
    ));
}

#[test]
fn debug_output_never_shows_secrets() {
    let w = cap(12);
    let seed_hex: String = w.to_bytes()[..32]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let writer = StatefulWriter::new(w.clone(), b"");
    for s in [
        format!("{w:?}"),
        format!("{:?}", w.read_cap()),
        format!("{writer:?}"),
        format!("{:?}", w.first_index()),
    ] {
        assert!(!s.contains(&seed_hex[..12]), "{s}");
        assert!(!s.contains("seed"), "{s}");
        assert!(!s.contains("encryption_key"), "{s}");
    }
}

#[test]
fn read_cap_builds_its_table_only_once_busy_and_ids_agree_either_way() {
    let w = cap(13);
    let r = ReadCap::from_bytes(w.read_cap().to_bytes().as_ref()).unwrap();
    let clone = r.clone();
    let mut index = w.first_index().clone();
    for i in 0..TABLE_AFTER_DERIVATIONS + 5 {
        assert_eq!(r.has_table(), i > TABLE_AFTER_DERIVATIONS, "derivation {i}");
        assert_eq!(
            r.box_id(&index, b"c"),
            w.box_id(&index, b"c"),
            "derivation {i}"
        );
        index = index.next().unwrap();
    }
    assert!(clone.has_table(), "clones share the table");
}

#[test]
fn stateful_reader_can_skip_a_box() {
    let w = cap(14);
    let mut writer = StatefulWriter::new(w.clone(), b"s");
    let mut reader = StatefulReader::new(w.read_cap(), b"s");
    writer.advance().unwrap();
    let second = writer.prepare_next(b"second");
    reader.advance().unwrap();
    assert_eq!(reader.next_box_id(), second.box_id);
    assert_eq!(reader.ctx(), b"s");
    assert_eq!(
        reader
            .decrypt_next(&second.signature, &second.payload)
            .unwrap()
            .plaintext(),
        b"second"
    );
}

#[test]
fn root_key_signatures_verify_only_under_their_own_cap() {
    let w = cap(15);
    let sig = w.sign_with_root_key(b"statement");
    let r = ReadCap::from_bytes(w.read_cap().to_bytes().as_ref()).unwrap();
    r.verify_root_signature(b"statement", &sig).unwrap();
    assert_eq!(
        r.verify_root_signature(b"statemenT", &sig).unwrap_err(),
        Error::InvalidSignature
    );
    assert_eq!(
        cap(16)
            .read_cap()
            .verify_root_signature(b"statement", &sig)
            .unwrap_err(),
        Error::InvalidSignature
    );
    // It is plain Ed25519 under the root public key.
    let vk = ed25519_dalek::VerifyingKey::from_bytes(w.root_public_key()).unwrap();
    vk.verify_strict(
        b"statement",
        &ed25519_dalek::Signature::from_bytes(sig.as_bytes()),
    )
    .unwrap();
}
