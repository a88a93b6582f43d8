//! The join flow: invitation, signed request, revision, approval in one AllOrNothing.

use super::*;

impl Client {
    // ---------------------------------------------------------------- the join flow

    /// Invites the peer of channel `label` to group `id`.
    pub async fn invite(&mut self, id: &GroupId, label: &str) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let g = self.group(id)?;
        let msg = ChannelMessage::Invitation(Invitation {
            group_id: *id,
            group_name: g.name.clone(),
        });
        self.inv_out.insert(
            (*id, label.to_owned()),
            InvitationOutRecord {
                v: RECORD_VERSION,
                group_id: id.0.to_vec(),
                channel: label.to_owned(),
                request: Vec::new(),
            },
        );
        let mut pre = Dirty::default();
        pre.inv_out.insert((*id, label.to_owned()));
        self.send_channel(label, &msg, Completion::Nothing, pre)
            .await
    }

    /// The invitations we received and have not completed.
    pub fn invitations(&self) -> Vec<InvitationInfo> {
        self.inv_in
            .iter()
            .map(|(id, r)| InvitationInfo {
                group: *id,
                group_name: r.group_name.clone(),
                channel: r.channel.clone(),
                answered_as: (!r.display_name.is_empty()).then(|| r.display_name.clone()),
                revise_reason: (!r.revise_reason.is_empty()).then(|| r.revise_reason.clone()),
            })
            .collect()
    }

    /// Answers an invitation (again, after a request to revise): asks to join as
    /// `display_name`, with a SignedPleaseAdd for our future group stream.
    pub async fn accept_invitation(
        &mut self,
        id: &GroupId,
        display_name: &str,
    ) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let dn = DisplayName::new(display_name)?;
        let inv = self
            .inv_in
            .get_mut(id)
            .ok_or_else(|| ClientError::NotFound(format!("invitation to {id:?}")))?;
        if inv.write_cap.is_empty() {
            inv.write_cap = WriteCap::generate(&mut OsRng).to_bytes().to_vec();
        }
        let cap = WriteCap::from_bytes(&inv.write_cap)?;
        inv.display_name = dn.to_string();
        inv.revise_reason.clear();
        let label = inv.channel.clone();
        let signed = SignedPleaseAdd::sign(*id, &PleaseAdd::new(dn, &cap.read_cap()), &cap);
        let mut pre = Dirty::default();
        pre.inv_in.insert(*id);
        self.send_channel(
            &label,
            &ChannelMessage::SignedPleaseAdd(signed),
            Completion::Nothing,
            pre,
        )
        .await
    }

    /// The invitations we sent, with the invitee's request if it arrived.
    pub fn join_requests(&self) -> Vec<JoinRequestInfo> {
        self.inv_out
            .iter()
            .map(|((id, label), r)| JoinRequestInfo {
                group: *id,
                channel: label.clone(),
                display_name: Self::request_of(r)
                    .ok()
                    .map(|(_, pa)| pa.display_name.to_string()),
            })
            .collect()
    }

    pub(super) fn request_of(
        r: &InvitationOutRecord,
    ) -> Result<(SignedPleaseAdd, PleaseAdd), ClientError> {
        if r.request.is_empty() {
            return Err(ClientError::InvalidState(
                "the invitee has not answered".into(),
            ));
        }
        match ChannelMessage::from_cbor(&r.request)? {
            ChannelMessage::SignedPleaseAdd(s) => {
                let pa = s.verify()?;
                Ok((s, pa))
            }
            _ => Err(ClientError::Corrupt("stored join request".into())),
        }
    }

    /// Declines the invitee's display name and asks for another.
    pub async fn ask_revise(
        &mut self,
        id: &GroupId,
        label: &str,
        reason: &str,
    ) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let key = (*id, label.to_owned());
        let rec = self
            .inv_out
            .get_mut(&key)
            .ok_or_else(|| ClientError::NotFound("join request".into()))?;
        let (original, _) = Self::request_of(rec)?;
        rec.request.clear();
        let mut pre = Dirty::default();
        pre.inv_out.insert(key);
        let msg = ChannelMessage::PleaseReviseDisplayName(PleaseReviseDisplayName {
            group_id: *id,
            original,
            reason: reason.to_owned(),
        });
        self.send_channel(label, &msg, Completion::Nothing, pre)
            .await
    }

    /// Approves the invitee: in ONE AllOrNothing operation, publishes the INTRODUCTION to our
    /// group stream and sends the Welcome (the member list) on the channel.
    pub async fn approve(&mut self, id: &GroupId, label: &str) -> Result<(), ClientError> {
        self.resume_pending().await?;
        let rec = self
            .inv_out
            .get(&(*id, label.to_owned()))
            .ok_or_else(|| ClientError::NotFound("join request".into()))?;
        let (_, pa) = Self::request_of(rec)?;
        let g = self.group(id)?;
        if g.members.contains_key(pa.read_cap.as_bytes()) {
            return Err(ClientError::InvalidState("already a member".into()));
        }
        let mut all = g.please_adds();
        all.push(pa.clone());
        let intro = GroupChatMessage::new(MembershipHash::of(&all), Body::Introduction(pa.clone()))
            .to_cbor();
        let welcome = Zeroizing::new(
            ChannelMessage::Welcome(Welcome {
                group_id: *id,
                group_name: g.name.clone(),
                members: ReplyWho { please_adds: all },
            })
            .to_cbor(),
        );
        let chan = self.open_channel(label)?;
        let plan = AllOrNothingPlan::for_messages(
            &mut OsRng,
            self.config.geometry,
            &self.config.effective_limits(),
            vec![
                (g.writer.clone(), &intro[..]),
                (chan.writer.clone(), &welcome[..]),
            ],
        )?;
        self.submit(
            KIND_PLAN,
            plan.to_bytes(),
            vec![
                TargetRecord::Group(id.0.to_vec()),
                TargetRecord::Channel(label.to_owned()),
            ],
            Completion::Approved {
                group: id.0.to_vec(),
                label: label.to_owned(),
                please_add: pa.to_cbor(),
            },
            Dirty::default(),
        )
        .await
    }
}
