//! `regtool token add/list/revoke`: the token file's content and mode, the
//! token's shape, that the token is shown once; then with a real nginx (the
//! harness of `nginx.rs`) and the real cargo: a consumer with an added token
//! fetches from an `--auth-required` registry, and after `token revoke` and
//! `nginx -s reload` it gets 401. And `regtool owner`, whose owners are
//! token names.

use crate::common;
use crate::common::{
    NginxRegistry, TOKEN, assert_status, nginx, publish_two_crates_for_a_token_consumer,
};

use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{regtool, regtool_ok, run_with_timeout};

const MAP: &str = ".regtool/nginx-tokens.map";

fn run(root: &Path, args: &[&str]) -> Output {
    let mut c = regtool();
    c.arg("--registry").arg(root).args(args);
    run_with_timeout(c, common::REGTOOL_TIMEOUT)
}

fn ok(root: &Path, args: &[&str]) -> Output {
    let out = run(root, args);
    common::assert_success(&out, &format!("regtool {}", args.join(" ")));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `rgt_` + 16 hex digits + `_` + 64 hex digits.
#[track_caller]
fn assert_token_shape(t: &str) {
    let parts: Vec<&str> = t.split('_').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(
        parts.len() == 3 && parts[0] == "rgt" && hex(parts[1], 16) && hex(parts[2], 64),
        "not a regtool token: {t:?}"
    );
    assert_eq!(t, t.to_ascii_lowercase());
}

fn auth_registry() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = common::tempdir();
    let root = dir.path().join("registry");
    regtool_ok([
        "init".as_ref(),
        root.as_os_str(),
        "--url".as_ref(),
        "https://crates.example.com".as_ref(),
        "--auth-required".as_ref(),
    ]);
    (dir, root)
}

#[test]
fn token_add_list_revoke() {
    let (_dir, root) = auth_registry();
    let map = root.join(MAP);

    // add: the token alone on stdout, how to use it on stderr.
    let out = ok(&root, &["token", "add", "ci", "--read-only"]);
    let text = stdout(&out);
    let token = text.trim_end_matches('\n');
    assert!(
        !token.contains('\n'),
        "more than the token on stdout: {text:?}"
    );
    assert_token_shape(token);
    let err = stderr(&out);
    for want in [
        "cargo login --registry example",
        "CARGO_REGISTRIES_EXAMPLE_TOKEN",
        "nginx -s reload",
        "shown only now",
    ] {
        assert!(err.contains(want), "no `{want}` in:\n{err}");
    }
    assert!(!err.contains(token), "the token is printed twice:\n{err}");

    // The file: mode 0600, and neither the token nor its secret part in it.
    assert_eq!(mode(&map), 0o600);
    let file = fs::read_to_string(&map).unwrap();
    let secret = token.rsplit('_').next().unwrap();
    assert!(
        !file.contains(secret),
        "the token file holds the token:\n{file}"
    );
    let id = &token[..token.len() - secret.len()];
    assert!(file.contains("name=ci"), "{file}");
    assert!(file.contains(id), "{file}");

    // A second token, JSON: the token once, with the registry's name on
    // cargo's side as the settings say.
    ok(&root, &["settings", "--name", "my-reg"]);
    let out = ok(&root, &["token", "add", "dev-laptop", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token2 = j["token"].as_str().unwrap().to_owned();
    assert_token_shape(&token2);
    assert_ne!(token2, token);
    assert_eq!(j["name"], "dev-laptop");
    // Without scopes a token can only read, `--read-only` or not.
    assert_eq!(j["read_only"], true);
    assert_eq!(j["cargo_login"], "cargo login --registry my-reg");
    assert_eq!(j["env_var"], "CARGO_REGISTRIES_MY_REG_TOKEN");
    assert_eq!(j["registry_name"], "my-reg");
    assert!(token2.starts_with(j["id"].as_str().unwrap()));

    // list: names, IDs, dates, marks; never a token.
    let out = ok(&root, &["token", "list"]);
    let text = stdout(&out);
    assert!(text.contains("ci") && text.contains("dev-laptop"), "{text}");
    assert!(text.contains(id), "{text}");
    assert!(!text.contains(token) && !text.contains(&token2), "{text}");
    let header = text.lines().next().unwrap();
    assert!(header.ends_with("  SCOPES"), "{text}");
    assert!(!text.contains("READ-ONLY"), "{text}");
    assert_eq!(text.matches("  read-only\n").count(), 2, "{text}");
    let out = ok(&root, &["token", "list", "--format", "json"]);
    assert!(!stdout(&out).contains(secret));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = j["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["read_only"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("ci", true), ("dev-laptop", true)]);
    assert_eq!(j["raw_tokens"], 0);

    // Refused, with nothing written: a name used already, a bad name.
    let before = fs::read(&map).unwrap();
    let out = run(&root, &["token", "add", "ci"]);
    common::assert_exit_code(&out, 2, "token add of a name used already");
    assert!(
        stderr(&out).contains("`ci` exists already"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    let out = run(&root, &["token", "add", "a b"]);
    common::assert_exit_code(&out, 2, "token add of a bad name");
    assert_eq!(fs::read(&map).unwrap(), before);

    // nginx-config takes the file `token add` wrote.
    let block = stdout(&ok(&root, &["nginx-config"]));
    assert!(block.contains("secure_link_md5"), "{block}");
    assert!(!block.contains(secret));

    // A group-readable file (given to the web server's group) stays so.
    fs::set_permissions(&map, fs::Permissions::from_mode(0o640)).unwrap();
    ok(&root, &["token", "add", "third"]);
    assert_eq!(mode(&map), 0o640);
    ok(&root, &["token", "revoke", "third"]);
    assert_eq!(mode(&map), 0o640);

    // revoke: an unknown name is named; a known one goes, the others stay.
    let out = run(&root, &["token", "revoke", "nope"]);
    common::assert_exit_code(&out, 1, "token revoke of an unknown name");
    let err = stderr(&out);
    assert!(
        err.contains("`nope`") && err.contains("ci, dev-laptop"),
        "{err}"
    );
    ok(&root, &["token", "revoke", "ci"]);
    let file = fs::read_to_string(&map).unwrap();
    assert!(!file.contains("name=ci ") && !file.contains(id), "{file}");
    assert!(file.contains("name=dev-laptop"), "{file}");
    let out = ok(&root, &["token", "revoke", "dev-laptop"]);
    assert!(stderr(&out).contains("no token now"), "{}", stderr(&out));

    // No token left: nginx-config says so and how to add one.
    let out = run(&root, &["nginx-config"]);
    common::assert_exit_code(&out, 2, "nginx-config with no token");
    assert!(stderr(&out).contains("token add NAME"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn token_file_keeps_raw_tokens_added_by_hand() {
    let (_dir, root) = auth_registry();
    let map = root.join(MAP);
    let by_hand = format!("# by hand\n\"~^{TOKEN}$\" 1;\n");
    fs::write(&map, &by_hand).unwrap();
    ok(&root, &["token", "add", "ci"]);
    let file = fs::read_to_string(&map).unwrap();
    assert!(file.starts_with(&by_hand), "{file}");
    let j: serde_json::Value =
        serde_json::from_slice(&ok(&root, &["token", "list", "--format", "json"]).stdout).unwrap();
    assert_eq!(j["raw_tokens"], 1);
    assert!(stderr(&ok(&root, &["token", "list"])).contains("1 raw token"));
    ok(&root, &["token", "revoke", "ci"]);
    assert_eq!(fs::read_to_string(&map).unwrap(), by_hand);
    ok(&root, &["nginx-config"]);
}

#[test]
fn cargo_fetches_with_an_added_token_until_it_is_revoked() {
    let Some(bin) = nginx() else { return };
    let token = RefCell::new(String::new());
    let reg = NginxRegistry::start_with(&bin, &["--auth-required"], true, &|root: &Path| {
        let out = ok(root, &["token", "add", "consumer", "--read-only"]);
        *token.borrow_mut() = stdout(&out).trim().to_owned();
        // A raw token added by hand beside it keeps working.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(root.join(MAP))
            .unwrap();
        writeln!(f, "\"~^{TOKEN}$\" 1;").unwrap();
    });
    let token = token.into_inner();
    assert_token_shape(&token);
    let (env, project) = publish_two_crates_for_a_token_consumer(&reg);

    // Without the token: refused.
    env.cargo_fails(&project, &["generate-lockfile"], "without a token");

    // `cargo login --registry local`, reading the token from stdin as printed.
    let mut login = env.command(&project);
    login
        .args(["login", "--registry", "local"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().expect("run cargo login");
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let out = child.wait_with_output().unwrap();
    common::assert_success(&out, "cargo login --registry local");
    env.cargo_ok(&project, &["generate-lockfile"]);
    env.cargo_ok(&project, &["fetch"]);
    reg.assert_logged("200 GET /config.json");
    reg.assert_logged("200 GET /crates/app-lib/app-lib-1.1.0.crate");

    // The token is checked whole: another secret with the same ID is refused.
    let (id, secret) = token.split_at(token.len() - 64);
    let other = format!("{id}{}", "0".repeat(64));
    assert_ne!(secret, "0".repeat(64));
    assert_status(
        &reg.get("/config.json", &[("Authorization", &other)]),
        401,
        "same ID, other secret",
    );
    assert_status(
        &reg.get(
            "/config.json",
            &[("Authorization", &token.to_ascii_uppercase())],
        ),
        401,
        "upper-cased token",
    );
    assert_status(
        &reg.get("/config.json", &[("Authorization", &token)]),
        200,
        "the token",
    );

    // Revoke, reload: the token gets 401, and cargo is refused.
    ok(&reg.root(), &["token", "revoke", "consumer"]);
    let reloads = || reg.error_log().matches("reconfiguring").count();
    // The old worker keeps accepting connections until it has shut down: wait
    // for nginx's "worker process N exited" too, or cargo may still reach it.
    let exits = || reg.error_log().matches("exited with code").count();
    let before = reloads();
    let exits_before = exits();
    reg.reload();
    let start = Instant::now();
    loop {
        // nginx logs `reconfiguring` when it takes the signal; connections
        // made while it reloads may be reset, so those are tried again.
        let status = if reloads() > before {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                reg.get("/config.json", &[("Authorization", &token)]).status
            }))
            .unwrap_or(0)
        } else {
            0
        };
        if status == 401 && exits() > exits_before {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nginx still answers {status} for a revoked token after a reload (or its old worker is still running)\n{}",
            reg.error_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    env.cargo_fails(&project, &["generate-lockfile"], "with a revoked token");
    reg.assert_logged("401 GET /config.json");
    // The raw token added by hand still works.
    assert_status(
        &reg.get("/config.json", &[("Authorization", TOKEN)]),
        200,
        "the raw token",
    );
}

/// `regtool owner`: a crate from the CLI has no owner; owners are added and
/// removed (any spelling of the crate), in `--format json` too; a crate that
/// has owners keeps at least one; an unknown crate, a user that is not a
/// token name or has no token is refused, and a refusal writes nothing.
#[test]
fn owner_lists_adds_and_removes_and_keeps_one() {
    use common::{CrateBuilder, TestRegistry, assert_exit_code, json, stderr, stdout};
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("Owned-Crate", "1.0.0"));
    for user in ["alice", "bob"] {
        reg.ok(&[&"token", &"add", &user]);
    }
    let out = reg.ok(&[&"owner", &"owned_crate"]);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("has no owner"), "{}", stderr(&out));
    let out = reg.ok(&[
        &"--format",
        &"json",
        &"owner",
        &"owned-crate",
        &"--add",
        &"alice",
        &"--add",
        &"bob",
    ]);
    assert_eq!(
        json(&out),
        serde_json::json!({"name": "Owned-Crate", "owners": ["alice", "bob"], "changed": true})
    );
    let file = reg.root.join(".regtool/owners/owned_crate.json");
    let before = fs::read(&file).unwrap();
    let out = reg.ok(&[&"owner", &"Owned-Crate", &"--add", &"alice"]);
    assert_eq!(stdout(&out), "alice\nbob\n");
    assert_eq!(
        fs::read(&file).unwrap(),
        before,
        "adding an owner again changes nothing"
    );
    for (args, code, says) in [
        (
            vec![
                "owner",
                "Owned-Crate",
                "--remove",
                "alice",
                "--remove",
                "bob",
            ],
            2,
            "without an owner",
        ),
        (
            vec!["owner", "Owned-Crate", "--add", "not a user"],
            2,
            "is not a user",
        ),
        (
            vec!["owner", "Owned-Crate", "--add", "ghost"],
            2,
            "`ghost` has no token in this registry",
        ),
        (vec!["owner", "missing", "--add", "alice"], 1, "`missing`"),
    ] {
        let args: Vec<&dyn AsRef<std::ffi::OsStr>> = args
            .iter()
            .map(|a| a as &dyn AsRef<std::ffi::OsStr>)
            .collect();
        let out = reg.run(&args);
        assert_exit_code(&out, code, says);
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert_eq!(fs::read(&file).unwrap(), before, "{says}: nothing written");
    }
    let out = reg.ok(&[&"owner", &"Owned-Crate", &"--remove", &"alice"]);
    assert_eq!(stdout(&out), "bob\n");

    // An owner whose token is revoked does not count for the last-owner
    // guard: removing the last owner who can act is refused.
    reg.ok(&[&"owner", &"Owned-Crate", &"--add", &"alice"]);
    reg.ok(&[&"token", &"revoke", &"alice"]);
    let before = fs::read(&file).unwrap();
    let out = reg.run(&[&"owner", &"Owned-Crate", &"--remove", &"bob"]);
    assert_exit_code(&out, 2, "without an owner");
    assert!(
        stderr(&out).contains("`alice` has no token any more"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&file).unwrap(), before, "nothing written");
    // Removing the revoked owner is fine while one who can act stays.
    let out = reg.ok(&[&"owner", &"Owned-Crate", &"--remove", &"alice"]);
    assert_eq!(stdout(&out), "bob\n");
}
