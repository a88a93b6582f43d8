//! The client: one profile directory, its RocksDB state, and the operations the CLI calls.
//!
//! # Crash safety
//!
//! Every network operation is persisted before it runs: the prepared [`Outgoing`] or
//! [`AllOrNothingPlan`] goes to `pending/<seq>` (with any local state the operation needs, such
//! as the WriteCap an invitee signs with) in one WriteBatch; then it runs; then one WriteBatch
//! deletes the pending record, stores the advanced writer(s) and records what the operation
//! means locally (our message in history, an approved member). Writers never advance before the
//! store acknowledged. Sealing is deterministic and plans resume, so after a kill the client
//! runs the persisted operation again ([`Client::resume_pending`], called first by every
//! network operation) and the message lands exactly once. One operation is pending at a time.
//!
//! Polling applies a whole round in memory (reader states moved, messages decoded, members
//! added) and commits it in one WriteBatch: reader states advance together with the history
//! entries of what they read, so a kill loses nothing and records nothing twice. A received
//! file is written before the batch, under a name fixed by its sequence number, so a replay
//! rewrites the same file.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bacap::store::BoxStore;
use bacap::stream::{
    AllOrNothingPlan, CopyOptions, Limits, Outgoing, Polled, StreamError, StreamReader,
};
use bacap::{Geometry, ReadCap, StatefulWriter, WriteCap, READ_CAP_LEN};
use rand_core::{OsRng, RngCore};
use rocksdb::WriteBatch;
use zeroize::Zeroizing;

use crate::channel::{
    ChannelMessage, ChannelToken, GroupId, Invitation, PleaseReviseDisplayName, SignedPleaseAdd,
    Welcome, MAX_GROUP_NAME_CHARS,
};
use crate::display_name::{check_label, DisplayName};
use crate::error::ClientError;
use crate::files;
use crate::group::{group_ctx, Group, MemberId, MemberInfo};
use crate::membership::MembershipHash;
use crate::messages::{Body, FileType, FileUpload, GroupChatMessage, PleaseAdd, ReplyWho};
use crate::records::{
    self, check_version, ChannelRecord, Completion, Content, GroupRecord, HistoryRecord,
    InvitationInRecord, InvitationOutRecord, PendingRecord, ProfileRecord, TargetRecord,
    RECORD_VERSION,
};
use crate::storage::{keys, Storage};

mod channels;
mod events;
mod groups;
mod join;
mod pending;
mod receive;

pub use events::{Event, GroupInfo, HistoryEntry, InvitationInfo, JoinRequestInfo};

/// The BACAP context of channel streams.
pub const CHANNEL_CTX: &[u8] = b"bacap-chat/channel/v1";
/// The longest channel label.
pub const MAX_LABEL_CHARS: usize = 32;

const KIND_OUTGOING: u8 = 1;
const KIND_PLAN: u8 = 2;

/// How a client sizes and limits what it sends and accepts.
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig {
    /// The store's box geometry.
    pub geometry: Geometry,
    /// Limits on messages read and sent (see [`ClientConfig::effective_limits`]).
    pub limits: Limits,
    /// The largest file sent or accepted.
    pub max_file_len: usize,
    /// How hard to wait for copy commands.
    pub copy_options: CopyOptions,
    /// After how many polls a stream stuck at the same box (a box that fails verification, a
    /// pointer to a substream that does not exist) is moved past, so a member sending such
    /// things cannot wedge our reading of their stream.
    pub stuck_polls_before_skip: u32,
    /// And for at least this long (so a chain whose boxes a slow courier is still storing is
    /// not skipped by a burst of polls).
    pub stuck_time_before_skip: std::time::Duration,
}

impl ClientConfig {
    /// The limits applied to every stream read and every message sent: [`ClientConfig::limits`]
    /// with the message size bounded by the file cap plus 64 KiB for the rest of a message, so
    /// a peer cannot make us download more than a file we would keep.
    pub fn effective_limits(&self) -> Limits {
        let max = self
            .limits
            .max_message_len
            .min(self.max_file_len.saturating_add(64 << 10));
        let slice = self.geometry.box_plaintext_len.saturating_sub(1).max(1);
        Limits {
            max_message_len: max,
            max_chain_boxes: self.limits.max_chain_boxes.min(max.div_ceil(slice) + 1),
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            geometry: Geometry::KATZENPOST,
            limits: Limits::default(),
            max_file_len: files::DEFAULT_MAX_FILE_LEN,
            copy_options: CopyOptions::default(),
            stuck_polls_before_skip: 5,
            stuck_time_before_skip: std::time::Duration::from_secs(60),
        }
    }
}

struct ChannelState {
    writer: StatefulWriter,
    reader: Option<StreamReader>,
}

/// Records changed in memory, to commit in one WriteBatch.
#[derive(Default)]
struct Dirty {
    groups: BTreeSet<GroupId>,
    channels: BTreeSet<String>,
    inv_in: BTreeSet<GroupId>,
    inv_out: BTreeSet<(GroupId, String)>,
    history: Vec<(Vec<u8>, HistoryRecord)>,
    puts: Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    deletes: Vec<Vec<u8>>,
}

enum Slot {
    Member(GroupId, [u8; READ_CAP_LEN]),
    Channel(String),
}

/// A profile's client.
pub struct Client {
    dir: PathBuf,
    db: Storage,
    store: Arc<dyn BoxStore>,
    config: ClientConfig,
    groups: BTreeMap<GroupId, Group>,
    channels: BTreeMap<String, ChannelState>,
    inv_in: BTreeMap<GroupId, InvitationInRecord>,
    inv_out: BTreeMap<(GroupId, String), InvitationOutRecord>,
    next_seq: u64,
    /// Per stream (by source name): how many polls it has been stuck, and since when. In
    /// memory only.
    stuck: HashMap<String, (u32, std::time::Instant)>,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("dir", &self.dir)
            .field("groups", &self.groups.len())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn check_channel_label(label: &str) -> Result<(), ClientError> {
    let ok = !label.is_empty()
        && label.chars().count() <= MAX_LABEL_CHARS
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ClientError::InvalidArgument(format!(
            "channel label {label:?}: 1 to {MAX_LABEL_CHARS} of A-Z a-z 0-9 - _ ."
        )))
    }
}

fn group_id_from(bytes: &[u8]) -> Result<GroupId, ClientError> {
    Ok(GroupId(bytes.try_into().map_err(|_| {
        ClientError::Corrupt("group ID is not 32 bytes".into())
    })?))
}

/// Whether retrying the same operation can never succeed.
fn permanent(e: &StreamError) -> bool {
    !matches!(e, StreamError::Store(_) | StreamError::CopyInProgress)
}

impl Client {
    /// Opens the profile in `profile_dir` (created, owner-only, if missing), talking to `store`
    /// with default settings. Pending operations resume on the first network operation.
    pub fn open(profile_dir: &Path, store: Arc<dyn BoxStore>) -> Result<Self, ClientError> {
        Self::open_with(profile_dir, store, ClientConfig::default())
    }

    /// Opens the profile with `config`.
    pub fn open_with(
        profile_dir: &Path,
        store: Arc<dyn BoxStore>,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let db = Storage::open(profile_dir)?;
        if db.get(keys::PROFILE)?.is_none() {
            let mut wb = WriteBatch::default();
            let rec = ProfileRecord {
                v: RECORD_VERSION,
                created_ms: now_ms(),
            };
            wb.put(keys::PROFILE, records::encode(&rec).as_slice());
            db.write(wb)?;
        }
        let mut client = Self {
            dir: profile_dir.to_path_buf(),
            db,
            store,
            config,
            groups: BTreeMap::new(),
            channels: BTreeMap::new(),
            inv_in: BTreeMap::new(),
            inv_out: BTreeMap::new(),
            next_seq: 0,
            stuck: HashMap::new(),
        };
        client.load()?;
        Ok(client)
    }

    /// Loads the whole state from the database (on open, and after a failed operation left the
    /// memory ahead of what was stored).
    fn load(&mut self) -> Result<(), ClientError> {
        let (db, config) = (&self.db, self.config);
        let next_seq = match db.get(keys::SEQ)? {
            None => 0,
            Some(b) => u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| ClientError::Corrupt("sequence counter".into()))?,
            ),
        };
        let mut groups = BTreeMap::new();
        for (_, v) in db.scan(keys::GROUP)? {
            let v = Zeroizing::new(v);
            let rec: GroupRecord = records::decode("group", &v)?;
            let g = Group::from_record(&rec, config.effective_limits())?;
            groups.insert(g.id, g);
        }
        let mut channels = BTreeMap::new();
        for (_, v) in db.scan(keys::CHANNEL)? {
            let v = Zeroizing::new(v);
            let rec: ChannelRecord = records::decode("channel", &v)?;
            check_version("channel", rec.v)?;
            let reader = if rec.reader.is_empty() {
                None
            } else {
                Some(StreamReader::from_bytes(&rec.reader)?.with_limits(config.effective_limits()))
            };
            channels.insert(
                rec.label.clone(),
                ChannelState {
                    writer: StatefulWriter::from_bytes(&rec.writer)?,
                    reader,
                },
            );
        }
        let mut inv_in = BTreeMap::new();
        for (_, v) in db.scan(keys::INVITATION_IN)? {
            let v = Zeroizing::new(v);
            let rec: InvitationInRecord = records::decode("invitation", &v)?;
            check_version("invitation", rec.v)?;
            inv_in.insert(group_id_from(&rec.group_id)?, rec);
        }
        let mut inv_out = BTreeMap::new();
        for (_, v) in db.scan(keys::INVITATION_OUT)? {
            let rec: InvitationOutRecord = records::decode("invitation", &v)?;
            check_version("invitation", rec.v)?;
            inv_out.insert((group_id_from(&rec.group_id)?, rec.channel.clone()), rec);
        }
        self.groups = groups;
        self.channels = channels;
        self.inv_in = inv_in;
        self.inv_out = inv_out;
        self.next_seq = next_seq;
        Ok(())
    }

    /// The profile directory.
    pub fn profile_dir(&self) -> &Path {
        &self.dir
    }

    // ---------------------------------------------------------------- state, persistence

    fn alloc_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Writes the records `d` names in one WriteBatch. If that fails, the memory is reloaded
    /// from the database, so it never runs ahead of what is stored.
    fn commit(&mut self, d: Dirty) -> Result<(), ClientError> {
        let result = self.commit_inner(d);
        if result.is_err() {
            let _ = self.load();
        }
        result
    }

    fn commit_inner(&mut self, d: Dirty) -> Result<(), ClientError> {
        let mut wb = WriteBatch::default();
        for id in &d.groups {
            let key = keys::group(&id.0);
            match self.groups.get(id) {
                Some(g) => wb.put(key, records::encode(&g.to_record()).as_slice()),
                None => wb.delete(key),
            }
        }
        for label in &d.channels {
            let key = keys::channel(label);
            match self.channels.get(label) {
                Some(c) => {
                    let rec = ChannelRecord {
                        v: RECORD_VERSION,
                        label: label.clone(),
                        writer: c.writer.to_bytes().to_vec(),
                        reader: c
                            .reader
                            .as_ref()
                            .map(|r| r.to_bytes().to_vec())
                            .unwrap_or_default(),
                    };
                    wb.put(key, records::encode(&rec).as_slice());
                }
                None => wb.delete(key),
            }
        }
        for id in &d.inv_in {
            let key = keys::invitation_in(&id.0);
            match self.inv_in.get(id) {
                Some(r) => wb.put(key, records::encode(r).as_slice()),
                None => wb.delete(key),
            }
        }
        for k in &d.inv_out {
            let key = keys::invitation_out(&k.0 .0, &k.1);
            match self.inv_out.get(k) {
                Some(r) => wb.put(key, records::encode(r).as_slice()),
                None => wb.delete(key),
            }
        }
        for (k, h) in &d.history {
            wb.put(k, records::encode(h).as_slice());
        }
        for (k, v) in &d.puts {
            wb.put(k, v.as_slice());
        }
        for k in &d.deletes {
            wb.delete(k);
        }
        wb.put(keys::SEQ, self.next_seq.to_be_bytes());
        self.db.write(wb)
    }

    fn group(&self, id: &GroupId) -> Result<&Group, ClientError> {
        self.groups
            .get(id)
            .ok_or_else(|| ClientError::NotFound(format!("group {id:?}")))
    }

    fn channel(&self, label: &str) -> Result<&ChannelState, ClientError> {
        self.channels
            .get(label)
            .ok_or_else(|| ClientError::NotFound(format!("channel {label:?}")))
    }

    fn open_channel(&self, label: &str) -> Result<&ChannelState, ClientError> {
        let c = self.channel(label)?;
        if c.reader.is_none() {
            return Err(ClientError::InvalidState(format!(
                "channel {label:?} waits for the peer's token"
            )));
        }
        Ok(c)
    }

    fn group_entry(
        &mut self,
        d: &mut Dirty,
        group: GroupId,
        sender: MemberId,
        sender_name: String,
        own: bool,
        content: Content,
    ) -> HistoryEntry {
        let seq = self.alloc_seq();
        self.group_entry_at(d, group, seq, sender, sender_name, own, content)
    }

    #[allow(clippy::too_many_arguments)]
    fn group_entry_at(
        &mut self,
        d: &mut Dirty,
        group: GroupId,
        seq: u64,
        sender: MemberId,
        sender_name: String,
        own: bool,
        content: Content,
    ) -> HistoryEntry {
        let rec = HistoryRecord {
            v: RECORD_VERSION,
            seq,
            sender: sender.0.to_vec(),
            sender_name,
            own,
            time_ms: now_ms(),
            content,
        };
        d.history
            .push((keys::group_history(&group.0, seq), rec.clone()));
        rec.into()
    }

    fn channel_entry(
        &mut self,
        d: &mut Dirty,
        label: &str,
        own: bool,
        content: Content,
    ) -> HistoryEntry {
        let seq = self.alloc_seq();
        let rec = HistoryRecord {
            v: RECORD_VERSION,
            seq,
            sender: Vec::new(),
            sender_name: if own { "me".into() } else { label.to_owned() },
            own,
            time_ms: now_ms(),
            content,
        };
        d.history
            .push((keys::channel_history(label, seq), rec.clone()));
        rec.into()
    }
}
