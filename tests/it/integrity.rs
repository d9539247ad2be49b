//! Integrity: no command loses, launders or misplaces data. One test per way it
//! once did (issue "Integrity: one door to the registry"), each named after
//! what broke.

use crate::common;

use common::*;
use std::fs;
use std::path::Path;

/// The `(vers, yanked, cksum)` of each line of `name`'s index file.
fn lines(root: &Path, name: &str) -> Vec<(String, bool, String)> {
    read_index_lines(root, name)
        .iter()
        .map(|l| {
            (
                l["vers"].as_str().unwrap().to_owned(),
                l["yanked"].as_bool().unwrap(),
                l["cksum"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Flips one byte in the middle of a file, keeping its size.
fn damage(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x55;
    fs::write(path, bytes).unwrap();
}

// ---------------------------------------------------------------------------
// 1. Name spellings
// ---------------------------------------------------------------------------

#[test]
fn yank_with_another_spelling_yanks_the_stored_line_and_writes_no_new_file() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo-bar", "1.0.0"));
    let files_before = index_files(&reg.root);
    let out = reg.ok(&[&"yank", &"Foo_Bar@1.0.0"]);
    assert!(
        stderr(&out).contains("Yank foo-bar@1.0.0"),
        "{}",
        describe_output(&out)
    );
    assert!(lines(&reg.root, "foo-bar")[0].1, "the real line is yanked");
    assert_eq!(
        index_files(&reg.root),
        files_before,
        "no index file appeared"
    );
    reg.ok(&[&"yank", &"--undo", &"foo_bar@1.0.0"]);
    assert!(!lines(&reg.root, "foo-bar")[0].1);
    assert_eq!(index_files(&reg.root), files_before);
    reg.assert_verify_clean();
}

#[test]
fn remove_with_another_spelling_removes_line_and_crate_together() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo-bar", "1.0.0"));
    reg.publish(&CrateBuilder::new("foo-bar", "1.1.0"));
    reg.ok(&[&"remove", &"FOO_BAR@1.0.0"]);
    assert_eq!(lines(&reg.root, "foo-bar").len(), 1);
    assert!(!reg.crate_file("foo-bar", "1.0.0").exists());
    reg.assert_verify_clean();
}

// ---------------------------------------------------------------------------
// 2. reindex rewrites nothing it cannot justify
// ---------------------------------------------------------------------------

/// A crate of about `size` bytes that does not compress (random-looking bytes).
fn big_crate(name: &str, vers: &str, size: usize) -> CrateBuilder {
    CrateBuilder::new(name, vers).file("src/blob.bin", noise(size))
}

#[test]
fn reindex_prune_keeps_a_crate_added_under_a_raised_limit() {
    let reg = TestRegistry::init(&["--max-crate-size", "2KiB"]);
    let p = reg.krate(&big_crate("big", "1.0.0", 8 * 1024));
    reg.ok(&[&"add", &"--max-crate-size", &"1MiB", &p]);
    reg.ok(&[&"yank", &"big@1.0.0"]);
    let before = tree(&reg.root);
    let out = reg.ok(&[&"reindex", &"--prune"]);
    assert_tree_eq(
        &before,
        &tree(&reg.root),
        &format!("reindex --prune\n{}", describe_output(&out)),
    );
    // verify --deep reads it with the limit it was accepted under.
    let out = reg.verify(&["--deep"]);
    assert_success(&out, "verify --deep");
}

#[test]
fn reindex_refuses_to_launder_a_replaced_crate_and_accept_changed_names_it() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let original = lines(&reg.root, "foo")[0].2.clone();
    // Other valid bytes for the same version.
    let other = CrateBuilder::new("foo", "1.0.0").file("src/extra.rs", "// other");
    fs::write(reg.crate_file("foo", "1.0.0"), other.build()).unwrap();
    let before = tree(&reg.root);
    let out = reg.run(&[&"reindex"]);
    assert_exit_code(&out, 1, "reindex over a replaced .crate");
    assert!(
        stderr(&out).contains("damaged or replaced"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a refused reindex");
    let out = reg.run(&[&"reindex", &"--prune"]);
    assert_exit_code(&out, 1, "reindex --prune over a replaced .crate");
    assert_tree_eq(&before, &tree(&reg.root), "a refused reindex --prune");
    // The tampering stays visible.
    assert_exit_code(&reg.verify(&["--deep"]), 1, "verify --deep");
    // Only on request, and named.
    let out = reg.ok(&[&"--format", &"json", &"reindex", &"--accept-changed"]);
    assert_eq!(
        json(&out)["changed_cksums"][0],
        "foo@1.0.0",
        "{}",
        describe_output(&out)
    );
    assert_ne!(lines(&reg.root, "foo")[0].2, original);
    reg.assert_verify_clean();
}

#[test]
fn reindex_refuses_a_damaged_crate_and_add_of_the_original_restores_it() {
    let reg = TestRegistry::new();
    let p = reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    damage(&reg.crate_file("foo", "1.0.0"));
    let before = tree(&reg.root);
    assert_exit_code(&reg.run(&[&"reindex", &"--prune"]), 1, "reindex --prune");
    assert_tree_eq(&before, &tree(&reg.root), "a refused reindex");
    // Re-adding the same bytes compares bytes, not sizes.
    let out = reg.ok(&[&"add", &p]);
    assert!(
        stderr(&out).contains("Restored"),
        "{}",
        describe_output(&out)
    );
    assert_eq!(
        fs::read(reg.crate_file("foo", "1.0.0")).unwrap(),
        fs::read(&p).unwrap()
    );
    reg.assert_verify_clean();
}

#[cfg(unix)]
#[test]
fn symlinked_crate_folder_is_followed_by_every_command() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let elsewhere = reg.temp_dir().join("elsewhere-foo");
    fs::rename(reg.root.join("crates/foo"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, reg.root.join("crates/foo")).unwrap();
    let before = tree(&reg.root);
    reg.ok(&[&"reindex", &"--prune"]);
    assert_tree_eq(
        &before,
        &tree(&reg.root),
        "reindex --prune with a linked folder",
    );
    reg.assert_verify_clean();
}

#[test]
fn reindex_never_touches_files_that_are_not_index_files() {
    let reg = TestRegistry::seeded();
    fs::write(reg.root.join("healthz"), "").unwrap();
    fs::write(reg.root.join("robots.txt"), "User-agent: *\nDisallow: /\n").unwrap();
    fs::write(reg.root.join("index.html"), "<h1>crates</h1>").unwrap();
    fs::create_dir_all(reg.root.join("docs")).unwrap();
    fs::write(reg.root.join("docs/notes.txt"), "hello").unwrap();
    let before = tree(&reg.root);
    reg.ok(&[&"reindex", &"--prune"]);
    reg.ok(&[&"reindex"]);
    assert_tree_eq(&before, &tree(&reg.root), "reindex with foreign files");
    reg.assert_verify_clean();
    let out = reg.ok(&[&"list"]);
    assert!(stdout(&out).contains("seed"), "{}", describe_output(&out));
}

/// Nothing decides the spelling: no index file (a `crates/` folder copied
/// in to migrate). Beside an index file, the other spelling is an orphan
/// that reindex leaves out (`interleavings.rs`, `model.rs`).
#[test]
fn two_spellings_of_one_crate_in_crates_are_refused_by_reindex_and_reported_by_verify() {
    let reg = TestRegistry::new();
    // `crates/Foo/` beside `crates/foo/`, put there by hand, no index file.
    CrateBuilder::new("foo", "1.0.0").write_to(&reg.root.join("crates/foo"));
    CrateBuilder::new("Foo", "2.0.0").write_to(&reg.root.join("crates/Foo"));
    let before = tree(&reg.root);
    let out = reg.run(&[&"reindex"]);
    assert_exit_code(&out, 1, "reindex over two spellings");
    assert!(
        stderr(&out).contains("several names"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "refused reindex");
    let out = reg.verify(&[]);
    assert_exit_code(&out, 1, "verify");
    assert!(
        stdout(&out).contains("name-conflict"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn index_files_for_a_b_and_a_underscore_b_are_refused_by_reindex_and_reported_by_verify() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("a-b", "1.0.0"));
    // Another registry's files for `a_b` copied in by hand.
    let other = TestRegistry::new();
    other.publish(&CrateBuilder::new("a_b", "2.0.0"));
    fs::create_dir_all(reg.index_file("a_b").parent().unwrap()).unwrap();
    fs::copy(other.index_file("a_b"), reg.index_file("a_b")).unwrap();
    let before = tree(&reg.root);
    assert_exit_code(&reg.run(&[&"reindex"]), 1, "reindex over a-b and a_b");
    assert_tree_eq(&before, &tree(&reg.root), "refused reindex");
    let out = reg.verify(&[]);
    assert!(
        stdout(&out).contains("name-conflict"),
        "{}",
        describe_output(&out)
    );
}

// ---------------------------------------------------------------------------
// 3. Archives: what cargo unpacks is what the index line describes
// ---------------------------------------------------------------------------

/// `add` of `input` is refused (exit 1) with one error naming the file and
/// saying `phrase`, and the registry is left exactly as it was.
#[track_caller]
fn refused(reg: &TestRegistry, input: &Path, phrase: &str) -> String {
    let before = tree(&reg.root);
    let out = reg.add(&[input]);
    assert_exit_code(&out, 1, "add");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("`{}`", input.display())) && err.contains(phrase),
        "the error should name the file and say {phrase:?}\n{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a refused add");
    err
}

#[test]
fn a_second_gzip_member_is_refused_as_cargo_would_read_only_the_first() {
    let reg = TestRegistry::seeded();
    // `tar` and Python read on into the second member; cargo stops after the
    // first, so the two would unpack different files.
    let mut bytes = CrateBuilder::new("foo", "1.0.0").build();
    bytes.extend(gzip(
        &RawTarBuilder::new()
            .file("foo-1.0.0/src/extra.rs", "pub fn hidden() {}\n")
            .build_tar(),
    ));
    let input = reg.input("foo-1.0.0.crate", &bytes);
    refused(&reg, &input, "data after the end of the gzip stream");
    // Anything at all after the member: a few stray bytes too.
    let mut bytes = CrateBuilder::new("foo", "1.0.0").build();
    bytes.extend_from_slice(b"\0\0\0\0");
    let input = reg.input("foo-1.0.0.crate", &bytes);
    refused(&reg, &input, "data after the end of the gzip stream");
}

#[test]
fn real_crates_io_crates_end_with_their_gzip_member_and_still_add() {
    let reg = TestRegistry::new();
    reg.add_ok(&[&fixtures()]);
    reg.assert_verify_clean();
    let out = reg.verify(&["--deep"]);
    assert_success(&out, "verify --deep of crates.io's own .crate files");
}

#[test]
fn a_file_at_the_archive_root_is_refused() {
    let reg = TestRegistry::seeded();
    // A regular file named like the top folder: cargo cannot unpack beneath it.
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0", "not a folder\n")
        .file("foo-1.0.0/Cargo.toml", default_manifest("foo", "1.0.0"))
        .file("foo-1.0.0/src/lib.rs", "")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let err = refused(
        &reg,
        &input,
        "archive entry `foo-1.0.0` is a file at the archive's root",
    );
    assert!(err.contains("`{name}-{version}/`"), "{err}");
    // Any other name, before or after the folder.
    for (first, last) in [(true, false), (false, true)] {
        let mut b = RawTarBuilder::new();
        if first {
            b = b.file("README.md", "hi\n");
        }
        b = b
            .file("foo-1.0.0/Cargo.toml", default_manifest("foo", "1.0.0"))
            .file("foo-1.0.0/src/lib.rs", "");
        if last {
            b = b.file("README.md", "hi\n");
        }
        let input = reg.input("foo-1.0.0.crate", &b.build());
        refused(
            &reg,
            &input,
            "archive entry `README.md` is a file at the archive's root",
        );
    }
}

#[test]
fn a_cargo_toml_at_the_archive_root_is_refused_naming_the_one_folder_rule() {
    let reg = TestRegistry::seeded();
    let bytes = RawTarBuilder::new()
        .file("Cargo.toml", default_manifest("foo", "1.0.0"))
        .file("src/lib.rs", "")
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    let err = refused(
        &reg,
        &input,
        "archive entry `Cargo.toml` is a file at the archive's root; everything in a .crate sits under one folder `{name}-{version}/`",
    );
    assert!(!err.contains("Cargo.toml/"), "{err}");
}

/// cargo of 2015 packaged `Cargo.toml` twice, byte for byte (crates.io still
/// serves such crates): both copies unpack to the same file.
#[test]
fn identical_copies_of_cargo_toml_are_accepted() {
    let reg = TestRegistry::new();
    let manifest = default_manifest("old", "0.1.0");
    let bytes = RawTarBuilder::new()
        .file("old-0.1.0/Cargo.toml", &manifest)
        .file("old-0.1.0/src/lib.rs", "")
        .file("old-0.1.0/Cargo.toml", &manifest)
        .build();
    let input = reg.input("old-0.1.0.crate", &bytes);
    reg.add_ok(&[&input]);
    assert_eq!(
        lines(&reg.root, "old"),
        [("0.1.0".to_owned(), false, sha256_hex(&bytes))]
    );
    let out = reg.verify(&["--deep"]);
    assert_success(&out, "verify --deep");
}

#[test]
fn differing_copies_of_cargo_toml_are_refused_and_said_to_differ() {
    let reg = TestRegistry::seeded();
    let manifest = default_manifest("foo", "1.0.0");
    let evil = format!("{manifest}\n[dependencies.evil]\nversion = \"1\"\n");
    let bytes = RawTarBuilder::new()
        .file("foo-1.0.0/Cargo.toml", &manifest)
        .file("foo-1.0.0/src/lib.rs", "")
        .file("foo-1.0.0/Cargo.toml", evil)
        .build();
    let input = reg.input("foo-1.0.0.crate", &bytes);
    refused(
        &reg,
        &input,
        "the archive holds `foo-1.0.0/Cargo.toml` twice and the copies differ",
    );
}

// ---------------------------------------------------------------------------
// 4. No panic on a same-registry dependency whose name is not ASCII
// ---------------------------------------------------------------------------

#[test]
fn non_ascii_same_registry_dependency_is_unsatisfied_not_a_panic() {
    let reg = TestRegistry::new();
    let krate = CrateBuilder::new("app", "1.0.0").manifest_extra(&format!(
        "[dependencies.\"éa\"]\nversion = \"1\"\nregistry-index = \"sparse+{URL}/\"\n"
    ));
    let p = reg.krate(&krate);
    let out = reg.add(&[&p]);
    assert_success(&out, "add");
    assert!(
        stderr(&out).contains("warning"),
        "{}",
        describe_output(&out)
    );
    let out = reg.run(&[&"add", &"--strict", &p]);
    // Already there: a rerun is a no-op, and no panic either way.
    assert_ne!(out.status.code(), Some(101), "{}", describe_output(&out));
}

// ---------------------------------------------------------------------------
// 5. Inputs and times
// ---------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn add_of_a_folder_follows_symlinked_crate_files() {
    let reg = TestRegistry::new();
    let real = CrateBuilder::new("linked", "1.0.0").write_to(&reg.temp_dir().join("real"));
    let dir = reg.inputs().join("dist");
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("linked-1.0.0.crate")).unwrap();
    reg.add_ok(&[&dir]);
    assert_eq!(lines(&reg.root, "linked").len(), 1);
}

#[test]
fn re_add_compares_bytes_not_sizes() {
    let reg = TestRegistry::new();
    let p = reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let stored = reg.crate_file("foo", "1.0.0");
    let original = fs::read(&p).unwrap();
    damage(&stored);
    assert_eq!(fs::metadata(&stored).unwrap().len(), original.len() as u64);
    // Other bytes for the version are refused, even with the stored copy damaged.
    let other = reg.input(
        "other/foo-1.0.0.crate",
        &CrateBuilder::new("foo", "1.0.0")
            .file("src/lib.rs", "// other")
            .build(),
    );
    let before = tree(&reg.root);
    let out = reg.add(&[&other]);
    assert_exit_code(&out, 1, "add of other bytes");
    assert!(
        stderr(&out).contains("already in the registry with a different checksum"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a refused add");
    // The original bytes (the line's cksum) restore the damaged file.
    let out = reg.ok(&[&"add", &p]);
    assert!(
        stderr(&out).contains("Restored foo v1.0.0") && !stderr(&out).contains("already present"),
        "{}",
        describe_output(&out)
    );
    assert_eq!(fs::read(&stored).unwrap(), original);
    // Now intact: a third add is a no-op.
    let before = tree(&reg.root);
    let out = reg.ok(&[&"add", &p]);
    assert!(
        stderr(&out).contains("Skipped foo v1.0.0 (already present)"),
        "{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a second add of the same bytes");
    reg.assert_verify_clean();
}

/// The link's name is what counts (its target need not end in `.crate`); a
/// dangling link is an error, never skipped; linked folders are searched.
#[cfg(unix)]
#[test]
fn add_of_a_folder_takes_every_crate_link_and_reports_a_dangling_one() {
    use std::os::unix::fs::symlink;
    let reg = TestRegistry::new();
    let store = reg.temp_dir().join("blobs");
    fs::create_dir_all(&store).unwrap();
    fs::write(
        store.join("blob-a"),
        CrateBuilder::new("a", "1.0.0").build(),
    )
    .unwrap();
    let sub = CrateBuilder::new("b", "1.0.0").write_to(&reg.temp_dir().join("sub"));
    let dir = reg.inputs().join("dist");
    fs::create_dir_all(&dir).unwrap();
    symlink(store.join("blob-a"), dir.join("a-1.0.0.crate")).unwrap();
    symlink(sub.parent().unwrap(), dir.join("more")).unwrap();
    symlink(store.join("missing"), dir.join("gone-1.0.0.crate")).unwrap();
    let before = tree(&reg.root);
    let out = reg.add(&[&dir]);
    assert_ne!(out.status.code(), Some(0), "{}", describe_output(&out));
    assert!(
        stderr(&out).contains("gone-1.0.0.crate"),
        "the dangling link is named\n{}",
        describe_output(&out)
    );
    assert_tree_eq(&before, &tree(&reg.root), "a refused add");
    fs::remove_file(dir.join("gone-1.0.0.crate")).unwrap();
    let out = reg.add_ok(&[&dir]);
    assert!(
        stderr(&out).contains("Adding a v1.0.0") && stderr(&out).contains("Adding b v1.0.0"),
        "{}",
        describe_output(&out)
    );
    reg.assert_verify_clean();
}

#[test]
fn verify_deep_names_each_path_once_and_reads_stored_crates_without_input_limits() {
    let reg = TestRegistry::init(&["--max-crate-size", "2KiB"]);
    let big = reg.krate(&big_crate("big", "1.0.0", 8 * 1024));
    reg.ok(&[&"add", &"--max-crate-size", &"1MiB", &big]);
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    reg.publish(&CrateBuilder::new("junk", "1.0.0"));
    // foo's line promises a feature its .crate does not have.
    let text = reg
        .index_text("foo")
        .replace(r#""features":{}"#, r#""features":{"x":[]}"#);
    fs::write(reg.index_file("foo"), text).unwrap();
    fs::write(reg.crate_file("junk", "1.0.0"), "not a crate").unwrap();
    let out = reg.verify(&["--deep"]);
    assert_exit_code(&out, 1, "verify --deep");
    let root = reg.root.display().to_string();
    let shown = stdout(&out).replace(&root, "REG");
    // The catalogue's page (a build with it) shows the edited features.
    let page = if cfg!(feature = "html") {
        "catalogue: `REG/catalogue/crates/foo.html`: the page of `foo` does not show its index file as it is; `regtool reindex` writes the catalogue again\n"
    } else {
        ""
    };
    assert_eq!(
        shown,
        format!(
            "differs: `REG/3/f/foo`: foo v1.0.0: fields differ from what its .crate gives: features\n\
             {page}\
             crate-unreadable: `REG/crates/junk/junk-1.0.0.crate`: not a gzip file (a .crate is a gzip-compressed tar archive)\n"
        ),
        "{}",
        describe_output(&out)
    );
    let problems =
        json(&reg.run(&[&"--format", &"json", &"verify", &"--deep"]))["problems"].clone();
    for p in problems.as_array().unwrap() {
        let message = p["message"].as_str().unwrap();
        assert!(!message.contains(&root), "the path is in `path` only: {p}");
    }
}

#[test]
fn workspace_inheritance_of_name_or_version_says_the_manifest_is_not_normalized() {
    let reg = TestRegistry::seeded();
    let name_inherited = CrateBuilder::new("foo", "1.0.0")
        .manifest("[package]\nname.workspace = true\nversion = \"1.0.0\"\n");
    let input = reg.krate(&name_inherited);
    let err = refused(
        &reg,
        &input,
        "`package.name` inherits from a workspace; the manifest is not normalized",
    );
    assert!(!err.contains("invalid type"), "{err}");
    let version_inherited = CrateBuilder::new("foo", "1.0.0")
        .manifest("[package]\nname = \"foo\"\nversion = { workspace = true }\n");
    let input = reg.krate(&version_inherited);
    refused(
        &reg,
        &input,
        "`package.version` inherits from a workspace; the manifest is not normalized",
    );
}

#[test]
fn bad_names_in_a_manifest_get_the_registry_rule_not_cargos_unicode_wording() {
    let reg = TestRegistry::seeded();
    for (name, rule) in [
        (
            "-ab",
            "invalid crate name `-ab`: the first character must be an ASCII letter, not `-`",
        ),
        (
            "1abc",
            "invalid crate name `1abc`: the first character must be an ASCII letter, not `1`",
        ),
        (
            "ab!",
            "invalid crate name `ab!`: `!` is not allowed (only ASCII letters, digits, `-` and `_`)",
        ),
    ] {
        let input = reg.krate(&CrateBuilder::new(name, "1.0.0"));
        let err = refused(&reg, &input, rule);
        assert!(!err.contains("XID"), "{err}");
    }
}

#[test]
fn bad_dependency_names_say_which_dependency_and_which_rule() {
    let reg = TestRegistry::seeded();
    for (extra, said) in [
        (
            "[dependencies.\"-x\"]\nversion = \"1\"\n",
            "invalid dependency name `-x` in `[dependencies]`",
        ),
        (
            "[dependencies.x]\nversion = \"1\"\npackage = \"1x\"\n",
            "invalid `package` name `1x` of dependency `x` in `[dependencies]`",
        ),
        (
            "[target.'cfg(unix)'.build-dependencies.\"a!\"]\nversion = \"1\"\n",
            "invalid dependency name `a!` in `[target.'cfg(unix)'.build-dependencies]`",
        ),
    ] {
        let input = reg.krate(&CrateBuilder::new("app", "1.0.0").manifest_extra(extra));
        refused(&reg, &input, said);
    }
}

/// crates.io serves crates past its 10 MB limit by exception (windows 0.34.0
/// is 14 MB): a mirror must take them.
#[test]
fn a_mirror_has_no_default_max_crate_size() {
    let reg = TestRegistry::mirror();
    let settings = json(&reg.ok(&[&"--format", &"json", &"settings"]));
    assert!(
        settings["max_crate_size"].as_u64().unwrap() > 1 << 60,
        "{settings}"
    );
    assert!(
        stdout(&reg.ok(&[&"settings"])).contains("max-crate-size:    no limit"),
        "the text says so"
    );
    // An 11 MiB .crate (stored, not compressed: quick to build).
    let tar = CrateBuilder::new("huge", "1.0.0")
        .file("data.bin", vec![0u8; 11 * 1024 * 1024])
        .build_tar();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    std::io::Write::write_all(&mut enc, &tar).unwrap();
    let bytes = enc.finish().unwrap();
    assert!(bytes.len() > 11 * 1024 * 1024);
    let input = reg.input("huge-1.0.0.crate", &bytes);
    reg.add_ok(&[&input]);
    // A registry that is not a mirror keeps crates.io's 10 MiB, and an explicit
    // limit on a mirror is kept.
    let plain = TestRegistry::new();
    let out = plain.add(&[&input]);
    assert_exit_code(&out, 1, "add of 11 MiB to a plain registry");
    let limited = TestRegistry::init(&["--mirror", "--max-crate-size", "10MiB"]);
    assert_exit_code(
        &limited.add(&[&input]),
        1,
        "add to a mirror limited to 10 MiB",
    );
}

#[test]
fn quick_rewrites_keep_index_mtimes_within_a_second_of_the_clock() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let path = reg.index_file("foo");
    let mut last = fs::metadata(&path).unwrap().modified().unwrap();
    for i in 0..6 {
        let args: Vec<&dyn AsRef<std::ffi::OsStr>> = if i % 2 == 0 {
            vec![&"yank", &"foo@1.0.0"]
        } else {
            vec![&"yank", &"--undo", &"foo@1.0.0"]
        };
        reg.ok(&args);
        let m = fs::metadata(&path).unwrap().modified().unwrap();
        let now = std::time::SystemTime::now();
        assert!(
            m <= now + std::time::Duration::from_secs(1),
            "rewrite {i}: mtime {m:?} is more than a second ahead of {now:?}"
        );
        let secs =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(
            secs(m) > secs(last),
            "rewrite {i}: the mtime's second must move on"
        );
        last = m;
    }
}

// ---------------------------------------------------------------------------
// 6. Found by the model test (tests/it/model.rs) and its neighbours
// ---------------------------------------------------------------------------

/// `crates/mirror` a link to `crates/foo`: one file under two keys. Reindex
/// took the second for a copy of the first and deleted it, which deleted the
/// only `.crate` of `foo 1.0.0` (its line then pointed at nothing).
#[cfg(unix)]
#[test]
fn reindex_keeps_a_crate_seen_twice_through_a_linked_folder() {
    let reg = TestRegistry::new();
    let p = reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    std::os::unix::fs::symlink("foo", reg.root.join("crates/mirror")).unwrap();
    let before = tree(&reg.root);
    let out = reg.ok(&[&"reindex", &"--prune"]);
    assert_tree_eq(
        &before,
        &tree(&reg.root),
        &format!(
            "reindex with a folder linked to another\n{}",
            describe_output(&out)
        ),
    );
    assert_eq!(
        fs::read(reg.crate_file("foo", "1.0.0")).unwrap(),
        fs::read(&p).unwrap(),
        "the .crate is still there"
    );
    assert_eq!(lines(&reg.root, "foo").len(), 1);
}

/// A `.crate` copied into the wrong folder is moved to where cargo downloads
/// it; its line's `pubtime` is the file's time, as for any `.crate` reindex
/// finds (it was "now": the time was read where the file was going to be).
#[test]
fn reindex_gives_a_moved_crate_its_file_time_as_pubtime() {
    let reg = TestRegistry::new();
    let p = CrateBuilder::new("foo", "1.0.0").write_to(&reg.root.join("crates/upload"));
    let jan_2020 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_577_836_800);
    fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(jan_2020)
        .unwrap();
    let out = reg.ok(&[&"reindex"]);
    assert!(!p.exists(), "moved\n{}", describe_output(&out));
    assert!(reg.crate_file("foo", "1.0.0").exists());
    let line = &read_index_lines(&reg.root, "foo")[0];
    assert_eq!(line["pubtime"], "2020-01-01T00:00:00Z", "{line}");
    reg.assert_verify_clean();
}

/// `crates/upload` a link to a folder on another file system (`/dev/shm`):
/// moving its `.crate` to `crates/foo/` failed with "Invalid cross-device
/// link" (exit 2), leaving an empty `crates/foo/` behind.
#[cfg(target_os = "linux")]
#[test]
fn reindex_moves_a_crate_out_of_a_linked_folder_on_another_file_system() {
    use std::os::unix::fs::MetadataExt;
    let reg = TestRegistry::new();
    let why = "it moves a .crate out of a folder on a second file system";
    let remedy = "CI machines (Debian) mount a tmpfs on /dev/shm";
    let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
        skip_or_fail("there is no /dev/shm", why, remedy);
        return;
    };
    if fs::metadata(other.path()).unwrap().dev() == fs::metadata(&reg.root).unwrap().dev() {
        skip_or_fail("/dev/shm is on the registry's file system", why, remedy);
        return;
    }
    let p = CrateBuilder::new("foo", "1.0.0").write_to(other.path());
    let bytes = fs::read(&p).unwrap();
    std::os::unix::fs::symlink(other.path(), reg.root.join("crates/upload")).unwrap();
    let out = reg.ok(&[&"reindex"]);
    assert!(!p.exists(), "moved\n{}", describe_output(&out));
    assert_eq!(fs::read(reg.crate_file("foo", "1.0.0")).unwrap(), bytes);
    assert_eq!(lines(&reg.root, "foo").len(), 1);
    reg.assert_verify_clean();
}

#[test]
fn reindex_accept_changed_does_not_swap_a_version_for_other_build_metadata() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.1.0"));
    fs::remove_file(reg.crate_file("foo", "1.1.0")).unwrap();
    let other = CrateBuilder::new("foo", "1.1.0+meta");
    fs::write(reg.crate_file("foo", "1.1.0+meta"), other.build()).unwrap();
    let before = tree(&reg.root);
    for args in [
        &[&"reindex" as &dyn AsRef<std::ffi::OsStr>][..],
        &[&"reindex", &"--accept-changed"],
    ] {
        let out = reg.run(args);
        assert_exit_code(&out, 1, "reindex with a .crate of other build metadata");
        assert!(
            stderr(&out).contains("differ only in build metadata"),
            "{}",
            describe_output(&out)
        );
        assert_tree_eq(
            &before,
            &tree(&reg.root),
            "a refused reindex writes nothing",
        );
    }
    assert_eq!(lines(&reg.root, "foo")[0].0, "1.1.0");
}
