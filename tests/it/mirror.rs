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
