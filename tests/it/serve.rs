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
        let mut cmd = regtool();
        cmd.args(["--registry".as_ref(), root.as_os_str()]);
        Serve::spawn(cmd, port, &root.with_file_name("serve.log"))
    }

    /// `CMD serve --listen 127.0.0.1:PORT` (`cmd` names the registry), its
    /// stderr in `log`, once it accepts.
    fn spawn(mut cmd: Command, port: u16, log: &Path) -> Serve {
        let child = cmd
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).expect("create the serve log"))
            .spawn()
            .expect("start regtool serve");
        let mut serve = Serve {
            child,
            log: log.to_path_buf(),
        };
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

    /// Sends SIGTERM and waits (at most 20 s) for the server to end: its
    /// exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for serve") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "serve did not stop on SIGTERM\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// [`cargo_with`], which must succeed (else a panic with its output and
/// `serve`'s log).
#[track_caller]
fn cargo_ok_with(env: &CargoEnv, dir: &Path, token: &str, args: &[&str], serve: &Serve) -> Output {
    let out = cargo_with(env, dir, token, args);
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        serve.log()
    );
    out
}

/// [`cargo_with`], which must fail saying `says` on stderr.
#[track_caller]
fn cargo_fails_with(env: &CargoEnv, dir: &Path, token: &str, args: &[&str], says: &str) {
    let out = cargo_with(env, dir, token, args);
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert!(stderr(&out).contains(says), "{}", describe_output(&out));
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

    // `cargo yank` (or `yank --undo`) of served-lib 0.1.0.
    let yank_args = |undo: bool| {
        let mut a = vec!["yank", "--registry", "local", "served-lib@0.1.0"];
        if undo {
            a.insert(1, "--undo");
        }
        a
    };
    // A read-only token may not publish (refused before its body is read);
    // nothing is written.
    cargo_fails_with(
        &env,
        &pkg,
        &reader,
        &["publish", "--registry", "local", "--no-verify"],
        "(status 403 Forbidden): the token `reader` may not publish: it needs the `publish-new` or `publish-update` scope",
    );
    assert!(!root.join(index_path("served-lib")).exists());
    assert_eq!(fs::read_dir(&root).unwrap().count(), before);

    // The publisher's token publishes: the index line is add's, from the .crate.
    cargo_ok_with(
        &env,
        &pkg,
        &publisher,
        &["publish", "--registry", "local", "--no-verify"],
        &serve,
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
    cargo_fails_with(
        &env,
        &pkg,
        &reader,
        &yank_args(false),
        "it needs the `yank` scope",
    );
    assert_eq!(yanked(&root, "served-lib"), [false]);
    cargo_ok_with(&env, &pkg, &publisher, &yank_args(false), &serve);
    assert_eq!(yanked(&root, "served-lib"), [true]);
    cargo_ok_with(&env, &pkg, &publisher, &yank_args(true), &serve);
    assert_eq!(yanked(&root, "served-lib"), [false]);

    // The first publisher owns the crate; another token with the scopes
    // does not, until an owner adds it.
    let owner_args = |more: &[&'static str]| {
        let mut a = vec!["owner", "--registry", "local"];
        a.extend_from_slice(more);
        a.push("served-lib");
        a
    };
    let out = cargo_ok_with(&env, &pkg, &publisher, &owner_args(&["--list"]), &serve);
    assert!(stdout(&out).contains("alice"), "{}", describe_output(&out));
    cargo_fails_with(
        &env,
        &pkg,
        &mallory,
        &yank_args(false),
        "`mallory` is not an owner of `served-lib`",
    );
    cargo_ok_with(
        &env,
        &pkg,
        &publisher,
        &owner_args(&["--add", "bob"]),
        &serve,
    );
    cargo_ok_with(&env, &pkg, &bob, &yank_args(false), &serve);
    assert_eq!(yanked(&root, "served-lib"), [true]);
    // bob has no change-owners scope; alice removes bob.
    cargo_fails_with(
        &env,
        &pkg,
        &bob,
        &owner_args(&["--remove", "alice"]),
        "needs the `change-owners` scope",
    );
    cargo_ok_with(
        &env,
        &pkg,
        &publisher,
        &owner_args(&["--remove", "bob"]),
        &serve,
    );
    let out = regtool_ok(["--registry", r, "owner", "served-lib"]);
    assert_eq!(stdout(&out), "alice\n");
    cargo_fails_with(
        &env,
        &pkg,
        &bob,
        &yank_args(true),
        "`bob` is not an owner of `served-lib` (its owners: alice)",
    );
    assert_eq!(yanked(&root, "served-lib"), [true]);
    cargo_ok_with(&env, &pkg, &publisher, &yank_args(true), &serve);

    // A revoked token is refused at once (no reload), and nothing changes.
    regtool_ok(["--registry", r, "token", "revoke", "bob"]);
    cargo_fails_with(
        &env,
        &pkg,
        &bob,
        &yank_args(false),
        "(status 401 Unauthorized): the token is not valid for this registry (unknown or revoked): `cargo logout --registry local`",
    );
    assert_eq!(yanked(&root, "served-lib"), [false]);

    // A crate that does not exist is a 404 that says so (not "no owner");
    // an owner that has no token is refused (it could not act, and whoever
    // later got a token of that name would own the crate).
    let missing = http_request(
        port,
        "DELETE",
        "/api/v1/crates/no-such-crate/0.1.0/yank",
        &[("Authorization", &publisher)],
        b"",
    );
    let text = String::from_utf8_lossy(&missing.body);
    assert_eq!(missing.status, 404, "{text}");
    assert!(text.contains("no crate `no-such-crate`"), "{text}");
    cargo_fails_with(
        &env,
        &pkg,
        &publisher,
        &owner_args(&["--add", "nobody"]),
        "`nobody` has no token in this registry",
    );

    // A crate added with the CLI has no owner: only an admin token changes
    // it through the API, until `regtool owner` gives it one.
    reg.publish(&CrateBuilder::new("cli-lib", "1.0.0"));
    cargo_fails_with(
        &env,
        &pkg,
        &publisher,
        &["yank", "--registry", "local", "cli-lib@1.0.0"],
        "has no owner",
    );
    cargo_ok_with(
        &env,
        &pkg,
        &admin,
        &["yank", "--registry", "local", "cli-lib@1.0.0"],
        &serve,
    );
    regtool_ok(["--registry", r, "owner", "cli-lib", "--add", "alice"]);
    cargo_ok_with(
        &env,
        &pkg,
        &publisher,
        &["yank", "--undo", "--registry", "local", "cli-lib@1.0.0"],
        &serve,
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

/// A registry at `dir/registry` served by `regtool serve` alone (its URL and
/// its `api` both the server's), made with `init_args`; returns the root,
/// the port and the URL.
fn serve_alone(dir: &Path, init_args: &[&str]) -> (PathBuf, u16, String) {
    let root = dir.join("registry");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut args = vec!["init", root.to_str().unwrap(), "--url", &url, "--api", &url];
    args.extend_from_slice(init_args);
    regtool_ok(&args);
    (root, port, url)
}

/// cargo's publish frame around `json` and `krate`.
fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
    let mut v = (json.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(json);
    v.extend_from_slice(&(krate.len() as u32).to_le_bytes());
    v.extend_from_slice(krate);
    v
}

/// `PUT /api/v1/crates/new` on `port` with `body` (a frame) and `token`.
fn put_new(port: u16, token: &str, body: &[u8]) -> HttpResponse {
    http_request(
        port,
        "PUT",
        "/api/v1/crates/new",
        &[("Authorization", token)],
        body,
    )
}

/// A publish of a small new crate `name` 1.0.0 (as cargo frames it) on
/// `port` with `token`, which must succeed.
#[track_caller]
fn publish_ok(port: u16, token: &str, name: &str) {
    let krate = CrateBuilder::new(name, "1.0.0").build();
    let json = format!(r#"{{"name":"{name}","vers":"1.0.0","deps":[]}}"#);
    let r = put_new(port, token, &frame(json.as_bytes(), &krate));
    assert_eq!(
        r.status,
        200,
        "{name}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

#[test]
fn serve_alone_is_a_whole_registry_that_requires_a_token() {
    let dir = tempdir();
    let (root, port, url) = serve_alone(dir.path(), &["--auth-required"]);
    let alice = token(&root, "alice", &["--scope", "publish-new"]);
    let serve = Serve::start(&root, port);
    let env = CargoEnv::new()
        .with_registry("local", &format!("sparse+{url}/"))
        .with_config("[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    let scratch = dir.path().join("scratch");
    let pkg = package(&scratch, "alone-lib", "1.0.0");
    cargo_ok_with(
        &env,
        &pkg,
        &alice,
        &["publish", "--registry", "local", "--no-verify"],
        &serve,
    );

    // A workspace of three crates that depend on each other, published at
    // once: cargo sends them dependencies first, each through add's path.
    let ws = scratch.join("ws");
    fs::create_dir_all(&ws).unwrap();
    fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"ws-a\", \"ws-b\", \"ws-c\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    for (name, dep) in [
        ("ws-a", None),
        ("ws-b", Some("ws-a")),
        ("ws-c", Some("ws-b")),
    ] {
        // A member: no `[workspace]` of its own, its dependency by path.
        let p = package(&ws, name, "0.2.0");
        let deps = dep
            .map(|d| {
                format!("\n[dependencies]\n{d} = {{ version = \"0.2\", path = \"../{d}\", registry = \"local\" }}\n")
            })
            .unwrap_or_default();
        let manifest = fs::read_to_string(p.join("Cargo.toml")).unwrap();
        fs::write(
            p.join("Cargo.toml"),
            manifest.replace("\n[workspace]\n", &deps),
        )
        .unwrap();
    }
    cargo_ok_with(
        &env,
        &ws,
        &alice,
        &[
            "publish",
            "--workspace",
            "--registry",
            "local",
            "--no-verify",
        ],
        &serve,
    );
    let c = read_index_lines(&root, "ws-c");
    assert_eq!(c[0]["deps"][0]["name"], "ws-b", "{c:?}");
    assert!(
        c[0]["deps"][0].get("registry").is_none_or(|r| r.is_null()),
        "{c:?}"
    );

    // cargo search, with the catalogue on: from its search data, with the
    // manifest's description.
    let out = cargo_ok_with(
        &env,
        &pkg,
        &alice,
        &["search", "--registry", "local", "alone"],
        &serve,
    );
    assert!(
        stdout(&out).contains("alone-lib = \"1.0.0\"") && stdout(&out).contains("# served"),
        "{}",
        describe_output(&out)
    );

    // A fresh project builds from serve alone, with the token; without it
    // cargo gets the 401 handshake and says it needs one.
    let consumer = env.project_with_main(
        "alone-lib = { version = \"1\", registry = \"local\" }\nws-c = { version = \"0.2\", registry = \"local\" }",
        "fn main() { assert_eq!(alone_lib::answer(), 42); }\n",
    );
    cargo_ok_with(&env, &consumer, &alice, &["build"], &serve);
    let out = env.cargo(&consumer, &["update"]);
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert!(stderr(&out).contains("token"), "{}", describe_output(&out));
    // An unknown (or revoked) token gets a 401 too, so that cargo says the
    // token was rejected and asks for a login, instead of a bare 403.
    let out = cargo_with(&env, &consumer, "rgt_0123456789abcdef_00", &["update"]);
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert!(
        stderr(&out).contains("token rejected for `local`"),
        "{}",
        describe_output(&out)
    );

    // Index files carry an ETag and answer 304 to it; nothing of .regtool/
    // is served, to a valid token either.
    let auth = [("Authorization", alice.as_str())];
    let first = http_request(
        port,
        "GET",
        &format!("/{}", index_path("alone-lib")),
        &auth,
        b"",
    );
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = http_request(
        port,
        "GET",
        &format!("/{}", index_path("alone-lib")),
        &[auth[0], ("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(again.status, 304);
    for path in [
        "/.regtool/nginx-tokens.map",
        "/.regtool/owners/alone_lib.json",
        "/crates/../.regtool/config.toml",
        "/crates/%2e%2e/.regtool/lock",
    ] {
        let r = http_request(port, "GET", path, &auth, b"");
        assert_eq!(
            r.status,
            404,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = http_request(port, "GET", "/config.json", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Cargo"));
}

#[test]
fn hostile_publish_bodies_are_refused_and_write_nothing() {
    let dir = tempdir();
    let (root, port, _) = serve_alone(dir.path(), &[]);
    let alice = token(&root, "alice", &["--scope", "publish-new"]);
    let mut serve = Serve::start(&root, port);
    let before = tree_all(&root);
    let krate = CrateBuilder::new("hostile", "1.0.0").build();
    let json = br#"{"name":"hostile","vers":"1.0.0","deps":[]}"#;
    let good = frame(json, &krate);
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"x");
    let mut lying = good.clone();
    lying[..4].copy_from_slice(&(json.len() as u32 + 1000).to_le_bytes());
    // A .crate announced over max-crate-size (10 MiB): refused before it is sent.
    let mut oversize = frame(json, b"");
    let at = oversize.len() - 4;
    oversize[at..].copy_from_slice(&(100u32 << 20).to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a .crate over max-crate-size",
            oversize,
            "the .crate is 104857600 bytes, over this registry's limit of 10485760 bytes",
        ),
        ("truncated", good[..good.len() - 10].to_vec(), "only"),
        ("trailing bytes", trailing, "after the .crate"),
        ("a lying length", lying, "length prefix"),
        (
            "another name",
            frame(br#"{"name":"other","vers":"1.0.0","deps":[]}"#, &krate),
            "`name`",
        ),
        (
            "another version",
            frame(br#"{"name":"hostile","vers":"1.0.1","deps":[]}"#, &krate),
            "`vers`",
        ),
        (
            "a dependency the .crate lacks",
            frame(
                br#"{"name":"hostile","vers":"1.0.0","deps":[{"name":"serde"}]}"#,
                &krate,
            ),
            "`deps`",
        ),
        ("JSON that is not", frame(b"{", &krate), "not valid JSON"),
        (
            "a .crate that is not",
            frame(json, b"not gzip"),
            "hostile@1.0.0: not a gzip file",
        ),
    ];
    for (what, body, says) in cases {
        let r = put_new(port, &alice, &body);
        let text = String::from_utf8_lossy(&r.body);
        let want = if what.contains("max-crate-size") {
            413
        } else {
            400
        };
        assert_eq!(r.status, want, "{what}: {text}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON errors");
        let detail = v["errors"][0]["detail"].as_str().expect("a detail");
        assert!(detail.contains(says), "{what}: {detail}");
        assert!(!detail.contains(".regtool"), "{what}: {detail}");
    }
    for (what, headers) in [
        ("no token", vec![]),
        (
            "an unknown token",
            vec![("Authorization", "rgt_0123456789abcdef_00")],
        ),
    ] {
        let r = http_request(port, "PUT", "/api/v1/crates/new", &headers, &good);
        assert!(r.status == 401 || r.status == 403, "{what}: {}", r.status);
    }
    // The staging files are gone too.
    assert_tree_eq(
        &before,
        &tree_all(&root),
        "the registry after hostile publishes",
    );
    // A client that sends half its headers is cut off (the header timeout,
    // 10 s) and holds nobody up meanwhile.
    {
        use std::io::{Read as _, Write as _};
        let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        slow.write_all(b"GET /config.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .unwrap();
        let start = std::time::Instant::now();
        let r = http_request(port, "GET", "/config.json", &[], b"");
        assert_eq!(r.status, 200);
        slow.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest);
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(20),
            "a slow client held its connection for {waited:?}: {}",
            String::from_utf8_lossy(&rest)
        );
    }
    // SIGTERM ends the server cleanly.
    let status = serve.terminate();
    assert!(status.success(), "{status}\n{}", serve.log());
}

/// A publish whose headers (announcing a 10 MB body, with `token` if any)
/// and first KiB are sent; the rest never comes.
fn partial_publish(port: u16, token: Option<&str>) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: {t}\r\n"));
    let head = format!(
        "PUT /api/v1/crates/new HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 10000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut body = frame(br#"{"name":"big","vers":"1.0.0","deps":[]}"#, &[]);
    let at = body.len() - 4;
    body[at..].copy_from_slice(&9_000_000u32.to_le_bytes());
    body.resize(1024, 0);
    stream.write_all(&body).unwrap();
    stream
}

/// The status line and the rest of what `stream` answers, waiting at most 5 s.
fn answer(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read as _;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let _ = stream
        .read(&mut buf)
        .map(|n| got.extend_from_slice(&buf[..n]));
    String::from_utf8_lossy(&got).into_owned()
}

/// The staging files of publishes being received.
fn staged(root: &Path) -> usize {
    fs::read_dir(root.join(".regtool/tmp")).map_or(0, |d| d.count())
}

/// A publish without a token, with an unknown one or with one that may not
/// publish is refused from its headers, before a byte of its body is stored;
/// and one `serve` receives at most 16 publishes at once (503 past them), so
/// that clients cannot fill the registry's disk with staging files.
#[test]
fn publishes_are_refused_before_their_body_is_stored() {
    let dir = tempdir();
    let (root, port, _) = serve_alone(dir.path(), &[]);
    let alice = token(&root, "alice", &["--scope", "publish-new"]);
    let reader = token(&root, "reader", &[]);
    let yanker = token(&root, "yanker", &["--scope", "yank"]);
    let serve = Serve::start(&root, port);
    for (what, token, status) in [
        ("no token", None, "401"),
        ("an unknown token", Some("rgt_0123456789abcdef_00"), "401"),
        ("a read-only token", Some(reader.as_str()), "403"),
        (
            "a token without a publish scope",
            Some(yanker.as_str()),
            "403",
        ),
    ] {
        let mut stream = partial_publish(port, token);
        let got = answer(&mut stream);
        assert!(
            got.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: {got:?}\n{}",
            serve.log()
        );
        assert_eq!(staged(&root), 0, "{what}: a staging file");
    }
    let held: Vec<_> = (0..16)
        .map(|_| partial_publish(port, Some(&alice)))
        .collect();
    let start = std::time::Instant::now();
    while staged(&root) < 16 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut more = partial_publish(port, Some(&alice));
    let got = answer(&mut more);
    assert!(got.starts_with("HTTP/1.1 503"), "{got:?}");
    assert!(got.contains("16 changes under way already"), "{got:?}");
    assert_eq!(staged(&root), 16);
    // Once those clients are gone (the server sees each close), publishes
    // are taken again.
    drop(held);
    let krate = CrateBuilder::new("after", "1.0.0").build();
    let body = frame(br#"{"name":"after","vers":"1.0.0","deps":[]}"#, &krate);
    let start = std::time::Instant::now();
    let r = loop {
        let r = put_new(port, &alice, &body);
        if r.status != 503 || start.elapsed() > Duration::from_secs(10) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// While another writer holds the registry (a long `reindex`), at most 16
/// changes wait for it (503 past them, at once), so waiting changes cannot
/// take the threads reads need: `config.json` is served meanwhile. Two
/// `Authorization` headers are refused (a proxy and `serve` could disagree
/// on who is calling).
#[test]
fn changes_waiting_for_the_writer_are_bounded_and_reads_go_on() {
    let dir = tempdir();
    let (root, port, _) = serve_alone(dir.path(), &[]);
    let alice = token(&root, "alice", &["--scope", "publish-new,yank"]);
    let reader = token(&root, "reader", &[]);
    let serve = Serve::start(&root, port);
    let krate = CrateBuilder::new("held", "1.0.0").build();
    let publish = |auth: &[(&str, &str)]| {
        http_request(
            port,
            "PUT",
            "/api/v1/crates/new",
            auth,
            &frame(br#"{"name":"held","vers":"1.0.0","deps":[]}"#, &krate),
        )
    };
    let two = publish(&[("Authorization", &reader), ("Authorization", &alice)]);
    assert_eq!(two.status, 400, "{}", String::from_utf8_lossy(&two.body));
    publish_ok(port, &alice, "held");

    // Another process holds the folder's writer lock for 5 s.
    let lock = root.join(".regtool/lock");
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(5)",
            lock.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "held\n");
    }
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let yanks: Vec<_> = (0..24)
            .map(|_| {
                s.spawn(|| {
                    let r = http_request(
                        port,
                        "DELETE",
                        "/api/v1/crates/held/1.0.0/yank",
                        &[("Authorization", &alice)],
                        b"",
                    );
                    (r.status, String::from_utf8_lossy(&r.body).into_owned())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(1));
        let start = std::time::Instant::now();
        let r = http_request(port, "GET", "/config.json", &[], b"");
        assert_eq!(r.status, 200);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "config.json took {:?} while changes waited",
            start.elapsed()
        );
        yanks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    holder.wait().unwrap();
    let busy = statuses.iter().filter(|(s, _)| *s == 503).count();
    assert!(
        statuses.iter().all(|(s, _)| *s == 200 || *s == 503),
        "{statuses:?}\n{}",
        serve.log()
    );
    assert!(busy >= 8, "{busy} of 24 refused: {statuses:?}");
    assert!(
        statuses
            .iter()
            .any(|(s, b)| *s == 503 && b.contains("16 changes under way")),
        "{statuses:?}"
    );
    assert_eq!(yanked(&root, "held"), [true]);

    // An admin token limited to crate patterns is an admin of those only.
    let admz = token(&root, "admz", &["--scope", "admin", "--crates", "zz*"]);
    let r = http_request(
        port,
        "PUT",
        "/api/v1/crates/held/1.0.0/unyank",
        &[("Authorization", &admz)],
        b"",
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(yanked(&root, "held"), [true]);
}

/// Resident memory of the process `pid` (bytes), from `/proc`.
fn resident(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// `serve` serves only the files a registry publishes (what
/// `nginx-config` serves): an operator's own file, a folder or a path too
/// long for the file system is a 404 that names nothing; and a large
/// `.crate` is streamed, so that downloads that stall hold a few chunks
/// each, not the file (its bytes, `Content-Length`, `ETag` and 304 as for
/// any file).
#[test]
fn serve_streams_large_files_and_serves_only_published_ones() {
    let dir = tempdir();
    let (root, port, _) = serve_alone(dir.path(), &["--no-html"]);
    // 8 MB that do not compress.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..8_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let big = CrateBuilder::new("huge", "1.0.0")
        .file("huge/noise.bin", &noise)
        .write_to(dir.path());
    regtool_ok([
        "--registry",
        root.to_str().unwrap(),
        "add",
        big.to_str().unwrap(),
    ]);
    let krate = fs::read(&big).unwrap();
    fs::write(root.join("notes.txt"), "an operator's secret").unwrap();
    fs::write(root.join("crates/huge/notes.txt"), "another").unwrap();
    let mut serve = Serve::start(&root, port);

    let long = format!("/{}", "a/".repeat(20_000));
    for path in [
        "/notes.txt",
        "/crates/huge/notes.txt",
        "/crates/huge",
        "/crates",
        &long,
    ] {
        let r = http_request(port, "GET", path, &[], b"");
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 404, "{}: {body}", &path[..path.len().min(40)]);
        assert!(!body.contains(root.to_str().unwrap()), "{body}");
        assert!(body.len() < 200, "{body}");
    }

    // Search with the catalogue off reads the index: no description.
    let r = http_request(port, "GET", "/api/v1/crates?q=hug", &[], b"");
    let found: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        found,
        serde_json::json!({"crates": [{"name": "huge", "max_version": "1.0.0", "description": null}],
            "meta": {"total": 1}})
    );

    let path = "/crates/huge/huge-1.0.0.crate";
    let r = http_request(port, "GET", path, &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body == krate, "the streamed .crate differs from the file");
    assert_eq!(
        r.header("content-length"),
        Some(krate.len().to_string().as_str())
    );
    let etag = r.header("etag").expect("an ETag").to_owned();
    let again = http_request(port, "GET", path, &[("If-None-Match", &etag)], b"");
    assert_eq!(again.status, 304);

    // 24 downloads of it that read nothing: the server's memory grows by
    // far less than 24 copies of the file (192 MB).
    let pid = serve.child.id();
    let before = resident(pid);
    let stalled: Vec<std::net::TcpStream> = (0..24)
        .map(|_| {
            use std::io::Write as _;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let grown = resident(pid).saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "24 stalled downloads grew serve by {} MB",
        grown >> 20
    );
    // SIGTERM: the stalled downloads get 10 s, then serve stops anyway.
    let status = serve.terminate();
    assert!(status.success(), "{status}\n{}", serve.log());
    assert!(
        serve.log().contains("connections are dropped"),
        "{}",
        serve.log()
    );
    drop(stalled);
}

#[cfg(feature = "s3")]
#[test]
fn two_serve_instances_on_one_bucket_take_concurrent_publishes() {
    let Some(moto) = MotoServer::shared("regtool serve on a registry in an S3 bucket") else {
        return;
    };
    let bucket = moto.bucket();
    let dir = tempdir();
    let (pa, pb) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{pa}");
    let reg = bucket.url("reg");
    bucket.ok(&["init", &reg, "--url", &url]);
    bucket.ok(&["--registry", &reg, "settings", "--api", &url]);
    let out = bucket.ok(&[
        "--registry",
        &reg,
        "--format",
        "json",
        "token",
        "add",
        "alice",
        "--scope",
        "publish-new",
    ]);
    let alice = json(&out)["token"].as_str().expect("a token").to_owned();
    let serve_on = |port: u16, log: &str| {
        let mut cmd = bucket.command();
        cmd.args(["--registry", &reg, "--lock-timeout", "2m"]);
        Serve::spawn(cmd, port, &dir.path().join(log))
    };
    let a = serve_on(pa, "a.log");
    let b = serve_on(pb, "b.log");

    // Eight publishes at once, four through each instance, and a CLI add
    // beside them: each lands once.
    let cli = dir.path().join("cli-1.0.0.crate");
    fs::write(&cli, CrateBuilder::new("cli", "1.0.0").build()).unwrap();
    std::thread::scope(|s| {
        for i in 0..8 {
            let (port, alice) = (if i % 2 == 0 { pa } else { pb }, &alice);
            s.spawn(move || publish_ok(port, alice, &format!("conc-{i}")));
        }
        s.spawn(|| bucket.add(&reg, std::slice::from_ref(&cli)));
    });
    let list = json(&bucket.ok(&["--registry", &reg, "--format", "json", "list"]));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "cli", "conc-0", "conc-1", "conc-2", "conc-3", "conc-4", "conc-5", "conc-6", "conc-7"
        ],
        "{}\n{}",
        a.log(),
        b.log()
    );
    bucket.ok(&["--registry", &reg, "verify"]);

    // One publish takes the writer once: the authorization and the new
    // crate's claim happen under the writer that adds it, so the lease is
    // written twice (taken, released), not four times.
    let during = bucket.requests_during(|| publish_ok(pa, &alice, "one-writer"));
    let lease_writes = during
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/reg/.regtool/lease "))
        .count();
    assert_eq!(lease_writes, 2, "{} requests: {during:#?}", during.len());

    // Real cargo publishes through the first instance, and a fresh project
    // builds from it alone (index and .crate files read from the bucket).
    let env = CargoEnv::new()
        .with_registry("local", &format!("sparse+{url}/"))
        .with_config("[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    let pkg = package(&dir.path().join("scratch"), "bucket-lib", "1.0.0");
    cargo_ok_with(
        &env,
        &pkg,
        &alice,
        &["publish", "--registry", "local", "--no-verify"],
        &a,
    );
    let consumer = env.project_with_main(
        "bucket-lib = { version = \"1\", registry = \"local\" }",
        "fn main() { assert_eq!(bucket_lib::answer(), 42); }\n",
    );
    env.cargo_ok(&consumer, &["build"]);
}

/// Kills the process whose pid the file holds, when dropped (a server a
/// shell started in the background).
struct KillPid(PathBuf);

impl Drop for KillPid {
    fn drop(&mut self) {
        if let Ok(pid) = fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// README's serve section, run as written (its path, URL and port replaced):
/// the admin's block (settings --api, token add, serve), then the developer's
/// (cargo login with the token on stdin, cargo publish).
#[test]
fn readme_serve_blocks_run_as_written() {
    use std::io::Write as _;
    let dir = tempdir();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let root = dir.path().join("registry");
    // README's registry is served at https://crates.example.com, so it is
    // named `example`; this one is served by `serve` alone.
    regtool_ok([
        "init",
        root.to_str().unwrap(),
        "--url",
        &url,
        "--name",
        "example",
    ]);
    let log = dir.path().join("serve.log");
    let pid = dir.path().join("serve.pid");
    let admin = readme_block("serve:admin");
    assert_eq!(admin.lang, "sh");
    let script = substitute(
        &admin.text,
        &[
            ("/srv/registry", root.to_str().unwrap()),
            ("https://crates.example.com", &url),
            (
                "serve --listen 127.0.0.1:8080",
                &format!(
                    "serve --listen 127.0.0.1:{port} >/dev/null 2>{} & echo $! >{}",
                    log.display(),
                    pid.display()
                ),
            ),
        ],
    );
    // Whatever happens, the server goes at the end.
    let _kill = KillPid(pid.clone());
    let out = run_with_timeout(bash(&script, dir.path(), &[], &[]), REGTOOL_TIMEOUT);
    assert!(out.status.success(), "{}", describe_output(&out));
    let token = stdout(&out)
        .lines()
        .find(|l| l.starts_with("rgt_"))
        .expect("token add prints the token")
        .to_owned();
    wait_for_listener(port, Duration::from_secs(30), &mut || None)
        .unwrap_or_else(|e| panic!("{e}\n{}", fs::read_to_string(&log).unwrap_or_default()));

    let env = CargoEnv::new()
        .with_registry("example", &format!("sparse+{url}/"))
        .with_config("[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    let pkg = package(&dir.path().join("scratch"), "readme-lib", "1.0.0");
    let script = readme_block("serve:cargo");
    assert_eq!(script.lang, "sh");
    let home = env.home();
    let target = env.target_dir();
    let mut cmd = bash(
        &script.text,
        &pkg,
        &[],
        &[
            ("CARGO_HOME", home.to_str().unwrap()),
            ("CARGO_TARGET_DIR", target.to_str().unwrap()),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run README's cargo block");
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        describe_output(&out),
        fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(read_index_lines(&root, "readme-lib").len(), 1);
}

/// The staging files in the registry's temp folder, by name.
fn staging_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root.join(".regtool/tmp"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A publish cut by a SIGKILL of `serve` leaves its staging file; the next
/// `serve` removes it once it is older than the request bound (120 s), but
/// never a staging file a running regtool holds (here one this test holds
/// open with the shared lock every staging file carries), nor a fresh one.
#[test]
fn serve_sweeps_staging_files_a_killed_serve_left() {
    let dir = tempdir();
    let (root, port, _) = serve_alone(dir.path(), &[]);
    let alice = token(&root, "alice", &["--scope", "publish-new"]);
    let mut serve = Serve::start(&root, port);
    let _stream = partial_publish(port, Some(&alice));
    let start = std::time::Instant::now();
    while staging_names(&root).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", serve.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    drop(serve);
    let killed = staging_names(&root);
    assert_eq!(killed.len(), 1, "{killed:?}");

    let tmp = root.join(".regtool/tmp");
    let old = std::time::SystemTime::now() - Duration::from_secs(121);
    let age = |name: &str, when| {
        let f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(tmp.join(name))
            .unwrap();
        f.set_modified(when).unwrap();
        f
    };
    drop(age(&killed[0], old));
    let held = age("add-held", old);
    held.lock_shared().unwrap();
    drop(age("add-fresh", std::time::SystemTime::now()));

    let mut serve = Serve::start(&root, port);
    assert_eq!(
        staging_names(&root),
        ["add-fresh", "add-held"],
        "{}",
        serve.log()
    );
    assert_eq!(serve.terminate().code(), Some(0));
    assert!(serve.log().contains("1 staging file"), "{}", serve.log());
    drop(held);
}

/// An outage of the bucket's S3 endpoint (5xx answers, or no answer at all)
/// is a 503 with `Retry-After` and a short sentence, not a 500 with the
/// endpoint in it; the cause goes to the log; the registry answers again
/// once the endpoint is back.
#[test]
fn a_storage_outage_is_a_503_with_retry_after() {
    let Some(moto) = MotoServer::shared("regtool serve through a failing S3 endpoint") else {
        return;
    };
    let bucket = moto.bucket();
    let dir = tempdir();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let reg = bucket.url("reg");
    bucket.ok(&["init", &reg, "--url", &url, "--api", &url]);
    let proxy = bucket.proxy();
    let endpoint = proxy.endpoint("serve");
    let mut cmd = bucket.command_via(&endpoint);
    cmd.args(["--registry", &reg]);
    let serve = Serve::spawn(cmd, port, &dir.path().join("serve.log"));
    let get = || http_request(port, "GET", "/config.json", &[], b"");
    assert_eq!(get().status, 200);
    for fault in [ProxyFault::Status(503), ProxyFault::DropBefore] {
        proxy.rule(Rule::new(fault.clone()));
        let r = get();
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, 503, "{fault:?}: {body}");
        assert!(r.header("Retry-After").is_some(), "{fault:?}: {r:?}");
        assert!(body.contains("unavailable"), "{fault:?}: {body}");
        assert!(!body.contains("127.0.0.1"), "{fault:?}: {body}");
        proxy.clear_rules();
        assert_eq!(get().status, 200, "{fault:?}");
    }
    assert!(
        serve.log().contains("storage is unavailable"),
        "{}",
        serve.log()
    );
}
