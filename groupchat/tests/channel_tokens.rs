//! Mistakes with channel tokens: accepting one of our own, or a peer's token a second time
//! under another label, is refused with a line that names the channel concerned.

use bacap::Geometry;
use groupchat::chat::Chat;
use groupchat::{Config, Error};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn chat(name: &str) -> Chat {
    let dir = std::env::temp_dir().join(format!("channel-tokens-{name}"));
    Chat::load(Config::default(), Geometry::default(), &dir, Vec::new(), 1).unwrap()
}

#[test]
fn our_own_token_is_refused_whatever_the_label() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut alice = chat("alice-own");
    let mut bob = chat("bob-own");
    let to_bob = alice.make_channel(&mut rng, "bob").unwrap();
    // Under its own label, before and after the channel is open, and under any other label.
    for label in ["bob", "carol", "b0b"] {
        let err = alice.accept_channel(&mut rng, label, &to_bob).unwrap_err();
        assert!(
            matches!(&err, Error::OwnToken(of) if of == "bob"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "that is our own token, of channel \"bob\": give it to the peer, and accept the \
             peer's token"
        );
    }
    // A refused token makes no channel.
    assert_eq!(alice.channels(), [("bob".to_owned(), false)]);

    // The token of a channel we started by accepting the peer's is ours as well.
    let to_alice = bob.accept_channel(&mut rng, "alice", &to_bob).unwrap();
    alice.accept_channel(&mut rng, "bob", &to_alice).unwrap();
    for label in ["alice", "dave"] {
        let err = bob.accept_channel(&mut rng, label, &to_alice).unwrap_err();
        assert!(
            matches!(&err, Error::OwnToken(of) if of == "alice"),
            "{err:?}"
        );
    }
    assert_eq!(
        alice.channels(),
        [("bob".to_owned(), true)],
        "alice's channel is open"
    );
    assert_eq!(bob.channels(), [("alice".to_owned(), true)]);
}

#[test]
fn a_token_accepted_under_one_label_is_refused_under_another() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut alice = chat("alice-twice");
    let mut bob = chat("bob-twice");
    let to_bob = alice.make_channel(&mut rng, "bob").unwrap();
    bob.accept_channel(&mut rng, "alice", &to_bob).unwrap();
    // The same token again under the same label is no mistake: the channel is open.
    bob.accept_channel(&mut rng, "alice", &to_bob).unwrap();
    // Under another label, new or existing, it is.
    bob.make_channel(&mut rng, "carol").unwrap();
    for label in ["alice2", "carol"] {
        let err = bob.accept_channel(&mut rng, label, &to_bob).unwrap_err();
        assert!(
            matches!(&err, Error::TokenAccepted(of) if of == "alice"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "that token is accepted already, as the peer of channel \"alice\""
        );
    }
    assert_eq!(
        bob.channels(),
        [("alice".to_owned(), true), ("carol".to_owned(), false)],
        "no channel made, carol's still waits for its peer"
    );
}
