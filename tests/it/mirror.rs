//! `regtool mirror`: an upstream sparse registry (a regtool `--mirror` registry
//! built from the crates.io fixtures, or from built crates) is served on
//! 127.0.0.1 and copied into a mirror; real cargo then fetches through source
//! replacement from the mirror. The upstream of most tests is a
//! [`common::Upstream`], whose server answers 404, 5xx and slow responses on cue.

use crate::common::{
    self, CargoEnv, CrateBuilder, Fault, ServedRegistry, TestRegistry, Upstream,
    crates_io_lockfile, describe_output, index_files, json, mirror_command, run_with_timeout,
    sha256_hex, skip_or_fail, version_entry, written,
};
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
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

/// `regtool --registry ROOT --format json mirror ARGS...`.
fn run_mirror(root: &Path, args: &[&str]) -> Output {
    run_with_timeout(mirror_command(root, args), common::REGTOOL_TIMEOUT)
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
    let crates = common::fixture_crates();
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
    let (upstream_url, lockfile) = (upstream.sparse_index_url(), project.join("Cargo.lock"));
    let mirror_the_lockfile = || {
        let args = ["--upstream", &upstream_url, lockfile.to_str().unwrap()];
        run_mirror(&mirrored.root(), &args)
    };
    let before = upstream.server.total_requests();
    let out = mirror_the_lockfile();
    common::assert_success(&out, "regtool mirror");
    let r = json(&out);
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
    let out = mirror_the_lockfile();
    common::assert_success(&out, "second regtool mirror");
    let r = json(&out);
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

#[test]
fn tampered_crate_is_refused_and_nothing_of_it_is_written() {
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    let tampered = CrateBuilder::new("alpha", "1.0.0")
        .file("src/lib.rs", "pub fn evil() {}\n")
        .build();
    fs::write(up.crate_file("alpha", "1.0.0"), &tampered).unwrap();

    let out = up.mirror_into(&mirror.root, &["alpha@1.0.0", "beta@0.2.0"]);
    common::assert_exit_code(&out, 1, "mirror with a tampered .crate");
    let r = json(&out);
    let alpha = version_entry(&r, "alpha", "1.0.0");
    assert_eq!(alpha["status"], "refused");
    let reason = alpha["reason"].as_str().unwrap();
    assert!(reason.contains("checksum mismatch"), "{reason}");
    assert!(reason.contains(&sha256_hex(&tampered)), "{reason}");
    assert!(common::stderr(&out).contains("refused alpha v1.0.0"));
    // The other version still lands.
    assert_eq!(version_entry(&r, "beta", "0.2.0")["status"], "mirrored");
    assert!(mirror.index_file("beta").is_file());
    // Nothing of alpha: no index file, no .crate.
    assert!(!mirror.index_file("alpha").exists());
    assert!(!mirror.crate_file("alpha", "1.0.0").exists());
    assert_eq!(written(&r), ["crates/beta/beta-0.2.0.crate", "be/ta/beta"]);
}

#[test]
fn versions_and_crates_upstream_lacks_are_refused_by_name() {
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    let before = files(&mirror.root);
    let out = up.mirror_into(&mirror.root, &["alpha@9.9.9", "nosuch@1.0.0"]);
    common::assert_exit_code(&out, 1, "mirror of missing versions");
    let r = json(&out);
    assert!(
        version_entry(&r, "alpha", "9.9.9")["reason"]
            .as_str()
            .unwrap()
            .contains("upstream has no version 9.9.9 of `alpha`")
    );
    assert!(
        version_entry(&r, "nosuch", "1.0.0")["reason"]
            .as_str()
            .unwrap()
            .contains("upstream has no crate `nosuch`")
    );
    assert_eq!(up.server.count("/no/su/nosuch"), 1, "a 404 is not retried");
    assert_eq!(files(&mirror.root), before, "nothing may be written");
    // A lockfile checksum that disagrees with upstream's line is refused too.
    let lock = mirror.input(
        "Cargo.lock",
        crates_io_lockfile(None, &[("alpha", "1.0.0", &"0".repeat(64))]).as_bytes(),
    );
    let out = up.mirror_into(&mirror.root, &[lock.to_str().unwrap()]);
    common::assert_exit_code(&out, 1, "mirror with a wrong lockfile checksum");
    assert!(
        version_entry(&json(&out), "alpha", "1.0.0")["reason"]
            .as_str()
            .unwrap()
            .contains("checksum mismatch")
    );
    assert_eq!(files(&mirror.root), before, "nothing may be written");
}

#[test]
fn server_errors_and_slow_answers_are_retried_with_a_bound() {
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    let krate = "/crates/beta/beta-0.2.0.crate";
    up.server
        .fail("/be/ta/beta", &[Fault::Status(500), Fault::Status(503)]);
    up.server.fail(
        krate,
        &[Fault::Status(429), Fault::Delay(Duration::from_secs(4))],
    );
    let out = up.mirror_into(&mirror.root, &["--timeout", "1", "beta@0.2.0"]);
    common::assert_success(&out, "mirror through 500, 503, 429 and a stall");
    assert_eq!(
        version_entry(&json(&out), "beta", "0.2.0")["status"],
        "mirrored"
    );
    assert_eq!(up.server.count("/be/ta/beta"), 3);
    assert_eq!(up.server.count(krate), 3);
    assert_eq!(
        fs::read(mirror.crate_file("beta", "0.2.0")).unwrap(),
        fs::read(up.crate_file("beta", "0.2.0")).unwrap()
    );

    // A server that keeps stalling: given up after --retries, refused, quickly.
    let stall = Fault::Delay(Duration::from_secs(5));
    up.server.fail("/al/ph/alpha", &vec![stall; 10]);
    let start = Instant::now();
    let out = up.mirror_into(
        &mirror.root,
        &["--timeout", "1", "--retries", "2", "alpha@1.0.0"],
    );
    common::assert_exit_code(&out, 1, "mirror from a stalled server");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    let reason = version_entry(&json(&out), "alpha", "1.0.0")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("gave up after 3 tries"), "{reason}");
    assert_eq!(up.server.count("/al/ph/alpha"), 3);
    assert!(!mirror.index_file("alpha").exists());
}

#[test]
fn killed_run_leftovers_are_adopted_and_dry_run_writes_nothing() {
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    // A killed run stored alpha's .crate but not its line.
    let orphan = mirror.crate_file("alpha", "1.0.0");
    fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    fs::copy(up.crate_file("alpha", "1.0.0"), &orphan).unwrap();

    let before = files(&mirror.root);
    let out = up.mirror_into(&mirror.root, &["--dry-run", "alpha@1.0.0", "beta@0.2.0"]);
    common::assert_success(&out, "mirror --dry-run");
    let r = json(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["status"], "planned");
    assert_eq!(files(&mirror.root), before, "a dry run writes nothing");
    assert_eq!(up.server.count("/crates/beta/beta-0.2.0.crate"), 0);

    let out = up.mirror_into(&mirror.root, &["alpha@1.0.0", "beta@0.2.0"]);
    common::assert_success(&out, "mirror after a killed run");
    assert_eq!(up.server.count("/crates/alpha/alpha-1.0.0.crate"), 0);
    assert_eq!(up.server.count("/crates/beta/beta-0.2.0.crate"), 1);
    for name in ["alpha", "beta"] {
        assert_eq!(
            fs::read(mirror.index_file(name)).unwrap(),
            fs::read(up.index_file(name)).unwrap()
        );
    }
    mirror.assert_verify_clean();
}

#[test]
fn refresh_takes_upstream_yanked_flags() {
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    let out = up.mirror_into(&mirror.root, &["alpha@1.0.0", "beta@0.2.0"]);
    common::assert_success(&out, "mirror");
    up.ok(&[&"yank", &"alpha@1.0.0"]);
    let total = up.server.total();
    let out = up.mirror_into(&mirror.root, &["--refresh"]);
    common::assert_success(&out, "mirror --refresh");
    let r = json(&out);
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["status"], "refreshed");
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["yanked"], true);
    assert_eq!(version_entry(&r, "beta", "0.2.0")["status"], "unchanged");
    assert_eq!(
        up.server.total() - total,
        2,
        "one index file per crate, no download"
    );
    assert_eq!(
        fs::read(mirror.index_file("alpha")).unwrap(),
        fs::read(up.index_file("alpha")).unwrap()
    );
}

#[test]
fn only_mirror_registries_take_a_mirror() {
    let reg = TestRegistry::new();
    let before = files(&reg.root);
    let out = run_mirror(&reg.root, &["itoa@1.0.18"]);
    common::assert_exit_code(&out, 2, "mirror into a registry without --mirror");
    assert!(common::stderr(&out).contains("regtool init --mirror"));
    assert_eq!(files(&reg.root), before);
}

/// Against the real crates.io (its sparse index, as cargo reaches it): a
/// lockfile with one crate without dependencies. When crates.io cannot be
/// reached from here: skipped with a note, or a failure in CI.
#[test]
fn real_crates_io_lockfile() {
    let crate_bytes = fs::read(common::fixtures().join("itoa-1.0.18.crate")).unwrap();
    let cksum = sha256_hex(&crate_bytes);
    let reg = TestRegistry::mirror();
    let lock = reg.input(
        "Cargo.lock",
        crates_io_lockfile(None, &[("itoa", "1.0.18", &cksum)]).as_bytes(),
    );
    let lock = lock.to_str().unwrap();
    let out = run_mirror(&reg.root, &["--retries", "1", "--timeout", "20", lock]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let unreachable = |text: &str| {
        text.contains("cannot fetch upstream's index file")
            || text.contains("cannot download")
            || text.contains("failed to download")
    };
    if !out.status.success() && unreachable(&format!("{r}{}", common::stderr(&out))) {
        skip_or_fail(
            "crates.io cannot be reached from here",
            "it mirrors a lockfile from the real crates.io",
            &format!(
                "CI needs the network (.ci/run downloads the corpus too); what regtool said:\n{}",
                describe_output(&out)
            ),
        );
        return;
    }
    common::assert_success(&out, "regtool mirror from crates.io");
    assert_eq!(version_entry(&r, "itoa", "1.0.18")["status"], "mirrored");
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
    let upstream = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0").manifest_extra("[dependencies]\nalpha = \"1\"\n"),
        CrateBuilder::new("gamma", "0.1.0"),
        CrateBuilder::new("gamma", "0.2.0"),
        CrateBuilder::new("delta", "3.0.0").manifest_extra("[dependencies]\ngamma = \"0.2\"\n"),
    ]);
    let server = &upstream.server;
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
    let out = run_mirror(&mirror_reg.root, &args);
    common::assert_success(&out, "mirror after the kill");
    let r = json(&out);
    for (name, vers, status) in [
        ("alpha", "1.0.0", "mirrored"),
        ("beta", "0.2.0", "mirrored"),
        ("gamma", "0.1.0", "skipped"),
        ("gamma", "0.2.0", "skipped"),
        ("delta", "3.0.0", "skipped"),
    ] {
        assert_eq!(
            version_entry(&r, name, vers)["status"],
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
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    // Bytes that do not compress: the .crate is bigger than alpha's.
    up.publish(&CrateBuilder::new("huge", "1.0.0").file("data.bin", common::noise(40_000)));
    // The limit is alpha's size exactly: alpha is taken, huge is not.
    let limit = fs::metadata(up.crate_file("alpha", "1.0.0")).unwrap().len();
    assert!(fs::metadata(up.crate_file("huge", "1.0.0")).unwrap().len() > limit);
    mirror.ok(&[&"settings", &"--max-crate-size", &limit.to_string()]);
    let out = up.mirror_into(&mirror.root, &["alpha@1.0.0", "huge@1.0.0"]);
    common::assert_exit_code(&out, 1, "mirror of a crate over the limit");
    let r = json(&out);
    let huge = version_entry(&r, "huge", "1.0.0");
    assert_eq!(huge["status"], "refused", "{r:#}");
    let reason = huge["reason"].as_str().unwrap();
    assert!(reason.contains("max-crate-size"), "{reason}");
    assert!(
        reason.contains(&format!("over the limit of {limit} bytes")),
        "{reason}"
    );
    assert!(common::stderr(&out).contains("refused huge v1.0.0"));
    assert_eq!(
        up.server.count("/crates/huge/huge-1.0.0.crate"),
        1,
        "not retried"
    );
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["status"], "mirrored");
    // Nothing of huge: no line, no .crate, no staging file left.
    assert!(!mirror.index_file("huge").exists());
    assert!(!mirror.crate_file("huge", "1.0.0").exists());
    assert_eq!(
        written(&r),
        ["crates/alpha/alpha-1.0.0.crate", "al/ph/alpha"]
    );
    let staged: Vec<_> = walkdir::WalkDir::new(mirror.root.join(".regtool"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file() && e.file_name().to_string_lossy().starts_with("add-"))
        .map(|e| e.path().to_path_buf())
        .collect();
    assert!(staged.is_empty(), "staging files left: {staged:?}");
    mirror.assert_verify_clean();
}

// Issue 18: upstream and the lockfile are outside input. Each test below
// failed on main bc3f5a2, before mirror parsed them into types.

/// Upstream's first index line of `name` as JSON, edited by `edit`, written
/// back as the whole index file (one line).
fn rewrite_line(up: &Upstream, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let text = up.index_text(name);
    let mut line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    edit(&mut line);
    let line = serde_json::to_string(&line).unwrap();
    fs::write(up.index_file(name), format!("{line}\n")).unwrap();
    line
}

/// The `reason` of `name` `vers` in a mirror report, checked to be a refusal.
fn refusal(report: &Value, name: &str, vers: &str) -> String {
    let v = version_entry(report, name, vers);
    assert_eq!(v["status"], "refused", "{name} {vers}: {report:#}");
    v["reason"].as_str().unwrap().to_string()
}

/// Every file under `dir` whose name is `file_name`.
fn files_named(dir: &Path, file_name: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == file_name)
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn a_traversal_version_in_a_lockfile_is_refused_by_name_and_names_no_path() {
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    // Upstream plays along: its line has the same version text, and its
    // `dl` names the download by checksum only, so the bytes arrive.
    let bytes = fs::read(up.crate_file("alpha", "1.0.0")).unwrap();
    let cksum = sha256_hex(&bytes);
    let vers = "1/../../../../x";
    rewrite_line(&up, "alpha", |l| l["vers"] = vers.into());
    fs::create_dir_all(up.root.join("dl")).unwrap();
    fs::write(up.root.join("dl").join(&cksum), &bytes).unwrap();
    let config = format!("{{\"dl\":\"{}/dl/{{sha256-checksum}}\"}}", up.server.url());
    fs::write(up.root.join("config.json"), config).unwrap();
    let lock = mirror.input(
        "Cargo.lock",
        crates_io_lockfile(None, &[("alpha", vers, &cksum), ("beta", "0.2.0", "")])
            .replace("checksum = \"\"\n", "")
            .as_bytes(),
    );
    let before = files(&mirror.root);
    let out = up.mirror_into(&mirror.root, &[lock.to_str().unwrap()]);
    common::assert_exit_code(&out, 2, "mirror of a lockfile with a traversal version");
    let err = common::stderr(&out);
    assert!(err.contains("Cargo.lock"), "{err}");
    assert!(
        err.contains("package `alpha` v1/../../../../x: `version` is not a semver version"),
        "{err}"
    );
    assert_eq!(files(&mirror.root), before, "nothing may be written");
    assert_eq!(
        files_named(mirror.temp_dir(), "x.crate"),
        Vec::<PathBuf>::new()
    );
    assert_eq!(up.server.total(), 0, "nothing is asked of upstream");
}

#[test]
fn lying_index_lines_are_refused_by_name_and_the_rest_lands() {
    let dep = |name: &str, registry: Option<&str>| {
        serde_json::json!({"name": name, "req": "^1", "features": [], "optional": false,
            "default_features": true, "target": null, "kind": "normal", "registry": registry})
    };
    let up = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("gamma", "1.0.0"),
        CrateBuilder::new("delta", "1.0.0"),
        CrateBuilder::new("epsilon", "1.0.0"),
        CrateBuilder::new("zeta", "1.0.0"),
        CrateBuilder::new("theta", "1.0.0"),
    ]);
    // gamma: two lines for 1.0.0 (the second adds a dependency).
    let first = up.index_text("gamma");
    let mut second: Value = serde_json::from_str(first.trim()).unwrap();
    second["deps"] = serde_json::json!([dep("alpha", None)]);
    fs::write(up.index_file("gamma"), format!("{first}{second}\n")).unwrap();
    // delta: a dependency on another registry.
    rewrite_line(&up, "delta", |l| {
        l["deps"] = serde_json::json!([dep("evil", Some("https://evil.example/index"))])
    });
    // epsilon: the line names another crate.
    rewrite_line(&up, "epsilon", |l| l["name"] = "alpha".into());
    // zeta: a checksum that is not lowercase hex.
    rewrite_line(&up, "zeta", |l| {
        l["cksum"] = l["cksum"].as_str().unwrap().to_uppercase().into()
    });
    // theta: the line for 1.0.0 has a path for a version.
    rewrite_line(&up, "theta", |l| l["vers"] = "1.0.0/../../x".into());
    let mirror = TestRegistry::mirror();
    let wanted = [
        "alpha@1.0.0",
        "gamma@1.0.0",
        "delta@1.0.0",
        "epsilon@1.0.0",
        "zeta@1.0.0",
        "theta@1.0.0",
    ];
    let out = up.mirror_into(&mirror.root, &wanted);
    common::assert_exit_code(&out, 1, "mirror from a lying upstream");
    let r = json(&out);
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["status"], "mirrored");
    for (name, says) in [
        (
            "gamma",
            "two lines for v1.0.0 (lines 1 and 2): neither is taken",
        ),
        (
            "delta",
            "depends on `evil` from another registry (`https://evil.example/index`)",
        ),
        ("epsilon", "it names the crate `alpha`, not `epsilon`"),
        ("zeta", "`cksum`: "),
        (
            "theta",
            "upstream has no version 1.0.0 of `theta` (1 line of its index file cannot be read: line 1 has a `vers` that is not a semver version: `1.0.0/../../x`)",
        ),
    ] {
        let reason = refusal(&r, name, "1.0.0");
        assert!(reason.contains(says), "{name}: {reason}");
        assert!(!mirror.index_file(name).exists(), "{name}");
        assert!(!mirror.root.join("crates").join(name).exists(), "{name}");
    }
    assert!(
        common::stderr(&out).contains("refused delta v1.0.0"),
        "{}",
        common::stderr(&out)
    );
    // Nothing was downloaded for the refused lines.
    for name in ["gamma", "delta", "epsilon", "zeta", "theta"] {
        assert_eq!(
            up.server
                .count(&format!("/crates/{name}/{name}-1.0.0.crate")),
            0
        );
    }
    mirror.assert_verify_clean();
}

#[test]
fn bytes_that_are_not_the_line_s_crate_are_refused_though_the_cksum_matches() {
    let up = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0"),
        CrateBuilder::new("gamma", "1.0.0"),
    ]);
    // alpha: not gzip at all; gamma: the bytes of gamma 2.0.0. Each line's
    // cksum is the SHA-256 of what is served.
    let not_gzip = b"<html>not a crate</html>".to_vec();
    let gamma2 = CrateBuilder::new("gamma", "2.0.0").build();
    for (name, bytes) in [("alpha", &not_gzip), ("gamma", &gamma2)] {
        fs::write(up.crate_file(name, "1.0.0"), bytes).unwrap();
        rewrite_line(&up, name, |l| l["cksum"] = sha256_hex(bytes).into());
    }
    let mirror = TestRegistry::mirror();
    let out = up.mirror_into(&mirror.root, &["alpha@1.0.0", "beta@0.2.0", "gamma@1.0.0"]);
    common::assert_exit_code(&out, 1, "mirror of bytes that are not the crate");
    let r = json(&out);
    let alpha = refusal(&r, "alpha", "1.0.0");
    assert!(
        alpha.contains("the .crate is refused") && alpha.contains("not a gzip file"),
        "{alpha}"
    );
    let gamma = refusal(&r, "gamma", "1.0.0");
    assert!(
        gamma.contains("the .crate holds gamma v2.0.0, but upstream's line is gamma v1.0.0"),
        "{gamma}"
    );
    assert_eq!(version_entry(&r, "beta", "0.2.0")["status"], "mirrored");
    for name in ["alpha", "gamma"] {
        assert!(!mirror.index_file(name).exists());
        assert!(!mirror.crate_file(name, "1.0.0").exists());
    }
    assert_eq!(written(&r), ["crates/beta/beta-0.2.0.crate", "be/ta/beta"]);
    // The registry is sound: the next add of anything else just works.
    mirror.add_ok(&[&mirror.krate(&CrateBuilder::new("omega", "1.0.0"))]);
    mirror.assert_verify_clean();
}

#[test]
fn refresh_applies_every_check_of_a_first_mirror() {
    let up = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0"),
        CrateBuilder::new("gamma", "1.0.0"),
        CrateBuilder::new("delta", "1.0.0"),
    ]);
    let mirror = TestRegistry::mirror();
    let wanted = ["alpha@1.0.0", "beta@0.2.0", "gamma@1.0.0", "delta@1.0.0"];
    common::assert_success(&up.mirror_into(&mirror.root, &wanted), "mirror");
    let before = files(&mirror.root);
    // alpha: yanked, and a dependency on another registry added.
    rewrite_line(&up, "alpha", |l| {
        l["yanked"] = true.into();
        l["deps"] = serde_json::json!([{"name": "evil", "req": "^1", "features": [],
            "optional": false, "default_features": true, "target": null, "kind": "normal",
            "registry": "https://evil.example/index"}]);
    });
    // beta: the line names another crate (and is yanked).
    rewrite_line(&up, "beta", |l| {
        l["name"] = "alpha".into();
        l["yanked"] = true.into();
    });
    // gamma: a new dependency, on crates.io.
    rewrite_line(&up, "gamma", |l| {
        l["deps"] = serde_json::json!([{"name": "alpha", "req": "^1", "features": [],
            "optional": false, "default_features": true, "target": null, "kind": "normal"}]);
    });
    // delta: only yanked, which --refresh is for.
    let delta = rewrite_line(&up, "delta", |l| l["yanked"] = true.into());

    let out = up.mirror_into(&mirror.root, &["--refresh"]);
    common::assert_exit_code(&out, 1, "mirror --refresh of lying lines");
    let r = json(&out);
    for (name, vers, says) in [
        ("alpha", "1.0.0", "depends on `evil` from another registry"),
        ("beta", "0.2.0", "it names the crate `alpha`, not `beta`"),
        ("gamma", "1.0.0", "upstream's line changed its `deps`"),
    ] {
        let reason = refusal(&r, name, vers);
        assert!(reason.contains(says), "{name}: {reason}");
        assert!(reason.contains("kept the mirror's"), "{name}: {reason}");
        assert_eq!(
            fs::read(mirror.index_file(name)).unwrap(),
            before[&common::index_path(name)],
            "{name}'s line is kept"
        );
    }
    assert_eq!(version_entry(&r, "delta", "1.0.0")["status"], "refreshed");
    assert_eq!(mirror.index_text("delta"), format!("{delta}\n"));
    assert_eq!(written(&r), [common::index_path("delta").as_str()]);
    mirror.assert_verify_clean();
}

#[test]
fn a_lost_crate_is_restored_after_upstream_yanked_it() {
    let (up, mirror) = (Upstream::alpha_beta(), TestRegistry::mirror());
    common::assert_success(&up.mirror_into(&mirror.root, &["alpha@1.0.0"]), "mirror");
    let line = mirror.index_text("alpha");
    up.ok(&[&"yank", &"alpha@1.0.0"]);
    fs::remove_file(mirror.crate_file("alpha", "1.0.0")).unwrap();
    let index_requests = up.server.count("/al/ph/alpha");

    let out = up.mirror_into(&mirror.root, &["alpha@1.0.0"]);
    common::assert_success(&out, "restoring a .crate upstream has yanked");
    let r = json(&out);
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["status"], "restored");
    assert_eq!(
        fs::read(mirror.crate_file("alpha", "1.0.0")).unwrap(),
        fs::read(up.crate_file("alpha", "1.0.0")).unwrap()
    );
    // The line is the mirror's: its yank state changes with --refresh only.
    assert_eq!(mirror.index_text("alpha"), line);
    assert_eq!(
        up.server.count("/al/ph/alpha"),
        index_requests,
        "a restore needs no index file"
    );
    mirror.assert_verify_clean();
}

/// Runs `cmd` and returns its output with its peak resident memory in KiB
/// (the kernel's count, read by python3 through `getrusage`).
fn with_peak_memory(cmd: &std::process::Command) -> (Output, u64) {
    let mut py = std::process::Command::new("python3");
    py.arg("-c")
        .arg(
            "import resource, subprocess, sys\n\
             r = subprocess.run(sys.argv[1:], capture_output=True)\n\
             sys.stdout.buffer.write(r.stdout)\n\
             sys.stderr.buffer.write(r.stderr)\n\
             sys.stderr.write('\\nPEAK_KIB=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
             sys.exit(r.returncode)",
        )
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => py.env(k, v),
            None => py.env_remove(k),
        };
    }
    let out = run_with_timeout(py, common::REGTOOL_TIMEOUT);
    let err = common::stderr(&out);
    let peak = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("PEAK_KIB="))
        .unwrap_or_else(|| panic!("no peak memory:\n{}", describe_output(&out)))
        .parse()
        .unwrap();
    (out, peak)
}

#[test]
fn huge_index_files_are_streamed_and_long_lines_refused() {
    let up = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0"),
        CrateBuilder::new("gamma", "1.0.0"),
    ]);
    // alpha: 64 MiB of lines of other versions before the one asked for.
    let line = up.index_text("alpha").trim().to_string();
    let template: Value = serde_json::from_str(&line).unwrap();
    let filler = Arc::new(move |out: &mut dyn std::io::Write| -> std::io::Result<()> {
        let mut other = template.clone();
        let (mut written, mut n) = (0usize, 0u64);
        while written < 64 << 20 {
            other["vers"] = format!("0.{}.{}", n / 1000, n % 1000).into();
            let text = format!("{other}\n");
            out.write_all(text.as_bytes())?;
            written += text.len();
            n += 1;
        }
        writeln!(out, "{line}")
    });
    up.server.lie("/al/ph/alpha", Fault::Stream(filler));
    // beta: a line of 2 MiB (over the 1 MiB a line may have).
    let beta = up.index_text("beta");
    let long = format!(
        "{{\"name\":\"beta\",\"pad\":\"{}\"}}\n{beta}",
        "x".repeat(2 << 20)
    );
    up.server.lie("/be/ta/beta", Fault::Body(long.into_bytes()));
    // gamma: over 256 MiB, of blank lines.
    let blank = Arc::new(|out: &mut dyn std::io::Write| -> std::io::Result<()> {
        let spaces = format!("{}\n", " ".repeat((1 << 20) - 1));
        for _ in 0..257 {
            out.write_all(spaces.as_bytes())?;
        }
        Ok(())
    });
    up.server.lie("/ga/mm/gamma", Fault::Stream(blank));

    let mirror = TestRegistry::mirror();
    let url = up.index_url();
    let cmd = mirror_command(
        &mirror.root,
        &[
            "--upstream",
            &url,
            "alpha@1.0.0",
            "beta@0.2.0",
            "gamma@1.0.0",
        ],
    );
    let (out, peak_kib) = with_peak_memory(&cmd);
    common::assert_exit_code(&out, 1, "mirror of huge index files");
    let r = json(&out);
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["status"], "mirrored");
    assert_eq!(
        mirror.index_text("alpha"),
        format!("{}\n", up.index_text("alpha").trim())
    );
    let beta = refusal(&r, "beta", "0.2.0");
    assert!(
        beta.contains("line 1 of the index file is over 1048576 bytes"),
        "{beta}"
    );
    let gamma = refusal(&r, "gamma", "1.0.0");
    assert!(
        gamma.contains("the index file is over 268435456 bytes"),
        "{gamma}"
    );
    // Read whole and parsed, a 64 MiB index file took well over a GB.
    assert!(
        peak_kib < 64 * 1024,
        "mirror peaked at {} MiB reading a 64 MiB index file",
        peak_kib / 1024
    );
}

#[test]
fn slow_bytes_are_abandoned_at_the_low_speed_limit() {
    let up = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0"),
        CrateBuilder::new("gamma", "1.0.0"),
    ]);
    // A byte every half second: 2 bytes/s, under cargo's 10 bytes/s.
    let drip = Fault::Drip(Duration::from_millis(500));
    up.server
        .lie("/crates/alpha/alpha-1.0.0.crate", drip.clone());
    up.server.lie("/ga/mm/gamma", drip);
    let mirror = TestRegistry::mirror();
    let start = Instant::now();
    let out = up.mirror_into(
        &mirror.root,
        &["--timeout", "2", "alpha@1.0.0", "beta@0.2.0", "gamma@1.0.0"],
    );
    let took = start.elapsed();
    common::assert_exit_code(
        &out,
        1,
        "mirror from a server sending a byte every half second",
    );
    let r = json(&out);
    for name in ["alpha", "gamma"] {
        let reason = refusal(&r, name, "1.0.0");
        assert!(
            reason.contains("slower than the low-speed limit of 10 bytes/s"),
            "{name}: {reason}"
        );
    }
    assert_eq!(version_entry(&r, "beta", "0.2.0")["status"], "mirrored");
    // Abandoned after one window of --timeout, and not tried again.
    assert_eq!(up.server.count("/crates/alpha/alpha-1.0.0.crate"), 1);
    assert_eq!(up.server.count("/ga/mm/gamma"), 1);
    assert!(took < Duration::from_secs(30), "{took:?}");

    // --deadline bounds a file however fast it trickles, retries included.
    up.server.lie(
        "/crates/alpha/alpha-1.0.0.crate",
        Fault::Drip(Duration::from_millis(20)),
    );
    let start = Instant::now();
    let out = up.mirror_into(&mirror.root, &["--deadline", "2", "alpha@1.0.0"]);
    common::assert_exit_code(&out, 1, "mirror of a trickle past the deadline");
    let reason = refusal(&json(&out), "alpha", "1.0.0");
    assert!(reason.contains("deadline of 2 s"), "{reason}");
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn endless_bodies_and_lying_lengths_are_refused_by_version() {
    // Issue 18: on main bc3f5a2 an endless `.crate` on a mirror (which has
    // no max-crate-size) was read until the disk filled.
    let up = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0"),
        CrateBuilder::new("gamma", "1.0.0"),
        CrateBuilder::new("delta", "1.0.0"),
        CrateBuilder::new("epsilon", "1.0.0"),
        CrateBuilder::new("zeta", "1.0.0"),
    ]);
    let beta_size = fs::metadata(up.crate_file("beta", "0.2.0")).unwrap().len();
    let gamma_size = fs::metadata(up.crate_file("gamma", "1.0.0")).unwrap().len();
    // alpha's .crate never ends.
    up.server
        .lie("/crates/alpha/alpha-1.0.0.crate", Fault::endless());
    // beta's says it is 10 bytes and sends them all.
    up.server
        .lie("/crates/beta/beta-0.2.0.crate", Fault::Length(10));
    // gamma's says 1000 bytes more than it sends.
    up.server.lie(
        "/crates/gamma/gamma-1.0.0.crate",
        Fault::Length(gamma_size + 1000),
    );
    // delta's index file never ends; epsilon's says it is a TiB.
    up.server.lie("/de/lt/delta", Fault::endless());
    up.server.lie("/ep/si/epsilon", Fault::Length(1 << 40));

    let mirror = TestRegistry::mirror();
    mirror.ok(&[&"settings", &"--max-unpacked-size", &"4MiB"]);
    let start = Instant::now();
    let out = up.mirror_into(
        &mirror.root,
        &[
            "--retries",
            "1",
            "alpha@1.0.0",
            "beta@0.2.0",
            "gamma@1.0.0",
            "delta@1.0.0",
            "epsilon@1.0.0",
            "zeta@1.0.0",
        ],
    );
    let took = start.elapsed();
    common::assert_exit_code(&out, 1, "mirror from a server that lies about sizes");
    let r = json(&out);
    let alpha = refusal(&r, "alpha", "1.0.0");
    assert!(
        alpha.contains("over the registry's max-unpacked-size, compressed")
            && alpha.contains("over the limit of 4263936 bytes"),
        "{alpha}"
    );
    let beta = refusal(&r, "beta", "0.2.0");
    assert!(
        beta.contains("checksum mismatch") && beta.contains("gave 10 bytes"),
        "{beta} (the .crate is {beta_size} bytes)"
    );
    let gamma = refusal(&r, "gamma", "1.0.0");
    assert!(gamma.contains("gave up after 2 tries"), "{gamma}");
    let delta = refusal(&r, "delta", "1.0.0");
    assert!(
        delta.contains("line 1 of the index file is over 1048576 bytes"),
        "{delta}"
    );
    let epsilon = refusal(&r, "epsilon", "1.0.0");
    assert!(
        epsilon.contains("the index file is over 268435456 bytes"),
        "{epsilon}"
    );
    assert_eq!(version_entry(&r, "zeta", "1.0.0")["status"], "mirrored");
    assert_eq!(up.server.count("/crates/alpha/alpha-1.0.0.crate"), 1);
    assert_eq!(up.server.count("/ep/si/epsilon"), 1);
    for name in ["alpha", "beta", "gamma", "delta", "epsilon"] {
        assert!(!mirror.index_file(name).exists(), "{name}");
    }
    assert!(
        files_named(&mirror.root, "alpha-1.0.0.crate").is_empty(),
        "nothing of the endless .crate is kept"
    );
    mirror.assert_verify_clean();
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn redirects_are_followed_and_loops_refused() {
    let up = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0"),
    ]);
    // alpha's download moved (as crates.io's does, to its CDN); beta's
    // points at itself.
    let alpha = fs::read(up.crate_file("alpha", "1.0.0")).unwrap();
    up.server.lie(
        "/crates/alpha/alpha-1.0.0.crate",
        Fault::Redirect(format!("{}/cdn/alpha", up.server.url())),
    );
    up.server.lie("/cdn/alpha", Fault::Body(alpha.clone()));
    let beta = "/crates/beta/beta-0.2.0.crate";
    up.server
        .lie(beta, Fault::Redirect(format!("{}{beta}", up.server.url())));
    let mirror = TestRegistry::mirror();
    let out = up.mirror_into(&mirror.root, &["alpha@1.0.0", "beta@0.2.0"]);
    common::assert_exit_code(&out, 1, "mirror through redirects");
    let r = json(&out);
    assert_eq!(version_entry(&r, "alpha", "1.0.0")["status"], "mirrored");
    assert_eq!(
        fs::read(mirror.crate_file("alpha", "1.0.0")).unwrap(),
        alpha
    );
    let reason = refusal(&r, "beta", "0.2.0");
    assert!(reason.contains("redirect"), "{reason}");
    assert!(!mirror.index_file("beta").exists());
    mirror.assert_verify_clean();
}
