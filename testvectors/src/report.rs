//! The outcome of checking a vector file.

use core::fmt;

/// One field that did not reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The case's name.
    pub case: String,
    /// Where in the case, for example `steps[3]` or `caps`.
    pub step: String,
    /// The field, as named in the file.
    pub field: String,
    /// What the file says (hex or text).
    pub expected: String,
    /// What this implementation computed, or why it could not.
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "case {:?}, {}, field {}: expected {}, got {}",
            self.case, self.step, self.field, self.expected, self.got
        )
    }
}

/// The result of checking a file: how many vectors there were and every mismatch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Vectors checked.
    pub total: usize,
    /// Vectors whose every field reproduced.
    pub reproduced: usize,
    /// Every field that did not.
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    /// Whether every vector reproduced.
    pub fn is_success(&self) -> bool {
        self.total > 0 && self.reproduced == self.total && self.mismatches.is_empty()
    }

    /// Records one vector: reproduced when `mismatches` is empty.
    pub(crate) fn record(&mut self, mismatches: Vec<Mismatch>) {
        self.total += 1;
        if mismatches.is_empty() {
            self.reproduced += 1;
        }
        self.mismatches.extend(mismatches);
    }
}

/// Collects the mismatches of one vector.
pub(crate) struct Check<'a> {
    pub(crate) case: &'a str,
    pub(crate) step: String,
    pub(crate) mismatches: Vec<Mismatch>,
}

impl<'a> Check<'a> {
    pub(crate) fn new(case: &'a str, step: impl Into<String>) -> Self {
        Self {
            case,
            step: step.into(),
            mismatches: Vec::new(),
        }
    }

    pub(crate) fn fail(
        &mut self,
        field: &str,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) {
        self.mismatches.push(Mismatch {
            case: self.case.to_string(),
            step: self.step.clone(),
            field: field.to_string(),
            expected: expected.into(),
            got: got.into(),
        });
    }

    pub(crate) fn hex(&mut self, field: &str, value: &str) -> Option<Vec<u8>> {
        match hex::decode(value) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.fail(field, "a hex string", format!("invalid hex ({e})"));
                None
            }
        }
    }

    pub(crate) fn bytes(&mut self, field: &str, expected: &[u8], got: &[u8]) {
        if expected != got {
            self.fail(field, hex::encode(expected), hex::encode(got));
        }
    }

    pub(crate) fn counter(&mut self, field: &str, expected: u64, got: u64) {
        if expected != got {
            self.fail(field, expected.to_string(), got.to_string());
        }
    }
}
