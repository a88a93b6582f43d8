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
