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
    /// Write the browsable catalogue (`index.html`...; see [`crate::catalogue`]);
    /// a build without the `html` feature makes the registry with it off,
    /// and says so.
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
    /// Where the registry is (a folder or a bucket), for the notes.
    #[serde(skip)]
    pub(crate) location: RegistryLocation,
}

/// Creates the registry at `location` (a folder or `s3://bucket/prefix`):
/// `config.json` with the dl template for `opts.url`, and `.regtool/` with the
/// settings (and the catalogue, unless `opts.html` is off or this build has
/// no `html` feature: then a warning says the catalogue is off).
///
/// # Errors
/// [`Error::Usage`] for a URL (or alias) that is not a plain http(s) base URL;
/// [`Error::AlreadyExists`] if `location` already holds a registry;
/// [`Error::Io`]; [`Error::Config`] when the S3 client cannot be set up;
/// [`Error::FeatureMissing`] for a bucket in a build without the `s3` feature.
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
    let html = opts.html && crate::catalogue::BUILT;
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
        html,
        lease_seconds: opts.lease_seconds,
        ..Settings::new(String::new())
    };
    let writer = location.create(cfg, settings, shell)?;
    if opts.html && !html {
        shell.warn(
            "the catalogue is off: this regtool was built without the `html` feature (a build with it turns the catalogue on with `regtool settings --html true`)",
        );
    }
    let reg = writer.registry();
    shell.status(
        "Created",
        format!(
            "registry `{}` in `{location}`",
            reg.settings.registry_name()
        ),
    );
    Ok(InitReport {
        registry: reg.location(),
        index: reg.index_url(),
        dl: reg.config.dl.clone(),
        auth_required: reg.config.auth_required,
        mirror: reg.settings.mirror,
        name: reg.settings.registry_name().into(),
        url: reg.settings.url.clone(),
        location: location.clone(),
    })
}

/// A bucket policy (JSON, AWS's policy language) that lets anyone read what
/// cargo and people read from a registry at `prefix` (no leading or trailing
/// `/`; empty for the bucket's root) in `bucket`, and nothing else, in
/// particular not `.regtool/` (regtool's settings and state): `GetObject` on
/// `config.json`, the index files (`1/`, `2/`, `3/` and `xx/yy/` folders),
/// `crates/`, and the catalogue (`index.html`, `feed.atom`, `catalogue/`);
/// and `ListBucket` on the bucket, without which S3 answers `403` instead of
/// `404` for a key that does not exist (cargo takes only `404` as "no such
/// crate"). The same allow-list as `nginx-config`'s block. Source:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html>.
pub(crate) fn bucket_policy(bucket: &str, prefix: &str) -> String {
    let base = if prefix.is_empty() {
        format!("arn:aws:s3:::{bucket}/")
    } else {
        format!("arn:aws:s3:::{bucket}/{prefix}/")
    };
    // An index file's folders: `1/`, `2/`, `3/x/`, `ab/cd/`; `?` is one
    // character, so `??/??/*` cannot match `.regtool/`.
    let readable: Vec<String> = [
        crate::layout::CONFIG_KEY,
        "1/*",
        "2/*",
        "3/*",
        "??/??/*",
        "crates/*",
        // The catalogue (`crate::catalogue`'s keys).
        "index.html",
        "feed.atom",
        "catalogue/*",
    ]
    .iter()
    .map(|k| format!("{base}{k}"))
    .collect();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CargoReadsTheRegistry",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": readable,
            },
            {
                "Sid": "MissingCratesAnswer404",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{bucket}"),
            },
        ],
    });
    serde_json::to_string_pretty(&policy).expect("a policy serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IAM's wildcard match: `*` any run of characters, `?` one.
    fn matches(pattern: &str, s: &str) -> bool {
        match pattern.chars().next() {
            None => s.is_empty(),
            Some('*') => (0..=s.len())
                .filter(|&i| s.is_char_boundary(i))
                .any(|i| matches(&pattern[1..], &s[i..])),
            Some(c) => {
                let mut rest = s.chars();
                match rest.next() {
                    Some(d) if c == '?' || c == d => {
                        matches(&pattern[c.len_utf8()..], rest.as_str())
                    }
                    _ => false,
                }
            }
        }
    }

    fn readable(policy: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(policy).unwrap();
        v["Statement"][0]["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_bucket_policy_lets_cargo_read_and_hides_regtools_state() {
        for (prefix, base) in [("registry", "acme-crates/registry/"), ("", "acme-crates/")] {
            let policy = bucket_policy("acme-crates", prefix);
            let resources = readable(&policy);
            let public = |key: &str| {
                let arn = format!("arn:aws:s3:::{base}{key}");
                resources.iter().any(|r| matches(r, &arn))
            };
            for key in [
                "config.json",
                "1/a",
                "2/ab",
                "3/a/abc",
                "se/rd/serde",
                "crates/serde/serde-1.0.0.crate",
                "index.html",
                "feed.atom",
                "catalogue/crates/serde.html",
                "catalogue/search-index.js",
            ] {
                assert!(public(key), "{key} is not readable:\n{policy}");
            }
            for key in [
                ".regtool/config.toml",
                ".regtool/nginx-tokens.map",
                ".regtool/meta/serde/1.0.0.json",
                ".regtool/catalogue.json",
                ".regtool/lock",
                "README.md",
            ] {
                assert!(!public(key), "{key} is readable:\n{policy}");
            }
            let v: serde_json::Value = serde_json::from_str(&policy).unwrap();
            assert_eq!(v["Statement"][1]["Action"], "s3:ListBucket");
            assert_eq!(v["Statement"][1]["Resource"], "arn:aws:s3:::acme-crates");
        }
        // Another bucket's keys are not matched.
        let resources = readable(&bucket_policy("acme-crates", "registry"));
        assert!(
            !resources
                .iter()
                .any(|r| matches(r, "arn:aws:s3:::acme-crates/other/config.json"))
        );
    }
}
