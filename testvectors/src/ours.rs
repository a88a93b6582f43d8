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
//!   - `decline`: `group_id`;
//!   - `reject`: `group_id`, `reason`;
//!   - `who`: `membership_hash`, `who`;
//!   - `who_reply`: `membership_hash`, `members[]`;
//!   - `membership_hash`: `members[]` in the order learned, `canonical_cbor` (the ReplyWho in
//!     canonical order) and `membership_hash`;
//!   - `channel_token`: `read_cap` and `token` (its text form);
//!   - `key`: `membership_hash`, `key` (an X25519 sealing public key);
//!   - `leave`, `delete`: `membership_hash`;
//!   - `remove`: `membership_hash`, `member` (a 32-byte member ID);
//!   - `set_role`: `membership_hash`, `member`, `role` (`owner`, `admin` or `member`);
//!   - `rotate_inline`: `group_id`, `membership_hash`, `epoch`, `read_cap` (of the new stream)
//!     and `entries[]` (`member`, `sealing_secret`: the recipient's X25519 private key, given so
//!     a checker can open `sealed`, and `sealed`);
//!   - `rotate_indexed`: `membership_hash`, `epoch`, `stream` (the substream's ReadCap) and
//!     `index[]` (member IDs);
//!   - `who_reply_roster`: `membership_hash`, `members[]` and `roster[]` (`member`, `role`,
//!     `epoch`, optional `key`), one roster entry per member;
//!   - `roster_hash`: `members[]` (`member`, `display_name`) in the order learned and their
//!     `membership_hash`.
//!
//! `welcome` may also carry `history` (`shared` or `from-joining`) and `roster[]`.
//!
//! The checker rebuilds every case from its fields and compares bytes, decodes every `cbor`
//! and compares the result, verifies every signature and opens every sealed cap.

use bacap::{ReadCap, WriteCap};
use groupchat::channel::{
    ChannelMessage, ChannelToken, GroupId, Invitation, PleaseReviseDisplayName, SignedPleaseAdd,
    Welcome,
};
use groupchat::display_name::DisplayName;
use groupchat::membership::MembershipHash;
use groupchat::messages::{
    Body, GroupChatMessage, MemberReadCap, PleaseAdd, ReplyWho, Rotate, SealedCaps, SealedEntry,
};
use groupchat::roster::{History, MemberId, Role, RosterEntry};
use groupchat::sealed::{open_read_cap, seal_read_cap, SealingKeyPair};
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

/// A member's roster entry as listed in a case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Roster {
    /// Member ID, hex.
    pub member: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    /// The epoch of the member's current stream.
    pub epoch: u64,
    /// Its sealing public key, hex, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A sealed cap in a `rotate_inline` case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sealed {
    /// For whom (member ID, hex).
    pub member: String,
    /// The recipient's X25519 private key, hex (test data only: lets a checker open `sealed`).
    pub sealing_secret: String,
    /// The sealed ReadCap, hex.
    pub sealed: String,
}

/// A member ID and display name, for `roster_hash`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Named {
    /// Member ID, hex.
    pub member: String,
    /// Display name.
    pub display_name: String,
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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        roster: Option<Vec<Roster>>,
        cbor: String,
    },
    ChannelText {
        text: String,
        cbor: String,
    },
    Decline {
        group_id: String,
        cbor: String,
    },
    Reject {
        group_id: String,
        reason: String,
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
    Key {
        membership_hash: String,
        key: String,
        cbor: String,
    },
    Leave {
        membership_hash: String,
        cbor: String,
    },
    Remove {
        membership_hash: String,
        member: String,
        cbor: String,
    },
    SetRole {
        membership_hash: String,
        member: String,
        role: String,
        cbor: String,
    },
    Delete {
        membership_hash: String,
        cbor: String,
    },
    RotateInline {
        group_id: String,
        membership_hash: String,
        epoch: u64,
        read_cap: String,
        entries: Vec<Sealed>,
        cbor: String,
    },
    RotateIndexed {
        membership_hash: String,
        epoch: u64,
        stream: String,
        index: Vec<String>,
        cbor: String,
    },
    WhoReplyRoster {
        membership_hash: String,
        members: Vec<Member>,
        roster: Vec<Roster>,
        cbor: String,
    },
    RosterHash {
        members: Vec<Named>,
        membership_hash: String,
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

fn roster_json(roster: &[RosterEntry]) -> Vec<Roster> {
    roster
        .iter()
        .map(|r| Roster {
            member: hex::encode(r.member.0),
            role: r.role.as_str().into(),
            epoch: r.epoch,
            key: r.key.map(hex::encode),
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

    // The lifecycle: member IDs, roles and sealing keys of the same three members.
    let ids: Vec<MemberId> = everyone
        .iter()
        .map(|m| MemberId::of_cap_bytes(m.read_cap.as_bytes()))
        .collect();
    let keys: Vec<SealingKeyPair> = (400..403)
        .map(|seed| SealingKeyPair::generate(&mut rng(seed)))
        .collect();
    let roster: Vec<RosterEntry> = ids
        .iter()
        .zip(&keys)
        .zip([Role::Owner, Role::Member, Role::Admin])
        .enumerate()
        .map(|(i, ((id, key), role))| RosterEntry {
            member: *id,
            role,
            epoch: i as u64,
            key: (i != 2).then(|| key.public().0),
        })
        .collect();
    let with_roster = ReplyWho {
        please_adds: everyone.clone(),
        roster: Some(roster.clone()),
    };
    let rhash = MembershipHash::of_roster(
        ids.iter()
            .copied()
            .zip(everyone.iter().map(|m| &m.display_name)),
    );
    let lifecycle = |body: Body| hex::encode(GroupChatMessage::new(rhash, body).to_cbor());
    let next_cap = WriteCap::generate(&mut rng(500)).read_cap();
    let mut seal_rng = rng(501);
    let sealed: Vec<SealedEntry> = ids[1..]
        .iter()
        .zip(&keys[1..])
        .map(|(id, key)| SealedEntry {
            member: *id,
            sealed: seal_read_cap(&mut seal_rng, &key.public(), &gid, 3, &next_cap)
                .expect("a valid key")
                .to_vec(),
        })
        .collect();
    let sub_cap = WriteCap::generate(&mut rng(502)).read_cap();

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
            history: None,
            roster: None,
            cbor: channel(ChannelMessage::Welcome(Welcome {
                group_id: gid,
                group_name: "Book club 📚".into(),
                members: ReplyWho::of(everyone.clone()),
                history: None,
            })),
        },
        Case::Welcome {
            group_id: hex::encode(gid.0),
            group_name: "Book club 📚".into(),
            members: members_json(&everyone),
            history: Some(History::FromJoining.as_str().into()),
            roster: Some(roster_json(&roster)),
            cbor: channel(ChannelMessage::Welcome(Welcome {
                group_id: gid,
                group_name: "Book club 📚".into(),
                members: with_roster.clone(),
                history: Some(History::FromJoining),
            })),
        },
        Case::ChannelText {
            text: "see you at 8".into(),
            cbor: channel(ChannelMessage::Text("see you at 8".into())),
        },
        Case::Decline {
            group_id: hex::encode(gid.0),
            cbor: channel(ChannelMessage::Decline(gid)),
        },
        Case::Reject {
            group_id: hex::encode(gid.0),
            reason: "this group is for the board only".into(),
            cbor: channel(ChannelMessage::Reject(
                gid,
                "this group is for the board only".into(),
            )),
        },
        Case::Who {
            membership_hash: hex::encode(hash.0),
            who: String::new(),
            cbor: group(Body::Who(String::new())),
        },
        Case::WhoReply {
            membership_hash: hex::encode(hash.0),
            members: members_json(&everyone),
            cbor: group(Body::WhoReply(ReplyWho::of(everyone.clone()))),
        },
        Case::MembershipHash {
            members: members_json(&learned),
            canonical_cbor: hex::encode(ReplyWho::of(canonical).to_cbor()),
            membership_hash: hex::encode(MembershipHash::of(&learned).0),
        },
        Case::ChannelToken {
            read_cap: hex::encode(token_cap.to_bytes().as_ref()),
            token: ChannelToken::new(&token_cap).to_text().to_string(),
        },
        Case::Key {
            membership_hash: hex::encode(rhash.0),
            key: hex::encode(keys[0].public().0),
            cbor: lifecycle(Body::Key(keys[0].public().0)),
        },
        Case::Leave {
            membership_hash: hex::encode(rhash.0),
            cbor: lifecycle(Body::Leave),
        },
        Case::Remove {
            membership_hash: hex::encode(rhash.0),
            member: hex::encode(ids[2].0),
            cbor: lifecycle(Body::Remove(ids[2])),
        },
        Case::SetRole {
            membership_hash: hex::encode(rhash.0),
            member: hex::encode(ids[1].0),
            role: Role::Admin.as_str().into(),
            cbor: lifecycle(Body::SetRole(ids[1], Role::Admin)),
        },
        Case::Delete {
            membership_hash: hex::encode(rhash.0),
            cbor: lifecycle(Body::Delete),
        },
        Case::RotateInline {
            group_id: hex::encode(gid.0),
            membership_hash: hex::encode(rhash.0),
            epoch: 3,
            read_cap: hex::encode(next_cap.to_bytes().as_ref()),
            entries: ids[1..]
                .iter()
                .zip(&keys[1..])
                .zip(&sealed)
                .map(|((id, key), entry)| Sealed {
                    member: hex::encode(id.0),
                    sealing_secret: hex::encode(key.secret_bytes().as_slice()),
                    sealed: hex::encode(&entry.sealed),
                })
                .collect(),
            cbor: lifecycle(Body::Rotate(Rotate {
                epoch: 3,
                caps: SealedCaps::Inline(sealed.clone()),
            })),
        },
        Case::RotateIndexed {
            membership_hash: hex::encode(rhash.0),
            epoch: 4,
            stream: hex::encode(sub_cap.to_bytes().as_ref()),
            index: ids[1..].iter().map(|id| hex::encode(id.0)).collect(),
            cbor: lifecycle(Body::Rotate(Rotate {
                epoch: 4,
                caps: SealedCaps::Indexed {
                    stream: MemberReadCap::from_slice(sub_cap.to_bytes().as_ref())
                        .expect("a ReadCap"),
                    index: ids[1..].to_vec(),
                },
            })),
        },
        Case::WhoReplyRoster {
            membership_hash: hex::encode(rhash.0),
            members: members_json(&everyone),
            roster: roster_json(&roster),
            cbor: lifecycle(Body::WhoReply(with_roster.clone())),
        },
        Case::RosterHash {
            members: ids
                .iter()
                .zip(&everyone)
                .rev()
                .map(|(id, m)| Named {
                    member: hex::encode(id.0),
                    display_name: m.display_name.as_str().into(),
                })
                .collect(),
            membership_hash: hex::encode(rhash.0),
        },
    ];
    VectorFile {
        format: FORMAT.into(),
        source: "bacap-chat testvectors::ours::generate (ChaCha20 seeds 100..502); regenerate with `cargo test -p testvectors -- --ignored regenerate`".into(),
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
        Case::Decline { .. } => "decline",
        Case::Reject { .. } => "reject",
        Case::Who { .. } => "who",
        Case::WhoReply { .. } => "who_reply",
        Case::MembershipHash { .. } => "membership_hash",
        Case::ChannelToken { .. } => "channel_token",
        Case::Key { .. } => "key",
        Case::Leave { .. } => "leave",
        Case::Remove { .. } => "remove",
        Case::SetRole { .. } => "set_role",
        Case::Delete { .. } => "delete",
        Case::RotateInline { .. } => "rotate_inline",
        Case::RotateIndexed { .. } => "rotate_indexed",
        Case::WhoReplyRoster { .. } => "who_reply_roster",
        Case::RosterHash { .. } => "roster_hash",
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

fn array32(c: &mut Check<'_>, field: &str, value: &str) -> Option<[u8; 32]> {
    let bytes = c.hex(field, value)?;
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(a) => Some(a),
        Err(_) => {
            c.fail(field, "32 bytes", format!("{} bytes", bytes.len()));
            None
        }
    }
}

fn member_id(c: &mut Check<'_>, value: &str) -> Option<MemberId> {
    array32(c, "member", value).map(MemberId)
}

fn role(c: &mut Check<'_>, value: &str) -> Option<Role> {
    match Role::parse(value) {
        Ok(r) => Some(r),
        Err(e) => {
            c.fail("role", "owner, admin or member", format!("{value:?}: {e}"));
            None
        }
    }
}

fn read_cap(c: &mut Check<'_>, field: &str, value: &str) -> Option<ReadCap> {
    match ReadCap::from_bytes(&c.hex(field, value)?) {
        Ok(cap) => Some(cap),
        Err(e) => {
            c.fail(field, "a ReadCap", format!("decode error: {e}"));
            None
        }
    }
}

fn roster(c: &mut Check<'_>, list: &[Roster]) -> Option<Vec<RosterEntry>> {
    let mut out = Vec::new();
    for r in list {
        let key = match &r.key {
            Some(k) => Some(array32(c, "roster.key", k)?),
            None => None,
        };
        out.push(RosterEntry {
            member: member_id(c, &r.member)?,
            role: role(c, &r.role)?,
            epoch: r.epoch,
            key,
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
            history,
            roster: entries,
            cbor,
        } => {
            let (Some(group_id), Some(list)) = (gid(c, group_id), members(c, list)) else {
                return;
            };
            let history = match history.as_deref().map(History::parse) {
                None => None,
                Some(Ok(h)) => Some(h),
                Some(Err(e)) => return c.fail("history", "shared or from-joining", e.to_string()),
            };
            let entries = match entries {
                None => None,
                Some(e) => match roster(c, e) {
                    Some(r) => Some(r),
                    None => return,
                },
            };
            let welcome = Welcome {
                group_id,
                group_name: group_name.clone(),
                members: ReplyWho {
                    please_adds: list,
                    roster: entries,
                },
                history,
            };
            channel_cbor(c, cbor, ChannelMessage::Welcome(welcome));
        }
        Case::ChannelText { text, cbor } => {
            channel_cbor(c, cbor, ChannelMessage::Text(text.clone()))
        }
        Case::Decline { group_id, cbor } => {
            if let Some(id) = gid(c, group_id) {
                channel_cbor(c, cbor, ChannelMessage::Decline(id));
            }
        }
        Case::Reject {
            group_id,
            reason,
            cbor,
        } => {
            if let Some(id) = gid(c, group_id) {
                channel_cbor(c, cbor, ChannelMessage::Reject(id, reason.clone()));
            }
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
                GroupChatMessage::new(h, Body::WhoReply(ReplyWho::of(list))),
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
            let canonical = ReplyWho::of(sorted).to_cbor();
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
        Case::Key {
            membership_hash,
            key,
            cbor,
        } => {
            let (Some(h), Some(key)) = (hash(c, membership_hash), array32(c, "key", key)) else {
                return;
            };
            group_cbor(c, cbor, GroupChatMessage::new(h, Body::Key(key)));
        }
        Case::Leave {
            membership_hash,
            cbor,
        } => {
            if let Some(h) = hash(c, membership_hash) {
                group_cbor(c, cbor, GroupChatMessage::new(h, Body::Leave));
            }
        }
        Case::Delete {
            membership_hash,
            cbor,
        } => {
            if let Some(h) = hash(c, membership_hash) {
                group_cbor(c, cbor, GroupChatMessage::new(h, Body::Delete));
            }
        }
        Case::Remove {
            membership_hash,
            member,
            cbor,
        } => {
            let (Some(h), Some(id)) = (hash(c, membership_hash), member_id(c, member)) else {
                return;
            };
            group_cbor(c, cbor, GroupChatMessage::new(h, Body::Remove(id)));
        }
        Case::SetRole {
            membership_hash,
            member,
            role: r,
            cbor,
        } => {
            let (Some(h), Some(id), Some(r)) =
                (hash(c, membership_hash), member_id(c, member), role(c, r))
            else {
                return;
            };
            group_cbor(c, cbor, GroupChatMessage::new(h, Body::SetRole(id, r)));
        }
        Case::RotateInline {
            group_id,
            membership_hash,
            epoch,
            read_cap: cap,
            entries,
            cbor,
        } => {
            let (Some(gid), Some(h), Some(cap)) = (
                gid(c, group_id),
                hash(c, membership_hash),
                read_cap(c, "read_cap", cap),
            ) else {
                return;
            };
            let mut sealed = Vec::new();
            for e in entries {
                let (Some(member), Some(secret), Some(bytes)) = (
                    member_id(c, &e.member),
                    c.hex("sealing_secret", &e.sealing_secret),
                    c.hex("sealed", &e.sealed),
                ) else {
                    return;
                };
                let opened = SealingKeyPair::from_secret_bytes(&secret)
                    .map_err(|e| e.to_string())
                    .and_then(|key| {
                        open_read_cap(&key, &gid, *epoch, &bytes).map_err(|e| e.to_string())
                    });
                match opened {
                    Ok(got) => c.bytes("sealed", cap.to_bytes().as_ref(), got.to_bytes().as_ref()),
                    Err(err) => c.fail("sealed", "a cap that opens to read_cap", err),
                }
                sealed.push(SealedEntry {
                    member,
                    sealed: bytes,
                });
            }
            let body = Body::Rotate(Rotate {
                epoch: *epoch,
                caps: SealedCaps::Inline(sealed),
            });
            group_cbor(c, cbor, GroupChatMessage::new(h, body));
        }
        Case::RotateIndexed {
            membership_hash,
            epoch,
            stream,
            index,
            cbor,
        } => {
            let (Some(h), Some(stream)) = (hash(c, membership_hash), c.hex("stream", stream))
            else {
                return;
            };
            let stream = match MemberReadCap::from_slice(&stream) {
                Ok(s) => s,
                Err(e) => return c.fail("stream", "a ReadCap", e.to_string()),
            };
            let mut ids = Vec::new();
            for i in index {
                let Some(id) = member_id(c, i) else {
                    return;
                };
                ids.push(id);
            }
            let body = Body::Rotate(Rotate {
                epoch: *epoch,
                caps: SealedCaps::Indexed { stream, index: ids },
            });
            group_cbor(c, cbor, GroupChatMessage::new(h, body));
        }
        Case::WhoReplyRoster {
            membership_hash,
            members: list,
            roster: entries,
            cbor,
        } => {
            let (Some(h), Some(list), Some(entries)) = (
                hash(c, membership_hash),
                members(c, list),
                roster(c, entries),
            ) else {
                return;
            };
            let reply = ReplyWho {
                please_adds: list,
                roster: Some(entries),
            };
            group_cbor(c, cbor, GroupChatMessage::new(h, Body::WhoReply(reply)));
        }
        Case::RosterHash {
            members: list,
            membership_hash,
        } => {
            let Some(h) = c.hex("membership_hash", membership_hash) else {
                return;
            };
            let mut named = Vec::new();
            for m in list {
                let Some(id) = member_id(c, &m.member) else {
                    return;
                };
                match DisplayName::new(m.display_name.clone()) {
                    Ok(n) => named.push((id, n)),
                    Err(e) => return c.fail("display_name", "a valid name", e.to_string()),
                }
            }
            let ours = MembershipHash::of_roster(named.iter().map(|(id, n)| (*id, n)));
            c.bytes("membership_hash", &h, ours.as_bytes());
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
        assert_eq!(report.total, 21);
    }

    /// A sealed cap that no longer opens is named, even though the CBOR still matches its
    /// (changed) fields.
    #[test]
    fn a_changed_sealed_cap_is_named() {
        let mut v: serde_json::Value = serde_json::from_str(BACAP_CHAT_GROUPCHAT_JSON).unwrap();
        let (i, case) = v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .find(|(_, c)| c["kind"] == "rotate_inline")
            .map(|(i, c)| (i, c.clone()))
            .unwrap();
        let sealed = case["entries"][0]["sealed"].as_str().unwrap();
        let flipped = format!(
            "{}{}",
            &sealed[..100],
            if &sealed[100..101] == "0" { "1" } else { "0" }
        );
        let changed = format!("{flipped}{}", &sealed[101..]);
        v["cases"][i]["entries"][0]["sealed"] = serde_json::Value::String(changed);
        let report = check_json(&v.to_string()).unwrap();
        assert_eq!((report.reproduced, report.total), (20, 21));
        let text = report
            .mismatches
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("rotate_inline, field sealed"), "{text}");
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
                    .or_else(|| v.get("token"))
                    .or_else(|| v.get("membership_hash"));
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
