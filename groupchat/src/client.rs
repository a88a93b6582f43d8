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
    /// Limits on messages read and sent.
    pub limits: Limits,
    /// The largest file sent or accepted.
    pub max_file_len: usize,
    /// How hard to wait for copy commands.
    pub copy_options: CopyOptions,
    /// After how many polls a stream stuck at the same box (a box that fails verification, a
    /// pointer to a substream that does not exist) is moved past, so a member sending such
    /// things cannot wedge our reading of their stream.
    pub stuck_polls_before_skip: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            geometry: Geometry::KATZENPOST,
            limits: Limits::default(),
            max_file_len: files::DEFAULT_MAX_FILE_LEN,
            copy_options: CopyOptions::default(),
            stuck_polls_before_skip: 5,
        }
    }
}

/// A history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Profile-wide arrival order.
    pub seq: u64,
    /// The sender (`None` on a channel).
    pub sender: Option<MemberId>,
    /// The sender's display name (on a channel: the label, or ours).
    pub sender_name: String,
    /// Whether we sent it.
    pub own: bool,
    /// Local time of receipt or sending, Unix milliseconds.
    pub time_ms: u64,
    /// What it holds.
    pub content: Content,
}

impl From<HistoryRecord> for HistoryEntry {
    fn from(r: HistoryRecord) -> Self {
        Self {
            seq: r.seq,
            sender: MemberId::from_slice(&r.sender),
            sender_name: r.sender_name,
            own: r.own,
            time_ms: r.time_ms,
            content: r.content,
        }
    }
}

/// Something a poll found, for the user to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A group message was recorded in history.
    GroupMessage {
        /// Group.
        group: GroupId,
        /// The entry.
        entry: HistoryEntry,
    },
    /// A member joined our view of a group.
    MemberAdded {
        /// Group.
        group: GroupId,
        /// The new member.
        member: MemberId,
        /// Their display name.
        name: String,
        /// Who vouched for them.
        by: Option<MemberId>,
    },
    /// A sender's membership hash differs from ours (after applying their message). Transient
    /// while introductions propagate; if it persists, ask [`Client::who`].
    MembershipMismatch {
        /// Group.
        group: GroupId,
        /// The sender.
        sender: MemberId,
        /// Their hash.
        theirs: MembershipHash,
        /// Ours.
        ours: MembershipHash,
    },
    /// A member asked WHO; we answer after the poll.
    WhoAsked {
        /// Group.
        group: GroupId,
        /// Who asked.
        by: MemberId,
    },
    /// A member's WHOREPLY lists members we do not have (added) or lacks some we have.
    WhoReplyDiffers {
        /// Group.
        group: GroupId,
        /// The replying member.
        by: MemberId,
        /// Members we have that they did not list.
        missing_there: Vec<MemberId>,
    },
    /// An invitation arrived.
    Invited {
        /// The channel.
        channel: String,
        /// Group.
        group: GroupId,
        /// Group name.
        group_name: String,
    },
    /// An invitee asked to be added (answer with [`Client::approve`] or [`Client::ask_revise`]).
    JoinRequest {
        /// The channel.
        channel: String,
        /// Group.
        group: GroupId,
        /// The name they asked for.
        display_name: String,
        /// Whether a current member already has that name.
        name_taken: bool,
    },
    /// The introducer asked us for another display name.
    ReviseRequested {
        /// The channel.
        channel: String,
        /// Group.
        group: GroupId,
        /// Why.
        reason: String,
    },
    /// We joined a group.
    Joined {
        /// Group.
        group: GroupId,
        /// Its name.
        group_name: String,
    },
    /// A private text on a channel.
    ChannelText {
        /// The channel.
        channel: String,
        /// The entry.
        entry: HistoryEntry,
    },
    /// A peer sent something unusable (or a stream is stuck); it was reported and skipped.
    Problem {
        /// Where: `group <id> member <id>` or `channel <label>`.
        source: String,
        /// What.
        error: String,
    },
}

/// A group as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// ID.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Members, us included.
    pub members: Vec<MemberInfo>,
    /// Our membership hash.
    pub membership_hash: MembershipHash,
}

/// An invitation we received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationInfo {
    /// Group.
    pub group: GroupId,
    /// Group name.
    pub group_name: String,
    /// The channel it came over.
    pub channel: String,
    /// The name we answered with, if we answered.
    pub answered_as: Option<String>,
    /// The introducer's request to revise, if any.
    pub revise_reason: Option<String>,
}

/// A request to join that we can approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequestInfo {
    /// Group.
    pub group: GroupId,
    /// The channel.
    pub channel: String,
    /// The name asked for, or `None` while we wait for the invitee's answer.
    pub display_name: Option<String>,
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
    /// Per stream (by source name): how many polls it has been stuck. In memory only.
    stuck: HashMap<String, u32>,
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
            let g = Group::from_record(&rec, config.limits)?;
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
                Some(StreamReader::from_bytes(&rec.reader)?.with_limits(config.limits))
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
        Ok(Self {
            dir: profile_dir.to_path_buf(),
            db,
            store,
            config,
            groups,
            channels,
            inv_in,
            inv_out,
            next_seq,
            stuck: HashMap::new(),
        })
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

    fn commit(&mut self, d: Dirty) -> Result<(), ClientError> {
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

    // ---------------------------------------------------------------- pending operations

    fn writer_mut(&mut self, t: &TargetRecord) -> Result<&mut StatefulWriter, ClientError> {
        match t {
            TargetRecord::Group(id) => {
                let id = group_id_from(id)?;
                self.groups
                    .get_mut(&id)
                    .map(|g| &mut g.writer)
                    .ok_or_else(|| ClientError::NotFound(format!("group {id:?}")))
            }
            TargetRecord::Channel(l) => self
                .channels
                .get_mut(l)
                .map(|c| &mut c.writer)
                .ok_or_else(|| ClientError::NotFound(format!("channel {l:?}"))),
        }
    }

    /// Persists an operation (with the records in `pre`), then runs it.
    async fn submit(
        &mut self,
        kind: u8,
        op: Zeroizing<Vec<u8>>,
        targets: Vec<TargetRecord>,
        completion: Completion,
        mut pre: Dirty,
    ) -> Result<(), ClientError> {
        let seq = self.alloc_seq();
        let rec = PendingRecord {
            v: RECORD_VERSION,
            kind,
            op: op.to_vec(),
            targets,
            completion,
        };
        pre.puts.push((keys::pending(seq), records::encode(&rec)));
        self.commit(pre)?;
        self.run_pending(seq, rec).await
    }

    /// Runs every persisted operation that has not completed (after a kill, or after a store
    /// failure), in order. Every network operation calls it first.
    pub async fn resume_pending(&mut self) -> Result<(), ClientError> {
        for (k, v) in self.db.scan(keys::PENDING)? {
            let v = Zeroizing::new(v);
            let seq = u64::from_be_bytes(
                k[keys::PENDING.len()..]
                    .try_into()
                    .map_err(|_| ClientError::Corrupt("pending key".into()))?,
            );
            let rec: PendingRecord = records::decode("pending operation", &v)?;
            check_version("pending operation", rec.v)?;
            self.run_pending(seq, rec).await?;
        }
        Ok(())
    }

    /// How many operations wait to be resumed.
    pub fn pending_count(&self) -> Result<usize, ClientError> {
        Ok(self.db.scan(keys::PENDING)?.len())
    }

    async fn run_pending(&mut self, seq: u64, rec: PendingRecord) -> Result<(), ClientError> {
        let g = self.config.geometry;
        let result: Result<Vec<StatefulWriter>, StreamError> = match rec.kind {
            KIND_OUTGOING => {
                let out = Outgoing::from_bytes(&rec.op, g)?;
                self.check_before(&rec.targets, std::slice::from_ref(out.writer_before()))?;
                out.execute(&*self.store, self.config.copy_options)
                    .await
                    .map(|w| vec![w])
            }
            KIND_PLAN => {
                let plan = AllOrNothingPlan::from_bytes(&rec.op)?;
                let before: Vec<StatefulWriter> = plan.destinations().cloned().collect();
                self.check_before(&rec.targets, &before)?;
                plan.execute(&*self.store, self.config.copy_options).await
            }
            k => return Err(ClientError::Corrupt(format!("pending kind {k}"))),
        };
        let mut d = Dirty::default();
        d.deletes.push(keys::pending(seq));
        match result {
            Ok(writers) => {
                for (t, w) in rec.targets.iter().zip(writers) {
                    *self.writer_mut(t)? = w;
                    match t {
                        TargetRecord::Group(id) => d.groups.insert(group_id_from(id)?),
                        TargetRecord::Channel(l) => d.channels.insert(l.clone()),
                    };
                }
                self.complete(&rec.completion, &mut d)?;
                self.commit(d)
            }
            Err(e) if permanent(&e) => {
                // No retry can land it: drop it so it does not block the profile.
                self.commit(d)?;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn check_before(
        &mut self,
        targets: &[TargetRecord],
        before: &[StatefulWriter],
    ) -> Result<(), ClientError> {
        if targets.len() != before.len() {
            return Err(ClientError::Corrupt("pending operation targets".into()));
        }
        for (t, b) in targets.iter().zip(before) {
            if self.writer_mut(t)? != b {
                return Err(ClientError::Corrupt(
                    "pending operation prepared for another writer state".into(),
                ));
            }
        }
        Ok(())
    }

    fn complete(&mut self, c: &Completion, d: &mut Dirty) -> Result<(), ClientError> {
        match c {
            Completion::Nothing => {}
            Completion::GroupPosted { group, content } => {
                let id = group_id_from(group)?;
                let g = self.group(&id)?;
                let (me, name) = (g.my_id(), g.my_name());
                self.group_entry(d, id, me, name, true, content.clone());
            }
            Completion::ChannelPosted { label, content } => {
                self.channel_entry(d, label, true, content.clone());
            }
            Completion::Approved {
                group,
                label,
                please_add,
            } => {
                let id = group_id_from(group)?;
                let pa = PleaseAdd::from_cbor(please_add)?;
                let limits = self.config.limits;
                let g = self
                    .groups
                    .get_mut(&id)
                    .ok_or_else(|| ClientError::NotFound("group".into()))?;
                let (me, my_name) = (g.my_id(), g.my_name());
                let member = MemberId::of(pa.read_cap.as_bytes());
                let name = pa.display_name.to_string();
                g.add_member(pa, Some(me), limits)?;
                d.groups.insert(id);
                self.inv_out.remove(&(id, label.clone()));
                d.inv_out.insert((id, label.clone()));
                self.group_entry(
                    d,
                    id,
                    me,
                    my_name,
                    true,
                    Content::Introduced {
                        name,
                        member: member.0.to_vec(),
                    },
                );
            }
            Completion::WhoReplied { group } => {
                let id = group_id_from(group)?;
                if let Some(g) = self.groups.get_mut(&id) {
                    g.owe_who_reply = false;
                    d.groups.insert(id);
                }
            }
        }
        Ok(())
    }

    async fn send_group(
        &mut self,
        id: GroupId,
        body: Body,
        completion: Completion,
    ) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let g = self.group(&id)?;
        let msg = GroupChatMessage::new(g.membership_hash(), body).to_cbor();
        let out = Outgoing::prepare(
            &mut OsRng,
            &g.writer,
            &[&msg],
            self.config.geometry,
            &self.config.limits,
        )?;
        self.submit(
            KIND_OUTGOING,
            out.to_bytes(),
            vec![TargetRecord::Group(id.0.to_vec())],
            completion,
            Dirty::default(),
        )
        .await
    }

    async fn send_channel(
        &mut self,
        label: &str,
        msg: &ChannelMessage,
        completion: Completion,
        pre: Dirty,
    ) -> Result<(), ClientError> {
        let c = self.open_channel(label)?;
        let bytes = Zeroizing::new(msg.to_cbor());
        let out = Outgoing::prepare(
            &mut OsRng,
            &c.writer,
            &[&bytes],
            self.config.geometry,
            &self.config.limits,
        )?;
        self.submit(
            KIND_OUTGOING,
            out.to_bytes(),
            vec![TargetRecord::Channel(label.to_owned())],
            completion,
            pre,
        )
        .await
    }

    // ---------------------------------------------------------------- groups

    /// Creates a group of one (us, shown as `display_name`) and returns its ID.
    pub fn create_group(&mut self, name: &str, display_name: &str) -> Result<GroupId, ClientError> {
        check_label(name, MAX_GROUP_NAME_CHARS)
            .map_err(|e| ClientError::InvalidArgument(format!("group name: {e}")))?;
        let dn = DisplayName::new(display_name)?;
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let id = GroupId(raw);
        let cap = WriteCap::generate(&mut OsRng);
        let me = PleaseAdd::new(dn, &cap.read_cap());
        let writer = StatefulWriter::new(cap, &group_ctx(&id));
        self.groups
            .insert(id, Group::new(id, name.to_owned(), writer, me));
        let mut d = Dirty::default();
        d.groups.insert(id);
        self.commit(d)?;
        Ok(id)
    }

    /// Every group.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.groups
            .values()
            .map(|g| GroupInfo {
                id: g.id,
                name: g.name.clone(),
                members: g.member_infos(),
                membership_hash: g.membership_hash(),
            })
            .collect()
    }

    /// One group.
    pub fn group_info(&self, id: &GroupId) -> Result<GroupInfo, ClientError> {
        let g = self.group(id)?;
        Ok(GroupInfo {
            id: g.id,
            name: g.name.clone(),
            members: g.member_infos(),
            membership_hash: g.membership_hash(),
        })
    }

    /// Posts a text message to a group (long ones through AllOrNothing).
    pub async fn post_text(&mut self, id: &GroupId, text: &str) -> Result<(), ClientError> {
        let content = Content::Text(text.to_owned());
        self.send_group(
            *id,
            Body::Text(text.to_owned()),
            Completion::GroupPosted {
                group: id.0.to_vec(),
                content,
            },
        )
        .await
    }

    /// Sends a file to a group (through AllOrNothing when it needs more than one box).
    pub async fn send_file(
        &mut self,
        id: &GroupId,
        basename: &str,
        filetype: FileType,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        if payload.len() > self.config.max_file_len {
            return Err(ClientError::InvalidArgument(format!(
                "file of {} bytes is over the cap of {}",
                payload.len(),
                self.config.max_file_len
            )));
        }
        let content = Content::File {
            basename: basename.to_owned(),
            filetype: filetype.as_str().to_owned(),
            len: payload.len() as u64,
            path: String::new(),
        };
        self.send_group(
            *id,
            Body::FileUpload(FileUpload {
                payload,
                filetype,
                basename: basename.to_owned(),
            }),
            Completion::GroupPosted {
                group: id.0.to_vec(),
                content,
            },
        )
        .await
    }

    /// Asks the group WHO: every member that reads it answers with a WHOREPLY listing its
    /// members, and members we lack are added from it.
    pub async fn who(&mut self, id: &GroupId) -> Result<(), ClientError> {
        self.send_group(
            *id,
            Body::Who(String::new()),
            Completion::GroupPosted {
                group: id.0.to_vec(),
                content: Content::Who,
            },
        )
        .await
    }

    /// A group's history in arrival order (ours included, at the time we sent).
    pub fn history(&self, id: &GroupId) -> Result<Vec<HistoryEntry>, ClientError> {
        self.group(id)?;
        self.db
            .scan(&keys::group_history_prefix(&id.0))?
            .into_iter()
            .map(|(_, v)| {
                let r: HistoryRecord = records::decode("history", &v)?;
                Ok(r.into())
            })
            .collect()
    }

    /// What one member sent to a group, in their stream's order.
    pub fn history_of(
        &self,
        id: &GroupId,
        member: &MemberId,
    ) -> Result<Vec<HistoryEntry>, ClientError> {
        Ok(self
            .history(id)?
            .into_iter()
            .filter(|e| e.sender.as_ref() == Some(member))
            .collect())
    }

    // ---------------------------------------------------------------- channels

    /// Starts a channel: makes our outgoing stream and returns its token, to copy to the peer.
    /// The peer accepts it with [`Client::accept_channel`] and sends its own token back, which
    /// we accept the same way.
    pub fn make_channel(&mut self, label: &str) -> Result<ChannelToken, ClientError> {
        check_channel_label(label)?;
        if self.channels.contains_key(label) {
            return Err(ClientError::InvalidState(format!(
                "channel {label:?} exists"
            )));
        }
        let cap = WriteCap::generate(&mut OsRng);
        let token = ChannelToken::new(&cap.read_cap());
        self.channels.insert(
            label.to_owned(),
            ChannelState {
                writer: StatefulWriter::new(cap, CHANNEL_CTX),
                reader: None,
            },
        );
        let mut d = Dirty::default();
        d.channels.insert(label.to_owned());
        self.commit(d)?;
        Ok(token)
    }

    /// Accepts the peer's token for channel `label`: makes the channel if we have none of that
    /// name (then give the returned token to the peer), or completes the one we started.
    /// Returns our token either way.
    pub fn accept_channel(
        &mut self,
        label: &str,
        token: &ChannelToken,
    ) -> Result<ChannelToken, ClientError> {
        check_channel_label(label)?;
        if !self.channels.contains_key(label) {
            self.make_channel(label)?;
        }
        let c = self.channels.get_mut(label).expect("just made");
        let theirs = token.read_cap();
        if theirs == c.writer.cap().read_cap() {
            return Err(ClientError::InvalidArgument(
                "that is our own token for this channel".into(),
            ));
        }
        match &c.reader {
            Some(r) if *r.position().cap() == theirs => {}
            Some(_) => {
                return Err(ClientError::InvalidState(format!(
                    "channel {label:?} already has another peer"
                )))
            }
            None => {
                c.reader =
                    Some(StreamReader::new(theirs, CHANNEL_CTX).with_limits(self.config.limits))
            }
        }
        let ours = ChannelToken::new(&c.writer.cap().read_cap());
        let mut d = Dirty::default();
        d.channels.insert(label.to_owned());
        self.commit(d)?;
        Ok(ours)
    }

    /// Our token for channel `label` again. A secret.
    pub fn channel_token(&self, label: &str) -> Result<ChannelToken, ClientError> {
        Ok(ChannelToken::new(
            &self.channel(label)?.writer.cap().read_cap(),
        ))
    }

    /// The channel labels, with whether the peer's token was accepted.
    pub fn channels(&self) -> Vec<(String, bool)> {
        self.channels
            .iter()
            .map(|(l, c)| (l.clone(), c.reader.is_some()))
            .collect()
    }

    /// Sends a private text on a channel.
    pub async fn send_channel_text(&mut self, label: &str, text: &str) -> Result<(), ClientError> {
        self.resume_pending().await?;
        self.send_channel(
            label,
            &ChannelMessage::Text(text.to_owned()),
            Completion::ChannelPosted {
                label: label.to_owned(),
                content: Content::Text(text.to_owned()),
            },
            Dirty::default(),
        )
        .await
    }

    /// A channel's history in arrival order.
    pub fn channel_history(&self, label: &str) -> Result<Vec<HistoryEntry>, ClientError> {
        self.channel(label)?;
        self.db
            .scan(&keys::channel_history_prefix(label))?
            .into_iter()
            .map(|(_, v)| {
                let r: HistoryRecord = records::decode("history", &v)?;
                Ok(r.into())
            })
            .collect()
    }

    // ---------------------------------------------------------------- the join flow

    /// Invites the peer of channel `label` to group `id`.
    pub async fn invite(&mut self, id: &GroupId, label: &str) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let g = self.group(id)?;
        let msg = ChannelMessage::Invitation(Invitation {
            group_id: *id,
            group_name: g.name.clone(),
        });
        self.inv_out.insert(
            (*id, label.to_owned()),
            InvitationOutRecord {
                v: RECORD_VERSION,
                group_id: id.0.to_vec(),
                channel: label.to_owned(),
                request: Vec::new(),
            },
        );
        let mut pre = Dirty::default();
        pre.inv_out.insert((*id, label.to_owned()));
        self.send_channel(label, &msg, Completion::Nothing, pre)
            .await
    }

    /// The invitations we received and have not completed.
    pub fn invitations(&self) -> Vec<InvitationInfo> {
        self.inv_in
            .iter()
            .map(|(id, r)| InvitationInfo {
                group: *id,
                group_name: r.group_name.clone(),
                channel: r.channel.clone(),
                answered_as: (!r.display_name.is_empty()).then(|| r.display_name.clone()),
                revise_reason: (!r.revise_reason.is_empty()).then(|| r.revise_reason.clone()),
            })
            .collect()
    }

    /// Answers an invitation (again, after a request to revise): asks to join as
    /// `display_name`, with a SignedPleaseAdd for our future group stream.
    pub async fn accept_invitation(
        &mut self,
        id: &GroupId,
        display_name: &str,
    ) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let dn = DisplayName::new(display_name)?;
        let inv = self
            .inv_in
            .get_mut(id)
            .ok_or_else(|| ClientError::NotFound(format!("invitation to {id:?}")))?;
        if inv.write_cap.is_empty() {
            inv.write_cap = WriteCap::generate(&mut OsRng).to_bytes().to_vec();
        }
        let cap = WriteCap::from_bytes(&inv.write_cap)?;
        inv.display_name = dn.to_string();
        inv.revise_reason.clear();
        let label = inv.channel.clone();
        let signed = SignedPleaseAdd::sign(*id, &PleaseAdd::new(dn, &cap.read_cap()), &cap);
        let mut pre = Dirty::default();
        pre.inv_in.insert(*id);
        self.send_channel(
            &label,
            &ChannelMessage::SignedPleaseAdd(signed),
            Completion::Nothing,
            pre,
        )
        .await
    }

    /// The invitations we sent, with the invitee's request if it arrived.
    pub fn join_requests(&self) -> Vec<JoinRequestInfo> {
        self.inv_out
            .iter()
            .map(|((id, label), r)| JoinRequestInfo {
                group: *id,
                channel: label.clone(),
                display_name: Self::request_of(r)
                    .ok()
                    .map(|(_, pa)| pa.display_name.to_string()),
            })
            .collect()
    }

    fn request_of(r: &InvitationOutRecord) -> Result<(SignedPleaseAdd, PleaseAdd), ClientError> {
        if r.request.is_empty() {
            return Err(ClientError::InvalidState(
                "the invitee has not answered".into(),
            ));
        }
        match ChannelMessage::from_cbor(&r.request)? {
            ChannelMessage::SignedPleaseAdd(s) => {
                let pa = s.verify()?;
                Ok((s, pa))
            }
            _ => Err(ClientError::Corrupt("stored join request".into())),
        }
    }

    /// Declines the invitee's display name and asks for another.
    pub async fn ask_revise(
        &mut self,
        id: &GroupId,
        label: &str,
        reason: &str,
    ) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let key = (*id, label.to_owned());
        let rec = self
            .inv_out
            .get_mut(&key)
            .ok_or_else(|| ClientError::NotFound("join request".into()))?;
        let (original, _) = Self::request_of(rec)?;
        rec.request.clear();
        let mut pre = Dirty::default();
        pre.inv_out.insert(key);
        let msg = ChannelMessage::PleaseReviseDisplayName(PleaseReviseDisplayName {
            group_id: *id,
            original,
            reason: reason.to_owned(),
        });
        self.send_channel(label, &msg, Completion::Nothing, pre)
            .await
    }

    /// Approves the invitee: in ONE AllOrNothing operation, publishes the INTRODUCTION to our
    /// group stream and sends the Welcome (the member list) on the channel.
    pub async fn approve(&mut self, id: &GroupId, label: &str) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let rec = self
            .inv_out
            .get(&(*id, label.to_owned()))
            .ok_or_else(|| ClientError::NotFound("join request".into()))?;
        let (_, pa) = Self::request_of(rec)?;
        let g = self.group(id)?;
        if g.members.contains_key(pa.read_cap.as_bytes()) {
            return Err(ClientError::InvalidState("already a member".into()));
        }
        let mut all = g.please_adds();
        all.push(pa.clone());
        let intro = GroupChatMessage::new(MembershipHash::of(&all), Body::Introduction(pa.clone()))
            .to_cbor();
        let welcome = Zeroizing::new(
            ChannelMessage::Welcome(Welcome {
                group_id: *id,
                group_name: g.name.clone(),
                members: ReplyWho { please_adds: all },
            })
            .to_cbor(),
        );
        let chan = self.open_channel(label)?;
        let plan = AllOrNothingPlan::for_messages(
            &mut OsRng,
            self.config.geometry,
            &self.config.limits,
            vec![
                (g.writer.clone(), &intro[..]),
                (chan.writer.clone(), &welcome[..]),
            ],
        )?;
        self.submit(
            KIND_PLAN,
            plan.to_bytes(),
            vec![
                TargetRecord::Group(id.0.to_vec()),
                TargetRecord::Channel(label.to_owned()),
            ],
            Completion::Approved {
                group: id.0.to_vec(),
                label: label.to_owned(),
                please_add: pa.to_cbor(),
            },
            Dirty::default(),
        )
        .await
    }

    // ---------------------------------------------------------------- polling

    /// Polls every stream we read (every member of every group, every channel peer): one
    /// batched read of the next box of each, repeated while boxes keep arriving. Each round is
    /// committed in one WriteBatch. Then answers WHO requests. Returns what it found.
    pub async fn poll(&mut self) -> Result<Vec<Event>, ClientError> {
        self.resume_pending().await?;
        let mut events = Vec::new();
        let mut counted = HashSet::new();
        while self.poll_round(&mut events, &mut counted).await? {}
        let owed: Vec<GroupId> = self
            .groups
            .values()
            .filter(|g| g.owe_who_reply)
            .map(|g| g.id)
            .collect();
        for id in owed {
            let list = ReplyWho {
                please_adds: self.group(&id)?.please_adds(),
            };
            self.send_group(
                id,
                Body::WhoReply(list),
                Completion::WhoReplied {
                    group: id.0.to_vec(),
                },
            )
            .await?;
        }
        Ok(events)
    }

    /// One round; returns whether any stream moved.
    async fn poll_round(
        &mut self,
        events: &mut Vec<Event>,
        counted: &mut HashSet<String>,
    ) -> Result<bool, ClientError> {
        let stuck_limit = self.config.stuck_polls_before_skip.max(1);
        let mut slots = Vec::new();
        let mut ids = Vec::new();
        for (gid, g) in &self.groups {
            for (k, m) in &g.members {
                if let Some(r) = &m.reader {
                    let w = r.wanted();
                    slots.push((Slot::Member(*gid, *k), w.len()));
                    ids.extend(w);
                }
            }
        }
        for (label, c) in &self.channels {
            if let Some(r) = &c.reader {
                let w = r.wanted();
                slots.push((Slot::Channel(label.clone()), w.len()));
                ids.extend(w);
            }
        }
        if ids.is_empty() {
            return Ok(false);
        }
        let outcomes = self.store.read_many(&ids).await?;
        if outcomes.len() != ids.len() {
            return Err(ClientError::Stream(StreamError::OutcomeCount {
                expected: ids.len(),
                got: outcomes.len(),
            }));
        }
        let mut d = Dirty::default();
        let mut moved = false;
        let mut at = 0;
        for (slot, n) in slots {
            let chunk = &outcomes[at..at + n];
            at += n;
            let (reader, source) = match &slot {
                Slot::Member(gid, k) => {
                    let Some(reader) = self
                        .groups
                        .get_mut(gid)
                        .and_then(|g| g.members.get_mut(k))
                        .and_then(|m| m.reader.as_mut())
                    else {
                        continue;
                    };
                    (reader, format!("group {gid:?} member {}", MemberId::of(k)))
                }
                Slot::Channel(l) => {
                    let Some(reader) = self.channels.get_mut(l).and_then(|c| c.reader.as_mut())
                    else {
                        continue;
                    };
                    (reader, format!("channel {l}"))
                }
            };
            let result = reader.accept(chunk);
            if !matches!(result, Err(ref e) if !matches!(e, StreamError::Rejected(_))) {
                self.stuck.remove(&source);
            }
            match result {
                Ok(Polled::Nothing) => continue,
                Ok(Polled::Progress) => moved = true,
                Ok(Polled::Message(bytes)) => {
                    moved = true;
                    match &slot {
                        Slot::Member(gid, k) => {
                            self.on_group_box(&mut d, events, *gid, *k, &bytes)?
                        }
                        Slot::Channel(l) => self.on_channel_box(&mut d, events, l, &bytes)?,
                    }
                }
                Err(e @ StreamError::Rejected(_)) => {
                    moved = true;
                    events.push(Event::Problem {
                        source,
                        error: e.to_string(),
                    });
                }
                Err(e) => {
                    // The reader stays (a bad box, a chain not all there): report it; the
                    // other streams carry on and a later poll retries, until the stream has
                    // been stuck for `stuck_polls_before_skip` polls: then move past.
                    if !counted.insert(source.clone()) {
                        continue;
                    }
                    let n = self.stuck.entry(source.clone()).or_insert(0);
                    *n += 1;
                    if *n < stuck_limit {
                        events.push(Event::Problem {
                            source,
                            error: e.to_string(),
                        });
                        continue;
                    }
                    self.stuck.remove(&source);
                    reader.skip()?;
                    moved = true;
                    events.push(Event::Problem {
                        source,
                        error: format!("{e}; skipped after {stuck_limit} polls"),
                    });
                }
            }
            match slot {
                Slot::Member(gid, _) => d.groups.insert(gid),
                Slot::Channel(l) => d.channels.insert(l),
            };
        }
        self.commit(d)?;
        Ok(moved)
    }

    fn on_group_box(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        gid: GroupId,
        sender_key: [u8; READ_CAP_LEN],
        bytes: &[u8],
    ) -> Result<(), ClientError> {
        let sender = MemberId::of(&sender_key);
        let source = format!("group {gid:?} member {sender}");
        for decoded in GroupChatMessage::decode_sequence(bytes) {
            let msg = match decoded {
                Ok(m) => m,
                Err(e) => {
                    events.push(Event::Problem {
                        source: source.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            self.apply_group_message(d, events, gid, sender_key, &source, msg)?;
        }
        Ok(())
    }

    fn apply_group_message(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        gid: GroupId,
        sender_key: [u8; READ_CAP_LEN],
        source: &str,
        msg: GroupChatMessage,
    ) -> Result<(), ClientError> {
        let sender = MemberId::of(&sender_key);
        let limits = self.config.limits;
        let max_file = self.config.max_file_len;
        let sender_name = self.group(&gid)?.members[&sender_key]
            .please_add
            .display_name
            .to_string();
        d.groups.insert(gid);
        match msg.body {
            Body::Text(t) => {
                let entry = self.group_entry(d, gid, sender, sender_name, false, Content::Text(t));
                events.push(Event::GroupMessage { group: gid, entry });
            }
            Body::FileUpload(f) => {
                if f.payload.len() > max_file {
                    events.push(Event::Problem {
                        source: source.to_owned(),
                        error: format!(
                            "file of {} bytes over the cap of {max_file}: dropped",
                            f.payload.len()
                        ),
                    });
                } else {
                    let seq = self.alloc_seq();
                    let path = files::received_path(&self.dir, &gid.0, seq, &f.basename);
                    files::write_private(&path, &f.payload, max_file)?;
                    let content = Content::File {
                        basename: f.basename.clone(),
                        filetype: f.filetype.as_str().to_owned(),
                        len: f.payload.len() as u64,
                        path: path.to_string_lossy().into_owned(),
                    };
                    let entry =
                        self.group_entry_at(d, gid, seq, sender, sender_name, false, content);
                    events.push(Event::GroupMessage { group: gid, entry });
                }
            }
            Body::Introduction(pa) => {
                let member = MemberId::of(pa.read_cap.as_bytes());
                let name = pa.display_name.to_string();
                let g = self.groups.get_mut(&gid).expect("checked");
                match g.add_member(pa, Some(sender), limits) {
                    Ok(true) => {
                        events.push(Event::MemberAdded {
                            group: gid,
                            member,
                            name: name.clone(),
                            by: Some(sender),
                        });
                        self.group_entry(
                            d,
                            gid,
                            sender,
                            sender_name,
                            false,
                            Content::Introduced {
                                name,
                                member: member.0.to_vec(),
                            },
                        );
                    }
                    Ok(false) => {}
                    Err(e) => events.push(Event::Problem {
                        source: source.to_owned(),
                        error: format!("introduction: {e}"),
                    }),
                }
            }
            Body::Who(_) => {
                self.groups.get_mut(&gid).expect("checked").owe_who_reply = true;
                events.push(Event::WhoAsked {
                    group: gid,
                    by: sender,
                });
            }
            Body::WhoReply(list) => {
                let g = self.groups.get_mut(&gid).expect("checked");
                let listed: BTreeSet<[u8; READ_CAP_LEN]> = list
                    .please_adds
                    .iter()
                    .map(|p| *p.read_cap.as_bytes())
                    .collect();
                let missing_there: Vec<MemberId> = g
                    .members
                    .keys()
                    .filter(|k| !listed.contains(*k))
                    .map(|k| MemberId::of(k))
                    .collect();
                let mut added = Vec::new();
                for pa in list.please_adds {
                    let member = MemberId::of(pa.read_cap.as_bytes());
                    let name = pa.display_name.to_string();
                    match g.add_member(pa, Some(sender), limits) {
                        Ok(true) => added.push((member, name)),
                        Ok(false) => {}
                        Err(e) => events.push(Event::Problem {
                            source: source.to_owned(),
                            error: format!("who reply: {e}"),
                        }),
                    }
                }
                if !missing_there.is_empty() || !added.is_empty() {
                    events.push(Event::WhoReplyDiffers {
                        group: gid,
                        by: sender,
                        missing_there,
                    });
                }
                for (member, name) in added {
                    events.push(Event::MemberAdded {
                        group: gid,
                        member,
                        name,
                        by: Some(sender),
                    });
                }
            }
        }
        let ours = self.group(&gid)?.membership_hash();
        if msg.membership_hash != ours {
            events.push(Event::MembershipMismatch {
                group: gid,
                sender,
                theirs: msg.membership_hash,
                ours,
            });
        }
        Ok(())
    }

    fn on_channel_box(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        label: &str,
        bytes: &[u8],
    ) -> Result<(), ClientError> {
        let source = format!("channel {label}");
        let problem = |events: &mut Vec<Event>, error: String| {
            events.push(Event::Problem {
                source: source.clone(),
                error,
            })
        };
        let msg = match ChannelMessage::from_cbor(bytes) {
            Ok(m) => m,
            Err(e) => {
                problem(events, e.to_string());
                return Ok(());
            }
        };
        match msg {
            ChannelMessage::Text(t) => {
                let entry = self.channel_entry(d, label, false, Content::Text(t));
                events.push(Event::ChannelText {
                    channel: label.to_owned(),
                    entry,
                });
            }
            ChannelMessage::Invitation(inv) => {
                let id = inv.group_id;
                if self.groups.contains_key(&id) {
                    problem(events, "invitation to a group we are in".into());
                } else if self
                    .inv_in
                    .get(&id)
                    .is_some_and(|r| r.channel != label && !r.write_cap.is_empty())
                {
                    problem(
                        events,
                        "invitation to a group we asked to join elsewhere".into(),
                    );
                } else {
                    let prev = self.inv_in.remove(&id);
                    let rec = InvitationInRecord {
                        v: RECORD_VERSION,
                        group_id: id.0.to_vec(),
                        group_name: inv.group_name.clone(),
                        channel: label.to_owned(),
                        write_cap: prev
                            .as_ref()
                            .map(|p| p.write_cap.clone())
                            .unwrap_or_default(),
                        display_name: prev
                            .as_ref()
                            .map(|p| p.display_name.clone())
                            .unwrap_or_default(),
                        revise_reason: String::new(),
                    };
                    self.inv_in.insert(id, rec);
                    d.inv_in.insert(id);
                    events.push(Event::Invited {
                        channel: label.to_owned(),
                        group: id,
                        group_name: inv.group_name,
                    });
                }
            }
            ChannelMessage::SignedPleaseAdd(s) => {
                let key = (s.group_id, label.to_owned());
                if !self.inv_out.contains_key(&key) {
                    problem(events, "a join request we did not invite".into());
                    return Ok(());
                }
                let pa = match s.verify() {
                    Ok(pa) => pa,
                    Err(e) => {
                        problem(events, format!("join request: {e}"));
                        return Ok(());
                    }
                };
                let Some(g) = self.groups.get(&s.group_id) else {
                    problem(events, "join request for a group we left".into());
                    return Ok(());
                };
                if g.members.contains_key(pa.read_cap.as_bytes()) {
                    problem(events, "join request from a current member".into());
                    return Ok(());
                }
                let name_taken = g
                    .members
                    .values()
                    .any(|m| m.please_add.display_name == pa.display_name);
                let rec = self.inv_out.get_mut(&key).expect("checked");
                rec.request = ChannelMessage::SignedPleaseAdd(s.clone()).to_cbor();
                d.inv_out.insert(key);
                events.push(Event::JoinRequest {
                    channel: label.to_owned(),
                    group: s.group_id,
                    display_name: pa.display_name.to_string(),
                    name_taken,
                });
            }
            ChannelMessage::PleaseReviseDisplayName(p) => match self.inv_in.get_mut(&p.group_id) {
                Some(r) if r.channel == label && !r.write_cap.is_empty() => {
                    r.revise_reason = p.reason.clone();
                    d.inv_in.insert(p.group_id);
                    events.push(Event::ReviseRequested {
                        channel: label.to_owned(),
                        group: p.group_id,
                        reason: p.reason,
                    });
                }
                _ => problem(events, "request to revise a name we did not send".into()),
            },
            ChannelMessage::Welcome(w) => self.on_welcome(d, events, label, w)?,
        }
        Ok(())
    }

    fn on_welcome(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        label: &str,
        w: Welcome,
    ) -> Result<(), ClientError> {
        let source = format!("channel {label}");
        let id = w.group_id;
        let problem = |events: &mut Vec<Event>, error: &str| {
            events.push(Event::Problem {
                source: source.clone(),
                error: error.to_owned(),
            })
        };
        let Some(inv) = self.inv_in.get(&id) else {
            problem(events, "welcome to a group we did not ask to join");
            return Ok(());
        };
        if inv.channel != label || inv.write_cap.is_empty() {
            problem(events, "welcome from a channel we did not ask");
            return Ok(());
        }
        if self.groups.contains_key(&id) {
            problem(events, "welcome to a group we are in");
            return Ok(());
        }
        let cap = WriteCap::from_bytes(&inv.write_cap)?;
        let my_cap: ReadCap = cap.read_cap();
        let my_key = *my_cap.to_bytes();
        let Some(me) = w
            .members
            .please_adds
            .iter()
            .find(|p| *p.read_cap.as_bytes() == my_key)
            .cloned()
        else {
            problem(events, "welcome whose member list lacks us");
            return Ok(());
        };
        let limits = self.config.limits;
        let mut g = Group::new(
            id,
            w.group_name.clone(),
            StatefulWriter::new(cap, &group_ctx(&id)),
            me,
        );
        let mut added = Vec::new();
        for pa in w.members.please_adds {
            let member = MemberId::of(pa.read_cap.as_bytes());
            let name = pa.display_name.to_string();
            match g.add_member(pa, None, limits) {
                Ok(true) => added.push((member, name)),
                Ok(false) => {}
                Err(e) => problem(events, &format!("welcome member: {e}")),
            }
        }
        let (my_id, my_name) = (g.my_id(), g.my_name());
        self.groups.insert(id, g);
        self.inv_in.remove(&id);
        d.inv_in.insert(id);
        d.groups.insert(id);
        self.group_entry(d, id, my_id, my_name, true, Content::Joined);
        events.push(Event::Joined {
            group: id,
            group_name: w.group_name,
        });
        for (member, name) in added {
            events.push(Event::MemberAdded {
                group: id,
                member,
                name,
                by: None,
            });
        }
        Ok(())
    }
}
