//! `profile init | show | list`.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;

use crate::output::emit;
use crate::profile::{self, Global, Settings};
use crate::safe_text::safe;
use crate::session;

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Create the profile (`-p NAME`), or change its settings; `--courier URL` and
    /// `--courier-ca FILE` are saved in it.
    Init {
        /// The display name used when a command needs one and none is given.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the profile: where it lives, its display name, courier, groups and channels.
    Show,
    /// List the profiles under the home.
    List,
}

/// `profile ...`
pub fn run(global: &Global, cmd: ProfileCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ProfileCmd::Init { name } => init(global, name),
        ProfileCmd::Show => session::offline(global, |s| {
            let courier = global
                .courier
                .clone()
                .or(s.profile.settings.courier.clone());
            let pending = s.client.pending_count();
            let (groups, channels) = (s.client.groups().len(), s.client.channels().len());
            s.done(
                format!(
                    "profile {} in {}\ndisplay name: {}\ncourier: {}\ngroups: {groups}\n\
                     channels: {channels}\npending operations: {pending}",
                    s.profile.name,
                    s.profile.dir.display(),
                    safe(&s.profile.settings.display_name),
                    safe(courier.as_deref().unwrap_or("(none)")),
                ),
                json!({
                    "profile": s.profile.name, "dir": s.profile.dir.display().to_string(),
                    "display_name": s.profile.settings.display_name, "courier": courier,
                    "groups": groups, "channels": channels, "pending": pending,
                }),
            );
            Ok(())
        }),
        ProfileCmd::List => {
            for name in profile::list(global)? {
                if global.json {
                    emit(json!({ "profile": name }));
                } else {
                    println!("{name}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(global: &Global, name: Option<String>) -> anyhow::Result<ExitCode> {
    let dir = profile::profile_dir(global, &global.profile)?;
    let mut settings = if dir.join(profile::SETTINGS).is_file() {
        profile::load_settings(&dir)?
    } else {
        Settings::default()
    };
    if let Some(n) = name {
        groupchat::display_name::DisplayName::new(n.clone())
            .map_err(|e| anyhow!("display name {n:?}: {e}"))?;
        settings.display_name = n;
    }
    if let Some(ca) = &global.courier_ca {
        let ca =
            std::path::absolute(ca).map_err(|e| anyhow!("courier CA {}: {e}", ca.display()))?;
        settings.courier_ca = Some(ca);
    }
    if let Some(url) = global.courier.clone() {
        settings.courier = Some(url);
    }
    // The CA, the URL and the plain-HTTP rule, checked now rather than at the first send.
    let trust = profile::trust(settings.courier_ca.as_deref(), global.insecure_courier)?;
    if let Some(url) = &settings.courier {
        profile::http_store(url, 1, &trust)?;
    }
    // Creates the directory (0700) and the client's state.
    drop(profile::open_client(&dir, None)?);
    profile::save_settings(&dir, &settings)?;
    if global.json {
        emit(json!({
            "profile": global.profile, "dir": dir.display().to_string(),
            "display_name": settings.display_name, "courier": settings.courier,
            "courier_ca": settings.courier_ca,
        }));
    } else {
        println!("profile {} in {}", global.profile, dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
