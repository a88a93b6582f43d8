//! Drawing the chat screen from an [`App`]: conversations with unread counts on the left, the
//! selected conversation's history with its members above it, notices, the input line and the
//! courier's state at the bottom. Pure: it draws into any ratatui backend.

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph};
use ratatui::Frame;

use super::app::App;
use super::model::{ConvKey, Status};
use crate::output::content_text;
use crate::safe_text::safe;

/// Text from a peer as the screen may show it ([`safe`]).
fn visible(s: &str) -> String {
    safe(s).into_owned()
}

/// The colours, or none when `NO_COLOR` is set.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set (to anything non-empty).
    pub fn from_env() -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return Self::plain();
        }
        Self { color: true }
    }

    /// No colours at all.
    pub fn plain() -> Self {
        Self { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn bold(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    fn dim(&self) -> Style {
        if self.color {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            Style::default()
        }
    }
}

/// Hours and minutes (UTC) of a Unix time in milliseconds.
fn hhmm(ms: u64) -> String {
    let minutes = ms / 60_000;
    format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
}

/// Cuts `text` into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App, theme: Theme) {
    let area = f.area();
    let notice_rows = if area.height >= 20 { 3 } else { 1 };
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(4),
            Constraint::Length(notice_rows),
            Constraint::Length(3),
            Constraint::Length(1),
        ])
        .split(area);
    let side = if area.width >= 100 { 28 } else { 20 };
    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(side), Constraint::Min(20)])
        .split(rows[0]);
    sidebar(f, app, theme, top[0]);
    conversation(f, app, theme, top[1]);
    notices(f, app, theme, rows[1]);
    input(f, app, theme, rows[2]);
    status(f, &app.snapshot.status, app, theme, rows[3]);
}

fn sidebar(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for c in &app.snapshot.convs {
        let selected = app.selected.as_ref() == Some(&c.key);
        let mark = match c.key {
            ConvKey::Group(_) => "#",
            ConvKey::Channel(_) => "@",
        };
        let unread = app.unread(c);
        let count = if unread > 0 {
            format!(" {unread}")
        } else {
            String::new()
        };
        let name_room = width.saturating_sub(2 + count.chars().count());
        let name: String = visible(&c.title).chars().take(name_room).collect();
        let pad = width.saturating_sub(2 + name.chars().count() + count.chars().count());
        let mut style = if selected {
            theme.bold().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        if c.standing != "member" && c.standing != "open" {
            style = style.patch(theme.dim());
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {name}{}", " ".repeat(pad)), style),
            Span::styled(count, theme.fg(Color::Yellow).patch(theme.bold())),
        ]));
    }
    if app.snapshot.convs.is_empty() {
        lines.push(Line::styled("(none yet)", theme.dim()));
    }
    let waiting: Vec<String> = app
        .snapshot
        .invitations
        .iter()
        .map(|i| match &i.answered_as {
            Some(n) => format!("asked to join {} as {n}", i.group_name),
            None => format!("invited to {} (/accept)", i.group_name),
        })
        .chain(app.snapshot.convs.iter().flat_map(|c| {
            c.held
                .iter()
                .map(move |(name, by)| format!("{by} introduced {name} to {} (/admit)", c.title))
        }))
        .chain(
            app.snapshot
                .join_requests
                .iter()
                .map(|r| match &r.display_name {
                    Some(n) => format!("{} asks to join as {n} (/approve)", r.channel),
                    None => format!("invited {}, no answer yet", r.channel),
                }),
        )
        .collect();
    if !waiting.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("waiting:", theme.bold()));
        for w in waiting {
            for l in wrap(&visible(&w), width) {
                lines.push(Line::styled(l, theme.fg(Color::Cyan)));
            }
        }
    }
    let block = Block::default().borders(Borders::ALL).title(" chats ");
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn conversation(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let Some(c) = app.current() else {
        let help = vec![
            Line::raw("No groups or channels yet."),
            Line::raw(""),
            Line::raw("/create NAME  makes a group"),
            Line::raw("channels: `bacap-chat channel make LABEL` in a shell"),
            Line::raw("/help  lists every command"),
        ];
        let block = Block::default().borders(Borders::ALL).title(" bacap-chat ");
        f.render_widget(Paragraph::new(help).block(block), area);
        return;
    };
    let title = match &c.key {
        ConvKey::Group(_) => {
            let members: Vec<String> = c
                .members
                .iter()
                .map(|m| {
                    let name = visible(&m.name);
                    match m.role.as_str() {
                        "member" => name,
                        role => format!("{name} ({role})"),
                    }
                })
                .collect();
            let standing = if c.standing == "member" {
                String::new()
            } else {
                format!(" [{}]", c.standing)
            };
            format!(
                " #{}{standing} · {} member{}: {} ",
                visible(&c.title),
                c.members.len(),
                if c.members.len() == 1 { "" } else { "s" },
                members.join(", ")
            )
        }
        ConvKey::Channel(l) => format!(" @{} · 1:1 channel ({}) ", visible(l), c.standing),
    };
    let inner_w = area.width.saturating_sub(2) as usize;
    let title: String = title.chars().take(inner_w).collect();
    let mut lines: Vec<Line> = Vec::new();
    for e in &c.entries {
        let who = if e.own {
            "me".to_owned()
        } else {
            visible(&e.sender_name)
        };
        let head = format!("{} {who}: ", hhmm(e.time_ms));
        let text = visible(&content_text(&e.content));
        let body_style = match &e.content {
            groupchat::records::Content::Text(_) => Style::default(),
            groupchat::records::Content::File { .. } => theme.fg(Color::Magenta),
            _ => theme.fg(Color::Cyan),
        };
        let who_style = if e.own {
            theme.fg(Color::Green).patch(theme.bold())
        } else {
            theme.fg(Color::Blue).patch(theme.bold())
        };
        let mut first = true;
        let head_w = head.chars().count();
        for chunk in wrap(&text, inner_w.saturating_sub(head_w)) {
            if first {
                lines.push(Line::from(vec![
                    Span::styled(hhmm(e.time_ms) + " ", theme.dim()),
                    Span::styled(format!("{who}: "), who_style),
                    Span::styled(chunk, body_style),
                ]));
                first = false;
            } else {
                lines.push(Line::from(vec![
                    Span::raw(" ".repeat(head_w)),
                    Span::styled(chunk, body_style),
                ]));
            }
        }
    }
    for s in app.sending.iter().filter(|s| s.conv == c.key) {
        let head = "      me: ";
        for (i, chunk) in wrap(&visible(&s.text), inner_w.saturating_sub(head.len() + 10))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { head } else { "          " };
            lines.push(Line::styled(
                format!("{lead}{chunk} (sending)"),
                theme.dim(),
            ));
        }
    }
    let height = area.height.saturating_sub(2) as usize;
    let bottom = lines.len().saturating_sub(app.scroll.min(lines.len()));
    let start = bottom.saturating_sub(height);
    let shown: Vec<Line> = lines[start..bottom].to_vec();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.bold()));
    f.render_widget(Paragraph::new(shown).block(block), area);
}

fn notices(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let width = area.width as usize;
    let n = area.height as usize;
    let mut lines: Vec<String> = Vec::new();
    for msg in &app.notices {
        lines.extend(wrap(&visible(msg), width));
    }
    let start = lines.len().saturating_sub(n);
    let shown: Vec<Line> = lines[start..]
        .iter()
        .map(|l| Line::styled(l.clone(), theme.fg(Color::Yellow)))
        .collect();
    f.render_widget(Paragraph::new(shown), area);
}

fn input(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let inner_w = area.width.saturating_sub(2) as usize;
    if let Some(u) = &app.upload {
        let ratio = if u.total == 0 {
            0.0
        } else {
            (u.done as f64 / u.total as f64).min(1.0)
        };
        let gauge = Gauge::default()
            .block(Block::default().borders(Borders::ALL).title(" sending "))
            .gauge_style(theme.fg(Color::Green))
            .ratio(ratio)
            .label(format!("{} {}/{} boxes", visible(&u.name), u.done, u.total));
        f.render_widget(gauge, area);
        return;
    }
    let chars: Vec<char> = app.input.chars().collect();
    // Keep the cursor in view on a long line.
    let offset = app.cursor.saturating_sub(inner_w.saturating_sub(1));
    let shown: String = chars[offset.min(chars.len())..]
        .iter()
        .take(inner_w)
        .collect();
    let to = app
        .current()
        .map(|c| match &c.key {
            ConvKey::Group(_) => format!(" to #{} ", visible(&c.title)),
            ConvKey::Channel(l) => format!(" to @{} ", visible(l)),
        })
        .unwrap_or_else(|| " /help ".into());
    let block = Block::default().borders(Borders::ALL).title(to);
    f.render_widget(Paragraph::new(visible(&shown)).block(block), area);
    let x = area.x + 1 + (app.cursor - offset).min(inner_w) as u16;
    f.set_cursor_position((x, area.y + 1));
}

fn status(f: &mut Frame, s: &Status, app: &App, theme: Theme, area: Rect) {
    let (state, style) = match s.reachable {
        None => ("connecting", theme.fg(Color::Yellow)),
        Some(true) => ("reachable", theme.fg(Color::Green)),
        Some(false) => ("unreachable", theme.fg(Color::Red).patch(theme.bold())),
    };
    let mut parts = vec![
        Span::raw(format!(" {} ", visible(&app.snapshot.me))),
        Span::styled(
            format!("· outbox {} ", s.outbox),
            if s.outbox > 0 {
                theme.fg(Color::Yellow)
            } else {
                theme.dim()
            },
        ),
    ];
    match &s.error {
        Some(e) => parts.push(Span::styled(
            format!("· {}", visible(e)),
            theme.fg(Color::Red).patch(theme.bold()),
        )),
        None => {
            parts.push(Span::styled("· courier ", theme.dim()));
            parts.push(Span::styled(state, style));
        }
    }
    if let Some(ms) = s.last_poll_ms {
        parts.push(Span::styled(format!(" · poll {ms} ms"), theme.dim()));
    }
    if s.busy {
        parts.push(Span::styled(" · working", theme.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(parts)), area);
}
