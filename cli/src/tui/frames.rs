//! Snapshot tests of rendered frames: an empty profile, a busy group, a pending join and a lost
//! courier, at 80x24 and in a large terminal, drawn without colours into ratatui's test
//! backend.

use groupchat::channel::GroupId;
use groupchat::records::Content;
use groupchat::roster::MemberId;
use groupchat::HistoryEntry;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::App;
use super::model::{Conv, ConvKey, Invitation, JoinRequest, Member, Snapshot, Status};
use super::view::{draw, Theme};

/// 2026-12-06 12:00 UTC.
const NOON: u64 = 1_796_558_400_000;

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app, Theme::plain())).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_owned()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn entry(seq: u64, name: &str, own: bool, minute: u64, content: Content) -> HistoryEntry {
    HistoryEntry {
        seq,
        sender: Some(MemberId([seq as u8; 32])),
        sender_name: name.into(),
        own,
        time_ms: NOON + minute * 60_000,
        content,
    }
}

fn member(name: &str, role: &str, me: bool) -> Member {
    Member {
        name: name.into(),
        role: role.into(),
        me,
    }
}

fn status(reachable: Option<bool>) -> Status {
    Status {
        courier: "http://127.0.0.1:7800".into(),
        reachable,
        last_poll_ms: reachable.map(|_| 42),
        outbox: 0,
        error: None,
        busy: false,
    }
}

fn friends() -> Conv {
    let text = |s: &str| Content::Text(s.into());
    Conv {
        key: ConvKey::Group(GroupId([1; 32])),
        title: "friends".into(),
        entries: vec![
            entry(1, "alice", true, 0, Content::Joined),
            entry(2, "alice", true, 1, Content::Introduced { name: "bob".into(), member: vec![0xb0; 32] }),
            entry(3, "bob", false, 2, text("hi all")),
            entry(4, "alice", true, 3, text("welcome bob! the plan for tonight is a long message that wraps across more than one line of the screen")),
            entry(5, "carol", false, 4, Content::File {
                basename: "menu.pdf".into(),
                filetype: "arbitrary".into(),
                len: 48_894,
                path: "/home/alice/files/5-menu.pdf".into(),
            }),
            entry(6, "carol", false, 5, text("there \u{1b}[2Jis the menu\u{202e}")),
        ],
        members: vec![
            member("alice", "owner", true),
            member("bob", "member", false),
            member("carol", "admin", false),
        ],
        held: Vec::new(),
        standing: "member".into(),
    }
}

fn bob() -> Conv {
    Conv {
        key: ConvKey::Channel("bob".into()),
        title: "bob".into(),
        entries: vec![HistoryEntry {
            seq: 7,
            sender: None,
            sender_name: "bob".into(),
            own: false,
            time_ms: NOON + 6 * 60_000,
            content: Content::Text("psst".into()),
        }],
        members: Vec::new(),
        held: Vec::new(),
        standing: "open".into(),
    }
}

fn busy() -> App {
    let mut app = App::new(Some(ConvKey::Group(GroupId([1; 32]))), Default::default());
    app.update(Snapshot {
        me: "alice".into(),
        convs: vec![friends(), bob()],
        invitations: Vec::new(),
        join_requests: Vec::new(),
        status: status(Some(true)),
    });
    app.input = "see you at 8".into();
    app.cursor = app.input.chars().count();
    app
}

#[test]
fn an_empty_profile() {
    let mut app = App::new(None, Default::default());
    app.update(Snapshot {
        me: "alice".into(),
        status: status(None),
        ..Snapshot::default()
    });
    app.notice("Enter sends; /help lists commands; Ctrl-C quits");
    insta::assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn a_busy_group() {
    let app = busy();
    let frame = render(&app, 80, 24);
    assert!(!frame.contains('\u{1b}') && !frame.contains('\u{202e}'));
    assert!(frame.contains("\\u{1b}"), "{frame}");
    // Bob's channel has one unread message.
    assert!(frame.contains("@ bob") && frame.contains(" 1"), "{frame}");
    insta::assert_snapshot!(frame);
}

#[test]
fn a_busy_group_in_a_large_terminal() {
    insta::assert_snapshot!(render(&busy(), 120, 32));
}

#[test]
fn a_pending_join() {
    let mut app = busy();
    let mut snap = app.snapshot.clone();
    snap.join_requests = vec![JoinRequest {
        group: GroupId([1; 32]),
        channel: "dave".into(),
        display_name: Some("dave".into()),
    }];
    snap.convs[0].held = vec![("erin".into(), "carol".into())];
    snap.invitations = vec![Invitation {
        group_name: "club".into(),
        channel: "erin".into(),
        answered_as: None,
    }];
    app.update(snap);
    app.notice("[friends] dave asks to join as \"dave\"; /approve dave");
    insta::assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn a_lost_courier() {
    let mut app = busy();
    let mut snap = app.snapshot.clone();
    snap.status = Status {
        reachable: Some(false),
        outbox: 2,
        error: Some("courier unreachable at http://127.0.0.1:7800: connection refused".into()),
        ..snap.status
    };
    app.update(snap);
    app.sending.push(super::app::Sending {
        conv: ConvKey::Group(GroupId([1; 32])),
        text: "are you there?".into(),
        after_seq: 6,
    });
    insta::assert_snapshot!(render(&app, 80, 24));
}
