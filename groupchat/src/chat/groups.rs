//! Group commands: create, post texts and files, WHO, and what the user sees of groups.

use bacap::{StatefulWriter, WriteCap};
use rand_core::{CryptoRng, RngCore};

use super::{Chat, OpId};
use crate::channel::{GroupId, MAX_GROUP_NAME_CHARS};
use crate::display_name::{check_label, DisplayName};
use crate::error::Error;
use crate::group::GroupInfo;
use crate::group::{group_ctx, Group};
use crate::keys;
use crate::messages::{Body, FileType, FileUpload, PleaseAdd};
use crate::records::{Completion, Content, TargetRecord};

impl Chat {
    /// Creates a group of one (us, shown as `display_name`) and returns its ID.
    pub fn create_group<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        name: &str,
        display_name: &str,
    ) -> Result<GroupId, Error> {
        check_label(name, MAX_GROUP_NAME_CHARS).map_err(Error::InvalidGroupName)?;
        let dn = DisplayName::new(display_name)?;
        let mut raw = [0u8; 32];
        rng.fill_bytes(&mut raw);
        let id = GroupId(raw);
        let cap = WriteCap::generate(rng);
        let me = PleaseAdd::new(dn, &cap.read_cap());
        let writer = StatefulWriter::new(cap, &group_ctx(&id));
        self.groups
            .insert(id, Group::new(id, name.to_owned(), writer, me));
        self.changed_groups.insert(id);
        Ok(id)
    }

    /// Every group.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.groups.values().map(Group::info).collect()
    }

    /// One group.
    pub fn group_info(&self, id: &GroupId) -> Result<GroupInfo, Error> {
        Ok(self.group(id)?.info())
    }

    /// Queues a text message to a group (long ones go through AllOrNothing).
    pub fn post_text<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        text: &str,
    ) -> Result<OpId, Error> {
        let content = Content::Text(text.to_owned());
        self.send_group(rng, *id, Body::Text(text.to_owned()), content)
    }

    /// Queues a file to a group (through AllOrNothing when it needs more than one box).
    pub fn send_file<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
        basename: &str,
        filetype: FileType,
        payload: Vec<u8>,
    ) -> Result<OpId, Error> {
        let max = self.config.max_file_len;
        if payload.len() > max {
            return Err(Error::FileTooLarge {
                len: payload.len(),
                max,
            });
        }
        let content = Content::File {
            basename: basename.to_owned(),
            filetype: filetype.as_str().to_owned(),
            len: payload.len() as u64,
            path: String::new(),
        };
        let body = Body::FileUpload(FileUpload {
            payload,
            filetype,
            basename: basename.to_owned(),
        });
        self.send_group(rng, *id, body, content)
    }

    /// Queues WHO: every member that reads it answers with a WHOREPLY listing its members, and
    /// members we lack are added from it.
    pub fn who<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: &GroupId,
    ) -> Result<OpId, Error> {
        self.send_group(rng, *id, Body::Who(String::new()), Content::Who)
    }

    /// The key prefix of group `id`'s history, for the client to read it.
    pub fn group_history_prefix(&self, id: &GroupId) -> Result<Vec<u8>, Error> {
        self.group(id)?;
        Ok(keys::group_history_prefix(&id.0))
    }

    /// Queues `body` to group `id`; once it landed, `content` goes into our history.
    fn send_group<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: GroupId,
        body: Body,
        content: Content,
    ) -> Result<OpId, Error> {
        let completion = Completion::GroupPosted {
            group: id.0.to_vec(),
            content,
        };
        self.queue_group(rng, id, body, completion)
    }

    /// Queues `body` to group `id`, to complete with `completion`.
    pub(crate) fn queue_group<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: GroupId,
        body: Body,
        completion: Completion,
    ) -> Result<OpId, Error> {
        let limits = self.limits();
        let out = self
            .group(&id)?
            .prepare(rng, body, self.geometry, &limits)?;
        Ok(self.outbox.submit_outgoing(
            &mut self.log,
            &out,
            TargetRecord::Group(id.0.to_vec()),
            completion,
        ))
    }
}
