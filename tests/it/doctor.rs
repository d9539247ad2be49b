//! `regtool doctor` against real servers: nginx serving a registry with
//! `regtool nginx-config` (every check passes, with and without a token), and
//! the tests' plain static server, which is a misconfigured registry host: it
//! serves `.regtool/`, sends no ETag/Last-Modified and no Cache-Control.

use crate::common::{self, CrateBuilder, ServedRegistry, run_with_timeout};
use crate::common::{NginxRegistry, TOKEN, nginx};

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Output;

/// Runs `regtool [--registry REG] doctor ARGS...`, away from any registry
/// folder and with no token in the environment.
fn doctor(registry: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = common::regtool();
    cmd.env_remove("REGTOOL_TOKEN")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .current_dir(std::env::temp_dir());
    if let Some(r) = registry {
        cmd.arg("--registry").arg(r);
    }
    cmd.arg("doctor").args(args);
    run_with_timeout(cmd, common::REGTOOL_TIMEOUT)
}

/// Runs doctor as [`doctor`] does, asserts that it exits 1 (a check
/// failed; `what` names the run) and gives its stdout, the text report.
fn failing(registry: Option<&Path>, args: &[&str], what: &str) -> String {
    let out = doctor(registry, args);
    common::assert_exit_code(&out, 1, what);
    stdout(&out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text report with the server's port replaced by `PORT`.
fn redacted(out: &Output, port: u16) -> String {
    stdout(out).replace(&format!("127.0.0.1:{port}"), "127.0.0.1:PORT")
}

/// The status of each check in the JSON report, as `check=status` lines.
fn statuses(out: &Output) -> Vec<String> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", common::describe_output(out)));
    v.as_array()
        .expect("an array")
        .iter()
        .map(|c| {
            assert!(c["detail"].is_string(), "{c}");
            format!(
                "{}={}",
                c["check"].as_str().unwrap(),
                c["status"].as_str().unwrap()
            )
        })
        .collect()
}

fn mixed_case() -> CrateBuilder {
    CrateBuilder::new("Doctor_Probe", "0.2.0").file("src/lib.rs", "pub fn probe() {}\n")
}

const ALL_OK: &[&str] = &[
    "config.json=ok",
    "auth=ok",
    "index-file=ok",
    "unknown-crate=ok",
    "revalidation=ok",
    "download=ok",
    "content-type=ok",
    "cache-control=ok",
    "private-files=ok",
];

#[test]
fn doctor_passes_nginx_from_nginx_config() {
    let Some(bin) = nginx() else { return };
    let reg = NginxRegistry::start(&bin, &[]);
    reg.publish(&CrateBuilder::new("plain-lib", "1.0.0"));
    reg.publish(&mixed_case());

    // The crate is picked from the local registry: the one with uppercase
    // letters, probed at its lowercased path.
    let out = doctor(Some(&reg.root()), &[&reg.index_url()]);
    common::assert_success(&out, "doctor against nginx");
    insta::assert_snapshot!("doctor_nginx_text", redacted(&out, reg.port));
    let log = reg.access_log();
    assert!(log.contains("200 GET /do/ct/doctor_probe"), "{log}");
    assert!(log.contains("304 GET /do/ct/doctor_probe"), "{log}");
    assert!(
        log.contains("200 GET /crates/Doctor_Probe/Doctor_Probe-0.2.0.crate"),
        "{log}"
    );
    assert!(log.contains("404 GET /.regtool/config.toml"), "{log}");

    let json = doctor(Some(&reg.root()), &["--format", "json"]);
    common::assert_success(&json, "doctor --format json against nginx");
    assert_eq!(statuses(&json), ALL_OK);

    // Without a local registry: --crate names it, and the index line gives the cksum.
    let out = doctor(
        None,
        &[&reg.index_url(), "--crate", "plain-lib", "--format", "json"],
    );
    common::assert_success(&out, "doctor --crate");
    assert_eq!(statuses(&out), ALL_OK);

    // Neither: only what needs no crate is checked.
    let out = doctor(None, &[&reg.index_url(), "--format", "json"]);
    common::assert_success(&out, "doctor without a crate");
    assert_eq!(
        statuses(&out),
        [
            "config.json=ok",
            "auth=ok",
            "index-file=skip",
            "unknown-crate=ok",
            "revalidation=skip",
            "download=skip",
            "content-type=ok",
            "cache-control=skip",
            "private-files=ok",
        ]
    );

    // A crate the server does not have fails the index check.
    let text = failing(
        None,
        &[&reg.index_url(), "--crate", "not-there"],
        "doctor --crate not-there",
    );
    assert!(
        text.contains("fail  index-file     `/no/t-/not-there` answered 404"),
        "{text}"
    );
}

#[test]
fn doctor_follows_the_token_exchange_of_nginx() {
    let Some(bin) = nginx() else { return };
    let reg = NginxRegistry::start(&bin, &["--auth-required"]);
    reg.publish(&mixed_case());

    // No token: the 401 and its challenge are right; the rest needs a token.
    let out = doctor(Some(&reg.root()), &[]);
    common::assert_success(&out, "doctor without a token");
    let text = stdout(&out);
    assert!(
        text.contains(
            "ok    auth           config.json answered 401 with `WWW-Authenticate: Cargo`"
        ),
        "{text}"
    );
    assert!(
        text.contains("skip  config.json    401 without a token: give --token"),
        "{text}"
    );
    assert!(
        text.contains("skip  download       not run: the registry wants a token"),
        "{text}"
    );

    // The token, as cargo sends it after the 401: every check passes, and the
    // index file and the .crate are refused without it.
    let out = doctor(Some(&reg.root()), &["--token", TOKEN]);
    common::assert_success(&out, "doctor --token");
    insta::assert_snapshot!("doctor_nginx_auth_text", redacted(&out, reg.port));
    let mut cmd = common::regtool();
    cmd.env("REGTOOL_TOKEN", TOKEN)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .arg("--registry")
        .arg(reg.root())
        .args(["doctor", "--format", "json"]);
    let json = run_with_timeout(cmd, common::REGTOOL_TIMEOUT);
    common::assert_success(&json, "doctor with REGTOOL_TOKEN");
    assert_eq!(statuses(&json), ALL_OK);
    let log = reg.access_log();
    assert!(log.contains("401 GET /config.json"), "{log}");
    assert!(log.contains("200 GET /config.json"), "{log}");
    assert!(log.contains("401 GET /do/ct/doctor_probe"), "{log}");

    // A token the server does not know fails.
    let text = failing(
        Some(&reg.root()),
        &["--token", "0123abcd"],
        "doctor with a wrong token",
    );
    assert!(text.contains("fail  auth           `http://"), "{text}");
}

#[test]
fn doctor_fails_a_plain_static_server_exactly_where_it_is_wrong() {
    let served = ServedRegistry::new(&[]);
    served.publish(&mixed_case());
    let port = served.server.port();

    let out = doctor(Some(&served.root()), &[]);
    common::assert_exit_code(&out, 1, "doctor against the static server");
    insta::assert_snapshot!("doctor_static_text", redacted(&out, port));

    let json = doctor(Some(&served.root()), &["--format", "json"]);
    common::assert_exit_code(&json, 1, "doctor --format json");
    assert_eq!(
        statuses(&json),
        [
            "config.json=ok",
            "auth=ok",
            "index-file=ok",
            "unknown-crate=ok",
            "revalidation=warn",
            "download=ok",
            "content-type=ok",
            "cache-control=warn",
            "private-files=fail",
        ]
    );
}

#[test]
fn doctor_fails_a_crate_whose_bytes_changed() {
    let served = ServedRegistry::new(&[]);
    let path = served.publish(&mixed_case());
    let stored = served
        .root()
        .join("crates/Doctor_Probe/Doctor_Probe-0.2.0.crate");
    let mut bytes = fs::read(&path).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    fs::write(&stored, &bytes).unwrap();
    let tampered = common::sha256_hex(&bytes);

    for registry in [Some(served.root()), None] {
        let out = doctor(
            registry.as_deref(),
            &[&served.url(), "--crate", "Doctor_Probe", "--format", "json"],
        );
        common::assert_exit_code(&out, 1, "doctor with a changed .crate");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let download = v
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "download")
            .unwrap();
        assert_eq!(download["status"], "fail", "{download}");
        let detail = download["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("SHA-256 {tampered} is not the index line's cksum")),
            "{detail}"
        );
        assert!(download["fix"].is_string(), "{download}");
    }
}

#[test]
fn doctor_reports_a_server_that_is_not_there() {
    // A port nothing listens on (bound, then freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = failing(
        None,
        &[&format!("http://127.0.0.1:{port}"), "--timeout", "5"],
        "doctor against nothing",
    );
    assert!(
        text.starts_with("fail  config.json    no answer:"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 9, "{text}");

    let out = doctor(None, &["crates.example.com"]);
    common::assert_exit_code(&out, 2, "doctor with a URL that is not one");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a registry URL"),
        "{}",
        common::describe_output(&out)
    );
}

// ---------------------------------------------------------------------------
// Servers that get one thing wrong
// ---------------------------------------------------------------------------

/// What a [`FnServer`] answers: status, headers, body.
type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// An HTTP server on 127.0.0.1 whose every answer comes from a function of the
/// request path and headers (names lowercased): the misconfigured hosts
/// below. One connection at a time, `Connection: close`; stops when dropped.
struct FnServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FnServer {
    fn start(
        answer: impl Fn(&str, &std::collections::HashMap<String, String>) -> Reply + Send + 'static,
    ) -> FnServer {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = conn else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut headers = std::collections::HashMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let (status, extra, body) = answer(&path, &headers);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        FnServer { port, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FnServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A registry folder made for `url`, holding the mixed-case crate.
fn registry_for(url: &str, init_args: &[&str]) -> tempfile::TempDir {
    let dir = common::tempdir();
    make_registry(dir.path(), url, init_args);
    dir
}

/// Makes `dir/registry` for `url` (`regtool init` with `init_args`) and adds
/// the mixed-case crate to it (packaged in `dir/scratch`).
fn make_registry(dir: &Path, url: &str, init_args: &[&str]) {
    let root = dir.join("registry");
    let mut args = vec!["init", root.to_str().unwrap(), "--url", url];
    args.extend(init_args);
    common::regtool_ok(&args);
    let krate = mixed_case().write_to(&dir.join("scratch"));
    common::regtool_ok([
        "--registry",
        root.to_str().unwrap(),
        "add",
        krate.to_str().unwrap(),
    ]);
}

/// The file under `root` at URL path `path`, if there is one.
fn file_at(root: &Path, path: &str) -> Option<Vec<u8>> {
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|s| s == "..") {
        return None;
    }
    fs::read(root.join(rel))
        .ok()
        .filter(|_| root.join(rel).is_file())
}

/// Starts a server over a registry made for its own URL; `answer` gets the
/// registry folder, the path and the headers.
fn misconfigured(
    init_args: &[&str],
    answer: impl Fn(&Path, &str, &std::collections::HashMap<String, String>) -> Reply
    + Send
    + Sync
    + 'static,
) -> (FnServer, tempfile::TempDir) {
    // The port is known only once the server listens, and the registry's URL
    // needs it: the server reads the folder through a slot filled afterwards.
    let slot: std::sync::Arc<std::sync::OnceLock<std::path::PathBuf>> = Default::default();
    let seen = slot.clone();
    let server = FnServer::start(move |path, headers| match seen.get() {
        Some(root) => answer(root, path, headers),
        None => (503, vec![], vec![]),
    });
    let dir = registry_for(&server.url(), init_args);
    slot.set(dir.path().join("registry")).unwrap();
    (server, dir)
}

#[test]
fn doctor_fails_403_for_missing_files_as_from_a_bucket_without_list_rights() {
    // S3 without s3:ListBucket: 403 for a missing key, and a generic content
    // type for files without an extension.
    let (server, dir) = misconfigured(&[], |root, path, _| match file_at(root, path) {
        Some(body) => (
            200,
            vec![("Content-Type", "application/octet-stream".into())],
            body,
        ),
        None => (
            403,
            vec![("Content-Type", "application/xml".into())],
            b"<Error/>".to_vec(),
        ),
    });
    let root = dir.path().join("registry");
    let out = doctor(Some(&root), &["--format", "json"]);
    common::assert_exit_code(&out, 1, "doctor against a 403 host");
    assert_eq!(
        statuses(&out),
        [
            "config.json=ok",
            "auth=ok",
            "index-file=ok",
            "unknown-crate=fail",
            "revalidation=warn",
            "download=ok",
            "content-type=warn",
            "cache-control=warn",
            "private-files=fail",
        ]
    );
    let text = stdout(&doctor(Some(&root), &[]));
    assert!(
        text.contains("fail  unknown-crate  `/re/gt/regtool-doctor-no-such-crate` (no such crate) answered 403"),
        "{text}"
    );
    assert!(
        text.contains("config.json is served as application/octet-stream"),
        "{text}"
    );
    drop(server);
}

#[test]
fn doctor_fails_a_fallback_page_for_every_missing_path() {
    // A single-page-app host: every missing path is index.html with 200.
    let (_server, dir) = misconfigured(&[], |root, path, _| match file_at(root, path) {
        Some(body) if !path.starts_with("/.regtool") => (200, vec![], body),
        _ => (
            200,
            vec![("Content-Type", "text/html".into())],
            b"<!doctype html><title>app</title>".to_vec(),
        ),
    });
    let root = dir.path().join("registry");
    let out = doctor(Some(&root), &["--format", "json"]);
    common::assert_exit_code(&out, 1, "doctor against a fallback host");
    let got = statuses(&out);
    assert_eq!(got[3], "unknown-crate=fail", "{got:?}");
    assert_eq!(got[8], "private-files=fail", "{got:?}");
    assert_eq!(got[2], "index-file=ok", "{got:?}");

    // config.json itself replaced by the page: nothing else can be checked.
    let (_server, dir) = misconfigured(&[], |_, _, _| {
        (
            200,
            vec![("Content-Type", "text/html".into())],
            b"<html></html>".to_vec(),
        )
    });
    let text = failing(
        Some(&dir.path().join("registry")),
        &[],
        "doctor against a page for config.json",
    );
    assert!(
        text.starts_with("fail  config.json    200, but not cargo's config.json"),
        "{text}"
    );
    assert_eq!(text.matches("skip  ").count(), 8, "{text}");
}

#[test]
fn doctor_fails_a_token_check_that_config_json_does_not_announce() {
    // The host wants a token, sends no WWW-Authenticate, and config.json lacks
    // auth-required: cargo would send no token for index files and downloads.
    let (_server, dir) = misconfigured(&[], |root, path, headers| {
        if headers.get("authorization").map(String::as_str) != Some("s3cret") {
            return (401, vec![], vec![]);
        }
        match file_at(root, path) {
            Some(body) => (200, vec![], body),
            None => (404, vec![], vec![]),
        }
    });
    let root = dir.path().join("registry");
    let text = failing(
        Some(&root),
        &["--token", "s3cret"],
        "doctor against an unannounced token check",
    );
    let auth = text
        .lines()
        .find(|l| l.contains("  auth  "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(auth.starts_with("fail"), "{auth}");
    assert!(
        auth.contains("config.json has no `auth-required`")
            && auth.contains("without `WWW-Authenticate`")
            && auth.contains("regtool settings --auth-required true"),
        "{auth}"
    );
}

// Issue 18: what a server answers is outside input, to doctor too. Both
// tests failed on main bc3f5a2 (the first by running for minutes).

/// A registry served by the tests' lying server ([`common::FaultServer`]),
/// holding the mixed-case crate; the folder is made for the server's URL.
fn behind_fault_server() -> (common::FaultServer, tempfile::TempDir) {
    let dir = common::tempdir();
    let server = common::FaultServer::start(&dir.path().join("registry"));
    make_registry(dir.path(), &server.url(), &[]);
    (server, dir)
}

/// The check `name` of a JSON doctor report.
fn check(out: &Output, name: &str) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", common::describe_output(out)));
    v.as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {v:#}"))
        .clone()
}

#[test]
fn doctor_abandons_an_answer_dripped_a_byte_at_a_time() {
    let (server, dir) = behind_fault_server();
    let root = dir.path().join("registry");
    // config.json, padded to 400 bytes, sent a byte every half second.
    let config = fs::read_to_string(root.join("config.json")).unwrap();
    fs::write(root.join("config.json"), format!("{config:<400}")).unwrap();
    server.lie(
        "/config.json",
        common::Fault::Drip(std::time::Duration::from_millis(500)),
    );
    let start = std::time::Instant::now();
    let out = doctor(Some(&root), &["--timeout", "2", "--format", "json"]);
    let took = start.elapsed();
    common::assert_exit_code(&out, 1, "doctor against a dripping server");
    let config = check(&out, "config.json");
    assert_eq!(config["status"], "fail", "{config}");
    let detail = config["detail"].as_str().unwrap();
    assert!(
        detail.contains("slower than the low-speed limit of 10 bytes/s"),
        "{detail}"
    );
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
}

#[test]
fn doctor_downloads_nothing_an_index_line_names_with_a_path() {
    let (server, dir) = behind_fault_server();
    let root = dir.path().join("registry");
    let index = root.join(common::index_path("Doctor_Probe"));
    let line = fs::read_to_string(&index).unwrap();
    fs::write(
        &index,
        line.replace("\"vers\":\"0.2.0\"", "\"vers\":\"0.2.0/../../x\""),
    )
    .unwrap();
    let out = doctor(
        None,
        &[&server.url(), "--crate", "Doctor_Probe", "--format", "json"],
    );
    common::assert_exit_code(&out, 1, "doctor of a lying index line");
    let download = check(&out, "download");
    assert_eq!(download["status"], "fail", "{download}");
    let detail = download["detail"].as_str().unwrap();
    assert!(
        detail.contains("cannot name a download: the version `0.2.0/../../x` is not semver"),
        "{detail}"
    );
    let asked = server.paths();
    assert!(
        !asked.iter().any(|p| p.starts_with("/crates/")),
        "{asked:?}"
    );
}

#[test]
fn doctor_bounds_endless_answers_and_lying_lengths() {
    // Issue 18; on main bc3f5a2 an endless config.json was read up to
    // 512 MiB into memory, with no deadline.
    let (server, dir) = behind_fault_server();
    let root = dir.path().join("registry");
    server.lie("/config.json", common::Fault::endless());
    let start = std::time::Instant::now();
    let out = doctor(Some(&root), &["--deadline", "2", "--format", "json"]);
    common::assert_exit_code(&out, 1, "doctor against an endless config.json");
    let config = check(&out, "config.json");
    assert_eq!(config["status"], "fail", "{config}");
    let detail = config["detail"].as_str().unwrap();
    assert!(
        detail.contains("deadline of 2 s") || detail.contains("the answer is over"),
        "{detail}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(30));

    // A Content-Length of a TiB, then the real (short) file and the end.
    server.lie("/config.json", common::Fault::Length(1 << 40));
    let out = doctor(Some(&root), &["--format", "json"]);
    common::assert_exit_code(&out, 1, "doctor against a lying Content-Length");
    let config = check(&out, "config.json");
    assert_eq!(config["status"], "fail", "{config}");
    let detail = config["detail"].as_str().unwrap();
    assert!(detail.contains("reading the body"), "{detail}");
}
