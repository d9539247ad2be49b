//! The one printer: every command returns a report, and [`print()`] draws it as
//! JSON (`--format json`, the report's serde form) or as text for people, on
//! stdout (status lines go to stderr, see [`crate::output`]). Floor 6
//! (`command line`): imports the commands' report types.

use crate::error::{Error, Result};
use crate::index::DepKind;
use crate::location::RegistryLocation;
use crate::ops;
use crate::output::{Format, Shell, count};
use serde::Serialize;

/// A command's report.
pub(crate) trait Report: Serialize {
    /// Draws the report as text on `shell`.
    fn text(&self, shell: &Shell);

    /// How the command ends: [`Error::ProblemsFound`] when the report lists
    /// problems (exit code 1), else `Ok`.
    ///
    /// # Errors
    /// [`Error::ProblemsFound`].
    fn outcome(&self) -> Result<()> {
        Ok(())
    }
}

/// Prints `report` in the shell's format and returns how the command ends.
///
/// # Errors
/// See [`Report::outcome`].
pub(crate) fn print(shell: &Shell, report: &impl Report) -> Result<()> {
    match shell.format {
        Format::Json => shell.json(report),
        Format::Text => report.text(shell),
    }
    report.outcome()
}

fn problems(count: usize) -> Result<()> {
    if count == 0 {
        Ok(())
    } else {
        Err(Error::ProblemsFound { count })
    }
}

impl Report for ops::init::InitReport {
    /// The next steps, as notes: make a token (a registry that needs one),
    /// serve it (nginx for a folder; for a bucket, its policy or a CDN, and a
    /// server in front when it needs a token), publish (or mirror), and what
    /// cargo users add, with the registry's name.
    fn text(&self, shell: &Shell) {
        let reg = format!(
            "regtool --registry {}",
            shell_word(&self.location.to_string())
        );
        let name = crate::config::RegistryName::parse(&self.name).ok();
        let bucket = match &self.location {
            RegistryLocation::S3 { bucket, prefix } => Some((bucket.as_str(), prefix.as_str())),
            RegistryLocation::Local(_) => None,
        };
        if self.auth_required && bucket.is_none() {
            shell.status(
                "Next",
                format!(
                    "this registry requires a token: make one for each cargo user or CI job (nginx-config needs at least one; each is shown once):\n\n    {reg} token add NAME\n"
                ),
            );
        }
        match bucket {
            None => shell.status("Next", serve_with_nginx(&reg, &self.url)),
            Some((bucket, prefix)) => shell.status(
                "Next",
                serve_a_bucket(bucket, prefix, &self.url, self.auth_required),
            ),
        }
        if self.mirror {
            shell.status(
                "Next",
                format!(
                    "fill it with the crates.io versions your projects lock: `{reg} mirror path/to/Cargo.lock`"
                ),
            );
        } else {
            shell.status(
                "Next",
                format!(
                    "publish with `cargo package`, then `{reg} add target/package/NAME-VERSION.crate`; yank with `{reg} yank NAME@VERSION`. The registry has no web API, so `cargo publish` and `cargo yank` answer \"registry does not support API commands\""
                ),
            );
        }
        let config = name.as_ref().map_or_else(String::new, |n| {
            n.cargo_config(&self.index, self.auth_required, self.mirror)
        });
        let config = indent(&config);
        let then = if self.mirror {
            "cargo then takes every crates.io dependency from this registry".to_owned()
        } else {
            format!(
                "and depend on a crate with `cargo add CRATE --registry {}`",
                self.name
            )
        };
        let token = name
            .as_ref()
            .filter(|_| self.auth_required)
            .map(|n| {
                format!(
                    "; each gives cargo a token with `cargo login --registry {n}` (it reads the token from stdin) or, in CI, the variable {}",
                    n.token_env_var()
                )
            })
            .unwrap_or_default();
        shell.status(
            "Next",
            format!(
                "cargo users add to .cargo/config.toml (the name `{}` is the registry's `name` setting: `regtool settings --name NAME` changes it):\n\n{config}\n{then}{token}",
                self.name
            ),
        );
    }
}

/// `text` with every line indented by four spaces (a code block in a note).
fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_owned()
            } else {
                format!("    {l}\n")
            }
        })
        .collect()
}

/// `word` as one shell word: as it is when it holds only characters no shell
/// treats specially, else in single quotes.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@=,%".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// How to serve a registry folder at `url` with nginx: `nginx-config` with the
/// URL's host and port, then start or reload nginx.
fn serve_with_nginx(reg: &str, url: &str) -> String {
    let (https, host, port) = host_and_port(url);
    let listen = match (https, port) {
        (true, Some(p)) => format!(" --listen \"{p} ssl\""),
        (true, None) => " --listen \"443 ssl\"".to_owned(),
        (false, Some(p)) => format!(" --listen {p}"),
        (false, None) => String::new(),
    };
    let tls = if https {
        "; for https, add your `ssl_certificate` and `ssl_certificate_key` lines inside the block's `server { }` between the two"
    } else {
        ""
    };
    format!(
        "serve it at {url}/ with nginx, which then serves only what cargo asks for (never .regtool/, regtool's settings and lock). The second line starts nginx, or reloads it when it runs{tls}:\n\n    {reg} nginx-config{listen} --server-name {host} | sudo tee /etc/nginx/conf.d/registry.conf > /dev/null\n    {}\n",
        ops::nginx::START_OR_RELOAD,
        host = shell_word(&host),
    )
}

/// The scheme (`true`: https), host and explicit port of a base URL.
fn host_and_port(url: &str) -> (bool, String, Option<String>) {
    let https = url.starts_with("https://");
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            (h.to_owned(), Some(p.to_owned()))
        }
        _ => (authority.to_owned(), None),
    };
    (https, host, port)
}

/// How to serve a registry in `bucket` under `prefix` at `url`: public read
/// of what cargo asks for and never `.regtool/` (the policy), or a CDN; for a
/// registry that needs a token, a server in front that checks it.
fn serve_a_bucket(bucket: &str, prefix: &str, url: &str, auth_required: bool) -> String {
    let at = if prefix.is_empty() {
        format!("s3://{bucket}/")
    } else {
        format!("s3://{bucket}/{prefix}/")
    };
    let metadata = "regtool gives every object the Content-Type and Cache-Control cargo and a CDN need (config.json and index files revalidated on every use, .crate files cached for a year)";
    if auth_required {
        return format!(
            "serve it at {url}/ through a server that checks cargo's token: this registry requires one, and neither a bucket nor a CDN can check it. Keep the bucket private and let only that server read it (nginx proxying {at}, say, with a token check of its own: `regtool token` and `regtool nginx-config` work on a folder); never serve {at}.regtool/ (regtool's settings and state). {metadata}. README: \"A registry in an S3 bucket\""
        );
    }
    format!(
        "serve it at {url}/ (`regtool nginx-config` is for a folder): let anyone read what cargo asks for in {at}, and never {at}.regtool/ (regtool's settings and state), with this bucket policy:\n\n{}\nor with the same rule in a CDN in front of the bucket (origin path: the prefix). Its `s3:ListBucket` makes S3 answer 404, as cargo needs, for a crate that does not exist (else 403, which cargo takes as an error); it lists every key of the bucket, so keep the registry in a bucket of its own or map 403 to 404 in the CDN instead. {metadata}. README: \"A registry in an S3 bucket\"",
        indent(&ops::init::bucket_policy(bucket, prefix))
    )
}

/// Status lines were printed while the command ran; the text form has nothing more.
macro_rules! status_only {
    ($($t:ty),*) => {$(
        impl Report for $t {
            fn text(&self, _shell: &Shell) {}
        }
    )*};
}
status_only!(
    ops::add::AddReport,
    ops::yank::YankReport,
    ops::remove::RemoveReport,
    ops::unlock::UnlockReport
);

impl Report for ops::owner::OwnerReport {
    /// The owners, one per line on stdout; a crate without one says so on stderr.
    fn text(&self, shell: &Shell) {
        if self.owners.is_empty() {
            shell.status(
                "Owners",
                format!(
                    "`{}` has no owner: only an admin token may change it through `regtool serve`",
                    self.name
                ),
            );
        }
        for o in &self.owners {
            shell.data(o);
        }
    }
}

impl Report for ops::mirror::MirrorReport {
    fn text(&self, shell: &Shell) {
        shell.status(
            if self.dry_run { "Dry run" } else { "Finished" },
            self.summary(),
        );
    }

    fn outcome(&self) -> Result<()> {
        problems(self.refused())
    }
}

impl Report for ops::reindex::ReindexReport {
    fn text(&self, _shell: &Shell) {}

    fn outcome(&self) -> Result<()> {
        problems(self.rejected.len())
    }
}

impl Report for ops::verify::VerifyReport {
    fn text(&self, shell: &Shell) {
        for p in &self.problems {
            shell.data(format!("{}: `{}`: {}", p.kind, p.path.display(), p.message));
        }
        for w in &self.warnings {
            shell.warn(format!("{}: `{}`: {}", w.kind, w.path.display(), w.message));
        }
        shell.status(
            "Verified",
            format!(
                "{}, {}, {}{}: {}{}",
                count(self.index_files, "index file"),
                count(self.versions, "version"),
                count(self.crate_files, ".crate file"),
                if self.deep { " (deep)" } else { "" },
                count(self.problems.len(), "problem"),
                if self.warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {}", count(self.warnings.len(), "warning"))
                }
            ),
        );
    }

    fn outcome(&self) -> Result<()> {
        problems(self.problems.len())
    }
}

impl Report for ops::list::CrateList {
    fn text(&self, shell: &Shell) {
        let crates = &self.0;
        let w = crates
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        shell.data(format!(
            "{:w$}  {:<16} {:>8} {:>6}",
            "NAME", "LATEST", "VERSIONS", "YANKED"
        ));
        for c in crates {
            shell.data(format!(
                "{:w$}  {:<16} {:>8} {:>6}",
                c.name, c.latest, c.versions, c.yanked
            ));
        }
    }
}

/// A size limit as `settings` shows it: bytes, or `no limit`.
fn size(limit: u64) -> String {
    if limit == crate::config::NO_SIZE_LIMIT {
        "no limit".into()
    } else {
        format!("{limit} bytes")
    }
}

impl Report for ops::settings::SettingsReport {
    fn text(&self, shell: &Shell) {
        shell.data(format!("url:               {}", self.url));
        shell.data(format!("index:             {}", self.index));
        shell.data(format!("name:              {}", self.name));
        shell.data(format!("dl:                {}", self.dl));
        shell.data(format!("aliases:           {}", self.aliases.join(", ")));
        shell.data(format!("auth-required:     {}", self.auth_required));
        if let Some(api) = &self.api {
            shell.data(format!("api:               {api}"));
        }
        shell.data(format!("mirror:            {}", self.mirror));
        shell.data(format!("max-crate-size:    {}", size(self.max_crate_size)));
        shell.data(format!(
            "max-unpacked-size: {}",
            size(self.max_unpacked_size)
        ));
        shell.data(format!("html:              {}", self.html));
        shell.data(format!("lease:             {}s", self.lease_seconds));
    }
}

impl Report for ops::info::CrateInfo {
    fn text(&self, shell: &Shell) {
        shell.data(format!("{} ({})", self.name, self.index_file));
        for v in &self.versions {
            let size = v
                .size
                .map(|s| format!("{s} bytes"))
                .unwrap_or_else(|| "missing .crate".into());
            shell.data(format!(
                "  {}{}  {}  {}",
                v.vers,
                if v.yanked { " (yanked)" } else { "" },
                v.pubtime.as_deref().unwrap_or("-"),
                size
            ));
            if !self.detailed {
                continue;
            }
            shell.data(format!("    cksum: {}", v.cksum));
            if let Some(r) = &v.rust_version {
                shell.data(format!("    rust-version: {r}"));
            }
            if let Some(l) = &v.links {
                shell.data(format!("    links: {l}"));
            }
            shell.data(format!("    dependencies ({}):", v.deps.len()));
            for d in &v.deps {
                let mut extra = Vec::new();
                if d.kind != DepKind::Normal {
                    extra.push(d.kind.to_string());
                }
                if d.optional {
                    extra.push("optional".into());
                }
                if let Some(t) = &d.target {
                    extra.push(format!("target {t}"));
                }
                if let Some(p) = &d.package {
                    extra.push(format!("package {p}"));
                }
                if let Some(r) = &d.registry {
                    extra.push(format!("registry {r}"));
                }
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", extra.join(", "))
                };
                shell.data(format!("      {} {}{extra}", d.name, d.req));
            }
            shell.data(format!("    features ({}):", v.features.len()));
            for (f, vals) in &v.features {
                shell.data(format!("      {f} = [{}]", vals.join(", ")));
            }
        }
    }
}

impl Report for ops::doctor::DoctorReport {
    fn text(&self, shell: &Shell) {
        use ops::doctor::Status;
        let w = self.checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
        for c in &self.checks {
            let fix = c
                .fix
                .as_deref()
                .map(|f| format!("; fix: {f}"))
                .unwrap_or_default();
            shell.data(format!(
                "{:<4}  {:w$}  {}{fix}",
                c.status.as_str(),
                c.check,
                c.detail
            ));
        }
        shell.status(
            "Checked",
            format!(
                "{} ok, {}, {} failed, {} skipped",
                self.count(Status::Ok),
                count(self.count(Status::Warn), "warning"),
                self.count(Status::Fail),
                self.count(Status::Skip)
            ),
        );
    }

    fn outcome(&self) -> Result<()> {
        problems(self.failures())
    }
}

impl Report for ops::token::TokenAdded {
    fn text(&self, shell: &Shell) {
        shell.data(&self.token);
        shell.status(
            "Added",
            format!(
                "token `{}` ({}…{}{}) to `{}`; it is shown only now: the file keeps its MD5 digest, not the token",
                self.info.name,
                self.info.id,
                if self.info.read_only { ", read-only" } else { "" },
                token_scopes(&self.info)
                    .map(|s| format!(", for `regtool serve`: {s}"))
                    .unwrap_or_default(),
                self.token_file.display()
            ),
        );
        shell.status(
            "Note",
            format!(
                "nginx reads the token file when it starts or reloads: run `{}` (once nginx serves the registry: `regtool nginx-config`)",
                ops::nginx::START_OR_RELOAD
            ),
        );
        shell.status(
            "Note",
            format!(
                "give the token to cargo with `{}` (it reads the token from stdin), or in CI set {}",
                self.cargo_login, self.env_var
            ),
        );
    }
}

impl Report for ops::token::TokenList {
    fn text(&self, shell: &Shell) {
        if self.tokens.is_empty() {
            shell.status(
                "Note",
                format!(
                    "no token made by regtool in `{}`; add one with `regtool token add NAME`",
                    self.token_file.display()
                ),
            );
        } else {
            let w = self
                .tokens
                .iter()
                .map(|t| t.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let idw = self
                .tokens
                .iter()
                .map(|t| t.id.len() + 1)
                .max()
                .unwrap_or(2);
            // A token without scopes can only read (through nginx and
            // `regtool serve` alike).
            shell.data(format!(
                "{:w$}  {:idw$}  {:<20}  SCOPES",
                "NAME", "ID", "CREATED",
            ));
            for t in &self.tokens {
                let scopes = token_scopes(t).unwrap_or_else(|| "read-only".to_owned());
                shell.data(format!(
                    "{:w$}  {:idw$}  {:<20}  {scopes}",
                    t.name,
                    format!("{}…", t.id),
                    t.created,
                ));
            }
        }
        if self.raw_tokens > 0 {
            shell.status(
                "Note",
                format!(
                    "`{}` also holds {} added by hand (`\"~^TOKEN$\" 1;` lines): regtool cannot name or revoke them; delete their lines by hand",
                    self.token_file.display(),
                    count(self.raw_tokens, "raw token")
                ),
            );
        }
    }
}

/// A token's scopes and crate patterns as `token add` and `token list` show
/// them (`publish-new,yank for acme-*`); `None` for a read-only token.
fn token_scopes(t: &ops::token::TokenInfo) -> Option<String> {
    if t.scopes.is_empty() {
        return None;
    }
    let names: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
    let mut out = names.join(",");
    if !t.crates.is_empty() {
        out.push_str(&format!(" for {}", t.crates.join(",")));
    }
    Some(out)
}

impl Report for ops::token::TokenRevoked {
    fn text(&self, shell: &Shell) {
        shell.status(
            "Revoked",
            format!(
                "token `{}` ({}…) from `{}` ({} left); nginx refuses it once it reloads: run `{}`",
                self.info.name,
                self.info.id,
                self.token_file.display(),
                count(self.remaining, "token"),
                ops::nginx::START_OR_RELOAD
            ),
        );
    }
}
