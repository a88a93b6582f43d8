//! A small world for driving `Chat`s by plain calls: profiles over one in-memory store, the
//! operations they ask for run at once, and what each saw kept for the test to check.
#![allow(dead_code)]

use bacap::StatefulWriter;
use groupchat::channel::GroupId;
use groupchat::chat::{Chat, OpId, PollProgress, Write, Written};
use groupchat::records::{Content, GroupRecord};
use groupchat::roster::MemberId;
use groupchat::{Config, Event};
use pigeonhole::store::MemoryStore;
use pigeonhole::stream::StreamError;
use pigeonhole::transport::{Sealing, Transport};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The network every profile of a test shares.
pub type Net = Sealing<MemoryStore>;

/// A fresh network.
pub fn net() -> Net {
    Sealing::new(MemoryStore::default())
}

/// One profile and what it saw.
pub struct Member {
    pub name: String,
    pub chat: Chat,
    pub rng: ChaCha20Rng,
    pub now: u64,
    /// Every event its polls returned.
    pub events: Vec<Event>,
    /// The group records it stored last, by group.
    pub records: Vec<(GroupId, GroupRecord)>,
    /// Every reader state of a member's stream it ever stored (what a thief of its state at
    /// any time would hold).
    pub readers_ever: Vec<Vec<u8>>,
    /// Every record it stores now, by key, as the client's database would hold them.
    pub state: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Member {
    pub fn new(name: &str, seed: u64) -> Self {
        let dir = std::env::temp_dir().join(format!("sim-{name}-{seed}"));
        Self {
            name: name.into(),
            chat: Chat::load(
                Config::default(),
                bacap::Geometry::default(),
                &dir,
                Vec::new(),
                1,
            )
            .unwrap(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            now: 1_000,
            events: Vec::new(),
            records: Vec::new(),
            readers_ever: Vec::new(),
            state: Default::default(),
        }
    }

    /// Takes the core's changes as the client would store them, keeping the group records.
    pub fn store(&mut self) {
        let changes = self.chat.take_changes();
        for (k, v) in changes.puts {
            self.state.insert(k.clone(), v.to_vec());
            if let Some(id) = k.strip_prefix(b"group/") {
                let id = GroupId(id.try_into().unwrap());
                let rec: GroupRecord = groupchat::records::decode("group", &v).unwrap();
                for m in &rec.members {
                    if !m.reader.is_empty() && !self.readers_ever.contains(&m.reader) {
                        self.readers_ever.push(m.reader.clone());
                    }
                }
                self.records.retain(|(g, _)| *g != id);
                self.records.push((id, rec));
            }
        }
        // The client applies a batch's deletes after its puts.
        for k in &changes.deletes {
            self.state.remove(k);
        }
    }

    /// Runs operation `id` over `net` and takes its outcome.
    pub async fn run(&mut self, net: &Net, id: OpId) -> Written {
        self.store();
        let op = self.chat.operation(id).unwrap();
        let options = self.chat.config().copy_options;
        let outcome: Result<Vec<StatefulWriter>, StreamError> = match op.write {
            Write::Message(out) => out.execute(net, options).await.map(|w| vec![w]),
            Write::AllOrNothing(plan) => plan.execute(net, options).await,
            Write::Tombstones { from, count } => {
                let mut w = from;
                for _ in 0..count {
                    net.tombstone(&w).await.unwrap();
                    w.advance().unwrap();
                }
                Ok(Vec::new())
            }
        };
        self.now += 1;
        let written = self.chat.handle_written(id, outcome, self.now).unwrap();
        self.store();
        written
    }

    /// Runs every pending operation, oldest first.
    pub async fn flush(&mut self, net: &Net) {
        while let Some(op) = self.chat.next_operation().unwrap() {
            assert!(
                matches!(self.run(net, op.id).await, Written::Landed),
                "{}'s operation did not land",
                self.name
            );
        }
    }

    /// One read round; returns whether a stream moved.
    pub async fn round(&mut self, net: &Net, progress: &mut PollProgress) -> bool {
        let round = self.chat.poll_reads();
        if round.is_empty() {
            return false;
        }
        let contents = net.read_many(round.reads()).await.unwrap();
        self.now += 1;
        let (moved, found) = self
            .chat
            .handle_reads(round, &contents, progress, self.now)
            .unwrap();
        self.events.extend(found);
        self.store();
        moved
    }

    /// Queues and runs one owed operation; returns whether there was one.
    pub async fn owed(&mut self, net: &Net) -> bool {
        let Some(op) = self.chat.queue_owed(&mut self.rng, self.now).unwrap() else {
            return false;
        };
        assert!(matches!(self.run(net, op).await, Written::Landed));
        true
    }

    /// Polls as the client does: pending operations, read rounds while streams move, then
    /// what the groups owe; returns whether anything happened.
    pub async fn poll(&mut self, net: &Net) -> bool {
        let mut anything = false;
        self.flush(net).await;
        let mut progress = PollProgress::default();
        while self.round(net, &mut progress).await {
            anything = true;
        }
        while self.owed(net).await {
            anything = true;
        }
        anything
    }

    /// Runs `queue` (a command) and its operation.
    pub async fn send(
        &mut self,
        net: &Net,
        queue: impl FnOnce(&mut Chat, &mut ChaCha20Rng) -> Result<OpId, groupchat::Error>,
    ) {
        self.flush(net).await;
        let op = queue(&mut self.chat, &mut self.rng).unwrap();
        assert!(matches!(self.run(net, op).await, Written::Landed));
    }

    /// The texts this member received in `group`, as `(sender name, text)`.
    pub fn texts(&self, group: &GroupId) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::GroupMessage { group: g, entry } if g == group => match &entry.content {
                    Content::Text(t) => Some((entry.sender_name.clone(), t.clone())),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Our member ID in `group`.
    pub fn id_in(&self, group: &GroupId) -> MemberId {
        let info = self.chat.group_info(group).unwrap();
        info.members
            .iter()
            .find(|m| m.is_me)
            .map(|m| m.id)
            .or_else(|| {
                self.records
                    .iter()
                    .find(|(g, _)| g == group)
                    .map(|(_, r)| MemberId::from_slice(&r.me).unwrap())
            })
            .unwrap()
    }

    /// The IDs of the members we count in `group`.
    pub fn member_ids(&self, group: &GroupId) -> Vec<MemberId> {
        let mut ids: Vec<_> = self
            .chat
            .group_info(group)
            .unwrap()
            .members
            .iter()
            .map(|m| m.id)
            .collect();
        ids.sort();
        ids
    }
}

/// Bootstraps a channel between `a` (calling it `a_label`) and `b` (`b_label`).
pub fn connect(a: &mut Member, a_label: &str, b: &mut Member, b_label: &str) {
    let ta = a.chat.make_channel(&mut a.rng, a_label).unwrap();
    let tb = b.chat.accept_channel(&mut b.rng, b_label, &ta).unwrap();
    a.chat.accept_channel(&mut a.rng, a_label, &tb).unwrap();
    a.store();
    b.store();
}

/// `introducer` invites `invitee` (its channel `label`) to `group`, who joins as `name`.
pub async fn join(
    net: &Net,
    introducer: &mut Member,
    label: &str,
    invitee: &mut Member,
    group: GroupId,
    name: &str,
) {
    introducer
        .send(net, |c, r| c.invite(r, &group, label))
        .await;
    invitee.poll(net).await;
    invitee
        .send(net, |c, r| c.accept_invitation(r, &group, name))
        .await;
    introducer.poll(net).await;
    introducer
        .send(net, |c, r| c.approve(r, &group, label))
        .await;
    invitee.poll(net).await;
    assert!(
        invitee
            .events
            .iter()
            .any(|e| matches!(e, Event::Joined { group: g, .. } if *g == group)),
        "{} joined",
        invitee.name
    );
}

/// A group of `names[0]` (its owner) and the others, each joined through the owner; everyone
/// has read everyone.
pub async fn group_of(net: &Net, names: &[&str], seed: u64) -> (Vec<Member>, GroupId) {
    let mut members: Vec<Member> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Member::new(n, seed * 100 + i as u64))
        .collect();
    let (owner, rest) = members.split_first_mut().unwrap();
    let group = owner
        .chat
        .create_group(
            &mut owner.rng,
            "g",
            names[0],
            groupchat::roster::History::Shared,
            1,
        )
        .unwrap();
    owner.store();
    for m in rest.iter_mut() {
        let (ol, ml) = (m.name.clone(), owner.name.clone());
        connect(owner, &ol, m, &ml);
        join(net, owner, &ol, m, group, &ol).await;
    }
    settle(net, &mut members).await;
    (members, group)
}

/// Polls everyone until nobody moves (at most `rounds` passes).
pub async fn settle(net: &Net, members: &mut [Member]) {
    for _ in 0..20 {
        let mut anything = false;
        for m in members.iter_mut() {
            anything |= m.poll(net).await;
        }
        if !anything {
            return;
        }
    }
    panic!("the group did not settle");
}

/// Every text a thief holding these reader states reads, following each stream as far as it
/// goes (a ROTATE whose cap it cannot open ends it).
pub async fn texts_readable_with(net: &Net, readers: &[Vec<u8>]) -> Vec<String> {
    use groupchat::messages::{Body, GroupChatMessage};
    use pigeonhole::stream::StreamReader;
    let mut texts = Vec::new();
    for state in readers {
        let mut reader = StreamReader::from_bytes(state).unwrap();
        loop {
            match reader.poll(net).await {
                Ok(Some(bytes)) => {
                    for msg in GroupChatMessage::decode_sequence(&bytes)
                        .into_iter()
                        .flatten()
                    {
                        if let Body::Text(t) = msg.body {
                            texts.push(t);
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    if reader.skip().is_err() {
                        break;
                    }
                }
            }
        }
    }
    texts
}

/// A member's writer of `group` as its client last stored it, to write behind the client's
/// back as a member that misbehaves would (the client's writer is left behind: that member's
/// client writes no more).
pub fn stolen_writer(member: &Member, group: &GroupId) -> StatefulWriter {
    let rec = &member.records.iter().find(|(g, _)| g == group).unwrap().1;
    StatefulWriter::from_bytes(&rec.writer).unwrap()
}

/// Writes `body` at `writer`'s next box and moves it on.
pub async fn raw_post(
    net: &Net,
    writer: &mut StatefulWriter,
    hash: groupchat::membership::MembershipHash,
    body: groupchat::messages::Body,
) {
    use groupchat::messages::GroupChatMessage;
    let mut framed = vec![b'F'];
    framed.extend(GroupChatMessage::new(hash, body).to_cbor());
    let outcome = net.write(writer, &framed).await.unwrap();
    assert_eq!(outcome, pigeonhole::store::WriteOutcome::Stored);
    writer.advance().unwrap();
}
