//! The CI recipes in README.md ("Publishing from CI") are tested as users will
//! paste them: the GitLab job's `script:` lines are taken from the README (between
//! the `<!-- ci-recipe:gitlab -->` markers) and run verbatim in bash against a
//! real tiny cargo project and a temp registry. The `rsync` lines copy to a local
//! folder; the `aws` lines copy into a bucket of moto's S3 server on 127.0.0.1,
//! or of the S3-compatible endpoint `REGTOOL_TEST_S3_ENDPOINT` names (with
//! credentials in the usual `AWS_*` variables). Without rsync, or the aws CLI and
//! an endpoint, those lines are left out with a note, and fail in CI
//! ([`common::require_tool`]).

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{regtool_ok, run_with_timeout};

/// The fenced block between `<!-- ci-recipe:NAME -->` and
/// `<!-- /ci-recipe:NAME -->` in README.md, without its fences.
fn recipe(name: &str) -> String {
    let block = common::readme_block(&format!("ci-recipe:{name}"));
    assert_eq!(
        block.lang, "yaml",
        "the {name} recipe is not a ```yaml block"
    );
    block.text
}

/// The items of the `script:` list of the (only) job in a GitLab CI file, as
/// written: YAML comments skipped, each item one line.
fn script_lines(yaml: &str) -> Vec<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut lines = yaml.lines();
    let key = lines
        .by_ref()
        .find(|l| l.trim() == "script:")
        .expect("the GitLab job has a `script:` list");
    let key_indent = indent(key);
    let mut out = Vec::new();
    for line in lines {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(line) <= key_indent && !t.starts_with("- ") {
            break;
        }
        if indent(line) < key_indent {
            break;
        }
        let item = t
            .strip_prefix("- ")
            .unwrap_or_else(|| panic!("not a list item under `script:`: {line}"));
        out.push(item.to_owned());
    }
    assert!(!out.is_empty(), "empty `script:` list");
    out
}

/// Why `item` would not be read by YAML as the plain one-line string it looks
/// like, if it would not.
fn plain_scalar_problem(item: &str) -> Option<&'static str> {
    let first = item.chars().next()?;
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return Some("starts with a YAML indicator");
    }
    if item.contains(": ") || item.ends_with(':') {
        return Some("has `: `, which YAML reads as a mapping");
    }
    if item.contains(" #") {
        return Some("has ` #`, which YAML reads as a comment");
    }
    None
}

#[test]
fn ci_recipes_are_plain_yaml_and_agree() {
    let gitlab = recipe("gitlab");
    let github = recipe("github");
    let lines = script_lines(&gitlab);
    for line in &lines {
        if let Some(why) = plain_scalar_problem(line) {
            panic!("GitLab script line {line:?} {why}; quote it or rephrase it");
        }
        // The GitHub job runs the same commands.
        assert!(
            github
                .lines()
                .any(|l| l.trim() == line || l.trim() == format!("- run: {line}")),
            "the GitHub Actions job lacks the GitLab line:\n{line}"
        );
    }
    assert!(lines.iter().any(|l| l.starts_with("cargo package")));
    assert!(lines.iter().any(|l| l.starts_with("regtool add")));
    // Every copy leaves out dotfiles (.regtool/), and each tool copies the .crate
    // files before the index.
    for tool in ["rsync ", "aws s3 sync "] {
        let copies: Vec<&String> = lines.iter().filter(|l| l.starts_with(tool)).collect();
        assert!(copies.len() >= 2, "no `{tool}` lines: {lines:?}");
        for l in &copies {
            assert!(
                l.contains("--exclude='.*'") || l.contains("--exclude '.*'"),
                "{l}"
            );
        }
        assert!(copies[0].contains("/crates/\""), "{}", copies[0]);
        assert!(copies[1].contains("--delete"), "{}", copies[1]);
    }
    for l in lines.iter().filter(|l| l.starts_with("aws ")) {
        let want = if l.contains("/crates/\"") {
            "immutable"
        } else {
            "--cache-control no-cache"
        };
        assert!(l.contains(want), "{l}");
    }
}

/// A tiny library crate with no dependencies, as a user's repository holds it.
fn tiny_project(dir: &Path) -> PathBuf {
    let project = dir.join("tiny-ci-crate");
    fs::create_dir_all(project.join("src")).unwrap();
    fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"tiny-ci-crate\"\nversion = \"0.3.1\"\nedition = \"2021\"\n\
         description = \"A crate published by the README's CI job\"\nlicense = \"MIT\"\n",
    )
    .unwrap();
    fs::write(
        project.join("src/lib.rs"),
        "pub fn hello() -> &'static str {\n    \"hello\"\n}\n",
    )
    .unwrap();
    project
}

/// `bash` running `script` in `project` with a clean cargo environment, the
/// regtool under test first on PATH, and `vars`.
fn run_script(project: &Path, script: &str, vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = common::bash(script, project, &[], vars);
    cmd.env("CARGO_NET_OFFLINE", "true");
    run_with_timeout(cmd, common::CARGO_TIMEOUT)
}

/// The bucket the script's `aws` lines copy into, and how to reach it.
struct S3Target {
    /// The aws CLI.
    aws: PathBuf,
    bucket: String,
    /// The variables the `aws` CLI needs for it (`AWS_ENDPOINT_URL`, and for
    /// moto its test credentials).
    env: Vec<(&'static str, String)>,
    /// The moto bucket, kept for the test's length.
    _moto: Option<common::Bucket>,
}

/// The endpoint `REGTOOL_TEST_S3_ENDPOINT` names (a new bucket made with `aws
/// s3 mb`), else a bucket of moto's server; `None` (after a note, a panic in
/// CI) without the aws CLI or moto.
fn s3_target(tmp: &Path) -> Option<S3Target> {
    let why = "the README's CI job copies the registry into an S3 bucket with `aws s3`";
    let aws_cli = common::require_tool("aws", why)?;
    if let Some(endpoint) = std::env::var("REGTOOL_TEST_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    {
        let bucket = format!(
            "regtool-ci-{}",
            tmp.file_name()
                .unwrap()
                .to_string_lossy()
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        );
        let target = S3Target {
            aws: aws_cli,
            bucket,
            env: vec![("AWS_ENDPOINT_URL", endpoint)],
            _moto: None,
        };
        let out = aws(&["s3", "mb", &format!("s3://{}", target.bucket)], &target);
        common::assert_success(&out, "aws s3 mb");
        return Some(target);
    }
    let moto = common::MotoServer::shared(why)?;
    let bucket = moto.bucket();
    // Only moto's test credentials, none of the caller's configuration.
    let none = tmp.join("no-aws-config").to_string_lossy().into_owned();
    Some(S3Target {
        aws: aws_cli,
        bucket: bucket.name.clone(),
        env: vec![
            ("AWS_ENDPOINT_URL", moto.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_CONFIG_FILE", none.clone()),
            ("AWS_SHARED_CREDENTIALS_FILE", none),
            ("AWS_PROFILE", String::new()),
            ("NO_PROXY", "127.0.0.1,localhost".into()),
        ],
        _moto: Some(bucket),
    })
}

/// `aws ARGS...` against `target`.
fn aws(args: &[&str], target: &S3Target) -> std::process::Output {
    let mut cmd = Command::new(&target.aws);
    cmd.args(args);
    for (k, v) in &target.env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    run_with_timeout(cmd, Duration::from_secs(120))
}

#[test]
fn gitlab_job_publishes_into_the_registry() {
    let tmp = common::tempdir();
    let registry = tmp.path().join("registry");
    let web = tmp.path().join("web-host");
    fs::create_dir_all(&web).unwrap();
    regtool_ok([
        "init".as_ref(),
        registry.as_os_str(),
        "--url".as_ref(),
        "https://crates.example.com".as_ref(),
    ]);
    let project = tiny_project(tmp.path());

    let run_rsync = common::require_tool(
        "rsync",
        "the README's CI job copies the registry to a web host with rsync",
    )
    .is_some();
    let s3 = s3_target(tmp.path());
    let run_aws = s3.is_some();

    let lines: Vec<String> = script_lines(&recipe("gitlab"))
        .into_iter()
        .filter(|l| (run_rsync || !l.starts_with("rsync ")) && (run_aws || !l.starts_with("aws ")))
        .collect();
    let script = lines.join("\n");
    let mut vars = vec![
        ("REGTOOL_REGISTRY", registry.to_str().unwrap()),
        ("RSYNC_DEST", web.to_str().unwrap()),
        ("S3_BUCKET", s3.as_ref().map_or("", |t| t.bucket.as_str())),
    ];
    if let Some(t) = &s3 {
        vars.extend(t.env.iter().map(|(k, v)| (*k, v.as_str())));
    }

    let out = run_script(&project, &script, &vars);
    common::assert_success(&out, &format!("the GitLab job's script:\n{script}\n"));
    // A re-run (a retried job) changes nothing and succeeds.
    let again = run_script(&project, &script, &vars);
    common::assert_success(&again, "the GitLab job's script, run again");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("Skipped"),
        "{}",
        common::describe_output(&again)
    );

    // The crate is in the registry, which is sound.
    regtool_ok([
        "--registry".as_ref(),
        registry.as_os_str(),
        "verify".as_ref(),
    ]);
    let info = regtool_ok([
        "--registry".as_ref(),
        registry.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "info".as_ref(),
        "tiny-ci-crate".as_ref(),
    ]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("JSON from info");
    assert_eq!(info["versions"][0]["vers"], "0.3.1", "{info}");
    let crate_rel = "crates/tiny-ci-crate/tiny-ci-crate-0.3.1.crate";
    let index_rel = "ti/ny/tiny-ci-crate";

    if run_rsync {
        for rel in [crate_rel, index_rel, "config.json"] {
            assert_eq!(
                fs::read(web.join(rel)).unwrap_or_default(),
                fs::read(registry.join(rel)).unwrap(),
                "{rel} on the web host differs from the registry's"
            );
        }
        assert!(!web.join(".regtool").exists(), ".regtool/ was copied");
    }

    if let Some(target) = &s3 {
        let bucket = &target.bucket;
        let head = |key: &str| -> serde_json::Value {
            let out = aws(
                &["s3api", "head-object", "--bucket", bucket, "--key", key],
                target,
            );
            common::assert_success(&out, &format!("aws s3api head-object {key}"));
            serde_json::from_slice(&out.stdout).expect("JSON from head-object")
        };
        let c = head(crate_rel);
        assert!(
            c["CacheControl"]
                .as_str()
                .is_some_and(|v| v.contains("immutable")),
            "{c}"
        );
        let i = head(index_rel);
        assert_eq!(i["CacheControl"], "no-cache", "{i}");
        assert_eq!(i["ContentType"], "text/plain", "{i}");
        let j = head("config.json");
        assert_eq!(j["ContentType"], "application/json", "{j}");
        let ls = aws(
            &["s3", "ls", "--recursive", &format!("s3://{bucket}/")],
            target,
        );
        common::assert_success(&ls, "aws s3 ls");
        let listing = String::from_utf8_lossy(&ls.stdout);
        assert!(!listing.contains(".regtool"), "{listing}");
        assert!(listing.contains(index_rel), "{listing}");
    }
}

/// regtool is in no registry: every `cargo install` of it in README.md installs
/// from a git repository or a checkout, and the CI recipes define the
/// repository variable they use.
#[test]
fn readme_installs_regtool_from_its_repository() {
    let readme = common::readme();
    let installs: Vec<&str> = readme
        .lines()
        .filter(|l| l.contains("cargo install") && l.contains("--locked"))
        .filter(|l| l.contains("regtool") || l.contains("--path ."))
        .collect();
    assert!(installs.len() >= 5, "{installs:?}");
    for l in &installs {
        assert!(
            l.contains("--git ") || l.contains("--path "),
            "installs regtool from a registry, which has none:\n{l}"
        );
    }
    for name in ["gitlab", "github"] {
        let r = recipe(name);
        if r.contains("$REGTOOL_GIT") {
            assert!(
                r.lines().any(|l| l.trim().starts_with("REGTOOL_GIT: ")),
                "the {name} recipe uses $REGTOOL_GIT without defining it"
            );
        }
    }
}
