//! What a newcomer meets in the first hour: `--dry-run` of `add`, `remove`,
//! `reindex` and `yank` (names the changes, writes nothing, exits as the real
//! run would), the warning for a dependency whose registry URL looks like this
//! registry's (the example crates served elsewhere), and `init`'s notes.

use crate::common;

use common::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", describe_output(out)))
}

/// Runs `args` with `--dry-run` (text, then JSON): each exits `code` and
/// leaves the tree byte-identical. Returns the text run's stderr and the JSON
/// report.
#[track_caller]
fn dry_run(reg: &TestRegistry, args: &[&dyn AsRef<OsStr>], code: i32) -> (String, Value) {
    let before = tree(&reg.root);
    let mut text: Vec<&dyn AsRef<OsStr>> = args.to_vec();
    text.push(&"--dry-run");
    let out = reg.run(&text);
    assert_exit_code(&out, code, "the dry run");
    assert_tree_eq(&before, &tree(&reg.root), "after a dry run");
    let mut j = text.clone();
    j.extend([&"--format" as &dyn AsRef<OsStr>, &"json"]);
    let out_json = reg.run(&j);
    assert_exit_code(&out_json, code, "the JSON dry run");
    assert_tree_eq(&before, &tree(&reg.root), "after a JSON dry run");
    let report = if code == 0 {
        json(&out_json)
    } else {
        Value::Null
    };
    (stderr(&out), report)
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn add_dry_run_names_what_it_would_write_and_writes_nothing() {
    let reg = TestRegistry::seeded();
    let foo = reg.krate(&CrateBuilder::new("foo", "1.0.0"));
    let seed = reg.krate(&CrateBuilder::new("seed", "1.0.0"));
    let (err, report) = dry_run(&reg, &[&"add", &foo, &seed], 0);
    assert!(err.contains("Would add foo v1.0.0"), "{err}");
    assert!(
        err.contains("Skipped seed v1.0.0 (already present)"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        strings(&report["written"]),
        ["3/f/foo", "crates/foo/foo-1.0.0.crate"]
    );
    // The real run writes exactly that, and its report has no dry_run.
    let out = reg.ok(&[&"add", &foo, &seed, &"--format", &"json"]);
    let real = json(&out);
    assert_eq!(real["written"], report["written"]);
    assert_eq!(real["crates"], report["crates"]);
    assert!(real.get("dry_run").is_none(), "{real}");
}

#[test]
fn add_dry_run_of_refused_input_exits_1() {
    let reg = TestRegistry::seeded();
    // Other bytes under seed 1.0.0.
    let other = reg.krate(&CrateBuilder::new("seed", "1.0.0").file("src/lib.rs", "// other"));
    let (_, _) = dry_run(&reg, &[&"add", &other], 1);
}

#[test]
fn yank_dry_run_says_what_would_change() {
    let reg = TestRegistry::with_foo_and_bar();
    let (err, report) = dry_run(&reg, &[&"yank", &"foo@1.1.0"], 0);
    assert!(err.contains("Would yank foo@1.1.0"), "{err}");
    assert_eq!(report["changed"], true);
    assert_eq!(report["yanked"], true);
    assert_eq!(report["dry_run"], true);
    reg.ok(&[&"yank", &"foo@1.1.0"]);
    let (err, report) = dry_run(&reg, &[&"yank", &"foo@1.1.0", &"--undo"], 0);
    assert!(err.contains("Would unyank foo@1.1.0"), "{err}");
    assert_eq!(report["yanked"], false);
    // Already yanked: a real run would change nothing either.
    let (err, report) = dry_run(&reg, &[&"yank", &"foo@1.1.0"], 0);
    assert!(err.contains("already yanked"), "{err}");
    assert_eq!(report["changed"], false);
    // Unknown version or crate: refused, as the real run.
    dry_run(&reg, &[&"yank", &"foo@9.9.9"], 1);
    dry_run(&reg, &[&"yank", &"nope@1.0.0"], 1);
}

#[test]
fn remove_dry_run_names_the_line_and_file() {
    let reg = TestRegistry::with_foo_and_bar();
    let (err, report) = dry_run(&reg, &[&"remove", &"foo@1.0.0"], 0);
    let crate_file = reg.crate_file("foo", "1.0.0");
    assert!(err.contains("Would remove foo v1.0.0"), "{err}");
    assert!(err.contains(&crate_file.display().to_string()), "{err}");
    assert!(
        err.contains(&reg.index_file("foo").display().to_string()),
        "{err}"
    );
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["index_file_removed"], false);
    assert_eq!(report["crate_file"], crate_file.display().to_string());
    // bar's only version: the whole index file would go.
    let (err, report) = dry_run(&reg, &[&"remove", &"bar@0.1.0"], 0);
    assert!(err.contains("the whole file"), "{err}");
    assert_eq!(report["index_file_removed"], true);
    dry_run(&reg, &[&"remove", &"foo@9.9.9"], 1);
}

#[test]
fn reindex_dry_run_reports_what_a_real_run_writes() {
    let reg = TestRegistry::with_foo_and_bar();
    // A .crate put in by hand (a new line), and one whose .crate is gone.
    let baz = CrateBuilder::new("baz", "0.1.0");
    fs::create_dir_all(reg.root.join("crates/baz")).unwrap();
    fs::write(reg.root.join("crates/baz/baz-0.1.0.crate"), baz.build()).unwrap();
    fs::remove_file(reg.crate_file("foo", "2.0.0")).unwrap();
    let (err, report) = dry_run(&reg, &[&"reindex", &"--prune"], 0);
    assert!(err.contains("Would index baz v0.1.0"), "{err}");
    assert!(err.contains("Would prune foo@2.0.0"), "{err}");
    assert!(err.contains("Would write"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(strings(&report["lines_added"]), ["baz@0.1.0"]);
    assert_eq!(strings(&report["missing_crates"]), ["foo@2.0.0"]);
    assert_eq!(
        strings(&report["index_files_written"]),
        ["3/b/baz", "3/f/foo"]
    );
    let real = json(&reg.ok(&[&"reindex", &"--prune", &"--format", &"json"]));
    for field in [
        "lines_added",
        "missing_crates",
        "index_files_written",
        "index_files_removed",
    ] {
        assert_eq!(strings(&real[field]), strings(&report[field]), "{field}");
    }
    // Refused (a stored .crate that cannot be read): exit 1, nothing written.
    fs::write(reg.crate_file("bar", "0.1.0"), b"not a crate").unwrap();
    dry_run(&reg, &[&"reindex"], 1);
}

fn example_crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example")
}

/// The `registry` of hello-app's dependency on hello-util, as written.
fn hello_util_registry(reg: &TestRegistry) -> Value {
    let lines = read_index_lines(&reg.root, "hello-app");
    lines[0]["deps"][0]
        .get("registry")
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn example_crates_served_elsewhere_get_a_warning_and_the_fix_works() {
    // The example crates name http://127.0.0.1:8000/; this registry is at URL.
    let reg = TestRegistry::new();
    let out = reg.ok(&[&"add", &example_crates(), &"--format", &"json"]);
    let err = stderr(&out);
    assert!(
        err.contains("warning: ")
            && err.contains(
                "dependency `hello-util` names the registry `sparse+http://127.0.0.1:8000/`"
            ),
        "{err}"
    );
    assert!(
        err.contains("regtool settings --alias http://127.0.0.1:8000` and then `regtool reindex`"),
        "{err}"
    );
    let json_add = json(&out);
    assert_eq!(
        json_add["warnings"].as_array().unwrap().len(),
        1,
        "{json_add}"
    );
    // Adding them again (skipped) does not warn again: only new lines are judged.
    let again = reg.add_ok(&[&example_crates()]);
    assert!(
        !stderr(&again).contains("warning"),
        "{}",
        describe_output(&again)
    );
    assert_eq!(hello_util_registry(&reg), "sparse+http://127.0.0.1:8000/");

    // verify: a warning, not a problem (exit 0).
    let out = reg.verify(&[]);
    assert_success(&out, "verify");
    let err = stderr(&out);
    assert!(err.contains("warning: misdirected-dependency: "), "{err}");
    assert!(err.contains("0 problem(s), 1 warning(s)"), "{err}");
    let v = json(&reg.verify(&["--format", "json"]));
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(v["warnings"][0]["kind"], "misdirected-dependency");
    assert_eq!(
        v["warnings"][0]["path"],
        reg.index_file("hello-app").display().to_string()
    );

    // The fix: the alias, then reindex derives the line again.
    reg.ok(&[&"settings", &"--alias", &"http://127.0.0.1:8000"]);
    let out = reg.ok(&[&"reindex"]);
    assert!(
        stderr(&out).contains("1 index files written"),
        "{}",
        describe_output(&out)
    );
    assert_eq!(hello_util_registry(&reg), Value::Null);
    let v = json(&reg.verify(&["--format", "json"]));
    assert_eq!(v["warnings"], serde_json::json!([]));
    reg.assert_verify_clean();
}

#[test]
fn a_dependency_on_another_registry_gets_no_warning() {
    let reg = TestRegistry::seeded();
    // `seed` is here, but not in a version matching ^2; `other` is not here.
    let app = CrateBuilder::new("app", "1.0.0").manifest_extra(
        "[dependencies.seed]\nversion = \"^2\"\nregistry-index = \"sparse+https://other.example.org/\"\n\n[dependencies.other]\nversion = \"1\"\nregistry-index = \"sparse+https://crates.example.com:8443/elsewhere/\"\n",
    );
    let out = reg.add_ok(&[&reg.krate(&app)]);
    assert!(
        !stderr(&out).contains("warning"),
        "{}",
        describe_output(&out)
    );
    reg.assert_verify_clean();
    let v = json(&reg.verify(&["--format", "json"]));
    assert_eq!(v["warnings"], serde_json::json!([]));
    // The same URL as the registry's but for the port: warned.
    let near = CrateBuilder::new("near", "1.0.0").manifest_extra(
        "[dependencies.other]\nversion = \"1\"\nregistry-index = \"sparse+https://crates.example.com:8443/\"\n",
    );
    let out = reg.add_ok(&[&reg.krate(&near)]);
    assert!(
        stderr(&out).contains("only in scheme or port"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn init_says_how_to_publish_and_yank_without_cargo() {
    let dir = tempdir();
    let out = regtool_ok([
        OsStr::new("init"),
        dir.path().join("reg").as_os_str(),
        OsStr::new("--url"),
        OsStr::new("http://127.0.0.1:8000"),
    ]);
    let err = stderr(&out);
    for want in [
        "registry does not support API commands",
        "`cargo package` then `regtool add target/package/NAME-VERSION.crate`",
        "`regtool yank NAME@VERSION`",
        "not its .regtool/",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
}

/// `regtool --registry ROOT settings --format json`.
fn settings_json(root: &Path) -> Value {
    json(&regtool_ok([
        OsStr::new("--registry"),
        root.as_os_str(),
        OsStr::new("settings"),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]))
}

#[test]
fn the_registry_name_is_a_setting_with_a_default_from_the_host() {
    let dir = tempdir();
    let init = |name: &str, url: &str, extra: &[&str]| {
        let root = dir.path().join(name);
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("init"),
            root.as_os_str(),
            OsStr::new("--url"),
            OsStr::new(url),
        ];
        args.extend(extra.iter().map(OsStr::new));
        (root.clone(), run_regtool(args))
    };

    // The default: the host's first label that is not a generic word; stored.
    let (example, out) = init("example", "https://crates.example.com", &[]);
    assert_success(&out, "init");
    assert!(
        stderr(&out)
            .contains("[registries.example]\nindex = \"sparse+https://crates.example.com/\""),
        "{}",
        describe_output(&out)
    );
    let toml = fs::read_to_string(example.join(".regtool/config.toml")).unwrap();
    assert!(toml.contains("name = \"example\""), "{toml}");
    assert_eq!(settings_json(&example)["name"], "example");
    // An IP address gives no name: a fixed word.
    let (ip, out) = init("ip", "http://127.0.0.1:8000", &[]);
    assert_success(&out, "init");
    assert_eq!(settings_json(&ip)["name"], "local");
    // --name, and the text form of settings.
    let (named, out) = init(
        "named",
        "http://127.0.0.1:8000",
        &["--name", "acme-internal"],
    );
    assert_success(&out, "init --name");
    let text = regtool_ok([
        OsStr::new("--registry"),
        named.as_os_str(),
        OsStr::new("settings"),
    ]);
    insta::assert_snapshot!("settings_text_with_a_name", stdout(&text));

    // Names cargo refuses, and crates.io's own: a usage error, nothing created.
    for (bad, why) in [
        ("2fast", "cannot start with a digit"),
        ("my.reg", "invalid character `.`"),
        ("crates-io", "crates.io itself"),
        ("d\u{e9}p\u{f4}t", "ASCII"),
    ] {
        let (root, out) = init(
            &format!("bad-{}", bad.len()),
            "https://x.example",
            &["--name", bad],
        );
        assert_exit_code(&out, 2, &format!("init --name {bad}"));
        assert!(
            stderr(&out).contains(why),
            "{bad}: {}",
            describe_output(&out)
        );
        assert!(
            !root.exists(),
            "init --name {bad} created {}",
            root.display()
        );
    }

    // settings --name changes it, and `token add` prints it.
    let (auth, out) = init("auth", "http://10.1.2.3", &["--auth-required"]);
    assert_success(&out, "init --auth-required");
    let before = tree(&auth);
    let out = run_regtool([
        OsStr::new("--registry"),
        auth.as_os_str(),
        OsStr::new("settings"),
        OsStr::new("--name"),
        OsStr::new("a b"),
    ]);
    assert_exit_code(&out, 2, "settings --name 'a b'");
    assert_tree_eq(&before, &tree(&auth), "after a refused settings --name");
    regtool_ok([
        OsStr::new("--registry"),
        auth.as_os_str(),
        OsStr::new("settings"),
        OsStr::new("--name"),
        OsStr::new("acme"),
    ]);
    let out = regtool_ok([
        OsStr::new("--registry"),
        auth.as_os_str(),
        OsStr::new("token"),
        OsStr::new("add"),
        OsStr::new("ci"),
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("cargo login --registry acme") && err.contains("CARGO_REGISTRIES_ACME_TOKEN"),
        "{err}"
    );
}

#[test]
fn a_registry_made_before_the_name_setting_keeps_its_name_when_it_moves() {
    let reg = TestRegistry::new();
    // What `init` wrote before the setting existed: no `name`.
    let path = reg.root.join(".regtool/config.toml");
    let toml = fs::read_to_string(&path).unwrap();
    let old: String = toml
        .lines()
        .filter(|l| !l.starts_with("name = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, toml);
    fs::write(&path, &old).unwrap();
    assert_eq!(settings_json(&reg.root)["name"], "example");
    // Moved to another host: the name its users configured stays.
    reg.ok(&[&"settings", &"--url", &"https://pkgs.other.example"]);
    assert_eq!(settings_json(&reg.root)["name"], "example");
    let toml = fs::read_to_string(&path).unwrap();
    assert!(toml.contains("name = \"example\""), "{toml}");
}
