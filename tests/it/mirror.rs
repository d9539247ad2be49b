//! `regtool mirror`: an upstream sparse registry (a regtool `--mirror` registry
//! built from the crates.io fixtures, or from built crates) is served on
//! 127.0.0.1 and copied into a mirror; real cargo then fetches through source
//! replacement from the mirror. A small fault-injecting server answers 404,
//! 5xx and slow responses on cue.

use crate::common::{
    self, CargoEnv, CrateBuilder, ServedRegistry, TestRegistry, describe_output, index_files,
    regtool, run_with_timeout, sha256_hex,
};
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The crates.io consumer of `fixtures/crates-io/README.md`: resolves to
/// exactly the 21 fixture crates.
const FIXTURE_DEPS: &str = r#"serde_json = "1"
serde = { version = "1", features = ["derive"] }
jiff-static = "0.2"
prettyplease = "0.2"
num-traits = "0.2"
wait-timeout = "0.2"
cpufeatures = "0.3"
"#;

/// `regtool --registry ROOT mirror ARGS...` (local servers bypass any proxy).
fn mirror(root: &Path, args: &[&str]) -> Output {
    let mut cmd = regtool();
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("REGTOOL_UPSTREAM")
        .arg("--registry")
        .arg(root)
        .arg("--format")
        .arg("json")
        .arg("mirror")
        .args(args);
    run_with_timeout(cmd, common::REGTOOL_TIMEOUT)
}

/// The JSON report of `mirror` on stdout.
pub(crate) fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("mirror report is not JSON ({e}):\n{}", describe_output(out)))
}

/// The report's entry for `name` `vers`.
pub(crate) fn entry<'a>(report: &'a Value, name: &str, vers: &str) -> &'a Value {
    report["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name && v["vers"] == vers)
        .unwrap_or_else(|| panic!("{name} {vers} not in the report: {report:#}"))
}

/// Every file under `root` except `.regtool/`, with its bytes.
fn files(root: &Path) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if e.file_type().is_file() && !rel.starts_with(".regtool") {
            out.insert(rel, fs::read(e.path()).unwrap());
        }
    }
    out
}

#[test]
fn mirror_of_fixture_lockfile_serves_cargo_and_is_byte_identical() {
    // Upstream: a regtool mirror registry holding the 21 crates.io fixtures.
    let upstream = ServedRegistry::new(&["--mirror"]);
    let crates: Vec<PathBuf> = fs::read_dir(common::fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "crate"))
        .collect();
    assert_eq!(crates.len(), 21);
    let refs: Vec<&Path> = crates.iter().map(PathBuf::as_path).collect();
    upstream.add_ok(&refs);

    // A project locked against upstream standing in for crates.io: its
    // Cargo.lock names crates.io as the source, as every real lockfile does.
    let locking = CargoEnv::new().with_mirror(&upstream.sparse_index_url());
    let project = locking.project(FIXTURE_DEPS);
    locking.cargo_ok(&project, &["generate-lockfile"]);
    let lock = fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert_eq!(
        lock.matches("source = \"registry+https://github.com/rust-lang/crates.io-index\"")
            .count(),
        21,
        "{lock}"
    );

    let mirrored = ServedRegistry::new(&["--mirror"]);
    let before = upstream.server.total_requests();
    let out = mirror(
        &mirrored.root(),
        &[
            "--upstream",
            &upstream.sparse_index_url(),
            project.join("Cargo.lock").to_str().unwrap(),
        ],
    );
    common::assert_success(&out, "regtool mirror");
    let r = report(&out);
    let versions = r["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 21, "{r:#}");
    assert!(versions.iter().all(|v| v["status"] == "mirrored"), "{r:#}");
    assert_eq!(r["ignored"][0]["name"], "consumer", "{r:#}");
    // 21 .crate files and 20 index files (syn has two versions), no more.
    assert_eq!(r["written"].as_array().unwrap().len(), 41, "{r:#}");
    let fixture_bytes: u64 = crates.iter().map(|p| fs::metadata(p).unwrap().len()).sum();
    assert_eq!(r["downloaded_bytes"], fixture_bytes);
    // config.json once, 20 index files, 21 downloads.
    assert_eq!(upstream.server.total_requests() - before, 42);

    // Every index file is byte-identical to upstream's; so is every .crate.
    let up_index = index_files(&upstream.root());
    assert_eq!(index_files(&mirrored.root()), up_index);
    for key in &up_index {
        assert_eq!(
            fs::read(mirrored.root().join(key)).unwrap(),
            fs::read(upstream.root().join(key)).unwrap(),
            "{key} differs from upstream"
        );
    }
    for p in &crates {
        let name = p.file_name().unwrap().to_str().unwrap();
        let (krate, _) = name.trim_end_matches(".crate").rsplit_once('-').unwrap();
        assert_eq!(
            fs::read(mirrored.root().join("crates").join(krate).join(name)).unwrap(),
            fs::read(p).unwrap()
        );
    }
    let v = common::run_regtool([
        "verify".as_ref(),
        mirrored.root().as_os_str(),
        "--deep".as_ref(),
    ]);
    common::assert_success(&v, "verify --deep of the mirror");

    // Incremental: the second run sends no request at all.
    let before = upstream.server.total_requests();
    let out = mirror(
        &mirrored.root(),
        &[
            "--upstream",
            &upstream.sparse_index_url(),
            project.join("Cargo.lock").to_str().unwrap(),
        ],
    );
    common::assert_success(&out, "second regtool mirror");
    let r = report(&out);
    assert!(
        r["versions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["status"] == "skipped"),
        "{r:#}"
    );
    assert_eq!(r["written"].as_array().unwrap().len(), 0);
    assert_eq!(r["requests"], 0);
    assert_eq!(upstream.server.total_requests(), before);

    // Real cargo, fresh CARGO_HOME, only the mirror: fetch --locked works.
    let env = CargoEnv::new().with_mirror(&mirrored.sparse_index_url());
    let consumer = env.project(FIXTURE_DEPS);
    fs::copy(project.join("Cargo.lock"), consumer.join("Cargo.lock")).unwrap();
    env.cargo_ok(&consumer, &["fetch", "--locked"]);
    assert_eq!(mirrored.server.served_ok_with_suffix(".crate").len(), 21);
    assert_eq!(
        fs::read_to_string(consumer.join("Cargo.lock")).unwrap(),
        lock,
        "cargo changed the lockfile"
    );
}

// ---------------------------------------------------------------------------
// A server that misbehaves on cue
// ---------------------------------------------------------------------------

/// What the fault server does with one request for a path.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Wait this long before serving the file.
    Delay(Duration),
}

/// Serves the files under `root` (GET, `Connection: close`); each path's
/// queued faults are used up one per request before it is served normally.
struct FaultServer {
    port: u16,
    faults: Arc<Mutex<HashMap<String, Vec<Fault>>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl FaultServer {
    fn start(root: &Path) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults: Arc<Mutex<HashMap<String, Vec<Fault>>>> = Arc::default();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, c, s, root) = (
            faults.clone(),
            counts.clone(),
            stop.clone(),
            root.to_path_buf(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let (f, c, root) = (f.clone(), c.clone(), root.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &root, &f, &c);
                });
            }
        });
        FaultServer {
            port,
            faults,
            counts,
            stop,
        }
    }

    fn index_url(&self) -> String {
        format!("sparse+http://127.0.0.1:{}/", self.port)
    }

    fn fail(&self, path: &str, faults: &[Fault]) {
        self.faults
            .lock()
            .unwrap()
            .insert(path.to_string(), faults.to_vec());
    }

    fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    mut stream: TcpStream,
    root: &Path,
    faults: &Mutex<HashMap<String, Vec<Fault>>>,
    counts: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    if reader.read_line(&mut request)? == 0 {
        return Ok(());
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    let fault = {
        let mut f = faults.lock().unwrap();
        f.get_mut(&path)
            .and_then(|q| (!q.is_empty()).then(|| q.remove(0)))
    };
    let (status, body) = match fault {
        Some(Fault::Status(s)) => (s, Vec::new()),
        other => {
            if let Some(Fault::Delay(d)) = other {
                thread::sleep(d);
            }
            let rel = path.trim_start_matches('/');
            match fs::read(root.join(rel)) {
                Ok(b) if !rel.contains("..") => (200, b),
                _ => (404, b"not found".to_vec()),
            }
        }
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 512];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

/// An upstream regtool mirror registry with `alpha 1.0.0` and `beta 0.2.0`
/// (beta depends on alpha), served by a fault server; and an empty mirror.
struct Setup {
    upstream: TestRegistry,
    server: FaultServer,
    mirror: TestRegistry,
}

fn setup() -> Setup {
    let upstream = TestRegistry::mirror();
    upstream.publish(&CrateBuilder::new("alpha", "1.0.0"));
    upstream.publish(
        &CrateBuilder::new("beta", "0.2.0").manifest_extra("[dependencies]\nalpha = \"1\"\n"),
    );
    let server = FaultServer::start(&upstream.root);
    let url = format!("http://127.0.0.1:{}", server.port);
    upstream.ok(&[&"settings", &"--url", &url]);
    Setup {
        upstream,
        server,
        mirror: TestRegistry::mirror(),
    }
}

#[test]
fn tampered_crate_is_refused_and_nothing_of_it_is_written() {
    let s = setup();
    let tampered = CrateBuilder::new("alpha", "1.0.0")
        .file("src/lib.rs", "pub fn evil() {}\n")
        .build();
    fs::write(s.upstream.crate_file("alpha", "1.0.0"), &tampered).unwrap();

    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "alpha@1.0.0",
            "beta@0.2.0",
        ],
    );
    common::assert_exit_code(&out, 1, "mirror with a tampered .crate");
    let r = report(&out);
    let alpha = entry(&r, "alpha", "1.0.0");
    assert_eq!(alpha["status"], "refused");
    let reason = alpha["reason"].as_str().unwrap();
    assert!(reason.contains("checksum mismatch"), "{reason}");
    assert!(reason.contains(&sha256_hex(&tampered)), "{reason}");
    assert!(common::stderr(&out).contains("refused alpha v1.0.0"));
    // The other version still lands.
    assert_eq!(entry(&r, "beta", "0.2.0")["status"], "mirrored");
    assert!(s.mirror.index_file("beta").is_file());
    // Nothing of alpha: no index file, no .crate.
    assert!(!s.mirror.index_file("alpha").exists());
    assert!(!s.mirror.crate_file("alpha", "1.0.0").exists());
    let written: Vec<&str> = r["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(written, ["crates/beta/beta-0.2.0.crate", "be/ta/beta"]);
}

#[test]
fn versions_and_crates_upstream_lacks_are_refused_by_name() {
    let s = setup();
    let before = files(&s.mirror.root);
    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "alpha@9.9.9",
            "nosuch@1.0.0",
        ],
    );
    common::assert_exit_code(&out, 1, "mirror of missing versions");
    let r = report(&out);
    assert!(
        entry(&r, "alpha", "9.9.9")["reason"]
            .as_str()
            .unwrap()
            .contains("upstream has no version 9.9.9 of `alpha`")
    );
    assert!(
        entry(&r, "nosuch", "1.0.0")["reason"]
            .as_str()
            .unwrap()
            .contains("upstream has no crate `nosuch`")
    );
    assert_eq!(s.server.count("/no/su/nosuch"), 1, "a 404 is not retried");
    assert_eq!(files(&s.mirror.root), before, "nothing may be written");
    // A lockfile checksum that disagrees with upstream's line is refused too.
    let lock = s.mirror.input(
        "Cargo.lock",
        b"version = 4\n\n[[package]]\nname = \"alpha\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    let out = mirror(
        &s.mirror.root,
        &["--upstream", &s.server.index_url(), lock.to_str().unwrap()],
    );
    common::assert_exit_code(&out, 1, "mirror with a wrong lockfile checksum");
    assert!(
        entry(&report(&out), "alpha", "1.0.0")["reason"]
            .as_str()
            .unwrap()
            .contains("checksum mismatch")
    );
    assert_eq!(files(&s.mirror.root), before, "nothing may be written");
}

#[test]
fn server_errors_and_slow_answers_are_retried_with_a_bound() {
    let s = setup();
    let krate = "/crates/beta/beta-0.2.0.crate";
    s.server
        .fail("/be/ta/beta", &[Fault::Status(500), Fault::Status(503)]);
    s.server.fail(
        krate,
        &[Fault::Status(429), Fault::Delay(Duration::from_secs(4))],
    );
    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "--timeout",
            "1",
            "beta@0.2.0",
        ],
    );
    common::assert_success(&out, "mirror through 500, 503, 429 and a stall");
    assert_eq!(entry(&report(&out), "beta", "0.2.0")["status"], "mirrored");
    assert_eq!(s.server.count("/be/ta/beta"), 3);
    assert_eq!(s.server.count(krate), 3);
    assert_eq!(
        fs::read(s.mirror.crate_file("beta", "0.2.0")).unwrap(),
        fs::read(s.upstream.crate_file("beta", "0.2.0")).unwrap()
    );

    // A server that keeps stalling: given up after --retries, refused, quickly.
    let stall = Fault::Delay(Duration::from_secs(5));
    s.server.fail("/al/ph/alpha", &[stall; 10]);
    let start = Instant::now();
    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "--timeout",
            "1",
            "--retries",
            "2",
            "alpha@1.0.0",
        ],
    );
    common::assert_exit_code(&out, 1, "mirror from a stalled server");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    let reason = entry(&report(&out), "alpha", "1.0.0")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("gave up after 3 tries"), "{reason}");
    assert_eq!(s.server.count("/al/ph/alpha"), 3);
    assert!(!s.mirror.index_file("alpha").exists());
}

#[test]
fn killed_run_leftovers_are_adopted_and_dry_run_writes_nothing() {
    let s = setup();
    // A killed run stored alpha's .crate but not its line.
    let orphan = s.mirror.crate_file("alpha", "1.0.0");
    fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    fs::copy(s.upstream.crate_file("alpha", "1.0.0"), &orphan).unwrap();

    let before = files(&s.mirror.root);
    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "--dry-run",
            "alpha@1.0.0",
            "beta@0.2.0",
        ],
    );
    common::assert_success(&out, "mirror --dry-run");
    let r = report(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(entry(&r, "alpha", "1.0.0")["status"], "planned");
    assert_eq!(files(&s.mirror.root), before, "a dry run writes nothing");
    assert_eq!(s.server.count("/crates/beta/beta-0.2.0.crate"), 0);

    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "alpha@1.0.0",
            "beta@0.2.0",
        ],
    );
    common::assert_success(&out, "mirror after a killed run");
    assert_eq!(s.server.count("/crates/alpha/alpha-1.0.0.crate"), 0);
    assert_eq!(s.server.count("/crates/beta/beta-0.2.0.crate"), 1);
    for name in ["alpha", "beta"] {
        assert_eq!(
            fs::read(s.mirror.index_file(name)).unwrap(),
            fs::read(s.upstream.index_file(name)).unwrap()
        );
    }
    s.mirror.assert_verify_clean();
}

#[test]
fn refresh_takes_upstream_yanked_flags() {
    let s = setup();
    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "alpha@1.0.0",
            "beta@0.2.0",
        ],
    );
    common::assert_success(&out, "mirror");
    s.upstream.ok(&[&"yank", &"alpha@1.0.0"]);
    let total = s.server.total();
    let out = mirror(
        &s.mirror.root,
        &["--upstream", &s.server.index_url(), "--refresh"],
    );
    common::assert_success(&out, "mirror --refresh");
    let r = report(&out);
    assert_eq!(entry(&r, "alpha", "1.0.0")["status"], "refreshed");
    assert_eq!(entry(&r, "alpha", "1.0.0")["yanked"], true);
    assert_eq!(entry(&r, "beta", "0.2.0")["status"], "unchanged");
    assert_eq!(
        s.server.total() - total,
        2,
        "one index file per crate, no download"
    );
    assert_eq!(
        fs::read(s.mirror.index_file("alpha")).unwrap(),
        fs::read(s.upstream.index_file("alpha")).unwrap()
    );
}

#[test]
fn only_mirror_registries_take_a_mirror() {
    let reg = TestRegistry::new();
    let before = files(&reg.root);
    let out = mirror(&reg.root, &["itoa@1.0.18"]);
    common::assert_exit_code(&out, 2, "mirror into a registry without --mirror");
    assert!(common::stderr(&out).contains("regtool init --mirror"));
    assert_eq!(files(&reg.root), before);
}

/// Against the real crates.io (its sparse index, as cargo reaches it): a
/// lockfile with one crate without dependencies. Skipped, with a note, when
/// crates.io cannot be reached from here.
#[test]
fn real_crates_io_lockfile() {
    let crate_bytes = fs::read(common::fixtures().join("itoa-1.0.18.crate")).unwrap();
    let cksum = sha256_hex(&crate_bytes);
    let reg = TestRegistry::mirror();
    let lock = reg.input(
        "Cargo.lock",
        format!(
            "version = 4\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.18\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{cksum}\"\n"
        )
        .as_bytes(),
    );
    let mut cmd = regtool();
    cmd.env_remove("REGTOOL_UPSTREAM")
        .arg("--registry")
        .arg(&reg.root)
        .args([
            "--format",
            "json",
            "mirror",
            "--retries",
            "1",
            "--timeout",
            "20",
        ])
        .arg(&lock);
    let out = run_with_timeout(cmd, common::REGTOOL_TIMEOUT);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let unreachable = |text: &str| {
        text.contains("cannot fetch upstream's index file")
            || text.contains("cannot download")
            || text.contains("failed to download")
    };
    if !out.status.success() && unreachable(&format!("{r}{}", common::stderr(&out))) {
        eprintln!(
            "note: skipping real_crates_io_lockfile: crates.io cannot be reached from here\n{}",
            describe_output(&out)
        );
        return;
    }
    common::assert_success(&out, "regtool mirror from crates.io");
    assert_eq!(entry(&r, "itoa", "1.0.18")["status"], "mirrored");
    assert_eq!(
        fs::read(reg.crate_file("itoa", "1.0.18")).unwrap(),
        crate_bytes
    );
    let line: Value = serde_json::from_str(reg.index_text("itoa").lines().next().unwrap()).unwrap();
    let expected = common::expected_lines()
        .into_iter()
        .find(|l| l["name"] == "itoa")
        .unwrap();
    assert_eq!(line, expected, "the line differs from crates.io's");
    reg.assert_verify_clean();
}

/// `regtool --registry ROOT --format json mirror ARGS...`, to be spawned.
fn mirror_command(root: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = regtool();
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("REGTOOL_UPSTREAM")
        .arg("--registry")
        .arg(root)
        .args(["--format", "json", "mirror"])
        .args(args);
    cmd
}

/// A child process killed (SIGKILL) if the test ends before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The kinds of problem `verify` reports.
fn verify_problem_kinds(reg: &TestRegistry) -> Vec<String> {
    let out = common::run_regtool([
        "--format".as_ref(),
        "json".as_ref(),
        "verify".as_ref(),
        reg.root.as_os_str(),
    ]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify report is not JSON ({e}):\n{}",
            describe_output(&out)
        )
    });
    r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_killed_run_keeps_what_landed_and_the_next_run_fetches_only_the_rest() {
    // alpha's download stalls; beta depends on alpha; delta on gamma.
    let upstream = TestRegistry::mirror();
    upstream.publish(&CrateBuilder::new("alpha", "1.0.0"));
    upstream.publish(
        &CrateBuilder::new("beta", "0.2.0").manifest_extra("[dependencies]\nalpha = \"1\"\n"),
    );
    upstream.publish(&CrateBuilder::new("gamma", "0.1.0"));
    upstream.publish(&CrateBuilder::new("gamma", "0.2.0"));
    upstream.publish(
        &CrateBuilder::new("delta", "3.0.0").manifest_extra("[dependencies]\ngamma = \"0.2\"\n"),
    );
    let server = FaultServer::start(&upstream.root);
    let url = format!("http://127.0.0.1:{}", server.port);
    upstream.ok(&[&"settings", &"--url", &url]);
    let mirror_reg = TestRegistry::mirror();
    let krate = |name: &str, vers: &str| format!("/crates/{name}/{name}-{vers}.crate");
    server.fail(
        &krate("alpha", "1.0.0"),
        &[Fault::Delay(Duration::from_secs(120))],
    );
    let wanted = [
        "alpha@1.0.0",
        "beta@0.2.0",
        "gamma@0.1.0",
        "gamma@0.2.0",
        "delta@3.0.0",
    ];
    let index_url = server.index_url();
    let mut args = vec!["--upstream", &index_url, "--timeout", "300", "--jobs", "2"];
    args.extend(wanted);
    let mut cmd = mirror_command(&mirror_reg.root, &args);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let child = &mut child.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(mirror_reg.index_file("delta").is_file() && server.count(&krate("beta", "0.2.0")) == 1)
    {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("mirror ended ({status}) while alpha's download was stalled");
        }
        assert!(
            Instant::now() < deadline,
            "gamma and delta did not land while alpha's download stalled"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Time for beta (downloaded) to land too, were it not waiting for alpha.
    thread::sleep(Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    for name in ["gamma", "delta"] {
        assert_eq!(
            fs::read(mirror_reg.index_file(name)).unwrap(),
            fs::read(upstream.index_file(name)).unwrap(),
            "{name} landed whole before the kill"
        );
    }
    assert!(
        !mirror_reg.index_file("beta").exists(),
        "beta's line may not land before its dependency alpha's"
    );
    assert!(!mirror_reg.index_file("alpha").exists());
    let kinds = verify_problem_kinds(&mirror_reg);
    assert!(
        kinds.iter().all(|k| k == "orphan-crate"),
        "after the kill, verify may find orphan .crate files only: {kinds:?}"
    );

    // The next run fetches alpha and beta only: no index file nor download
    // for what landed.
    let out = mirror(&mirror_reg.root, &args);
    common::assert_success(&out, "mirror after the kill");
    let r = report(&out);
    for (name, vers, status) in [
        ("alpha", "1.0.0", "mirrored"),
        ("beta", "0.2.0", "mirrored"),
        ("gamma", "0.1.0", "skipped"),
        ("gamma", "0.2.0", "skipped"),
        ("delta", "3.0.0", "skipped"),
    ] {
        assert_eq!(
            entry(&r, name, vers)["status"],
            status,
            "{name} {vers}: {r:#}"
        );
    }
    for (name, vers, downloads) in [
        ("alpha", "1.0.0", 2),
        ("beta", "0.2.0", 2),
        ("gamma", "0.1.0", 1),
        ("gamma", "0.2.0", 1),
        ("delta", "3.0.0", 1),
    ] {
        assert_eq!(server.count(&krate(name, vers)), downloads, "{name} {vers}");
    }
    assert_eq!(server.count("/ga/mm/gamma"), 1);
    assert_eq!(server.count("/de/lt/delta"), 1);

    // The mirror now equals upstream.
    let up_index = index_files(&upstream.root);
    assert_eq!(index_files(&mirror_reg.root), up_index);
    for key in &up_index {
        assert_eq!(
            fs::read(mirror_reg.root.join(key)).unwrap(),
            fs::read(upstream.root.join(key)).unwrap(),
            "{key}"
        );
    }
    for v in wanted {
        let (name, vers) = v.split_once('@').unwrap();
        assert_eq!(
            fs::read(mirror_reg.crate_file(name, vers)).unwrap(),
            fs::read(upstream.crate_file(name, vers)).unwrap(),
            "{v}"
        );
    }
    mirror_reg.assert_verify_clean();
}

#[test]
fn downloads_over_the_max_crate_size_are_refused_by_name() {
    let s = setup();
    // Bytes that do not compress: the .crate is bigger than alpha's.
    let mut x: u32 = 0x2545_f491;
    let noise: Vec<u8> = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    s.upstream
        .publish(&CrateBuilder::new("huge", "1.0.0").file("data.bin", noise));
    // The limit is alpha's size exactly: alpha is taken, huge is not.
    let limit = fs::metadata(s.upstream.crate_file("alpha", "1.0.0"))
        .unwrap()
        .len();
    assert!(
        fs::metadata(s.upstream.crate_file("huge", "1.0.0"))
            .unwrap()
            .len()
            > limit
    );
    s.mirror
        .ok(&[&"settings", &"--max-crate-size", &limit.to_string()]);
    let out = mirror(
        &s.mirror.root,
        &[
            "--upstream",
            &s.server.index_url(),
            "alpha@1.0.0",
            "huge@1.0.0",
        ],
    );
    common::assert_exit_code(&out, 1, "mirror of a crate over the limit");
    let r = report(&out);
    let huge = entry(&r, "huge", "1.0.0");
    assert_eq!(huge["status"], "refused", "{r:#}");
    let reason = huge["reason"].as_str().unwrap();
    assert!(reason.contains("max-crate-size"), "{reason}");
    assert!(
        reason.contains(&format!("over the limit of {limit} bytes")),
        "{reason}"
    );
    assert!(common::stderr(&out).contains("refused huge v1.0.0"));
    assert_eq!(
        s.server.count("/crates/huge/huge-1.0.0.crate"),
        1,
        "not retried"
    );
    assert_eq!(entry(&r, "alpha", "1.0.0")["status"], "mirrored");
    // Nothing of huge: no line, no .crate, no staging file left.
    assert!(!s.mirror.index_file("huge").exists());
    assert!(!s.mirror.crate_file("huge", "1.0.0").exists());
    let written: Vec<&str> = r["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(written, ["crates/alpha/alpha-1.0.0.crate", "al/ph/alpha"]);
    let staged: Vec<_> = walkdir::WalkDir::new(s.mirror.root.join(".regtool"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file() && e.file_name().to_string_lossy().starts_with("add-"))
        .map(|e| e.path().to_path_buf())
        .collect();
    assert!(staged.is_empty(), "staging files left: {staged:?}");
    s.mirror.assert_verify_clean();
}
