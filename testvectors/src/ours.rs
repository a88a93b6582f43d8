//! bacap-chat's own group chat vectors: every message type we define beyond katzenqt's, made
//! deterministically from seeded RNGs, so another implementation can check itself.
//!
//! File format (`bacap-chat-groupchat.json`), byte strings in hex:
//!
//! - `format`: `"bacap-chat-groupchat-v1"`; `source`: how the file was made.
//! - `cases[]`, tagged by `kind`, each with the fields it is built from and its `cbor`:
//!   - `invitation`: `group_id`, `group_name`;
//!   - `signed_please_add`: `write_cap` (the invitee's 168-byte WriteCap), `group_id`,
//!     `display_name`; then the PleaseAdd it signs, `please_add_cbor`, and `signature`;
//!   - `please_revise_display_name`: `group_id`, `write_cap`, `display_name` (of the declined
//!     request, rebuilt as in `signed_please_add`), `reason`;
//!   - `welcome`: `group_id`, `group_name`, `members[]` (`display_name`, `read_cap`);
//!   - `channel_text`: `text`;
//!   - `who`: `membership_hash`, `who`;
//!   - `who_reply`: `membership_hash`, `members[]`;
//!   - `membership_hash`: `members[]` in the order learned, `canonical_cbor` (the ReplyWho in
//!     canonical order) and `membership_hash`;
//!   - `channel_token`: `read_cap` and `token` (its text form).
//!
//! The checker rebuilds every case from its fields and compares bytes, decodes every `cbor`
//! and compares the result, and verifies every signature.

use bacap::{ReadCap, WriteCap};
use groupchat::channel::{
    ChannelMessage, ChannelToken, GroupId, Invitation, PleaseReviseDisplayName, SignedPleaseAdd,
    Welcome,
};
use groupchat::display_name::DisplayName;
use groupchat::membership::MembershipHash;
use groupchat::messages::{Body, GroupChatMessage, MemberReadCap, PleaseAdd, ReplyWho};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::report::Check;
use crate::{LoadError, Report};

/// The `format` of the file.
pub const FORMAT: &str = "bacap-chat-groupchat-v1";

/// A whole file.
#[derive(Debug, Serialize, Deserialize)]
pub struct VectorFile {
    /// [`FORMAT`].
    pub format: String,
    /// How it was made.
    pub source: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// A member as listed in a case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// Display name.
    pub display_name: String,
    /// ReadCap, hex.
    pub read_cap: String,
}

/// One case.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Case {
    Invitation {
        group_id: String,
        group_name: String,
        cbor: String,
    },
    SignedPleaseAdd {
        write_cap: String,
        group_id: String,
        display_name: String,
        please_add_cbor: String,
        signature: String,
        cbor: String,
    },
    PleaseReviseDisplayName {
        group_id: String,
        write_cap: String,
        display_name: String,
        reason: String,
        cbor: String,
    },
    Welcome {
        group_id: String,
        group_name: String,
        members: Vec<Member>,
        cbor: String,
    },
    ChannelText {
        text: String,
        cbor: String,
    },
    Who {
        membership_hash: String,
        who: String,
        cbor: String,
    },
    WhoReply {
        membership_hash: String,
        members: Vec<Member>,
        cbor: String,
    },
    MembershipHash {
        members: Vec<Member>,
        canonical_cbor: String,
        membership_hash: String,
    },
    ChannelToken {
        read_cap: String,
        token: String,
    },
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn group_id(seed: u64) -> GroupId {
    let mut id = [0u8; 32];
    rng(seed).fill_bytes(&mut id);
    GroupId(id)
}

fn member(seed: u64, name: &str) -> PleaseAdd {
    PleaseAdd::new(
        DisplayName::new(name).expect("valid name"),
        &WriteCap::generate(&mut rng(seed)).read_cap(),
    )
}

fn members_json(members: &[PleaseAdd]) -> Vec<Member> {
    members
        .iter()
        .map(|m| Member {
            display_name: m.display_name.to_string(),
            read_cap: hex::encode(m.read_cap.as_bytes()),
        })
        .collect()
}

/// Makes the file: the same bytes on every run.
pub fn generate() -> VectorFile {
    let gid = group_id(100);
    let invitee = WriteCap::generate(&mut rng(200));
    let invitee_add = PleaseAdd::new(DisplayName::new("Bob").expect("valid"), &invitee.read_cap());
    let signed = SignedPleaseAdd::sign(gid, &invitee_add, &invitee);
    let alice = member(201, "alice");
    let carol = member(202, "Carol ✨");
    let twin = member(203, "Bob");
    let everyone = vec![alice.clone(), invitee_add.clone(), carol.clone()];
    let hash = MembershipHash::of(&everyone);
    let channel = |m: ChannelMessage| hex::encode(m.to_cbor());
    let group = |body: Body| hex::encode(GroupChatMessage::new(hash, body).to_cbor());
    let learned = vec![
        carol.clone(),
        alice.clone(),
        twin.clone(),
        invitee_add.clone(),
    ];
    let mut canonical = learned.clone();
    canonical.sort_by(|a, b| a.read_cap.as_bytes().cmp(b.read_cap.as_bytes()));
    let token_cap = WriteCap::generate(&mut rng(300)).read_cap();

    let cases = vec![
        Case::Invitation {
            group_id: hex::encode(gid.0),
            group_name: "Book club 📚".into(),
            cbor: channel(ChannelMessage::Invitation(Invitation {
                group_id: gid,
                group_name: "Book club 📚".into(),
            })),
        },
        Case::SignedPleaseAdd {
            write_cap: hex::encode(invitee.to_bytes().as_ref()),
            group_id: hex::encode(gid.0),
            display_name: "Bob".into(),
            please_add_cbor: hex::encode(&signed.please_add),
            signature: hex::encode(signed.signature),
            cbor: channel(ChannelMessage::SignedPleaseAdd(signed.clone())),
        },
        Case::PleaseReviseDisplayName {
            group_id: hex::encode(gid.0),
            write_cap: hex::encode(invitee.to_bytes().as_ref()),
            display_name: "Bob".into(),
            reason: "There is a Bob already; how about your surname?".into(),
            cbor: channel(ChannelMessage::PleaseReviseDisplayName(
                PleaseReviseDisplayName {
                    group_id: gid,
                    original: signed.clone(),
                    reason: "There is a Bob already; how about your surname?".into(),
                },
            )),
        },
        Case::Welcome {
            group_id: hex::encode(gid.0),
            group_name: "Book club 📚".into(),
            members: members_json(&everyone),
            cbor: channel(ChannelMessage::Welcome(Welcome {
                group_id: gid,
                group_name: "Book club 📚".into(),
                members: ReplyWho {
                    please_adds: everyone.clone(),
                },
            })),
        },
        Case::ChannelText {
            text: "see you at 8".into(),
            cbor: channel(ChannelMessage::Text("see you at 8".into())),
        },
        Case::Who {
            membership_hash: hex::encode(hash.0),
            who: String::new(),
            cbor: group(Body::Who(String::new())),
        },
        Case::WhoReply {
            membership_hash: hex::encode(hash.0),
            members: members_json(&everyone),
            cbor: group(Body::WhoReply(ReplyWho {
                please_adds: everyone.clone(),
            })),
        },
        Case::MembershipHash {
            members: members_json(&learned),
            canonical_cbor: hex::encode(
                ReplyWho {
                    please_adds: canonical,
                }
                .to_cbor(),
            ),
            membership_hash: hex::encode(MembershipHash::of(&learned).0),
        },
        Case::ChannelToken {
            read_cap: hex::encode(token_cap.to_bytes().as_ref()),
            token: ChannelToken::new(&token_cap).to_text().to_string(),
        },
    ];
    VectorFile {
        format: FORMAT.into(),
        source: "bacap-chat testvectors::ours::generate (ChaCha20 seeds 100..300); regenerate with `cargo test -p testvectors -- --ignored regenerate`".into(),
        cases,
    }
}

/// The file as JSON text, as published in `data/`.
pub fn generate_json() -> String {
    let mut s = serde_json::to_string_pretty(&generate()).expect("vectors serialize");
    s.push('\n');
    s
}

/// Parses and checks a file of this format.
pub fn check_json(json: &str) -> Result<Report, LoadError> {
    let file: VectorFile = serde_json::from_str(json)?;
    let mut report = Report::default();
    for (i, case) in file.cases.iter().enumerate() {
        let name = format!("cases[{i}]");
        let mut c = Check::new(&name, kind(case));
        check_case(&mut c, case);
        report.record(c.mismatches);
    }
    Ok(report)
}

fn kind(case: &Case) -> &'static str {
    match case {
        Case::Invitation { .. } => "invitation",
        Case::SignedPleaseAdd { .. } => "signed_please_add",
        Case::PleaseReviseDisplayName { .. } => "please_revise_display_name",
        Case::Welcome { .. } => "welcome",
        Case::ChannelText { .. } => "channel_text",
        Case::Who { .. } => "who",
        Case::WhoReply { .. } => "who_reply",
        Case::MembershipHash { .. } => "membership_hash",
        Case::ChannelToken { .. } => "channel_token",
    }
}

fn gid(c: &mut Check<'_>, hex_id: &str) -> Option<GroupId> {
    let bytes = c.hex("group_id", hex_id)?;
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(a) => Some(GroupId(a)),
        Err(_) => {
            c.fail("group_id", "32 bytes", format!("{} bytes", bytes.len()));
            None
        }
    }
}

fn members(c: &mut Check<'_>, list: &[Member]) -> Option<Vec<PleaseAdd>> {
    let mut out = Vec::new();
    for m in list {
        let cap = c.hex("read_cap", &m.read_cap)?;
        let (name, cap) = match (
            DisplayName::new(m.display_name.clone()),
            MemberReadCap::from_slice(&cap),
        ) {
            (Ok(n), Ok(cap)) => (n, cap),
            (n, cap) => {
                c.fail(
                    "members",
                    "valid display names and read caps",
                    format!("{:?} / {:?}", n.err(), cap.err()),
                );
                return None;
            }
        };
        out.push(PleaseAdd {
            display_name: name,
            read_cap: cap,
        });
    }
    Some(out)
}

fn hash(c: &mut Check<'_>, hex_hash: &str) -> Option<MembershipHash> {
    let bytes = c.hex("membership_hash", hex_hash)?;
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(a) => Some(MembershipHash(a)),
        Err(_) => {
            c.fail(
                "membership_hash",
                "32 bytes",
                format!("{} bytes", bytes.len()),
            );
            None
        }
    }
}

fn signed_request(
    c: &mut Check<'_>,
    write_cap: &str,
    group_id: GroupId,
    display_name: &str,
) -> Option<SignedPleaseAdd> {
    let cap = match WriteCap::from_bytes(&c.hex("write_cap", write_cap)?) {
        Ok(cap) => cap,
        Err(e) => {
            c.fail("write_cap", write_cap, format!("decode error: {e}"));
            return None;
        }
    };
    let name = match DisplayName::new(display_name) {
        Ok(n) => n,
        Err(e) => {
            c.fail("display_name", display_name, format!("refused: {e}"));
            return None;
        }
    };
    Some(SignedPleaseAdd::sign(
        group_id,
        &PleaseAdd::new(name, &cap.read_cap()),
        &cap,
    ))
}

/// Compares the file's CBOR with the encoding of `built`, and checks that decoding the file's
/// CBOR gives back `built`.
fn cbor_case<M, E>(
    c: &mut Check<'_>,
    cbor: &str,
    built: M,
    encode: fn(&M) -> Vec<u8>,
    decode: fn(&[u8]) -> Result<M, E>,
) where
    M: PartialEq + core::fmt::Debug,
    E: core::fmt::Display,
{
    let Some(bytes) = c.hex("cbor", cbor) else {
        return;
    };
    c.bytes("cbor", &bytes, &encode(&built));
    match decode(&bytes) {
        Ok(decoded) if decoded == built => {}
        Ok(decoded) => c.fail(
            "cbor",
            format!("{built:?}"),
            format!("decoded as {decoded:?}"),
        ),
        Err(e) => c.fail("cbor", cbor, format!("decode error: {e}")),
    }
}

fn channel_cbor(c: &mut Check<'_>, cbor: &str, built: ChannelMessage) {
    cbor_case(
        c,
        cbor,
        built,
        ChannelMessage::to_cbor,
        ChannelMessage::from_cbor,
    );
}

fn group_cbor(c: &mut Check<'_>, cbor: &str, built: GroupChatMessage) {
    cbor_case(
        c,
        cbor,
        built,
        GroupChatMessage::to_cbor,
        GroupChatMessage::from_cbor,
    );
}

fn check_case(c: &mut Check<'_>, case: &Case) {
    match case {
        Case::Invitation {
            group_id,
            group_name,
            cbor,
        } => {
            let Some(group_id) = gid(c, group_id) else {
                return;
            };
            channel_cbor(
                c,
                cbor,
                ChannelMessage::Invitation(Invitation {
                    group_id,
                    group_name: group_name.clone(),
                }),
            );
        }
        Case::SignedPleaseAdd {
            write_cap,
            group_id,
            display_name,
            please_add_cbor,
            signature,
            cbor,
        } => {
            let Some(group_id) = gid(c, group_id) else {
                return;
            };
            let Some(signed) = signed_request(c, write_cap, group_id, display_name) else {
                return;
            };
            if let Some(bytes) = c.hex("please_add_cbor", please_add_cbor) {
                c.bytes("please_add_cbor", &bytes, &signed.please_add);
            }
            if let Some(bytes) = c.hex("signature", signature) {
                c.bytes("signature", &bytes, &signed.signature);
            }
            if let Err(e) = signed.verify() {
                c.fail("signature", "a signature that verifies", format!("{e}"));
            }
            channel_cbor(c, cbor, ChannelMessage::SignedPleaseAdd(signed));
        }
        Case::PleaseReviseDisplayName {
            group_id,
            write_cap,
            display_name,
            reason,
            cbor,
        } => {
            let Some(group_id) = gid(c, group_id) else {
                return;
            };
            let Some(original) = signed_request(c, write_cap, group_id, display_name) else {
                return;
            };
            channel_cbor(
                c,
                cbor,
                ChannelMessage::PleaseReviseDisplayName(PleaseReviseDisplayName {
                    group_id,
                    original,
                    reason: reason.clone(),
                }),
            );
        }
        Case::Welcome {
            group_id,
            group_name,
            members: list,
            cbor,
        } => {
            let (Some(group_id), Some(list)) = (gid(c, group_id), members(c, list)) else {
                return;
            };
            let welcome = Welcome {
                group_id,
                group_name: group_name.clone(),
                members: ReplyWho { please_adds: list },
            };
            channel_cbor(c, cbor, ChannelMessage::Welcome(welcome));
        }
        Case::ChannelText { text, cbor } => {
            channel_cbor(c, cbor, ChannelMessage::Text(text.clone()))
        }
        Case::Who {
            membership_hash,
            who,
            cbor,
        } => {
            let Some(h) = hash(c, membership_hash) else {
                return;
            };
            group_cbor(c, cbor, GroupChatMessage::new(h, Body::Who(who.clone())));
        }
        Case::WhoReply {
            membership_hash,
            members: list,
            cbor,
        } => {
            let (Some(h), Some(list)) = (hash(c, membership_hash), members(c, list)) else {
                return;
            };
            group_cbor(
                c,
                cbor,
                GroupChatMessage::new(h, Body::WhoReply(ReplyWho { please_adds: list })),
            );
        }
        Case::MembershipHash {
            members: list,
            canonical_cbor,
            membership_hash,
        } => {
            let (Some(h), Some(list)) =
                (c.hex("membership_hash", membership_hash), members(c, list))
            else {
                return;
            };
            let mut sorted = list.clone();
            sorted.sort_by(|a, b| a.read_cap.as_bytes().cmp(b.read_cap.as_bytes()));
            let canonical = ReplyWho {
                please_adds: sorted,
            }
            .to_cbor();
            if let Some(bytes) = c.hex("canonical_cbor", canonical_cbor) {
                c.bytes("canonical_cbor", &bytes, &canonical);
            }
            c.bytes("membership_hash", &h, MembershipHash::of(&list).as_bytes());
            c.bytes(
                "membership_hash",
                &h,
                MembershipHash::of_reply_who_cbor(&canonical).as_bytes(),
            );
        }
        Case::ChannelToken { read_cap, token } => {
            let Some(cap) = c.hex("read_cap", read_cap) else {
                return;
            };
            match ReadCap::from_bytes(&cap) {
                Ok(cap) => {
                    let ours = ChannelToken::new(&cap).to_text();
                    if ours.as_str() != token {
                        c.fail("token", token.as_str(), ours.as_str());
                    }
                }
                Err(e) => c.fail("read_cap", read_cap.as_str(), format!("decode error: {e}")),
            }
            match ChannelToken::parse(token) {
                Ok(t) => c.bytes("read_cap", &cap, t.read_cap().to_bytes().as_ref()),
                Err(e) => c.fail("token", token.as_str(), format!("parse error: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BACAP_CHAT_GROUPCHAT_JSON;

    #[test]
    fn published_file_is_what_the_generator_makes() {
        assert_eq!(
            BACAP_CHAT_GROUPCHAT_JSON,
            generate_json(),
            "regenerate: cargo test -p testvectors -- --ignored regenerate"
        );
    }

    #[test]
    fn published_file_reproduces() {
        let report = check_json(BACAP_CHAT_GROUPCHAT_JSON).unwrap();
        for m in &report.mismatches {
            eprintln!("{m}");
        }
        assert!(report.is_success());
        assert_eq!(report.total, 9);
    }

    /// The wire bytes of every case, one line each: any change to the wire format shows here.
    #[test]
    fn wire_bytes_snapshot() {
        let lines: Vec<String> = generate()
            .cases
            .iter()
            .map(|case| {
                let v = serde_json::to_value(case).expect("serializes");
                let bytes = v
                    .get("cbor")
                    .or_else(|| v.get("canonical_cbor"))
                    .or_else(|| v.get("token"));
                format!(
                    "{}: {}",
                    kind(case),
                    bytes.and_then(|b| b.as_str()).unwrap_or("")
                )
            })
            .collect();
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    #[ignore = "writes data/bacap-chat-groupchat.json"]
    fn regenerate() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/bacap-chat-groupchat.json"
        );
        std::fs::write(path, generate_json()).unwrap();
    }
}
