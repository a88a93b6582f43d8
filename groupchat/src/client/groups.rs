//! Groups: create, post text and files, WHO, history.

use super::*;

impl Client {
    // ---------------------------------------------------------------- groups

    /// Creates a group of one (us, shown as `display_name`) and returns its ID.
    pub fn create_group(&mut self, name: &str, display_name: &str) -> Result<GroupId, ClientError> {
        check_label(name, MAX_GROUP_NAME_CHARS)
            .map_err(|e| ClientError::InvalidArgument(format!("group name: {e}")))?;
        let dn = DisplayName::new(display_name)?;
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let id = GroupId(raw);
        let cap = WriteCap::generate(&mut OsRng);
        let me = PleaseAdd::new(dn, &cap.read_cap());
        let writer = StatefulWriter::new(cap, &group_ctx(&id));
        self.groups
            .insert(id, Group::new(id, name.to_owned(), writer, me));
        let mut d = Dirty::default();
        d.groups.insert(id);
        self.commit(d)?;
        Ok(id)
    }

    /// Every group.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.groups
            .values()
            .map(|g| GroupInfo {
                id: g.id,
                name: g.name.clone(),
                members: g.member_infos(),
                membership_hash: g.membership_hash(),
            })
            .collect()
    }

    /// One group.
    pub fn group_info(&self, id: &GroupId) -> Result<GroupInfo, ClientError> {
        let g = self.group(id)?;
        Ok(GroupInfo {
            id: g.id,
            name: g.name.clone(),
            members: g.member_infos(),
            membership_hash: g.membership_hash(),
        })
    }

    /// Posts a text message to a group (long ones through AllOrNothing).
    pub async fn post_text(&mut self, id: &GroupId, text: &str) -> Result<(), ClientError> {
        let content = Content::Text(text.to_owned());
        self.send_group(
            *id,
            Body::Text(text.to_owned()),
            Completion::GroupPosted {
                group: id.0.to_vec(),
                content,
            },
        )
        .await
    }

    /// Sends a file to a group (through AllOrNothing when it needs more than one box).
    pub async fn send_file(
        &mut self,
        id: &GroupId,
        basename: &str,
        filetype: FileType,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        if payload.len() > self.config.max_file_len {
            return Err(ClientError::InvalidArgument(format!(
                "file of {} bytes is over the cap of {}",
                payload.len(),
                self.config.max_file_len
            )));
        }
        let content = Content::File {
            basename: basename.to_owned(),
            filetype: filetype.as_str().to_owned(),
            len: payload.len() as u64,
            path: String::new(),
        };
        self.send_group(
            *id,
            Body::FileUpload(FileUpload {
                payload,
                filetype,
                basename: basename.to_owned(),
            }),
            Completion::GroupPosted {
                group: id.0.to_vec(),
                content,
            },
        )
        .await
    }

    /// Asks the group WHO: every member that reads it answers with a WHOREPLY listing its
    /// members, and members we lack are added from it.
    pub async fn who(&mut self, id: &GroupId) -> Result<(), ClientError> {
        self.send_group(
            *id,
            Body::Who(String::new()),
            Completion::GroupPosted {
                group: id.0.to_vec(),
                content: Content::Who,
            },
        )
        .await
    }

    /// A group's history in arrival order (ours included, at the time we sent).
    pub fn history(&self, id: &GroupId) -> Result<Vec<HistoryEntry>, ClientError> {
        self.group(id)?;
        self.db
            .scan(&keys::group_history_prefix(&id.0))?
            .into_iter()
            .map(|(_, v)| {
                let r: HistoryRecord = records::decode("history", &v)?;
                Ok(r.into())
            })
            .collect()
    }

    /// What one member sent to a group, in their stream's order.
    pub fn history_of(
        &self,
        id: &GroupId,
        member: &MemberId,
    ) -> Result<Vec<HistoryEntry>, ClientError> {
        Ok(self
            .history(id)?
            .into_iter()
            .filter(|e| e.sender.as_ref() == Some(member))
            .collect())
    }
}
