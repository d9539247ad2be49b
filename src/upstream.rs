//! A sparse registry read over HTTP: crates.io's index by default, for
//! `regtool mirror`.
//! Floor 1 (`input`): another registry is outside input; imports the core only.
//!
//! Reads `config.json`, index files (at the prefix path of the lowercased name)
//! and `.crate` downloads (at `config.json`'s `dl` template), as cargo does,
//! with retries and backoff on 429, 5xx, timeouts and broken connections.
//! Proxies come from the standard environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`). Sources:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol>,
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-configuration>,
//! <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>.

use crate::config::RegistryConfig;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// crates.io's sparse index, as cargo names it.
pub(crate) const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";

/// The largest index file read (crates with thousands of versions have a few MiB).
const MAX_INDEX_FILE: u64 = 256 << 20;

/// How requests are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Retries after the first try (0: one try only).
    pub(crate) retries: u32,
    /// The wait before the first retry; doubled for each next one.
    pub(crate) backoff: Duration,
    /// Longest wait for connecting and for each read from the server.
    pub(crate) timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A `.crate` downloaded into a file.
#[derive(Debug, Clone)]
pub(crate) struct Downloaded {
    /// Size in bytes.
    pub(crate) size: u64,
    /// SHA-256 (lowercase hex) of the bytes.
    pub(crate) sha256: String,
}

/// Why a request gave nothing.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The server answered 404, 410 or 451 (cargo's "not found" answers).
    NotFound {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The `.crate` is larger than the limit given to [`Upstream::download`]
    /// (said by `Content-Length`, or found while reading); not retried.
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
        /// The size `Content-Length` announced, if it did.
        announced: Option<u64>,
    },
    /// Any other failure, after the retries.
    Failed {
        /// The URL.
        url: String,
        /// What went wrong (the last try's status or error, and how many tries).
        message: String,
    },
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NotFound { url, status } => write!(f, "`{url}` answered {status}"),
            FetchError::Failed { url, message } => write!(f, "`{url}`: {message}"),
            FetchError::TooLarge {
                url,
                limit,
                announced: Some(n),
            } => write!(f, "`{url}` is {n} bytes, over the limit of {limit} bytes"),
            FetchError::TooLarge { url, limit, .. } => {
                write!(f, "`{url}` is over the limit of {limit} bytes")
            }
        }
    }
}

impl FetchError {
    /// As a library error: [`Error::Io`] naming the URL.
    pub(crate) fn into_error(self) -> Error {
        let url = match &self {
            FetchError::NotFound { url, .. }
            | FetchError::Failed { url, .. }
            | FetchError::TooLarge { url, .. } => url.clone(),
        };
        Error::io(
            "download",
            PathBuf::from(url),
            std::io::Error::other(self.to_string()),
        )
    }
}

/// One try's failure: whether it is worth trying again.
enum Try {
    NotFound(u16),
    /// Over the limit (the limit, the announced size).
    TooLarge(u64, Option<u64>),
    Retry(String, Option<Duration>),
    Fatal(String),
}

/// A sparse registry read over HTTP.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// `https://index.crates.io` (no `sparse+`, no trailing `/`).
    base: String,
    client: reqwest::blocking::Client,
    token: Option<String>,
    retry: RetryPolicy,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Upstream {
    /// A client for the sparse registry at `index_url` (`sparse+http(s)://.../`),
    /// sending `token` as `Authorization` to the index (and to downloads when its
    /// `config.json` says `auth-required`).
    ///
    /// # Errors
    /// [`Error::Usage`] if `index_url` is not a `sparse+http(s)://` URL;
    /// [`Error::Config`] naming it when the HTTP client cannot be set up
    /// (see [`crate::http::client`]).
    pub(crate) fn new(
        index_url: &str,
        token: Option<String>,
        retry: RetryPolicy,
    ) -> Result<Upstream> {
        let Some(rest) = index_url.strip_prefix("sparse+") else {
            return Err(Error::Usage(format!(
                "the upstream `{index_url}` is not a sparse index URL (it must start with `sparse+https://`, like cargo's `sparse+https://index.crates.io/`)"
            )));
        };
        if !(rest.starts_with("https://") || rest.starts_with("http://"))
            || rest.contains(['{', '}', ' ', '?', '#'])
        {
            return Err(Error::Usage(format!(
                "the upstream `{index_url}` is not a plain sparse+http(s):// URL"
            )));
        }
        let client = crate::http::client(retry.timeout, "mirror", index_url)?;
        Ok(Upstream {
            base: rest.trim_end_matches('/').to_string(),
            client,
            token: token.filter(|t| !t.is_empty()),
            retry,
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// How many HTTP requests were sent so far (retries included).
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// How many bytes of `.crate` files were downloaded so far.
    pub(crate) fn downloaded_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The URL of the index file at `key` (`3/s/syn`).
    pub(crate) fn index_file_url(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }

    /// Fetches and parses `config.json`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the URL when it cannot be fetched; [`Error::Config`]
    /// naming it when it is not a registry config.
    pub(crate) fn config(&self) -> Result<RegistryConfig> {
        let url = format!("{}/config.json", self.base);
        let bytes = self
            .get_bytes(&url, true, 1 << 20)
            .map_err(FetchError::into_error)?;
        RegistryConfig::parse(&PathBuf::from(&url), &bytes)
    }

    /// Fetches the index file at `key`; `Ok(None)` when upstream has no such
    /// crate (404, 410, 451).
    ///
    /// # Errors
    /// [`FetchError::Failed`] after the retries.
    pub(crate) fn index_file(&self, key: &str) -> std::result::Result<Option<Vec<u8>>, FetchError> {
        match self.get_bytes(&self.index_file_url(key), true, MAX_INDEX_FILE) {
            Ok(b) => Ok(Some(b)),
            Err(FetchError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads `url` into `file` (truncated first on each try), hashing the
    /// bytes as they arrive; at most `limit` bytes are taken (`u64::MAX`: no
    /// limit). `auth` sends the token.
    ///
    /// # Errors
    /// [`FetchError::TooLarge`] as soon as `Content-Length` or the bytes read
    /// pass `limit` (the file then holds no more than `limit` bytes);
    /// [`FetchError`] after the retries.
    pub(crate) fn download(
        &self,
        url: &str,
        auth: bool,
        limit: u64,
        file: &mut std::fs::File,
    ) -> std::result::Result<Downloaded, FetchError> {
        self.with_retries(
            url,
            |mut resp| {
                use std::io::Seek;
                let announced = content_length(&resp);
                if announced.is_some_and(|n| n > limit) {
                    return Err(Try::TooLarge(limit, announced));
                }
                file.set_len(0).map_err(|e| Try::Fatal(e.to_string()))?;
                file.rewind().map_err(|e| Try::Fatal(e.to_string()))?;
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                let mut size = 0u64;
                loop {
                    let n = resp
                        .read(&mut buf)
                        .map_err(|e| Try::Retry(format!("reading the body: {e}"), None))?;
                    if n == 0 {
                        break;
                    }
                    if size + n as u64 > limit {
                        return Err(Try::TooLarge(limit, None));
                    }
                    hasher.update(&buf[..n]);
                    file.write_all(&buf[..n])
                        .map_err(|e| Try::Fatal(format!("writing the staging file: {e}")))?;
                    size += n as u64;
                }
                self.bytes.fetch_add(size, Ordering::Relaxed);
                Ok(Downloaded {
                    size,
                    sha256: crate::crate_file::hex(&hasher.finalize()),
                })
            },
            auth,
        )
    }

    fn get_bytes(
        &self,
        url: &str,
        auth: bool,
        limit: u64,
    ) -> std::result::Result<Vec<u8>, FetchError> {
        self.with_retries(
            url,
            |resp| {
                let over = || Try::Fatal(format!("the answer is over {limit} bytes"));
                if content_length(&resp).is_some_and(|n| n > limit) {
                    return Err(over());
                }
                let mut bytes = Vec::new();
                resp.take(limit.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|e| Try::Retry(format!("reading the body: {e}"), None))?;
                if bytes.len() as u64 > limit {
                    return Err(over());
                }
                Ok(bytes)
            },
            auth,
        )
    }

    /// Sends GET `url` until `take` accepts a 200 answer, retrying 429, 5xx and
    /// I/O failures with exponential backoff (or the server's `Retry-After`, up
    /// to a minute).
    fn with_retries<T>(
        &self,
        url: &str,
        mut take: impl FnMut(reqwest::blocking::Response) -> std::result::Result<T, Try>,
        auth: bool,
    ) -> std::result::Result<T, FetchError> {
        let mut wait = self.retry.backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let outcome = self.try_once(url, auth).and_then(&mut take);
            let (message, after) = match outcome {
                Ok(v) => return Ok(v),
                Err(Try::NotFound(status)) => {
                    return Err(FetchError::NotFound {
                        url: url.to_string(),
                        status,
                    });
                }
                Err(Try::TooLarge(limit, announced)) => {
                    return Err(FetchError::TooLarge {
                        url: url.to_string(),
                        limit,
                        announced,
                    });
                }
                Err(Try::Fatal(m)) => {
                    return Err(FetchError::Failed {
                        url: url.to_string(),
                        message: m,
                    });
                }
                Err(Try::Retry(m, after)) => (m, after),
            };
            if tries > self.retry.retries {
                return Err(FetchError::Failed {
                    url: url.to_string(),
                    message: format!(
                        "{message} (gave up after {tries} tr{})",
                        if tries == 1 { "y" } else { "ies" }
                    ),
                });
            }
            std::thread::sleep(after.unwrap_or(wait).min(Duration::from_secs(60)));
            wait = wait.saturating_mul(2);
        }
    }

    fn try_once(
        &self,
        url: &str,
        auth: bool,
    ) -> std::result::Result<reqwest::blocking::Response, Try> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self.client.get(url);
        if auth && let Some(t) = &self.token {
            req = req.header(reqwest::header::AUTHORIZATION, t);
        }
        let resp = req.send().map_err(|e| {
            // A URL or header that cannot be sent, or a redirect loop: the
            // same next time. The rest (connecting, timeouts, a broken
            // connection) may pass.
            let fatal = e.is_builder() || e.is_redirect();
            let message = crate::http::chain(&e.without_url());
            if fatal {
                Try::Fatal(message)
            } else {
                Try::Retry(message, None)
            }
        })?;
        let status = resp.status().as_u16();
        match status {
            200 => Ok(resp),
            404 | 410 | 451 => Err(Try::NotFound(status)),
            429 | 500..=599 => {
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Err(Try::Retry(format!("the server answered {status}"), after))
            }
            401 | 403 if self.token.is_none() => Err(Try::Fatal(format!(
                "the server answered {status}; set REGTOOL_UPSTREAM_TOKEN to the token it wants"
            ))),
            _ => Err(Try::Fatal(format!("the server answered {status}"))),
        }
    }
}

/// The size the answer's `Content-Length` announces, if it does.
fn content_length(resp: &reqwest::blocking::Response) -> Option<u64> {
    resp.headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The download URL of `name` `vers` from a `dl` template: cargo's markers
/// `{crate}`, `{version}`, `{prefix}`, `{lowerprefix}`, `{sha256-checksum}`
/// replaced, or `/{crate}/{version}/download` appended when it has none.
/// Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-configuration>.
pub(crate) fn dl_url(template: &str, name: &str, vers: &str, cksum: &str) -> String {
    if !crate::config::DL_MARKERS
        .iter()
        .any(|m| template.contains(m))
    {
        return format!("{}/{name}/{vers}/download", template.trim_end_matches('/'));
    }
    let prefix = prefix(name);
    template
        .replace("{crate}", name)
        .replace("{version}", vers)
        .replace("{lowerprefix}", &prefix.to_lowercase())
        .replace("{prefix}", &prefix)
        .replace("{sha256-checksum}", cksum)
}

/// The index folder of `name` in its own case (`se/rd`, `3/s`, `1`, `2`).
fn prefix(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let part = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    match chars.len() {
        0 => String::new(),
        1 => "1".into(),
        2 => "2".into(),
        3 => format!("3/{}", part(0..1)),
        _ => format!("{}/{}", part(0..2), part(2..4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dl_templates_follow_cargo() {
        assert_eq!(
            dl_url("https://static.example/crates", "Serde", "1.0.0", "ab"),
            "https://static.example/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            dl_url(
                "https://h/{prefix}/{lowerprefix}/{crate}-{version}.crate?c={sha256-checksum}",
                "AbCd",
                "0.1.0",
                "ff"
            ),
            "https://h/Ab/Cd/ab/cd/AbCd-0.1.0.crate?c=ff"
        );
        assert_eq!(
            dl_url("https://h/{prefix}/{crate}", "ab", "1", "x"),
            "https://h/2/ab"
        );
        assert_eq!(
            dl_url("https://h/{prefix}/{crate}", "Abc", "1", "x"),
            "https://h/3/A/Abc"
        );
    }

    #[test]
    fn upstream_url_must_be_sparse() {
        assert!(Upstream::new("https://index.crates.io/", None, RetryPolicy::default()).is_err());
        assert!(Upstream::new(CRATES_IO_SPARSE, None, RetryPolicy::default()).is_ok());
    }
}
