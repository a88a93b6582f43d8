//! The BACAP vector format of the Go reference (`bacap-hpqc.json`) and its checker.
//!
//! A file holds `cases[]`; each has `name`, `write_cap`, `read_cap`, `first_message_box_index`,
//! and lists of `steps` (consecutive boxes from the first index: `idx64`, `message_box_index`,
//! `ctx`, `box_id`, `plaintext`, `ciphertext`, `signature`), `tombstones` (`idx64`, `ctx`,
//! `box_id`, `signature`) and `advances` (`from_index`, `to`, `message_box_index`, `ctx`,
//! `box_id_for_ctx`). Byte strings are hex.
//!
//! Every field is recomputed and compared; when all of a step's bytes reproduced, the
//! reference's own box is also verified and decrypted back to its plaintext.
//!
//! Each case counts as one vector for its caps, plus one per step, tombstone and advance.

use bacap::{MessageBoxIndex, Opened, ReadCap, SealedBox, Signature, WriteCap};
use serde::Deserialize;

use crate::report::Check;
use crate::{LoadError, Mismatch, Report};

/// A whole vector file.
#[derive(Debug, Deserialize)]
pub struct VectorFile {
    /// The cases.
    pub cases: Vec<Case>,
}

/// One cap and what the reference computed with it.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// The case's name.
    pub name: String,
    /// WriteCap encoding (168 bytes).
    pub write_cap: String,
    /// ReadCap encoding (136 bytes).
    pub read_cap: String,
    /// The cap's first MessageBoxIndex (104 bytes).
    pub first_message_box_index: String,
    /// Boxes at consecutive indices from the first.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Tombstones.
    #[serde(default)]
    pub tombstones: Vec<Tombstone>,
    /// Index advances.
    #[serde(default)]
    pub advances: Vec<Advance>,
}

/// One box written at an index.
#[derive(Debug, Deserialize)]
pub struct Step {
    /// The index counter.
    pub idx64: u64,
    /// The index encoding.
    pub message_box_index: String,
    /// The context.
    pub ctx: String,
    /// The box ID.
    pub box_id: String,
    /// The plaintext.
    pub plaintext: String,
    /// The encrypted payload.
    pub ciphertext: String,
    /// The signature over the ciphertext.
    pub signature: String,
}

/// One tombstone.
#[derive(Debug, Deserialize)]
pub struct Tombstone {
    /// The index counter.
    pub idx64: u64,
    /// The context.
    pub ctx: String,
    /// The box ID.
    pub box_id: String,
    /// The signature over the empty payload.
    pub signature: String,
}

/// One advance of an index.
#[derive(Debug, Deserialize)]
pub struct Advance {
    /// The index advanced from.
    pub from_index: String,
    /// The counter advanced to.
    pub to: u64,
    /// The resulting index encoding.
    pub message_box_index: String,
    /// The context of `box_id_for_ctx`.
    pub ctx: String,
    /// The box ID of the resulting index in `ctx`.
    pub box_id_for_ctx: String,
}

/// Parses a vector file and checks every case; see [`check_file`].
pub fn check_json(json: &str) -> Result<Report, LoadError> {
    let file: VectorFile = serde_json::from_str(json)?;
    Ok(check_file(&file))
}

/// Recomputes every field of every case.
pub fn check_file(file: &VectorFile) -> Report {
    let mut report = Report::default();
    for case in &file.cases {
        check_case(case, &mut report);
    }
    report
}

/// The caps of a case, once they decoded and matched.
struct Caps {
    write: WriteCap,
    read: ReadCap,
}

fn check_caps(case: &Case) -> (Option<Caps>, Vec<Mismatch>) {
    let mut c = Check::new(&case.name, "caps");
    let (Some(wc), Some(rc), Some(first)) = (
        c.hex("write_cap", &case.write_cap),
        c.hex("read_cap", &case.read_cap),
        c.hex("first_message_box_index", &case.first_message_box_index),
    ) else {
        return (None, c.mismatches);
    };
    let write = match WriteCap::from_bytes(&wc) {
        Ok(w) => w,
        Err(e) => {
            c.fail("write_cap", hex::encode(&wc), format!("decode error: {e}"));
            return (None, c.mismatches);
        }
    };
    c.bytes("write_cap", &wc, write.to_bytes().as_ref());
    let derived = write.read_cap();
    c.bytes("read_cap", &rc, derived.to_bytes().as_ref());
    c.bytes(
        "first_message_box_index",
        &first,
        write.first_index().to_bytes().as_ref(),
    );
    let read = match ReadCap::from_bytes(&rc) {
        Ok(r) => {
            c.bytes("read_cap", &rc, r.to_bytes().as_ref());
            r
        }
        Err(e) => {
            c.fail("read_cap", hex::encode(&rc), format!("decode error: {e}"));
            derived
        }
    };
    (Some(Caps { write, read }), c.mismatches)
}

fn check_case(case: &Case, report: &mut Report) {
    let (caps, mismatches) = check_caps(case);
    report.record(mismatches);
    let Some(caps) = caps else {
        let n = case.steps.len() + case.tombstones.len() + case.advances.len();
        for i in 0..n {
            let mut c = Check::new(&case.name, format!("vector {i}"));
            c.fail(
                "write_cap",
                "a decodable cap",
                "the case's caps did not decode",
            );
            report.record(c.mismatches);
        }
        return;
    };
    let mut index = caps.write.first_index().clone();
    for (i, step) in case.steps.iter().enumerate() {
        let mut c = Check::new(&case.name, format!("steps[{i}]"));
        if i > 0 {
            match index.next() {
                Ok(next) => index = next,
                Err(e) => c.fail(
                    "idx64",
                    step.idx64.to_string(),
                    format!("cannot advance: {e}"),
                ),
            }
        }
        check_step(&mut c, &caps, &index, step);
        report.record(c.mismatches);
    }
    for (i, t) in case.tombstones.iter().enumerate() {
        let mut c = Check::new(&case.name, format!("tombstones[{i}]"));
        check_tombstone(&mut c, &caps, t);
        report.record(c.mismatches);
    }
    for (i, a) in case.advances.iter().enumerate() {
        let mut c = Check::new(&case.name, format!("advances[{i}]"));
        check_advance(&mut c, &caps, a);
        report.record(c.mismatches);
    }
}

fn check_step(c: &mut Check<'_>, caps: &Caps, index: &MessageBoxIndex, step: &Step) {
    c.counter("idx64", step.idx64, index.idx());
    let (Some(mbi), Some(ctx), Some(box_id), Some(pt), Some(ct), Some(sig)) = (
        c.hex("message_box_index", &step.message_box_index),
        c.hex("ctx", &step.ctx),
        c.hex("box_id", &step.box_id),
        c.hex("plaintext", &step.plaintext),
        c.hex("ciphertext", &step.ciphertext),
        c.hex("signature", &step.signature),
    ) else {
        return;
    };
    c.bytes("message_box_index", &mbi, index.to_bytes().as_ref());
    c.bytes("box_id", &box_id, caps.read.box_id(index, &ctx).as_bytes());
    let sealed = caps.write.seal(index, &ctx, &pt);
    c.bytes("box_id", &box_id, sealed.box_id.as_bytes());
    c.bytes("ciphertext", &ct, &sealed.payload);
    c.bytes("signature", &sig, sealed.signature.as_bytes());
    if !c.mismatches.is_empty() {
        return; // already named; reading the box back would only repeat it
    }
    // Read the reference's box back.
    let Ok(signature) = Signature::from_slice(&sig) else {
        return c.fail("signature", "64 bytes", format!("{} bytes", sig.len()));
    };
    let theirs = SealedBox {
        box_id: sealed.box_id,
        signature,
        payload: ct,
    };
    match caps.read.open(index, &ctx, &theirs) {
        Ok(Opened::Message(got)) => c.bytes("plaintext", &pt, &got),
        Ok(Opened::Tombstone) => c.fail("plaintext", hex::encode(&pt), "read as a tombstone"),
        Err(e) => c.fail(
            "ciphertext",
            "a box that verifies and decrypts",
            format!("error: {e}"),
        ),
    }
}

fn check_tombstone(c: &mut Check<'_>, caps: &Caps, t: &Tombstone) {
    let first = caps.write.first_index();
    let index = match first.advance_to(t.idx64) {
        Ok(i) => i,
        Err(e) => {
            return c.fail(
                "idx64",
                t.idx64.to_string(),
                format!("not reachable from the first index: {e}"),
            )
        }
    };
    let (Some(ctx), Some(box_id), Some(sig)) = (
        c.hex("ctx", &t.ctx),
        c.hex("box_id", &t.box_id),
        c.hex("signature", &t.signature),
    ) else {
        return;
    };
    let sealed = caps.write.tombstone(&index, &ctx);
    c.bytes("box_id", &box_id, sealed.box_id.as_bytes());
    c.bytes("box_id", &box_id, caps.read.box_id(&index, &ctx).as_bytes());
    c.bytes("signature", &sig, sealed.signature.as_bytes());
    if !c.mismatches.is_empty() {
        return;
    }
    let Ok(signature) = Signature::from_slice(&sig) else {
        return c.fail("signature", "64 bytes", format!("{} bytes", sig.len()));
    };
    let theirs = SealedBox {
        box_id: sealed.box_id,
        signature,
        payload: Vec::new(),
    };
    match caps.read.open(&index, &ctx, &theirs) {
        Ok(Opened::Tombstone) => {}
        Ok(Opened::Message(_)) => c.fail("signature", "a tombstone", "read as a message"),
        Err(e) => c.fail(
            "signature",
            "a tombstone that verifies",
            format!("error: {e}"),
        ),
    }
}

fn check_advance(c: &mut Check<'_>, caps: &Caps, a: &Advance) {
    let (Some(from), Some(mbi), Some(ctx), Some(box_id)) = (
        c.hex("from_index", &a.from_index),
        c.hex("message_box_index", &a.message_box_index),
        c.hex("ctx", &a.ctx),
        c.hex("box_id_for_ctx", &a.box_id_for_ctx),
    ) else {
        return;
    };
    let from = match MessageBoxIndex::from_bytes(&from) {
        Ok(i) => i,
        Err(e) => {
            return c.fail(
                "from_index",
                hex::encode(&from),
                format!("decode error: {e}"),
            )
        }
    };
    let to = match from.advance_to(a.to) {
        Ok(i) => i,
        Err(e) => return c.fail("to", a.to.to_string(), format!("cannot advance: {e}")),
    };
    c.bytes("message_box_index", &mbi, to.to_bytes().as_ref());
    c.bytes(
        "box_id_for_ctx",
        &box_id,
        caps.read.box_id(&to, &ctx).as_bytes(),
    );
    c.bytes(
        "box_id_for_ctx",
        &box_id,
        caps.write.box_id(&to, &ctx).as_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BACAP_HPQC_JSON;

    #[test]
    fn reproduces_every_reference_vector() {
        let report = check_json(BACAP_HPQC_JSON).unwrap();
        for m in &report.mismatches {
            eprintln!("{m}");
        }
        assert!(report.mismatches.is_empty());
        // 3 cases, each: caps + 6 steps + 2 tombstones + 4 advances.
        assert_eq!(report.total, 3 * 13);
        assert!(report.is_success());
    }
}
