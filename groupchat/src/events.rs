//! What the user is shown: history entries, poll events, group and invitation summaries.

use crate::channel::GroupId;
use crate::membership::MembershipHash;
use crate::records::{Content, HistoryRecord};
use crate::roster::{MemberId, Role};

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

impl HistoryEntry {
    /// Decodes a stored history record (a value under a history prefix of [`crate::keys`]).
    pub fn decode(value: &[u8]) -> Result<Self, crate::Error> {
        let r: HistoryRecord = crate::records::decode("history", value)?;
        crate::records::check_version("history", r.v)?;
        Ok(r.into())
    }
}

impl From<HistoryRecord> for HistoryEntry {
    fn from(r: HistoryRecord) -> Self {
        Self {
            seq: r.seq,
            sender: MemberId::from_slice(&r.sender).ok(),
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
    /// A sender's membership hash started to differ from ours (after applying their message):
    /// reported when a sender's latest message differs and its previous one did not, so a new
    /// member catching up on old messages hears of each sender once. Transient while
    /// introductions propagate; [`MemberInfo::view_differs`] tells whether it still holds; if it
    /// persists, ask `who`.
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
    /// An invitee asked to be added (answer with `approve` or `ask_revise`).
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
    /// A member left the group.
    MemberLeft {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Their display name.
        name: String,
    },
    /// An owner or admin removed a member.
    MemberRemoved {
        /// Group.
        group: GroupId,
        /// Who was removed.
        member: MemberId,
        /// Their display name.
        name: String,
        /// Who removed them.
        by: MemberId,
        /// Their display name.
        by_name: String,
    },
    /// We were removed from the group: we no longer read or write it; its history stays.
    RemovedUs {
        /// Group.
        group: GroupId,
        /// Who removed us.
        by: MemberId,
        /// Their display name.
        by_name: String,
    },
    /// The owner gave a member a role.
    RoleChanged {
        /// Group.
        group: GroupId,
        /// The member.
        member: MemberId,
        /// Their display name.
        name: String,
        /// The new role.
        role: Role,
        /// The owner.
        by: MemberId,
    },
    /// The owner deleted the group: we no longer read it; its history stays.
    GroupDeleted {
        /// Group.
        group: GroupId,
        /// The owner.
        by: MemberId,
        /// Their display name.
        by_name: String,
    },
    /// A member moved to a new stream, which it gave us.
    Rotated {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// The new stream's epoch.
        epoch: u64,
    },
    /// A member asked for something its role does not allow, or that cannot be done: nothing
    /// changed.
    Refused {
        /// Group.
        group: GroupId,
        /// Who asked.
        by: MemberId,
        /// What it asked.
        request: String,
        /// Why it was refused.
        reason: String,
    },
    /// A member introduced a newcomer to a group that has [`crate::Config::auto_admit_members`]
    /// already: they wait for our approval ([`crate::Chat::admit`]).
    IntroductionHeld {
        /// Group.
        group: GroupId,
        /// The newcomer.
        member: MemberId,
        /// Their display name.
        name: String,
        /// Who introduced them.
        by: MemberId,
    },
    /// The invitee of a channel declined our invitation.
    InvitationDeclined {
        /// The channel.
        channel: String,
        /// Group.
        group: GroupId,
    },
    /// The introducer rejected our request to join.
    JoinRejected {
        /// The channel.
        channel: String,
        /// Group.
        group: GroupId,
        /// Its name.
        group_name: String,
        /// Why.
        reason: String,
    },
    /// An invitation nobody answered in time was forgotten.
    InvitationExpired {
        /// Group.
        group: GroupId,
        /// Its name.
        group_name: String,
        /// The channel.
        channel: String,
        /// Whether we sent it (else we received it).
        ours: bool,
    },
    /// What the user asked to send landed.
    OutboxSent {
        /// The outbox entry, as it was.
        entry: crate::chat::OutboxEntry,
    },
    /// What the user asked to send can never be sent and was dropped.
    OutboxDropped {
        /// The outbox entry, as it was.
        entry: crate::chat::OutboxEntry,
        /// Why.
        reason: String,
    },
    /// A peer sent something unusable (or a stream is stuck); it was reported and skipped.
    Problem {
        /// Where: `group <id> member <id>` or `channel <label>`.
        source: String,
        /// What.
        error: String,
    },
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
