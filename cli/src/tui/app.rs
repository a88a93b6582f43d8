//! The chat screen's state and what keys do to it, without a terminal: the worker's
//! snapshots come in, keys come in, and what the user asked for goes out as an [`Action`].

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::{ConvKey, Snapshot, Upload};
use super::slash::{self, Slash};

/// How many notice lines the screen keeps.
const NOTICES: usize = 200;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing for the worker.
    None,
    /// Send a text to a conversation.
    Say(ConvKey, String),
    /// Run a command, in a conversation if one is selected.
    Command(Option<ConvKey>, Slash),
    /// Leave.
    Quit,
}

/// A text we sent that has not shown up in its history yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sending {
    /// Where.
    pub conv: ConvKey,
    /// What.
    pub text: String,
    /// The newest entry of the conversation when it was sent.
    pub after_seq: u64,
}

/// The screen's state.
#[derive(Debug, Default)]
pub struct App {
    /// What the worker last read.
    pub snapshot: Snapshot,
    /// The selected conversation.
    pub selected: Option<ConvKey>,
    /// The newest entry the user has seen, per conversation.
    pub seen: BTreeMap<ConvKey, u64>,
    /// The input line.
    pub input: String,
    /// The cursor, as a char index into `input`.
    pub cursor: usize,
    /// How many lines the history is scrolled up from the newest.
    pub scroll: usize,
    /// Lines for the user: what happened, errors, help.
    pub notices: Vec<String>,
    /// Texts sent but not yet in their history.
    pub sending: Vec<Sending>,
    /// A file being sent.
    pub upload: Option<Upload>,
    /// Whether to leave.
    pub quit: bool,
}

impl App {
    /// A screen opened on `selected` (if given), with what was seen before.
    pub fn new(selected: Option<ConvKey>, seen: BTreeMap<ConvKey, u64>) -> Self {
        Self {
            selected,
            seen,
            ..Self::default()
        }
    }

    /// Takes a new snapshot: keeps the selection if the conversation still exists (else the
    /// first one), marks the selected conversation seen, and forgets sent texts that arrived.
    pub fn update(&mut self, snapshot: Snapshot) {
        // A group we just joined opens, unless another group is open.
        let joined = snapshot
            .convs
            .iter()
            .find(|c| {
                matches!(c.key, ConvKey::Group(_))
                    && !self.snapshot.convs.is_empty()
                    && !self.snapshot.convs.iter().any(|o| o.key == c.key)
            })
            .map(|c| c.key.clone());
        if let Some(key) = joined {
            if !matches!(self.selected, Some(ConvKey::Group(_))) {
                self.selected = Some(key);
            }
        }
        self.snapshot = snapshot;
        let exists = |k: &ConvKey| self.snapshot.convs.iter().any(|c| &c.key == k);
        if !self.selected.as_ref().is_some_and(exists) {
            self.selected = self.snapshot.convs.first().map(|c| c.key.clone());
        }
        let convs = &self.snapshot.convs;
        self.sending.retain(|s| {
            !convs.iter().any(|c| {
                c.key == s.conv
                    && c.entries.iter().any(|e| {
                        e.own
                            && e.seq > s.after_seq
                            && matches!(&e.content, groupchat::records::Content::Text(t) if *t == s.text)
                    })
            })
        });
        self.mark_seen();
    }

    /// Adds a line for the user.
    pub fn notice(&mut self, line: impl Into<String>) {
        self.notices.push(line.into());
        if self.notices.len() > NOTICES {
            let extra = self.notices.len() - NOTICES;
            self.notices.drain(..extra);
        }
    }

    fn mark_seen(&mut self) {
        if let Some(c) = self.current() {
            let (key, last) = (c.key.clone(), c.last_seq());
            self.seen.insert(key, last);
        }
    }

    /// The selected conversation.
    pub fn current(&self) -> Option<&super::model::Conv> {
        let key = self.selected.as_ref()?;
        self.snapshot.convs.iter().find(|c| &c.key == key)
    }

    /// How many entries of `conv` from others arrived after the user last looked.
    pub fn unread(&self, conv: &super::model::Conv) -> usize {
        let seen = self.seen.get(&conv.key).copied().unwrap_or(0);
        conv.entries
            .iter()
            .filter(|e| e.seq > seen && !e.own)
            .count()
    }

    /// Names to complete: members of the selected group, channel labels, group names.
    pub fn words(&self) -> Vec<String> {
        let mut w: Vec<String> = self
            .current()
            .map(|c| c.members.iter().map(|m| m.name.clone()).collect())
            .unwrap_or_default();
        w.extend(self.snapshot.convs.iter().map(|c| c.title.clone()));
        w.extend(
            self.snapshot
                .invitations
                .iter()
                .map(|i| i.group_name.clone()),
        );
        w
    }

    fn select_by(&mut self, step: isize) {
        let n = self.snapshot.convs.len();
        if n == 0 {
            return;
        }
        let at = self
            .selected
            .as_ref()
            .and_then(|k| self.snapshot.convs.iter().position(|c| &c.key == k))
            .unwrap_or(0);
        let next = (at as isize + step).rem_euclid(n as isize) as usize;
        self.selected = Some(self.snapshot.convs[next].key.clone());
        self.scroll = 0;
        self.mark_seen();
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.input
            .char_indices()
            .nth(chars)
            .map(|(i, _)| i)
            .unwrap_or(self.input.len())
    }

    /// What a key does.
    pub fn key(&mut self, k: KeyEvent) -> Action {
        if k.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let alt = k.modifiers.contains(KeyModifiers::ALT);
        match k.code {
            KeyCode::Char('c') if ctrl => return self.leave(),
            KeyCode::Char('d') if ctrl && self.input.is_empty() => return self.leave(),
            KeyCode::Char('n') if ctrl => self.select_by(1),
            KeyCode::Char('p') if ctrl => self.select_by(-1),
            KeyCode::Down if alt => self.select_by(1),
            KeyCode::Up if alt => self.select_by(-1),
            KeyCode::Char('u') if ctrl => {
                self.input.clear();
                self.cursor = 0;
            }
            KeyCode::Char(ch) if !ctrl => {
                let at = self.byte_at(self.cursor);
                self.input.insert(at, ch);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_at(self.cursor);
                self.input.remove(at);
            }
            KeyCode::Delete if self.cursor < self.input.chars().count() => {
                let at = self.byte_at(self.cursor);
                self.input.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.input.chars().count()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.input.chars().count(),
            KeyCode::Esc => {
                self.input.clear();
                self.cursor = 0;
            }
            KeyCode::PageUp => self.scroll += 10,
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Tab => match slash::complete(&self.input, &self.words()) {
                Some(done) => {
                    self.input = done;
                    self.cursor = self.input.chars().count();
                }
                None => {
                    if self.input.starts_with('/') && !self.input.contains(' ') {
                        let matching: Vec<&str> = slash::COMMANDS
                            .iter()
                            .map(|(c, _, _)| *c)
                            .filter(|c| format!("/{c}").starts_with(self.input.as_str()))
                            .collect();
                        if matching.len() > 1 {
                            self.notice(format!("/{}", matching.join("  /")));
                        }
                    }
                }
            },
            KeyCode::Enter => return self.submit(),
            _ => {}
        }
        Action::None
    }

    fn leave(&mut self) -> Action {
        self.quit = true;
        Action::Quit
    }

    fn submit(&mut self) -> Action {
        let line = std::mem::take(&mut self.input);
        self.cursor = 0;
        self.scroll = 0;
        let text = line.trim();
        if text.is_empty() {
            return Action::None;
        }
        if text.starts_with('/') && !text.starts_with("//") {
            return match slash::parse(text) {
                Ok(Slash::Quit) => self.leave(),
                Ok(Slash::Help) => {
                    self.notice(
                        "commands (Tab completes; Ctrl-N/Ctrl-P switch; PgUp/PgDn scroll):",
                    );
                    for (c, args, what) in slash::COMMANDS {
                        self.notice(format!("  /{c} {args}  {what}"));
                    }
                    Action::None
                }
                Ok(cmd) => Action::Command(self.selected.clone(), cmd),
                Err(e) => {
                    self.notice(e);
                    Action::None
                }
            };
        }
        // `//text` sends a text that starts with `/`.
        let text = text
            .strip_prefix('/')
            .filter(|t| t.starts_with('/'))
            .unwrap_or(text);
        match self.current() {
            Some(c) if c.standing == "member" || c.standing == "open" => {
                let (key, after_seq) = (c.key.clone(), c.last_seq());
                self.sending.push(Sending {
                    conv: key.clone(),
                    text: text.to_owned(),
                    after_seq,
                });
                Action::Say(key, text.to_owned())
            }
            Some(c) => {
                let why = format!("cannot send to {}: {}", c.title, c.standing);
                self.notice(why);
                self.input = line;
                self.cursor = self.input.chars().count();
                Action::None
            }
            None => {
                self.notice(
                    "no conversation yet: /create NAME makes a group, /help lists commands",
                );
                self.input = line;
                self.cursor = self.input.chars().count();
                Action::None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::model::{Conv, Member};
    use groupchat::channel::GroupId;
    use groupchat::records::Content;
    use groupchat::HistoryEntry;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn typed(app: &mut App, s: &str) {
        for ch in s.chars() {
            app.key(key(KeyCode::Char(ch)));
        }
    }

    fn conv(id: u8, title: &str, seqs: &[(u64, bool)]) -> Conv {
        Conv {
            key: ConvKey::Group(GroupId([id; 32])),
            title: title.into(),
            entries: seqs
                .iter()
                .map(|&(seq, own)| HistoryEntry {
                    seq,
                    sender: None,
                    sender_name: if own { "me" } else { "bob" }.into(),
                    own,
                    time_ms: 0,
                    content: Content::Text(format!("m{seq}")),
                })
                .collect(),
            members: vec![Member {
                name: "bobby".into(),
                role: "member".into(),
                me: false,
            }],
            held: Vec::new(),
            standing: "member".into(),
        }
    }

    fn app() -> App {
        let mut app = App::new(None, Default::default());
        app.update(Snapshot {
            convs: vec![
                conv(1, "g", &[(1, false)]),
                conv(2, "h", &[(2, false), (3, false)]),
            ],
            ..Snapshot::default()
        });
        app
    }

    #[test]
    fn enter_sends_a_text_or_runs_a_command() {
        let mut app = app();
        let g = ConvKey::Group(GroupId([1; 32]));
        typed(&mut app, "hello");
        assert_eq!(
            app.key(key(KeyCode::Enter)),
            Action::Say(g.clone(), "hello".into())
        );
        assert_eq!(app.sending.len(), 1, "shown as sending");
        typed(&mut app, "//etc/passwd is a path");
        assert_eq!(
            app.key(key(KeyCode::Enter)),
            Action::Say(g.clone(), "/etc/passwd is a path".into())
        );
        typed(&mut app, "/invite bob");
        assert_eq!(
            app.key(key(KeyCode::Enter)),
            Action::Command(Some(g), Slash::Invite("bob".into()))
        );
        typed(&mut app, "/nope");
        assert_eq!(app.key(key(KeyCode::Enter)), Action::None);
        assert!(app.notices.last().unwrap().contains("/help"));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.key(ctrl_c), Action::Quit);
    }

    #[test]
    fn editing_and_completion() {
        let mut app = app();
        typed(&mut app, "hi bo");
        app.key(key(KeyCode::Tab));
        assert_eq!(app.input, "hi bobby ");
        app.key(key(KeyCode::Home));
        app.key(key(KeyCode::Delete));
        typed(&mut app, "H");
        assert_eq!(app.input, "Hi bobby ");
        app.key(key(KeyCode::Esc));
        assert!(app.input.is_empty());
    }

    #[test]
    fn unread_counts_until_the_conversation_is_opened() {
        let mut app = app();
        let h = app.snapshot.convs[1].clone();
        assert_eq!(app.unread(&app.snapshot.convs[0]), 0, "open: read");
        assert_eq!(app.unread(&h), 2);
        app.key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
        assert_eq!(app.selected, Some(h.key.clone()));
        assert_eq!(app.unread(&h), 0);
        // A text we sent disappears from "sending" once it is in the history.
        typed(&mut app, "m4");
        app.key(key(KeyCode::Enter));
        let mut snap = app.snapshot.clone();
        snap.convs[1].entries.push(HistoryEntry {
            seq: 4,
            sender: None,
            sender_name: "me".into(),
            own: true,
            time_ms: 0,
            content: Content::Text("m4".into()),
        });
        app.update(snap);
        assert!(app.sending.is_empty());
    }
}
