//! `config.json` (cargo's `RegistryConfig`) and regtool's own settings in
//! `.regtool/config.toml`.
//! Floor 0 (`core`): imports [`crate::error`] and [`crate::layout`] only.
//!
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-configuration>

use crate::error::{Error, Result};
use crate::layout::CRATES_DIR;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The markers cargo replaces in a `dl` template.
pub(crate) const DL_MARKERS: &[&str] = &[
    "{crate}",
    "{version}",
    "{prefix}",
    "{lowerprefix}",
    "{sha256-checksum}",
];

/// `config.json` at the registry root, as cargo reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RegistryConfig {
    /// Download URL template: `{base-url}/crates/{crate}/{crate}-{version}.crate` for
    /// regtool's layout. If it has none of [`DL_MARKERS`], cargo appends
    /// `/{crate}/{version}/download`.
    pub(crate) dl: String,
    /// Web API URL; `None` for a static registry (cargo cannot publish to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) api: Option<String>,
    /// Whether cargo must send a token for every request (RFC 3139).
    #[serde(rename = "auth-required", default, skip_serializing_if = "is_false")]
    pub(crate) auth_required: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl RegistryConfig {
    /// The config for a registry served at `base_url` (no trailing `/`): its
    /// `dl` points at [`crate::layout::crate_key`]'s layout.
    pub(crate) fn for_base_url(base_url: &str, auth_required: bool) -> Self {
        RegistryConfig {
            dl: format!("{base_url}/{CRATES_DIR}/{{crate}}/{{crate}}-{{version}}.crate"),
            api: None,
            auth_required,
        }
    }

    /// Checks the bytes of `config.json`; `path` (where they were read) is only
    /// used in errors.
    ///
    /// # Errors
    /// [`Error::Config`] if it is not JSON of this shape or `dl` is not an http(s) URL.
    pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let cfg: RegistryConfig = serde_json::from_slice(bytes).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!("not a valid registry config.json: {e}"),
        })?;
        if !(cfg.dl.starts_with("http://")
            || cfg.dl.starts_with("https://")
            || cfg.dl.starts_with("file://"))
        {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: format!("`dl` must be an http(s) URL, found `{}`", cfg.dl),
            });
        }
        Ok(cfg)
    }

    /// The bytes written to `config.json`: pretty JSON ending in a newline.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("config serializes");
        v.push(b'\n');
        v
    }
}

/// Default `--max-crate-size`: 10 MiB, as crates.io.
pub(crate) const DEFAULT_MAX_CRATE_SIZE: u64 = 10 * 1024 * 1024;
/// A size limit that is none (`--max-crate-size none`): the default of a
/// `--mirror` registry, which must take every crate crates.io serves, including
/// those it let past its 10 MB limit by exception (windows 0.34.0 is 14 MB).
pub(crate) const NO_SIZE_LIMIT: u64 = u64::MAX;
/// Default `--max-unpacked-size`: 512 MiB, as crates.io.
pub(crate) const DEFAULT_MAX_UNPACKED_SIZE: u64 = 512 * 1024 * 1024;

/// regtool's own settings for a registry, kept in `.regtool/config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// The URL the registry is served at (no trailing `/`); cargo's index URL is
    /// `sparse+{url}/`.
    pub url: String,
    /// Other URLs this registry is known by: a dependency whose `registry-index` is
    /// one of them is a dependency on this registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The registry replaces crates.io (source replacement): crates.io dependencies
    /// get no `registry` field.
    #[serde(default)]
    pub mirror: bool,
    /// Largest `.crate` accepted, in bytes.
    #[serde(default = "default_max_crate")]
    pub max_crate_size: u64,
    /// Largest total unpacked size of a `.crate`, in bytes.
    #[serde(default = "default_max_unpacked")]
    pub max_unpacked_size: u64,
    /// Whether regtool writes the browsable catalogue (`index.html`, a page per
    /// crate, `feed.atom`; see [`crate::catalogue`]). Registries whose settings
    /// lack the key (made before the catalogue) have it on.
    #[serde(default = "default_html")]
    pub html: bool,
    /// The name cargo knows the registry by (`[registries.NAME]`); `None` in
    /// registries made before the setting existed. Read it with
    /// [`Settings::registry_name`], which gives the default for those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<RegistryName>,
    /// How long the writers' lease of a registry in object storage lasts
    /// without renewal, in seconds (`None`: [`DEFAULT_LEASE_SECONDS`]). Kept
    /// here so that every writer agrees on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<u64>,
    /// The oldest regtool writer version that may change this registry (see
    /// [`WRITER_VERSION`]): a regtool whose version is lower refuses to write
    /// it. `1` (the key left out): any.
    #[serde(default = "default_writer_version", skip_serializing_if = "is_one")]
    pub min_writer_version: u32,
    /// Keys this regtool does not know (a newer regtool's), kept as they are
    /// when the settings are written again.
    #[serde(flatten)]
    pub other: toml::Table,
}

/// The registry format this regtool writes: 1, folders with an OS lock and
/// buckets with conditional writes only; 2, buckets with the writers' lease
/// and name claims (`.regtool/lease`, `.regtool/names/`). A registry whose
/// [`Settings::min_writer_version`] is higher is refused by every command
/// that writes.
pub const WRITER_VERSION: u32 = 2;

/// The writer version a registry in object storage needs: the lease.
pub(crate) const LEASE_WRITER_VERSION: u32 = 2;

/// The lease length of a registry whose settings name none, in seconds: a
/// minute, well beyond how long one S3 request with its retries may take.
pub const DEFAULT_LEASE_SECONDS: u64 = 60;

fn default_writer_version() -> u32 {
    1
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

fn default_html() -> bool {
    true
}

fn default_max_crate() -> u64 {
    DEFAULT_MAX_CRATE_SIZE
}
fn default_max_unpacked() -> u64 {
    DEFAULT_MAX_UNPACKED_SIZE
}

impl Settings {
    /// The settings of a new registry served at `url` (a base URL, as
    /// [`check_base_url`] returns it): no aliases, not a mirror, the default
    /// size limits (bytes) and the catalogue on. Callers that want other
    /// values set those fields (`Settings { mirror: true, ..Settings::new(url) }`).
    pub fn new(url: String) -> Settings {
        Settings {
            url,
            aliases: Vec::new(),
            mirror: false,
            max_crate_size: DEFAULT_MAX_CRATE_SIZE,
            max_unpacked_size: DEFAULT_MAX_UNPACKED_SIZE,
            html: true,
            lease_seconds: None,
            min_writer_version: 1,
            other: toml::Table::new(),
            name: None,
        }
    }

    /// How long the writers' lease lasts without renewal
    /// ([`Settings::lease_seconds`], at least a second).
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS).max(1))
    }

    /// Whether this regtool may change the registry: `Err` when its
    /// [`Settings::min_writer_version`] is above [`WRITER_VERSION`].
    ///
    /// # Errors
    /// [`Error::WriterVersion`] naming `path` (the settings file).
    pub(crate) fn check_writer_version(&self, path: &Path) -> Result<()> {
        if self.min_writer_version > WRITER_VERSION {
            return Err(Error::WriterVersion {
                path: path.to_path_buf(),
                needs: self.min_writer_version,
                have: WRITER_VERSION,
            });
        }
        Ok(())
    }

    /// The name cargo knows this registry by, the `NAME` of `[registries.NAME]`,
    /// `cargo add --registry NAME` and `cargo login --registry NAME`: the
    /// `name` setting (`init --name`, `settings --name`), else the default
    /// [`RegistryName::from_url`] derives from [`Settings::url`]. Every command
    /// that prints a cargo command takes the name from here.
    pub fn registry_name(&self) -> RegistryName {
        self.name
            .clone()
            .unwrap_or_else(|| RegistryName::from_url(&self.url))
    }

    /// Reads the bytes of `.regtool/config.toml`; `path` is only used in errors.
    ///
    /// # Errors
    /// [`Error::Config`] if they are not UTF-8 or not valid settings.
    pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Config {
            path: path.to_path_buf(),
            message: "invalid regtool settings: not UTF-8".into(),
        })?;
        toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!("invalid regtool settings: {e}"),
        })
    }

    /// The bytes written to `.regtool/config.toml`.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::from("# regtool's settings for this registry (not served to cargo).\n");
        s.push_str(&toml::to_string(self).expect("settings serialize"));
        s.into_bytes()
    }

    /// Whether `registry_index` (a dependency's `registry-index` in a normalized
    /// manifest) names this registry: compared with and without `sparse+` and a
    /// trailing `/`.
    pub(crate) fn is_own_index(&self, registry_index: &str) -> bool {
        let want = normalize_url(registry_index);
        std::iter::once(&self.url)
            .chain(self.aliases.iter())
            .any(|u| normalize_url(u) == want)
    }
}

/// A registry's name on cargo's side: the `NAME` of `[registries.NAME]` in
/// `.cargo/config.toml`, of `registry = "NAME"` in a dependency, of `cargo add
/// --registry NAME` and `cargo login --registry NAME`, and the middle of
/// `CARGO_REGISTRIES_{NAME}_TOKEN`.
///
/// The rules ([`RegistryName::parse`]): cargo's own check of a registry name
/// (`cargo_util_schemas::manifest::RegistryName`, which cargo applies to
/// `--registry NAME` and to a dependency's `registry`: a letter or `_`, then
/// letters, digits, `-` and `_`), plus two of regtool's: ASCII only, so that
/// `[registries.NAME]` is a bare TOML key and the environment variable is
/// portable; and not `crates-io` (or `crates_io`), the name cargo keeps for
/// crates.io itself. Source:
/// <https://doc.rust-lang.org/cargo/reference/registries.html#using-an-alternate-registry>.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegistryName(String);

/// The name of a registry whose URL gives none (an IP address, `localhost`,
/// or only generic labels): see [`RegistryName::from_url`].
pub const FALLBACK_REGISTRY_NAME: &str = "local";

/// Host labels that name a kind of service rather than the registry's owner,
/// skipped when a name is derived from a URL (`crates.example.com` is
/// `example`).
const GENERIC_LABELS: &[&str] = &[
    "crates",
    "crate",
    "cargo",
    "registry",
    "registries",
    "index",
    "www",
];

impl RegistryName {
    /// Checks `name` against the rules above.
    ///
    /// # Errors
    /// A sentence naming the rule `name` breaks.
    pub fn parse(name: &str) -> std::result::Result<RegistryName, String> {
        if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
            return Err(format!(
                "`{name}` contains `{c}`: a registry name here is ASCII letters, digits, `-` and `_` (it becomes the TOML key `[registries.NAME]` and the environment variable CARGO_REGISTRIES_NAME_TOKEN)"
            ));
        }
        cargo_util_schemas::manifest::RegistryName::new(name).map_err(|e| {
            format!("{e}; a registry name is an ASCII letter or `_`, then ASCII letters, digits, `-` and `_`")
        })?;
        if name.replace('_', "-") == "crates-io" {
            return Err(format!(
                "`{name}` is the name cargo keeps for crates.io itself; pick another"
            ));
        }
        Ok(RegistryName(name.to_owned()))
    }

    /// The default name of a registry served at `url` (a base URL): the first
    /// label of the host, lowercased, that is not a generic word (`crates`,
    /// `cargo`, `registry`, `index`, `www`, ...) and is a valid name, e.g.
    /// `example` for `https://crates.example.com` and `acme` for
    /// `https://acme.dev/crates`; [`FALLBACK_REGISTRY_NAME`] when the host gives
    /// none (an IP address, whose labels are digits, or `localhost`).
    pub fn from_url(url: &str) -> RegistryName {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.starts_with('[') {
            // An IPv6 address.
            return RegistryName(FALLBACK_REGISTRY_NAME.to_owned());
        }
        let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
        host.split('.')
            .filter(|l| !GENERIC_LABELS.contains(l) && *l != "localhost")
            .find_map(|l| RegistryName::parse(l).ok())
            .unwrap_or_else(|| RegistryName(FALLBACK_REGISTRY_NAME.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a cargo user adds to `.cargo/config.toml` to use the registry
    /// whose index URL (`sparse+URL/`) is `index_url` under this name, as TOML
    /// ending in a newline: `[registries.NAME]` with its `index`; with
    /// `mirror`, `[source.crates-io] replace-with = "NAME"` too (source
    /// replacement); with `auth_required`, `[registry]
    /// global-credential-providers = ["cargo:token"]` too, without which cargo
    /// refuses to send a token to an alternative registry ("authenticated
    /// registries require a credential-provider to be configured"). Sources:
    /// <https://doc.rust-lang.org/cargo/reference/registries.html#using-an-alternate-registry>,
    /// <https://doc.rust-lang.org/cargo/reference/source-replacement.html>,
    /// <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>.
    pub fn cargo_config(&self, index_url: &str, auth_required: bool, mirror: bool) -> String {
        // A TOML basic string, quoted and escaped.
        let index = toml::Value::String(index_url.to_owned()).to_string();
        let mut s = format!("[registries.{self}]\nindex = {index}\n");
        if mirror {
            s.push_str(&format!(
                "\n[source.crates-io]\nreplace-with = \"{self}\"\n"
            ));
        }
        if auth_required {
            s.push_str("\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
        }
        s
    }

    /// The environment variable cargo reads this registry's token from:
    /// `CARGO_REGISTRIES_{NAME}_TOKEN`, the name upper-cased with `-` as `_`
    /// (<https://doc.rust-lang.org/cargo/reference/config.html#registriesnametoken>).
    pub fn token_env_var(&self) -> String {
        format!(
            "CARGO_REGISTRIES_{}_TOKEN",
            self.0.to_ascii_uppercase().replace('-', "_")
        )
    }
}

impl std::fmt::Display for RegistryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RegistryName {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        RegistryName::parse(s)
    }
}

impl TryFrom<String> for RegistryName {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        RegistryName::parse(&s)
    }
}

impl From<RegistryName> for String {
    fn from(n: RegistryName) -> String {
        n.0
    }
}

/// Strips `sparse+`/`registry+` and trailing `/` so URLs compare by meaning.
pub(crate) fn normalize_url(url: &str) -> &str {
    let u = url
        .strip_prefix("sparse+")
        .or_else(|| url.strip_prefix("registry+"))
        .unwrap_or(url);
    u.trim_end_matches('/')
}

/// Checks a base URL given to `init --url`; returns it without a trailing `/`.
///
/// # Errors
/// A sentence saying what is wrong.
pub(crate) fn check_base_url(url: &str) -> std::result::Result<String, String> {
    let u = url.strip_prefix("sparse+").unwrap_or(url);
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    }
    if u.contains(['{', '}', ' ', '?', '#']) {
        return Err(format!(
            "`{url}` must be a plain base URL (no spaces, query, fragment or `{{}}` markers)"
        ));
    }
    Ok(u.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_index_matches_all_spellings() {
        let s = Settings::new("http://h:1/reg".into());
        for u in [
            "http://h:1/reg",
            "http://h:1/reg/",
            "sparse+http://h:1/reg/",
            "sparse+http://h:1/reg",
        ] {
            assert!(s.is_own_index(u), "{u}");
        }
        assert!(!s.is_own_index("https://github.com/rust-lang/crates.io-index"));
    }

    #[test]
    fn unknown_keys_survive_a_rewrite_and_newer_writers_are_required() {
        let path = Path::new("config.toml");
        let text = "url = \"https://x\"\nmin-writer-version = 9\nshiny-new-thing = { on = true }\n";
        let s = Settings::parse(path, text.as_bytes()).unwrap();
        assert_eq!(s.min_writer_version, 9);
        let again = String::from_utf8(s.to_bytes()).unwrap();
        assert!(again.contains("min-writer-version = 9"), "{again}");
        assert!(again.contains("shiny-new-thing"), "{again}");
        assert_eq!(Settings::parse(path, again.as_bytes()).unwrap(), s);
        let err = s.check_writer_version(path).unwrap_err().to_string();
        assert!(err.contains("writer version 9"), "{err}");
        // Today's registries: no key, any writer; the file stays as it was.
        let old = Settings::parse(path, b"url = \"https://x\"\n").unwrap();
        assert_eq!(old.min_writer_version, 1);
        assert!(old.check_writer_version(path).is_ok());
        assert!(
            !String::from_utf8(old.to_bytes())
                .unwrap()
                .contains("writer")
        );
        assert_eq!(old.lease(), std::time::Duration::from_secs(60));
    }

    #[test]
    fn registry_names_follow_cargo_and_regtool_rules() {
        for ok in [
            "example",
            "my-reg",
            "my_reg",
            "_x",
            "Acme2",
            "a-",
            "crates-io-mirror",
        ] {
            assert_eq!(RegistryName::parse(ok).map(|n| n.0), Ok(ok.to_owned()));
        }
        for (bad, why) in [
            ("", "cannot be empty"),
            ("2fast", "cannot start with a digit"),
            ("-x", "first character"),
            ("a b", "invalid character ` `"),
            ("a.b", "invalid character `.`"),
            ("r\u{e9}gistre", "ASCII"),
            ("crates-io", "crates.io itself"),
            ("crates_io", "crates.io itself"),
        ] {
            let err = RegistryName::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert_eq!(
            RegistryName::parse("my-reg").unwrap().token_env_var(),
            "CARGO_REGISTRIES_MY_REG_TOKEN"
        );
    }

    #[test]
    fn cargo_config_is_toml_naming_the_registry() {
        let n = RegistryName::parse("acme").unwrap();
        assert_eq!(
            n.cargo_config("sparse+https://c.example/", false, false),
            "[registries.acme]\nindex = \"sparse+https://c.example/\"\n"
        );
        let all = n.cargo_config("sparse+https://c.example/\"x", true, true);
        let v: toml::Table = toml::from_str(&all).unwrap();
        assert_eq!(
            v["registries"]["acme"]["index"].as_str(),
            Some("sparse+https://c.example/\"x")
        );
        assert_eq!(
            v["source"]["crates-io"]["replace-with"].as_str(),
            Some("acme")
        );
        assert_eq!(
            v["registry"]["global-credential-providers"][0].as_str(),
            Some("cargo:token")
        );
    }

    #[test]
    fn registry_names_default_from_the_host() {
        for (url, name) in [
            ("https://crates.example.com", "example"),
            ("https://crates.example.com/", "example"),
            ("https://acme.dev/crates", "acme"),
            ("https://Registry.ACME.example:8443/x", "acme"),
            ("https://user@cargo.corp.example", "corp"),
            ("https://1password.example.com", "example"),
            ("http://nas:8080", "nas"),
            ("http://127.0.0.1:8000", FALLBACK_REGISTRY_NAME),
            ("http://localhost:8000", FALLBACK_REGISTRY_NAME),
            ("http://[::1]:8000", FALLBACK_REGISTRY_NAME),
        ] {
            assert_eq!(RegistryName::from_url(url).as_str(), name, "{url}");
        }
        let mut s = Settings::new("http://127.0.0.1:8000".into());
        assert_eq!(s.registry_name().as_str(), FALLBACK_REGISTRY_NAME);
        s.name = Some(RegistryName::parse("example").unwrap());
        assert_eq!(s.registry_name().as_str(), "example");
    }

    #[test]
    fn the_name_is_kept_in_the_settings_file_and_checked_there() {
        let mut s = Settings::new("https://crates.example.com".into());
        let old = String::from_utf8(s.to_bytes()).unwrap();
        assert!(!old.contains("name"), "{old}");
        s.name = Some(RegistryName::parse("acme").unwrap());
        let bytes = s.to_bytes();
        assert!(String::from_utf8_lossy(&bytes).contains("name = \"acme\""));
        assert_eq!(Settings::parse(Path::new("c"), &bytes).unwrap(), s);
        let bad = format!("{old}name = \"crates-io\"\n");
        let err = Settings::parse(Path::new("c"), bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("crates.io itself"), "{err}");
    }

    #[test]
    fn config_json_bytes() {
        let c = RegistryConfig::for_base_url("http://127.0.0.1:8000", false);
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "{\n  \"dl\": \"http://127.0.0.1:8000/crates/{crate}/{crate}-{version}.crate\"\n}\n"
        );
        let c = RegistryConfig::for_base_url("https://x", true);
        assert!(
            String::from_utf8(c.to_bytes())
                .unwrap()
                .contains("\"auth-required\": true")
        );
    }
}
