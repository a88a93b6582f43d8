//! [`Chat`]: the whole chat state of one profile as a sans-IO state machine.
//!
//! It does no I/O. The client around it loads it from the stored records, hands it what the
//! network answered, runs the writes it asks for, writes the files it names and stores the
//! records it changed:
//!
//! - commands (`create_group`, `post_text`, `invite`, `approve`, ...) change state and queue
//!   the network operation they need as a pending record;
//! - [`Chat::submit`] queues what the user asked to send (see [`requests`] for the order per
//!   stream), [`Chat::runnable`] gives the operations that may run now, and
//!   [`Chat::handle_written`] takes an outcome;
//! - [`Chat::poll_reads`] gives the boxes to read next, and [`Chat::handle_reads`] takes what
//!   they hold and returns the events for the user;
//! - [`Chat::take_files`] and [`Chat::take_changes`] give what to write: received files first,
//!   then every changed record in one atomic batch.
//!
//! After any error, or if storing the changes fails, the client loads the state again from
//! what is stored: the memory never runs ahead of the records.

mod channels;
mod groups;
mod join;
mod log;
mod operations;
mod reads;
mod requests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bacap::Geometry;
use pigeonhole::stream::Limits;
use zeroize::Zeroizing;

use crate::channel::GroupId;
use crate::config::Config;
use crate::error::Error;
use crate::group::Group;
use crate::keys;
use crate::records::{self, GroupRecord, ProfileRecord, RECORD_VERSION};

pub use log::FileToSave;
pub(crate) use log::Log;
pub use operations::{OpId, Operation, Write, Written};
pub use reads::{PollProgress, ReadRound};
pub use requests::{OutboxEntry, Request};

use channels::Channels;
use join::Invitations;
use operations::Outbox;
use requests::Requests;

/// The BACAP context of channel streams.
pub const CHANNEL_CTX: &[u8] = b"bacap-chat/channel/v1";

/// Records to store in one atomic batch. Values hold secrets and zeroize themselves.
#[derive(Default)]
pub struct Changes {
    /// Keys and their new values.
    pub puts: Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    /// Keys to delete.
    pub deletes: Vec<Vec<u8>>,
    /// A secret was forgotten (an old WriteCap, a sealing key, an old stream's reader): the
    /// client rewrites its files so that no copy of it stays on disk.
    pub forgot_secrets: bool,
}

impl core::fmt::Debug for Changes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Changes")
            .field("puts", &self.puts.len())
            .field("deletes", &self.deletes.len())
            .field("forgot_secrets", &self.forgot_secrets)
            .finish()
    }
}

/// The chat state of one profile: its groups, 1:1 channels, invitations and pending operations.
pub struct Chat {
    config: Config,
    geometry: Geometry,
    profile_dir: PathBuf,
    groups: BTreeMap<GroupId, Group>,
    changed_groups: BTreeSet<GroupId>,
    channels: Channels,
    invitations: Invitations,
    outbox: Outbox,
    requests: Requests,
    log: Log,
    /// A record that must be written although nothing else changed (the profile record of a
    /// new profile).
    extra: Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    /// Per stream (by source name): how many polls it has been stuck, and since when (Unix
    /// milliseconds). Stored, so that a restart does not start the count again.
    stuck: HashMap<String, (u32, u64)>,
    /// Streams whose count changed since the last [`Chat::take_changes`].
    stuck_changed: BTreeSet<String>,
    /// A secret was forgotten since the last [`Chat::take_changes`].
    forgot: bool,
}

impl core::fmt::Debug for Chat {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chat")
            .field("profile_dir", &self.profile_dir)
            .field("groups", &self.groups.len())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl Chat {
    /// The state stored in `records` (every key and value under [`keys::STATE`]), for the
    /// profile in `profile_dir`, over a transport of `geometry`. A profile with no records is a
    /// new one; its profile record is among the first changes.
    pub fn load(
        config: Config,
        geometry: Geometry,
        profile_dir: &Path,
        records: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
        now_ms: u64,
    ) -> Result<Self, Error> {
        let limits = config.effective_limits(geometry);
        let mut next_seq = 0;
        let mut has_profile = false;
        let mut groups = BTreeMap::new();
        let mut channels = Channels::default();
        let mut invitations = Invitations::default();
        let mut outbox = Outbox::default();
        let mut requests = Requests::default();
        let mut stuck = HashMap::new();
        for (key, value) in records {
            let value = Zeroizing::new(value);
            if key == keys::PROFILE {
                let _: ProfileRecord = records::decode("profile", &value)?;
                has_profile = true;
            } else if key == keys::SEQ {
                next_seq = u64::from_be_bytes(
                    value
                        .as_slice()
                        .try_into()
                        .map_err(|_| Error::corrupt("sequence counter", "not 8 bytes"))?,
                );
            } else if key.starts_with(keys::GROUP) {
                let rec: GroupRecord = records::decode("group", &value)?;
                let g = Group::from_record(&rec, limits)?;
                groups.insert(g.id, g);
            } else if key.starts_with(keys::CHANNEL) {
                channels.load(&value, limits)?;
            } else if key.starts_with(keys::INVITATION_IN) {
                invitations.load_inbound(&value)?;
            } else if key.starts_with(keys::INVITATION_OUT) {
                invitations.load_outbound(&value)?;
            } else if key.starts_with(keys::PENDING) {
                outbox.load(&key, &value)?;
            } else if key.starts_with(keys::QUEUED) {
                requests.load(&key, &value)?;
            } else if let Some(source) = key.strip_prefix(keys::STUCK) {
                let rec: records::StuckRecord = records::decode("stuck stream", &value)?;
                records::check_version("stuck stream", rec.v)?;
                let source = String::from_utf8(source.to_vec())
                    .map_err(|_| Error::corrupt("stuck stream", "source name"))?;
                stuck.insert(source, (rec.polls, rec.since_ms));
            }
        }
        let mut extra = Vec::new();
        if !has_profile {
            let rec = ProfileRecord {
                v: RECORD_VERSION,
                created_ms: now_ms,
            };
            extra.push((keys::PROFILE.to_vec(), records::encode(&rec)));
        }
        Ok(Self {
            config,
            geometry,
            profile_dir: profile_dir.to_path_buf(),
            groups,
            changed_groups: BTreeSet::new(),
            channels,
            invitations,
            outbox,
            requests,
            log: Log::new(next_seq),
            extra,
            stuck,
            stuck_changed: BTreeSet::new(),
            forgot: false,
        })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The box geometry of the transport.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The limits every stream read and every message sent obey.
    pub fn limits(&self) -> Limits {
        self.config.effective_limits(self.geometry)
    }

    /// The profile directory.
    pub fn profile_dir(&self) -> &Path {
        &self.profile_dir
    }

    /// Received files to write before the changes that record them are stored.
    pub fn take_files(&mut self) -> Vec<FileToSave> {
        std::mem::take(&mut self.log.files)
    }

    /// What happened to the outbox since the last call (entries sent or dropped), for the
    /// user.
    pub fn take_events(&mut self) -> Vec<crate::Event> {
        std::mem::take(&mut self.log.events)
    }

    /// Every record changed since the last call, to store in one atomic batch.
    pub fn take_changes(&mut self) -> Changes {
        let mut c = Changes {
            puts: std::mem::take(&mut self.extra),
            deletes: Vec::new(),
            forgot_secrets: std::mem::take(&mut self.forgot),
        };
        for id in std::mem::take(&mut self.changed_groups) {
            let key = keys::group(&id.0);
            match self.groups.get(&id) {
                Some(g) => c.puts.push((key, records::encode(&g.to_record()))),
                None => c.deletes.push(key),
            }
        }
        self.channels.take_changes(&mut c);
        self.invitations.take_changes(&mut c);
        self.outbox.take_changes(&mut c);
        self.requests.take_changes(&mut c);
        for source in std::mem::take(&mut self.stuck_changed) {
            let key = keys::stuck(&source);
            match self.stuck.get(&source) {
                Some(&(polls, since_ms)) => c.puts.push((
                    key,
                    records::encode(&records::StuckRecord {
                        v: RECORD_VERSION,
                        polls,
                        since_ms,
                    }),
                )),
                None => c.deletes.push(key),
            }
        }
        for (key, rec) in std::mem::take(&mut self.log.entries) {
            c.puts.push((key, records::encode(&rec)));
        }
        c.puts.push((
            keys::SEQ.to_vec(),
            Zeroizing::new(self.log.next_seq().to_be_bytes().to_vec()),
        ));
        c
    }

    fn group(&self, id: &GroupId) -> Result<&Group, Error> {
        self.groups.get(id).ok_or(Error::UnknownGroup(*id))
    }

    fn group_mut(&mut self, id: &GroupId) -> Result<&mut Group, Error> {
        self.changed_groups.insert(*id);
        self.groups.get_mut(id).ok_or(Error::UnknownGroup(*id))
    }
}
