//! The sealed-cap vectors, as shipped and tampered with: the shipped file reproduces in full,
//! and each change names the case and field that no longer reproduce.

use serde_json::Value;
use testvectors::sealed_vectors::check_json;
use testvectors::{Report, SEALED_CAP_JSON};

fn shipped() -> Value {
    serde_json::from_str(SEALED_CAP_JSON).unwrap()
}

fn case_mut<'a>(v: &'a mut Value, name: &str) -> &'a mut Value {
    v["cases"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn flip_hex(value: &mut Value, byte: usize) {
    let mut bytes = hex::decode(value.as_str().unwrap()).unwrap();
    bytes[byte] ^= 0x01;
    *value = Value::String(hex::encode(bytes));
}

/// Checks `v` and asserts that exactly one vector failed, every mismatch naming `case`, `step`
/// and `field`.
fn assert_only(v: &Value, case: &str, step: &str, field: &str) -> Report {
    let report = check_json(&v.to_string()).unwrap();
    assert!(!report.is_success(), "{case} {field}");
    assert_eq!(report.reproduced, report.total - 1, "{case} {field}");
    assert!(!report.mismatches.is_empty());
    for m in &report.mismatches {
        assert_eq!(
            (m.case.as_str(), m.step.as_str(), m.field.as_str()),
            (case, step, field),
            "{m}"
        );
    }
    report
}

#[test]
fn the_shipped_file_reproduces_in_full() {
    let report = check_json(SEALED_CAP_JSON).unwrap();
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert_eq!((report.reproduced, report.total), (19, 19));
    assert!(report.is_success());
}

#[test]
fn a_changed_seal_of_a_valid_case_is_named() {
    for byte in [0, 31, 32, 100, 167, 168, 183] {
        let mut v = shipped();
        flip_hex(&mut case_mut(&mut v, "valid-3")["sealed"], byte);
        let report = assert_only(&v, "valid-3", "open", "sealed");
        assert!(
            report.mismatches[0]
                .got
                .contains("does not open with this key"),
            "{}",
            report.mismatches[0]
        );
    }
}

#[test]
fn a_changed_read_cap_epoch_group_or_key_is_named() {
    let mut v = shipped();
    flip_hex(&mut case_mut(&mut v, "valid-5")["read_cap"], 40);
    assert_only(&v, "valid-5", "open", "read_cap");

    let mut v = shipped();
    case_mut(&mut v, "valid-7")["epoch"] = Value::from(4_294_967_297u64);
    assert_only(&v, "valid-7", "open", "sealed");

    let mut v = shipped();
    flip_hex(&mut case_mut(&mut v, "valid-9")["group_id"], 31);
    assert_only(&v, "valid-9", "open", "sealed");

    let mut v = shipped();
    flip_hex(&mut case_mut(&mut v, "valid-0")["recipient_public_key"], 0);
    assert_only(&v, "valid-0", "open", "recipient_public_key");
}

#[test]
fn an_error_case_that_opens_is_named() {
    // invalid-epoch is valid-1's seal checked at epoch 2: at epoch 1 it opens.
    let mut v = shipped();
    case_mut(&mut v, "invalid-epoch")["epoch"] = Value::from(1u64);
    let report = assert_only(&v, "invalid-epoch", "refuse", "sealed");
    assert_eq!(report.mismatches[0].expected, "refused");

    // invalid-tag-bit with its bit flipped back opens too.
    let mut v = shipped();
    flip_hex(&mut case_mut(&mut v, "invalid-tag-bit")["sealed"], 183);
    assert_only(&v, "invalid-tag-bit", "refuse", "sealed");
}

#[test]
fn an_error_case_whose_inputs_do_not_decode_is_no_refusal() {
    let mut v = shipped();
    case_mut(&mut v, "invalid-recipient")["recipient_private_key"] = Value::from("zz");
    assert_only(&v, "invalid-recipient", "refuse", "recipient_private_key");

    let mut v = shipped();
    case_mut(&mut v, "invalid-group-id")["group_id"] = Value::from("abcd");
    assert_only(&v, "invalid-group-id", "refuse", "group_id");

    let mut v = shipped();
    case_mut(&mut v, "invalid-truncated")["recipient_private_key"] = Value::from("00".repeat(31));
    assert_only(&v, "invalid-truncated", "refuse", "recipient_private_key");
}

#[test]
fn a_valid_case_without_its_read_cap_is_named() {
    let mut v = shipped();
    case_mut(&mut v, "valid-2")
        .as_object_mut()
        .unwrap()
        .remove("read_cap");
    assert_only(&v, "valid-2", "open", "read_cap");
}

#[test]
fn malformed_files_are_errors_not_panics() {
    assert!(check_json("{").is_err());
    assert!(check_json(r#"{"cases": 3}"#).is_err());
    let empty = check_json(r#"{"cases": []}"#).unwrap();
    assert!(!empty.is_success(), "a file with no vectors proves nothing");

    for epoch in [Value::from(-1), Value::from("1"), Value::from(1.5)] {
        let mut v = shipped();
        case_mut(&mut v, "valid-1")["epoch"] = epoch.clone();
        assert!(check_json(&v.to_string()).is_err(), "epoch {epoch}");
    }
    // An epoch past u64 is refused as a whole file, not wrapped.
    let big = SEALED_CAP_JSON.replace(
        "\"epoch\": 18446744073709551615",
        "\"epoch\": 18446744073709551616",
    );
    assert_ne!(big, SEALED_CAP_JSON);
    assert!(check_json(&big).is_err());
}
