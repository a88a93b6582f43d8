//! How a profile sizes and limits what it sends and accepts.

use std::time::Duration;

use bacap::Geometry;
use pigeonhole::stream::{framing, Limits};
use pigeonhole::transport::CopyOptions;

use crate::files;

/// Settings of a profile's chat. The box geometry is not among them: it comes from the
/// transport.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Limits on messages read and sent (see [`Config::effective_limits`]).
    pub limits: Limits,
    /// The largest file sent or accepted.
    pub max_file_len: usize,
    /// How long to wait for all-or-nothing writes.
    pub copy_options: CopyOptions,
    /// After how many polls a stream stuck at the same box (a box that fails verification, a
    /// pointer to a substream that does not exist) is moved past, so a member sending such
    /// things cannot wedge our reading of their stream.
    pub stuck_polls_before_skip: u32,
    /// And for at least this long (so a chain whose boxes a slow courier is still storing is
    /// not skipped by a burst of polls).
    pub stuck_time_before_skip: Duration,
    /// The most members a group may have in our view: introductions, member lists and
    /// approvals beyond it are refused.
    pub max_group_members: usize,
    /// From this many members in our view on, a member's INTRODUCTION of a newcomer waits for
    /// the user's approval ([`crate::Chat::admit`]) instead of adding them at once.
    pub auto_admit_members: usize,
    /// The most boxes one poll reads of one stream (the default holds one message of the
    /// largest size); the rest waits for the next poll, so a member that floods its stream
    /// cannot make one poll fetch without end.
    pub max_boxes_per_stream_per_poll: usize,
    /// How long an invitation waits for an answer (ours to the invitee's request to join,
    /// theirs to ours) before it is forgotten.
    pub invitation_ttl: Duration,
}

impl Config {
    /// The limits applied to every stream read and every message sent: [`Config::limits`]
    /// with the message size bounded by the file cap plus 64 KiB for the rest of a message, so
    /// a peer cannot make us download more than a file we would keep.
    pub fn effective_limits(&self, geometry: Geometry) -> Limits {
        let max = self
            .limits
            .max_message_len
            .min(self.max_file_len.saturating_add(64 << 10));
        let slice = geometry.box_plaintext_len.saturating_sub(1).max(1);
        Limits {
            max_message_len: max,
            max_chain_boxes: self.limits.max_chain_boxes.min(max.div_ceil(slice) + 1),
        }
    }

    /// How many boxes a message of `len` bytes takes in boxes of `geometry`: one, or a chain
    /// and the box pointing at it.
    pub fn boxes_for(len: usize, geometry: Geometry) -> usize {
        match framing::chain_boxes(len, geometry) {
            Ok(0) | Err(_) => 1,
            Ok(chain) => chain + 1,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_file_len: files::DEFAULT_MAX_FILE_LEN,
            copy_options: CopyOptions::default(),
            stuck_polls_before_skip: 5,
            stuck_time_before_skip: Duration::from_secs(60),
            max_group_members: 500,
            auto_admit_members: 50,
            max_boxes_per_stream_per_poll: 8192,
            invitation_ttl: Duration::from_secs(14 * 24 * 3600),
        }
    }
}
