//! End-to-end tests of `regtool nginx-config` with a real nginx and the real
//! cargo: regtool writes a registry and the server block, nginx serves it from a
//! temp folder on 127.0.0.1, and cargo resolves and downloads through it.
//!
//! nginx is looked up on PATH and in the usual sbin folders; the tests never
//! install it (`.ci/run` does, with apt-get). Without nginx the nginx tests
//! print that they were skipped and how to install it; with `CI` set they fail
//! instead.

use crate::common;

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{CargoEnv, CrateBuilder, regtool, regtool_ok, run_with_timeout};

// ---------------------------------------------------------------------------
// Finding (or installing) nginx
// ---------------------------------------------------------------------------

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn find_nginx() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/usr/local/nginx/sbin",
                "/sbin",
            ]
            .iter()
            .map(PathBuf::from),
        )
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// The nginx binary. `None` (after printing that the test is skipped and how
/// to install nginx) when there is none; panics instead under CI, where the
/// nginx tests must run. Tests never install anything: `.ci/run` installs
/// nginx before running them.
pub(crate) fn nginx(test: &str) -> Option<PathBuf> {
    static NGINX: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = NGINX.get_or_init(find_nginx);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: nginx is not installed; CI must run the nginx tests (.ci/run installs it with apt-get)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped: nginx is not installed (on Debian or Ubuntu: `sudo apt-get install nginx`; `.ci/run` installs it)"
        );
    }
    found.clone()
}

// ---------------------------------------------------------------------------
// A registry served by nginx
// ---------------------------------------------------------------------------

/// A token in the shape `openssl rand -hex 32` prints.
pub(crate) const TOKEN: &str = "3c1e0f5a9b7d42e6a8c0d1f2e3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f70";

/// A registry in a temp folder, served by an nginx started with regtool's
/// server block; nginx is killed when this is dropped.
pub(crate) struct NginxRegistry {
    child: Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    nginx: PathBuf,
    /// Whether nginx runs as a master and a worker (which `nginx -s reload` needs).
    master: bool,
}

impl Drop for NginxRegistry {
    fn drop(&mut self) {
        if self.master {
            // A killed master would leave its worker behind: ask it to stop
            // (`nginx -s stop` sends SIGTERM to the pid in its pid file).
            let ngx = self.dir.path().join("nginx");
            let stopped = Command::new(&self.nginx)
                .arg("-p")
                .arg(&ngx)
                .arg("-c")
                .arg(ngx.join("nginx.conf"))
                .arg("-e")
                .arg(ngx.join("logs/error.log"))
                .args(["-s", "stop"])
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = self.child.kill();
            }
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

impl NginxRegistry {
    /// `regtool init` (with `init_args`), the token file for an auth registry,
    /// `regtool nginx-config --listen 127.0.0.1:PORT`, and nginx started on it.
    /// Retries on another port if the one picked was taken meanwhile.
    pub(crate) fn start(nginx: &Path, init_args: &[&str]) -> NginxRegistry {
        Self::start_with(nginx, init_args, false, &|root: &Path| {
            if init_args.contains(&"--auth-required") {
                fs::write(
                    root.join(".regtool/nginx-tokens.map"),
                    format!("# the CI token\n\"~^{TOKEN}$\" 1;\n"),
                )
                .expect("write token file");
            }
        })
    }

    /// Like [`NginxRegistry::start`], with `tokens` called on the registry
    /// folder after `init` and before `nginx-config` (to write the token file),
    /// and with `master` a master process and a worker, as nginx runs when
    /// installed, so that [`NginxRegistry::reload`] works (a single nginx
    /// process, `master_process off`, does not reload reliably).
    pub(crate) fn start_with(
        nginx: &Path,
        init_args: &[&str],
        master: bool,
        tokens: &dyn Fn(&Path),
    ) -> NginxRegistry {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(nginx, init_args, master, tokens) {
                Ok(reg) => return reg,
                Err(e) => last = e,
            }
        }
        panic!("nginx did not start:\n{last}");
    }

    fn try_start(
        nginx: &Path,
        init_args: &[&str],
        master: bool,
        tokens: &dyn Fn(&Path),
    ) -> Result<NginxRegistry, String> {
        let dir = common::tempdir();
        let port = free_port();
        let root = dir.path().join("registry");
        let mut args: Vec<std::ffi::OsString> = vec![
            "init".into(),
            root.clone().into(),
            "--url".into(),
            format!("http://127.0.0.1:{port}").into(),
        ];
        args.extend(init_args.iter().map(Into::into));
        regtool_ok(&args);
        tokens(&root);
        let out = regtool_ok([
            "--registry".as_ref(),
            root.as_os_str(),
            "nginx-config".as_ref(),
            "--listen".as_ref(),
            format!("127.0.0.1:{port}").as_ref(),
        ]);
        let block = String::from_utf8(out.stdout).expect("UTF-8 block");
        let ngx = dir.path().join("nginx");
        for sub in ["logs", "tmp"] {
            fs::create_dir_all(ngx.join(sub)).expect("create nginx folders");
        }
        fs::write(ngx.join("registry.conf"), &block).expect("write block");
        let types = if Path::new("/etc/nginx/mime.types").is_file() {
            "include /etc/nginx/mime.types;".to_owned()
        } else {
            "types { text/html html; application/json json; }".to_owned()
        };
        let n = ngx.display();
        let conf = format!(
            "{user}daemon off;\nmaster_process {master};\nworker_processes 1;\npid {n}/nginx.pid;\nerror_log {n}/logs/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n    {types}\n    default_type application/octet-stream;\n    \
             log_format regtool '$status $request_method $uri';\n    \
             access_log {n}/logs/access.log regtool;\n    \
             client_body_temp_path {n}/tmp/body;\n    proxy_temp_path {n}/tmp/proxy;\n    \
             fastcgi_temp_path {n}/tmp/fastcgi;\n    uwsgi_temp_path {n}/tmp/uwsgi;\n    \
             scgi_temp_path {n}/tmp/scgi;\n    \
             include {n}/registry.conf;\n}}\n",
            user = if is_root() { "user root;\n" } else { "" },
            master = if master { "on" } else { "off" },
        );
        fs::write(ngx.join("nginx.conf"), conf).expect("write nginx.conf");
        let mut child = Command::new(nginx)
            .arg("-p")
            .arg(&ngx)
            .arg("-c")
            .arg(ngx.join("nginx.conf"))
            .arg("-e")
            .arg(ngx.join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", nginx.display()))?;
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(ngx.join("logs/error.log")).unwrap_or_default();
                return Err(format!(
                    "nginx exited ({status})\n--- error.log ---\n{log}\n--- server block ---\n{block}"
                ));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(NginxRegistry {
                    child,
                    port,
                    dir,
                    nginx: nginx.to_path_buf(),
                    master,
                });
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                return Err("nginx did not listen within 20s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("registry")
    }

    pub(crate) fn index_url(&self) -> String {
        format!("sparse+http://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn publish(&self, krate: &CrateBuilder) -> PathBuf {
        let path = krate.write_to(&self.dir.path().join("scratch"));
        regtool_ok([
            "--registry".as_ref(),
            self.root().as_os_str(),
            "add".as_ref(),
            path.as_os_str(),
        ]);
        path
    }

    /// nginx's access log: one `STATUS METHOD URI` line per request.
    pub(crate) fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("nginx/logs/access.log")).unwrap_or_default()
    }

    #[track_caller]
    pub(crate) fn assert_logged(&self, line: &str) {
        let log = self.access_log();
        assert!(
            log.lines().any(|l| l == line),
            "nginx's access log has no `{line}` line:\n{log}"
        );
    }

    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, "GET", path, headers)
    }

    fn head(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, "HEAD", path, headers)
    }

    /// `nginx -s reload`, as an admin runs it after a change of the token
    /// file: nginx rereads its configuration and the files it includes.
    pub(crate) fn reload(&self) {
        let ngx = self.dir.path().join("nginx");
        let mut cmd = Command::new(&self.nginx);
        cmd.arg("-p")
            .arg(&ngx)
            .arg("-c")
            .arg(ngx.join("nginx.conf"))
            .arg("-e")
            .arg(ngx.join("logs/error.log"))
            .args(["-s", "reload"]);
        let out = run_with_timeout(cmd, Duration::from_secs(30));
        common::assert_success(&out, "nginx -s reload");
    }

    /// nginx's error log, for messages.
    pub(crate) fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("nginx/logs/error.log")).unwrap_or_default()
    }
}

fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    common::http_request(port, method, path, headers, b"")
}

pub(crate) type Response = common::HttpResponse;

pub(crate) fn two_crates(index_url: &str) -> (CrateBuilder, CrateBuilder) {
    let base =
        CrateBuilder::new("base-lib", "1.0.0").file("src/lib.rs", "pub fn base() -> u32 { 40 }\n");
    let app = CrateBuilder::new("app-lib", "1.1.0")
        .manifest_extra(&format!(
            "[dependencies.base-lib]\nversion = \"^1.0\"\nregistry-index = \"{index_url}\"\n"
        ))
        .file(
            "src/lib.rs",
            "pub fn answer() -> u32 { base_lib::base() + 2 }\n",
        );
    (base, app)
}

/// Publishes [`two_crates`] into `reg` and makes a cargo consumer of `app-lib`
/// from it: a registry `local` that needs a token (through cargo's
/// `cargo:token` credential provider), none given yet.
pub(crate) fn publish_two_crates_for_a_token_consumer(reg: &NginxRegistry) -> (CargoEnv, PathBuf) {
    let (base, app) = two_crates(&reg.index_url());
    reg.publish(&base);
    reg.publish(&app);
    let env = CargoEnv::new()
        .with_registry("local", &reg.index_url())
        .with_config("[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    let project = env.project("app-lib = { version = \"1\", registry = \"local\" }\n");
    (env, project)
}

#[track_caller]
pub(crate) fn assert_status(resp: &Response, status: u16, what: &str) {
    assert_eq!(
        resp.status,
        status,
        "{what}: {resp:?} (body: {})",
        String::from_utf8_lossy(&resp.body)
    );
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn cargo_resolves_and_fetches_through_nginx() {
    let Some(bin) = nginx("cargo_resolves_and_fetches_through_nginx") else {
        return;
    };
    let reg = NginxRegistry::start(&bin, &[]);
    let (base, app) = two_crates(&reg.index_url());
    reg.publish(&base);
    let app_path = reg.publish(&app);

    let env = CargoEnv::new().with_registry("local", &reg.index_url());
    let project = env.project("app-lib = { version = \"1\", registry = \"local\" }\n");
    env.cargo_ok(&project, &["generate-lockfile"]);
    env.cargo_ok(&project, &["fetch"]);
    reg.assert_logged("200 GET /config.json");
    reg.assert_logged("200 GET /ap/p-/app-lib");
    reg.assert_logged("200 GET /ba/se/base-lib");
    reg.assert_logged("200 GET /crates/app-lib/app-lib-1.1.0.crate");
    reg.assert_logged("200 GET /crates/base-lib/base-lib-1.0.0.crate");

    // A second resolution revalidates cargo's cached index files: nginx answers
    // 304 because nothing changed.
    env.cargo_ok(&project, &["update"]);
    let log = reg.access_log();
    assert!(
        log.lines()
            .any(|l| l == "304 GET /ap/p-/app-lib" || l == "304 GET /ba/se/base-lib"),
        "no 304 for an index file after `cargo update`:\n{log}"
    );

    // Index files: text/plain, ETag and Last-Modified, revalidated on every use.
    let index = reg.get("/ap/p-/app-lib", &[]);
    assert_status(&index, 200, "index file");
    assert_eq!(
        index.body,
        fs::read(reg.root().join("ap/p-/app-lib")).unwrap()
    );
    assert!(
        index
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{index:?}"
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"), "{index:?}");
    let etag = index.header("etag").expect("ETag on index file").to_owned();
    let modified = index
        .header("last-modified")
        .expect("Last-Modified on index file")
        .to_owned();
    let cond = reg.get("/ap/p-/app-lib", &[("If-None-Match", &etag)]);
    assert_status(&cond, 304, "If-None-Match with the current ETag");
    assert!(cond.body.is_empty());
    let cond = reg.get("/ap/p-/app-lib", &[("If-Modified-Since", &modified)]);
    assert_status(
        &cond,
        304,
        "If-Modified-Since with the current Last-Modified",
    );
    reg.assert_logged("304 GET /ap/p-/app-lib");

    // config.json as JSON; .crate files as immutable, byte for byte.
    let cfg = reg.get("/config.json", &[]);
    assert_status(&cfg, 200, "config.json");
    assert_eq!(cfg.header("content-type"), Some("application/json"));
    let krate = reg.get("/crates/app-lib/app-lib-1.1.0.crate", &[]);
    assert_status(&krate, 200, ".crate");
    assert_eq!(krate.body, fs::read(&app_path).unwrap());
    let cc = krate.header("cache-control").unwrap_or_default();
    assert!(
        cc.contains("immutable") && cc.contains("max-age=31536000"),
        "{krate:?}"
    );

    // The catalogue: `/` is index.html; pages, scripts, style sheet and feed
    // with their types, revalidated.
    for (path, file, ty) in [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/index.html", "index.html", "text/html; charset=utf-8"),
        (
            "/catalogue/crates/app-lib.html",
            "catalogue/crates/app-lib.html",
            "text/html; charset=utf-8",
        ),
        (
            "/catalogue/search-index.js",
            "catalogue/search-index.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/catalogue/search.js",
            "catalogue/search.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/catalogue/style.css",
            "catalogue/style.css",
            "text/css; charset=utf-8",
        ),
        ("/feed.atom", "feed.atom", "application/atom+xml"),
    ] {
        let resp = reg.get(path, &[]);
        assert_status(&resp, 200, &format!("GET {path}"));
        assert_eq!(
            resp.body,
            fs::read(reg.root().join(file)).unwrap(),
            "{path}"
        );
        assert_eq!(resp.header("content-type"), Some(ty), "{path}: {resp:?}");
        assert_eq!(resp.header("cache-control"), Some("no-cache"), "{path}");
    }
    fs::write(reg.root().join("catalogue/notes.txt"), "private").unwrap();

    // Never served: regtool's folder (GET and HEAD), dotfiles, unknown crates,
    // folders (no listings), files that are not the registry's.
    fs::write(reg.root().join("ap/p-/.app-lib.tmp"), "half-written").unwrap();
    fs::write(reg.root().join("crates/app-lib/notes.txt"), "private").unwrap();
    fs::write(reg.root().join("README.md"), "private").unwrap();
    for path in [
        "/.regtool/config.toml",
        "/.regtool/",
        "/.regtool",
        "/%2Eregtool/config.toml",
        "/ap/p-/.app-lib.tmp",
        "/3/x/xyz",
        "/un/kn/unknown-crate",
        "/ap/",
        "/ap/p-/",
        "/crates/",
        "/crates/app-lib/",
        "/crates/app-lib/notes.txt",
        "/crates/nope/nope-1.0.0.crate",
        "/README.md",
        "/catalogue/",
        "/catalogue/crates/",
        "/catalogue/notes.txt",
        "/catalogue/crates/nope.html",
        "/.regtool/catalogue.json",
        "/.regtool/meta/app-lib/1.1.0.json",
    ] {
        assert_status(&reg.get(path, &[]), 404, &format!("GET {path}"));
    }
    let head = reg.head("/.regtool/config.toml", &[]);
    assert_status(&head, 404, "HEAD /.regtool/config.toml");
    reg.assert_logged("404 HEAD /.regtool/config.toml");
    reg.assert_logged("404 GET /3/x/xyz");

    // A change is seen at once: the old ETag no longer matches.
    regtool_ok([
        "--registry".as_ref(),
        reg.root().as_os_str(),
        "yank".as_ref(),
        "app-lib@1.1.0".as_ref(),
    ]);
    let after = reg.get("/ap/p-/app-lib", &[("If-None-Match", &etag)]);
    assert_status(
        &after,
        200,
        "If-None-Match with the ETag from before the yank",
    );
    assert!(String::from_utf8_lossy(&after.body).contains("\"yanked\":true"));
    let page = reg.get("/catalogue/crates/app-lib.html", &[]);
    assert!(
        String::from_utf8_lossy(&page.body).contains("<tr id=\"v1.1.0\" class=\"yanked\">"),
        "the yank shows on the crate page"
    );

    // Turned off, the catalogue is gone: `/` is a 404 again.
    regtool_ok([
        "--registry".as_ref(),
        reg.root().as_os_str(),
        "settings".as_ref(),
        "--html".as_ref(),
        "false".as_ref(),
    ]);
    for path in [
        "/",
        "/index.html",
        "/catalogue/crates/app-lib.html",
        "/feed.atom",
    ] {
        assert_status(
            &reg.get(path, &[]),
            404,
            &format!("GET {path} with --html false"),
        );
    }
}

#[test]
fn auth_registry_needs_a_token_through_nginx() {
    let Some(bin) = nginx("auth_registry_needs_a_token_through_nginx") else {
        return;
    };
    let reg = NginxRegistry::start(&bin, &["--auth-required"]);
    let (env, project) = publish_two_crates_for_a_token_consumer(&reg);

    // Without a token: cargo is refused, and nginx logged the 401.
    let out = env.cargo(&project, &["generate-lockfile"]);
    assert!(
        !out.status.success(),
        "cargo succeeded without a token\n{}",
        common::describe_output(&out)
    );
    reg.assert_logged("401 GET /config.json");
    assert!(
        !reg.access_log().contains("200 GET"),
        "{}",
        reg.access_log()
    );

    // With the token: cargo resolves and downloads.
    let with_token = |args: &[&str]| -> Output {
        let mut cmd = env.command(&project);
        cmd.args(args).env("CARGO_REGISTRIES_LOCAL_TOKEN", TOKEN);
        let out = run_with_timeout(cmd, common::CARGO_TIMEOUT);
        common::assert_success(&out, &format!("cargo {} (with token)", args.join(" ")));
        out
    };
    with_token(&["generate-lockfile"]);
    with_token(&["fetch"]);
    reg.assert_logged("200 GET /config.json");
    reg.assert_logged("200 GET /ap/p-/app-lib");
    reg.assert_logged("200 GET /crates/app-lib/app-lib-1.1.0.crate");
    reg.assert_logged("200 GET /crates/base-lib/base-lib-1.0.0.crate");

    // Every path needs the token, and a wrong one is a 401 cargo understands.
    for path in [
        "/config.json",
        "/ap/p-/app-lib",
        "/crates/app-lib/app-lib-1.1.0.crate",
    ] {
        let resp = reg.get(path, &[("Authorization", "0000")]);
        assert_status(&resp, 401, &format!("GET {path} with a wrong token"));
        assert_eq!(resp.header("www-authenticate"), Some("Cargo"), "{resp:?}");
        assert_status(
            &reg.get(path, &[]),
            401,
            &format!("GET {path} without token"),
        );
        let ok = reg.get(path, &[("Authorization", TOKEN)]);
        assert_status(&ok, 200, &format!("GET {path} with the token"));
        assert!(
            ok.header("cache-control")
                .is_some_and(|c| c.starts_with("private")),
            "{ok:?}"
        );
    }
    // The match is exact: case counts, and so does every character.
    for wrong in [
        TOKEN.to_ascii_uppercase(),
        format!("{TOKEN}0"),
        TOKEN[1..].to_owned(),
    ] {
        assert_status(
            &reg.get("/config.json", &[("Authorization", &wrong)]),
            401,
            &format!("token {wrong}"),
        );
    }
    // Cargo sends the raw token: a `Bearer` prefix is not the token.
    assert_status(
        &reg.get(
            "/config.json",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        ),
        401,
        "Bearer TOKEN",
    );
    // The token file itself is never served, token or not.
    for path in ["/.regtool/nginx-tokens.map", "/.regtool/config.toml"] {
        assert_status(
            &reg.get(path, &[("Authorization", TOKEN)]),
            404,
            &format!("GET {path} with the token"),
        );
    }
}

#[test]
fn nginx_config_needs_the_token_file_of_an_auth_registry() {
    // No nginx needed: regtool refuses before writing a block nginx would refuse.
    let dir = common::tempdir();
    let root = dir.path().join("registry");
    let root_s = root.to_str().unwrap();
    regtool_ok([
        "init",
        root_s,
        "--url",
        "https://crates.example.com",
        "--auth-required",
    ]);
    let out = run_with_timeout(
        {
            let mut c = regtool();
            c.args(["--registry", root_s, "nginx-config"]);
            c
        },
        common::REGTOOL_TIMEOUT,
    );
    common::assert_exit_code(&out, 2, "nginx-config without a token file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".regtool/nginx-tokens.map") && err.contains("does not exist"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "printed a block anyway");

    let tokens = dir.path().join("tokens.map");
    fs::write(&tokens, format!("\"~^{TOKEN}$\" 1;\n")).unwrap();
    let out = regtool_ok([
        "--registry",
        root_s,
        "nginx-config",
        "--token-file",
        tokens.to_str().unwrap(),
    ]);
    let block = String::from_utf8_lossy(&out.stdout);
    let abs = fs::canonicalize(&tokens).unwrap();
    assert!(
        block.contains(&format!("include \"{}\";", abs.display())),
        "{block}"
    );
    assert!(!block.contains(TOKEN), "the block must not hold the tokens");
}
