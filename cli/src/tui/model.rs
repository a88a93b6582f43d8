//! What the chat screen shows, as the worker reads it from the profile: conversations, their
//! recent history and members, invitations, join requests and the courier's state.

use groupchat::channel::GroupId;
use groupchat::HistoryEntry;

/// How many recent history entries of each conversation the screen holds.
pub const HISTORY_WINDOW: usize = 500;

/// A conversation: a group or a 1:1 channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConvKey {
    /// A group.
    Group(GroupId),
    /// A channel, by label.
    Channel(String),
}

impl ConvKey {
    /// A stable text form, for the saved screen state.
    pub fn to_text(&self) -> String {
        match self {
            ConvKey::Group(id) => format!("g:{}", hex::encode(id.0)),
            ConvKey::Channel(l) => format!("c:{l}"),
        }
    }

    /// Parses [`ConvKey::to_text`].
    pub fn from_text(s: &str) -> Option<Self> {
        if let Some(h) = s.strip_prefix("g:") {
            let bytes: [u8; 32] = hex::decode(h).ok()?.try_into().ok()?;
            Some(ConvKey::Group(GroupId(bytes)))
        } else {
            s.strip_prefix("c:").map(|l| ConvKey::Channel(l.to_owned()))
        }
    }
}

/// A member as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Display name.
    pub name: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    /// Whether this is us.
    pub me: bool,
}

/// One conversation's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv {
    /// Which.
    pub key: ConvKey,
    /// Group name or channel label.
    pub title: String,
    /// The most recent entries, oldest first.
    pub entries: Vec<HistoryEntry>,
    /// Members (groups only).
    pub members: Vec<Member>,
    /// Newcomers waiting for our approval (groups only): their name, and who introduced them.
    pub held: Vec<(String, String)>,
    /// `member`, `left`, `removed`, `deleted`, or for a channel `open` or `waiting`.
    pub standing: String,
}

impl Conv {
    /// The sequence number of its newest entry (0 if none).
    pub fn last_seq(&self) -> u64 {
        self.entries.last().map(|e| e.seq).unwrap_or(0)
    }
}

/// What we know of the courier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Where the boxes go (a URL, or kpclientd's address).
    pub courier: String,
    /// Whether the last poll reached it (`None` before the first).
    pub reachable: Option<bool>,
    /// How long the last poll took, in milliseconds.
    pub last_poll_ms: Option<u64>,
    /// Entries waiting in the outbox.
    pub outbox: usize,
    /// Why the last poll failed.
    pub error: Option<String>,
    /// Whether a network operation is under way.
    pub busy: bool,
}

/// An invitation we received and have not completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Group name.
    pub group_name: String,
    /// The channel it came over.
    pub channel: String,
    /// The name we asked for, if we answered.
    pub answered_as: Option<String>,
}

/// A join request for one of our groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// Group.
    pub group: GroupId,
    /// The invitee's channel.
    pub channel: String,
    /// The name asked for, once they answered.
    pub display_name: Option<String>,
}

/// Everything the screen shows of the profile at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Our name (the profile's default display name).
    pub me: String,
    /// Groups, then channels.
    pub convs: Vec<Conv>,
    /// Invitations to answer.
    pub invitations: Vec<Invitation>,
    /// Join requests to approve (or waiting for the invitee).
    pub join_requests: Vec<JoinRequest>,
    /// The courier.
    pub status: Status,
}

/// A file being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Its name.
    pub name: String,
    /// Boxes written so far.
    pub done: u64,
    /// Boxes in all.
    pub total: u64,
}
