//! `post GROUP TEXT` and `send-file GROUP PATH`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use groupchat::messages::{FileType, FileUpload};
use groupchat::Config;
use pigeonhole::transport::Transport;
use serde_json::json;

use crate::output::gid;
use crate::profile::{Global, TransportKind};
use crate::progress::Progress;
use crate::session;

/// Options of `post`.
#[derive(Debug, Args)]
pub struct PostArgs {
    /// The group.
    pub group: String,
    /// The text.
    pub text: String,
}

/// Options of `send-file`.
#[derive(Debug, Args)]
pub struct SendFileArgs {
    /// The group.
    pub group: String,
    /// The file.
    pub path: PathBuf,
    /// What kind of file it is.
    #[arg(long = "type", value_name = "TYPE", default_value = "arbitrary",
          value_parser = ["arbitrary", "image", "sound"])]
    pub filetype: String,
}

/// `post GROUP TEXT`
pub fn post(global: &Global, a: PostArgs) -> anyhow::Result<ExitCode> {
    session::online(
        global,
        None,
        |s| s.group(&a.group),
        async |s, id| {
            let sent = s.client.post_text(&id, &a.text).await?;
            s.sent(
                sent,
                format!("posted to {}", s.group_name(&id)),
                json!({"group": gid(&id), "posted": true}),
            );
            Ok(())
        },
    )
}

/// The name and bytes of the file at `path` to send, if it is a file of at most `max` bytes.
pub fn read_upload(path: &std::path::Path, max: usize) -> anyhow::Result<(String, Vec<u8>)> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    if meta.len() > max as u64 {
        bail!(
            "{} is too large: {} bytes, the most is {max}",
            path.display(),
            meta.len()
        );
    }
    let payload = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let basename = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    Ok((basename, payload))
}

/// `send-file GROUP PATH`
pub fn send_file(global: &Global, a: SendFileArgs) -> anyhow::Result<ExitCode> {
    let (basename, payload) = read_upload(&a.path, Config::default().max_file_len)?;
    let filetype = match a.filetype.as_str() {
        "image" => FileType::Image,
        "sound" => FileType::Sound,
        _ => FileType::Arbitrary,
    };
    let len = payload.len();
    let message_len = FileUpload::message_len(&basename, len);
    let writes = match global.transport {
        TransportKind::Simulator => {
            pigeonhole::transport::store_writes_for_message(message_len, bacap::Geometry::default())
        }
        // Every box is written on its own: the chain and its pointer.
        TransportKind::Katzenpost => Config::boxes_for(
            message_len,
            crate::profile::katzenpost(global, None)?.geometry(),
        ),
    };
    let progress = Progress::boxes(
        Some(writes as u64),
        &format!("sending {basename}"),
        global.json,
    );
    session::online(
        global,
        Some(progress),
        |s| s.group(&a.group),
        async |s, id| {
            // An upload goes on as long as the courier answers; an unreachable one leaves it
            // queued at once.
            s.client.set_wait(chat_client::Wait::Landed);
            let sent = s
                .client
                .send_file(&id, &basename, filetype, payload)
                .await?;
            s.sent(
                sent,
                format!("sent {basename} ({len} bytes) to {}", s.group_name(&id)),
                json!({"group": gid(&id), "basename": basename, "len": len, "sent": true}),
            );
            Ok(())
        },
    )
}
