//! Polling: one batched read per round over every stream, and what received messages do.

use bacap::store::ReadOutcome;

use super::*;

impl Client {
    // ---------------------------------------------------------------- polling

    /// Polls every stream we read (every member of every group, every channel peer): one
    /// batched read of the next box of each, repeated while boxes keep arriving. Each round is
    /// committed in one WriteBatch. Then answers WHO requests. Returns what it found.
    pub async fn poll(&mut self) -> Result<Vec<Event>, ClientError> {
        self.resume_pending().await?;
        let mut events = Vec::new();
        let mut counted = HashSet::new();
        while self.poll_round(&mut events, &mut counted).await? {}
        let owed: Vec<GroupId> = self
            .groups
            .values()
            .filter(|g| g.owe_who_reply)
            .map(|g| g.id)
            .collect();
        for id in owed {
            let list = ReplyWho {
                please_adds: self.group(&id)?.please_adds(),
            };
            self.send_group(
                id,
                Body::WhoReply(list),
                Completion::WhoReplied {
                    group: id.0.to_vec(),
                },
            )
            .await?;
        }
        Ok(events)
    }

    /// One round; returns whether any stream moved.
    pub(super) async fn poll_round(
        &mut self,
        events: &mut Vec<Event>,
        counted: &mut HashSet<String>,
    ) -> Result<bool, ClientError> {
        let mut slots = Vec::new();
        let mut ids = Vec::new();
        for (gid, g) in &self.groups {
            for (k, m) in &g.members {
                if let Some(r) = &m.reader {
                    let w = r.wanted();
                    slots.push((Slot::Member(*gid, *k), w.len()));
                    ids.extend(w);
                }
            }
        }
        for (label, c) in &self.channels {
            if let Some(r) = &c.reader {
                let w = r.wanted();
                slots.push((Slot::Channel(label.clone()), w.len()));
                ids.extend(w);
            }
        }
        if ids.is_empty() {
            return Ok(false);
        }
        let outcomes = self.store.read_many(&ids).await?;
        if outcomes.len() != ids.len() {
            return Err(ClientError::Stream(StreamError::OutcomeCount {
                expected: ids.len(),
                got: outcomes.len(),
            }));
        }
        match self.apply_round(slots, &outcomes, events, counted) {
            Ok((d, moved)) => {
                self.commit(d)?;
                Ok(moved)
            }
            Err(e) => {
                // Readers moved in memory only: go back to what is stored, so the messages
                // of this round are read again.
                let _ = self.load();
                Err(e)
            }
        }
    }

    /// Feeds one round's outcomes to the readers and applies what they yield, in memory.
    fn apply_round(
        &mut self,
        slots: Vec<(Slot, usize)>,
        outcomes: &[ReadOutcome],
        events: &mut Vec<Event>,
        counted: &mut HashSet<String>,
    ) -> Result<(Dirty, bool), ClientError> {
        let stuck_limit = self.config.stuck_polls_before_skip.max(1);
        let mut d = Dirty::default();
        let mut moved = false;
        let mut at = 0;
        for (slot, n) in slots {
            let chunk = &outcomes[at..at + n];
            at += n;
            let (reader, source) = match &slot {
                Slot::Member(gid, k) => {
                    let Some(reader) = self
                        .groups
                        .get_mut(gid)
                        .and_then(|g| g.members.get_mut(k))
                        .and_then(|m| m.reader.as_mut())
                    else {
                        continue;
                    };
                    (reader, format!("group {gid:?} member {}", MemberId::of(k)))
                }
                Slot::Channel(l) => {
                    let Some(reader) = self.channels.get_mut(l).and_then(|c| c.reader.as_mut())
                    else {
                        continue;
                    };
                    (reader, format!("channel {l}"))
                }
            };
            let result = reader.accept(chunk);
            if !matches!(result, Err(ref e) if !matches!(e, StreamError::Rejected(_))) {
                self.stuck.remove(&source);
            }
            match result {
                Ok(Polled::Nothing) => continue,
                Ok(Polled::Progress) => moved = true,
                Ok(Polled::Message(bytes)) => {
                    moved = true;
                    match &slot {
                        Slot::Member(gid, k) => {
                            self.on_group_box(&mut d, events, *gid, *k, &bytes)?
                        }
                        Slot::Channel(l) => self.on_channel_box(&mut d, events, l, &bytes)?,
                    }
                }
                Err(e @ StreamError::Rejected(_)) => {
                    moved = true;
                    events.push(Event::Problem {
                        source,
                        error: e.to_string(),
                    });
                }
                Err(e) => {
                    // The reader stays (a bad box, a chain not all there): report it; the
                    // other streams carry on and a later poll retries, until the stream has
                    // been stuck for `stuck_polls_before_skip` polls and `stuck_time_before_skip`:
                    // then move past.
                    if !counted.insert(source.clone()) {
                        continue;
                    }
                    let (n, since) = self
                        .stuck
                        .entry(source.clone())
                        .or_insert((0, std::time::Instant::now()));
                    *n += 1;
                    if *n < stuck_limit || since.elapsed() < self.config.stuck_time_before_skip {
                        events.push(Event::Problem {
                            source,
                            error: e.to_string(),
                        });
                        continue;
                    }
                    self.stuck.remove(&source);
                    reader.skip()?;
                    moved = true;
                    events.push(Event::Problem {
                        source,
                        error: format!("{e}; skipped after {stuck_limit} polls"),
                    });
                }
            }
            match slot {
                Slot::Member(gid, _) => d.groups.insert(gid),
                Slot::Channel(l) => d.channels.insert(l),
            };
        }
        Ok((d, moved))
    }

    pub(super) fn on_group_box(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        gid: GroupId,
        sender_key: [u8; READ_CAP_LEN],
        bytes: &[u8],
    ) -> Result<(), ClientError> {
        let sender = MemberId::of(&sender_key);
        let source = format!("group {gid:?} member {sender}");
        for decoded in GroupChatMessage::decode_sequence(bytes) {
            let msg = match decoded {
                Ok(m) => m,
                Err(e) => {
                    events.push(Event::Problem {
                        source: source.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            self.apply_group_message(d, events, gid, sender_key, &source, msg)?;
        }
        Ok(())
    }

    pub(super) fn apply_group_message(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        gid: GroupId,
        sender_key: [u8; READ_CAP_LEN],
        source: &str,
        msg: GroupChatMessage,
    ) -> Result<(), ClientError> {
        let sender = MemberId::of(&sender_key);
        let limits = self.config.effective_limits();
        let max_file = self.config.max_file_len;
        let sender_name = self.group(&gid)?.members[&sender_key]
            .please_add
            .display_name
            .to_string();
        d.groups.insert(gid);
        match msg.body {
            Body::Text(t) => {
                let entry = self.group_entry(d, gid, sender, sender_name, false, Content::Text(t));
                events.push(Event::GroupMessage { group: gid, entry });
            }
            Body::FileUpload(f) => {
                if f.payload.len() > max_file {
                    events.push(Event::Problem {
                        source: source.to_owned(),
                        error: format!(
                            "file of {} bytes over the cap of {max_file}: dropped",
                            f.payload.len()
                        ),
                    });
                } else {
                    let seq = self.alloc_seq();
                    let path = files::received_path(&self.dir, &gid.0, seq, &f.basename);
                    files::write_private(&path, &f.payload, max_file)?;
                    let content = Content::File {
                        basename: f.basename.clone(),
                        filetype: f.filetype.as_str().to_owned(),
                        len: f.payload.len() as u64,
                        path: path.to_string_lossy().into_owned(),
                    };
                    let entry =
                        self.group_entry_at(d, gid, seq, sender, sender_name, false, content);
                    events.push(Event::GroupMessage { group: gid, entry });
                }
            }
            Body::Introduction(pa) => {
                let member = MemberId::of(pa.read_cap.as_bytes());
                let name = pa.display_name.to_string();
                let g = self.groups.get_mut(&gid).expect("checked");
                match g.add_member(pa, Some(sender), limits) {
                    Ok(true) => {
                        events.push(Event::MemberAdded {
                            group: gid,
                            member,
                            name: name.clone(),
                            by: Some(sender),
                        });
                        self.group_entry(
                            d,
                            gid,
                            sender,
                            sender_name,
                            false,
                            Content::Introduced {
                                name,
                                member: member.0.to_vec(),
                            },
                        );
                    }
                    Ok(false) => {}
                    Err(e) => events.push(Event::Problem {
                        source: source.to_owned(),
                        error: format!("introduction: {e}"),
                    }),
                }
            }
            Body::Who(_) => {
                self.groups.get_mut(&gid).expect("checked").owe_who_reply = true;
                events.push(Event::WhoAsked {
                    group: gid,
                    by: sender,
                });
            }
            Body::WhoReply(list) => {
                let g = self.groups.get_mut(&gid).expect("checked");
                let listed: BTreeSet<[u8; READ_CAP_LEN]> = list
                    .please_adds
                    .iter()
                    .map(|p| *p.read_cap.as_bytes())
                    .collect();
                let missing_there: Vec<MemberId> = g
                    .members
                    .keys()
                    .filter(|k| !listed.contains(*k))
                    .map(|k| MemberId::of(k))
                    .collect();
                let mut added = Vec::new();
                for pa in list.please_adds {
                    let member = MemberId::of(pa.read_cap.as_bytes());
                    let name = pa.display_name.to_string();
                    match g.add_member(pa, Some(sender), limits) {
                        Ok(true) => added.push((member, name)),
                        Ok(false) => {}
                        Err(e) => events.push(Event::Problem {
                            source: source.to_owned(),
                            error: format!("who reply: {e}"),
                        }),
                    }
                }
                if !missing_there.is_empty() || !added.is_empty() {
                    events.push(Event::WhoReplyDiffers {
                        group: gid,
                        by: sender,
                        missing_there,
                    });
                }
                for (member, name) in added {
                    events.push(Event::MemberAdded {
                        group: gid,
                        member,
                        name,
                        by: Some(sender),
                    });
                }
            }
        }
        let g = self.groups.get_mut(&gid).expect("checked");
        let ours = g.membership_hash();
        let differs = msg.membership_hash != ours;
        let member = g.members.get_mut(&sender_key).expect("checked");
        if differs && !member.view_differs {
            events.push(Event::MembershipMismatch {
                group: gid,
                sender,
                theirs: msg.membership_hash,
                ours,
            });
        }
        member.view_differs = differs;
        Ok(())
    }

    pub(super) fn on_channel_box(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        label: &str,
        bytes: &[u8],
    ) -> Result<(), ClientError> {
        let source = format!("channel {label}");
        let problem = |events: &mut Vec<Event>, error: String| {
            events.push(Event::Problem {
                source: source.clone(),
                error,
            })
        };
        let msg = match ChannelMessage::from_cbor(bytes) {
            Ok(m) => m,
            Err(e) => {
                problem(events, e.to_string());
                return Ok(());
            }
        };
        match msg {
            ChannelMessage::Text(t) => {
                let entry = self.channel_entry(d, label, false, Content::Text(t));
                events.push(Event::ChannelText {
                    channel: label.to_owned(),
                    entry,
                });
            }
            ChannelMessage::Invitation(inv) => {
                let id = inv.group_id;
                if self.groups.contains_key(&id) {
                    problem(events, "invitation to a group we are in".into());
                } else if self
                    .inv_in
                    .get(&id)
                    .is_some_and(|r| r.channel != label && !r.write_cap.is_empty())
                {
                    problem(
                        events,
                        "invitation to a group we asked to join elsewhere".into(),
                    );
                } else {
                    let prev = self.inv_in.remove(&id);
                    let rec = InvitationInRecord {
                        v: RECORD_VERSION,
                        group_id: id.0.to_vec(),
                        group_name: inv.group_name.clone(),
                        channel: label.to_owned(),
                        write_cap: prev
                            .as_ref()
                            .map(|p| p.write_cap.clone())
                            .unwrap_or_default(),
                        display_name: prev
                            .as_ref()
                            .map(|p| p.display_name.clone())
                            .unwrap_or_default(),
                        revise_reason: String::new(),
                    };
                    self.inv_in.insert(id, rec);
                    d.inv_in.insert(id);
                    events.push(Event::Invited {
                        channel: label.to_owned(),
                        group: id,
                        group_name: inv.group_name,
                    });
                }
            }
            ChannelMessage::SignedPleaseAdd(s) => {
                let key = (s.group_id, label.to_owned());
                if !self.inv_out.contains_key(&key) {
                    problem(events, "a join request we did not invite".into());
                    return Ok(());
                }
                let pa = match s.verify() {
                    Ok(pa) => pa,
                    Err(e) => {
                        problem(events, format!("join request: {e}"));
                        return Ok(());
                    }
                };
                let Some(g) = self.groups.get(&s.group_id) else {
                    problem(events, "join request for a group we left".into());
                    return Ok(());
                };
                if g.members.contains_key(pa.read_cap.as_bytes()) {
                    problem(events, "join request from a current member".into());
                    return Ok(());
                }
                let name_taken = g
                    .members
                    .values()
                    .any(|m| m.please_add.display_name == pa.display_name);
                let rec = self.inv_out.get_mut(&key).expect("checked");
                rec.request = ChannelMessage::SignedPleaseAdd(s.clone()).to_cbor();
                d.inv_out.insert(key);
                events.push(Event::JoinRequest {
                    channel: label.to_owned(),
                    group: s.group_id,
                    display_name: pa.display_name.to_string(),
                    name_taken,
                });
            }
            ChannelMessage::PleaseReviseDisplayName(p) => match self.inv_in.get_mut(&p.group_id) {
                Some(r) if r.channel == label && !r.write_cap.is_empty() => {
                    r.revise_reason = p.reason.clone();
                    d.inv_in.insert(p.group_id);
                    events.push(Event::ReviseRequested {
                        channel: label.to_owned(),
                        group: p.group_id,
                        reason: p.reason,
                    });
                }
                _ => problem(events, "request to revise a name we did not send".into()),
            },
            ChannelMessage::Welcome(w) => self.on_welcome(d, events, label, w)?,
        }
        Ok(())
    }

    pub(super) fn on_welcome(
        &mut self,
        d: &mut Dirty,
        events: &mut Vec<Event>,
        label: &str,
        w: Welcome,
    ) -> Result<(), ClientError> {
        let source = format!("channel {label}");
        let id = w.group_id;
        let problem = |events: &mut Vec<Event>, error: &str| {
            events.push(Event::Problem {
                source: source.clone(),
                error: error.to_owned(),
            })
        };
        let Some(inv) = self.inv_in.get(&id) else {
            problem(events, "welcome to a group we did not ask to join");
            return Ok(());
        };
        if inv.channel != label || inv.write_cap.is_empty() {
            problem(events, "welcome from a channel we did not ask");
            return Ok(());
        }
        if self.groups.contains_key(&id) {
            problem(events, "welcome to a group we are in");
            return Ok(());
        }
        let cap = WriteCap::from_bytes(&inv.write_cap)?;
        let my_cap: ReadCap = cap.read_cap();
        let my_key = *my_cap.to_bytes();
        let Some(me) = w
            .members
            .please_adds
            .iter()
            .find(|p| *p.read_cap.as_bytes() == my_key)
            .cloned()
        else {
            problem(events, "welcome whose member list lacks us");
            return Ok(());
        };
        let limits = self.config.effective_limits();
        let mut g = Group::new(
            id,
            w.group_name.clone(),
            StatefulWriter::new(cap, &group_ctx(&id)),
            me,
        );
        let mut added = Vec::new();
        for pa in w.members.please_adds {
            let member = MemberId::of(pa.read_cap.as_bytes());
            let name = pa.display_name.to_string();
            match g.add_member(pa, None, limits) {
                Ok(true) => added.push((member, name)),
                Ok(false) => {}
                Err(e) => problem(events, &format!("welcome member: {e}")),
            }
        }
        let (my_id, my_name) = (g.my_id(), g.my_name());
        self.groups.insert(id, g);
        self.inv_in.remove(&id);
        d.inv_in.insert(id);
        d.groups.insert(id);
        self.group_entry(d, id, my_id, my_name, true, Content::Joined);
        events.push(Event::Joined {
            group: id,
            group_name: w.group_name,
        });
        for (member, name) in added {
            events.push(Event::MemberAdded {
                group: id,
                member,
                name,
                by: None,
            });
        }
        Ok(())
    }
}
