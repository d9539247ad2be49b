//! `regtool add`: what it refuses, with the registry left byte for byte as it
//! was (each of crates.io's rules: a valid name and semver version matching the
//! archive's one top folder; one spelling per crate, names equal after
//! lowercasing and `-`/`_` being one; a version once, build metadata ignored;
//! other bytes under an existing version), what it accepts, the bytes it writes
//! (index line and config.json snapshots), and conformance with crates.io's own
//! index lines for the real crates in `fixtures/crates-io/`.

use crate::common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Output;

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// The `error:` lines of a process's stderr.
fn error_lines(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_owned)
        .collect()
}

/// Asserts a rejected `add`: exit 1, exactly one `error:` line, naming `input`
/// in backticks and containing `phrase`.
#[track_caller]
fn assert_rejected(out: &Output, input: &Path, phrase: &str) {
    assert_exit_code(out, 1, "regtool add");
    let errors = error_lines(out);
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one `error:` line\n{}",
        describe_output(out)
    );
    let named = format!("`{}`", input.display());
    assert!(
        errors[0].contains(&named),
        "the error does not name {named}\n{}",
        describe_output(out)
    );
    assert!(
        errors[0].contains(phrase),
        "the error does not say {phrase:?}\n{}",
        describe_output(out)
    );
}

/// Adds `input` to `reg`, expecting it to be refused with `phrase`, and the
/// registry to be left exactly as it was.
#[track_caller]
fn check_rejected(reg: &TestRegistry, input: &Path, phrase: &str) -> Output {
    let before = tree(&reg.root);
    let out = reg.add(&[input]);
    assert_rejected(&out, input, phrase);
    assert_tree_eq(&before, &tree(&reg.root), "a rejected add");
    out
}

/// A valid normalized manifest for `name` `version`.
fn manifest(name: &str, version: &str) -> String {
    default_manifest(name, version)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------
// Bad input: exit 1, one error naming the file and the rule, nothing written
// ---------------------------------------------------------------------------

#[test]
fn rejects_a_file_that_is_not_gzip() {
    let reg = TestRegistry::seeded();
    let input = reg.input(
        "foo-1.0.0.crate",
        b"this is plain text, not a gzip stream\n",
    );
    check_rejected(&reg, &input, "not a gzip file");
}

#[test]
fn rejects_a_truncated_gzip() {
    let reg = TestRegistry::seeded();
    let bytes = CrateBuilder::new("foo", "1.0.0")
        .file("data.bin", noise(64 * 1024))
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes[..bytes.len() / 2]);
    check_rejected(&reg, &input, "corrupt or truncated archive");
}

#[test]
fn rejects_a_tar_without_cargo_toml() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .dir("foo-1.0.0/")
        .file("foo-1.0.0/src/lib.rs", "pub fn f() {}\n")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    check_rejected(&reg, &input, "has no `Cargo.toml`");
}

#[test]
fn rejects_invalid_toml() {
    let reg = TestRegistry::seeded();
    let input = reg.krate(&CrateBuilder::new("foo", "1.0.0").manifest("[package\nname = \"foo\""));
    check_rejected(&reg, &input, "invalid `Cargo.toml`");
}

#[test]
fn rejects_a_manifest_version_other_than_the_folder() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.1"))
        .file("foo-1.0.0/src/lib.rs", "")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "the archive's top folder is `foo-1.0.0/`");
    assert!(
        stderr(&out).contains("`foo-1.0.1`"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn rejects_a_manifest_name_other_than_the_folder() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("bar", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "the archive's top folder is `foo-1.0.0/`");
    assert!(
        stderr(&out).contains("`bar-1.0.0`"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn rejects_an_entry_in_another_top_folder() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .file("bar-1.0.0/src/lib.rs", "")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "is outside the crate's top folder");
    assert!(stderr(&out).contains("`bar-1.0.0/src/lib.rs`"));
}

#[test]
fn rejects_a_dot_dot_entry() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .file("../x", "escaped\n")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "is outside the crate's top folder");
    assert!(stderr(&out).contains("`../x`"));
}

#[test]
fn rejects_a_dot_dot_inside_the_top_folder() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .file("foo-1.0.0/../../x", "escaped\n")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    check_rejected(&reg, &input, "is outside the crate's top folder");
}

#[test]
fn rejects_a_dot_dot_hidden_in_a_gnu_long_name() {
    let reg = TestRegistry::seeded();
    let long = format!("foo-1.0.0/{}{}x", "d/".repeat(60), "../".repeat(70));
    assert!(long.len() > 100);
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .file(long.as_bytes(), "escaped\n")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    check_rejected(&reg, &input, "is outside the crate's top folder");
}

/// cargo unpacks a `.crate` entry by entry, so with two `Cargo.toml` entries the
/// last one wins on disk, while regtool derives the index line from the first:
/// the index can then promise other dependencies than the code cargo builds.
/// crates.io refuses archives with duplicate paths.
#[test]
fn rejects_a_duplicate_cargo_toml_entry() {
    let reg = TestRegistry::seeded();
    let evil = format!(
        "{}\n[dependencies.evil]\nversion = \"1\"\n",
        manifest("foo", "1.0.0")
    );
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .file("foo-1.0.0/Cargo.toml", evil)
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    check_rejected(&reg, &input, "Cargo.toml");
}

#[test]
fn rejects_an_absolute_entry() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .file("/etc/x", "escaped\n")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "is outside the crate's top folder");
    assert!(stderr(&out).contains("`/etc/x`"));
}

#[test]
fn rejects_a_symlink_entry() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .symlink("foo-1.0.0/passwd", "/etc/passwd")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "is a symlink");
    assert!(stderr(&out).contains("`foo-1.0.0/passwd`"));
}

#[test]
fn rejects_a_hardlink_entry() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .hardlink("foo-1.0.0/copy.rs", "foo-1.0.0/src/lib.rs")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "is a hardlink");
    assert!(stderr(&out).contains("`foo-1.0.0/copy.rs`"));
}

#[test]
fn rejects_a_name_starting_with_a_digit() {
    let reg = TestRegistry::seeded();
    let input = reg.krate(&CrateBuilder::new("1abc", "1.0.0"));
    let out = check_rejected(&reg, &input, "1abc");
    let err = &error_lines(&out)[0];
    assert!(
        err.contains("invalid crate name") || err.contains("package name"),
        "the error does not say the name is invalid\n{}",
        describe_output(&out)
    );
    assert!(!reg.root.join("crates/1abc").exists());
}

#[test]
fn rejects_a_path_traversal_name_in_the_manifest() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("etc-1.0.0/Cargo.toml", manifest("../../etc", "1.0.0"))
        .file("etc-1.0.0/src/lib.rs", "")
        .build();
    let input = reg.input("etc-1.0.0.crate", &bytes);
    let out = check_rejected(&reg, &input, "../../etc");
    let err = &error_lines(&out)[0];
    assert!(
        err.contains("invalid crate name") || err.contains("package name"),
        "the error does not say the name is invalid\n{}",
        describe_output(&out)
    );
    // Nothing escaped the registry either.
    assert!(!reg.temp_dir().join("etc").exists());
}

#[test]
fn rejects_a_name_starting_with_an_underscore() {
    // cargo's own manifest parser accepts `_foo`; crates.io's rule does not.
    let reg = TestRegistry::seeded();
    let input = reg.krate(&CrateBuilder::new("_foo", "1.0.0"));
    check_rejected(&reg, &input, "invalid crate name `_foo`");
}

#[test]
fn rejects_a_reserved_name() {
    let reg = TestRegistry::seeded();
    let input = reg.krate(&CrateBuilder::new("nul", "1.0.0"));
    check_rejected(
        &reg,
        &input,
        "invalid crate name `nul`: the name is reserved",
    );
}

#[test]
fn rejects_a_name_differing_only_by_case() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let input = reg.krate(&CrateBuilder::new("Foo", "1.1.0"));
    check_rejected(&reg, &input, "conflicts with the existing crate `foo`");
}

#[test]
fn rejects_a_name_differing_only_by_dash_or_underscore() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo-bar", "1.0.0"));
    let input = reg.krate(&CrateBuilder::new("foo_bar", "1.1.0"));
    check_rejected(&reg, &input, "conflicts with the existing crate `foo-bar`");
}

#[test]
fn rejects_a_duplicate_version_with_other_bytes() {
    let reg = TestRegistry::new();
    let first = CrateBuilder::new("foo", "1.0.0");
    reg.publish(&first);
    let other = first.clone().file("src/extra.rs", "// changed\n");
    let bytes = other.build();
    let input = reg.input("again/foo-1.0.0.crate", &bytes);
    let out = check_rejected(
        &reg,
        &input,
        "already in the registry with a different checksum",
    );
    assert!(stderr(&out).contains(&sha256_hex(&bytes)));
}

#[test]
fn rejects_a_version_differing_only_by_build_metadata() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0+a"));
    let input = reg.krate(&CrateBuilder::new("foo", "1.0.0+b"));
    let out = check_rejected(&reg, &input, "differ only in build metadata");
    assert!(stderr(&out).contains("1.0.0+a"));
}

#[test]
fn add_into_a_folder_that_is_not_a_registry_suggests_init() {
    let dir = tempdir();
    let not_reg = dir.path().join("plain");
    fs::create_dir_all(&not_reg).unwrap();
    fs::write(not_reg.join("README"), "just a folder\n").unwrap();
    let input = CrateBuilder::new("foo", "1.0.0").write_to(&dir.path().join("inputs"));
    let before = tree(&not_reg);
    let mut cmd = regtool();
    cmd.arg("--registry").arg(&not_reg).arg("add").arg(&input);
    let out = run_with_timeout(cmd, REGTOOL_TIMEOUT);
    assert_exit_code(&out, 1, "regtool add (not a registry)");
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", describe_output(&out));
    assert!(
        errors[0].contains(&format!("`{}`", not_reg.display())),
        "the error does not name the folder\n{}",
        describe_output(&out)
    );
    assert!(errors[0].contains("not a regtool registry"));
    assert!(
        errors[0].contains("regtool init"),
        "{}",
        describe_output(&out)
    );
    // Not even a lock file or .regtool/ appears.
    assert_eq!(before, tree(&not_reg));
    assert!(!not_reg.join(".regtool").exists());
}

#[test]
fn a_batch_with_two_bad_files_lists_both_and_writes_nothing() {
    let reg = TestRegistry::seeded();
    let good = reg.krate(&CrateBuilder::new("good", "1.0.0"));
    let not_gzip = reg.input("bad1-1.0.0.crate", b"not gzip at all");
    let symlink = reg.input(
        "bad2-1.0.0.crate",
        &RawTarBuilder::new()
            .file("bad2-1.0.0/Cargo.toml", manifest("bad2", "1.0.0"))
            .symlink("bad2-1.0.0/src", "/")
            .build(),
    );
    let before = tree(&reg.root);
    let out = reg.add(&[&good, &not_gzip, &symlink]);
    assert_exit_code(&out, 1, "regtool add (batch)");
    let errors = error_lines(&out);
    assert_eq!(
        errors.len(),
        3,
        "two problems and a summary\n{}",
        describe_output(&out)
    );
    let naming = |p: &Path| {
        let named = format!("`{}`", p.display());
        errors
            .iter()
            .filter(|e| e.contains(&named))
            .cloned()
            .collect::<Vec<_>>()
    };
    let e1 = naming(&not_gzip);
    assert_eq!(e1.len(), 1, "{}", describe_output(&out));
    assert!(e1[0].contains("not a gzip file"));
    let e2 = naming(&symlink);
    assert_eq!(e2.len(), 1, "{}", describe_output(&out));
    assert!(e2[0].contains("is a symlink"));
    assert!(naming(&good).is_empty(), "{}", describe_output(&out));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("2 inputs rejected; nothing was written")
                && e.contains("nothing was written")),
        "no summary line\n{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a rejected batch");
    assert!(!reg.root.join(index_path("good")).exists());
}

// ---------------------------------------------------------------------------
// Good behaviour
// ---------------------------------------------------------------------------

#[test]
fn re_adding_identical_bytes_is_a_no_op() {
    let reg = TestRegistry::new();
    let input = reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let before = tree(&reg.root);
    let out = reg.add_ok(&[&input]);
    assert!(
        stderr(&out).contains("     Skipped foo v1.0.0 (already present)"),
        "{}",
        describe_output(&out)
    );
    assert!(
        !stderr(&out).contains("Adding"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "re-adding the same bytes");
}

#[test]
fn name_and_version_come_from_the_manifest_not_the_file_name() {
    let reg = TestRegistry::new();
    let bytes = CrateBuilder::new("foo", "1.0.0").build();
    let input = reg.input("wrong-9.9.9.crate", &bytes);
    let out = reg.add_ok(&[&input]);
    assert!(
        stderr(&out).contains("      Adding foo v1.0.0"),
        "{}",
        describe_output(&out)
    );
    assert_eq!(fs::read(reg.crate_file("foo", "1.0.0")).unwrap(), bytes);
    let lines = read_index_lines(&reg.root, "foo");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "foo");
    assert_eq!(lines[0]["vers"], "1.0.0");
    assert!(!reg.root.join("crates/wrong").exists());
    assert!(!reg.root.join(index_path("wrong")).exists());
}

#[test]
fn a_folder_argument_adds_every_crate_in_it() {
    let reg = TestRegistry::new();
    let folder = reg.inputs().join("dist");
    let a = CrateBuilder::new("alpha", "0.1.0").write_to(&folder);
    let b = CrateBuilder::new("beta", "2.0.0").write_to(&folder.join("nested"));
    let c = CrateBuilder::new("alpha", "0.2.0").write_to(&folder);
    fs::write(folder.join("notes.txt"), "not a crate\n").unwrap();
    let out = reg.add_ok(&[&folder]);
    let err = stderr(&out);
    for s in [
        "Adding alpha v0.1.0",
        "Adding alpha v0.2.0",
        "Adding beta v2.0.0",
    ] {
        assert!(err.contains(s), "missing {s:?}\n{}", describe_output(&out));
    }
    for (path, name, vers) in [
        (&a, "alpha", "0.1.0"),
        (&b, "beta", "2.0.0"),
        (&c, "alpha", "0.2.0"),
    ] {
        assert_eq!(
            fs::read(reg.crate_file(name, vers)).unwrap(),
            fs::read(path).unwrap()
        );
    }
    let alpha: Vec<_> = read_index_lines(&reg.root, "alpha")
        .iter()
        .map(|l| l["vers"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(alpha, ["0.1.0", "0.2.0"]);
    assert_eq!(read_index_lines(&reg.root, "beta").len(), 1);
}

#[test]
fn json_output_lists_added_and_skipped_crates() {
    let reg = TestRegistry::new();
    let folder = reg.inputs().join("dist");
    let a = CrateBuilder::new("alpha", "0.1.0").write_to(&folder);
    let b = CrateBuilder::new("beta", "2.0.0").write_to(&folder);

    let out = reg.run(&[&"--format", &"json", &"add", &folder]);
    assert_success(&out, "regtool --format json add");
    let v = json(&out);
    let crates = v["crates"].as_array().expect("crates array");
    assert_eq!(crates.len(), 2, "{v:#}");
    for (path, name, vers) in [(&a, "alpha", "0.1.0"), (&b, "beta", "2.0.0")] {
        let bytes = fs::read(path).unwrap();
        let c = crates
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {v:#}"));
        assert_eq!(c["vers"], vers);
        assert_eq!(c["status"], "added");
        assert_eq!(c["cksum"], sha256_hex(&bytes).as_str());
        assert_eq!(c["size"], bytes.len() as u64);
        assert_eq!(c["source"], path.to_str().unwrap());
    }
    assert!(
        v["warnings"].as_array().is_some_and(|w| w.is_empty()),
        "{v:#}"
    );

    // Again, with one more: two skipped, one added.
    CrateBuilder::new("gamma", "0.0.1").write_to(&folder);
    let out = reg.run(&[&"--format", &"json", &"add", &folder]);
    assert_success(&out, "regtool --format json add (again)");
    let v = json(&out);
    let mut statuses: Vec<(String, String)> = v["crates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            ("alpha".to_owned(), "skipped".to_owned()),
            ("beta".to_owned(), "skipped".to_owned()),
            ("gamma".to_owned(), "added".to_owned()),
        ]
    );
}

#[test]
fn quiet_add_prints_no_status_lines() {
    let reg = TestRegistry::new();
    let input = reg.krate(&CrateBuilder::new("foo", "1.0.0"));
    let out = reg.run(&[&"--quiet", &"add", &input]);
    assert_success(&out, "regtool --quiet add");
    assert_eq!(stderr(&out), "", "{}", describe_output(&out));
    assert!(reg.crate_file("foo", "1.0.0").is_file());
}

#[test]
fn the_written_crate_is_byte_identical_and_mode_0644() {
    let reg = TestRegistry::new();
    let krate =
        CrateBuilder::new("foo", "1.0.0").file("src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    let input = reg.krate(&krate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&input, fs::Permissions::from_mode(0o600)).unwrap();
    }
    reg.add_ok(&[&input]);
    let written = reg.crate_file("foo", "1.0.0");
    assert_eq!(fs::read(&written).unwrap(), fs::read(&input).unwrap());
    let line = &read_index_lines(&reg.root, "foo")[0];
    assert_eq!(
        line["cksum"],
        sha256_hex(&fs::read(&input).unwrap()).as_str()
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&written), 0o644, "mode of {}", written.display());
        let index = reg.root.join(index_path("foo"));
        assert_eq!(mode(&index), 0o644, "mode of {}", index.display());
    }
    // Nothing left behind in the temp folder.
    let tmp = reg.root.join(".regtool/tmp");
    if tmp.is_dir() {
        assert_eq!(
            fs::read_dir(&tmp).unwrap().count(),
            0,
            "files left in .regtool/tmp"
        );
    }
}

/// A manifest with every kind of dependency the index format knows.
const EVERY_DEP_KIND: &str = r#"[package]
edition = "2021"
rust-version = "1.70"
name = "Snap_Shot"
version = "0.3.0-beta.1+build.7"
links = "snapz"
description = "index line snapshot"
license = "MIT"

[lib]
path = "src/lib.rs"

[dependencies.serde]
version = "1.0.100"
features = ["derive", "rc"]
optional = true
default-features = false

[dependencies.json]
version = "1"
package = "serde_json"

[dependencies.local-dep]
version = "0.3"
registry-index = "sparse+https://crates.example.com/"

[dependencies.elsewhere]
version = "=2.1.0"
registry-index = "https://other.example.org/git-index"

[dependencies.no-req]
path = "../no-req"

[build-dependencies.cc]
version = "1.0.83"

[dev-dependencies.proptest]
version = ">=1.0, <2"

[dev-dependencies.serde]
version = "1.0.100"

[target."cfg(windows)".dependencies.winapi]
version = "0.3"
features = ["winuser"]

[target.'cfg(target_os = "linux")'.build-dependencies.pkg-config]
version = "0.3"

[target.x86_64-unknown-linux-gnu.dev-dependencies.tmp]
version = "3"
package = "tempfile"

[features]
default = ["std"]
std = []
derive = ["dep:serde"]
json-all = ["derive", "json/std"]
weak = ["serde?/std"]
plain = ["std", "json/preserve_order"]
"#;

#[test]
fn index_line_snapshot_with_every_dependency_kind() {
    let reg = TestRegistry::new();
    let krate = CrateBuilder::new("Snap_Shot", "0.3.0-beta.1+build.7").manifest(EVERY_DEP_KIND);
    let input = reg.publish(&krate);
    let text = reg.index_text("Snap_Shot");
    assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
    assert_eq!(text.lines().count(), 1);

    // The facts behind the snapshot, spelled out.
    let line: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(line["name"], "Snap_Shot");
    assert_eq!(
        line["cksum"],
        sha256_hex(&fs::read(&input).unwrap()).as_str()
    );
    assert_eq!(line["pubtime"], "2023-11-14T22:13:20Z");
    assert_eq!(line["links"], "snapz");
    assert_eq!(line["rust_version"], "1.70");
    assert_eq!(line["v"], 2);
    let deps = line["deps"].as_array().unwrap();
    let names: Vec<(&str, &str)> = deps
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("cc", "build"),
            ("elsewhere", "normal"),
            ("json", "normal"),
            ("local-dep", "normal"),
            ("pkg-config", "build"),
            ("proptest", "dev"),
            ("serde", "normal"),
            ("serde", "dev"),
            ("tmp", "dev"),
            ("winapi", "normal"),
        ],
        "deps sorted by (name, kind, req); the path-only dependency is skipped"
    );
    let dep = |n: &str, k: &str| {
        deps.iter()
            .find(|d| d["name"] == n && d["kind"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(dep("json", "normal")["package"], "serde_json");
    assert_eq!(dep("json", "normal")["registry"], CRATES_IO_INDEX);
    assert!(dep("local-dep", "normal").get("registry").is_none());
    assert_eq!(
        dep("elsewhere", "normal")["registry"],
        "https://other.example.org/git-index"
    );
    assert_eq!(
        dep("pkg-config", "build")["target"],
        "cfg(target_os = \"linux\")"
    );
    assert_eq!(dep("winapi", "normal")["target"], "cfg(windows)");
    assert_eq!(dep("tmp", "dev")["target"], "x86_64-unknown-linux-gnu");
    assert_eq!(dep("cc", "build")["req"], "^1.0.83");
    assert_eq!(dep("serde", "normal")["default_features"], false);
    assert_eq!(dep("serde", "normal")["optional"], true);
    let f2 = line["features2"].as_object().unwrap();
    let mut f2_keys: Vec<&str> = f2.keys().map(String::as_str).collect();
    f2_keys.sort();
    assert_eq!(f2_keys, ["derive", "json-all", "weak"]);

    insta::assert_snapshot!("index_file_every_dep_kind", text);
}

/// crates.io writes `target` as cargo-platform renders it (what cargo sends in
/// the publish request): errno 0.3.15's manifest spells `cfg(target_os="hermit")`
/// and its line has `cfg(target_os = "hermit")`. An invalid target is refused.
#[test]
fn target_cfg_is_written_as_cargo_platform_renders_it() {
    let reg = TestRegistry::new();
    let krate = CrateBuilder::new("tgt", "1.0.0").manifest_extra(
        "[target.'cfg(any(unix,target_os=\"windows\"))'.dependencies.winapi]\nversion = \"0.3\"\n",
    );
    reg.publish(&krate);
    let line = &read_index_lines(&reg.root, "tgt")[0];
    assert_eq!(
        line["deps"][0]["target"],
        "cfg(any(unix, target_os = \"windows\"))"
    );

    let bad = CrateBuilder::new("badtgt", "1.0.0")
        .manifest_extra("[target.'cfg(unix'.dependencies.libc]\nversion = \"0.2\"\n");
    let path = bad.write_to(&reg.root.join("..").join("in"));
    let out = run_regtool([
        "--registry",
        reg.root.to_str().unwrap(),
        "add",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid target"));
}

#[test]
fn config_json_snapshot_after_init() {
    let reg = TestRegistry::new();
    let text = fs::read_to_string(reg.root.join("config.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["dl"],
        format!("{URL}/crates/{{crate}}/{{crate}}-{{version}}.crate")
    );
    insta::assert_snapshot!("config_json_after_init", text);
}

// ---------------------------------------------------------------------------
// Conformance with crates.io's own lines (no network)
// ---------------------------------------------------------------------------

#[test]
fn conformance_with_crates_io_lines() {
    let reg = TestRegistry::new();
    let out = reg.add_ok(&[&fixtures()]);
    assert_eq!(
        stderr(&out).matches("Adding ").count(),
        21,
        "{}",
        describe_output(&out)
    );
    check_conformance(&reg.root, false);
    run_compare_py(&reg.root, false);
}

#[test]
fn conformance_with_crates_io_lines_as_a_mirror() {
    let reg = TestRegistry::mirror();
    reg.add_ok(&[&fixtures()]);
    check_conformance(&reg.root, true);
    run_compare_py(&reg.root, true);
}

// ---------------------------------------------------------------------------
// Dependencies on this registry: checked, and written dependencies-first
// ---------------------------------------------------------------------------

/// A crate depending on `dep` (requirement `req`) from this registry.
fn dependent(name: &str, dep: &str, req: &str) -> CrateBuilder {
    CrateBuilder::new(name, "1.0.0").manifest_extra(&format!(
        "[dependencies.{dep}]\nversion = \"{req}\"\nregistry-index = \"sparse+{URL}/\"\n"
    ))
}

#[test]
fn unsatisfied_same_registry_dependency_is_a_warning() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("base", "1.0.0"));
    let app = reg.krate(&dependent("app", "base", "^2"));
    let out = reg.add_ok(&[&app]);
    let err = stderr(&out);
    assert!(
        err.contains("warning:")
            && err.contains("dependency `base` requires `^2`")
            && err.contains("--strict"),
        "{err}"
    );
    assert_eq!(read_index_lines(&reg.root, "app").len(), 1);
}

#[test]
fn strict_refuses_unsatisfied_dependency_and_writes_nothing() {
    let reg = TestRegistry::seeded();
    let app = reg.krate(&dependent("app", "missing-crate", "^1"));
    let before = tree(&reg.root);
    let out = reg.run(&[&"add", &"--strict", &app]);
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    assert!(
        stderr(&out).contains("dependency `missing-crate` requires `^1`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(before, tree(&reg.root), "registry changed");
}

#[test]
fn crates_io_dependencies_and_dev_dependencies_are_not_checked() {
    let reg = TestRegistry::new();
    let krate = CrateBuilder::new("app", "1.0.0").manifest_extra(&format!(
        "[dependencies.serde]\nversion = \"1\"\n\n[dev-dependencies.tool]\nversion = \"9\"\nregistry-index = \"sparse+{URL}/\"\n"
    ));
    let path = reg.krate(&krate);
    let out = reg.run(&[&"add", &"--strict", &path]);
    assert_success(&out, "add --strict with crates.io and dev deps");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn a_batch_satisfies_its_own_dependencies_and_is_written_dependencies_first() {
    let reg = TestRegistry::new();
    // Names chosen so that alphabetical order is the wrong order.
    let a = reg.krate(&dependent("aaa-app", "mmm-mid", "^1"));
    let m = reg.krate(&dependent("mmm-mid", "zzz-base", "^1"));
    let z = reg.krate(&CrateBuilder::new("zzz-base", "1.0.0"));
    let out = reg.run(&[&"add", &"--strict", &a, &m, &z]);
    assert_success(&out, "add --strict of a self-contained batch");
    let err = stderr(&out);
    let pos = |n: &str| {
        err.find(&format!("Adding {n} v1.0.0"))
            .unwrap_or_else(|| panic!("{n} not added: {err}"))
    };
    assert!(
        pos("zzz-base") < pos("mmm-mid") && pos("mmm-mid") < pos("aaa-app"),
        "{err}"
    );
}

#[test]
fn json_error_document_lists_every_problem() {
    let reg = TestRegistry::seeded();
    let a = reg.input("a-1.0.0.crate", b"not gzip at all");
    let b = reg.input("b-1.0.0.crate", &gzip(b"not a tar either"));
    let out = reg.run(&[&"--format", &"json", &"add", &a, &b]);
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("stdout is one JSON document");
    assert_eq!(v["error"]["exit_code"], 1);
    let problems = v["error"]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 2, "{v:#}");
    let files: Vec<&str> = problems
        .iter()
        .map(|p| p["file"].as_str().unwrap())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("a-1.0.0.crate")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("b-1.0.0.crate")),
        "{files:?}"
    );
}

#[test]
fn a_dependency_naming_an_alias_url_is_on_this_registry() {
    let reg = TestRegistry::init(&["--alias", "https://crates.internal.example/"]);
    reg.publish(&CrateBuilder::new("base", "1.0.0"));
    let app = CrateBuilder::new("app", "1.0.0").manifest_extra(
        "[dependencies.base]\nversion = \"1\"\nregistry-index = \"sparse+https://crates.internal.example/\"\n",
    );
    reg.publish(&app);
    let line = &read_index_lines(&reg.root, "app")[0];
    assert!(line["deps"][0].get("registry").is_none(), "{line}");
    let settings = fs::read_to_string(reg.root.join(".regtool/config.toml")).unwrap();
    assert!(
        settings.contains("https://crates.internal.example"),
        "{settings}"
    );
}

#[test]
fn add_removes_day_old_uploads_a_killed_add_left_in_regtool_tmp() {
    let reg = TestRegistry::new();
    let tmp = reg.root.join(".regtool/tmp");
    let old = tmp.join("add-killed");
    let fresh = tmp.join("add-running");
    fs::write(&old, b"half a crate").unwrap();
    fs::write(&fresh, b"another add is reading this").unwrap();
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    reg.publish(&CrateBuilder::new("one", "1.0.0"));
    assert!(!old.exists(), "a two-day-old upload copy is removed");
    assert!(
        fresh.exists(),
        "a recent one may belong to a live add and is kept"
    );
}
