//! The reference vectors, tampered with: the checker names what changed, and the reference's
//! boxes with a changed ciphertext, signature or box ID are refused by the read path.

use bacap::{Error, Opened, ReadCap, SealedBox, Signature, WriteCap};
use serde_json::Value;
use testvectors::bacap_vectors::{check_json, VectorFile};
use testvectors::BACAP_HPQC_JSON;

fn flip_hex(hex_str: &str, byte: usize) -> String {
    let mut bytes = hex::decode(hex_str).unwrap();
    bytes[byte] ^= 0x01;
    hex::encode(bytes)
}

fn tampered(path: &[&str], byte: usize) -> String {
    let mut v: Value = serde_json::from_str(BACAP_HPQC_JSON).unwrap();
    let mut cur = &mut v;
    for p in path {
        cur = match p.parse::<usize>() {
            Ok(i) => &mut cur[i],
            Err(_) => &mut cur[*p],
        };
    }
    *cur = Value::String(flip_hex(cur.as_str().unwrap(), byte));
    v.to_string()
}

#[test]
fn checker_names_case_step_and_field_of_each_tampered_field() {
    for (path, step, field) in [
        (
            &["cases", "1", "steps", "2", "signature"][..],
            "steps[2]",
            "signature",
        ),
        (
            &["cases", "1", "steps", "2", "ciphertext"][..],
            "steps[2]",
            "ciphertext",
        ),
        (
            &["cases", "1", "steps", "4", "box_id"][..],
            "steps[4]",
            "box_id",
        ),
        (
            &["cases", "1", "steps", "0", "message_box_index"][..],
            "steps[0]",
            "message_box_index",
        ),
        (
            &["cases", "1", "tombstones", "1", "signature"][..],
            "tombstones[1]",
            "signature",
        ),
        (
            &["cases", "1", "advances", "3", "box_id_for_ctx"][..],
            "advances[3]",
            "box_id_for_ctx",
        ),
        (
            &["cases", "1", "advances", "3", "message_box_index"][..],
            "advances[3]",
            "message_box_index",
        ),
        (&["cases", "1", "read_cap"][..], "caps", "read_cap"),
    ] {
        let report = check_json(&tampered(path, 5)).unwrap();
        assert!(!report.is_success(), "{path:?}");
        assert_eq!(
            report.reproduced,
            report.total - 1,
            "{path:?}: exactly one vector fails"
        );
        assert!(!report.mismatches.is_empty());
        for m in &report.mismatches {
            assert_eq!(
                (m.case.as_str(), m.step.as_str(), m.field.as_str()),
                ("public-1", step, field),
                "{path:?}"
            );
        }
    }
}

#[test]
fn malformed_files_are_errors_not_panics() {
    assert!(check_json("{").is_err());
    assert!(check_json(r#"{"cases": 3}"#).is_err());
    let empty = check_json(r#"{"cases": []}"#).unwrap();
    assert!(!empty.is_success(), "a file with no vectors proves nothing");

    let mut v: Value = serde_json::from_str(BACAP_HPQC_JSON).unwrap();
    v["cases"][0]["steps"][1]["ciphertext"] = Value::String("zz".into());
    v["cases"][2]["write_cap"] = Value::String("00".into());
    let report = check_json(&v.to_string()).unwrap();
    assert!(report
        .mismatches
        .iter()
        .any(|m| m.case == "public-0" && m.step == "steps[1]" && m.field == "ciphertext"));
    assert!(report
        .mismatches
        .iter()
        .any(|m| m.case == "public-2" && m.field == "write_cap"));
    assert_eq!(
        report.reproduced,
        report.total - 1 - 13,
        "one step of case 0 and all of case 2 fail"
    );
}

#[test]
fn reference_boxes_with_changed_bytes_are_refused() {
    let file: VectorFile = serde_json::from_str(BACAP_HPQC_JSON).unwrap();
    let mut refused = 0;
    for case in &file.cases {
        let write = WriteCap::from_bytes(&hex::decode(&case.write_cap).unwrap()).unwrap();
        let read = ReadCap::from_bytes(&hex::decode(&case.read_cap).unwrap()).unwrap();
        let mut index = write.first_index().clone();
        for (i, step) in case.steps.iter().enumerate() {
            if i > 0 {
                index = index.next().unwrap();
            }
            let ctx = hex::decode(&step.ctx).unwrap();
            let good = SealedBox {
                box_id: bacap::BoxId::from_slice(&hex::decode(&step.box_id).unwrap()).unwrap(),
                signature: Signature::from_slice(&hex::decode(&step.signature).unwrap()).unwrap(),
                payload: hex::decode(&step.ciphertext).unwrap(),
            };
            assert!(matches!(
                read.open(&index, &ctx, &good).unwrap(),
                Opened::Message(_)
            ));
            for byte in [0, good.payload.len() / 2, good.payload.len() - 1] {
                let mut bad = good.clone();
                bad.payload[byte] ^= 0x80;
                assert_eq!(
                    read.open(&index, &ctx, &bad).unwrap_err(),
                    Error::InvalidSignature
                );
                refused += 1;
            }
            for byte in [0, 31, 32, 63] {
                let mut sig = *good.signature.as_bytes();
                sig[byte] ^= 0x04;
                let bad = SealedBox {
                    signature: Signature::from_array(sig),
                    ..good.clone()
                };
                assert!(read.open(&index, &ctx, &bad).is_err());
                refused += 1;
            }
            let mut id = *good.box_id.as_bytes();
            id[7] ^= 0x01;
            let bad = SealedBox {
                box_id: bacap::BoxId::from_array(id),
                ..good.clone()
            };
            assert_eq!(
                read.open(&index, &ctx, &bad).unwrap_err(),
                Error::BoxIdMismatch
            );
            assert!(bad.verify().is_err(), "storage refuses it too");
            refused += 1;
        }
    }
    assert_eq!(refused, 3 * 6 * 8);
}
