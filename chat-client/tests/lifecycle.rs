//! The lifecycle through the client and its RocksDB state: a removal (REMOVE and rotation in one
//! AllOrNothing) killed at every store step lands exactly once and never hands the new cap to
//! the removed member, and after rotations the profile's files hold neither the old WriteCap
//! nor a sealing key no one can still seal to.

mod common;

use chat_client::Client;
use common::{connect, join, memory_store, settle, texts, transport, FailMode, Flaky, Profile};
use groupchat::channel::GroupId;
use groupchat::records::GroupRecord;
use groupchat::roster::MemberId;
use groupchat::Event;

/// The group record of `group` as `profile` stored it.
fn group_record(profile: &Profile, group: &GroupId) -> GroupRecord {
    let db = chat_client::storage::Storage::open(&profile.path()).unwrap();
    let value = db.get(&groupchat::keys::group(&group.0)).unwrap().unwrap();
    groupchat::records::decode("group", &value).unwrap()
}

/// Alice (the owner), bob, carol and dave in one group, everyone having read everyone.
async fn four(store: &std::sync::Arc<dyn pigeonhole::store::BoxStore>) -> (Vec<Profile>, GroupId) {
    let profiles: Vec<Profile> = (0..4).map(|_| Profile::new()).collect();
    let mut clients: Vec<Client> = profiles.iter().map(|p| p.open(store)).collect();
    let group = clients[0].create_group("g", "alice").unwrap();
    let (alice, rest) = clients.split_first_mut().unwrap();
    for (c, name) in rest.iter_mut().zip(["bob", "carol", "dave"]) {
        connect(alice, name, c, "alice");
        join(alice, name, c, group, name).await;
    }
    for c in clients.iter_mut() {
        settle(c).await;
    }
    for c in clients.iter_mut() {
        settle(c).await;
    }
    (profiles, group)
}

fn member_id(c: &Client, group: &GroupId, name: &str) -> MemberId {
    c.group_info(group)
        .unwrap()
        .members
        .into_iter()
        .find(|m| m.name == name)
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_killed_at_every_store_step_lands_exactly_once() {
    let mut resumed = 0;
    for mode in [FailMode::Before, FailMode::After] {
        for budget in 0..14 {
            let store = memory_store();
            let (profiles, group) = four(&store).await;
            let dave = member_id(&profiles[0].open(&store), &group, "dave");
            {
                let mut killed = Client::open(
                    &profiles[0].path(),
                    transport(&Flaky::store(&store, budget, mode)),
                )
                .unwrap();
                let _ = killed.remove(&group, &dave).await;
            }
            let mut alice = profiles[0].open(&store);
            resumed += alice.pending_count();
            alice.poll().await.unwrap();
            assert_eq!(alice.pending_count(), 0);
            if alice
                .group_info(&group)
                .unwrap()
                .members
                .iter()
                .any(|m| m.id == dave)
            {
                // The kill came before anything was stored: remove again, as the user would.
                alice.remove(&group, &dave).await.unwrap();
            }
            let info = alice.group_info(&group).unwrap();
            assert_eq!(info.epoch, 1, "{mode:?} {budget}: exactly one rotation");
            assert_eq!(info.members.len(), 3);
            alice.post_text(&group, "after").await.unwrap();
            // The others follow alice's one rotation and read her post; dave learns he was
            // removed and reads nothing more.
            for (i, p) in profiles.iter().enumerate().skip(1) {
                let mut c = p.open(&store);
                let events = settle(&mut c).await;
                let got = texts(&c, &group).contains(&("alice".into(), "after".into()));
                if i == 3 {
                    assert!(!got, "{mode:?} {budget}: dave read the post");
                    assert!(events.iter().any(|e| matches!(e, Event::RemovedUs { .. })));
                } else {
                    assert!(got, "{mode:?} {budget}: member {i} lacks the post");
                    let rotations = events
                        .iter()
                        .filter(|e| matches!(e, Event::Rotated { member, .. } if *member == info.members.iter().find(|m| m.is_me).unwrap().id))
                        .count();
                    assert_eq!(rotations, 1, "{mode:?} {budget}: {events:?}");
                }
            }
            // The rotation sealed its cap to bob and carol only.
            drop(alice);
            let rec = group_record(&profiles[0], &group);
            assert!(rec.members.iter().all(|m| m.member != dave.0.to_vec()));
        }
    }
    assert!(resumed > 0, "some kill left the rotation pending");
}

/// Whether `needle` appears in any file under `dir`.
fn found_in_files(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(entry);
        }
    }
    hits
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_rotations_the_profile_holds_no_old_write_cap_and_no_retired_sealing_key() {
    let store = memory_store();
    let (pa, pb) = (Profile::new(), Profile::new());
    let (mut a, mut b) = (pa.open(&store), pb.open(&store));
    let group = a.create_group("g", "alice").unwrap();
    connect(&mut a, "bob", &mut b, "alice");
    join(&mut a, "bob", &mut b, group, "bob").await;
    settle(&mut b).await;
    a.post_text(&group, "one").await.unwrap();
    drop(a);
    let before = group_record(&pa, &group);
    let old_seed = before.writer[1..33].to_vec();
    let old_key = before.keys[..32].to_vec();
    let mut a = pa.open(&store);
    a.rotate(&group).await.unwrap();
    // Bob follows alice's rotation and rotates too, sealing to alice's new key: no one can
    // seal to her old one any more.
    settle(&mut b).await;
    b.rotate(&group).await.unwrap();
    settle(&mut a).await;
    a.post_text(&group, "two").await.unwrap();
    b.post_text(&group, "three").await.unwrap();
    settle(&mut a).await;
    settle(&mut b).await;
    assert!(texts(&b, &group).contains(&("alice".into(), "two".into())));
    assert!(texts(&a, &group).contains(&("bob".into(), "three".into())));
    drop(a);
    let after = group_record(&pa, &group);
    assert_eq!(after.keys.len(), 32, "one sealing key left");
    assert_ne!(after.writer[1..33], old_seed[..]);
    assert!(
        found_in_files(&pa.path(), &old_seed).is_empty(),
        "the old WriteCap's seed is in {:?}",
        found_in_files(&pa.path(), &old_seed)
    );
    assert!(
        found_in_files(&pa.path(), &old_key).is_empty(),
        "the old sealing key is in {:?}",
        found_in_files(&pa.path(), &old_key)
    );
}
