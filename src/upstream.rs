//! A sparse registry read over HTTP: crates.io's index by default, for
//! `regtool mirror`.
//! Floor 1 (`input`): another registry is outside input; imports the core,
//! [`crate::http`] and [`crate::reader`]'s file-name limit.
//!
//! Reads `config.json`, index files (at the prefix path of the lowercased name)
//! and `.crate` downloads (at `config.json`'s `dl` template), as cargo does,
//! with retries and backoff on 429, 5xx, timeouts and broken connections, each
//! file under a [`Pace`] (cargo's timeout and low-speed limit, and a deadline).
//! Nothing upstream says is trusted: an index file is read line by line as it
//! arrives ([`scan_index`]: memory stays flat in its size, lines and files are
//! capped), only the lines of the versions asked for are kept, and each is
//! parsed into types and checked ([`check_package`]) before its name, version
//! or `cksum` names a path, a key or a URL.
//! Proxies come from the standard environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`). Sources:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol>,
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-configuration>,
//! <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>.

use crate::config::{RegistryConfig, normalize_url};
use crate::error::{Error, Result};
use crate::http::{Pace, Paced, too_slow};
use crate::index::{CRATES_IO_INDEX, Cksum, IndexLine, IndexPackage};
use crate::name::CrateName;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// crates.io's sparse index, as cargo names it.
pub(crate) const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";

/// The largest index file read, in bytes (crates with thousands of versions
/// have a few MiB). It is streamed: memory does not grow with its size.
pub(crate) const MAX_INDEX_FILE: u64 = 256 << 20;

/// The longest index line read, in bytes (crates.io's longest are about
/// 60 KiB: web-sys, with its 1700 features).
pub(crate) const MAX_INDEX_LINE: usize = 1 << 20;

/// How requests are retried, and how long each may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Retries after the first try (0: one try only).
    pub(crate) retries: u32,
    /// The wait before the first retry; doubled for each next one.
    pub(crate) backoff: Duration,
    /// Timeouts, low-speed limit and the deadline of one file, every try
    /// and the waits between them included.
    pub(crate) pace: Pace,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            backoff: Duration::from_millis(250),
            pace: Pace::default(),
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

/// A failed read of an answer's body: a body abandoned as too slow (see
/// [`Pace`]) is not tried again (a server that slow is not having a
/// hiccup, and another try would hold the run as long again); a broken
/// connection or a read timeout is.
fn read_failed(e: &std::io::Error) -> Try {
    match too_slow(e) {
        Some(slow) => Try::Fatal(slow.to_string()),
        None => Try::Retry(format!("reading the body: {e}"), None),
    }
}

/// One line of upstream's index file, parsed and checked (see
/// [`check_package`]): its name, version and `cksum` as types, and the line
/// as upstream wrote it.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamLine {
    /// The crate, as the line spells it.
    pub(crate) name: CrateName,
    /// Its `vers`.
    pub(crate) version: semver::Version,
    /// Its `cksum`.
    pub(crate) cksum: Cksum,
    /// The line: `raw` is upstream's bytes, `package` their parsed form.
    pub(crate) line: IndexLine,
}

/// A kept version's line, or why it cannot be taken (a sentence naming the
/// line and the rule it breaks).
pub(crate) type Checked = std::result::Result<UpstreamLine, String>;

/// What was kept of upstream's index file of one crate, read line by line
/// ([`scan_index`]): the lines of the versions asked for, in upstream's
/// order, each checked; of the other lines nothing is kept.
#[derive(Debug, Default)]
pub(crate) struct UpstreamIndex {
    /// Kept versions in upstream's order: the version, the line's number
    /// (1-based), and the line or why it is refused.
    kept: Vec<(semver::Version, u64, Checked)>,
    /// Where each kept version is in `kept`.
    at: HashMap<semver::Version, usize>,
    /// How many lines could not be read as an index line at all (not JSON,
    /// no semver `vers`), and the first of them: its number and problem.
    unreadable: u64,
    first_unreadable: Option<(u64, String)>,
}

impl UpstreamIndex {
    /// The line of `version`, if upstream has one that can be read.
    pub(crate) fn get(&self, version: &semver::Version) -> Option<&Checked> {
        self.at.get(version).map(|&i| &self.kept[i].2)
    }

    /// The kept versions, in upstream's order.
    pub(crate) fn versions(&self) -> impl Iterator<Item = &semver::Version> {
        self.kept.iter().map(|(v, _, _)| v)
    }

    /// Why upstream has no line for `version` of `name`: it has none, and
    /// (when some lines could not be read) which.
    pub(crate) fn missing(&self, name: &CrateName, version: &semver::Version) -> String {
        let mut msg = format!("upstream has no version {version} of `{name}`");
        if let Some((line, why)) = &self.first_unreadable {
            msg.push_str(&format!(
                " ({} of its index file cannot be read: line {line} {why})",
                crate::output::count(
                    usize::try_from(self.unreadable).unwrap_or(usize::MAX),
                    "line"
                )
            ));
        }
        msg
    }
}

/// Why [`scan_index`] stopped.
#[derive(Debug)]
pub(crate) enum ScanError {
    /// Reading failed.
    Read(std::io::Error),
    /// Line `line` is longer than [`MAX_INDEX_LINE`].
    LineTooLong {
        /// Its number (1-based).
        line: u64,
    },
    /// The file is larger than [`MAX_INDEX_FILE`].
    TooLarge,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Read(e) => write!(f, "reading the index file: {e}"),
            ScanError::LineTooLong { line } => write!(
                f,
                "line {line} of the index file is over {MAX_INDEX_LINE} bytes"
            ),
            ScanError::TooLarge => write!(f, "the index file is over {MAX_INDEX_FILE} bytes"),
        }
    }
}

/// The fields every index line must have, read without the rest.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    vers: std::borrow::Cow<'a, str>,
}

/// Reads upstream's index file of `name` from `source` line by line (cargo's
/// format: one JSON line per version), keeping only the lines whose `vers`
/// `keep` wants, each checked with [`check_package`]. Memory holds one line
/// (at most [`MAX_INDEX_LINE`] bytes) and the kept ones, whatever the size of
/// the file. Blank lines are skipped; a line that is not an index line is
/// counted and left out (cargo skips lines it cannot read too); a version with
/// two lines gets neither; a kept line that spells the crate otherwise than the
/// file's first line is refused (one crate, one spelling). Source:
/// <https://doc.rust-lang.org/cargo/reference/registry-index.html#index-files>.
///
/// # Errors
/// [`ScanError`]: reading failed, a line is over [`MAX_INDEX_LINE`] bytes, or
/// the file is over [`MAX_INDEX_FILE`] bytes.
pub(crate) fn scan_index(
    source: impl Read,
    name: &CrateName,
    keep: &dyn Fn(&semver::Version) -> bool,
) -> std::result::Result<UpstreamIndex, ScanError> {
    let mut reader = BufReader::with_capacity(64 * 1024, source);
    let mut buf = Vec::new();
    let mut index = UpstreamIndex::default();
    let (mut total, mut number) = (0u64, 0u64);
    let mut spelling: Option<String> = None;
    let canonical = name.canonical();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_INDEX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(ScanError::Read)?;
        if n == 0 {
            return Ok(index);
        }
        number += 1;
        total += n as u64;
        if total > MAX_INDEX_FILE {
            return Err(ScanError::TooLarge);
        }
        let raw = match buf.strip_suffix(b"\n") {
            Some(line) => line,
            None if n > MAX_INDEX_LINE => return Err(ScanError::LineTooLong { line: number }),
            None => &buf[..],
        };
        let mut unreadable = |why: String| {
            index.unreadable += 1;
            index.first_unreadable.get_or_insert((number, why));
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            unreadable("is not UTF-8".into());
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let head: Head<'_> = match serde_json::from_str(text) {
            Ok(h) => h,
            Err(e) => {
                unreadable(format!("is not an index line: {e}"));
                continue;
            }
        };
        let Ok(version) = semver::Version::parse(&head.vers) else {
            unreadable(format!(
                "has a `vers` that is not a semver version: `{}`",
                head.vers.escape_default()
            ));
            continue;
        };
        if spelling.is_none() && crate::name::canonical(&head.name) == canonical {
            spelling = Some(head.name.to_string());
        }
        if !keep(&version) {
            continue;
        }
        if let Some(&i) = index.at.get(&version) {
            let first = index.kept[i].1;
            index.kept[i].2 = Err(format!(
                "upstream's index file has two lines for v{version} (lines {first} and {number}): neither is taken"
            ));
            continue;
        }
        let checked = check_line(text, name, spelling.as_deref(), number);
        index.at.insert(version.clone(), index.kept.len());
        index.kept.push((version, number, checked));
    }
}

/// Parses and checks line `number` of upstream's index file of `name`;
/// `spelling` is the name the file's first line gives the crate.
fn check_line(text: &str, name: &CrateName, spelling: Option<&str>, number: u64) -> Checked {
    let package: IndexPackage = serde_json::from_str(text)
        .map_err(|e| format!("upstream's line {number} is not a valid index line: {e}"))?;
    let (line_name, version, cksum) =
        check_package(&package, name).map_err(|why| format!("upstream's line {number}: {why}"))?;
    if let Some(s) = spelling
        && s != line_name.as_str()
    {
        return Err(format!(
            "upstream's line {number} names the crate `{line_name}`, its first line `{s}` (one crate, one spelling)"
        ));
    }
    Ok(UpstreamLine {
        name: line_name,
        version,
        cksum,
        line: IndexLine {
            raw: text.to_string(),
            package,
        },
    })
}

/// Checks an index line another registry wrote before it is taken into a
/// mirror: its `name` is a crate name and the crate `expect` (the same up to
/// case and `-`/`_`); its `vers` is semver, written as semver writes it, and
/// `{name}-{vers}.crate` is a file name; its `cksum` is 64 lowercase hex
/// digits; no dependency is from a registry other than crates.io (a mirror
/// stands in for crates.io, so a line pointing elsewhere would send cargo
/// there). Returns the name, version and `cksum` as types.
///
/// # Errors
/// A sentence naming the field and the rule it breaks.
pub(crate) fn check_package(
    package: &IndexPackage,
    expect: &CrateName,
) -> std::result::Result<(CrateName, semver::Version, Cksum), String> {
    let name = CrateName::new(&package.name).map_err(|reason| {
        format!(
            "`{}` is not a crate name: {reason}",
            package.name.escape_default()
        )
    })?;
    if name.canonical() != expect.canonical() {
        return Err(format!("it names the crate `{name}`, not `{expect}`"));
    }
    let version = semver::Version::parse(&package.vers).map_err(|e| {
        format!(
            "`vers` `{}` is not a semver version: {e}",
            package.vers.escape_default()
        )
    })?;
    if version.to_string() != package.vers {
        return Err(format!(
            "`vers` `{}` is not written as semver writes it (`{version}`)",
            package.vers.escape_default()
        ));
    }
    let file_name = name.as_str().len() + 1 + package.vers.len() + ".crate".len();
    if file_name > crate::reader::MAX_FILE_NAME {
        return Err(format!(
            "`{name}-{}.crate` is {file_name} bytes long, over the {} a file name may have",
            package.vers,
            crate::reader::MAX_FILE_NAME
        ));
    }
    let cksum = Cksum::parse(&package.cksum).map_err(|e| format!("`cksum`: {e}"))?;
    if let Some(d) = package
        .deps
        .iter()
        .find(|d| d.registry.as_deref().is_some_and(|r| !is_crates_io(r)))
    {
        return Err(format!(
            "it depends on `{}` from another registry (`{}`): a mirror stands in for crates.io, whose crates depend on crates.io's only",
            d.name.escape_default(),
            d.registry.as_deref().unwrap_or_default().escape_default()
        ));
    }
    Ok((name, version, cksum))
}

/// Whether `index_url` is crates.io's index (its git or its sparse URL).
fn is_crates_io(index_url: &str) -> bool {
    let u = normalize_url(index_url);
    u == CRATES_IO_INDEX || u == normalize_url(CRATES_IO_SPARSE)
}

/// Scans `source` as upstream's index file of the crate `name` the way
/// `regtool mirror` does (see the module docs), keeping the lines of the
/// versions in `keep`; for the fuzz targets. Returns the lines taken, as
/// upstream wrote them, in upstream's order.
///
/// # Errors
/// A sentence: `name` is not a crate name, a version in `keep` is not
/// semver, reading failed, a line is over 1 MiB, or the file over 256 MiB.
pub fn scan_index_file(
    source: impl Read,
    name: &str,
    keep: &[&str],
) -> std::result::Result<Vec<String>, String> {
    let name = CrateName::new(name)?;
    let keep = keep
        .iter()
        .map(|v| semver::Version::parse(v).map_err(|e| e.to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let index = scan_index(source, &name, &|v| keep.contains(v)).map_err(|e| e.to_string())?;
    Ok(index
        .kept
        .into_iter()
        .filter_map(|(_, _, c)| c.ok().map(|l| l.line.raw))
        .collect())
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
        let client = crate::http::client(retry.pace.timeout, "mirror", index_url)?;
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

    /// The URL of the index file of `name` (`.../3/s/syn`).
    pub(crate) fn index_file_url(&self, name: &CrateName) -> String {
        format!("{}/{}", self.base, crate::layout::index_key(name))
    }

    /// Fetches and parses `config.json` (at most 1 MiB).
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

    /// Reads the index file of `name` as it arrives ([`scan_index`]), keeping
    /// the lines of the versions `keep` wants; `Ok(None)` when upstream has no
    /// such crate (404, 410, 451).
    ///
    /// # Errors
    /// [`FetchError::Failed`] after the retries, at once when the file or a
    /// line is over its limit ([`MAX_INDEX_FILE`], [`MAX_INDEX_LINE`]).
    pub(crate) fn index_file(
        &self,
        name: &CrateName,
        keep: &dyn Fn(&semver::Version) -> bool,
    ) -> std::result::Result<Option<UpstreamIndex>, FetchError> {
        let url = self.index_file_url(name);
        let scanned = self.with_retries(
            &url,
            |body| {
                if content_length(body.get_ref()).is_some_and(|n| n > MAX_INDEX_FILE) {
                    return Err(Try::Fatal(ScanError::TooLarge.to_string()));
                }
                scan_index(body, name, keep).map_err(|e| match e {
                    ScanError::Read(e) => read_failed(&e),
                    other => Try::Fatal(other.to_string()),
                })
            },
            true,
        );
        match scanned {
            Ok(index) => Ok(Some(index)),
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
            |mut body| {
                use std::io::Seek;
                let announced = content_length(body.get_ref());
                if announced.is_some_and(|n| n > limit) {
                    return Err(Try::TooLarge(limit, announced));
                }
                file.set_len(0).map_err(|e| Try::Fatal(e.to_string()))?;
                file.rewind().map_err(|e| Try::Fatal(e.to_string()))?;
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                let mut size = 0u64;
                loop {
                    let n = body.read(&mut buf).map_err(|e| read_failed(&e))?;
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
            |body| {
                let over = || Try::Fatal(format!("the answer is over {limit} bytes"));
                if content_length(body.get_ref()).is_some_and(|n| n > limit) {
                    return Err(over());
                }
                let mut bytes = Vec::new();
                body.take(limit.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|e| read_failed(&e))?;
                if bytes.len() as u64 > limit {
                    return Err(over());
                }
                Ok(bytes)
            },
            auth,
        )
    }

    /// Sends GET `url` until `take` accepts a 200 answer's body (read under
    /// the policy's [`Pace`]), retrying 429, 5xx and I/O failures with
    /// exponential backoff (or the server's `Retry-After`, at most the
    /// policy's timeout), as long as the next try can start before the
    /// deadline, which counts from the first try.
    fn with_retries<T>(
        &self,
        url: &str,
        mut take: impl FnMut(Paced<reqwest::blocking::Response>) -> std::result::Result<T, Try>,
        auth: bool,
    ) -> std::result::Result<T, FetchError> {
        let pace = self.retry.pace;
        let started = Instant::now();
        let mut wait = self.retry.backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let outcome = self
                .try_once(url, auth)
                .and_then(|resp| take(Paced::new(resp, pace, started)));
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
            let tried = format!(
                "gave up after {tries} tr{}",
                if tries == 1 { "y" } else { "ies" }
            );
            if tries > self.retry.retries {
                return Err(FetchError::Failed {
                    url: url.to_string(),
                    message: format!("{message} ({tried})"),
                });
            }
            let pause = after.unwrap_or(wait).min(pace.timeout);
            if started.elapsed() + pause >= pace.deadline {
                return Err(FetchError::Failed {
                    url: url.to_string(),
                    message: format!(
                        "{message} ({tried}: another would pass the deadline of {} s)",
                        pace.deadline.as_secs_f64()
                    ),
                });
            }
            std::thread::sleep(pause);
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
    let prefix = crate::layout::prefix(name);
    template
        .replace("{crate}", name)
        .replace("{version}", vers)
        .replace("{lowerprefix}", &prefix.to_lowercase())
        .replace("{prefix}", &prefix)
        .replace("{sha256-checksum}", cksum)
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
