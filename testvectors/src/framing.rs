//! The `framing` section of katzenqt's group chat vector file (`katzenqt-groupchat.json`) and
//! its checker.
//!
//! The section is a list of cases, each with `chunk_size` (the box plaintext length),
//! `messages_cbor` (hex CBOR messages sent together) and `boxes`: the box plaintexts katzenqt
//! produced, in write order, each with `stream` (`main` or `substream`), `payload` (hex) and
//! `indirection`. The file's `note` says katzenqt leaves an indirection box's payload empty,
//! as it fills in `I` followed by the substream's 136-byte ReadCap only once the cap exists.
//!
//! The checker rebuilds every case with `pigeonhole::stream::framing`, the framing the stream writer
//! uses: the messages concatenated and framed for a geometry of `chunk_size`; a chain goes to a
//! substream, followed by the `I` box for the main stream. Every box must match byte for byte,
//! except that the `I` box carries a real ReadCap: its prefix byte and length are checked, and
//! that it parses back to the substream's cap (and, where the file has a payload, its prefix).
//! The substream's cap is the first write cap of the BACAP reference vectors, so the rebuild is
//! deterministic. Other sections of the file are ignored. Each case counts as one vector.

use bacap::{Geometry, ReadCap, WriteCap};
use pigeonhole::stream::framing::{self, Frame, Framed, INDIRECTION_LEN, PREFIX_INDIRECTION};
use serde::Deserialize;

use crate::report::Check;
use crate::{LoadError, Report};

/// The part of the vector file this checker reads.
#[derive(Debug, Deserialize)]
pub struct VectorFile {
    /// The framing cases.
    pub framing: Vec<Case>,
}

/// One set of messages and the boxes katzenqt made of them.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// Box plaintext length.
    pub chunk_size: usize,
    /// The CBOR messages, hex, sent together.
    pub messages_cbor: Vec<String>,
    /// The boxes, in write order.
    pub boxes: Vec<BoxVector>,
}

/// One box.
#[derive(Debug, Deserialize)]
pub struct BoxVector {
    /// `main` (the sender's stream) or `substream`.
    pub stream: String,
    /// The box plaintext, hex (empty for katzenqt's indirection boxes).
    pub payload: String,
    /// Whether this is the `I` box.
    pub indirection: bool,
}

/// Where a rebuilt box goes.
const MAIN: &str = "main";
const SUBSTREAM: &str = "substream";

/// A box as this implementation frames it.
struct Rebuilt {
    stream: &'static str,
    payload: Vec<u8>,
    indirection: bool,
}

/// Parses a vector file and checks its `framing` section; see [`check_file`].
pub fn check_json(json: &str) -> Result<Report, LoadError> {
    let file: VectorFile = serde_json::from_str(json)?;
    Ok(check_file(&file))
}

/// Rebuilds every case's boxes and compares them.
pub fn check_file(file: &VectorFile) -> Report {
    let substream = substream_cap();
    let mut report = Report::default();
    for (i, case) in file.framing.iter().enumerate() {
        let name = format!("framing[{i}]");
        let mut c = Check::new(&name, "messages");
        check_case(&mut c, case, &substream);
        report.record(c.mismatches);
    }
    report
}

/// The cap of the substream in rebuilt cases: the first write cap of the BACAP vectors.
fn substream_cap() -> ReadCap {
    #[derive(Deserialize)]
    struct Caps {
        cases: Vec<CapCase>,
    }
    #[derive(Deserialize)]
    struct CapCase {
        write_cap: String,
    }
    let caps: Caps = serde_json::from_str(crate::BACAP_HPQC_JSON).expect("shipped vectors parse");
    let bytes = hex::decode(&caps.cases[0].write_cap).expect("shipped vectors are hex");
    WriteCap::from_bytes(&bytes)
        .expect("shipped write cap decodes")
        .read_cap()
}

/// Frames the case's messages as the stream writer does.
fn rebuild(case: &Case, substream: &ReadCap) -> Result<Vec<Rebuilt>, String> {
    let messages = case
        .messages_cbor
        .iter()
        .map(hex::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid hex in messages_cbor ({e})"))?;
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let framed = framing::frame_many(&refs, Geometry::new(case.chunk_size))
        .map_err(|e| format!("framing error: {e}"))?;
    Ok(match framed {
        Framed::Single(b) => vec![Rebuilt {
            stream: MAIN,
            payload: b.to_vec(),
            indirection: false,
        }],
        Framed::Chain(chain) => {
            let mut out: Vec<Rebuilt> = chain
                .iter()
                .map(|b| Rebuilt {
                    stream: SUBSTREAM,
                    payload: b.to_vec(),
                    indirection: false,
                })
                .collect();
            out.push(Rebuilt {
                stream: MAIN,
                payload: framing::indirection(substream).to_vec(),
                indirection: true,
            });
            out
        }
    })
}

fn check_case(c: &mut Check<'_>, case: &Case, substream: &ReadCap) {
    let rebuilt = match rebuild(case, substream) {
        Ok(r) => r,
        Err(e) => return c.fail("boxes", format!("{} boxes", case.boxes.len()), e),
    };
    if rebuilt.len() != case.boxes.len() {
        c.step = "boxes".into();
        c.counter("len", case.boxes.len() as u64, rebuilt.len() as u64);
    }
    for (i, (want, got)) in case.boxes.iter().zip(&rebuilt).enumerate() {
        c.step = format!("boxes[{i}]");
        if want.stream != got.stream {
            c.fail("stream", want.stream.as_str(), got.stream);
        }
        if want.indirection != got.indirection {
            c.fail(
                "indirection",
                want.indirection.to_string(),
                got.indirection.to_string(),
            );
        }
        let Some(expected) = c.hex("payload", &want.payload) else {
            continue;
        };
        if want.indirection {
            check_indirection(c, &expected, &got.payload, substream);
        } else {
            c.bytes("payload", &expected, &got.payload);
        }
    }
}

/// katzenqt leaves the `I` box empty; ours carries the substream's ReadCap.
fn check_indirection(c: &mut Check<'_>, expected: &[u8], got: &[u8], substream: &ReadCap) {
    let shape = format!("'I' and a {}-byte read cap", INDIRECTION_LEN - 1);
    if !expected.is_empty()
        && (expected.len() != INDIRECTION_LEN || expected[0] != PREFIX_INDIRECTION)
    {
        c.fail(
            "payload",
            shape.as_str(),
            format!("the file holds {}", hex::encode(expected)),
        );
    }
    if got.len() != INDIRECTION_LEN || got.first() != Some(&PREFIX_INDIRECTION) {
        return c.fail("payload", shape, hex::encode(got));
    }
    match framing::parse(got) {
        Ok(Frame::Indirection(cap)) if *cap == *substream => {}
        Ok(_) => c.fail("payload", "the substream's read cap", "another read cap"),
        Err(e) => c.fail("payload", "the substream's read cap", format!("error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KATZENQT_GROUPCHAT_JSON;

    #[test]
    fn reproduces_every_framing_vector() {
        let report = check_json(KATZENQT_GROUPCHAT_JSON).unwrap();
        for m in &report.mismatches {
            eprintln!("{m}");
        }
        assert!(report.mismatches.is_empty());
        assert_eq!(report.total, 3);
        assert!(report.is_success());
    }

    #[test]
    fn names_a_changed_payload() {
        let mut v: serde_json::Value = serde_json::from_str(KATZENQT_GROUPCHAT_JSON).unwrap();
        let payload = &mut v["framing"][1]["boxes"][1]["payload"];
        let mut bytes = hex::decode(payload.as_str().unwrap()).unwrap();
        bytes[5] ^= 1;
        *payload = serde_json::Value::String(hex::encode(bytes));
        v["framing"][2]["boxes"][3]["payload"] = serde_json::Value::String("46".into());
        let report = check_json(&v.to_string()).unwrap();
        assert_eq!(report.reproduced, 1);
        let fields: Vec<_> = report
            .mismatches
            .iter()
            .map(|m| (m.case.as_str(), m.step.as_str(), m.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("framing[1]", "boxes[1]", "payload"),
                ("framing[2]", "boxes[3]", "payload"),
            ]
        );
    }
}
