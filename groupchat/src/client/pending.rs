//! Network operations persisted before they run, resumed after a kill, completed atomically.

use super::*;

impl Client {
    // ---------------------------------------------------------------- pending operations

    pub(super) fn writer_mut(
        &mut self,
        t: &TargetRecord,
    ) -> Result<&mut StatefulWriter, ClientError> {
        match t {
            TargetRecord::Group(id) => {
                let id = group_id_from(id)?;
                self.groups
                    .get_mut(&id)
                    .map(|g| &mut g.writer)
                    .ok_or_else(|| ClientError::NotFound(format!("group {id:?}")))
            }
            TargetRecord::Channel(l) => self
                .channels
                .get_mut(l)
                .map(|c| &mut c.writer)
                .ok_or_else(|| ClientError::NotFound(format!("channel {l:?}"))),
        }
    }

    /// Persists an operation (with the records in `pre`), then runs it.
    pub(super) async fn submit(
        &mut self,
        kind: u8,
        op: Zeroizing<Vec<u8>>,
        targets: Vec<TargetRecord>,
        completion: Completion,
        mut pre: Dirty,
    ) -> Result<(), ClientError> {
        let seq = self.alloc_seq();
        let rec = PendingRecord {
            v: RECORD_VERSION,
            kind,
            op: op.to_vec(),
            targets,
            completion,
        };
        pre.puts.push((keys::pending(seq), records::encode(&rec)));
        self.commit(pre)?;
        match self.run_pending(seq, rec).await {
            Err(ClientError::Stream(e)) if !permanent(&e) => Err(ClientError::Queued(e)),
            other => other,
        }
    }

    /// Runs every persisted operation that has not completed (after a kill, or after a store
    /// failure), in order. Every network operation calls it first.
    pub async fn resume_pending(&mut self) -> Result<(), ClientError> {
        for (k, v) in self.db.scan(keys::PENDING)? {
            let v = Zeroizing::new(v);
            let seq = u64::from_be_bytes(
                k[keys::PENDING.len()..]
                    .try_into()
                    .map_err(|_| ClientError::Corrupt("pending key".into()))?,
            );
            let rec: PendingRecord = records::decode("pending operation", &v)?;
            check_version("pending operation", rec.v)?;
            self.run_pending(seq, rec).await?;
        }
        Ok(())
    }

    /// How many operations wait to be resumed.
    pub fn pending_count(&self) -> Result<usize, ClientError> {
        Ok(self.db.scan(keys::PENDING)?.len())
    }

    pub(super) async fn run_pending(
        &mut self,
        seq: u64,
        rec: PendingRecord,
    ) -> Result<(), ClientError> {
        let g = self.config.geometry;
        let result: Result<Vec<StatefulWriter>, StreamError> = match rec.kind {
            KIND_OUTGOING => {
                let out = Outgoing::from_bytes(&rec.op, g)?;
                self.check_before(&rec.targets, std::slice::from_ref(out.writer_before()))?;
                out.execute(&*self.store, self.config.copy_options)
                    .await
                    .map(|w| vec![w])
            }
            KIND_PLAN => {
                let plan = AllOrNothingPlan::from_bytes(&rec.op)?;
                let before: Vec<StatefulWriter> = plan.destinations().cloned().collect();
                self.check_before(&rec.targets, &before)?;
                plan.execute(&*self.store, self.config.copy_options).await
            }
            k => return Err(ClientError::Corrupt(format!("pending kind {k}"))),
        };
        let mut d = Dirty::default();
        d.deletes.push(keys::pending(seq));
        match result {
            Ok(writers) => match self.landed(&rec, writers, &mut d) {
                Ok(()) => self.commit(d),
                Err(e) => {
                    let _ = self.load();
                    Err(e)
                }
            },
            Err(e) if permanent(&e) => {
                // No retry can land it: drop it so it does not block the profile.
                self.commit(d)?;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies a landed operation in memory: advanced writers, then its completion.
    fn landed(
        &mut self,
        rec: &PendingRecord,
        writers: Vec<StatefulWriter>,
        d: &mut Dirty,
    ) -> Result<(), ClientError> {
        for (t, w) in rec.targets.iter().zip(writers) {
            *self.writer_mut(t)? = w;
            match t {
                TargetRecord::Group(id) => d.groups.insert(group_id_from(id)?),
                TargetRecord::Channel(l) => d.channels.insert(l.clone()),
            };
        }
        self.complete(&rec.completion, d)
    }

    pub(super) fn check_before(
        &mut self,
        targets: &[TargetRecord],
        before: &[StatefulWriter],
    ) -> Result<(), ClientError> {
        if targets.len() != before.len() {
            return Err(ClientError::Corrupt("pending operation targets".into()));
        }
        for (t, b) in targets.iter().zip(before) {
            if self.writer_mut(t)? != b {
                return Err(ClientError::Corrupt(
                    "pending operation prepared for another writer state".into(),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn complete(&mut self, c: &Completion, d: &mut Dirty) -> Result<(), ClientError> {
        match c {
            Completion::Nothing => {}
            Completion::GroupPosted { group, content } => {
                let id = group_id_from(group)?;
                let g = self.group(&id)?;
                let (me, name) = (g.my_id(), g.my_name());
                self.group_entry(d, id, me, name, true, content.clone());
            }
            Completion::ChannelPosted { label, content } => {
                self.channel_entry(d, label, true, content.clone());
            }
            Completion::Approved {
                group,
                label,
                please_add,
            } => {
                let id = group_id_from(group)?;
                let pa = PleaseAdd::from_cbor(please_add)?;
                let limits = self.config.effective_limits();
                let g = self
                    .groups
                    .get_mut(&id)
                    .ok_or_else(|| ClientError::NotFound("group".into()))?;
                let (me, my_name) = (g.my_id(), g.my_name());
                let member = MemberId::of(pa.read_cap.as_bytes());
                let name = pa.display_name.to_string();
                g.add_member(pa, Some(me), limits)?;
                d.groups.insert(id);
                self.inv_out.remove(&(id, label.clone()));
                d.inv_out.insert((id, label.clone()));
                self.group_entry(
                    d,
                    id,
                    me,
                    my_name,
                    true,
                    Content::Introduced {
                        name,
                        member: member.0.to_vec(),
                    },
                );
            }
            Completion::WhoReplied { group } => {
                let id = group_id_from(group)?;
                if let Some(g) = self.groups.get_mut(&id) {
                    g.owe_who_reply = false;
                    d.groups.insert(id);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn send_group(
        &mut self,
        id: GroupId,
        body: Body,
        completion: Completion,
    ) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let g = self.group(&id)?;
        let msg = GroupChatMessage::new(g.membership_hash(), body).to_cbor();
        let out = Outgoing::prepare(
            &mut OsRng,
            &g.writer,
            &[&msg],
            self.config.geometry,
            &self.config.effective_limits(),
        )?;
        self.submit(
            KIND_OUTGOING,
            out.to_bytes(),
            vec![TargetRecord::Group(id.0.to_vec())],
            completion,
            Dirty::default(),
        )
        .await
    }

    pub(super) async fn send_channel(
        &mut self,
        label: &str,
        msg: &ChannelMessage,
        completion: Completion,
        pre: Dirty,
    ) -> Result<(), ClientError> {
        let c = self.open_channel(label)?;
        let bytes = Zeroizing::new(msg.to_cbor());
        let out = Outgoing::prepare(
            &mut OsRng,
            &c.writer,
            &[&bytes],
            self.config.geometry,
            &self.config.effective_limits(),
        )?;
        self.submit(
            KIND_OUTGOING,
            out.to_bytes(),
            vec![TargetRecord::Channel(label.to_owned())],
            completion,
            pre,
        )
        .await
    }
}
