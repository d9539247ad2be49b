//! `regtool serve` (issue 21) with real cargo as the judge: `cargo publish`,
//! `cargo yank`, `cargo yank --undo` and `cargo owner` against `serve` on
//! 127.0.0.1 (scopes and owners decide who may do what), over a
//! folder registry whose files a static server serves to cargo; then a fresh
//! project resolves, downloads and builds the published crate.

use crate::common::*;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A running `regtool serve`, killed when dropped; its stderr (the access
/// log) in a file.
struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    /// `regtool --registry ROOT serve --listen 127.0.0.1:PORT`, once it accepts.
    fn start(root: &Path, port: u16) -> Serve {
        let log = root.with_file_name("serve.log");
        let child = regtool()
            .args(["--registry".as_ref(), root.as_os_str()])
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("create the serve log"))
            .spawn()
            .expect("start regtool serve");
        let mut serve = Serve { child, log };
        let log = serve.log.clone();
        let child = &mut serve.child;
        if let Err(why) = wait_for_listener(port, Duration::from_secs(30), &mut || {
            child.try_wait().ok().flatten().map(|s| {
                format!(
                    "regtool serve exited ({s}): {}",
                    fs::read_to_string(&log).unwrap_or_default()
                )
            })
        }) {
            panic!("{why}");
        }
        serve
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `token add NAME ARGS...` on `root`: the token.
fn token(root: &Path, name: &str, args: &[&str]) -> String {
    let mut all = vec![
        "--registry",
        root.to_str().unwrap(),
        "--format",
        "json",
        "token",
        "add",
        name,
    ];
    all.extend_from_slice(args);
    let out = regtool_ok(&all);
    json(&out)["token"].as_str().expect("a token").to_owned()
}

/// A library package ready for `cargo publish`.
fn package(dir: &Path, name: &str, version: &str) -> PathBuf {
    let p = dir.join(name);
    fs::create_dir_all(p.join("src")).unwrap();
    fs::write(
        p.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\nlicense = \"MIT\"\ndescription = \"served\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    fs::write(p.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").unwrap();
    p
}

/// `cargo ARGS...` in `dir` with `token` as the registry's token.
fn cargo_with(env: &CargoEnv, dir: &Path, token: &str, args: &[&str]) -> Output {
    let mut cmd: Command = env.command(dir);
    cmd.env("CARGO_REGISTRIES_LOCAL_TOKEN", token).args(args);
    run_with_timeout(cmd, CARGO_TIMEOUT)
}

fn yanked(root: &Path, name: &str) -> Vec<bool> {
    read_index_lines(root, name)
        .iter()
        .map(|l| l["yanked"].as_bool().unwrap())
        .collect()
}

#[test]
fn cargo_publishes_yanks_and_unyanks_through_serve() {
    let reg = ServedRegistry::new(&[]);
    let root = reg.root();
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let r = root.to_str().unwrap();
    regtool_ok(["--registry", r, "settings", "--api", &api]);
    let publisher = token(
        &root,
        "alice",
        &["--scope", "publish-new,publish-update,yank,change-owners"],
    );
    let reader = token(&root, "reader", &[]);
    let bob = token(&root, "bob", &["--scope", "publish-update,yank"]);
    let mallory = token(&root, "mallory", &["--scope", "publish-update,yank"]);
    let admin = token(&root, "root", &["--scope", "admin"]);
    let serve = Serve::start(&root, port);
    let env = CargoEnv::new()
        .with_registry("local", &reg.sparse_index_url())
        .with_config("[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    let pkg = package(&reg.scratch(), "served-lib", "0.1.0");
    let before = fs::read_dir(&root).unwrap().count();

    // A read-only token may not publish; nothing is written.
    let out = cargo_with(
        &env,
        &pkg,
        &reader,
        &["publish", "--registry", "local", "--no-verify"],
    );
    assert!(!out.status.success(), "{}", describe_output(&out));
    let err = stderr(&out);
    assert!(
        err.contains("403") && err.contains("publish-new"),
        "{err}\n{}",
        serve.log()
    );
    assert!(!root.join(index_path("served-lib")).exists());
    assert_eq!(fs::read_dir(&root).unwrap().count(), before);

    // The publisher's token publishes: the index line is add's, from the .crate.
    let out = cargo_with(
        &env,
        &pkg,
        &publisher,
        &["publish", "--registry", "local", "--no-verify"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    // What cargo packaged (where under target/package/ is cargo's business).
    let packaged = files_under(&env.target_dir().join("package"))
        .into_iter()
        .find(|p| p.ends_with("served-lib-0.1.0.crate"))
        .expect("cargo's packaged .crate");
    let lines = read_index_lines(&root, "served-lib");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["cksum"], sha256_hex(&fs::read(&packaged).unwrap()));
    assert_eq!(
        fs::read(root.join("crates/served-lib/served-lib-0.1.0.crate")).unwrap(),
        fs::read(&packaged).unwrap()
    );

    // yank and yank --undo flip the line; the reader's token may not.
    let out = cargo_with(
        &env,
        &pkg,
        &reader,
        &["yank", "--registry", "local", "served-lib@0.1.0"],
    );
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert_eq!(yanked(&root, "served-lib"), [false]);
    let out = cargo_with(
        &env,
        &pkg,
        &publisher,
        &["yank", "--registry", "local", "served-lib@0.1.0"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    assert_eq!(yanked(&root, "served-lib"), [true]);
    let out = cargo_with(
        &env,
        &pkg,
        &publisher,
        &["yank", "--undo", "--registry", "local", "served-lib@0.1.0"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    assert_eq!(yanked(&root, "served-lib"), [false]);

    // The first publisher owns the crate; another token with the scopes
    // does not, until an owner adds it.
    let owner_args = |more: &[&'static str]| {
        let mut a = vec!["owner", "--registry", "local"];
        a.extend_from_slice(more);
        a.push("served-lib");
        a
    };
    let out = cargo_with(&env, &pkg, &publisher, &owner_args(&["--list"]));
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    assert!(stdout(&out).contains("alice"), "{}", describe_output(&out));
    let out = cargo_with(
        &env,
        &pkg,
        &mallory,
        &["yank", "--registry", "local", "served-lib@0.1.0"],
    );
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert!(
        stderr(&out).contains("`mallory` is not an owner of `served-lib`"),
        "{}",
        describe_output(&out)
    );
    let out = cargo_with(&env, &pkg, &publisher, &owner_args(&["--add", "bob"]));
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    let out = cargo_with(
        &env,
        &pkg,
        &bob,
        &["yank", "--registry", "local", "served-lib@0.1.0"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    assert_eq!(yanked(&root, "served-lib"), [true]);
    // bob has no change-owners scope; alice removes bob.
    let out = cargo_with(&env, &pkg, &bob, &owner_args(&["--remove", "alice"]));
    assert!(!out.status.success(), "{}", describe_output(&out));
    let out = cargo_with(&env, &pkg, &publisher, &owner_args(&["--remove", "bob"]));
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    let out = regtool_ok(["--registry", r, "owner", "served-lib"]);
    assert_eq!(stdout(&out), "alice\n");
    let out = cargo_with(
        &env,
        &pkg,
        &bob,
        &["yank", "--undo", "--registry", "local", "served-lib@0.1.0"],
    );
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert_eq!(yanked(&root, "served-lib"), [true]);
    let out = cargo_with(
        &env,
        &pkg,
        &publisher,
        &["yank", "--undo", "--registry", "local", "served-lib@0.1.0"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );

    // A crate added with the CLI has no owner: only an admin token changes
    // it through the API, until `regtool owner` gives it one.
    reg.publish(&CrateBuilder::new("cli-lib", "1.0.0"));
    let out = cargo_with(
        &env,
        &pkg,
        &publisher,
        &["yank", "--registry", "local", "cli-lib@1.0.0"],
    );
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert!(
        stderr(&out).contains("has no owner"),
        "{}",
        describe_output(&out)
    );
    let out = cargo_with(
        &env,
        &pkg,
        &admin,
        &["yank", "--registry", "local", "cli-lib@1.0.0"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    regtool_ok(["--registry", r, "owner", "cli-lib", "--add", "alice"]);
    let out = cargo_with(
        &env,
        &pkg,
        &publisher,
        &["yank", "--undo", "--registry", "local", "cli-lib@1.0.0"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    assert_eq!(yanked(&root, "cli-lib"), [false]);

    // A fresh project resolves, downloads and builds it.
    let consumer = env.project_with_main(
        "served-lib = { version = \"0.1\", registry = \"local\" }",
        "fn main() { assert_eq!(served_lib::answer(), 42); }\n",
    );
    env.cargo_ok(&consumer, &["build"]);
    let verify = regtool_ok(["--registry", r, "verify"]);
    assert!(verify.status.success());
    // The access log names requests, never a token.
    let log = serve.log();
    assert!(log.contains("path=/api/v1/crates/new status=200"), "{log}");
    for t in [&publisher, &reader, &bob, &mallory, &admin] {
        assert!(!log.contains(t.as_str()), "{log}");
    }
}
/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in fs::read_dir(dir).expect("list a folder") {
        let p = e.expect("list a folder").path();
        if p.is_dir() {
            files.extend(files_under(&p));
        } else {
            files.push(p);
        }
    }
    files
}
