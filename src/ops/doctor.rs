//! `regtool doctor`: probe a deployed registry over HTTP as cargo reads it, and
//! say what a cargo user would run into.
//! Floor 5 (`commands`).
//!
//! The probes follow cargo's sparse protocol and its token exchange (sources:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol>,
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-authentication>,
//! <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>):
//!
//! 1. `config.json` without a token; after a `401` only, again with the token
//!    (sent as the raw `Authorization` value, as cargo sends it: no `Bearer`).
//! 2. The index file of one crate at the prefix path of its *lowercased* name,
//!    then a conditional GET with its `ETag` (`If-None-Match`) or
//!    `Last-Modified` (`If-Modified-Since`), which should answer `304`.
//! 3. An index file of a crate that does not exist, which must answer `404`
//!    (or `410`, `451`): cargo takes any other status as a failure.
//! 4. One `.crate` through `config.json`'s `dl` template, whose SHA-256 must be
//!    the index line's `cksum`.
//! 5. `/.regtool/` (regtool's settings, the nginx token file), never served.
//!
//! Which crate is probed: `--crate NAME` if given; else one from the local
//! registry when there is one (`--registry`, `REGTOOL_REGISTRY`, or the current
//! folder when it is a registry), preferring a name with uppercase letters (so
//! the lowercase path is put to the test) and a version whose `.crate` is there;
//! else none, and the checks that need a crate are reported as skipped.

use crate::config::RegistryConfig;
use crate::error::{Error, Result};
use crate::index::IndexFile;
use crate::name::CrateName;
use crate::output::Shell;
use crate::registry::Registry;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Options of `doctor`.
#[derive(Debug, Clone)]
pub(crate) struct DoctorOptions {
    /// The registry's URL: `https://crates.example.com` or cargo's index URL
    /// `sparse+https://crates.example.com/`.
    pub(crate) url: String,
    /// The token cargo would send (only after a `401`, as cargo does).
    pub(crate) token: Option<String>,
    /// The crate to probe (default: one picked from the local registry).
    pub(crate) crate_name: Option<CrateName>,
    /// How long each request may take (timeout, low-speed limit, deadline).
    pub(crate) pace: crate::http::Pace,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Not run (what it needs is missing; `detail` says what).
    Skip,
    /// As cargo needs it.
    Ok,
    /// Works with cargo, but costs time or safety.
    Warn,
    /// cargo users run into it (exit code 1).
    Fail,
}

impl Status {
    /// `ok`, `warn`, `fail`, `skip`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Skip => "skip",
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check (an item of the `--format json` array).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// Which check: one of [`CHECKS`].
    pub(crate) check: &'static str,
    /// How it came out.
    pub(crate) status: Status,
    /// What was seen, and why it matters.
    pub(crate) detail: String,
    /// How to fix it (for `warn` and `fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<String>,
}

/// The checks, in the order they are reported.
pub(crate) const CHECKS: &[&str] = &[
    "config.json",
    "auth",
    "index-file",
    "unknown-crate",
    "revalidation",
    "download",
    "content-type",
    "cache-control",
    "private-files",
];

/// The report of `doctor` (its `--format json` schema: an array of [`Check`],
/// one per item of [`CHECKS`], in that order).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub(crate) struct DoctorReport {
    /// The checks.
    pub(crate) checks: Vec<Check>,
}

impl DoctorReport {
    /// How many checks failed.
    pub(crate) fn failures(&self) -> usize {
        self.count(Status::Fail)
    }

    /// How many checks came out as `status`.
    pub(crate) fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// The name probed for a crate that does not exist (a valid name no one
/// would publish).
const MISSING_CRATE: &str = "regtool-doctor-no-such-crate";

/// A wrong token, sent to see that the server refuses it.
const WRONG_TOKEN: &str = "regtool-doctor-wrong-token";

/// Longest `.crate` read (rarely over crates.io's 10 MiB), in bytes.
const MAX_BODY: u64 = 512 << 20;

/// Longest other answer read (an index file to parse, `config.json`), and
/// the most of a `.crate` kept in memory (beyond it, it is only hashed), in
/// bytes.
const MAX_KEPT: u64 = 64 << 20;

/// Index files read from the local registry while looking for a crate whose
/// name has uppercase letters.
const MAX_CANDIDATES: usize = 200;

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    /// The body's first [`MAX_KEPT`] bytes.
    body: Vec<u8>,
    /// The body's SHA-256 (lowercase hex).
    sha256: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type, lowercased, without parameters.
    fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// The crate to probe.
#[derive(Debug, Clone)]
struct Subject {
    name: CrateName,
    /// Version and cksum of a `.crate` the local registry holds.
    local_version: Option<(String, String)>,
    /// The local registry's bytes of its index file.
    local_index: Option<Vec<u8>>,
    /// Where the name came from, for the report.
    origin: String,
}

/// The checks as they are found; a check may collect several findings, and
/// then has the worst status among them.
#[derive(Default)]
struct Findings(Vec<Check>);

impl Findings {
    fn add(&mut self, check: &'static str, status: Status, detail: String, fix: Option<String>) {
        if let Some(c) = self.0.iter_mut().find(|c| c.check == check) {
            if status > c.status {
                c.status = status;
                c.detail = format!("{detail}; {}", c.detail);
                if fix.is_some() {
                    c.fix = fix;
                }
            } else {
                c.detail = format!("{}; {detail}", c.detail);
                if status == c.status {
                    c.fix = match (c.fix.take(), fix) {
                        (Some(a), Some(b)) if a != b => Some(format!("{a}; {b}")),
                        (a, b) => a.or(b),
                    };
                }
            }
        } else {
            self.0.push(Check {
                check,
                status,
                detail,
                fix,
            });
        }
    }

    fn ok(&mut self, check: &'static str, detail: impl Into<String>) {
        self.add(check, Status::Ok, detail.into(), None);
    }

    fn warn(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(check, Status::Warn, detail.into(), Some(fix.into()));
    }

    fn fail(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(check, Status::Fail, detail.into(), Some(fix.into()));
    }

    fn has(&self, check: &str) -> bool {
        self.0.iter().any(|c| c.check == check)
    }

    /// Every check in [`CHECKS`] order, those not run as skipped with `why`.
    fn finish(mut self, why: &str) -> DoctorReport {
        let checks = CHECKS
            .iter()
            .map(|id| match self.0.iter().position(|c| c.check == *id) {
                Some(i) => self.0.swap_remove(i),
                None => Check {
                    check: id,
                    status: Status::Skip,
                    detail: why.to_string(),
                    fix: None,
                },
            })
            .collect();
        DoctorReport { checks }
    }
}

/// The HTTP side: the base URL, the client, the token once cargo would send it.
struct Probe {
    base: String,
    client: reqwest::blocking::Client,
    /// How long each request may take.
    pace: crate::http::Pace,
    token: Option<String>,
    /// Whether cargo sends the token (after a `401`, or `auth-required`).
    send_token: bool,
}

impl Probe {
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// GET `url` (absolute), with the token when cargo would send it (or
    /// `token` when given: `Some("")` sends none); an answer over
    /// [`MAX_KEPT`] bytes is an error.
    fn get(
        &self,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> std::result::Result<Answer, String> {
        self.get_up_to(url, token, headers, MAX_KEPT)
    }

    /// [`Probe::get`] with an answer of up to `limit` bytes (the first
    /// [`MAX_KEPT`] kept, all of it hashed).
    fn get_up_to(
        &self,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        limit: u64,
    ) -> std::result::Result<Answer, String> {
        let mut req = self.client.get(url);
        let token = match token {
            Some(t) => Some(t),
            None if self.send_token => self.token.as_deref(),
            None => None,
        };
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            req = req.header(reqwest::header::AUTHORIZATION, t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let sent = std::time::Instant::now();
        let resp = req
            .send()
            .map_err(|e| format!("`{url}`: {}", crate::http::chain(&e.without_url())))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut reader = crate::http::Paced::new(resp, self.pace, sent);
        let (mut body, mut size, mut hasher) = (Vec::new(), 0u64, Sha256::new());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = std::io::Read::read(&mut reader, &mut buf)
                .map_err(|e| format!("`{url}`: reading the body: {e}"))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > limit {
                return Err(format!("`{url}`: the answer is over {limit} bytes"));
            }
            hasher.update(&buf[..n]);
            let room = MAX_KEPT.saturating_sub(body.len() as u64);
            body.extend_from_slice(&buf[..n.min(usize::try_from(room).unwrap_or(usize::MAX))]);
        }
        Ok(Answer {
            status,
            headers,
            body,
            sha256: crate::crate_file::hex(&hasher.finalize()),
        })
    }
}

/// The base URL (`https://host/path`, no `sparse+`, no trailing `/`) of a
/// registry URL given to `doctor`.
///
/// # Errors
/// [`Error::Usage`] if it is not an `http(s)://` (or `sparse+http(s)://`) URL.
pub(crate) fn base_url(url: &str) -> Result<String> {
    let rest = url.strip_prefix("sparse+").unwrap_or(url);
    let rest = rest.strip_suffix("config.json").unwrap_or(rest);
    if !(rest.starts_with("https://") || rest.starts_with("http://"))
        || rest.contains(['{', '}', ' ', '?', '#'])
    {
        return Err(Error::Usage(format!(
            "`{url}` is not a registry URL: give the URL the registry is served at (`https://crates.example.com`) or cargo's index URL (`sparse+https://crates.example.com/`)"
        )));
    }
    Ok(rest.trim_end_matches('/').to_string())
}

/// Probes the registry at `opts.url` as cargo would, one check per item of
/// [`CHECKS`]; `local` (the registry's folder or bucket, if at hand) chooses
/// the crate probed and is compared with what is served. Nothing is written.
///
/// # Errors
/// [`Error::Usage`] for a URL that is not http(s); [`Error::Config`] when
/// the HTTP client cannot be set up; [`Error::Io`] or
/// [`Error::IndexFile`] when the local registry cannot be read. What the server
/// answers is never an error: it is in the report.
pub(crate) fn doctor(
    local: Option<&Registry>,
    opts: &DoctorOptions,
    shell: &Shell,
) -> Result<DoctorReport> {
    let mut probe = Probe {
        base: base_url(&opts.url)?,
        client: crate::http::client(opts.pace.timeout, "doctor", &opts.url)?,
        pace: opts.pace,
        token: opts.token.clone().filter(|t| !t.is_empty()),
        send_token: false,
    };
    let subject = subject(local, opts.crate_name.as_ref())?;
    match &subject {
        Some(s) => shell.status(
            "Probing",
            format!("{} with the crate `{}` ({})", probe.base, s.name, s.origin),
        ),
        None => shell.status("Probing", probe.base.clone()),
    }
    let mut f = Findings::default();
    let (config, challenged) = match probe_config(&mut probe, &mut f, local) {
        Ok(c) => c,
        Err(why) => return Ok(f.finish(why)),
    };
    judge_auth(&mut probe, &mut f, &config, challenged);
    let served = subject.as_ref().map(|s| probe_index(&probe, &mut f, s));
    probe_unknown_crate(&probe, &mut f);
    if let Some(Served {
        answer: Some(a),
        url,
        ..
    }) = &served
    {
        revalidation(&mut f, &probe, url, a);
    }
    if let Some(s) = &subject {
        probe_download(&probe, &mut f, s, served.as_ref(), &config);
    }
    if let Some(Served {
        answer: Some(_),
        url,
        ..
    }) = &served
        && probe.send_token
    {
        index_without_token(&probe, &mut f, url);
    }
    probe_private_files(&probe, &mut f);
    Ok(f.finish(if subject.is_none() {
        "skipped: no crate to probe (give --crate NAME, or --registry DIR)"
    } else {
        "skipped: the index file could not be read"
    }))
}

/// Why the checks after a failed one were not run (the report's `skip` text).
type Stop = &'static str;

/// Probe 1, `config.json`: without a token first; after a `401` only, with
/// the token. Returns the config and whether the server asked for a token.
fn probe_config(
    probe: &mut Probe,
    f: &mut Findings,
    local: Option<&Registry>,
) -> std::result::Result<(RegistryConfig, bool), Stop> {
    let config_url = probe.url("config.json");
    let first = match probe.get(&config_url, Some(""), &[]) {
        Ok(a) => a,
        Err(e) => {
            f.fail(
                "config.json",
                format!("no answer: {e}"),
                "check the URL, DNS, the TLS certificate (the system's trust store or SSL_CERT_FILE) and HTTPS_PROXY",
            );
            return Err("not run: config.json could not be read");
        }
    };
    let challenged = first.status == 401;
    let answer = match first.status {
        200 => first,
        401 => {
            // The name cargo users give the registry, for the cargo commands shown.
            let name = local.map_or_else(
                || "NAME".to_owned(),
                |r| r.settings.registry_name().to_string(),
            );
            config_with_token(probe, f, &config_url, &first, &name)?
        }
        404 | 410 => {
            f.fail(
                "config.json",
                format!("`{config_url}` answered {}", first.status),
                "give the URL of the folder that holds config.json (cargo's index URL without `sparse+`), and check that the server's root is the registry folder",
            );
            return Err("not run: no config.json");
        }
        403 => {
            f.fail(
                "config.json",
                format!("`{config_url}` answered 403: cargo takes only 200, or 401 to send its token"),
                "answer 401 (with `WWW-Authenticate: Cargo`) when a token is missing, or let config.json be read",
            );
            return Err("not run: config.json was refused");
        }
        s => {
            f.fail(
                "config.json",
                format!("`{config_url}` answered {s}"),
                "config.json must answer 200 (or 401 for a registry that needs a token)",
            );
            return Err("not run: config.json could not be read");
        }
    };
    let config = match RegistryConfig::parse(&PathBuf::from(&config_url), &answer.body) {
        Ok(c) => c,
        Err(e) => {
            f.fail(
                "config.json",
                format!("200, but not cargo's config.json: {}", crate::error::Report(&e)),
                "serve the registry folder (the one `regtool init` made) at the URL's root, without fallback pages",
            );
            return Err("not run: config.json is not a registry config");
        }
    };
    f.ok(
        "config.json",
        format!(
            "200, dl `{}`{}",
            config.dl,
            if config.auth_required {
                ", auth-required"
            } else {
                ""
            }
        ),
    );
    if let Some(reg) = local
        && reg.config != config
    {
        f.warn(
            "config.json",
            format!(
                "it is not the local registry's config.json (`{}`): dl `{}` there",
                reg.locate(crate::layout::CONFIG_KEY).display(),
                reg.config.dl
            ),
            "check that the URL serves this registry, and that no cache holds an old config.json",
        );
    }
    if let Some(reg) = local
        && reg.settings.min_writer_version > crate::config::WRITER_VERSION
    {
        f.warn(
            "config.json",
            format!(
                "the local registry needs regtool writer version {} to be changed (`{}`), and this regtool writes version {}: its commands that write refuse it",
                reg.settings.min_writer_version,
                reg.locate(crate::layout::SETTINGS_KEY).display(),
                crate::config::WRITER_VERSION
            ),
            "install a newer regtool",
        );
    }
    content_type(f, "config.json", &answer, &["application/json"]);
    Ok((config, challenged))
}

/// `config.json` answered `first`, a `401`: judges the challenge, then asks
/// again with the token, as cargo does.
fn config_with_token(
    probe: &mut Probe,
    f: &mut Findings,
    config_url: &str,
    first: &Answer,
    registry_name: &str,
) -> std::result::Result<Answer, Stop> {
    challenge(f, first);
    if probe.token.is_none() {
        f.add(
            "config.json",
            Status::Skip,
            "401 without a token: give --token (or REGTOOL_TOKEN), a token `regtool token add` made, to check the rest".into(),
            None,
        );
        return Err("not run: the registry wants a token (--token)");
    }
    probe.send_token = true;
    match probe.get(config_url, None, &[]) {
        Ok(a) if a.status == 200 => {
            f.ok(
                "auth",
                format!("the token is accepted (cargo users give theirs with `cargo login --registry {registry_name}`, with `global-credential-providers = [\"cargo:token\"]` under `[registry]` in their cargo config)"),
            );
            wrong_token(f, probe, config_url);
            Ok(a)
        }
        Ok(a) => {
            f.fail(
                "auth",
                format!("`{config_url}` answered {} with the token given", a.status),
                format!(
                    "check that the token is one the server accepts (`regtool token list` names the tokens nginx accepts; after `regtool token add` or `revoke`, run `{}`)",
                    crate::ops::nginx::START_OR_RELOAD
                ),
            );
            Err("not run: the token was refused")
        }
        Err(e) => {
            f.fail(
                "config.json",
                format!("no answer with the token: {e}"),
                "check the server",
            );
            Err("not run: config.json could not be read")
        }
    }
}

/// What cargo will do with the token: `challenged` (the server answered `401`)
/// must agree with `config.json`'s `auth-required`. Sends the token from
/// here on when cargo would.
fn judge_auth(probe: &mut Probe, f: &mut Findings, config: &RegistryConfig, challenged: bool) {
    match (challenged, config.auth_required) {
        (true, false) => f.fail(
            "auth",
            "the server wants a token, but config.json has no `auth-required`: cargo sends its token only to registries that say so",
            "`regtool settings --auth-required true` (or stop asking for a token)",
        ),
        (false, true) => {
            f.warn(
                "auth",
                "config.json says auth-required, yet it is served without a token",
                "check the token on every path, config.json included (answer 401 without one)",
            );
            probe.send_token = true;
            if probe.token.is_none() {
                f.warn(
                    "auth",
                    "no --token given: cargo will send one",
                    "give --token (or REGTOOL_TOKEN)",
                );
            }
        }
        (false, false) => {
            f.ok(
                "auth",
                "no token needed (config.json answered 200 without one, no auth-required)",
            );
            if probe.token.is_some() {
                f.ok(
                    "auth",
                    "the --token given was not sent (cargo sends none here)",
                );
            }
        }
        (true, true) => {}
    }
}

/// The probed crate's index file as served.
struct Served {
    /// Its URL.
    url: String,
    /// The `200` answer, if there was one.
    answer: Option<Answer>,
    /// The file, if it is an index file of the crate.
    file: Option<IndexFile>,
}

/// Probe 2: the index file of `s`, at the lowercased name's path.
fn probe_index(probe: &Probe, f: &mut Findings, s: &Subject) -> Served {
    let path = crate::layout::index_key(&s.name);
    let mut served = Served {
        url: probe.url(&path),
        answer: None,
        file: None,
    };
    let lower = if s.name.as_str().chars().any(|c| c.is_ascii_uppercase()) {
        format!(" (cargo asks for `{}` at its lowercased path)", s.name)
    } else {
        String::new()
    };
    match probe.get(&served.url, None, &[]) {
        Err(e) => f.fail("index-file", format!("no answer: {e}"), "check the server"),
        Ok(a) if a.status == 200 => {
            served.file = judge_index_file(f, s, (&path, &served.url), &lower, &a);
            content_type(f, "index file", &a, &["text/plain"]);
            cache_control_index(f, &a);
            served.answer = Some(a);
        }
        Ok(a) if matches!(a.status, 404 | 410 | 451) => f.fail(
            "index-file",
            format!("`/{path}`{lower} answered {}: cargo finds no crate `{}`", a.status, s.name),
            if s.local_version.is_some() || s.local_index.is_some() {
                "check that the server's root is the registry folder, and that index files are served at their (lowercase) paths as they are"
            } else {
                "check the crate's name (--crate), and that the server's root is the registry folder"
            },
        ),
        Ok(a) => f.fail(
            "index-file",
            format!("`/{path}` answered {}", a.status),
            "index files must answer 200",
        ),
    }
    served
}

/// Whether the `200` answer `a` at `/{path}` (`url`) is `s`'s index file
/// (and the local registry's bytes, when it has them).
fn judge_index_file(
    f: &mut Findings,
    s: &Subject,
    (path, url): (&str, &str),
    lower: &str,
    a: &Answer,
) -> Option<IndexFile> {
    match IndexFile::parse(&PathBuf::from(url), &a.body) {
        Err(e) => f.fail(
            "index-file",
            format!(
                "`/{path}` answered 200, but it is not an index file: {}",
                crate::error::Report(&e)
            ),
            "serve the registry folder as it is, without rewriting or fallback pages",
        ),
        Ok(file)
            if file
                .lines
                .iter()
                .any(|l| !l.package.name.eq_ignore_ascii_case(s.name.as_str())) =>
        {
            f.fail(
                "index-file",
                format!("`/{path}` holds lines of another crate than `{}`", s.name),
                "run `regtool verify` on the registry",
            )
        }
        Ok(file) if file.lines.is_empty() => f.fail(
            "index-file",
            format!("`/{path}` is empty"),
            "run `regtool verify` on the registry",
        ),
        Ok(file) => {
            f.ok(
                "index-file",
                format!(
                    "`/{path}`{lower}: 200, {}",
                    crate::output::count(file.lines.len(), "version")
                ),
            );
            if s.local_index.as_ref().is_some_and(|l| *l != a.body) {
                f.warn(
                    "index-file",
                    "not the same bytes as the local registry's copy",
                    "check that the URL serves this registry, and that no cache in between holds an old copy",
                );
            }
            return Some(file);
        }
    }
    None
}

/// Probe 3: a crate that does not exist must answer `404` (or `410`, `451`).
fn probe_unknown_crate(probe: &Probe, f: &mut Findings) {
    let missing_path = crate::layout::index_path(MISSING_CRATE);
    match probe.get(&probe.url(&missing_path), None, &[]) {
        Err(e) => f.fail("unknown-crate", format!("no answer: {e}"), "check the server"),
        Ok(a) if matches!(a.status, 404 | 410 | 451) => {
            f.ok("unknown-crate", format!("`/{missing_path}` answered {}", a.status))
        }
        Ok(a) if a.status == 200 => f.fail(
            "unknown-crate",
            format!("`/{missing_path}` (no such crate) answered 200: cargo reads whatever comes as an index file"),
            "answer 404 for missing files: no fallback page (`try_files ... /index.html`)",
        ),
        Ok(a) => f.fail(
            "unknown-crate",
            format!("`/{missing_path}` (no such crate) answered {}: cargo takes only 404, 410 and 451 as \"no such crate\" and fails on anything else", a.status),
            "answer 404 for missing files (S3 answers 403 when the reader may not list the bucket: allow s3:ListBucket)",
        ),
    }
}

/// Probe 4: a `.crate` of `s` through `config.json`'s `dl` template (the
/// local registry's version, else the newest one served that is not yanked).
fn probe_download(
    probe: &Probe,
    f: &mut Findings,
    s: &Subject,
    served: Option<&Served>,
    config: &RegistryConfig,
) {
    let index = served.and_then(|x| x.file.as_ref());
    let version = s.local_version.clone().or_else(|| {
        let file = index?;
        let line = file
            .lines
            .iter()
            .rev()
            .find(|l| !l.package.yanked)
            .or(file.lines.last())?;
        Some((line.package.vers.clone(), line.package.cksum.clone()))
    });
    let Some((vers, cksum)) = version else {
        if !f.has("download") {
            f.add(
                "download",
                Status::Skip,
                "not run: no version to download".into(),
                None,
            );
        }
        return;
    };
    let served_cksum = index.and_then(|file| {
        file.lines
            .iter()
            .find(|l| l.package.vers == vers)
            .map(|l| l.package.cksum.clone())
    });
    let cksum = served_cksum.unwrap_or(cksum);
    // What the server said names a URL: only a semver version and a hex
    // SHA-256 may.
    if let Err(why) = semver::Version::parse(&vers)
        .map_err(|e| format!("the version `{}` is not semver: {e}", vers.escape_default()))
        .and_then(|_| crate::index::Cksum::parse(&cksum).map(|_| ()))
    {
        f.fail(
            "download",
            format!(
                "not run: the index line of {} cannot name a download: {why}",
                s.name
            ),
            "run `regtool verify` on the registry",
        );
        return;
    }
    let url = crate::upstream::dl_url(&config.dl, s.name.as_str(), &vers, &cksum);
    match probe.get_up_to(&url, None, &[], MAX_BODY) {
        Err(e) => f.fail("download", format!("no answer: {e}"), "check the server"),
        Ok(a) if a.status == 200 => {
            let got = &a.sha256;
            if *got == cksum {
                f.ok("download", format!("`{url}`: 200, SHA-256 is the index line's cksum"));
            } else {
                f.fail(
                    "download",
                    format!("`{url}`: SHA-256 {got} is not the index line's cksum {cksum}: cargo refuses the download"),
                    "serve the .crate files as they are (no compression or rewriting on the way); `regtool verify --deep` checks the files",
                );
            }
            content_type(
                f,
                ".crate",
                &a,
                &["application/gzip", "application/x-gzip", "application/octet-stream", "application/x-tar"],
            );
            cache_control_crate(f, &a);
            if probe.send_token {
                crate_without_token(probe, f, &url);
            }
        }
        Ok(a) => f.fail(
            "download",
            format!("`{url}` (config.json's dl for {}@{vers}) answered {}", s.name, a.status),
            "config.json's dl must point at where the .crate files are served (`regtool settings --url URL`), and the server's root be the registry folder",
        ),
    }
}

/// A registry that needs a token must refuse the `.crate` at `url` without one.
fn crate_without_token(probe: &Probe, f: &mut Findings, url: &str) {
    match probe.get(url, Some(""), &[]) {
        Ok(b) if b.status == 200 => f.fail(
            "auth",
            "the .crate is served without a token",
            "check the token on every path, .crate files included",
        ),
        Ok(b) => f.ok(
            "auth",
            format!("the .crate answers {} without the token", b.status),
        ),
        Err(e) => f.warn(
            "auth",
            format!("no answer without the token: {e}"),
            "check the server",
        ),
    }
}

/// A registry that needs a token must refuse the index file at `url` without one.
fn index_without_token(probe: &Probe, f: &mut Findings, url: &str) {
    match probe.get(url, Some(""), &[]) {
        Ok(b) if b.status == 200 => f.fail(
            "auth",
            "index files are served without a token",
            "check the token on every path, index files included",
        ),
        Ok(b) => f.ok(
            "auth",
            format!("the index file answers {} without the token", b.status),
        ),
        Err(e) => f.warn(
            "auth",
            format!("no answer without the token: {e}"),
            "check the server",
        ),
    }
}

/// Probe 5: regtool's own files (`.regtool/`) are never served.
fn probe_private_files(probe: &Probe, f: &mut Findings) {
    for path in [
        crate::layout::SETTINGS_KEY.to_string(),
        crate::layout::TOKEN_FILE_KEY.to_string(),
        format!("{}/", crate::layout::STATE_DIR),
    ] {
        let url = probe.url(&path);
        match probe.get(&url, None, &[]) {
            Ok(a) if (200..300).contains(&a.status) => f.fail(
                "private-files",
                format!("`/{path}` answered {}: regtool's settings (and the token file) are public", a.status),
                "never serve .regtool/ (`regtool nginx-config` answers 404 for it; elsewhere deny the prefix)",
            ),
            Ok(a) => f.ok("private-files", format!("`/{path}` answered {}", a.status)),
            Err(e) => f.warn("private-files", format!("`/{path}`: no answer: {e}"), "check the server"),
        }
    }
}

/// The `WWW-Authenticate` of a `401`: cargo retries with its token after any
/// `401`, and reads `Cargo login_url="..."` to tell the user where to get one.
fn challenge(f: &mut Findings, a: &Answer) {
    let fix = "send `WWW-Authenticate: Cargo` with the 401 (nginx: `add_header WWW-Authenticate Cargo always;`; `regtool nginx-config` does)";
    match a.header("www-authenticate") {
        None => f.warn(
            "auth",
            "config.json answered 401 without `WWW-Authenticate`: cargo retries with its token, but HTTP requires the header",
            fix,
        ),
        Some(v) => {
            let scheme = v.split_whitespace().next().unwrap_or("");
            if scheme.eq_ignore_ascii_case("cargo") {
                f.ok(
                    "auth",
                    if v.contains("login_url") {
                        "config.json answered 401 with `WWW-Authenticate: Cargo` and a login_url".to_string()
                    } else {
                        "config.json answered 401 with `WWW-Authenticate: Cargo`".to_string()
                    },
                );
            } else {
                f.warn(
                    "auth",
                    format!("config.json answered 401 with `WWW-Authenticate: {scheme}`, not cargo's `Cargo` scheme (browsers may ask for a password)"),
                    fix,
                );
            }
        }
    }
}

/// A wrong token must be refused with 401, as cargo then says the token was
/// rejected.
fn wrong_token(f: &mut Findings, probe: &Probe, url: &str) {
    match probe.get(url, Some(WRONG_TOKEN), &[]) {
        Ok(a) if a.status == 401 => f.ok("auth", "a wrong token is refused (401)"),
        Ok(a) if a.status == 200 => f.fail(
            "auth",
            "a wrong token is accepted: any token passes",
            "compare the token with the accepted ones (`regtool nginx-config` does, exactly)",
        ),
        Ok(a) => f.warn(
            "auth",
            format!("a wrong token answers {}, not 401", a.status),
            "answer 401 for a wrong token, so cargo says the token was refused",
        ),
        Err(e) => f.warn(
            "auth",
            format!("no answer for a wrong token: {e}"),
            "check the server",
        ),
    }
}

fn content_type(f: &mut Findings, what: &str, a: &Answer, good: &[&str]) {
    match a.media_type() {
        Some(t) if good.contains(&t.as_str()) => f.ok("content-type", format!("{what}: {t}")),
        Some(t) => f.warn(
            "content-type",
            format!("{what} is served as {t} (cargo does not mind; browsers and proxies may)"),
            format!("serve it as {}", good[0]),
        ),
        None => f.warn(
            "content-type",
            format!("{what} has no Content-Type"),
            format!("serve it as {}", good[0]),
        ),
    }
}

/// `max-age` of a `Cache-Control` value, in seconds.
fn max_age(cc: &str) -> Option<u64> {
    cc.split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse().ok())
}

fn cache_control_index(f: &mut Findings, a: &Answer) {
    let fix = "send `Cache-Control: no-cache` with index files (`regtool nginx-config` does), so a publish is seen at once";
    match a.header("cache-control") {
        None => f.warn(
            "cache-control",
            "index file without Cache-Control: caches on the way may keep an old copy after a publish",
            fix,
        ),
        Some(cc) if cc.contains("no-cache") || cc.contains("no-store") || max_age(cc).is_some_and(|s| s <= 300) => {
            f.ok("cache-control", format!("index file: {cc}"))
        }
        Some(cc) => f.warn(
            "cache-control",
            format!("index file: `{cc}`: a publish may stay unseen for that long"),
            fix,
        ),
    }
}

fn cache_control_crate(f: &mut Findings, a: &Answer) {
    let fix = "send `Cache-Control: public, max-age=31536000, immutable` with .crate files (`private` for a registry that needs a token; `regtool nginx-config` does): a published version never changes";
    match a.header("cache-control") {
        Some(cc) if cc.contains("immutable") || max_age(cc).is_some_and(|s| s >= 86_400) => {
            f.ok("cache-control", format!(".crate: {cc}"))
        }
        Some(cc) => f.warn(
            "cache-control",
            format!(".crate: `{cc}` is short for a file that never changes"),
            fix,
        ),
        None => f.warn("cache-control", ".crate without Cache-Control", fix),
    }
}

/// A conditional GET of the index file must answer 304: cargo sends
/// `If-None-Match` and `If-Modified-Since` with what it has cached.
fn revalidation(f: &mut Findings, probe: &Probe, url: &str, a: &Answer) {
    let fix = "serve index files with ETag or Last-Modified and answer conditional requests with 304 (`regtool nginx-config` does)";
    let (header, value) = match (a.header("etag"), a.header("last-modified")) {
        (Some(e), _) => ("If-None-Match", e.to_string()),
        (None, Some(m)) => ("If-Modified-Since", m.to_string()),
        (None, None) => {
            f.warn(
                "revalidation",
                "the index file has neither ETag nor Last-Modified: cargo downloads every index file again on each resolution",
                fix,
            );
            return;
        }
    };
    match probe.get(url, None, &[(header, &value)]) {
        Ok(b) if b.status == 304 => f.ok("revalidation", format!("{header} answered 304")),
        Ok(b) => f.warn(
            "revalidation",
            format!("{header} with the file's own value answered {}, not 304: cargo downloads unchanged index files again", b.status),
            fix,
        ),
        Err(e) => f.warn("revalidation", format!("no answer: {e}"), "check the server"),
    }
}

/// The crate to probe: `named` (with what the local registry knows of it), else
/// one from the local registry, preferring a name with uppercase letters.
fn subject(local: Option<&Registry>, named: Option<&CrateName>) -> Result<Option<Subject>> {
    let Some(reg) = local else {
        return Ok(named.map(|n| Subject {
            name: n.clone(),
            local_version: None,
            local_index: None,
            origin: "--crate".into(),
        }));
    };
    let keys = match named {
        Some(n) => vec![crate::layout::index_key(n)],
        None => reg.index_keys()?,
    };
    let mut best: Option<(CrateName, String)> = None;
    for key in keys.iter().take(MAX_CANDIDATES) {
        let Some((file, _)) = reg.read_index_key(key)? else {
            continue;
        };
        let Some(first) = file.lines.first() else {
            continue;
        };
        let Ok(name) = CrateName::new(&first.package.name) else {
            continue;
        };
        let mixed = name.as_str().chars().any(|c| c.is_ascii_uppercase());
        if best.is_none() || mixed {
            best = Some((name, key.clone()));
        }
        if mixed {
            break;
        }
    }
    let Some((name, key)) = best else {
        return Ok(named.map(|n| Subject {
            name: n.clone(),
            local_version: None,
            local_index: None,
            origin: "--crate, not in the local registry".into(),
        }));
    };
    let local_index = reg.read_raw(&key)?;
    let mut local_version = None;
    if let Some((file, _)) = reg.read_index_key(&key)? {
        for line in file.lines.iter().rev() {
            if reg
                .stat(&crate::layout::crate_key(&name, &line.package.vers))?
                .is_some()
            {
                local_version = Some((line.package.vers.clone(), line.package.cksum.clone()));
                break;
            }
        }
    }
    Ok(Some(Subject {
        origin: if named.is_some() {
            "--crate".into()
        } else {
            "from the local registry".into()
        },
        name,
        local_version,
        local_index,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("sparse+https://h.example/r/").unwrap(),
            "https://h.example/r"
        );
        assert_eq!(base_url("https://h.example").unwrap(), "https://h.example");
        assert_eq!(base_url("http://h/config.json").unwrap(), "http://h");
        assert!(base_url("h.example").is_err());
        assert!(base_url("ftp://h").is_err());
    }

    #[test]
    fn findings_keep_the_worst() {
        let mut f = Findings::default();
        f.ok("content-type", "a");
        f.warn("content-type", "b", "fix b");
        f.ok("content-type", "c");
        let r = f.finish("none");
        let c = &r.checks[CHECKS.iter().position(|c| *c == "content-type").unwrap()];
        assert_eq!(c.status, Status::Warn);
        assert_eq!(c.detail, "b; a; c");
        assert_eq!(c.fix.as_deref(), Some("fix b"));
        assert_eq!(r.checks.len(), CHECKS.len());
        assert_eq!(r.count(Status::Skip), CHECKS.len() - 1);
    }

    #[test]
    fn max_age_parses() {
        assert_eq!(
            max_age("public, max-age=31536000, immutable"),
            Some(31_536_000)
        );
        assert_eq!(max_age("no-cache"), None);
    }
}
