//! `regtool init`: create a registry.
//! Floor 5 (`commands`).

use crate::config::{self, RegistryConfig, RegistryName, Settings};
use crate::error::{Error, Result};
use crate::location::RegistryLocation;
use crate::output::Shell;
use serde::Serialize;
use std::path::PathBuf;

/// What `init` needs.
#[derive(Debug, Clone)]
pub(crate) struct InitOptions {
    /// Base URL the folder will be served at, e.g. `https://crates.example.com`.
    pub(crate) url: String,
    /// Other URLs the folder is served at (see [`Settings::aliases`]).
    pub(crate) aliases: Vec<String>,
    /// Cargo must send a token for every request (`auth-required` in config.json).
    pub(crate) auth_required: bool,
    /// The registry replaces crates.io through source replacement.
    pub(crate) mirror: bool,
    /// Largest `.crate` accepted, in bytes; `None`: [`config::DEFAULT_MAX_CRATE_SIZE`],
    /// or no limit ([`config::NO_SIZE_LIMIT`]) for a mirror.
    pub(crate) max_crate_size: Option<u64>,
    /// Largest unpacked size of a `.crate`, in bytes.
    pub(crate) max_unpacked_size: u64,
    /// Write the browsable catalogue (`index.html`...; see [`crate::catalogue`]).
    pub(crate) html: bool,
    /// The writers' lease length in seconds (a registry in object storage;
    /// `None`: [`config::DEFAULT_LEASE_SECONDS`]).
    pub(crate) lease_seconds: Option<u64>,
    /// The name cargo knows the registry by; `None`: derived from `url`
    /// ([`RegistryName::from_url`]). Stored either way, so that a later
    /// `settings --url` does not change it.
    pub(crate) name: Option<RegistryName>,
}

/// The report of `init` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct InitReport {
    /// The registry folder.
    pub(crate) registry: PathBuf,
    /// The index URL cargo uses (`sparse+{url}/`).
    pub(crate) index: String,
    /// `config.json`'s download template.
    pub(crate) dl: String,
    /// Whether cargo must send a token.
    pub(crate) auth_required: bool,
    /// Whether the registry replaces crates.io.
    pub(crate) mirror: bool,
    /// The name cargo knows the registry by (`[registries.NAME]`).
    pub(crate) name: String,
    /// The URL the registry is served at.
    #[serde(skip)]
    pub(crate) url: String,
}

/// Creates the registry at `location` (a folder or `s3://bucket/prefix`):
/// `config.json` with the dl template for `opts.url`, and `.regtool/` with the
/// settings (and the catalogue, unless `opts.html` is off).
///
/// # Errors
/// [`Error::Usage`] for a URL (or alias) that is not a plain http(s) base URL;
/// [`Error::AlreadyExists`] if `location` already holds a registry;
/// [`Error::Io`]; [`Error::Config`] when the S3 client cannot be set up.
pub(crate) fn init(
    location: &RegistryLocation,
    opts: &InitOptions,
    shell: &Shell,
) -> Result<InitReport> {
    let url = config::check_base_url(&opts.url).map_err(Error::Usage)?;
    let aliases = opts
        .aliases
        .iter()
        .map(|a| config::check_base_url(a).map_err(Error::Usage))
        .collect::<Result<Vec<_>>>()?;
    let cfg = RegistryConfig::for_base_url(&url, opts.auth_required);
    let settings = Settings {
        name: Some(
            opts.name
                .clone()
                .unwrap_or_else(|| RegistryName::from_url(&url)),
        ),
        url,
        aliases,
        mirror: opts.mirror,
        max_crate_size: opts.max_crate_size.unwrap_or(if opts.mirror {
            config::NO_SIZE_LIMIT
        } else {
            config::DEFAULT_MAX_CRATE_SIZE
        }),
        max_unpacked_size: opts.max_unpacked_size,
        html: opts.html,
        lease_seconds: opts.lease_seconds,
        ..Settings::new(String::new())
    };
    let writer = location.create(cfg, settings, shell)?;
    let reg = writer.registry();
    shell.status("Created", format!("registry in `{location}`"));
    Ok(InitReport {
        registry: reg.location(),
        index: reg.index_url(),
        dl: reg.config.dl.clone(),
        auth_required: reg.config.auth_required,
        mirror: reg.settings.mirror,
        name: reg.settings.registry_name().into(),
        url: reg.settings.url.clone(),
    })
}
