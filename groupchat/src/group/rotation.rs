//! Moving our stream: a ROTATE as the last message of our current stream, with the ReadCap of a
//! fresh stream sealed to every member we still count, and a KEY with a fresh sealing key as the
//! first message of the new one, both in one AllOrNothing. Once it landed the old WriteCap and
//! every sealing key no member can still seal to are forgotten.

use bacap::{Geometry, StatefulWriter, WriteCap};
use pigeonhole::stream::{framing, AllOrNothingPlan, Limits, StreamError, StreamWrite};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::{group_ctx, Group};
use crate::error::Error;
use crate::messages::{
    encode_sealed_entries, Body, GroupChatMessage, MemberReadCap, Rotate, SealedCaps, SealedEntry,
};
use crate::roster::MemberId;
use crate::sealed::{seal_read_cap, SealingKeyPair, SealingPublicKey};

/// The stream a queued rotation moves us to.
pub(crate) struct NextStream {
    /// Its writer, at its first index.
    pub writer: StatefulWriter,
    /// The sealing key its KEY publishes.
    pub key: SealingKeyPair,
    /// Its epoch.
    pub epoch: u64,
}

/// A prepared rotation.
pub(crate) struct Prepared {
    /// Our stream (the messages before the ROTATE, and the ROTATE), then the new stream (its
    /// KEY).
    pub plan: AllOrNothingPlan,
    /// The members we count whose sealing key we do not know: they do not get the new cap.
    pub missing: Vec<MemberId>,
}

/// Packs `entries` (sorted by member) into `F` boxes of at most
/// [`SealedCaps::MAX_PER_BOX`] entries each, and lists each box's first member.
fn pack_entries(
    entries: &[SealedEntry],
    geometry: Geometry,
) -> (Vec<Zeroizing<Vec<u8>>>, Vec<crate::roster::MemberId>) {
    // Strictly less: the box also holds the one-byte `F` prefix.
    let fits = |n: &[SealedEntry]| encode_sealed_entries(n).len() < geometry.box_plaintext_len;
    let mut boxes = Vec::new();
    let mut index = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = start + 1;
        while end < entries.len()
            && end - start < SealedCaps::MAX_PER_BOX
            && fits(&entries[start..=end])
        {
            end += 1;
        }
        let mut framed = vec![framing::PREFIX_FINAL];
        framed.extend(encode_sealed_entries(&entries[start..end]));
        boxes.push(Zeroizing::new(framed));
        index.push(entries[start].member);
        start = end;
    }
    (boxes, index)
}

impl Group {
    /// Prepares our move to a fresh stream: `before` (a REMOVE, say) and the ROTATE on our
    /// stream, sealed to every member we count but `excluded`, and a KEY on the new stream.
    /// Records the new stream in [`Group::next`]; writes nothing.
    pub fn prepare_rotation<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        before: Vec<Body>,
        excluded: &[MemberId],
        geometry: Geometry,
        limits: &Limits,
    ) -> Result<Prepared, Error> {
        let epoch = self.epoch + 1;
        let writer = StatefulWriter::new(WriteCap::generate(rng), &group_ctx(&self.id));
        let key = SealingKeyPair::generate(rng);
        let cap = writer.cap().read_cap();
        let mut caps = Vec::new();
        let mut missing = Vec::new();
        for (id, m) in &self.members {
            if *id == self.me || excluded.contains(id) {
                continue;
            }
            match m.key {
                Some(k) => caps.push(SealedEntry {
                    member: *id,
                    sealed: seal_read_cap(rng, &SealingPublicKey(k), &self.id, epoch, &cap)?
                        .to_vec(),
                }),
                None => missing.push(*id),
            }
        }
        let hash = self.membership_hash_with(excluded, None);
        let encode = |caps: SealedCaps, before: &[Body]| {
            let mut old = Vec::new();
            for body in before
                .iter()
                .cloned()
                .chain([Body::Rotate(Rotate { epoch, caps })])
            {
                old.extend(GroupChatMessage::new(hash, body).to_cbor());
            }
            old
        };
        let new = GroupChatMessage::new(hash, Body::Key(key.public().0)).to_cbor();
        let inline = encode(SealedCaps::Inline(caps.clone()), &before);
        let fits = framing::chain_boxes(inline.len(), geometry).map_err(StreamError::from)? == 0;
        let plan = if fits {
            AllOrNothingPlan::for_messages(
                rng,
                geometry,
                limits,
                vec![
                    (self.writer.clone(), &inline[..]),
                    (writer.clone(), &new[..]),
                ],
            )?
        } else {
            // Too many to read whole: each member fetches the one box with its entry.
            let sub = StatefulWriter::new(WriteCap::generate(rng), &group_ctx(&self.id));
            let (boxes, index) = pack_entries(&caps, geometry);
            let stream = MemberReadCap::from_slice(&sub.cap().read_cap().to_bytes()[..])?;
            let old = encode(SealedCaps::Indexed { stream, index }, &before);
            AllOrNothingPlan::for_messages_after(
                rng,
                geometry,
                limits,
                vec![StreamWrite {
                    writer: sub,
                    plaintexts: boxes,
                }],
                vec![(self.writer.clone(), &old[..]), (writer.clone(), &new[..])],
            )?
        };
        self.next = Some(NextStream { writer, key, epoch });
        Ok(Prepared { plan, missing })
    }

    /// Our rotation landed: `writer` (the new stream's, advanced past its KEY) is ours now, the
    /// old WriteCap is forgotten, and so is every sealing key no member can still seal to.
    pub fn complete_rotation(
        &mut self,
        writer: StatefulWriter,
        missing: Vec<MemberId>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let next = self
            .next
            .take()
            .ok_or_else(|| Error::corrupt("group", "a rotation landed that was not queued"))?;
        self.writer = writer;
        self.epoch = next.epoch;
        if let Some(me) = self.members.get_mut(&self.me) {
            me.key = Some(next.key.public().0);
            me.epoch = next.epoch;
        }
        self.keys.push(next.key);
        self.owe_rotation = false;
        self.missing_cap = missing.into_iter().collect();
        self.posted_since_rotation = 0;
        self.rotated_at_ms = now_ms;
        self.retire_keys();
        Ok(())
    }

    /// Forgets our sealing keys older than the oldest one some member may still seal to: the
    /// one its latest ROTATE used, or any of ours while it has sent none. Returns whether one
    /// went.
    pub fn retire_keys(&mut self) -> bool {
        let position = |k: &[u8; 32]| self.keys.iter().position(|ours| ours.public().0 == *k);
        let oldest_needed = self
            .members
            .iter()
            .filter(|(id, _)| **id != self.me)
            .map(|(_, m)| m.key_used.as_ref().and_then(position).unwrap_or(0))
            .min()
            .unwrap_or(self.keys.len().saturating_sub(1));
        if oldest_needed == 0 {
            return false;
        }
        self.keys.drain(..oldest_needed);
        true
    }

    /// Whether our rotation policy says the current stream is due to rotate.
    pub fn rotation_due(&self, now_ms: u64) -> bool {
        let by_messages = self
            .policy
            .after_messages
            .is_some_and(|n| self.posted_since_rotation >= n);
        let by_days = self.policy.after_days.is_some_and(|d| {
            now_ms.saturating_sub(self.rotated_at_ms) >= u64::from(d) * 86_400_000
        });
        by_messages || by_days
    }
}
