//! README.md's commands, taken from README.md itself and run, so that README
//! cannot drift from what regtool, cargo and nginx do: a fenced block between
//! `<!-- TAG -->` and `<!-- /TAG -->` ([`readme_block`]), its example values
//! replaced by the test's own ([`substitute`], which fails when one is no
//! longer there), run by bash in a clean environment ([`bash`]). Used by
//! `ci_recipe.rs` (the CI jobs) and `readme_first_hour.rs` (the quickstart,
//! nginx, tokens and doctor).

use super::*;

/// A fenced block of README.md.
#[derive(Debug, Clone)]
pub struct ReadmeBlock {
    /// The fence's language (`sh`, `toml`, `yaml`, `console`).
    pub lang: String,
    /// The lines between the fences, each ending in a newline.
    pub text: String,
}

/// README.md's text.
pub fn readme() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md")
}

/// The one fenced block between `<!-- TAG -->` and `<!-- /TAG -->` in README.md.
#[track_caller]
pub fn readme_block(tag: &str) -> ReadmeBlock {
    let readme = readme();
    let start_marker = format!("<!-- {tag} -->");
    let end_marker = format!("<!-- /{tag} -->");
    let start = readme
        .find(&start_marker)
        .unwrap_or_else(|| panic!("README.md has no `{start_marker}`"))
        + start_marker.len();
    assert!(
        !readme[start..].contains(&start_marker),
        "README.md has `{start_marker}` twice"
    );
    let end = readme[start..]
        .find(&end_marker)
        .unwrap_or_else(|| panic!("README.md has no `{end_marker}`"))
        + start;
    let block = readme[start..end].trim();
    let (lang, rest) = block
        .strip_prefix("```")
        .and_then(|b| b.split_once('\n'))
        .unwrap_or_else(|| panic!("`{start_marker}` is not followed by a fenced block:\n{block}"));
    let text = rest
        .strip_suffix("```")
        .unwrap_or_else(|| panic!("`{start_marker}` holds more than one fenced block:\n{block}"));
    assert!(
        !text.contains("\n```"),
        "`{start_marker}` holds more than one fenced block:\n{block}"
    );
    ReadmeBlock {
        lang: lang.trim().to_owned(),
        text: text.to_owned(),
    }
}

/// `text` with each `(from, to)` replaced, in order; panics when a `from` is
/// not in the text (README changed: the test must follow it).
#[track_caller]
pub fn substitute(text: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in replacements {
        assert!(
            out.contains(from),
            "README's block no longer holds `{from}`; the test replaces it with `{to}`:\n{out}"
        );
        out = out.replace(from, to);
    }
    out
}

/// `bash -e -o pipefail -c SCRIPT` in `dir`, as a user's shell runs it: no
/// `CARGO*`, `RUSTC*`, `RUSTFLAGS` or `REGTOOL_*` of the test's own
/// environment, `path_first` then the folder of the regtool under test first
/// on `PATH`, no colors, and `vars` (an empty value unsets the variable).
/// Returns the command, to run ([`run_with_timeout`]) or spawn.
pub fn bash(script: &str, dir: &Path, path_first: &[&Path], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-e")
        .arg("-o")
        .arg("pipefail")
        .arg("-c")
        .arg(script);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO")
            || k.starts_with("__CARGO")
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTFLAGS")
            || k.starts_with("RUSTDOCFLAGS")
            || k.starts_with("REGTOOL_")
        {
            cmd.env_remove(&key);
        }
    }
    // rustup's cargo finds its toolchain through the home folders.
    for keep in ["CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_regtool"))
        .parent()
        .unwrap()
        .to_owned();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = path_first
        .iter()
        .map(|p| p.to_path_buf())
        .chain(std::iter::once(bin_dir))
        .chain(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap())
        .env("NO_COLOR", "1")
        .env("CARGO_TERM_COLOR", "never")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .current_dir(dir);
    for (k, v) in vars {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    cmd
}
