//! `yank`, `remove`, `reindex`, `verify`, `list` and `info` on registries the
//! tests build with `add` (the layout of `docs/architecture.md`: index files at
//! the prefix path of the lowercased name, `.crate` files under `crates/`):
//! which bytes each command changes, and which it must leave alone.

use crate::common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Output;

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// Asserts `verify` found problems (exit 1) and printed `KIND: `PATH`: ...`.
#[track_caller]
fn assert_problem(out: &Output, kind: &str, path: &Path) {
    assert_exit_code(out, 1, "regtool verify");
    let prefix = format!("{kind}: `{}`: ", path.display());
    assert!(
        stdout(out).lines().any(|l| l.starts_with(&prefix)),
        "no line starting with {prefix:?}\n{}",
        describe_output(out)
    );
}

/// The `yanked` flags of `name`'s index lines, in file order.
fn yanked_flags(root: &Path, name: &str) -> Vec<(String, bool)> {
    read_index_lines(root, name)
        .iter()
        .map(|l| {
            (
                l["vers"].as_str().unwrap().to_owned(),
                l["yanked"].as_bool().unwrap(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// yank
// ---------------------------------------------------------------------------

#[test]
fn yank_flips_only_that_line() {
    let reg = TestRegistry::with_foo_and_bar();
    let before_tree = tree(&reg.root);
    let before = reg.index_text("foo");
    let out = reg.ok(&[&"yank", &"foo@1.1.0"]);
    assert!(
        stderr(&out).contains("Yank foo@1.1.0"),
        "{}",
        describe_output(&out)
    );

    let after = reg.index_text("foo");
    let b: Vec<&str> = before.split_inclusive('\n').collect();
    let a: Vec<&str> = after.split_inclusive('\n').collect();
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    assert_eq!(a[0], b[0]);
    assert_eq!(b[1].matches("\"yanked\":false").count(), 1);
    assert_eq!(a[1], b[1].replace("\"yanked\":false", "\"yanked\":true"));
    assert_eq!(a[2], b[2]);

    // Nothing else in the registry changed.
    let mut expected = before_tree;
    expected.insert(index_path("foo"), Some(after.into_bytes()));
    assert_tree_eq(&expected, &tree(&reg.root), "yank");
}

#[test]
fn yank_accepts_name_and_version_as_two_arguments() {
    let reg = TestRegistry::with_foo_and_bar();
    reg.ok(&[&"yank", &"foo", &"2.0.0"]);
    assert_eq!(
        yanked_flags(&reg.root, "foo"),
        [
            ("1.0.0".to_owned(), false),
            ("1.1.0".to_owned(), false),
            ("2.0.0".to_owned(), true)
        ]
    );
}

#[test]
fn yank_json_report() {
    let reg = TestRegistry::with_foo_and_bar();
    let out = reg.ok(&[&"--format", &"json", &"yank", &"foo@1.0.0"]);
    let v = json(&out);
    assert_eq!(v["name"], "foo");
    assert_eq!(v["vers"], "1.0.0");
    assert_eq!(v["yanked"], true);
    assert_eq!(v["changed"], true);
}

#[test]
fn yanking_twice_says_so_and_succeeds() {
    let reg = TestRegistry::with_foo_and_bar();
    reg.ok(&[&"yank", &"foo@1.0.0"]);
    let before = tree(&reg.root);
    let out = reg.ok(&[&"yank", &"foo@1.0.0"]);
    assert!(
        stderr(&out).contains("foo@1.0.0 is already yanked"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a second yank");
    let out = reg.ok(&[&"--format", &"json", &"yank", &"foo@1.0.0"]);
    assert_eq!(json(&out)["changed"], false);
}

#[test]
fn yank_undo_restores_the_exact_bytes() {
    let reg = TestRegistry::with_foo_and_bar();
    let before = tree(&reg.root);
    let original = reg.index_text("foo");
    reg.ok(&[&"yank", &"foo@1.0.0"]);
    reg.ok(&[&"yank", &"foo@2.0.0"]);
    assert_ne!(reg.index_text("foo"), original);
    let out = reg.ok(&[&"yank", &"foo@1.0.0", &"--undo"]);
    assert!(
        stderr(&out).contains("Unyank foo@1.0.0"),
        "{}",
        describe_output(&out)
    );
    reg.ok(&[&"yank", &"foo", &"2.0.0", &"--undo"]);
    assert_eq!(reg.index_text("foo"), original);
    assert_tree_eq(&before, &tree(&reg.root), "yank then --undo");
    // Undoing again is a no-op that says so.
    let out = reg.ok(&[&"yank", &"--undo", &"foo@1.0.0"]);
    assert!(
        stderr(&out).contains("is already not yanked"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn yank_of_an_unknown_crate_suggests_a_near_name() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("hello-world", "1.0.0"));
    let before = tree(&reg.root);
    let out = reg.run(&[&"yank", &"hello-wrld@1.0.0"]);
    assert_exit_code(&out, 1, "regtool yank hello-wrld@1.0.0");
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{}", describe_output(&out));
    assert!(
        err.contains("`hello-wrld` is not in the registry"),
        "{}",
        describe_output(&out)
    );
    assert!(
        err.contains("did you mean `hello-world`"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a failed yank");
}

#[test]
fn yank_of_an_unknown_version_lists_the_versions() {
    let reg = TestRegistry::with_foo_and_bar();
    let before = tree(&reg.root);
    let out = reg.run(&[&"yank", &"foo@3.0.0"]);
    assert_exit_code(&out, 1, "regtool yank foo@3.0.0");
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{}", describe_output(&out));
    assert!(
        err.contains("no version `3.0.0`"),
        "{}",
        describe_output(&out)
    );
    assert!(
        err.contains("1.0.0, 1.1.0, 2.0.0"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a failed yank");
}

// ---------------------------------------------------------------------------
// remove
// ---------------------------------------------------------------------------

#[test]
fn remove_deletes_the_line_and_the_crate_file() {
    let reg = TestRegistry::with_foo_and_bar();
    let before = reg.index_text("foo");
    let out = reg.ok(&[&"remove", &"foo@1.1.0"]);
    assert!(
        stderr(&out).contains("Removed foo v1.1.0"),
        "{}",
        describe_output(&out)
    );
    let lines: Vec<&str> = before.split_inclusive('\n').collect();
    assert_eq!(reg.index_text("foo"), format!("{}{}", lines[0], lines[2]));
    assert!(!reg.crate_file("foo", "1.1.0").exists());
    assert!(reg.crate_file("foo", "1.0.0").is_file());
    assert!(reg.crate_file("foo", "2.0.0").is_file());
    assert!(reg.crate_file("bar", "0.1.0").is_file());
    reg.assert_verify_clean();
}

#[test]
fn remove_accepts_name_and_version_as_two_arguments() {
    let reg = TestRegistry::with_foo_and_bar();
    let out = reg.ok(&[&"--format", &"json", &"remove", &"foo", &"2.0.0"]);
    let v = json(&out);
    assert_eq!(v["name"], "foo");
    assert_eq!(v["vers"], "2.0.0");
    assert_eq!(v["index_file_removed"], false);
    let versions: Vec<String> = yanked_flags(&reg.root, "foo")
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(versions, ["1.0.0", "1.1.0"]);
    reg.assert_verify_clean();
}

#[test]
fn removing_the_last_version_removes_the_index_file() {
    let reg = TestRegistry::with_foo_and_bar();
    let out = reg.ok(&[&"--format", &"json", &"remove", &"bar@0.1.0"]);
    assert_eq!(json(&out)["index_file_removed"], true);
    assert!(!reg.index_file("bar").exists());
    assert!(!reg.crate_file("bar", "0.1.0").exists());
    assert!(
        !reg.root.join("crates/bar").exists(),
        "empty crates/bar/ left behind"
    );
    // The crate is gone for every command.
    let out = reg.run(&[&"info", &"bar"]);
    assert_exit_code(&out, 1, "regtool info bar");
    reg.assert_verify_clean();
}

#[test]
fn remove_of_an_unknown_version_changes_nothing() {
    let reg = TestRegistry::with_foo_and_bar();
    let before = tree(&reg.root);
    let out = reg.run(&[&"remove", &"foo@9.9.9"]);
    assert_exit_code(&out, 1, "regtool remove foo@9.9.9");
    assert!(
        stderr(&out).contains("1.0.0, 1.1.0, 2.0.0"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a failed remove");
}

// ---------------------------------------------------------------------------
// reindex
// ---------------------------------------------------------------------------

#[test]
fn reindex_of_an_added_registry_is_byte_identical_and_keeps_yanks() {
    let reg = TestRegistry::with_foo_and_bar();
    reg.publish(
        &CrateBuilder::new("Feat_Ure", "0.5.0").manifest_extra(
            "[dependencies.serde]\nversion = \"1\"\noptional = true\n\n[target.'cfg(unix)'.dev-dependencies.libc]\nversion = \"0.2\"\n\n[features]\nserde = [\"dep:serde\"]\nstd = []\n",
        ),
    );
    reg.ok(&[&"yank", &"foo@1.1.0"]);
    let before = tree(&reg.root);

    let out = reg.ok(&[&"--format", &"json", &"reindex", &reg.root]);
    let v = json(&out);
    assert_eq!(v["crates_read"], 5, "{v:#}");
    assert_eq!(v["index_files_written"], Value::Array(vec![]), "{v:#}");
    assert_eq!(v["lines_added"], Value::Array(vec![]), "{v:#}");
    assert_eq!(v["missing_crates"], Value::Array(vec![]), "{v:#}");
    assert_tree_eq(&before, &tree(&reg.root), "reindex");
    assert_eq!(
        yanked_flags(&reg.root, "foo")[1],
        ("1.1.0".to_owned(), true)
    );

    // Twice: still nothing.
    reg.ok(&[&"reindex"]);
    assert_tree_eq(&before, &tree(&reg.root), "a second reindex");
}

#[test]
fn reindex_restores_deleted_index_files_from_crates() {
    let reg = TestRegistry::with_foo_and_bar();
    let bar_line = read_index_lines(&reg.root, "bar");
    fs::remove_file(reg.index_file("bar")).unwrap();
    reg.ok(&[&"reindex"]);
    let again = read_index_lines(&reg.root, "bar");
    assert_eq!(again.len(), 1);
    // Everything but pubtime (now the file's mtime) comes back as it was.
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("pubtime");
        v
    };
    assert_eq!(strip(&again[0]), strip(&bar_line[0]));
    assert!(is_pubtime(again[0]["pubtime"].as_str().unwrap()));
    // Running it twice changes nothing.
    let before = tree(&reg.root);
    reg.ok(&[&"reindex"]);
    assert_tree_eq(&before, &tree(&reg.root), "a second reindex");
    reg.assert_verify_clean();
}

#[test]
fn reindex_of_a_bare_crates_folder_matches_crates_io() {
    let reg = TestRegistry::new();
    for exp in expected_lines() {
        let name = exp["name"].as_str().unwrap();
        let vers = exp["vers"].as_str().unwrap();
        let dest = reg.crate_file(name, vers);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(fixtures().join(format!("{name}-{vers}.crate")), &dest).unwrap();
    }
    let out = reg.ok(&[&"--format", &"json", &"reindex", &reg.root]);
    let v = json(&out);
    assert_eq!(v["crates_read"], 21, "{v:#}");
    assert_eq!(v["lines_added"].as_array().unwrap().len(), 21, "{v:#}");
    assert_eq!(v["rejected"], Value::Array(vec![]), "{v:#}");
    check_conformance(&reg.root, false);
    run_compare_py(&reg.root, false);
    reg.assert_verify_clean();
    // And a second run changes nothing.
    let before = tree(&reg.root);
    reg.ok(&[&"reindex"]);
    assert_tree_eq(&before, &tree(&reg.root), "a second reindex");
}

#[test]
fn reindex_moves_a_misnamed_crate_file_to_its_download_path() {
    let reg = TestRegistry::new();
    let bytes = CrateBuilder::new("foo", "1.0.0").build();
    let odd = reg.root.join("crates/foo/upload-1234.crate");
    fs::create_dir_all(odd.parent().unwrap()).unwrap();
    fs::write(&odd, &bytes).unwrap();
    reg.ok(&[&"reindex"]);
    assert!(!odd.exists());
    assert_eq!(fs::read(reg.crate_file("foo", "1.0.0")).unwrap(), bytes);
    let lines = read_index_lines(&reg.root, "foo");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["cksum"], sha256_hex(&bytes).as_str());
    reg.assert_verify_clean();
}

#[test]
fn reindex_keeps_and_reports_a_line_without_its_crate_and_prune_drops_it() {
    let reg = TestRegistry::with_foo_and_bar();
    let before_text = reg.index_text("foo");
    fs::remove_file(reg.crate_file("foo", "1.1.0")).unwrap();
    let before = tree(&reg.root);

    let out = reg.ok(&[&"reindex"]);
    assert!(
        stderr(&out).contains("foo@1.1.0 has no .crate file"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "reindex without --prune");
    let out = reg.ok(&[&"--format", &"json", &"reindex"]);
    let v = json(&out);
    assert_eq!(
        v["missing_crates"],
        serde_json::json!(["foo@1.1.0"]),
        "{v:#}"
    );
    assert_eq!(v["pruned"], false);

    let out = reg.ok(&[&"--format", &"json", &"reindex", &"--prune"]);
    let v = json(&out);
    assert_eq!(
        v["missing_crates"],
        serde_json::json!(["foo@1.1.0"]),
        "{v:#}"
    );
    assert_eq!(v["pruned"], true);
    let lines: Vec<&str> = before_text.split_inclusive('\n').collect();
    assert_eq!(reg.index_text("foo"), format!("{}{}", lines[0], lines[2]));
    reg.assert_verify_clean();
}

#[test]
fn reindex_takes_no_version_from_a_file_stored_under_another_version_s_name() {
    // Issue 18; on main bc3f5a2 reindex moved the file, published 2.0.0 from
    // it and, with --prune, dropped 1.0.0's line.
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    reg.ok(&[&"yank", &"foo@1.0.0"]);
    let two = CrateBuilder::new("foo", "2.0.0").build();
    fs::write(reg.crate_file("foo", "1.0.0"), &two).unwrap();
    let before = tree(&reg.root);
    for prune in [false, true] {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"--format", &"json", &"reindex"];
        if prune {
            args.push(&"--prune");
        }
        let out = reg.run(&args);
        assert_exit_code(&out, 1, "reindex of a file under another version's name");
        let v = json(&out);
        let rejected = v["rejected"].as_array().unwrap();
        assert_eq!(rejected.len(), 1, "{v:#}");
        assert!(
            rejected[0]["path"]
                .as_str()
                .unwrap()
                .ends_with("crates/foo/foo-1.0.0.crate"),
            "{v:#}"
        );
        let error = rejected[0]["error"].as_str().unwrap();
        assert!(
            error.contains("holds foo v2.0.0, but an index line names this file as the .crate of another version"),
            "{error}"
        );
        assert_eq!(v["missing_crates"], serde_json::json!([]), "{v:#}");
        assert_tree_eq(&before, &tree(&reg.root), "a refused reindex");
    }
}

#[test]
fn reindex_keeps_a_mirror_s_upstream_lines_whose_cksum_matches() {
    // Issue 18; on main bc3f5a2 reindex put its own derivation in place of
    // upstream's line.
    let mirror = TestRegistry::mirror();
    let plain = TestRegistry::new();
    let krate = CrateBuilder::new("foo", "1.0.0");
    for reg in [&mirror, &plain] {
        reg.publish(&krate);
        // A line as another registry wrote it: a feature and a field no
        // derivation from the .crate gives.
        let line: Value = serde_json::from_str(reg.index_text("foo").trim()).unwrap();
        let mut line = line.as_object().unwrap().clone();
        line.insert("features".into(), serde_json::json!({"extra": []}));
        line.insert("zzz".into(), serde_json::json!(1));
        fs::write(reg.index_file("foo"), format!("{}\n", Value::Object(line))).unwrap();
    }
    let upstream_line = mirror.index_text("foo");
    let out = mirror.ok(&[&"--format", &"json", &"reindex"]);
    assert_eq!(json(&out)["index_files_written"], serde_json::json!([]));
    assert_eq!(
        mirror.index_text("foo"),
        upstream_line,
        "kept byte for byte"
    );
    mirror.assert_verify_clean();
    // A registry that is not a mirror derives its lines from the .crate
    // (keeping unknown fields).
    plain.ok(&[&"reindex"]);
    let line: Value = serde_json::from_str(plain.index_text("foo").trim()).unwrap();
    assert_eq!(line["features"], serde_json::json!({}));
    assert_eq!(line["zzz"], 1);
    // A mirror's line whose .crate changed is still a problem.
    fs::write(
        mirror.crate_file("foo", "1.0.0"),
        CrateBuilder::new("foo", "1.0.0")
            .file("src/lib.rs", "// other\n")
            .build(),
    )
    .unwrap();
    let out = mirror.run(&[&"reindex"]);
    assert_exit_code(&out, 1, "reindex of a mirror whose .crate changed");
    assert!(
        stderr(&out).contains("the file was damaged or replaced"),
        "{}",
        stderr(&out)
    );
    assert_eq!(mirror.index_text("foo"), upstream_line);
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

#[test]
fn verify_of_a_clean_registry_exits_0() {
    let reg = TestRegistry::with_foo_and_bar();
    reg.ok(&[&"yank", &"foo@1.0.0"]);
    reg.assert_verify_clean();
    let out = reg.verify(&["--deep"]);
    assert_success(&out, "regtool verify --deep");
    assert_eq!(stdout(&out), "");
}

#[test]
fn verify_reports_an_edited_cksum() {
    let reg = TestRegistry::with_foo_and_bar();
    let text = reg.index_text("foo");
    let real = read_index_lines(&reg.root, "foo")[1]["cksum"]
        .as_str()
        .unwrap()
        .to_owned();
    let fake = "0".repeat(64);
    fs::write(reg.index_file("foo"), text.replacen(&real, &fake, 1)).unwrap();
    let out = reg.verify(&[]);
    assert_problem(&out, "cksum-mismatch", &reg.crate_file("foo", "1.1.0"));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", describe_output(&out));
    assert!(stdout(&out).contains(&fake));
}

#[test]
fn verify_reports_an_edited_crate_file() {
    let reg = TestRegistry::with_foo_and_bar();
    let file = reg.crate_file("bar", "0.1.0");
    let mut bytes = fs::read(&file).unwrap();
    bytes.push(0);
    fs::write(&file, bytes).unwrap();
    let out = reg.verify(&[]);
    assert_problem(&out, "cksum-mismatch", &file);
}

#[test]
fn verify_reports_a_deleted_crate_file() {
    let reg = TestRegistry::with_foo_and_bar();
    let file = reg.crate_file("foo", "2.0.0");
    fs::remove_file(&file).unwrap();
    let out = reg.verify(&[]);
    assert_problem(&out, "missing-crate", &reg.index_file("foo"));
    assert!(
        stdout(&out).contains(&file.display().to_string()),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn verify_reports_an_orphan_crate_file() {
    let reg = TestRegistry::with_foo_and_bar();
    let extra = reg.crate_file("foo", "9.0.0");
    fs::write(&extra, CrateBuilder::new("foo", "9.0.0").build()).unwrap();
    let out = reg.verify(&[]);
    assert_problem(&out, "orphan-crate", &extra);
}

#[test]
fn verify_reports_an_index_file_at_the_wrong_path() {
    let reg = TestRegistry::with_foo_and_bar();
    let wrong = reg.root.join("3/x/foo");
    fs::create_dir_all(wrong.parent().unwrap()).unwrap();
    fs::rename(reg.index_file("foo"), &wrong).unwrap();
    let out = reg.verify(&[]);
    assert_problem(&out, "wrong-path", &wrong);
    assert!(
        stdout(&out).contains("`3/f/foo`"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn verify_reports_a_duplicate_version_line() {
    let reg = TestRegistry::with_foo_and_bar();
    let text = reg.index_text("foo");
    let first = text.split_inclusive('\n').next().unwrap().to_owned();
    fs::write(reg.index_file("foo"), format!("{text}{first}")).unwrap();
    let out = reg.verify(&[]);
    assert_problem(&out, "duplicate-version", &reg.index_file("foo"));
}

#[test]
fn verify_reports_a_truncated_index_file() {
    let reg = TestRegistry::with_foo_and_bar();
    let text = reg.index_text("foo");
    let last_start = text.trim_end_matches('\n').rfind('\n').unwrap() + 1;
    let cut = last_start + (text.len() - last_start) / 2;
    fs::write(reg.index_file("foo"), &text.as_bytes()[..cut]).unwrap();
    let out = reg.verify(&[]);
    assert_problem(&out, "truncated", &reg.index_file("foo"));
    assert_problem(&out, "index-line", &reg.index_file("foo"));
}

#[test]
fn verify_deep_reports_an_edited_features_field() {
    let reg = TestRegistry::new();
    reg.publish(
        &CrateBuilder::new("feat", "1.0.0")
            .manifest_extra("[features]\ndefault = [\"std\"]\nstd = []\n"),
    );
    let text = reg.index_text("feat");
    assert!(
        text.contains("\"features\":{\"default\":[\"std\"],\"std\":[]}"),
        "{text}"
    );
    fs::write(
        reg.index_file("feat"),
        text.replace(
            "\"features\":{\"default\":[\"std\"],\"std\":[]}",
            "\"features\":{\"default\":[],\"std\":[]}",
        ),
    )
    .unwrap();
    // The checksum still matches: only --deep can see it. The catalogue
    // page (a build with it) shows the features, so it no longer describes
    // the index file.
    if cfg!(feature = "html") {
        let out = reg.verify(&[]);
        let page = reg.root.join("catalogue/crates/feat.html");
        assert_problem(&out, "catalogue", &page);
        assert_eq!(stdout(&out).lines().count(), 1, "{}", describe_output(&out));
    } else {
        reg.assert_verify_clean();
    }
    let out = reg.verify(&["--deep"]);
    assert_problem(&out, "differs", &reg.index_file("feat"));
    assert!(
        stdout(&out).contains("features"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn verify_json_lists_problems_with_kind_and_path() {
    let reg = TestRegistry::with_foo_and_bar();
    fs::remove_file(reg.crate_file("foo", "1.0.0")).unwrap();
    let orphan = reg.crate_file("bar", "0.2.0");
    fs::write(&orphan, CrateBuilder::new("bar", "0.2.0").build()).unwrap();
    let out = run_at_epoch(&[
        "--format".into(),
        "json".into(),
        "verify".into(),
        reg.root.clone().into(),
    ]);
    assert_exit_code(&out, 1, "regtool --format json verify");
    let v = json(&out);
    let problems = v["problems"].as_array().expect("problems array");
    let mut found: Vec<(String, String)> = problems
        .iter()
        .map(|p| {
            assert!(p["message"].is_string(), "{p}");
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut want = vec![
        (
            "missing-crate".to_owned(),
            reg.index_file("foo").display().to_string(),
        ),
        ("orphan-crate".to_owned(), orphan.display().to_string()),
    ];
    want.sort();
    assert_eq!(found, want, "{v:#}");
    assert_eq!(v["index_files"], 2);
    assert_eq!(v["versions"], 4);
    assert_eq!(v["deep"], false);

    // A clean registry: an empty list.
    let reg = TestRegistry::with_foo_and_bar();
    let out = run_at_epoch(&[
        "--format".into(),
        "json".into(),
        "verify".into(),
        reg.root.clone().into(),
    ]);
    assert_success(&out, "regtool --format json verify (clean)");
    assert_eq!(json(&out)["problems"], Value::Array(vec![]));
}

// ---------------------------------------------------------------------------
// list and info
// ---------------------------------------------------------------------------

/// A small registry: `alpha` (three versions, one yanked), `Beta-Tools`
/// (with dependencies, features, links and rust-version).
fn small_registry() -> TestRegistry {
    let reg = TestRegistry::new();
    for v in ["0.1.0", "0.2.0", "0.3.0"] {
        reg.publish(&CrateBuilder::new("alpha", v).file("src/lib.rs", format!("// alpha {v}\n")));
    }
    reg.ok(&[&"yank", &"alpha@0.3.0"]);
    let manifest = "[package]\nedition = \"2021\"\nrust-version = \"1.70\"\nname = \"Beta-Tools\"\nversion = \"1.2.3\"\nlinks = \"beta\"\n\n[lib]\npath = \"src/lib.rs\"\n\n[dependencies.alpha]\nversion = \"0.2\"\nregistry-index = \"sparse+https://crates.example.com/\"\n\n[dependencies.log]\nversion = \"0.4\"\noptional = true\n\n[dev-dependencies.tmp]\nversion = \"3\"\npackage = \"tempfile\"\n\n[target.'cfg(unix)'.build-dependencies.cc]\nversion = \"1\"\n\n[features]\ndefault = [\"std\"]\nstd = []\nlogging = [\"dep:log\"]\n";
    reg.publish(&CrateBuilder::new("Beta-Tools", "1.2.3").manifest(manifest));
    reg
}

#[test]
fn list_and_info_text_output() {
    let reg = small_registry();
    let list = reg.ok(&[&"list"]);
    insta::assert_snapshot!("list_text", stdout(&list));
    let info = reg.ok(&[&"info", &"alpha"]);
    insta::assert_snapshot!("info_alpha_text", stdout(&info));
    let info = reg.ok(&[&"info", &"Beta-Tools", &"1.2.3"]);
    insta::assert_snapshot!("info_beta_tools_1_2_3_text", stdout(&info));
}

#[test]
fn list_json() {
    let reg = small_registry();
    let v = json(&reg.ok(&[&"--format", &"json", &"list"]));
    assert_eq!(
        v,
        serde_json::json!([
            {"name": "alpha", "latest": "0.2.0", "versions": 3, "yanked": 1},
            {"name": "Beta-Tools", "latest": "1.2.3", "versions": 1, "yanked": 0},
        ])
    );
}

#[test]
fn info_json() {
    let reg = small_registry();
    let v = json(&reg.ok(&[&"--format", &"json", &"info", &"alpha"]));
    assert_eq!(v["name"], "alpha");
    assert_eq!(v["index_file"], "al/ph/alpha");
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3);
    for (i, vers) in ["0.1.0", "0.2.0", "0.3.0"].iter().enumerate() {
        let item = &versions[i];
        let bytes = fs::read(reg.crate_file("alpha", vers)).unwrap();
        assert_eq!(item["vers"], *vers);
        assert_eq!(item["yanked"], *vers == "0.3.0");
        assert_eq!(item["pubtime"], "2023-11-14T22:13:20Z");
        assert_eq!(item["cksum"], sha256_hex(&bytes).as_str());
        assert_eq!(item["size"], bytes.len() as u64);
        for key in ["rust_version", "links", "deps", "features"] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
    }

    let v = json(&reg.ok(&[&"--format", &"json", &"info", &"Beta-Tools", &"1.2.3"]));
    assert_eq!(v["name"], "Beta-Tools");
    assert_eq!(v["index_file"], "be/ta/beta-tools");
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    let item = &versions[0];
    assert_eq!(item["vers"], "1.2.3");
    assert_eq!(item["rust_version"], "1.70");
    assert_eq!(item["links"], "beta");
    let deps: Vec<(&str, &str)> = item["deps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        deps,
        [
            ("alpha", "normal"),
            ("cc", "build"),
            ("log", "normal"),
            ("tmp", "dev")
        ]
    );
    // features and features2 merged
    assert_eq!(
        item["features"],
        serde_json::json!({"default": ["std"], "logging": ["dep:log"], "std": []})
    );
}

#[test]
fn info_of_unknown_crate_or_version_exits_1() {
    let reg = small_registry();
    let out = reg.run(&[&"info", &"alpah"]);
    assert_exit_code(&out, 1, "regtool info alpah");
    assert!(
        stderr(&out).contains("did you mean `alpha`"),
        "{}",
        describe_output(&out)
    );
    let out = reg.run(&[&"info", &"alpha", &"9.0.0"]);
    assert_exit_code(&out, 1, "regtool info alpha 9.0.0");
    assert!(
        stderr(&out).contains("0.1.0, 0.2.0, 0.3.0"),
        "{}",
        describe_output(&out)
    );
}

// ---------------------------------------------------------------------------
// settings
// ---------------------------------------------------------------------------

#[test]
fn settings_moves_the_registry_to_a_new_url_and_keeps_the_old_one_as_an_alias() {
    let reg = TestRegistry::new();
    let out = reg.ok(&[&"--format", &"json", &"settings"]);
    let before = json(&out);
    assert_eq!(before["url"], URL);
    assert_eq!(before["changed"], false);

    let new_url = "https://crates.new-host.example";
    let out = reg.ok(&[
        &"--format",
        &"json",
        &"settings",
        &"--url",
        &format!("{new_url}/"),
    ]);
    let after = json(&out);
    assert_eq!(after["url"], new_url);
    assert_eq!(after["index"], format!("sparse+{new_url}/"));
    assert_eq!(after["aliases"], serde_json::json!([URL]));
    assert_eq!(after["changed"], true);
    let config: Value =
        serde_json::from_str(&fs::read_to_string(reg.root.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["dl"],
        format!("{new_url}/crates/{{crate}}/{{crate}}-{{version}}.crate")
    );

    // Crates packaged against either URL depend on this registry.
    reg.publish(&CrateBuilder::new("base", "1.0.0"));
    for (name, url) in [("old-app", URL), ("new-app", new_url)] {
        reg.publish(&CrateBuilder::new(name, "1.0.0").manifest_extra(&format!(
            "[dependencies.base]\nversion = \"1\"\nregistry-index = \"sparse+{url}/\"\n"
        )));
        let line = &read_index_lines(&reg.root, name)[0];
        assert!(line["deps"][0].get("registry").is_none(), "{name}: {line}");
    }
    reg.assert_verify_clean();
}

#[test]
fn settings_changes_size_limits_and_auth_required() {
    let reg = TestRegistry::new();
    reg.ok(&[
        &"settings",
        &"--max-crate-size",
        &"1KiB",
        &"--auth-required",
        &"true",
    ]);
    let config: Value =
        serde_json::from_str(&fs::read_to_string(reg.root.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["auth-required"], true);
    // Hex digests: about 4 bits of entropy a byte, so the .crate stays over 1 KiB.
    let noise: String = (0..100)
        .map(|i: u32| sha256_hex(&i.to_le_bytes()))
        .collect();
    let big =
        reg.krate(&CrateBuilder::new("big", "1.0.0").file("src/lib.rs", format!("// {noise}\n")));
    let out = reg.add(&[&big]);
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    assert!(
        stderr(&out).contains("over the limit of 1024 bytes"),
        "{}",
        stderr(&out)
    );
    // An unchanged run says so and writes nothing.
    let before = tree(&reg.root);
    let again = json(&reg.ok(&[
        &"--format",
        &"json",
        &"settings",
        &"--max-crate-size",
        &"1KiB",
    ]));
    assert_eq!(again["changed"], false);
    assert_tree_eq(&before, &tree(&reg.root), "settings without a change");
}

#[test]
fn yank_of_an_empty_or_invalid_name_is_not_found_without_a_panic() {
    let reg = TestRegistry::with_foo_and_bar();
    for spec in ["@1.0.0", "../x@1.0.0", "fo o@1.0.0"] {
        let out = reg.run(&[&"yank", &spec]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{spec}: {}",
            describe_output(&out)
        );
        assert!(
            stderr(&out).contains("is not in the registry"),
            "{spec}: {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "{spec}: {}",
            stderr(&out)
        );
    }
}
