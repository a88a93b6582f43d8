//! The group lifecycle in the core, by plain calls: removal and leaving end what the departed
//! can read, roles decide who may do what, concurrent removals, joins and rotations converge
//! over hundreds of seeded interleavings, history visibility holds, and bad input changes
//! nothing.

mod sim;

use groupchat::channel::GroupId;
use groupchat::group::RotationPolicy;
use groupchat::messages::{Body, Rotate, SealedCaps, SealedEntry};
use groupchat::roster::{History, MemberId, Role};
use groupchat::Event;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::{
    connect, group_of, join, net, raw_post, settle, stolen_writer, texts_readable_with, Member, Net,
};

/// Everyone in `members` posts `"{tag} from {name}"`, then everyone polls.
async fn everyone_posts(net: &Net, members: &mut [Member], group: GroupId, tag: &str) {
    for m in members.iter_mut() {
        let text = format!("{tag} from {}", m.name);
        m.send(net, |c, r| c.post_text(r, &group, &text)).await;
    }
    settle(net, members).await;
}

/// Each member of `members` received the `tag` posts of all the others, and they agree on the
/// members and the membership hash.
fn converged(members: &[Member], group: GroupId, tag: &str) {
    let hash = members[0].chat.group_info(&group).unwrap().membership_hash;
    let ids = members[0].member_ids(&group);
    assert_eq!(ids.len(), members.len(), "{} counts", members[0].name);
    for m in members {
        assert_eq!(
            m.chat.group_info(&group).unwrap().membership_hash,
            hash,
            "{}",
            m.name
        );
        assert_eq!(m.member_ids(&group), ids, "{}", m.name);
        let texts: Vec<String> = m.texts(&group).into_iter().map(|(_, t)| t).collect();
        for other in members.iter().filter(|o| o.name != m.name) {
            let want = format!("{tag} from {}", other.name);
            assert!(
                texts.contains(&want),
                "{} lacks {want:?}: {texts:?}",
                m.name
            );
        }
    }
}

/// `gone` reads none of the `tag` posts, neither through its client nor with every reader
/// state it ever held.
async fn reads_nothing_after(net: &Net, gone: &Member, group: GroupId, tag: &str) {
    let seen: Vec<String> = gone.texts(&group).into_iter().map(|(_, t)| t).collect();
    assert!(!seen.iter().any(|t| t.starts_with(tag)), "{seen:?}");
    let stolen = texts_readable_with(net, &gone.readers_ever).await;
    assert!(
        !stolen.iter().any(|t| t.starts_with(tag)),
        "with every cap it held, {} reads {stolen:?}",
        gone.name
    );
    assert!(
        stolen.iter().any(|t| t.starts_with("before")),
        "the caps it held do read what was before"
    );
}

#[tokio::test]
async fn a_removed_member_reads_nothing_the_others_write_afterwards() {
    let net = net();
    let (mut members, group) = group_of(&net, &["owner", "ann", "bob", "xan"], 1).await;
    everyone_posts(&net, &mut members, group, "before").await;
    let xan = members[3].id_in(&group);
    members[0]
        .send(&net, |c, r| c.remove(r, &group, &xan))
        .await;
    settle(&net, &mut members).await;
    let gone = members.pop().unwrap();
    assert!(gone.events.iter().any(|e| matches!(
        e,
        Event::RemovedUs { by_name, .. } if by_name == "owner"
    )));
    for m in &members {
        assert!(
            m.events
                .iter()
                .any(|e| matches!(e, Event::MemberRemoved { name, .. } if name == "xan"))
                || m.name == "owner",
            "{} is told",
            m.name
        );
        assert_eq!(
            m.chat.group_info(&group).unwrap().epoch,
            1,
            "{} rotated",
            m.name
        );
    }
    everyone_posts(&net, &mut members, group, "after").await;
    converged(&members, group, "after");
    reads_nothing_after(&net, &gone, group, "after").await;
}

/// Twelve members: each ROTATE carries more sealed caps than one box holds, so it names a
/// substream that lists them (the indexed form); removal still converges and shuts the removed
/// member out.
#[tokio::test]
async fn a_removal_in_a_group_too_big_for_inline_caps_converges() {
    let net = net();
    let names: Vec<String> = (0..12).map(|i| format!("m{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut members, group) = group_of(&net, &names, 7).await;
    everyone_posts(&net, &mut members, group, "before").await;
    let last = members[11].id_in(&group);
    members[0]
        .send(&net, |c, r| c.remove(r, &group, &last))
        .await;
    settle(&net, &mut members).await;
    let gone = members.pop().unwrap();
    for m in &members {
        assert_eq!(m.chat.group_info(&group).unwrap().epoch, 1, "{}", m.name);
    }
    everyone_posts(&net, &mut members, group, "after").await;
    converged(&members, group, "after");
    reads_nothing_after(&net, &gone, group, "after").await;
}

/// A rotation policy makes a member rotate by itself: after N of its messages, or after D days
/// on one stream; the others follow and read on.
#[tokio::test]
async fn a_rotation_policy_rotates_by_itself() {
    let net = net();
    let (mut members, group) = group_of(&net, &["owner", "ann"], 8).await;
    let policy = RotationPolicy {
        after_messages: Some(2),
        after_days: Some(3),
    };
    members[0].chat.set_rotation_policy(&group, policy).unwrap();
    let epoch = |m: &Member| m.chat.group_info(&group).unwrap().epoch;
    members[0]
        .send(&net, |c, r| c.post_text(r, &group, "first"))
        .await;
    settle(&net, &mut members).await;
    assert_eq!(epoch(&members[0]), 0, "one message is not yet two");
    members[0]
        .send(&net, |c, r| c.post_text(r, &group, "second"))
        .await;
    settle(&net, &mut members).await;
    assert_eq!(epoch(&members[0]), 1, "two messages rotate");
    // Days: nothing is due before three days have passed, then it is.
    members[0].now += 2 * 86_400_000;
    settle(&net, &mut members).await;
    assert_eq!(epoch(&members[0]), 1);
    members[0].now += 86_400_000;
    settle(&net, &mut members).await;
    assert_eq!(epoch(&members[0]), 2, "three days rotate");
    members[0]
        .send(&net, |c, r| c.post_text(r, &group, "third"))
        .await;
    settle(&net, &mut members).await;
    let got: Vec<String> = members[1]
        .texts(&group)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(got, ["first", "second", "third"]);
    // The others use no policy: they stay on their first stream.
    assert_eq!(epoch(&members[1]), 0);
}

#[tokio::test]
async fn a_member_that_leaves_reads_nothing_the_others_write_afterwards() {
    let net = net();
    let (mut members, group) = group_of(&net, &["owner", "ann", "bob", "lea"], 2).await;
    everyone_posts(&net, &mut members, group, "before").await;
    members[3].send(&net, |c, r| c.leave(r, &group)).await;
    settle(&net, &mut members).await;
    let gone = members.pop().unwrap();
    assert!(!gone.chat.group_info(&group).unwrap().standing.is_member());
    for m in &members {
        assert!(m
            .events
            .iter()
            .any(|e| matches!(e, Event::MemberLeft { name, .. } if name == "lea")));
    }
    everyone_posts(&net, &mut members, group, "after").await;
    converged(&members, group, "after");
    reads_nothing_after(&net, &gone, group, "after").await;
}

fn refused(m: &Member) -> Vec<String> {
    m.events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { request, .. } => Some(request.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn roles_decide_who_may_remove_and_set_roles() {
    let net = net();
    let (mut members, group) = group_of(&net, &["owner", "adm", "mem", "cat"], 3).await;
    let (adm, mem, cat) = (
        members[1].id_in(&group),
        members[2].id_in(&group),
        members[3].id_in(&group),
    );
    // The owner makes adm an admin; everyone sees it.
    members[0]
        .send(&net, |c, r| c.set_role(r, &group, &adm, Role::Admin))
        .await;
    settle(&net, &mut members).await;
    for m in &members {
        let info = m.chat.group_info(&group).unwrap();
        let role = info.members.iter().find(|x| x.id == adm).unwrap().role;
        assert_eq!(role, Role::Admin, "{}", m.name);
    }
    // A plain member may not remove, nor set roles: the core refuses it at once.
    assert!(members[2]
        .chat
        .remove(&mut ChaCha20Rng::seed_from_u64(0), &group, &cat)
        .is_err());
    // The admin's REMOVE is obeyed by every reader.
    members[1]
        .send(&net, |c, r| c.remove(r, &group, &cat))
        .await;
    settle(&net, &mut members).await;
    members.pop();
    for m in &members {
        assert!(!m.member_ids(&group).contains(&cat), "{}", m.name);
    }
    // A plain member that writes a REMOVE and a ROLE anyway is refused by every reader.
    let hostile = members.pop().unwrap();
    let mut writer = stolen_writer(&hostile, &group);
    let hash = hostile.chat.group_info(&group).unwrap().membership_hash;
    raw_post(&net, &mut writer, hash, Body::Remove(adm)).await;
    settle(&net, &mut members).await;
    raw_post(&net, &mut writer, hash, Body::SetRole(adm, Role::Member)).await;
    settle(&net, &mut members).await;
    for m in &members {
        let refusals = refused(m);
        assert_eq!(refusals.len(), 2, "{}: {refusals:?}", m.name);
        assert!(m.member_ids(&group).contains(&adm), "{}", m.name);
        assert!(m.member_ids(&group).contains(&mem), "{}", m.name);
        let info = m.chat.group_info(&group).unwrap();
        assert_eq!(
            info.members.iter().find(|x| x.id == adm).unwrap().role,
            Role::Admin
        );
    }
}

/// One unit of progress of a random member: one pending operation, one read round, or one
/// owed operation.
async fn random_steps(net: &Net, members: &mut [Member], rng: &mut ChaCha20Rng, steps: usize) {
    for _ in 0..steps {
        let i = (rng.next_u32() as usize) % members.len();
        let m = &mut members[i];
        match rng.next_u32() % 3 {
            0 => {
                if let Some(op) = m.chat.next_operation().unwrap() {
                    m.run(net, op.id).await;
                }
            }
            1 => {
                let mut progress = groupchat::chat::PollProgress::default();
                m.flush(net).await;
                m.round(net, &mut progress).await;
            }
            _ => {
                m.flush(net).await;
                m.owed(net).await;
            }
        }
    }
}

const SEEDS: u64 = 70;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_removals_at_once_converge_in_every_interleaving() {
    for seed in 0..SEEDS {
        let net = net();
        let (mut members, group) =
            group_of(&net, &["owner", "admin", "mid", "x1", "x2"], 1000 + seed).await;
        let admin = members[1].id_in(&group);
        members[0]
            .send(&net, |c, r| c.set_role(r, &group, &admin, Role::Admin))
            .await;
        settle(&net, &mut members).await;
        everyone_posts(&net, &mut members, group, "before").await;
        let (x1, x2) = (members[3].id_in(&group), members[4].id_in(&group));
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        // Both removals are queued before either remover reads the other's.
        for (m, x) in members.iter_mut().zip([x1, x2]) {
            m.chat.remove(&mut m.rng, &group, &x).unwrap();
        }
        random_steps(&net, &mut members, &mut rng, 40).await;
        settle(&net, &mut members).await;
        let gone2 = members.pop().unwrap();
        let gone1 = members.pop().unwrap();
        everyone_posts(&net, &mut members, group, "after").await;
        converged(&members, group, "after");
        reads_nothing_after(&net, &gone1, group, "after").await;
        reads_nothing_after(&net, &gone2, group, "after").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_while_two_members_rotate_converges_in_every_interleaving() {
    for seed in 0..SEEDS {
        let net = net();
        let (mut members, group) = group_of(&net, &["owner", "ann", "bob"], 2000 + seed).await;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        for m in members.iter_mut().skip(1) {
            m.chat.rotate(&mut m.rng, &group).unwrap();
        }
        let mut new = Member::new("new", 2000 + seed * 7);
        connect(&mut members[0], "new", &mut new, "owner");
        // The join flow, step by step, with the others' rotations anywhere in between.
        members[0]
            .send(&net, |c, r| c.invite(r, &group, "new"))
            .await;
        random_steps(&net, &mut members, &mut rng, 5).await;
        new.poll(&net).await;
        new.send(&net, |c, r| c.accept_invitation(r, &group, "new"))
            .await;
        random_steps(&net, &mut members, &mut rng, 5).await;
        members[0].poll(&net).await;
        members[0]
            .send(&net, |c, r| c.approve(r, &group, "new"))
            .await;
        random_steps(&net, &mut members, &mut rng, 5).await;
        new.poll(&net).await;
        members.push(new);
        settle(&net, &mut members).await;
        everyone_posts(&net, &mut members, group, "after").await;
        converged(&members, group, "after");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_offline_through_three_rotations_catches_up_in_every_interleaving() {
    for seed in 0..SEEDS {
        let net = net();
        let (mut members, group) = group_of(&net, &["owner", "ann", "off"], 3000 + seed).await;
        let mut offline = members.pop().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        for round in 0..3 {
            for m in members.iter_mut() {
                let text = format!("round {round} from {}", m.name);
                m.send(&net, |c, r| c.post_text(r, &group, &text)).await;
                m.chat.rotate(&mut m.rng, &group).unwrap();
            }
            random_steps(&net, &mut members, &mut rng, 6).await;
            settle(&net, &mut members).await;
        }
        for m in &members {
            assert_eq!(m.chat.group_info(&group).unwrap().epoch, 3, "{}", m.name);
        }
        offline.poll(&net).await;
        offline.poll(&net).await;
        let texts: Vec<String> = offline.texts(&group).into_iter().map(|(_, t)| t).collect();
        for round in 0..3 {
            for name in ["owner", "ann"] {
                let want = format!("round {round} from {name}");
                assert!(texts.contains(&want), "seed {seed}: {want:?} in {texts:?}");
            }
        }
        members.push(offline);
        everyone_posts(&net, &mut members, group, "after").await;
        converged(&members, group, "after");
    }
}

async fn newcomer_reads(history: History, seed: u64) -> Vec<String> {
    let net = net();
    let mut owner = Member::new("owner", seed);
    let mut ann = Member::new("ann", seed + 1);
    let mut new = Member::new("new", seed + 2);
    let group = owner
        .chat
        .create_group(&mut owner.rng, "g", "owner", history, 1)
        .unwrap();
    connect(&mut owner, "ann", &mut ann, "owner");
    join(&net, &mut owner, "ann", &mut ann, group, "ann").await;
    let mut members = vec![owner, ann];
    settle(&net, &mut members).await;
    everyone_posts(&net, &mut members, group, "before").await;
    connect(&mut members[0], "new", &mut new, "owner");
    join(&net, &mut members[0], "new", &mut new, group, "new").await;
    members.push(new);
    settle(&net, &mut members).await;
    everyone_posts(&net, &mut members, group, "after").await;
    converged(&members, group, "after");
    let new = members.pop().unwrap();
    let mut texts: Vec<String> = new.texts(&group).into_iter().map(|(_, t)| t).collect();
    texts.extend(texts_readable_with(&net, &new.readers_ever).await);
    texts
}

#[tokio::test]
async fn a_newcomer_reads_history_as_the_group_says() {
    let from_joining = newcomer_reads(History::FromJoining, 40).await;
    assert!(
        !from_joining.iter().any(|t| t.starts_with("before")),
        "{from_joining:?}"
    );
    assert!(from_joining.iter().any(|t| t.starts_with("after")));
    let shared = newcomer_reads(History::Shared, 50).await;
    for name in ["owner", "ann"] {
        assert!(
            shared.contains(&format!("before from {name}")),
            "{shared:?}"
        );
    }
}

#[tokio::test]
async fn bad_lifecycle_input_is_reported_and_changes_nothing() {
    let net = net();
    let (mut members, group) = group_of(&net, &["owner", "ann", "bad"], 5).await;
    let (owner, ann) = (members[0].id_in(&group), members[1].id_in(&group));
    let hostile = members.pop().unwrap();
    let mut writer = stolen_writer(&hostile, &group);
    let hash = hostile.chat.group_info(&group).unwrap().membership_hash;
    let stranger = MemberId([9; 32]);
    let epoch = 1;
    for body in [
        // A ROTATE whose entry for us does not open, and one with more entries than members.
        Body::Rotate(Rotate {
            epoch,
            caps: SealedCaps::Inline(vec![SealedEntry {
                member: owner,
                sealed: vec![7; 184],
            }]),
        }),
        Body::Rotate(Rotate {
            epoch,
            caps: SealedCaps::Inline(
                (0..5)
                    .map(|i| SealedEntry {
                        member: MemberId([i; 32]),
                        sealed: vec![1; 184],
                    })
                    .collect(),
            ),
        }),
        // A REMOVE of an unknown member, a ROLE for oneself, a DELETE from a non-owner.
        Body::Remove(stranger),
        Body::SetRole(hostile.id_in(&group), Role::Admin),
        Body::Delete,
    ] {
        raw_post(&net, &mut writer, hash, body).await;
        settle(&net, &mut members).await;
    }
    // A message of ours among garbage fields: the stream stays readable after all of it.
    raw_post(&net, &mut writer, hash, Body::Text("still here".into())).await;
    settle(&net, &mut members).await;
    for m in &members {
        let info = m.chat.group_info(&group).unwrap();
        assert!(info.standing.is_member(), "{}", m.name);
        assert_eq!(info.members.len(), 3, "{}", m.name);
        assert!(m.member_ids(&group).contains(&owner) && m.member_ids(&group).contains(&ann));
        let problems = m
            .events
            .iter()
            .filter(|e| matches!(e, Event::Problem { .. } | Event::Refused { .. }))
            .count();
        assert!(problems >= 5, "{}: {problems} reported", m.name);
        assert!(
            m.texts(&group).iter().any(|(_, t)| t == "still here"),
            "{}",
            m.name
        );
    }
    everyone_posts(&net, &mut members, group, "after").await;
}

#[tokio::test]
async fn deletion_stops_every_member_and_tombstones_their_boxes() {
    let net = net();
    let (mut members, group) = group_of(&net, &["owner", "ann", "bob"], 6).await;
    everyone_posts(&net, &mut members, group, "before").await;
    let readable: Vec<Vec<u8>> = members
        .iter()
        .flat_map(|m| m.readers_ever.clone())
        .collect();
    let before: std::collections::BTreeSet<String> = texts_readable_with(&net, &readable)
        .await
        .into_iter()
        .filter(|t| t.starts_with("before"))
        .collect();
    assert_eq!(before.len(), 3, "every post is readable: {before:?}");
    // A member may not delete; the owner may.
    assert!(members[1]
        .chat
        .delete(&mut ChaCha20Rng::seed_from_u64(1), &group)
        .is_err());
    members[0].send(&net, |c, r| c.delete(r, &group)).await;
    settle(&net, &mut members).await;
    for m in members.iter_mut() {
        let info = m.chat.group_info(&group).unwrap();
        assert!(!info.standing.is_member(), "{}", m.name);
        assert_eq!(
            m.chat.poll_reads().reads().len(),
            m.chat.channels().len(),
            "{} reads its channels only",
            m.name
        );
        assert!(m
            .chat
            .post_text(&mut ChaCha20Rng::seed_from_u64(2), &group, "x")
            .is_err());
        assert_eq!(m.chat.pending_count(), 0, "{}: boxes tombstoned", m.name);
    }
    for m in &members[1..] {
        assert!(m
            .events
            .iter()
            .any(|e| matches!(e, Event::GroupDeleted { by_name, .. } if by_name == "owner")));
    }
    assert!(
        texts_readable_with(&net, &readable).await.is_empty(),
        "every box before the DELETE is a tombstone"
    );
}
