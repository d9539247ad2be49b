//! `regtool settings`: show or change a registry's settings after `init`.
//! Floor 5 (`commands`).
//!
//! The URL lives in two places: `config.json`'s `dl` template (what cargo reads)
//! and `.regtool/config.toml`. Moving the registry to a new URL rewrites both;
//! the old URL becomes an alias, so crates that name it in their dependencies
//! still count as depending on this registry. Index lines are not touched: a
//! dependency on this registry carries no URL. Source:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-configuration>.

use crate::config::{self, RegistryConfig, RegistryName, Settings};
use crate::error::{Error, Result};
use crate::output::Shell;
use crate::registry::{Derived, Registry};
use serde::Serialize;

/// Changes asked of `settings`; `None`/empty leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct SettingsChange {
    /// New base URL (no trailing `/` needed).
    pub(crate) url: Option<String>,
    /// URLs to add to the aliases.
    pub(crate) add_aliases: Vec<String>,
    /// New `auth-required` flag of `config.json`.
    pub(crate) auth_required: Option<bool>,
    /// New largest `.crate`, in bytes.
    pub(crate) max_crate_size: Option<u64>,
    /// New largest unpacked size, in bytes.
    pub(crate) max_unpacked_size: Option<u64>,
    /// Turn the browsable catalogue on or off (off deletes its files; on
    /// writes it whole).
    pub(crate) html: Option<bool>,
    /// New lease length of the writers of a registry in object storage, in
    /// seconds (at least 1).
    pub(crate) lease_seconds: Option<u64>,
    /// New name cargo knows the registry by.
    pub(crate) name: Option<RegistryName>,
}

/// The report of `settings` (its `--format json` schema): the settings after
/// the change.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SettingsReport {
    /// Base URL the registry is served at.
    pub(crate) url: String,
    /// The index URL cargo uses (`sparse+{url}/`).
    pub(crate) index: String,
    /// The name cargo knows the registry by ([`Settings::registry_name`]).
    pub(crate) name: String,
    /// `config.json`'s download template.
    pub(crate) dl: String,
    /// Other URLs the registry is known by.
    pub(crate) aliases: Vec<String>,
    /// Whether cargo must send a token.
    pub(crate) auth_required: bool,
    /// Whether the registry replaces crates.io.
    pub(crate) mirror: bool,
    /// Largest `.crate` accepted, in bytes.
    pub(crate) max_crate_size: u64,
    /// Largest unpacked size, in bytes.
    pub(crate) max_unpacked_size: u64,
    /// Whether regtool writes the browsable catalogue.
    pub(crate) html: bool,
    /// How long the writers' lease lasts without renewal (a registry in
    /// object storage), in seconds.
    pub(crate) lease_seconds: u64,
    /// The oldest regtool writer version that may change the registry.
    pub(crate) min_writer_version: u32,
    /// Whether this run changed anything.
    pub(crate) changed: bool,
}

/// Applies `change` to `reg` (under the lock) and returns the settings.
///
/// # Errors
/// [`Error::Usage`] for a URL that is not a plain http(s) base URL; [`Error::Io`]
/// if `config.json` or `.regtool/config.toml` cannot be written;
/// [`Error::FeatureMissing`] (nothing written) in a build without the `html`
/// feature, for any change while the catalogue is on but turning it off, and
/// for turning it on.
pub(crate) fn settings(
    reg: &Registry,
    change: &SettingsChange,
    shell: &Shell,
) -> Result<SettingsReport> {
    let writer = if is_empty(change) {
        None
    } else {
        Some(reg.writer(shell)?)
    };
    // Under the lock, the settings as they are now.
    let now: &Registry = writer.as_deref().unwrap_or(reg);
    let (old_settings, old_cfg) = (now.settings.clone(), now.config.clone());
    let mut settings: Settings = old_settings.clone();
    let mut cfg: RegistryConfig = old_cfg.clone();
    if let Some(url) = &change.url {
        let url = config::check_base_url(url).map_err(Error::Usage)?;
        if url != settings.url {
            // A registry made before the name setting: keep the name its old
            // URL gave, which its users have in their cargo config.
            settings.name = Some(settings.registry_name());
            let old = std::mem::replace(&mut settings.url, url.clone());
            push_unique(&mut settings.aliases, old);
            settings.aliases.retain(|a| *a != url);
            cfg.dl = RegistryConfig::for_base_url(&url, cfg.auth_required).dl;
        }
    }
    for alias in &change.add_aliases {
        let alias = config::check_base_url(alias).map_err(Error::Usage)?;
        if alias != settings.url {
            push_unique(&mut settings.aliases, alias);
        }
    }
    if let Some(a) = change.auth_required {
        cfg.auth_required = a;
    }
    if let Some(n) = change.max_crate_size {
        settings.max_crate_size = n;
    }
    if let Some(n) = change.max_unpacked_size {
        settings.max_unpacked_size = n;
    }
    if let Some(h) = change.html {
        settings.html = h;
    }
    if let Some(l) = change.lease_seconds {
        settings.lease_seconds = Some(l.max(1));
    }
    if let Some(n) = &change.name {
        settings.name = Some(n.clone());
    }
    let changed = settings != old_settings || cfg != old_cfg;
    if let Some(mut writer) = writer.filter(|_| changed) {
        match writer.update_settings(settings.clone(), cfg.clone())? {
            Derived::Written { crates } => {
                shell.status(
                    "Catalogue",
                    format!("written for {}", crate::output::count(crates, "crate")),
                );
            }
            Derived::Removed => shell.status("Catalogue", "removed"),
            // A warning said why; the next change or `reindex` writes it.
            Derived::Unchanged | Derived::Pending => {}
        }
        shell.status(
            "Updated",
            format!("the settings of `{}`", reg.location().display()),
        );
    }
    let lease_seconds = settings.lease().as_secs();
    Ok(SettingsReport {
        name: settings.registry_name().into(),
        index: format!("sparse+{}/", settings.url),
        url: settings.url,
        dl: cfg.dl,
        aliases: settings.aliases,
        auth_required: cfg.auth_required,
        mirror: settings.mirror,
        max_crate_size: settings.max_crate_size,
        max_unpacked_size: settings.max_unpacked_size,
        html: settings.html,
        lease_seconds,
        min_writer_version: settings.min_writer_version,
        changed,
    })
}

fn is_empty(c: &SettingsChange) -> bool {
    c.url.is_none()
        && c.add_aliases.is_empty()
        && c.auth_required.is_none()
        && c.max_crate_size.is_none()
        && c.max_unpacked_size.is_none()
        && c.html.is_none()
        && c.lease_seconds.is_none()
        && c.name.is_none()
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}
