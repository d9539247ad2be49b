//! What a test needs from outside the repository (a tool such as nginx,
//! Chromium or moto's S3 server, crates.io, a second file system), and the one
//! rule for when it is not there (the conformance kit, which nothing can
//! install, is a note even in CI: [`require_conformance_kit`]):
//!
//! - **outside CI** the test prints one note on stderr,
//!   `note: TEST: skipped: WHAT is missing; the test needs it because WHY.
//!   HOW TO GET IT`, and returns
//!   early (or leaves out just the part that needs it), so it passes;
//! - **in CI** it panics with the same words and the line of
//!   `.ci/install.sh` that provides it: a CI run that skipped a test has not
//!   tested it.
//!
//! "In CI" is [`in_ci`]: the variable `CI` set to anything but an empty
//! string, `0` or `false` (CI services set `CI=true`). `.ci/install.sh` and
//! `.ci/s3_corpus.sh` read `CI` the same way.
//!
//! Tests never install anything. `.ci/install.sh` installs every tool of
//! [`TOOLS`] on a fresh Debian machine (`.ci/run` runs it first), and the test
//! `every_tool_has_its_install_line` below checks that the line each entry
//! names is in it.

use super::*;

/// Whether this is a CI run: `CI` is set and is not empty, `0` or `false`
/// (any case). In CI nothing may be skipped.
pub fn in_ci() -> bool {
    means_ci(std::env::var("CI").ok().as_deref())
}

/// Whether a value of `CI` (`None`: unset) means a CI run.
fn means_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// The name of the running test (libtest names each test's thread after it).
fn test_name() -> String {
    thread::current().name().unwrap_or("a test").to_owned()
}

/// The rule for something a test needs and does not have.
///
/// `missing` says what is not there ("nginx is not installed"), `why` what
/// the test does with it (a clause: "a real nginx serves the registry"),
/// `remedy` how to get it (for a local run, and which
/// line of `.ci/install.sh` provides it in CI). Outside CI this prints one
/// `note: TEST: skipped: ...` line on stderr and returns; the caller then
/// returns early, or leaves out the part that needs it. In CI it panics with
/// the same text.
#[track_caller]
pub fn skip_or_fail(missing: &str, why: &str, remedy: &str) {
    let test = test_name();
    if in_ci() {
        panic!(
            "{test}: {missing}; the test needs it because {why}, and in CI (CI={}) \
             no test may be skipped. {remedy}",
            std::env::var("CI").unwrap_or_default()
        );
    }
    let _ = writeln!(
        io::stderr(),
        "note: {test}: skipped: {missing}; the test needs it because {why}. {remedy}"
    );
}

/// A program the tests run, where to look for it and who installs it.
#[derive(Debug)]
pub struct Tool {
    /// The name [`require_tool`] takes, and the one in its notes.
    pub name: &'static str,
    /// A variable that names the program's path, looked at first.
    pub env: Option<&'static str>,
    /// File names looked for on `PATH`, then in [`Tool::dirs`], in order.
    pub executables: &'static [&'static str],
    /// Folders looked in after `PATH` (programs that live in an `sbin`).
    pub dirs: &'static [&'static str],
    /// How to get it for a local run (a sentence after "Locally,").
    pub local: &'static str,
    /// The line of `.ci/install.sh` that installs it (a test checks it is
    /// there, word for word).
    pub ci_line: &'static str,
}

/// Every program a test looks for.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "nginx",
        env: None,
        executables: &["nginx"],
        dirs: &[
            "/usr/sbin",
            "/usr/local/sbin",
            "/usr/local/nginx/sbin",
            "/sbin",
        ],
        local: "the Debian and Ubuntu package is `nginx`",
        ci_line: "want nginx nginx",
    },
    Tool {
        name: "chromium",
        env: None,
        executables: &["chromium", "chromium-browser"],
        dirs: &["/usr/bin"],
        local: "the Debian package is `chromium`",
        ci_line: "want chromium chromium fonts-liberation",
    },
    Tool {
        name: "moto_server",
        env: Some("MOTO_SERVER"),
        executables: &["moto_server"],
        dirs: &[],
        local: "it is PyPI's `moto[server]` (5.1 or later) in a Python venv; set MOTO_SERVER \
                to the venv's bin/moto_server",
        ci_line: "venv moto moto_server 'moto[server]>=5.1'",
    },
    Tool {
        name: "xmllint",
        env: None,
        executables: &["xmllint"],
        dirs: &[],
        local: "the Debian and Ubuntu package is `libxml2-utils`",
        ci_line: "want xmllint libxml2-utils",
    },
    Tool {
        name: "rsync",
        env: None,
        executables: &["rsync"],
        dirs: &[],
        local: "the Debian and Ubuntu package is `rsync`",
        ci_line: "want rsync rsync",
    },
    Tool {
        name: "aws",
        env: None,
        executables: &["aws"],
        dirs: &[],
        local: "it is PyPI's `awscli` in a Python venv whose bin/ is on PATH",
        ci_line: "venv awscli aws awscli",
    },
];

/// The entry of [`TOOLS`] called `name` (a test naming an unknown tool is a
/// bug in the test: panics).
pub fn tool(name: &str) -> &'static Tool {
    TOOLS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool `{name}` in tests/it/common/needs.rs TOOLS"))
}

/// Where `tool` is: its variable's path if set, else the first of its
/// executables on `PATH`, then in its folders. `None` when none is a file.
pub fn find_tool(tool: &Tool) -> Option<PathBuf> {
    if let Some(var) = tool.env
        && let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty())
    {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(tool.dirs.iter().map(PathBuf::from))
        .collect();
    tool.executables
        .iter()
        .flat_map(|exe| dirs.iter().map(move |d| d.join(exe)))
        .find(|p| p.is_file())
}

/// The program `name` (an entry of [`TOOLS`]) that the running test needs
/// for `why`: its path, or `None` after [`skip_or_fail`] (a note outside CI,
/// a panic in CI naming the `.ci/install.sh` line that installs it).
#[track_caller]
pub fn require_tool(name: &str, why: &str) -> Option<PathBuf> {
    let tool = tool(name);
    let found = find_tool(tool);
    if found.is_none() {
        let looked = match tool.env {
            Some(var) => format!("${var} is unset and it is not on PATH"),
            None => "not on PATH".to_owned(),
        };
        skip_or_fail(
            &format!("{name} is not installed ({looked})"),
            why,
            &format!(
                "Locally, {}; in CI, .ci/install.sh installs it: `{}`",
                tool.local, tool.ci_line
            ),
        );
    }
    found
}

/// Where the team's conformance kit is looked for: `shared/conformance/`
/// beside this checkout (`../shared/`, as DEVELOPMENT.md says), and beside the
/// main checkout when this is a `git worktree` of it (its `.git` file names
/// `MAIN/.git/worktrees/NAME`). `.ci/run` looks in the same two places.
pub fn conformance_kit_places() -> Vec<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut places = vec![here.join("../shared/conformance")];
    if let Ok(link) = fs::read_to_string(here.join(".git"))
        && let Some(gitdir) = link.trim().strip_prefix("gitdir: ")
        && let Some(main) = Path::new(gitdir).ancestors().find(|p| p.ends_with(".git"))
        && let Some(main) = main.parent()
    {
        places.push(main.join("../shared/conformance"));
    }
    places
}

/// `compare.py` of the team's conformance kit (see
/// [`conformance_kit_places`]), or `None` after a note on stderr, in CI too.
pub fn require_conformance_kit(why: &str) -> Option<PathBuf> {
    let places = conformance_kit_places();
    if let Some(script) = places
        .iter()
        .map(|p| p.join("compare.py"))
        .find(|p| p.is_file())
    {
        return Some(script);
    }
    let shown: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    // Not skip_or_fail: .ci/run cannot install the kit (it is the team's, kept beside
    // a checkout, not in any registry), so a clone without it skips with a note, in CI too.
    let _ = writeln!(
        io::stderr(),
        "note: {}: skipped: the conformance kit is not beside the repository (no compare.py in {}); \
         the test needs it because {why}. Put the team's kit at ../shared/conformance/ beside the checkout \
         (DEVELOPMENT.md, \"The conformance corpora\")",
        test_name(),
        shown.join(" or ")
    );
    None
}

#[test]
fn ci_is_any_value_but_empty_0_or_false() {
    for v in ["true", "1", "yes", "TRUE", "gitlab"] {
        assert!(means_ci(Some(v)), "{v}");
    }
    for v in [
        None,
        Some(""),
        Some(" "),
        Some("0"),
        Some("false"),
        Some("False"),
    ] {
        assert!(!means_ci(v), "{v:?}");
    }
}

/// The line each tool names is in `.ci/install.sh` (so a CI failure points
/// at a line that exists), and `.ci/run` runs that script first.
#[test]
fn every_tool_has_its_install_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = fs::read_to_string(root.join(".ci/install.sh")).expect("read .ci/install.sh");
    for tool in TOOLS {
        assert!(
            script
                .lines()
                .any(|l| l.trim_start().starts_with(tool.ci_line)),
            "{}: .ci/install.sh has no line `{}`",
            tool.name,
            tool.ci_line
        );
    }
    let run = fs::read_to_string(root.join(".ci/run")).expect("read .ci/run");
    let first = run.lines().map(str::trim).find(|l| {
        !l.is_empty() && !l.starts_with('#') && !l.starts_with("set ") && !l.starts_with("cd ")
    });
    assert_eq!(first, Some(". .ci/install.sh"), ".ci/run installs first");
}
