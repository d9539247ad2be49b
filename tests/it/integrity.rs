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
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    CrateBuilder::new(name, vers).file("src/blob.bin", noise)
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

#[test]
fn two_spellings_of_one_crate_in_crates_are_refused_by_reindex_and_reported_by_verify() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    // `crates/Foo/` beside `crates/foo/`, put there by hand.
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
    let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("note: no /dev/shm; skipped");
        return;
    };
    if fs::metadata(other.path()).unwrap().dev() == fs::metadata(&reg.root).unwrap().dev() {
        eprintln!("note: /dev/shm is on the registry's file system; skipped");
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
