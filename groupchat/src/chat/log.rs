//! What a change leaves besides state: history entries under the profile-wide sequence number,
//! received files to write, and events for the user.

use std::path::PathBuf;

use crate::channel::GroupId;
use crate::events::{Event, HistoryEntry};
use crate::keys;
use crate::records::{Content, HistoryRecord, RECORD_VERSION};
use crate::roster::MemberId;

/// A received file the client writes (owner-only) before it commits the change that records it.
#[derive(Clone, PartialEq, Eq)]
pub struct FileToSave {
    /// Where it goes (named after its history entry, so a replay rewrites the same file).
    pub path: PathBuf,
    /// Its bytes.
    pub payload: Vec<u8>,
}

impl core::fmt::Debug for FileToSave {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileToSave")
            .field("path", &self.path)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// The history, files and events of changes not yet taken by the client.
#[derive(Debug, Default)]
pub(crate) struct Log {
    next_seq: u64,
    now_ms: u64,
    pub(crate) entries: Vec<(Vec<u8>, HistoryRecord)>,
    pub(crate) files: Vec<FileToSave>,
    pub(crate) events: Vec<Event>,
}

impl Log {
    /// A log continuing the sequence at `next_seq`.
    pub(crate) fn new(next_seq: u64) -> Self {
        Self {
            next_seq,
            ..Self::default()
        }
    }

    /// The next sequence number to hand out.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The time entries carry now (Unix milliseconds).
    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Sets the time (Unix milliseconds) entries made from now on carry.
    pub(crate) fn set_now(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// Hands out the next sequence number.
    pub(crate) fn alloc_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Records a group history entry at a fresh sequence number.
    pub(crate) fn group_entry(
        &mut self,
        group: GroupId,
        sender: MemberId,
        sender_name: String,
        own: bool,
        content: Content,
    ) -> HistoryEntry {
        let seq = self.alloc_seq();
        self.group_entry_at(group, seq, sender, sender_name, own, content)
    }

    /// Records a group history entry at `seq` (handed out by [`Log::alloc_seq`]).
    pub(crate) fn group_entry_at(
        &mut self,
        group: GroupId,
        seq: u64,
        sender: MemberId,
        sender_name: String,
        own: bool,
        content: Content,
    ) -> HistoryEntry {
        let rec = self.record(seq, sender.0.to_vec(), sender_name, own, content);
        self.entries
            .push((keys::group_history(&group.0, seq), rec.clone()));
        rec.into()
    }

    /// Records a channel history entry at a fresh sequence number.
    pub(crate) fn channel_entry(
        &mut self,
        label: &str,
        own: bool,
        content: Content,
    ) -> HistoryEntry {
        let seq = self.alloc_seq();
        let name = if own { "me".into() } else { label.to_owned() };
        let rec = self.record(seq, Vec::new(), name, own, content);
        self.entries
            .push((keys::channel_history(label, seq), rec.clone()));
        rec.into()
    }

    fn record(
        &self,
        seq: u64,
        sender: Vec<u8>,
        sender_name: String,
        own: bool,
        content: Content,
    ) -> HistoryRecord {
        HistoryRecord {
            v: RECORD_VERSION,
            seq,
            sender,
            sender_name,
            own,
            time_ms: self.now_ms,
            content,
        }
    }

    /// Something for the user to see.
    pub(crate) fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// A peer sent something unusable (or a stream is stuck).
    pub(crate) fn problem(&mut self, source: impl Into<String>, error: impl Into<String>) {
        self.events.push(Event::Problem {
            source: source.into(),
            error: error.into(),
        });
    }
}
