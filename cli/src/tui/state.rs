//! What the chat screen saves in the profile between runs: the open conversation and the
//! newest entry read in each (`chat-screen.json`, private like the rest of the profile).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::ConvKey;

/// The saved file's name inside the profile directory.
pub const FILE: &str = "chat-screen.json";

/// The saved state.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The open conversation.
    pub selected: Option<ConvKey>,
    /// The newest entry read, per conversation.
    pub seen: BTreeMap<ConvKey, u64>,
}

#[derive(Serialize, Deserialize, Default)]
struct OnDisk {
    selected: Option<String>,
    seen: BTreeMap<String, u64>,
}

/// The saved state of the profile in `dir`; a missing or damaged file is a fresh start.
pub fn load(dir: &Path) -> Saved {
    let Ok(bytes) = std::fs::read(dir.join(FILE)) else {
        return Saved::default();
    };
    let Ok(d) = serde_json::from_slice::<OnDisk>(&bytes) else {
        return Saved::default();
    };
    Saved {
        selected: d.selected.as_deref().and_then(ConvKey::from_text),
        seen: d
            .seen
            .iter()
            .filter_map(|(k, v)| Some((ConvKey::from_text(k)?, *v)))
            .collect(),
    }
}

/// Saves `s` for the profile in `dir` (best effort: the screen's state is a convenience).
pub fn save(dir: &Path, s: &Saved) {
    let d = OnDisk {
        selected: s.selected.as_ref().map(ConvKey::to_text),
        seen: s.seen.iter().map(|(k, v)| (k.to_text(), *v)).collect(),
    };
    if let Ok(bytes) = serde_json::to_vec(&d) {
        let tmp = dir.join(format!("{FILE}.tmp"));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(tmp, dir.join(FILE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupchat::channel::GroupId;

    #[test]
    fn the_saved_state_round_trips_and_a_damaged_file_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let s = Saved {
            selected: Some(ConvKey::Group(GroupId([7; 32]))),
            seen: [
                (ConvKey::Group(GroupId([7; 32])), 12),
                (ConvKey::Channel("bob".into()), 3),
            ]
            .into(),
        };
        save(dir.path(), &s);
        assert_eq!(load(dir.path()), s);
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert_eq!(load(dir.path()), Saved::default());
    }
}
