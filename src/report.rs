//! The one printer: every command returns a report, and [`print()`] draws it as
//! JSON (`--format json`, the report's serde form) or as text for people, on
//! stdout (status lines go to stderr, see [`crate::output`]). Floor 6
//! (`command line`): imports the commands' report types.

use crate::error::{Error, Result};
use crate::index::DepKind;
use crate::ops;
use crate::output::{Format, Shell};
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
    fn text(&self, shell: &Shell) {
        let snippet = if self.mirror {
            format!(
                "[source.crates-io]\nreplace-with = \"regtool-mirror\"\n\n[source.regtool-mirror]\nregistry = \"{}\"",
                self.index
            )
        } else {
            format!("[registries.{}]\nindex = \"{}\"", self.name, self.index)
        };
        shell.status(
            "Note",
            format!(
                "serve the folder at {}/ (but not its .regtool/: `regtool nginx-config` prints an nginx configuration that serves only what cargo asks for) and add to .cargo/config.toml:\n\n{snippet}\n",
                self.url
            ),
        );
        if !self.mirror {
            shell.status(
                "Note",
                "the registry has no web API, so `cargo publish` and `cargo yank` answer \"registry does not support API commands\": publish with `cargo package` then `regtool add target/package/NAME-VERSION.crate`, and yank with `regtool yank NAME@VERSION`",
            );
        }
    }
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
                "{} index files, {} versions, {} .crate files{}: {} problem(s){}",
                self.index_files,
                self.versions,
                self.crate_files,
                if self.deep { " (deep)" } else { "" },
                self.problems.len(),
                if self.warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} warning(s)", self.warnings.len())
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
        shell.data(format!("mirror:            {}", self.mirror));
        shell.data(format!("max-crate-size:    {}", size(self.max_crate_size)));
        shell.data(format!(
            "max-unpacked-size: {}",
            size(self.max_unpacked_size)
        ));
        shell.data(format!("html:              {}", self.html));
        shell.data(format!("lease:             {}s", self.lease_seconds));
        shell.data(format!("min-writer-version: {}", self.min_writer_version));
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
                "{} ok, {} warning(s), {} failed, {} skipped",
                self.count(Status::Ok),
                self.count(Status::Warn),
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
                "token `{}` ({}…{}) to `{}`; it is shown only now: the file keeps its MD5 digest, not the token",
                self.info.name,
                self.info.id,
                if self.info.read_only { ", read-only" } else { "" },
                self.token_file.display()
            ),
        );
        shell.status(
            "Note",
            "nginx reads the token file when it starts or reloads: run `sudo nginx -s reload`",
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
            shell.data(format!(
                "{:w$}  {:idw$}  {:<20}  READ-ONLY",
                "NAME", "ID", "CREATED"
            ));
            for t in &self.tokens {
                shell.data(format!(
                    "{:w$}  {:idw$}  {:<20}  {}",
                    t.name,
                    format!("{}…", t.id),
                    t.created,
                    if t.read_only { "yes" } else { "no" }
                ));
            }
        }
        if self.raw_tokens > 0 {
            shell.status(
                "Note",
                format!(
                    "`{}` also holds {} raw token(s) added by hand (`\"~^TOKEN$\" 1;` lines): regtool cannot name or revoke them; delete their lines by hand",
                    self.token_file.display(),
                    self.raw_tokens
                ),
            );
        }
    }
}

impl Report for ops::token::TokenRevoked {
    fn text(&self, shell: &Shell) {
        shell.status(
            "Revoked",
            format!(
                "token `{}` ({}…) from `{}` ({} token(s) left); nginx refuses it once it reloads: run `sudo nginx -s reload`",
                self.info.name,
                self.info.id,
                self.token_file.display(),
                self.remaining
            ),
        );
    }
}
