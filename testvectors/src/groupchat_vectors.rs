//! katzenqt's group chat vector file (`katzenqt-groupchat.json`): the message cases and their
//! checker; the file's `framing` section is checked by [`crate::framing`].
//!
//! `cases[]` are tagged by `kind`: `please_add` (`display_name`, `read_cap`, `cbor`),
//! `reply_who` (`members[]` of `{display_name, read_cap}`, `cbor`, `membership_hash`), and the
//! group messages `text` (`text`), `introduction` (`display_name`, `read_cap`) and
//! `file_upload` (`filetype`, `basename`, `payload`), each with `version`, `membership_hash` and
//! `cbor`. Byte strings are hex. Every case is decoded from its CBOR and compared field by
//! field, then encoded again from its fields and compared byte for byte; a ReplyWho's
//! membership hash is recomputed. Each case, and each framing case, counts as one vector.

use groupchat::display_name::DisplayName;
use groupchat::membership::MembershipHash;
use groupchat::messages::{
    Body, FileType, FileUpload, GroupChatMessage, MemberReadCap, PleaseAdd, ReplyWho,
};
use serde::Deserialize;
use serde_json::Value;

use crate::report::Check;
use crate::{framing, LoadError, Report};

#[derive(Deserialize)]
struct File {
    cases: Vec<Value>,
}

#[derive(Deserialize)]
struct Member {
    display_name: String,
    read_cap: String,
}

#[derive(Deserialize)]
struct PleaseAddCase {
    display_name: String,
    read_cap: String,
    cbor: String,
}

#[derive(Deserialize)]
struct ReplyWhoCase {
    members: Vec<Member>,
    cbor: String,
    membership_hash: String,
}

#[derive(Deserialize)]
struct MessageCase {
    version: u64,
    membership_hash: String,
    cbor: String,
    text: Option<String>,
    display_name: Option<String>,
    read_cap: Option<String>,
    filetype: Option<String>,
    basename: Option<String>,
    payload: Option<String>,
}

/// Checks a group chat vector file of either format: bacap-chat's own (a file whose `format`
/// is [`crate::ours::FORMAT`]) or katzenqt's (every message case, then every framing case).
pub fn check_json(json: &str) -> Result<Report, LoadError> {
    let value: Value = serde_json::from_str(json)?;
    if value.get("format").and_then(Value::as_str) == Some(crate::ours::FORMAT) {
        return crate::ours::check_json(json);
    }
    let file: File = serde_json::from_value(value)?;
    let mut report = Report::default();
    for (i, case) in file.cases.iter().enumerate() {
        let kind = case.get("kind").and_then(Value::as_str).unwrap_or("?");
        let name = format!("cases[{i}] {kind}");
        let mut c = Check::new(&name, "message");
        check_case(&mut c, kind, case);
        report.record(c.mismatches);
    }
    let framing = framing::check_json(json)?;
    report.total += framing.total;
    report.reproduced += framing.reproduced;
    report.mismatches.extend(framing.mismatches);
    Ok(report)
}

fn parse<T: for<'de> Deserialize<'de>>(c: &mut Check<'_>, case: &Value) -> Option<T> {
    match T::deserialize(case) {
        Ok(t) => Some(t),
        Err(e) => {
            c.fail("kind", "the fields of its kind", format!("{e}"));
            None
        }
    }
}

fn check_case(c: &mut Check<'_>, kind: &str, case: &Value) {
    match kind {
        "please_add" => {
            if let Some(case) = parse::<PleaseAddCase>(c, case) {
                check_please_add(c, &case);
            }
        }
        "reply_who" => {
            if let Some(case) = parse::<ReplyWhoCase>(c, case) {
                check_reply_who(c, &case);
            }
        }
        "text" | "introduction" | "file_upload" => {
            if let Some(case) = parse::<MessageCase>(c, case) {
                check_message(c, kind, &case);
            }
        }
        other => c.fail("kind", "a known kind", format!("unknown kind {other:?}")),
    }
}

/// A PleaseAdd from a file's fields, or `None` after recording why not.
fn please_add_from(c: &mut Check<'_>, display_name: &str, read_cap: &str) -> Option<PleaseAdd> {
    let cap = c.hex("read_cap", read_cap)?;
    let display_name = match DisplayName::new(display_name) {
        Ok(n) => n,
        Err(e) => {
            c.fail("display_name", display_name, format!("refused: {e}"));
            return None;
        }
    };
    match MemberReadCap::from_slice(&cap) {
        Ok(read_cap) => Some(PleaseAdd {
            display_name,
            read_cap,
        }),
        Err(e) => {
            c.fail("read_cap", read_cap, format!("refused: {e}"));
            None
        }
    }
}

fn compare_please_add(c: &mut Check<'_>, expected: &PleaseAdd, got: &PleaseAdd) {
    if expected.display_name != got.display_name {
        c.fail(
            "display_name",
            expected.display_name.as_str(),
            got.display_name.as_str(),
        );
    }
    c.bytes(
        "read_cap",
        expected.read_cap.as_bytes(),
        got.read_cap.as_bytes(),
    );
}

fn check_please_add(c: &mut Check<'_>, case: &PleaseAddCase) {
    let (Some(cbor), Some(expected)) = (
        c.hex("cbor", &case.cbor),
        please_add_from(c, &case.display_name, &case.read_cap),
    ) else {
        return;
    };
    match PleaseAdd::from_cbor(&cbor) {
        Ok(decoded) => compare_please_add(c, &expected, &decoded),
        Err(e) => c.fail("cbor", case.cbor.clone(), format!("decode error: {e}")),
    }
    c.bytes("cbor", &cbor, &expected.to_cbor());
}

fn check_reply_who(c: &mut Check<'_>, case: &ReplyWhoCase) {
    let (Some(cbor), Some(hash)) = (
        c.hex("cbor", &case.cbor),
        c.hex("membership_hash", &case.membership_hash),
    ) else {
        return;
    };
    let members: Option<Vec<PleaseAdd>> = case
        .members
        .iter()
        .map(|m| please_add_from(c, &m.display_name, &m.read_cap))
        .collect();
    let Some(members) = members else { return };
    let expected = ReplyWho::of(members);
    match ReplyWho::from_cbor(&cbor) {
        Ok(decoded) if decoded.please_adds.len() == expected.please_adds.len() => {
            for (e, d) in expected.please_adds.iter().zip(&decoded.please_adds) {
                compare_please_add(c, e, d);
            }
        }
        Ok(decoded) => c.fail(
            "members",
            expected.please_adds.len().to_string(),
            format!("{} members", decoded.please_adds.len()),
        ),
        Err(e) => c.fail("cbor", case.cbor.clone(), format!("decode error: {e}")),
    }
    let encoded = expected.to_cbor();
    c.bytes("cbor", &cbor, &encoded);
    c.bytes(
        "membership_hash",
        &hash,
        MembershipHash::of_reply_who_cbor(&encoded).as_bytes(),
    );
}

fn check_message(c: &mut Check<'_>, kind: &str, case: &MessageCase) {
    let (Some(cbor), Some(hash)) = (
        c.hex("cbor", &case.cbor),
        c.hex("membership_hash", &case.membership_hash),
    ) else {
        return;
    };
    let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
        return c.fail(
            "membership_hash",
            "32 bytes",
            format!("{} bytes", hash.len()),
        );
    };
    let missing = |field: &str| format!("the case has no {field}");
    let body = match kind {
        "text" => match &case.text {
            Some(t) => Body::Text(t.clone()),
            None => return c.fail("text", missing("text"), ""),
        },
        "introduction" => {
            let (Some(name), Some(cap)) = (&case.display_name, &case.read_cap) else {
                return c.fail("introduction", missing("display_name and read_cap"), "");
            };
            match please_add_from(c, name, cap) {
                Some(p) => Body::Introduction(p),
                None => return,
            }
        }
        _ => {
            let (Some(filetype), Some(basename), Some(payload)) =
                (&case.filetype, &case.basename, &case.payload)
            else {
                return c.fail("file_upload", missing("filetype, basename and payload"), "");
            };
            let filetype = match filetype.as_str() {
                "image" => FileType::Image,
                "sound" => FileType::Sound,
                "arbitrary" => FileType::Arbitrary,
                other => return c.fail("filetype", "image, sound or arbitrary", other),
            };
            let Some(payload) = c.hex("payload", payload) else {
                return;
            };
            Body::FileUpload(FileUpload {
                payload,
                filetype,
                basename: basename.clone(),
            })
        }
    };
    let expected = GroupChatMessage {
        version: case.version,
        membership_hash: MembershipHash(hash),
        body,
    };
    match GroupChatMessage::from_cbor(&cbor) {
        Ok(decoded) => compare_message(c, &expected, &decoded),
        Err(e) => c.fail("cbor", case.cbor.clone(), format!("decode error: {e}")),
    }
    c.bytes("cbor", &cbor, &expected.to_cbor());
}

fn compare_message(c: &mut Check<'_>, expected: &GroupChatMessage, got: &GroupChatMessage) {
    c.counter("version", expected.version, got.version);
    c.bytes(
        "membership_hash",
        expected.membership_hash.as_bytes(),
        got.membership_hash.as_bytes(),
    );
    match (&expected.body, &got.body) {
        (Body::Text(e), Body::Text(g)) if e != g => c.fail("text", e.as_str(), g.as_str()),
        (Body::Introduction(e), Body::Introduction(g)) => compare_please_add(c, e, g),
        (Body::FileUpload(e), Body::FileUpload(g)) => {
            if e.filetype != g.filetype {
                c.fail("filetype", e.filetype.as_str(), g.filetype.as_str());
            }
            if e.basename != g.basename {
                c.fail("basename", e.basename.as_str(), g.basename.as_str());
            }
            c.bytes("payload", &e.payload, &g.payload);
        }
        (e, g) if e.msg_type() != g.msg_type() => c.fail(
            "msg_type",
            e.msg_type().to_string(),
            g.msg_type().to_string(),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KATZENQT_GROUPCHAT_JSON;

    #[test]
    fn reproduces_every_katzenqt_vector() {
        let report = check_json(KATZENQT_GROUPCHAT_JSON).unwrap();
        for m in &report.mismatches {
            eprintln!("{m}");
        }
        assert!(report.is_success());
        assert_eq!(report.total, 10 + 3);
    }
}
