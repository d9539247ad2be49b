//! The man pages in `man/` are generated from the clap definitions
//! (`regtool::cli::Cli`) with `clap_mangen`: `regtool.1` and one page per
//! subcommand (`regtool-add.1`, ...). This test renders them and fails when the
//! committed files differ; `REGTOOL_UPDATE_MAN=1 cargo test --test it man::`
//! rewrites them (and removes pages of subcommands that are gone).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use regtool::cli::Cli;

const UPDATE_VAR: &str = "REGTOOL_UPDATE_MAN";

/// Every man page, file name to bytes: the top command, then each visible
/// subcommand (clap's `help` subcommand excluded), as `clap_mangen::generate_to`
/// names them.
fn render_all() -> BTreeMap<String, Vec<u8>> {
    fn walk(cmd: &clap::Command, out: &mut BTreeMap<String, Vec<u8>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out);
        }
        // Every page names the release it documents (subcommands have no version
        // of their own in clap, so the default would be empty for them).
        let man = clap_mangen::Man::new(cmd.clone())
            .source(format!("regtool {}", env!("CARGO_PKG_VERSION")))
            .manual("regtool manual");
        let mut bytes = Vec::new();
        man.render(&mut bytes).expect("render man page");
        out.insert(man.get_filename(), bytes);
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = BTreeMap::new();
    walk(&cmd, &mut out);
    out
}

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

/// The `*.1` files now in `man/`.
fn committed() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(man_dir()) else {
        return out;
    };
    for entry in entries {
        let entry = entry.expect("list man/");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".1") {
            out.insert(name, fs::read(entry.path()).expect("read man page"));
        }
    }
    out
}

#[test]
fn man_pages_match_the_cli() {
    let want = render_all();
    assert!(want.contains_key("regtool.1"), "{:?}", want.keys());
    assert!(want.contains_key("regtool-add.1"), "{:?}", want.keys());
    assert!(
        want.contains_key("regtool-nginx-config.1"),
        "{:?}",
        want.keys()
    );
    assert!(!want.contains_key("regtool-help.1"), "{:?}", want.keys());

    let have = committed();
    if std::env::var_os(UPDATE_VAR).is_some_and(|v| !v.is_empty() && v != "0") {
        fs::create_dir_all(man_dir()).expect("create man/");
        for name in have.keys().filter(|n| !want.contains_key(*n)) {
            fs::remove_file(man_dir().join(name)).expect("remove stale man page");
        }
        for (name, bytes) in &want {
            if have.get(name) != Some(bytes) {
                fs::write(man_dir().join(name), bytes).expect("write man page");
            }
        }
        return;
    }

    let mut problems = Vec::new();
    for (name, bytes) in &want {
        match have.get(name) {
            None => problems.push(format!("man/{name} is missing")),
            Some(old) if old != bytes => problems.push(format!(
                "man/{name} differs from the CLI definition{}",
                first_difference(old, bytes)
            )),
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        problems.push(format!("man/{name} belongs to no subcommand"));
    }
    assert!(
        problems.is_empty(),
        "the man pages are out of date with src/cli.rs:\n  {}\nregenerate them with:\n  {UPDATE_VAR}=1 cargo test --test it man::",
        problems.join("\n  ")
    );
}

/// ` (first at line N: committed `...`, generated `...`)`.
fn first_difference(old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let mut o = old.lines();
    let mut n = new.lines();
    let mut i = 0;
    loop {
        i += 1;
        match (o.next(), n.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => return String::new(),
            (a, b) => {
                return format!(
                    " (first at line {i}: committed `{}`, generated `{}`)",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>")
                );
            }
        }
    }
}
