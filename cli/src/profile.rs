//! Where profiles live, which courier to use, and opening a profile's client.
//!
//! A profile is a directory `<home>/profiles/<name>/` (0700) holding the client's RocksDB state,
//! received files, and `cli.json` (the default display name and the courier URL). The home is
//! `--home`, else `$BACAP_CHAT_HOME`, else the platform's data directory
//! (`~/.local/share/bacap-chat` on Linux).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chat_client::{Client, ClientError};
use clap::Args;
use courier_protocol::{ConnectError, HttpStore, RetryPolicy, Trust};
use groupchat::Config;
use katzenpost_transport::{
    BoxHook, DaemonAddr, DaemonConfig, KatzenpostTransport, DEFAULT_DAEMON_ADDR,
};
use pigeonhole::store::BoxStore;
use pigeonhole::transport::{Sealing, Transport};
use serde::{Deserialize, Serialize};

/// The flags every command shares.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Directory holding the profiles (default: the platform's data directory, e.g.
    /// ~/.local/share/bacap-chat).
    #[arg(long, global = true, value_name = "DIR", env = "BACAP_CHAT_HOME")]
    pub home: Option<PathBuf>,
    /// The profile to use.
    #[arg(
        short,
        long,
        global = true,
        value_name = "NAME",
        env = "BACAP_CHAT_PROFILE",
        default_value = "default"
    )]
    pub profile: String,
    /// The courier's URL (default: the one saved in the profile).
    #[arg(long, global = true, value_name = "URL", env = "BACAP_CHAT_COURIER")]
    pub courier: Option<String>,
    /// A CA certificate (PEM) to trust for an https:// courier besides the web's roots: a
    /// private CA or the courier's self-signed certificate (default: the one saved in the
    /// profile by `profile init --courier-ca FILE`).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "BACAP_CHAT_COURIER_CA"
    )]
    pub courier_ca: Option<PathBuf>,
    /// Allow a plain http:// courier beyond loopback. Anyone on the path can then read and
    /// change every query; without it, http:// is accepted only to 127.0.0.1, ::1 and localhost.
    #[arg(long, global = true)]
    pub insecure_courier: bool,
    /// How many times a query is sent before the courier counts as unreachable.
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "BACAP_CHAT_ATTEMPTS",
        default_value_t = 10
    )]
    pub attempts: u32,
    /// Print data as JSON, one object per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Wait until what the command sends landed, and fail (exit 1) if it cannot land now.
    /// Without it, a command gives the courier a bounded try (half a second; a file upload
    /// as long as the courier answers) and leaves what did not land in the outbox, for the
    /// next command that reaches the courier.
    #[arg(
        long,
        global = true,
        env = "BACAP_CHAT_WAIT",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub wait: bool,
    /// The network that carries the boxes: the courier simulator's HTTP protocol, or a
    /// Katzenpost mixnet through its client daemon, kpclientd (`--daemon`).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "BACAP_CHAT_TRANSPORT",
        default_value = "simulator"
    )]
    pub transport: TransportKind,
    /// kpclientd's thin-client address, host:port or unix:PATH (with `--transport
    /// katzenpost`; default: the one in `--daemon-config`, else 127.0.0.1:64331).
    #[arg(long, global = true, value_name = "ADDR", env = "BACAP_CHAT_DAEMON")]
    pub daemon: Option<String>,
    /// kpclientd's client.toml or the thin client's thinclient.toml: the box size (the daemon
    /// does not announce it; default 1553 bytes, what Katzenpost v0.0.70's genconfig writes)
    /// and the daemon's address.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "BACAP_CHAT_DAEMON_CONFIG"
    )]
    pub daemon_config: Option<PathBuf>,
}

/// Which network carries the boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// The courier simulator (`bacap-chat courier`), over HTTP; BACAP in this process.
    Simulator,
    /// Katzenpost, through kpclientd v0.0.70's thin-client protocol; the daemon does BACAP.
    Katzenpost,
}

/// What the CLI keeps in a profile besides the client's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// The display name used when none is given.
    #[serde(default)]
    pub display_name: String,
    /// The courier URL, if saved.
    #[serde(default)]
    pub courier: Option<String>,
    /// The CA certificate (PEM file) trusted for the courier, if saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courier_ca: Option<PathBuf>,
}

/// The settings file inside a profile directory.
pub const SETTINGS: &str = "cli.json";

/// The profile home.
pub fn home(global: &Global) -> anyhow::Result<PathBuf> {
    if let Some(h) = &global.home {
        return Ok(h.clone());
    }
    let dirs = directories::ProjectDirs::from("", "", "bacap-chat").context(
        "cannot find the platform's data directory; pass --home DIR or set BACAP_CHAT_HOME",
    )?;
    Ok(dirs.data_dir().to_path_buf())
}

/// Checks a profile name: 1 to 32 of A-Z a-z 0-9 - _ (it becomes a directory name).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !ok {
        bail!("profile name {name:?}: use 1 to 32 of A-Z a-z 0-9 - _");
    }
    Ok(())
}

/// The directory of profile `name`.
pub fn profile_dir(global: &Global, name: &str) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    Ok(home(global)?.join("profiles").join(name))
}

/// The profile names under the home.
pub fn list(global: &Global) -> anyhow::Result<Vec<String>> {
    let dir = home(global)?.join("profiles");
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.path().join(SETTINGS).is_file() {
                names.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Reads the settings of the profile in `dir`.
pub fn load_settings(dir: &Path) -> anyhow::Result<Settings> {
    let path = dir.join(SETTINGS);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
}

/// Writes the settings of the profile in `dir` (owner-only).
pub fn save_settings(dir: &Path, settings: &Settings) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(SETTINGS);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(serde_json::to_string_pretty(settings)?.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

/// An existing profile: its directory and settings.
pub struct Profile {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its settings.
    pub settings: Settings,
}

impl Profile {
    /// The profile the flags name; it must have been set up with `profile init`.
    pub fn existing(global: &Global) -> anyhow::Result<Self> {
        let dir = profile_dir(global, &global.profile)?;
        if !dir.join(SETTINGS).is_file() {
            bail!(
                "no profile {:?} in {}; create it with `bacap-chat -p {} profile init --name NAME`",
                global.profile,
                dir.parent()
                    .and_then(Path::parent)
                    .unwrap_or(&dir)
                    .display(),
                global.profile
            );
        }
        let settings = load_settings(&dir)?;
        Ok(Self {
            name: global.profile.clone(),
            dir,
            settings,
        })
    }

    /// How to trust the courier: `--courier-ca` (or the environment), else the profile's CA;
    /// `--insecure-courier`.
    pub fn trust(&self, global: &Global) -> anyhow::Result<Trust> {
        let ca = global
            .courier_ca
            .as_deref()
            .or(self.settings.courier_ca.as_deref());
        trust(ca, global.insecure_courier)
    }

    /// The courier URL: the flag or environment, else the profile's.
    pub fn courier_url(&self, global: &Global) -> anyhow::Result<String> {
        match global
            .courier
            .clone()
            .or_else(|| self.settings.courier.clone())
        {
            Some(url) => Ok(url),
            None => bail!(
                "no courier for profile {:?}: pass --courier URL, set BACAP_CHAT_COURIER, or save \
                 one with `profile init --courier URL`; to run the bundled one: \
                 `bacap-chat courier --ephemeral` (it prints its URL)",
                self.name
            ),
        }
    }
}

/// How the client trusts the courier: the CA of `ca` (a PEM file), if any, and plain HTTP
/// beyond loopback only if `insecure` (`--insecure-courier`).
pub fn trust(ca: Option<&Path>, insecure: bool) -> anyhow::Result<Trust> {
    let extra_roots_pem = match ca {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the courier CA {}", path.display()))?,
        ),
        None => None,
    };
    Ok(Trust {
        extra_roots_pem,
        insecure_http: insecure,
    })
}

/// The HTTP store of the courier at `url`, trusting as `trust` says.
pub fn http_store(url: &str, attempts: u32, trust: &Trust) -> anyhow::Result<Arc<dyn BoxStore>> {
    let policy = RetryPolicy {
        max_attempts: attempts.max(1),
        max_backoff: Duration::from_secs(1),
        ..RetryPolicy::default()
    };
    let store = HttpStore::connect(url, policy, trust).map_err(connect_error)?;
    Ok(Arc::new(store))
}

/// A client of the courier that cannot be made, in a line that says what to do.
pub fn connect_error(e: ConnectError) -> anyhow::Error {
    match e {
        ConnectError::PlainHttpBeyondLoopback(_) => anyhow::anyhow!(
            "{e} (and --courier-ca FILE for a private CA), or pass --insecure-courier to send \
             in the clear anyway"
        ),
        ConnectError::Ca(_) => anyhow::anyhow!("{e} (the file of --courier-ca)"),
        other => anyhow::anyhow!(other),
    }
}

/// The transport over `store`: BACAP in this process.
pub fn transport(store: Arc<dyn BoxStore>) -> Arc<dyn Transport> {
    Arc::new(Sealing::new(store))
}

/// The Katzenpost transport the flags describe (`--daemon`, `--daemon-config`, `--attempts`),
/// calling `on_box` for every box written or found.
pub fn katzenpost(
    global: &Global,
    on_box: Option<BoxHook>,
) -> anyhow::Result<Arc<KatzenpostTransport>> {
    let config = match &global.daemon_config {
        Some(path) => Some(DaemonConfig::read(path)?),
        None => None,
    };
    let addr = match (&global.daemon, config.as_ref().and_then(|c| c.addr.clone())) {
        (Some(a), _) => DaemonAddr::parse(a),
        (None, Some(a)) => a,
        (None, None) => DaemonAddr::parse(DEFAULT_DAEMON_ADDR),
    };
    let mut options = katzenpost_transport::Options {
        attempts: global.attempts.max(1),
        ..Default::default()
    };
    if let Some(c) = config {
        options.geometry = c.geometry;
    }
    let transport = KatzenpostTransport::new(addr, options);
    Ok(Arc::new(match on_box {
        Some(hook) => transport.with_box_hook(hook),
        None => transport,
    }))
}

/// Opens the client of the profile in `dir` (offline without a transport), waiting up to 15 s
/// while another bacap-chat process (a `watch`, say) holds the profile.
pub fn open_client(dir: &Path, transport: Option<Arc<dyn Transport>>) -> anyhow::Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match Client::open_with(dir, transport.clone(), Config::default()) {
            Ok(c) => return Ok(c),
            Err(ClientError::ProfileLocked(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e @ ClientError::ProfileLocked(_)) => return Err(e.into()),
            Err(e) => return Err(e).context(format!("cannot open profile {}", dir.display())),
        }
    }
}
