//! [`Client`]: one profile directory, its RocksDB state, a transport, and the group chat core
//! ([`Chat`]) they drive.
//!
//! Every change of the core is stored in one atomic batch before the next step: a command's
//! pending operation before it runs, an operation's completion once it landed, a poll round's
//! readers together with the history of what they read. Received files are written before the
//! batch that records them, under names fixed by their sequence numbers, so a replay rewrites
//! the same file. If the core refuses something or a batch fails, the state is loaded again
//! from what is stored. What the user asks to send goes through the outbox, in order per
//! stream, and every network operation drains it ([`drain`]), so what an earlier (killed or cut
//! off) command left lands exactly once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bacap::{Geometry, StatefulWriter};
use groupchat::channel::{ChannelToken, GroupId};
use groupchat::chat::{OutboxEntry, Request};
use groupchat::group::RotationPolicy;
use groupchat::messages::FileType;
use groupchat::roster::{History, MemberId, Role};
use groupchat::JoinRequestInfo;
use groupchat::{keys, Chat, Config, Event, GroupInfo, HistoryEntry, InvitationInfo};
use pigeonhole::stream::StreamError;
use pigeonhole::transport::Transport;

mod drain;

use drain::Goal;
pub use drain::{Sent, Wait, MAX_IN_FLIGHT};
use rand_core::OsRng;

use crate::error::ClientError;
use crate::files;
use crate::lock::ProfileLock;
use crate::storage::{private_dir, Storage};

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A profile's client.
pub struct Client {
    dir: PathBuf,
    db: Storage,
    transport: Option<Arc<dyn Transport>>,
    chat: Chat,
    wait: Wait,
    _lock: ProfileLock,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("dir", &self.dir)
            .field("chat", &self.chat)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens the profile in `profile_dir` (created, owner-only, if missing), talking through
    /// `transport`, with default settings. Pending operations resume on the first network
    /// operation.
    pub fn open(profile_dir: &Path, transport: Arc<dyn Transport>) -> Result<Self, ClientError> {
        Self::open_with(profile_dir, Some(transport), Config::default())
    }

    /// Opens the profile without a transport: for commands that need no network (every
    /// network operation is [`ClientError::Offline`]).
    pub fn open_offline(profile_dir: &Path) -> Result<Self, ClientError> {
        Self::open_with(profile_dir, None, Config::default())
    }

    /// Opens the profile with `config`.
    pub fn open_with(
        profile_dir: &Path,
        transport: Option<Arc<dyn Transport>>,
        config: Config,
    ) -> Result<Self, ClientError> {
        private_dir(profile_dir)?;
        let lock = ProfileLock::acquire(profile_dir)?;
        let db = Storage::open(profile_dir)?;
        let geometry = transport.as_ref().map(|t| t.geometry()).unwrap_or_default();
        let chat = Self::load(&db, config, geometry, profile_dir)?;
        let mut client = Self {
            dir: profile_dir.to_path_buf(),
            db,
            transport,
            chat,
            wait: Wait::Landed,
            _lock: lock,
        };
        client.commit()?;
        Ok(client)
    }

    fn load(
        db: &Storage,
        config: Config,
        geometry: Geometry,
        dir: &Path,
    ) -> Result<Chat, ClientError> {
        let mut records = Vec::new();
        for prefix in keys::STATE {
            records.extend(db.scan(prefix)?);
        }
        Ok(Chat::load(config, geometry, dir, records, now_ms())?)
    }

    /// Loads the state again from the database (after a refused command or a failed batch left
    /// the memory ahead of what is stored).
    fn reload(&mut self) {
        let (config, geometry) = (*self.chat.config(), self.chat.geometry());
        if let Ok(chat) = Self::load(&self.db, config, geometry, &self.dir) {
            self.chat = chat;
        }
    }

    /// Writes the files the core named, then stores its changes in one batch.
    fn commit(&mut self) -> Result<(), ClientError> {
        let max = self.chat.config().max_file_len;
        let stored = self
            .chat
            .take_files()
            .iter()
            .try_for_each(|f| files::write_private(&f.path, &f.payload, max))
            .map_err(ClientError::from)
            .and_then(|()| {
                let changes = self.chat.take_changes();
                let forgot = changes.forgot_secrets;
                self.db.write(changes)?;
                if forgot {
                    self.db.purge()?;
                }
                Ok(())
            });
        if stored.is_err() {
            self.reload();
        }
        stored
    }

    /// Runs `f` on the core and stores what it changed; if it fails, nothing is stored and the
    /// state is loaded again.
    fn apply<T>(
        &mut self,
        f: impl FnOnce(&mut Chat) -> Result<T, groupchat::Error>,
    ) -> Result<T, ClientError> {
        match f(&mut self.chat) {
            Ok(v) => {
                self.commit()?;
                Ok(v)
            }
            Err(e) => {
                self.reload();
                Err(e.into())
            }
        }
    }

    fn transport(&self) -> Result<Arc<dyn Transport>, ClientError> {
        self.transport.clone().ok_or(ClientError::Offline)
    }

    /// The profile directory.
    pub fn profile_dir(&self) -> &Path {
        &self.dir
    }

    /// The chat state, for everything the client does not forward.
    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    // ------------------------------------------------------------- what the user sees

    /// Every group.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.chat.groups()
    }

    /// One group.
    pub fn group_info(&self, id: &GroupId) -> Result<GroupInfo, ClientError> {
        Ok(self.chat.group_info(id)?)
    }

    /// The channel labels, with whether the peer's token was accepted.
    pub fn channels(&self) -> Vec<(String, bool)> {
        self.chat.channels()
    }

    /// Our token for channel `label` again. A secret.
    pub fn channel_token(&self, label: &str) -> Result<ChannelToken, ClientError> {
        Ok(self.chat.channel_token(label)?)
    }

    /// The invitations we received and have not completed.
    pub fn invitations(&self) -> Vec<InvitationInfo> {
        self.chat.invitations()
    }

    /// The invitations we sent, with the invitee's request if it arrived.
    pub fn join_requests(&self) -> Vec<JoinRequestInfo> {
        self.chat.join_requests()
    }

    /// How many entries wait in the outbox.
    pub fn pending_count(&self) -> usize {
        self.chat.pending_count()
    }

    /// The largest file [`Client::send_file`] takes.
    pub fn max_file_len(&self) -> usize {
        self.chat.config().max_file_len
    }

    /// A group's history in arrival order (ours included, at the time we sent).
    pub fn history(&self, id: &GroupId) -> Result<Vec<HistoryEntry>, ClientError> {
        self.read_history(&self.chat.group_history_prefix(id)?)
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

    /// A channel's history in arrival order.
    pub fn channel_history(&self, label: &str) -> Result<Vec<HistoryEntry>, ClientError> {
        self.read_history(&self.chat.channel_history_prefix(label)?)
    }

    fn read_history(&self, prefix: &[u8]) -> Result<Vec<HistoryEntry>, ClientError> {
        self.db
            .scan(prefix)?
            .into_iter()
            .map(|(_, v)| Ok(HistoryEntry::decode(&v)?))
            .collect()
    }

    // ------------------------------------------------------------- commands without network

    /// Creates a group of one (us, its owner, shown as `display_name`) whose newcomers read
    /// nothing from before they joined, and returns its ID.
    pub fn create_group(&mut self, name: &str, display_name: &str) -> Result<GroupId, ClientError> {
        self.create_group_with(name, display_name, History::default())
    }

    /// Creates a group with the history setting `history`.
    pub fn create_group_with(
        &mut self,
        name: &str,
        display_name: &str,
        history: History,
    ) -> Result<GroupId, ClientError> {
        self.apply(|c| c.create_group(&mut OsRng, name, display_name, history, now_ms()))
    }

    /// Admits a newcomer whose introduction to group `id` was held for our approval.
    pub fn admit(&mut self, id: &GroupId, member: &MemberId) -> Result<(), ClientError> {
        self.apply(|c| c.admit(id, member, now_ms()))
    }

    /// Sets when we rotate our stream in group `id` by ourselves.
    pub fn set_rotation_policy(
        &mut self,
        id: &GroupId,
        policy: RotationPolicy,
    ) -> Result<(), ClientError> {
        self.apply(|c| c.set_rotation_policy(id, policy))
    }

    /// Starts a channel and returns our token, to copy to the peer.
    pub fn make_channel(&mut self, label: &str) -> Result<ChannelToken, ClientError> {
        self.apply(|c| c.make_channel(&mut OsRng, label))
    }

    /// Accepts the peer's token for channel `label` (making the channel if needed) and returns
    /// our token.
    pub fn accept_channel(
        &mut self,
        label: &str,
        token: &ChannelToken,
    ) -> Result<ChannelToken, ClientError> {
        self.apply(|c| c.accept_channel(&mut OsRng, label, token))
    }

    // ------------------------------------------------------------- network operations

    /// Sets how long sending commands wait for what they queued (until it landed, by
    /// default).
    pub fn set_wait(&mut self, wait: Wait) {
        self.wait = wait;
    }

    /// Posts a text message to a group (long ones through AllOrNothing).
    pub async fn post_text(&mut self, id: &GroupId, text: &str) -> Result<Sent, ClientError> {
        self.send(Request::PostText {
            group: *id,
            text: text.to_owned(),
        })
        .await
    }

    /// Sends a file to a group (through AllOrNothing when it needs more than one box).
    pub async fn send_file(
        &mut self,
        id: &GroupId,
        basename: &str,
        filetype: FileType,
        payload: Vec<u8>,
    ) -> Result<Sent, ClientError> {
        self.send(Request::SendFile {
            group: *id,
            basename: basename.to_owned(),
            filetype: filetype.as_str().to_owned(),
            payload,
        })
        .await
    }

    /// Asks the group WHO.
    pub async fn who(&mut self, id: &GroupId) -> Result<Sent, ClientError> {
        self.send(Request::Who { group: *id }).await
    }

    /// Invites the peer of channel `label` to group `id`.
    pub async fn invite(&mut self, id: &GroupId, label: &str) -> Result<Sent, ClientError> {
        self.send(Request::Invite {
            group: *id,
            label: label.to_owned(),
        })
        .await
    }

    /// Answers an invitation: asks to join as `display_name`.
    pub async fn accept_invitation(
        &mut self,
        id: &GroupId,
        display_name: &str,
    ) -> Result<Sent, ClientError> {
        self.send(Request::AcceptInvitation {
            group: *id,
            display_name: display_name.to_owned(),
        })
        .await
    }

    /// Declines the invitation to group `id`: the introducer is told.
    pub async fn decline(&mut self, id: &GroupId) -> Result<Sent, ClientError> {
        self.send(Request::Decline { group: *id }).await
    }

    /// Rejects the join request of channel `label`'s peer to group `id`, saying why: they are
    /// told, and the invitation is closed.
    pub async fn reject(
        &mut self,
        id: &GroupId,
        label: &str,
        reason: &str,
    ) -> Result<Sent, ClientError> {
        self.send(Request::Reject {
            group: *id,
            label: label.to_owned(),
            reason: reason.to_owned(),
        })
        .await
    }

    /// Declines the invitee's display name and asks for another.
    pub async fn ask_revise(
        &mut self,
        id: &GroupId,
        label: &str,
        reason: &str,
    ) -> Result<Sent, ClientError> {
        self.send(Request::AskRevise {
            group: *id,
            label: label.to_owned(),
            reason: reason.to_owned(),
        })
        .await
    }

    /// Approves the invitee: the INTRODUCTION and the Welcome in one AllOrNothing. Polls
    /// first, so that the member list starts every stream where we read it now (in a
    /// from-joining group the newcomer reads nothing older); returns what that poll found.
    pub async fn approve(
        &mut self,
        id: &GroupId,
        label: &str,
    ) -> Result<(Sent, Vec<Event>), ClientError> {
        let events = self.poll().await?;
        let sent = self
            .send(Request::Approve {
                group: *id,
                label: label.to_owned(),
            })
            .await?;
        Ok((sent, events))
    }

    /// Leaves group `id`: our LEAVE, then we no longer read or write it.
    pub async fn leave(&mut self, id: &GroupId) -> Result<Sent, ClientError> {
        self.send(Request::Leave { group: *id }).await
    }

    /// Removes `member` from group `id` (we must be the owner or an admin): our REMOVE and our
    /// move to a new stream without it, in one AllOrNothing. Polls first, so that the new cap
    /// goes to every member whose sealing key has been posted (returns what the poll found).
    pub async fn remove(
        &mut self,
        id: &GroupId,
        member: &MemberId,
    ) -> Result<(Sent, Vec<Event>), ClientError> {
        let events = self.poll().await?;
        let sent = self
            .send(Request::Remove {
                group: *id,
                member: *member,
            })
            .await?;
        Ok((sent, events))
    }

    /// Moves our stream in group `id` to a new one, given to every member we count. Polls
    /// first, as [`Client::remove`] does (returns what the poll found).
    pub async fn rotate(&mut self, id: &GroupId) -> Result<(Sent, Vec<Event>), ClientError> {
        let events = self.poll().await?;
        let sent = self.send(Request::Rotate { group: *id }).await?;
        Ok((sent, events))
    }

    /// Gives `member` of group `id` the role `role` (we must be the owner).
    pub async fn set_role(
        &mut self,
        id: &GroupId,
        member: &MemberId,
        role: Role,
    ) -> Result<Sent, ClientError> {
        self.send(Request::SetRole {
            group: *id,
            member: *member,
            role: role.as_str().to_owned(),
        })
        .await
    }

    /// Deletes group `id` (we must be the owner): our DELETE, then our boxes are tombstoned.
    pub async fn delete(&mut self, id: &GroupId) -> Result<Sent, ClientError> {
        let sent = self.send(Request::Delete { group: *id }).await?;
        if sent == Sent::Landed {
            self.drain(Goal {
                target: None,
                reads: false,
                owed: true,
                wait: self.wait,
            })
            .await?;
        }
        Ok(sent)
    }

    /// Sends a private text on a channel.
    pub async fn send_channel_text(
        &mut self,
        label: &str,
        text: &str,
    ) -> Result<Sent, ClientError> {
        self.send(Request::ChannelText {
            label: label.to_owned(),
            text: text.to_owned(),
        })
        .await
    }

    /// The one shape of every sending command: queue the request in the outbox (stored before
    /// anything goes out, behind what waits on its streams), then drain the outbox until it
    /// landed or the wait is over. A request that was tried and did not land is
    /// [`ClientError::Queued`] (it stays in the outbox); one not confirmed within
    /// [`Wait::AtMost`] is [`Sent::Queued`].
    async fn send(&mut self, request: Request) -> Result<Sent, ClientError> {
        self.transport()?;
        let entry = self.apply(|c| c.submit(&mut OsRng, request, now_ms()))?;
        let drained = self
            .drain(Goal {
                target: Some(entry),
                reads: false,
                owed: false,
                wait: self.wait,
            })
            .await?;
        if !self.chat.in_outbox(entry) {
            return match drained.target_error {
                Some(e) => Err(e),
                None => Ok(Sent::Landed),
            };
        }
        match drained
            .target_error
            .or(drained.kept_error.map(ClientError::Queued))
        {
            Some(e) => Err(e),
            None => Ok(Sent::Queued { entry }),
        }
    }

    /// Sends what waits in the outbox (each operation tried once), without polling. Returns
    /// what happened to it (entries sent or dropped).
    pub async fn flush(&mut self) -> Result<Vec<Event>, ClientError> {
        Ok(self
            .drain(Goal {
                target: None,
                reads: false,
                owed: false,
                wait: self.wait,
            })
            .await?
            .events)
    }

    /// Everything in the outbox, oldest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.chat.outbox()
    }

    /// Drops outbox entry `entry` (only while none of its boxes can have landed).
    pub fn drop_entry(&mut self, entry: u64) -> Result<OutboxEntry, ClientError> {
        self.apply(|c| c.drop_entry(entry))
    }

    /// Polls every stream we read (every member of every group, every channel peer): one
    /// batched read of the next box of each, repeated while boxes keep arriving, while the
    /// outbox drains alongside (each operation tried once). Each round is stored in one batch.
    /// Then answers WHO requests. Returns what it found and what became of the outbox.
    pub async fn poll(&mut self) -> Result<Vec<Event>, ClientError> {
        Ok(self
            .drain(Goal {
                target: None,
                reads: true,
                owed: true,
                wait: Wait::Landed,
            })
            .await?
            .events)
    }
}

/// Tombstones `count` boxes from `from`'s next index on, a few at a time.
pub(crate) async fn tombstone(
    transport: &dyn Transport,
    from: StatefulWriter,
    count: u64,
) -> Result<Vec<StatefulWriter>, StreamError> {
    const IN_FLIGHT: usize = 16;
    let mut at = from;
    let mut left = count;
    while left > 0 {
        let batch = left.min(IN_FLIGHT as u64);
        let mut writers = Vec::with_capacity(batch as usize);
        for _ in 0..batch {
            writers.push(at.clone());
            at.advance()?;
        }
        let results =
            futures_util::future::join_all(writers.iter().map(|w| transport.tombstone(w))).await;
        for r in results {
            r?;
        }
        left -= batch;
    }
    Ok(Vec::new())
}
