//! regtool built without its optional parts (`cargo test --no-default-features`,
//! run once by `.ci/run`): a bucket without the `s3` feature and a catalogue
//! without the `html` feature are refused with one line naming the feature,
//! and nothing is written; `init` makes a registry without the catalogue and
//! says so; a registry whose catalogue is on (made by a full build) refuses
//! every change but `settings --html false` and token changes, and is
//! changed as usual once the catalogue is off. Each test exists only in a
//! build that lacks its feature (the default build tests the features).

use crate::common::*;
use std::path::Path;
#[cfg(not(feature = "html"))]
use std::{ffi::OsStr, fs};

/// `text` with `root` (the test's temp folder) written as `ROOT`.
fn redact(text: &str, root: &Path) -> String {
    text.replace(&root.display().to_string(), "ROOT")
}

#[cfg(not(feature = "s3"))]
#[test]
fn a_bucket_is_refused_naming_the_feature() {
    let dir = tempdir();
    let bucket = "s3://acme-crates/registry";
    for args in [
        vec!["init", bucket, "--url", URL],
        vec!["--registry", bucket, "list"],
        vec!["--registry", bucket, "verify"],
        vec!["--registry", bucket, "settings", "--html", "false"],
    ] {
        let mut cmd = regtool();
        cmd.current_dir(dir.path()).args(&args);
        let out = run_with_timeout(cmd, REGTOOL_TIMEOUT);
        let what = format!("regtool {}", args.join(" "));
        assert_exit_code(&out, 2, &what);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{what}: one line\n{err}");
        insta::assert_snapshot!("bucket_without_s3", redact(&err, dir.path()));
    }
    // Nothing was written where the commands ran (no folder named `s3:`).
    assert_tree_eq(&Tree::new(), &tree_all(dir.path()), "the working folder");
}

#[cfg(not(feature = "serve"))]
#[test]
fn serve_is_refused_naming_the_feature() {
    let reg = TestRegistry::new();
    let out = reg.run(&[&"serve", &"--listen", &"127.0.0.1:0"]);
    assert_exit_code(&out, 2, "regtool serve");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line\n{err}");
    assert!(
        err.contains("the `serve` feature") && err.contains("cargo's Web API"),
        "{err}"
    );
}

/// The settings file of the registry at `root`.
#[cfg(not(feature = "html"))]
fn settings_text(root: &Path) -> String {
    fs::read_to_string(root.join(".regtool/config.toml")).unwrap()
}

#[cfg(not(feature = "html"))]
#[test]
fn init_makes_the_catalogue_off_and_says_so() {
    let dir = tempdir();
    let root = dir.path().join("registry");
    let out = regtool_ok([
        "init".as_ref(),
        root.as_os_str(),
        "--url".as_ref(),
        URL.as_ref(),
    ]);
    // The warning comes first; the notes that follow are init's own
    // (tests/it/first_hour.rs).
    let err = stderr(&out);
    let warning = err.lines().next().unwrap_or_default();
    insta::assert_snapshot!("init_without_html", warning);
    assert!(settings_text(&root).contains("html = false"));
    for file in [
        "index.html",
        "feed.atom",
        "catalogue",
        ".regtool/catalogue.json",
    ] {
        assert!(!root.join(file).exists(), "{file}");
    }
    // Asked for no catalogue, there is nothing to say.
    let quiet = dir.path().join("quiet");
    let out = regtool_ok([
        "init".as_ref(),
        quiet.as_os_str(),
        "--url".as_ref(),
        URL.as_ref(),
        "--no-html".as_ref(),
    ]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[cfg(not(feature = "html"))]
#[test]
fn turning_the_catalogue_on_is_refused() {
    let reg = TestRegistry::seeded();
    let before = tree_all(&reg.root);
    let out = reg.run(&[&"settings", &"--html", &"true"]);
    assert_exit_code(&out, 2, "settings --html true");
    insta::assert_snapshot!(
        "html_true_without_html",
        redact(&stderr(&out), reg.temp_dir())
    );
    assert_tree_eq(&before, &tree_all(&reg.root), "after the refusal");
}

#[cfg(not(feature = "html"))]
#[test]
fn a_registry_whose_catalogue_is_on_refuses_changes_until_it_is_turned_off() {
    let reg = TestRegistry::seeded();
    reg.publish(&CrateBuilder::new("other", "0.1.0"));
    // What a full build leaves: the catalogue on, its files written.
    let settings = reg.root.join(".regtool/config.toml");
    let text = settings_text(&reg.root);
    assert!(text.contains("html = false"), "{text}");
    fs::write(&settings, text.replace("html = false", "html = true")).unwrap();
    let mark = regtool::catalogue::HTML_MARK;
    let feed_mark = regtool::catalogue::FEED_MARK;
    let planted = [
        ("index.html", format!("<html><head>{mark}</head></html>")),
        ("feed.atom", format!("<feed>{feed_mark}</feed>")),
        ("catalogue/crates/seed.html", format!("<html>{mark}</html>")),
        ("catalogue/search-index.js", "var x;".to_owned()),
        (".regtool/catalogue.json", "{}".to_owned()),
        (".regtool/meta/seed/1.0.0.json", "{}".to_owned()),
    ];
    for (file, text) in &planted {
        let path = reg.root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let new_crate = reg.krate(&CrateBuilder::new("newcomer", "1.0.0"));
    let before = tree_all(&reg.root);

    // Every change to the index, the `.crate` files or the settings is
    // refused, with the same line, before anything is written; a dry run
    // answers as the real run would.
    let refused: [&[&dyn AsRef<OsStr>]; 8] = [
        &[&"add", &new_crate],
        &[&"add", &"--dry-run", &new_crate],
        &[&"reindex", &"--dry-run"],
        &[&"yank", &"seed@1.0.0"],
        &[&"remove", &"other@0.1.0"],
        &[&"reindex"],
        &[&"settings", &"--max-crate-size", &"1000"],
        &[&"settings", &"--url", &"https://elsewhere.example.com"],
    ];
    for args in refused {
        let out = reg.run(args);
        let what: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        let what = format!("regtool {}", what.join(" "));
        assert_exit_code(&out, 2, &what);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{what}: one line\n{err}");
        insta::assert_snapshot!(
            "change_with_catalogue_on_without_html",
            redact(&err, reg.temp_dir())
        );
        assert_tree_eq(&before, &tree_all(&reg.root), &format!("after {what}"));
    }
    // What does not concern the catalogue goes on: reads, and tokens.
    reg.ok(&[&"list"]);
    reg.ok(&[&"verify"]);
    reg.ok(&[&"token", &"add", &"ci", &"--read-only"]);

    // Turning the catalogue off deletes its served files, its state and
    // the metadata older regtools stored, as in a full build; then changes
    // work.
    reg.ok(&[&"settings", &"--html", &"false"]);
    assert!(settings_text(&reg.root).contains("html = false"));
    for (file, _) in &planted[..5] {
        assert!(!reg.root.join(file).exists(), "{file} is gone");
    }
    assert!(!reg.root.join(".regtool/meta").exists());
    reg.add_ok(&[&new_crate]);
    reg.ok(&[&"yank", &"seed@1.0.0"]);
    reg.assert_verify_clean();
}
