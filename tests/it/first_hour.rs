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
    assert!(err.contains("0 problems, 1 warning"), "{err}");
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
        stderr(&out).contains("1 index file written"),
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

/// `regtool init DIR --url URL EXTRA...` in a new temp folder: its stderr
/// with the folder written as `REGISTRY`.
fn init_notes(url: &str, extra: &[&str]) -> String {
    let dir = tempdir();
    let root = dir.path().join("reg");
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("init"),
        root.as_os_str(),
        OsStr::new("--url"),
        OsStr::new(url),
    ];
    args.extend(extra.iter().map(OsStr::new));
    // A build without the catalogue says so first (tests/it/features.rs);
    // the notes are the same.
    if !cfg!(feature = "html") {
        args.push(OsStr::new("--no-html"));
    }
    let out = regtool_ok(args);
    stderr(&out).replace(root.to_str().unwrap(), "REGISTRY")
}

#[test]
fn init_says_how_to_serve_publish_and_use_a_folder() {
    let notes = init_notes("https://crates.example.com", &[]);
    for want in [
        "Created registry `example` in `REGISTRY`",
        "regtool --registry REGISTRY nginx-config --listen \"443 ssl\" --server-name crates.example.com | sudo tee /etc/nginx/conf.d/registry.conf",
        "sudo nginx -t && (sudo nginx -s reload || sudo nginx)",
        "registry does not support API commands",
        "`cargo package`, then `regtool --registry REGISTRY add target/package/NAME-VERSION.crate`",
        "`regtool --registry REGISTRY yank NAME@VERSION`",
        "never .regtool/",
        "[registries.example]\n    index = \"sparse+https://crates.example.com/\"\n",
        "`cargo add CRATE --registry example`",
    ] {
        assert!(notes.contains(want), "{want:?} not in:\n{notes}");
    }
    assert!(!notes.contains("token"), "{notes}");
    insta::assert_snapshot!("init_notes_folder", notes);
}

#[test]
fn init_of_a_private_registry_says_how_to_make_and_use_tokens() {
    let notes = init_notes(
        "http://127.0.0.1:8000",
        &["--auth-required", "--name", "example"],
    );
    for want in [
        "regtool --registry REGISTRY token add NAME",
        "nginx-config --listen 8000 --server-name 127.0.0.1",
        "[registry]\n    global-credential-providers = [\"cargo:token\"]",
        "`cargo login --registry example`",
        "CARGO_REGISTRIES_EXAMPLE_TOKEN",
    ] {
        assert!(notes.contains(want), "{want:?} not in:\n{notes}");
    }
    // The token comes first: nginx-config refuses an auth registry without one.
    assert!(notes.find("token add NAME").unwrap() < notes.find("nginx-config --listen").unwrap());
    insta::assert_snapshot!("init_notes_folder_auth_required", notes);
}

#[test]
fn init_of_a_mirror_says_how_to_fill_it_and_replace_crates_io() {
    let notes = init_notes("https://crates.internal.example", &["--mirror"]);
    for want in [
        "mirror path/to/Cargo.lock",
        "[source.crates-io]\n    replace-with = \"internal\"",
    ] {
        assert!(notes.contains(want), "{want:?} not in:\n{notes}");
    }
    assert!(!notes.contains("cargo package"), "{notes}");
}

/// `regtool init s3://BUCKET/registry --url URL EXTRA...` on moto: its stderr,
/// with the bucket written as `BUCKET`.
#[cfg(feature = "s3")]
fn bucket_init_notes(extra: &[&str]) -> Option<String> {
    let moto = MotoServer::shared("`init` of a registry in a bucket")?;
    let bucket = moto.bucket();
    let reg = bucket.url("registry");
    let mut args = vec!["init", &reg, "--url", "https://crates.acme.example"];
    args.extend(extra);
    let out = bucket.ok(&args);
    Some(stderr(&out).replace(&bucket.name, "BUCKET"))
}

#[cfg(feature = "s3")]
#[test]
fn init_of_a_bucket_says_how_to_serve_a_bucket_not_nginx_config() {
    let Some(notes) = bucket_init_notes(&[]) else {
        return;
    };
    assert!(!notes.contains("nginx-config --"), "{notes}");
    assert!(!notes.contains("nginx -t"), "{notes}");
    for want in [
        "\"Action\": \"s3:GetObject\"",
        "\"arn:aws:s3:::BUCKET/registry/config.json\"",
        "never s3://BUCKET/registry/.regtool/",
        "CDN",
        "Cache-Control",
        "404",
        "regtool --registry s3://BUCKET/registry add target/package/NAME-VERSION.crate",
        "[registries.acme]",
    ] {
        assert!(notes.contains(want), "{want:?} not in:\n{notes}");
    }
    // The policy in the notes is JSON.
    let start = notes.find("    {\n").unwrap();
    let end = notes[start..].find("\n    }\n").unwrap() + start + 6;
    let policy: Value = serde_json::from_str(&notes[start..end]).unwrap();
    assert_eq!(policy["Statement"][0]["Principal"], "*");
    insta::assert_snapshot!("init_notes_bucket", notes);

    // A registry that needs a token: no public policy, a server in front.
    let Some(notes) = bucket_init_notes(&["--auth-required"]) else {
        return;
    };
    assert!(!notes.contains("\"Principal\""), "{notes}");
    assert!(!notes.contains("token add"), "{notes}");
    for want in [
        "neither a bucket nor a CDN can check it",
        "Keep the bucket private",
        "global-credential-providers",
        "`cargo login --registry acme`",
    ] {
        assert!(notes.contains(want), "{want:?} not in:\n{notes}");
    }
    insta::assert_snapshot!("init_notes_bucket_auth_required", notes);
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
            .contains("[registries.example]\n    index = \"sparse+https://crates.example.com/\""),
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
    // `html:` says whether this build made the catalogue.
    let snapshot = if cfg!(feature = "html") {
        "settings_text_with_a_name"
    } else {
        "settings_text_with_a_name_without_html"
    };
    insta::assert_snapshot!(snapshot, stdout(&text));

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

#[test]
fn counts_are_singular_for_one_and_plural_otherwise() {
    // One of everything: verify and reindex say so in the singular.
    let reg = TestRegistry::seeded();
    let err = stderr(&reg.verify(&[]));
    assert!(
        err.contains("1 index file, 1 version, 1 .crate file: 0 problems"),
        "{err}"
    );
    let err = stderr(&reg.ok(&[&"reindex", &"--dry-run"]));
    assert!(
        err.contains("1 .crate file; 0 index files would be written, 0 lines added"),
        "{err}"
    );
    // An unknown crate: how many there are, or that there is none.
    let out = reg.run(&[&"info", &"zzz-unknown"]);
    assert!(
        stderr(&out).contains("(1 crate; `regtool list` lists them)"),
        "{}",
        describe_output(&out)
    );
    let empty = TestRegistry::new();
    let out = empty.run(&[&"info", &"zzz-unknown"]);
    assert!(
        stderr(&out).contains("which holds no crate yet"),
        "{}",
        describe_output(&out)
    );
    // Rejected inputs.
    let bad = reg.input("bad.crate", b"not a crate");
    let bad2 = reg.input("bad2.crate", b"not a crate either");
    let out = reg.add(&[&bad, &bad2]);
    assert!(
        stderr(&out).contains("2 inputs rejected; nothing was written"),
        "{}",
        describe_output(&out)
    );
}

/// No text for people counts with a bracketed plural (`1 problem(s)`): counts
/// go through `output::count`.
#[test]
fn no_message_counts_with_a_bracketed_plural() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs::read_to_string(entry.path()).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            // `(s)` inside a string literal (an odd number of `"` before it).
            let in_string = code.match_indices("(s)").any(|(at, _)| {
                code[..at].matches('"').count() % 2 == 1 && !code[..at].ends_with("http")
            });
            if in_string {
                found.push(format!("{}:{}: {}", entry.path().display(), i + 1, code));
            }
        }
    }
    assert!(found.is_empty(), "bracketed plurals:\n{}", found.join("\n"));
}
