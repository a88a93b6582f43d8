//! Differential conformance: this crate against Katzenpost's Go reference (`hpqc`, package
//! `bacap`), live, on seeded random inputs.
//!
//! The test builds `testvectors/hpqc-oracle` (a Go program of ours that answers requests with
//! what hpqc computes; hpqc is pinned in its `go.mod` and comes through the Go module proxy),
//! starts it, and for every random case sends the same inputs to it and to this crate, comparing
//! every byte of every answer:
//!
//! - caps from 80 random bytes, fed to hpqc's `NewWriteCap` as its random source (seed, KDF
//!   state, starting counter), sometimes drawn so that the counter starts near 0 or as near the
//!   end of its range as hpqc can start it;
//! - a whole vector case: caps (from those bytes, or from a random seed with a random first index,
//!   often near 0 or near the wrap of the 64-bit counter), 0 to 3 boxes at consecutive indices
//!   with contexts of 0 to 500 bytes and plaintexts of 0 to 4,000 bytes, tombstones and index
//!   advances with their box IDs;
//! - verification (as storage does) and opening (as a reader at the box's index does) of a box
//!   as made, with one bit flipped in its ID, its signature and its ciphertext, with a tampered
//!   ciphertext that hpqc re-signed (the signature verifies, decryption must fail), and at the
//!   wrong index: both must accept or refuse alike, and agree on the plaintext;
//! - the next index and advances (including rewinds and the last counter, 2^64 - 1), and box
//!   IDs, sealing and tombstones at random indices near the wrap.
//!
//! Our side uses `WriteCap`, `ReadCap`, `MessageBoxIndex`, `StatefulWriter`, `StatefulReader` and
//! `verify`, and also checks that its own paths agree with each other (a writer's box opens with
//! a reader, `ReadCap::open` and `StatefulReader::decrypt_next` answer alike).
//!
//! Knobs (environment): `BACAP_DIFF_CASES` (default 10000), `BACAP_DIFF_SEED` (decimal or
//! `0x` hex; default a fresh random seed, printed), `BACAP_DIFF_REQUIRE_GO=1` (fail instead of
//! skipping when `go` is not on `PATH`; CI sets it).
//!
//! On a mismatch the test fails and prints, besides the replay command: the request, hpqc's
//! answer and ours as one JSON object `{"case", "seed", "request", "hpqc", "ours"}` (answers are
//! `{"ok": {...}}` or `{"refused": "why"}` as in the oracle's protocol, see
//! `testvectors/hpqc-oracle/main.go`), and hpqc's whole case as a vector file in the format of
//! `testvectors/data/bacap-hpqc.json`, ready for `bacap-chat conformance bacap FILE`.
//!
//! A second test checks that `testvectors/data/bacap-hpqc.json` equals, byte for byte, what
//! `scripts/regen-hpqc-vectors` makes of it with hpqc; a third (no Go needed) that the failure
//! report lays out a vector file exactly as that file is laid out.

use std::fmt::Display;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use bacap::{
    verify, BoxId, Error, MessageBoxIndex, ReadCap, SealedBox, Signature, StatefulReader,
    StatefulWriter, WriteCap, BOX_ID_LEN, MESSAGE_BOX_INDEX_LEN, SIGNATURE_LEN,
};
use rand_chacha::rand_core::{OsRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

const DEFAULT_CASES: u64 = 10_000;
/// Bytes hpqc's `NewWriteCap` reads: seed (32), KDF state (32), two counter words (16).
const CAP_RAND_LEN: usize = 80;
/// hpqc masks the low byte of each counter word with this before summing them.
const COUNTER_BYTE_MASK: u64 = 0x2f;

/// Writes a line to the test's real stderr, so it shows without `--nocapture`.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

// ---------------------------------------------------------------------------------------------
// The oracle process.

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bacap/ has a parent")
        .to_path_buf()
}

/// Builds the oracle once per test process. `Ok(None)`: Go is not installed.
fn oracle_binary() -> Result<Option<PathBuf>, String> {
    static BUILT: OnceLock<Result<Option<PathBuf>, String>> = OnceLock::new();
    BUILT.get_or_init(build_oracle).clone()
}

fn build_oracle() -> Result<Option<PathBuf>, String> {
    match Command::new("go").arg("version").output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot run `go version`: {e}")),
        Ok(out) if !out.status.success() => {
            return Err(format!(
                "`go version` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
        Ok(_) => {}
    }
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hpqc-oracle");
    let out = Command::new("go")
        .args(["build", "-mod=readonly", "-buildvcs=false", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(repo_root().join("testvectors/hpqc-oracle"))
        .output()
        .map_err(|e| format!("cannot run `go build`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`go build` of testvectors/hpqc-oracle failed (Go 1.26 or newer and the Go module \
             proxy are needed):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(Some(bin))
}

/// The oracle's binary, or `None` after saying that the test is skipped (Go is missing).
fn oracle_or_skip(test: &str) -> Option<PathBuf> {
    match oracle_binary() {
        Ok(Some(bin)) => Some(bin),
        Ok(None) => {
            if std::env::var_os("BACAP_DIFF_REQUIRE_GO").is_some_and(|v| v == "1") {
                panic!("{test}: Go is not installed (no `go` on PATH) and BACAP_DIFF_REQUIRE_GO=1");
            }
            say(&format!(
                "{test}: SKIPPED: Go is not installed (no `go` on PATH), so hpqc cannot be run; \
                 README.md, \"Checking conformance\", says how to install it"
            ));
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

/// A running `hpqc-oracle serve`.
struct Oracle {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    requests: u64,
    /// The last answer as hpqc-oracle wrote it (its fields in Go's order).
    last_line: String,
}

impl Oracle {
    fn start(bin: &Path) -> Self {
        let mut child = Command::new(bin)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self {
            child,
            stdin: Some(stdin),
            stdout,
            requests: 0,
            last_line: String::new(),
        }
    }

    fn send(&mut self, request: &Value) {
        let stdin = self.stdin.as_mut().expect("oracle open");
        serde_json::to_writer(&mut *stdin, request).expect("write to hpqc-oracle");
        stdin.write_all(b"\n").expect("write to hpqc-oracle");
        stdin.flush().expect("write to hpqc-oracle");
        self.requests += 1;
    }

    fn recv(&mut self) -> Value {
        self.last_line.clear();
        let n = self
            .stdout
            .read_line(&mut self.last_line)
            .expect("read from hpqc-oracle");
        assert!(n > 0, "hpqc-oracle ended without answering");
        serde_json::from_str(&self.last_line).unwrap_or_else(|e| {
            panic!(
                "hpqc-oracle answered something not JSON ({e}): {}",
                self.last_line
            )
        })
    }

    /// The `ok` part of the last answer, as hpqc-oracle wrote it.
    fn last_ok_text(&self) -> Option<String> {
        let line = self.last_line.trim_end();
        let ok = line.strip_prefix("{\"ok\":")?.strip_suffix('}')?;
        Some(ok.to_string())
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        // End of input ends the oracle.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Answers: {"ok": {...}} or {"refused": "..."}, ours in the same shape as the oracle's.

fn ok(v: Value) -> Value {
    json!({ "ok": v })
}

fn refused(why: impl Display) -> Value {
    json!({ "refused": why.to_string() })
}

/// An inconsistency among our own paths; it never agrees with anything.
fn inconsistent(why: impl Display) -> Value {
    json!({ "inconsistent": why.to_string() })
}

fn answer<T>(r: Result<T, Error>, f: impl FnOnce(T) -> Value) -> Value {
    match r {
        Ok(t) => ok(f(t)),
        Err(e) => refused(e),
    }
}

/// Both computed the same bytes, or both refused.
fn agree(hpqc: &Value, ours: &Value, ignore: &[&str]) -> bool {
    match (hpqc.get("ok"), ours.get("ok")) {
        (Some(a), Some(b)) => {
            let strip = |v: &Value| {
                let mut v = v.clone();
                if let Some(m) = v.as_object_mut() {
                    for k in ignore {
                        m.remove(*k);
                    }
                }
                v
            };
            strip(a) == strip(b)
        }
        (None, None) => hpqc.get("refused").is_some() && ours.get("refused").is_some(),
        _ => false,
    }
}

/// The path and values of the first difference between two JSON values.
fn first_difference(a: &Value, b: &Value, path: String) -> Option<(String, Value, Value)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let (u, v) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(u, v, format!("{path}.{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some((path, a.clone(), b.clone())),
    }
}

/// Lays out compact JSON as Go's `json.MarshalIndent(v, "", " ")` does (the layout of
/// `testvectors/data/bacap-hpqc.json`), keeping the order of its fields.
fn indent_json(compact: &str) -> String {
    fn newline(out: &mut String, depth: usize) {
        out.push('\n');
        out.push_str(&" ".repeat(depth));
    }
    let mut out = String::with_capacity(compact.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key} is not a string in {v}"));
    hex::decode(s).unwrap_or_else(|e| panic!("field {key} is not hex ({e}) in {v}"))
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    b.try_into().expect("length checked by construction")
}

// ---------------------------------------------------------------------------------------------
// The run: sends each request, computes our answer while hpqc computes its own, compares.

struct Runner {
    oracle: Oracle,
    hpqc: String,
    seed: u64,
    case: u64,
    /// hpqc's vector of the current case as it wrote it, once it has been computed.
    vector_text: Option<String>,
}

impl Runner {
    fn check(&mut self, request: Value, ours: impl FnOnce() -> Value) -> Value {
        self.check_ignoring(request, &[], ours)
    }

    /// Compares all of the answers' fields but those in `ignore`.
    fn check_ignoring(
        &mut self,
        request: Value,
        ignore: &[&str],
        ours: impl FnOnce() -> Value,
    ) -> Value {
        self.oracle.send(&request);
        let ours = ours();
        let hpqc = self.oracle.recv();
        if !agree(&hpqc, &ours, ignore) {
            self.fail(&request, &hpqc, &ours);
        }
        hpqc
    }

    fn fail(&self, request: &Value, hpqc: &Value, ours: &Value) -> ! {
        let mut report = format!(
            "differential: MISMATCH with hpqc {} in case {} of seed {:#018x}\n\
             replay: BACAP_DIFF_SEED={:#018x} BACAP_DIFF_CASES={} cargo test -p bacap --test differential\n",
            self.hpqc,
            self.case,
            self.seed,
            self.seed,
            self.case + 1
        );
        report += &format!("op: {}\n", request["op"]);
        if let Some((path, a, b)) = first_difference(hpqc, ours, String::new()) {
            report += &format!("first difference at {path}\n  hpqc: {a}\n  ours: {b}\n");
        }
        let record = json!({
            "case": self.case,
            "seed": format!("{:#018x}", self.seed),
            "request": request,
            "hpqc": hpqc,
            "ours": ours,
        });
        report += &format!("single-case record:\n{record}\n");
        let vector = match (request["op"].as_str(), hpqc.get("ok")) {
            (Some("case"), _) => self.oracle.last_ok_text(),
            // A cap alone is a vector case without steps.
            (Some("cap"), Some(cap)) => Some(format!(
                "{{\"name\":{},\"write_cap\":{},\"read_cap\":{},\"first_message_box_index\":{},\
                 \"steps\":[],\"tombstones\":[],\"advances\":[]}}",
                json!(case_name(self.seed, self.case)),
                cap["write_cap"],
                cap["read_cap"],
                cap["first_message_box_index"],
            )),
            _ => self.vector_text.clone(),
        };
        if let Some(case) = vector {
            let source = format!(
                "katzenpost/hpqc bacap (Go reference) {}, differential case {} of seed {:#018x}",
                self.hpqc, self.case, self.seed
            );
            let file = format!(
                "{{\"aead\":{},\"cases\":[{case}],\"kdf\":{},\"source\":{}}}",
                json!("AES-256-GCM-SIV, nonce = box_id[:16], associated data = box_id"),
                json!("HKDF with BLAKE2b-512"),
                json!(source),
            );
            report += &format!(
                "hpqc's case as a vector file (format of testvectors/data/bacap-hpqc.json; \
                 check it with `cargo run -p bacap-chat -- conformance bacap FILE`):\n{}\n",
                indent_json(&file)
            );
        }
        panic!("{report}");
    }
}

// ---------------------------------------------------------------------------------------------
// Random inputs.

fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

fn chance(rng: &mut ChaCha20Rng, percent: u64) -> bool {
    below(rng, 100) < percent
}

fn pick<T: Copy>(rng: &mut ChaCha20Rng, items: &[T]) -> T {
    items[below(rng, items.len() as u64) as usize]
}

fn random_bytes(rng: &mut ChaCha20Rng, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    rng.fill_bytes(&mut b);
    b
}

/// A context of 0 to 500 bytes, often at a length where HKDF's salt handling changes.
fn random_ctx(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let len = if chance(rng, 25) {
        pick(
            rng,
            &[0, 1, 12, 31, 32, 33, 64, 127, 128, 129, 255, 256, 500],
        )
    } else {
        below(rng, 501) as usize
    };
    random_bytes(rng, len)
}

/// A plaintext of 0 to 4,000 bytes: 30% at a block or box boundary, 15% uniform up to 4,000
/// bytes, 55% up to 200 bytes. (hpqc's AES-GCM-SIV is a slow reference implementation, about
/// 0.4 us a byte, so long payloads are what a case's time goes into.)
fn random_plaintext(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let len = match below(rng, 100) {
        0..=29 => pick(
            rng,
            &[
                0, 1, 15, 16, 17, 31, 32, 33, 127, 128, 129, 1555, 1556, 4000,
            ],
        ),
        30..=44 => below(rng, 4001) as usize,
        _ => below(rng, 201) as usize,
    };
    random_bytes(rng, len)
}

/// A counter: anywhere, near 0, or near the wrap.
fn random_counter(rng: &mut ChaCha20Rng) -> u64 {
    match below(rng, 3) {
        0 => rng.next_u64(),
        1 => u64::MAX - below(rng, 8),
        _ => below(rng, 8),
    }
}

/// Rewrites the counter words of hpqc's cap randomness so that its starting counter (the sum of
/// the two masked words, wrapping) is `high` plus the two masked low bytes. Those add up to at
/// most 0x5e, so hpqc never starts a cap at the very end of the counter's range (2^64 - 1, where
/// advancing once would fail); `high = 2^64 - 256` lands within 0xa1 of it.
fn force_counter_high(rng: &mut ChaCha20Rng, rand: &mut [u8; CAP_RAND_LEN], high: u64) {
    let w1 = mask_counter_word(rng.next_u64());
    let w2 = mask_counter_word(high.wrapping_sub(w1 & !0xff) | (rng.next_u64() & 0xff));
    rand[64..72].copy_from_slice(&w1.to_le_bytes());
    rand[72..80].copy_from_slice(&w2.to_le_bytes());
}

fn mask_counter_word(w: u64) -> u64 {
    w & !(0xff & !COUNTER_BYTE_MASK)
}

/// The Ed25519 public key of a seed, by ed25519-dalek (independent of this crate).
fn public_of(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}

/// A WriteCap encoding from a random seed and a random first index.
fn arbitrary_write_cap(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let seed: [u8; 32] = arr(&random_bytes(rng, 32));
    let mut b = seed.to_vec();
    b.extend_from_slice(&public_of(&seed));
    b.extend_from_slice(&random_counter(rng).to_le_bytes());
    b.extend_from_slice(&random_bytes(rng, 96));
    b
}

// ---------------------------------------------------------------------------------------------
// Our answers.

/// The cap hpqc's `NewWriteCap` makes from `rand`: the seed, then a first index advanced once
/// from the KDF state and the sum of the two masked counter words (which may wrap).
fn ours_cap(rand: &[u8; CAP_RAND_LEN]) -> Value {
    let seed: [u8; 32] = arr(&rand[0..32]);
    let kdf_state: [u8; 32] = arr(&rand[32..64]);
    let w1 = mask_counter_word(u64::from_le_bytes(arr(&rand[64..72])));
    let w2 = mask_counter_word(u64::from_le_bytes(arr(&rand[72..80])));
    let start = MessageBoxIndex::from_parts(w1.wrapping_add(w2), [0; 32], [0; 32], kdf_state);
    let first = match start.next() {
        Ok(first) => first,
        Err(e) => return refused(e),
    };
    let mut b = seed.to_vec();
    b.extend_from_slice(&public_of(&seed));
    b.extend_from_slice(first.to_bytes().as_ref());
    answer(WriteCap::from_bytes(&b), |wc| {
        json!({
            "write_cap": hex::encode(wc.to_bytes().as_ref()),
            "read_cap": hex::encode(wc.read_cap().to_bytes().as_ref()),
            "first_message_box_index": hex::encode(wc.first_index().to_bytes().as_ref()),
        })
    })
}

/// The inputs of one vector case.
struct CaseInput {
    name: String,
    write_cap: Vec<u8>,
    /// All steps in one context, written with a StatefulWriter and read back with a reader.
    same_ctx: bool,
    steps: Vec<(Vec<u8>, Vec<u8>)>,
    tombstones: Vec<(u64, Vec<u8>)>,
    advances: Vec<(u64, Vec<u8>)>,
}

impl CaseInput {
    fn request(&self) -> Value {
        json!({
            "op": "case",
            "case": {
                "name": self.name,
                "write_cap": hex::encode(&self.write_cap),
                "steps": self.steps.iter().map(|(c, p)| json!({"ctx": hex::encode(c), "plaintext": hex::encode(p)})).collect::<Vec<_>>(),
                "tombstones": self.tombstones.iter().map(|(i, c)| json!({"idx64": i, "ctx": hex::encode(c)})).collect::<Vec<_>>(),
                "advances": self.advances.iter().map(|(t, c)| json!({"to": t, "ctx": hex::encode(c)})).collect::<Vec<_>>(),
            }
        })
    }
}

fn step_json(index: &MessageBoxIndex, ctx: &[u8], plaintext: &[u8], sealed: &SealedBox) -> Value {
    json!({
        "idx64": index.idx(),
        "message_box_index": hex::encode(index.to_bytes().as_ref()),
        "ctx": hex::encode(ctx),
        "box_id": hex::encode(sealed.box_id.as_bytes()),
        "plaintext": hex::encode(plaintext),
        "ciphertext": hex::encode(&sealed.payload),
        "signature": hex::encode(sealed.signature.as_bytes()),
    })
}

/// Our whole vector case, or a refusal, or an inconsistency among our own paths.
fn ours_case(input: &CaseInput) -> Value {
    match ours_case_inner(input) {
        Ok(Ok(v)) => ok(v),
        Ok(Err(why)) => inconsistent(why),
        Err(e) => refused(e),
    }
}

fn ours_case_inner(input: &CaseInput) -> Result<Result<Value, String>, Error> {
    let wc = WriteCap::from_bytes(&input.write_cap)?;
    let rc = wc.read_cap();
    let first = wc.first_index().clone();
    let mut steps = Vec::new();
    if input.same_ctx && !input.steps.is_empty() {
        let ctx = &input.steps[0].0;
        let mut writer = StatefulWriter::new(wc.clone(), ctx);
        let mut reader = StatefulReader::new(rc.clone(), ctx);
        for (i, (_, plaintext)) in input.steps.iter().enumerate() {
            if i > 0 {
                writer.advance()?;
            }
            let sealed = writer.prepare_next(plaintext);
            if writer.next_box_id() != sealed.box_id || reader.next_box_id() != sealed.box_id {
                return Ok(Err(format!(
                    "steps[{i}]: writer/reader box IDs differ from the sealed box's"
                )));
            }
            match reader.decrypt_next(&sealed.signature, &sealed.payload) {
                Ok(opened) if opened.plaintext() == plaintext.as_slice() => {}
                Err(Error::CounterExhausted) if writer.next_index().idx() == u64::MAX => {}
                other => {
                    return Ok(Err(format!(
                        "steps[{i}]: our reader could not read our writer's box: {other:?}"
                    )))
                }
            }
            steps.push(step_json(writer.next_index(), ctx, plaintext, &sealed));
        }
    } else {
        let mut index = first.clone();
        for (i, (ctx, plaintext)) in input.steps.iter().enumerate() {
            if i > 0 {
                index = index.next()?;
            }
            let sealed = wc.seal(&index, ctx, plaintext);
            if rc.box_id(&index, ctx) != sealed.box_id {
                return Ok(Err(format!(
                    "steps[{i}]: ReadCap and WriteCap derive different box IDs"
                )));
            }
            match rc.open(&index, ctx, &sealed) {
                Ok(opened) if opened.plaintext() == plaintext.as_slice() => {}
                other => {
                    return Ok(Err(format!(
                        "steps[{i}]: ReadCap::open of our own box: {other:?}"
                    )))
                }
            }
            steps.push(step_json(&index, ctx, plaintext, &sealed));
        }
    }
    let mut tombstones = Vec::new();
    for (i, (idx, ctx)) in input.tombstones.iter().enumerate() {
        let index = first.advance_to(*idx)?;
        let t = wc.tombstone(&index, ctx);
        if !matches!(rc.open(&index, ctx, &t), Ok(bacap::Opened::Tombstone)) {
            return Ok(Err(format!(
                "tombstones[{i}]: our own tombstone does not open as one"
            )));
        }
        tombstones.push(json!({
            "idx64": idx,
            "ctx": hex::encode(ctx),
            "box_id": hex::encode(t.box_id.as_bytes()),
            "signature": hex::encode(t.signature.as_bytes()),
        }));
    }
    let first_hex = hex::encode(first.to_bytes().as_ref());
    let mut advances = Vec::new();
    for (to, ctx) in &input.advances {
        let index = first.advance_to(*to)?;
        advances.push(json!({
            "from_index": first_hex,
            "to": to,
            "message_box_index": hex::encode(index.to_bytes().as_ref()),
            "box_id_for_ctx": hex::encode(rc.box_id(&index, ctx).as_bytes()),
            "ctx": hex::encode(ctx),
        }));
    }
    Ok(Ok(json!({
        "name": input.name,
        "write_cap": hex::encode(wc.to_bytes().as_ref()),
        "read_cap": hex::encode(rc.to_bytes().as_ref()),
        "first_message_box_index": first_hex,
        "steps": steps,
        "tombstones": tombstones,
        "advances": advances,
    })))
}

fn index_answer(r: Result<MessageBoxIndex, Error>) -> Value {
    answer(
        r,
        |i| json!({ "message_box_index": hex::encode(i.to_bytes().as_ref()) }),
    )
}

/// A box as storage holds it.
#[derive(Clone)]
struct RawBox {
    id: [u8; BOX_ID_LEN],
    signature: [u8; SIGNATURE_LEN],
    payload: Vec<u8>,
}

impl RawBox {
    fn sealed(&self) -> SealedBox {
        SealedBox {
            box_id: BoxId::from_array(self.id),
            signature: Signature::from_array(self.signature),
            payload: self.payload.clone(),
        }
    }

    fn verify_request(&self) -> Value {
        json!({
            "op": "verify",
            "box_id": hex::encode(self.id),
            "payload": hex::encode(&self.payload),
            "signature": hex::encode(self.signature),
        })
    }

    fn ours_verify(&self) -> Value {
        let sealed = self.sealed();
        ok(json!({ "accept": verify(&sealed.box_id, &sealed.payload, &sealed.signature).is_ok() }))
    }
}

/// Where a box is read: the stream's root key, the reader's index and the context.
#[derive(Clone)]
struct Place {
    root_public: [u8; 32],
    index: [u8; MESSAGE_BOX_INDEX_LEN],
    ctx: Vec<u8>,
}

impl Place {
    fn read_cap(&self) -> Vec<u8> {
        let mut b = self.root_public.to_vec();
        b.extend_from_slice(&self.index);
        b
    }

    fn open_request(&self, b: &RawBox) -> Value {
        json!({
            "op": "open",
            "read_cap": hex::encode(self.read_cap()),
            "index": hex::encode(self.index),
            "ctx": hex::encode(&self.ctx),
            "box_id": hex::encode(b.id),
            "payload": hex::encode(&b.payload),
            "signature": hex::encode(b.signature),
        })
    }

    /// A reader whose next index is this place's reads the box: it must be the box expected
    /// there, verify and decrypt. `ReadCap::open` must answer alike, except at the last counter,
    /// where only the reader refuses (it could not move on).
    fn ours_open(&self, b: &RawBox) -> Value {
        let rc = match ReadCap::from_bytes(&self.read_cap()) {
            Ok(rc) => rc,
            Err(e) => return refused(e),
        };
        let sealed = b.sealed();
        let mut reader = StatefulReader::new(rc.clone(), &self.ctx);
        let via_reader = if reader.next_box_id() != sealed.box_id {
            Err(Error::BoxIdMismatch)
        } else {
            reader
                .decrypt_next(&sealed.signature, &sealed.payload)
                .map(|o| o.plaintext().to_vec())
        };
        let via_cap = rc
            .open(rc.first_index(), &self.ctx, &sealed)
            .map(|o| o.plaintext().to_vec());
        let consistent = match (&via_reader, &via_cap) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            (Err(Error::CounterExhausted), Ok(_)) => rc.first_index().idx() == u64::MAX,
            _ => false,
        };
        if !consistent {
            return inconsistent(format!(
                "StatefulReader::decrypt_next gave {via_reader:?} but ReadCap::open {via_cap:?}"
            ));
        }
        answer(via_reader, |p| json!({ "plaintext": hex::encode(p) }))
    }
}

fn case_name(seed: u64, case: u64) -> String {
    format!("diff-{seed:016x}-{case}")
}

fn flip_bit(rng: &mut ChaCha20Rng, bytes: &mut [u8]) {
    let bit = below(rng, bytes.len() as u64 * 8);
    bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
}

// ---------------------------------------------------------------------------------------------
// One random case.

fn run_case(r: &mut Runner, rng: &mut ChaCha20Rng) {
    r.vector_text = None;

    // Caps from hpqc's randomness, sometimes with the counter at the end of its range.
    let mut rand = [0u8; CAP_RAND_LEN];
    rng.fill_bytes(&mut rand);
    match below(rng, 20) {
        0 => force_counter_high(rng, &mut rand, !0xff),
        1 => force_counter_high(rng, &mut rand, 0),
        _ => {}
    }
    let hpqc_cap = r.check(json!({"op": "cap", "rand": hex::encode(rand)}), || {
        ours_cap(&rand)
    });

    // The case's cap: that one, or a random seed with a random first index.
    let write_cap = match hpqc_cap.get("ok") {
        Some(cap) if !chance(rng, 30) => hex_field(cap, "write_cap"),
        _ => arbitrary_write_cap(rng),
    };
    let first_idx = u64::from_le_bytes(arr(&write_cap[64..72]));
    let root_public: [u8; 32] = arr(&write_cap[32..64]);

    let wanted_steps = if chance(rng, 10) {
        0
    } else {
        1 + below(rng, 3)
    };
    let n_steps = wanted_steps.min((u64::MAX - first_idx).saturating_add(1));
    let same_ctx = chance(rng, 50);
    let shared_ctx = random_ctx(rng);
    let mut steps = Vec::new();
    for _ in 0..n_steps {
        let ctx = if same_ctx {
            shared_ctx.clone()
        } else {
            random_ctx(rng)
        };
        steps.push((ctx, random_plaintext(rng)));
    }
    let some_ctx = |rng: &mut ChaCha20Rng, steps: &[(Vec<u8>, Vec<u8>)]| {
        if !steps.is_empty() && chance(rng, 50) {
            steps[below(rng, steps.len() as u64) as usize].0.clone()
        } else {
            random_ctx(rng)
        }
    };
    let mut tombstones = Vec::new();
    for _ in 0..below(rng, 3) {
        let idx = first_idx.saturating_add(below(rng, n_steps + 3));
        tombstones.push((idx, some_ctx(rng, &steps)));
    }
    let mut advances = Vec::new();
    for _ in 0..below(rng, 3) {
        let distance = match below(rng, 100) {
            0 => below(rng, 5001),
            1..=9 => below(rng, 1001),
            _ => below(rng, 65),
        };
        advances.push((first_idx.saturating_add(distance), some_ctx(rng, &steps)));
    }
    let input = CaseInput {
        name: case_name(r.seed, r.case),
        write_cap: write_cap.clone(),
        same_ctx,
        steps,
        tombstones,
        advances,
    };
    let hpqc_case = r.check(input.request(), || ours_case(&input));
    let vector = hpqc_case["ok"].clone();
    r.vector_text = r.oracle.last_ok_text();

    // A box of the case (a step's, or a tombstone's), as made and tampered with.
    let steps = vector["steps"].as_array().cloned().unwrap_or_default();
    let tombs = vector["tombstones"].as_array().cloned().unwrap_or_default();
    let target = if !steps.is_empty() {
        let s = &steps[below(rng, steps.len() as u64) as usize];
        Some((
            arr::<MESSAGE_BOX_INDEX_LEN>(&hex_field(s, "message_box_index")),
            hex_field(s, "ctx"),
            RawBox {
                id: arr(&hex_field(s, "box_id")),
                signature: arr(&hex_field(s, "signature")),
                payload: hex_field(s, "ciphertext"),
            },
        ))
    } else if !tombs.is_empty() {
        let t = &tombs[below(rng, tombs.len() as u64) as usize];
        let idx = t["idx64"].as_u64().expect("idx64");
        let first = MessageBoxIndex::from_bytes(&hex_field(&vector, "first_message_box_index"))
            .expect("104 bytes");
        let index = first.advance_to(idx).expect("advanced by hpqc too");
        Some((
            arr(index.to_bytes().as_ref()),
            hex_field(t, "ctx"),
            RawBox {
                id: arr(&hex_field(t, "box_id")),
                signature: arr(&hex_field(t, "signature")),
                payload: Vec::new(),
            },
        ))
    } else {
        None
    };
    if let Some((index, ctx, intact)) = target {
        let place = Place {
            root_public,
            index,
            ctx,
        };
        box_checks(r, rng, &write_cap, &place, &intact);
    }

    if chance(rng, 15) || first_idx >= u64::MAX - 8 {
        wrap_checks(r, rng, &write_cap, root_public);
    }
}

/// Verify and open a box as made, with a bit flipped in its ID, signature or ciphertext, with a
/// tampered payload that hpqc re-signed, and at the wrong index.
fn box_checks(
    r: &mut Runner,
    rng: &mut ChaCha20Rng,
    write_cap: &[u8],
    place: &Place,
    intact: &RawBox,
) {
    // Storage's view: the box as made and with one bit flipped in each part.
    let mut flipped = Vec::new();
    let mut b = intact.clone();
    flip_bit(rng, &mut b.id);
    flipped.push(b);
    let mut b = intact.clone();
    flip_bit(rng, &mut b.signature);
    flipped.push(b);
    if !intact.payload.is_empty() {
        let mut b = intact.clone();
        flip_bit(rng, &mut b.payload);
        flipped.push(b);
    }
    for b in std::iter::once(intact).chain(&flipped) {
        r.check(b.verify_request(), || b.ours_verify());
    }
    // A reader's view: the box as made, and one of the flipped ones.
    let b = &flipped[below(rng, flipped.len() as u64) as usize];
    for b in [intact, b] {
        r.check(place.open_request(b), || place.ours_open(b));
    }

    if chance(rng, 30) {
        // A payload that is not what was sealed, signed anew by hpqc: storage accepts it, a
        // reader must not. Ours cannot sign an arbitrary payload, so only the box IDs compare.
        let mut payload = intact.payload.clone();
        if payload.is_empty() || chance(rng, 25) {
            let len = 1 + below(rng, 40) as usize;
            payload = random_bytes(rng, len);
        } else {
            flip_bit(rng, &mut payload);
        }
        let request = json!({
            "op": "sign",
            "write_cap": hex::encode(write_cap),
            "index": hex::encode(place.index),
            "ctx": hex::encode(&place.ctx),
            "payload": hex::encode(&payload),
        });
        let signed = r.check_ignoring(request, &["signature"], || {
            let wc = WriteCap::from_bytes(write_cap).expect("valid cap");
            let index = MessageBoxIndex::from_bytes(&place.index).expect("104 bytes");
            ok(json!({ "box_id": hex::encode(wc.box_id(&index, &place.ctx).as_bytes()) }))
        });
        let b = RawBox {
            id: intact.id,
            signature: arr(&hex_field(&signed["ok"], "signature")),
            payload,
        };
        r.check(b.verify_request(), || b.ours_verify());
        r.check(place.open_request(&b), || place.ours_open(&b));
    }

    if chance(rng, 10) {
        if let Ok(next) = MessageBoxIndex::from_bytes(&place.index).and_then(|i| i.next()) {
            let elsewhere = Place {
                index: arr(next.to_bytes().as_ref()),
                ..place.clone()
            };
            r.check(elsewhere.open_request(intact), || {
                elsewhere.ours_open(intact)
            });
        }
    }
}

/// Next index, advances (forward, to the last counter, backwards), box IDs, sealing, tombstones
/// and opening at a random index, often at or near the last counter.
fn wrap_checks(r: &mut Runner, rng: &mut ChaCha20Rng, write_cap: &[u8], root_public: [u8; 32]) {
    let idx = match below(rng, 4) {
        0 => u64::MAX,
        1 => u64::MAX - 1,
        2 => u64::MAX - below(rng, 16),
        _ => rng.next_u64(),
    };
    let mut index_bytes = idx.to_le_bytes().to_vec();
    index_bytes.extend_from_slice(&random_bytes(rng, 96));
    let index = MessageBoxIndex::from_bytes(&index_bytes).expect("104 bytes");
    let index_hex = hex::encode(&index_bytes);

    r.check(json!({"op": "next", "index": index_hex}), || {
        index_answer(index.next())
    });
    let to = match below(rng, 3) {
        0 => idx.saturating_sub(1 + below(rng, 3)),
        1 => idx.saturating_add(below(rng, 4)),
        _ if u64::MAX - idx <= 32 => u64::MAX,
        _ => idx + below(rng, 32),
    };
    r.check(
        json!({"op": "advance", "index": index_hex, "to": to}),
        || index_answer(index.advance_to(to)),
    );

    let wc = WriteCap::from_bytes(write_cap).expect("valid cap");
    let mut read_cap = root_public.to_vec();
    read_cap.extend_from_slice(&write_cap[64..]);
    let ctx = random_ctx(rng);
    let plaintext = random_plaintext(rng);
    r.check(
        json!({"op": "box_id", "read_cap": hex::encode(&read_cap), "index": index_hex, "ctx": hex::encode(&ctx)}),
        || {
            let rc = ReadCap::from_bytes(&read_cap).expect("valid cap");
            ok(json!({ "box_id": hex::encode(rc.box_id(&index, &ctx).as_bytes()) }))
        },
    );
    r.check(
        json!({"op": "tombstone", "write_cap": hex::encode(write_cap), "index": index_hex, "ctx": hex::encode(&ctx)}),
        || {
            let t = wc.tombstone(&index, &ctx);
            ok(json!({
                "box_id": hex::encode(t.box_id.as_bytes()),
                "signature": hex::encode(t.signature.as_bytes()),
            }))
        },
    );
    let sealed = r.check(
        json!({"op": "seal", "write_cap": hex::encode(write_cap), "index": index_hex, "ctx": hex::encode(&ctx), "plaintext": hex::encode(&plaintext)}),
        || {
            let s = wc.seal(&index, &ctx, &plaintext);
            ok(json!({
                "box_id": hex::encode(s.box_id.as_bytes()),
                "ciphertext": hex::encode(&s.payload),
                "signature": hex::encode(s.signature.as_bytes()),
            }))
        },
    );
    let b = RawBox {
        id: arr(&hex_field(&sealed["ok"], "box_id")),
        signature: arr(&hex_field(&sealed["ok"], "signature")),
        payload: hex_field(&sealed["ok"], "ciphertext"),
    };
    let place = Place {
        root_public,
        index: arr(&index_bytes),
        ctx,
    };
    r.check(place.open_request(&b), || place.ours_open(&b));
}

// ---------------------------------------------------------------------------------------------
// The tests.

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let parsed = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={v}: not a number ({e})")))
}

#[test]
fn random_cases_agree_with_hpqc() {
    let test = "differential";
    let Some(bin) = oracle_or_skip(test) else {
        return;
    };
    let cases = env_u64("BACAP_DIFF_CASES").unwrap_or(DEFAULT_CASES);
    let seed = env_u64("BACAP_DIFF_SEED").unwrap_or_else(|| OsRng.next_u64());
    let mut oracle = Oracle::start(&bin);
    oracle.send(&json!({"op": "hello"}));
    let hello = oracle.recv();
    let hpqc = format!(
        "{} (commit {})",
        hello["ok"]["hpqc"].as_str().unwrap_or("?"),
        hello["ok"]["commit"].as_str().unwrap_or("?")
    );
    say(&format!(
        "{test}: {cases} random cases against hpqc {hpqc}, seed {seed:#018x} \
         (BACAP_DIFF_SEED and BACAP_DIFF_CASES to change)"
    ));
    let start = Instant::now();
    let mut runner = Runner {
        oracle,
        hpqc: hpqc.clone(),
        seed,
        case: 0,
        vector_text: None,
    };
    for case in 0..cases {
        runner.case = case;
        // Each case has its own stream, so a case does not depend on those before it.
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream(case);
        run_case(&mut runner, &mut rng);
    }
    let requests = runner.oracle.requests;
    assert!(requests >= 2 * cases, "every case asks hpqc at least twice");
    say(&format!(
        "{test}: {cases} cases agree with hpqc {hpqc} ({requests} requests, seed {seed:#018x}, {:.1} s)",
        start.elapsed().as_secs_f64()
    ));
}

#[test]
fn committed_vectors_equal_a_fresh_regeneration() {
    let test = "differential regen";
    let Some(bin) = oracle_or_skip(test) else {
        return;
    };
    let path = repo_root().join("testvectors/data/bacap-hpqc.json");
    let committed = std::fs::read(&path).expect("read bacap-hpqc.json");
    let out = Command::new(&bin)
        .arg("regen")
        .arg(&path)
        .output()
        .expect("run hpqc-oracle regen");
    assert!(
        out.status.success(),
        "hpqc-oracle regen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout != committed {
        let fresh = String::from_utf8_lossy(&out.stdout);
        let old = String::from_utf8_lossy(&committed);
        let line = fresh
            .lines()
            .zip(old.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| fresh.lines().count().min(old.lines().count()));
        panic!(
            "testvectors/data/bacap-hpqc.json differs from hpqc's regeneration at line {}:\n  \
             committed:   {}\n  regenerated: {}\nrun scripts/regen-hpqc-vectors and review the diff",
            line + 1,
            old.lines().nth(line).unwrap_or("(end of file)"),
            fresh.lines().nth(line).unwrap_or("(end of file)"),
        );
    }
    let cases = serde_json::from_slice::<Value>(&committed).expect("JSON")["cases"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(cases > 0, "the vector file has cases");
    say(&format!(
        "{test}: testvectors/data/bacap-hpqc.json ({cases} cases, {} bytes) equals hpqc's regeneration byte for byte",
        committed.len()
    ));
}

/// The failure report lays out hpqc's case as the committed vector file is laid out.
#[test]
fn vector_layout_matches_the_committed_file() {
    let path = repo_root().join("testvectors/data/bacap-hpqc.json");
    let committed = std::fs::read_to_string(&path).expect("read bacap-hpqc.json");
    // indent_json ignores the layout it is given (whitespace outside strings).
    assert_eq!(indent_json(&committed) + "\n", committed);
    let one_line: String = committed.lines().map(str::trim_start).collect();
    assert!(!one_line.contains('\n'));
    assert_eq!(indent_json(&one_line) + "\n", committed);
}
