//! The `/` commands of the chat screen: parsing and completion.

/// A `/` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slash {
    /// List the commands.
    Help,
    /// Leave the screen.
    Quit,
    /// Poll now.
    Poll,
    /// Create a group.
    Create(String),
    /// Invite the peer of a channel to the current group.
    Invite(String),
    /// Approve an invitee into the current group.
    Approve(String),
    /// Ask an invitee for another name.
    Revise(String, String),
    /// Accept an invitation to a group (by name), asking for a display name.
    Accept(String, Option<String>),
    /// Admit a newcomer held for our approval.
    Admit(String),
    /// Decline an invitation to a group (by name).
    Decline(String),
    /// Reject an invitee's request to join the current group, saying why.
    Reject(String, String),
    /// Send a file to the current group.
    Send(String),
    /// Ask the current group WHO.
    Who,
    /// List the current group's members.
    Members,
    /// Leave the current group.
    Leave,
    /// Remove a member of the current group.
    Remove(String),
    /// Give a member a role.
    Role(String, String),
    /// Move our stream in the current group.
    Rotate,
    /// Delete the current group.
    Delete,
    /// List the outbox.
    Outbox,
}

/// Every command, with its arguments and what it does, as `/help` shows them.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "this list"),
    ("quit", "", "leave the screen (Ctrl-C too)"),
    ("poll", "", "poll now"),
    ("create", "NAME", "create a group"),
    ("invite", "CHANNEL", "invite a channel's peer here"),
    ("approve", "CHANNEL", "approve an invitee"),
    (
        "revise",
        "CHANNEL REASON",
        "ask an invitee for another name",
    ),
    ("accept", "GROUP [NAME]", "accept an invitation"),
    ("decline", "GROUP", "decline an invitation"),
    ("admit", "NAME", "admit a newcomer waiting for you"),
    ("reject", "CHANNEL [REASON]", "reject an invitee"),
    ("send", "PATH", "send a file here"),
    ("who", "", "ask WHO"),
    ("members", "", "list members and roles"),
    ("leave", "", "leave this group"),
    ("remove", "MEMBER", "remove a member"),
    ("role", "MEMBER admin|member", "give a member a role"),
    ("rotate", "", "move to a new stream"),
    ("delete", "", "delete this group (owner)"),
    ("outbox", "", "what waits to be sent"),
];

/// Parses a line that starts with `/`.
pub fn parse(line: &str) -> Result<Slash, String> {
    let body = line.trim().trim_start_matches('/');
    let (name, rest) = match body.split_once(char::is_whitespace) {
        Some((n, r)) => (n, r.trim()),
        None => (body, ""),
    };
    let one = |what: &str| -> Result<String, String> {
        if rest.is_empty() {
            Err(format!("/{name} needs {what}"))
        } else {
            Ok(rest.to_owned())
        }
    };
    let two = |what: &str| -> Result<(String, String), String> {
        match rest.split_once(char::is_whitespace) {
            Some((a, b)) if !b.trim().is_empty() => Ok((a.to_owned(), b.trim().to_owned())),
            _ => Err(format!("/{name} needs {what}")),
        }
    };
    Ok(match name {
        "help" | "h" | "?" => Slash::Help,
        "quit" | "q" | "exit" => Slash::Quit,
        "poll" => Slash::Poll,
        "create" => Slash::Create(one("a group name")?),
        "invite" => Slash::Invite(one("a channel")?),
        "approve" => Slash::Approve(one("a channel")?),
        "revise" => {
            let (c, r) = two("a channel and a reason")?;
            Slash::Revise(c, r)
        }
        "accept" => match rest.split_once(char::is_whitespace) {
            Some((g, n)) => Slash::Accept(g.to_owned(), Some(n.trim().to_owned())),
            None => Slash::Accept(one("a group")?, None),
        },
        "decline" => Slash::Decline(one("a group")?),
        "admit" => Slash::Admit(one("a name")?),
        "reject" => match rest.split_once(char::is_whitespace) {
            Some((c, r)) => Slash::Reject(c.to_owned(), r.trim().to_owned()),
            None => Slash::Reject(
                one("a channel")?,
                "your request to join was not accepted".into(),
            ),
        },
        "send" => Slash::Send(one("a file path")?),
        "who" => Slash::Who,
        "members" => Slash::Members,
        "leave" => Slash::Leave,
        "remove" => Slash::Remove(one("a member")?),
        "role" => {
            let (m, r) = two("a member and a role")?;
            Slash::Role(m, r)
        }
        "rotate" => Slash::Rotate,
        "delete" => Slash::Delete,
        "outbox" => Slash::Outbox,
        "" => return Err("type a command after /, or /help".into()),
        other => return Err(format!("no command /{other}; /help lists them")),
    })
}

/// Completes the last word of `input`: a command name after a leading `/`, else one of
/// `words` (member, channel and group names). Returns the new input, or `None` if nothing
/// (or nothing unique beyond what is typed) matches.
pub fn complete(input: &str, words: &[String]) -> Option<String> {
    let start = input.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0);
    let (head, word) = input.split_at(start);
    let candidates: Vec<String> = if start == 0 && word.starts_with('/') {
        COMMANDS
            .iter()
            .map(|(c, _, _)| format!("/{c}"))
            .filter(|c| c.starts_with(word))
            .collect()
    } else {
        let mut ws: Vec<String> = words
            .iter()
            .filter(|w| w.starts_with(word) && !word.is_empty())
            .cloned()
            .collect();
        ws.sort();
        ws.dedup();
        ws
    };
    match candidates.as_slice() {
        [] => None,
        [one] => Some(format!("{head}{one} ")),
        many => {
            let prefix = common_prefix(many);
            (prefix.len() > word.len()).then(|| format!("{head}{prefix}"))
        }
    }
}

fn common_prefix(words: &[String]) -> String {
    let first = &words[0];
    let mut end = first.len();
    for w in &words[1..] {
        end = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(end);
    }
    first[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(parse("/invite bob"), Ok(Slash::Invite("bob".into())));
        assert_eq!(
            parse("/revise bob that name is taken"),
            Ok(Slash::Revise("bob".into(), "that name is taken".into()))
        );
        assert_eq!(
            parse("/accept friends Bobby"),
            Ok(Slash::Accept("friends".into(), Some("Bobby".into())))
        );
        assert_eq!(
            parse("/accept friends"),
            Ok(Slash::Accept("friends".into(), None))
        );
        assert_eq!(parse("/q"), Ok(Slash::Quit));
        assert!(parse("/invite").unwrap_err().contains("needs a channel"));
        assert!(parse("/role bob")
            .unwrap_err()
            .contains("needs a member and a role"));
        assert!(parse("/frobnicate").unwrap_err().contains("/help"));
    }

    #[test]
    fn completion_finishes_commands_and_names() {
        let names = vec!["alice".to_owned(), "albert".to_owned(), "bob".to_owned()];
        assert_eq!(complete("/inv", &names).as_deref(), Some("/invite "));
        assert_eq!(
            complete("/re", &names),
            None,
            "remove, revise: nothing more in common"
        );
        assert_eq!(
            complete("/remove b", &names).as_deref(),
            Some("/remove bob ")
        );
        assert_eq!(
            complete("hi al", &names),
            None,
            "alice, albert: nothing more in common"
        );
        assert_eq!(complete("hi ali", &names).as_deref(), Some("hi alice "));
        assert_eq!(complete("hi z", &names), None);
    }
}
