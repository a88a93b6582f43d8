//! The sealed-cap vector file (`sealed-cap.json`) and its checker.
//!
//! A file holds `cases[]`; each has `name`, `recipient_private_key`, `recipient_public_key`,
//! `group_id`, `epoch` (a JSON number, u64) and `sealed`, and either `read_cap` (a valid case:
//! the ReadCap the seal opens to) or `"error": true` (a seal that must be refused). Byte strings
//! are hex.
//!
//! For every case the recipient's public key is derived from its private key and compared. A
//! valid case must open with [`groupchat::sealed::open_read_cap`] to exactly its `read_cap`; an
//! error case must be refused by it. An error case whose inputs do not even decode (bad hex, a
//! key or group ID of the wrong length) is a mismatch too, not a refusal, so a broken file cannot
//! pass for a refused seal. Each case counts as one vector.

use bacap::ReadCap;
use groupchat::channel::GroupId;
use groupchat::sealed::{open_read_cap, SealingKeyPair};
use serde::Deserialize;

use crate::report::Check;
use crate::{LoadError, Report};

/// A whole vector file.
#[derive(Debug, Deserialize)]
pub struct VectorFile {
    /// The cases.
    pub cases: Vec<Case>,
}

/// One sealed cap and what must come of opening it.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// The case's name.
    pub name: String,
    /// The recipient's X25519 private key (32 bytes).
    pub recipient_private_key: String,
    /// The recipient's X25519 public key (32 bytes).
    pub recipient_public_key: String,
    /// The group ID (32 bytes).
    pub group_id: String,
    /// The sender's stream epoch.
    pub epoch: u64,
    /// The sealed bytes (184 in a valid case).
    pub sealed: String,
    /// The ReadCap a valid case opens to (136 bytes); absent in an error case.
    #[serde(default)]
    pub read_cap: Option<String>,
    /// Whether the seal must be refused.
    #[serde(default)]
    pub error: bool,
}

/// Parses a vector file and checks every case; see [`check_file`].
pub fn check_json(json: &str) -> Result<Report, LoadError> {
    let file: VectorFile = serde_json::from_str(json)?;
    Ok(check_file(&file))
}

/// Opens every valid case and checks that every error case is refused.
pub fn check_file(file: &VectorFile) -> Report {
    let mut report = Report::default();
    for case in &file.cases {
        let mut c = Check::new(&case.name, if case.error { "refuse" } else { "open" });
        check_case(&mut c, case);
        report.record(c.mismatches);
    }
    report
}

fn check_case(c: &mut Check<'_>, case: &Case) {
    let (Some(private), Some(public), Some(group), Some(sealed)) = (
        c.hex("recipient_private_key", &case.recipient_private_key),
        c.hex("recipient_public_key", &case.recipient_public_key),
        c.hex("group_id", &case.group_id),
        c.hex("sealed", &case.sealed),
    ) else {
        return;
    };
    let key = match SealingKeyPair::from_secret_bytes(&private) {
        Ok(key) => key,
        Err(e) => {
            return c.fail(
                "recipient_private_key",
                case.recipient_private_key.clone(),
                format!("refused: {e}"),
            )
        }
    };
    c.bytes("recipient_public_key", &public, &key.public().0);
    let group = match <[u8; 32]>::try_from(group.as_slice()) {
        Ok(group) => GroupId(group),
        Err(_) => {
            return c.fail("group_id", "32 bytes", format!("{} bytes", group.len()));
        }
    };
    let opened = open_read_cap(&key, &group, case.epoch, &sealed);
    if case.error {
        if let Ok(cap) = opened {
            c.fail(
                "sealed",
                "refused",
                format!("opened to the ReadCap {}", hex::encode(*cap.to_bytes())),
            );
        }
        return;
    }
    let Some(expected) = &case.read_cap else {
        return c.fail(
            "read_cap",
            "a read_cap or \"error\": true",
            "the case has neither",
        );
    };
    let Some(expected) = c.hex("read_cap", expected) else {
        return;
    };
    if let Err(e) = ReadCap::from_bytes(&expected) {
        c.fail(
            "read_cap",
            hex::encode(&expected),
            format!("not a ReadCap: {e}"),
        );
    }
    match opened {
        Ok(cap) => c.bytes("read_cap", &expected, cap.to_bytes().as_slice()),
        Err(e) => c.fail(
            "sealed",
            format!("opens to read_cap {}", hex::encode(&expected)),
            format!("refused: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SEALED_CAP_JSON;

    #[test]
    fn reproduces_every_shipped_vector() {
        let report = check_json(SEALED_CAP_JSON).unwrap();
        for m in &report.mismatches {
            eprintln!("{m}");
        }
        assert!(report.is_success());
        assert_eq!(report.total, 12 + 7);
    }
}
