//! A registry in an S3 bucket (`s3://bucket/prefix`), against a real
//! S3-protocol server on 127.0.0.1: moto's standalone server, one for the
//! whole test binary, and a bucket of its own per test
//! ([`common::MotoServer`], [`common::Bucket`]). Without `moto_server` each
//! test skips with a note, and fails in CI ([`common::require_tool`]).

use crate::common::{
    self, Bucket, CargoEnv, CrateBuilder, MotoServer, REGTOOL_TIMEOUT, Upstream,
    crates_io_lockfile, describe_output, json, run_with_timeout, version_entry, written,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A new bucket on the shared moto server, or `None` when there is none
/// (after a note; a panic in CI).
fn bucket() -> Option<Bucket> {
    MotoServer::shared("the registry lives in an S3 bucket on 127.0.0.1").map(MotoServer::bucket)
}

/// A new `--mirror` registry at `prefix` of `bucket`, made for the bucket's
/// plain-HTTP URL of that prefix; gives its `s3://` URL.
fn init_mirror(bucket: &Bucket, prefix: &str) -> String {
    let reg = bucket.url(prefix);
    bucket.ok(&["init", &reg, "--url", &bucket.http_url(prefix), "--mirror"]);
    reg
}

/// The arguments of `regtool --registry REG --format json mirror --upstream
/// UPSTREAM WANTED...` (lockfiles or `NAME@VERSION`s).
fn mirror_args<'a>(reg: &'a str, upstream: &'a str, wanted: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--registry",
        reg,
        "--format",
        "json",
        "mirror",
        "--upstream",
        upstream,
    ];
    args.extend(wanted);
    args
}

/// `regtool --format json verify REG --deep`, which must exit 0 and report
/// no problem; gives the report.
#[track_caller]
fn verified_clean(bucket: &Bucket, reg: &str) -> Value {
    let verify = json(&bucket.ok(&["--format", "json", "verify", reg, "--deep"]));
    assert_eq!(verify["problems"], serde_json::json!([]), "{verify:#}");
    verify
}

/// Whether any of `requests` lists the bucket.
fn lists(requests: &[String]) -> bool {
    requests
        .iter()
        .any(|r| r.contains("list-type") || r.contains("delimiter") || r.contains("prefix="))
}

/// The precondition requests regtool relies on: moto must refuse a stale
/// `If-Match` and an `If-None-Match: *` on an existing key with 412, and
/// accept a current `If-Match`.
#[test]
fn server_refuses_stale_conditional_puts_with_412() {
    use object_store::{ObjectStore, PutMode, PutOptions, UpdateVersion, path::Path as P};
    let Some(bucket) = bucket() else { return };
    let s3 = bucket.client();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = P::from("probe/object");
    let first = rt
        .block_on(s3.put_opts(&key, b"one".to_vec().into(), PutMode::Create.into()))
        .expect("create-only put of a new key");
    let create_again =
        rt.block_on(s3.put_opts(&key, b"two".to_vec().into(), PutMode::Create.into()));
    assert!(
        matches!(create_again, Err(object_store::Error::AlreadyExists { .. })),
        "If-None-Match: * on an existing key must fail: {create_again:?}"
    );
    let stale = PutMode::Update(UpdateVersion {
        e_tag: Some("\"0123456789abcdef0123456789abcdef\"".into()),
        version: None,
    });
    let stale_put =
        rt.block_on(s3.put_opts(&key, b"three".to_vec().into(), PutOptions::from(stale)));
    assert!(
        matches!(stale_put, Err(object_store::Error::Precondition { .. })),
        "a stale If-Match must fail: {stale_put:?}"
    );
    let current = PutMode::Update(UpdateVersion::from(first));
    rt.block_on(s3.put_opts(&key, b"four".to_vec().into(), current.into()))
        .expect("a current If-Match succeeds");
    assert_eq!(bucket.get("probe/object").body, b"four");
    // The HTTP status behind both refusals is 412.
    let puts: Vec<_> = bucket
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT /") && r.contains("/probe/object "))
        .collect();
    let statuses: Vec<_> = puts.iter().map(|r| r.rsplit(' ').next().unwrap()).collect();
    assert_eq!(statuses, ["200", "412", "412", "200"], "{puts:?}");
}

/// init, add, yank, reindex, verify through `s3://`, with each object's HTTP
/// metadata, the JSON report of what was written, and `REGTOOL_REGISTRY`.
#[test]
fn commands_work_on_a_bucket() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.url("registry");
    let dir = common::tempdir();
    bucket.ok(&["init", &reg, "--url", &bucket.http_url("registry")]);
    let base = CrateBuilder::new("base", "1.0.0").write_to(dir.path());
    let app = CrateBuilder::new("app", "0.1.0")
        .manifest_extra(&format!(
            "[dependencies.base]\nversion = \"1\"\nregistry-index = \"sparse+{}/\"\n",
            bucket.http_url("registry")
        ))
        .write_to(dir.path());
    let out = bucket.ok(&[
        "--registry",
        &reg,
        "--format",
        "json",
        "add",
        app.to_str().unwrap(),
        base.to_str().unwrap(),
    ]);
    let report = json(&out);
    assert_eq!(
        report["written"],
        serde_json::json!([
            "crates/base/base-1.0.0.crate",
            "crates/app/app-0.1.0.crate",
            "ba/se/base",
            "3/a/app"
        ]),
        "every object written, dependencies first, .crate before its line"
    );
    // Metadata a CDN or cargo needs, on every kind of object.
    let config = bucket.get("registry/config.json");
    assert_eq!(config.status, 200);
    assert_eq!(config.header("content-type"), Some("application/json"));
    assert_eq!(config.header("cache-control"), Some("no-cache"));
    let index = bucket.get("registry/ba/se/base");
    assert_eq!(index.header("content-type"), Some("text/plain"));
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let krate = bucket.get("registry/crates/base/base-1.0.0.crate");
    assert_eq!(krate.header("content-type"), Some("application/gzip"));
    assert_eq!(
        krate.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(krate.body, std::fs::read(&base).unwrap());
    // State under the same prefix.
    assert!(
        bucket
            .requests()
            .iter()
            .any(|r| r.starts_with("PUT /") && r.contains("/registry/.regtool/config.toml "))
    );

    // REGTOOL_REGISTRY takes the URL too.
    let mut cmd = bucket.command();
    cmd.env("REGTOOL_REGISTRY", &reg)
        .args(["yank", "base", "1.0.0"]);
    let out = run_with_timeout(cmd, REGTOOL_TIMEOUT);
    assert!(out.status.success(), "{}", describe_output(&out));
    let line: Value = serde_json::from_slice(&bucket.get("registry/ba/se/base").body).unwrap();
    assert_eq!(line["yanked"], true);

    bucket.ok(&["reindex", &reg]);
    let verify = verified_clean(&bucket, &reg);
    assert_eq!(verify["versions"], 2);
    let list = json(&bucket.ok(&["--registry", &reg, "--format", "json", "list"]));
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");

    // A bad URL is one clear error and nothing is made.
    let out = bucket.run(&["init", "s3:///registry", "--url", "https://x.example"]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("no bucket name"),
        "{}",
        describe_output(&out)
    );
}

/// A registry `PREFIX` in `bucket` (`init` with `init_args`) that holds
/// `fillers` crates; returns its URL and the requests one more `add` made
/// (of `newcomer 2.0.0`).
fn requests_of_one_add(
    bucket: &Bucket,
    prefix: &str,
    init_args: &[&str],
    fillers: usize,
) -> Vec<String> {
    let reg = bucket.init(prefix, init_args);
    let dir = common::tempdir();
    let many: Vec<PathBuf> = (0..fillers)
        .map(|i| CrateBuilder::new(&format!("filler{i}"), "1.0.0").write_to(dir.path()))
        .collect();
    bucket.add(&reg, &many);
    let one = CrateBuilder::new("newcomer", "2.0.0").write_to(dir.path());
    bucket.requests_during(|| bucket.add(&reg, &[one]))
}

/// Whether `request` is one of the writers' lease or name claims (under
/// `.regtool/`), not one of the registry's files.
fn lease_or_claim(request: &str) -> bool {
    request.contains("/.regtool/lease ") || request.contains("/.regtool/names/")
}

/// One `add` into a bucket that already holds many crates costs a handful of
/// requests, and no listing (without the catalogue; with it, below): reading
/// the settings, taking the lease (a read and a write) and reading the
/// settings again under it, the crate's index file and name claim (a new
/// crate: the claim is written), the `.crate` and the index file, and the
/// release of the lease.
#[test]
fn one_add_makes_a_handful_of_requests() {
    let Some(bucket) = bucket() else { return };
    let during = requests_of_one_add(&bucket, "big", &["--no-html"], 40);
    assert!(
        during.len() <= 11,
        "one add made {} requests: {during:#?}",
        during.len()
    );
    assert!(!lists(&during), "one add listed the bucket: {during:#?}");
    let puts: Vec<_> = during.iter().filter(|r| r.starts_with("PUT ")).collect();
    let want = [
        "/big/.regtool/lease ",
        "/big/.regtool/names/newcomer ",
        "/big/crates/newcomer/newcomer-2.0.0.crate ",
        "/big/ne/wc/newcomer ",
        "/big/.regtool/lease ",
    ];
    assert_eq!(puts.len(), want.len(), "{during:#?}");
    for (put, want) in puts.iter().zip(want) {
        assert!(put.contains(want), "{put} is not {want}: {during:#?}");
    }
}

/// With the catalogue, one `add` also records its pending work (before the
/// index file), then reads the index file back and writes the page of the
/// crate (which carries the metadata it shows), the search data (if unchanged since read),
/// the fingerprints, the rest of the state and the feed, and clears the
/// pending work; still without listing the bucket. The objects carry their
/// HTTP types.
#[test]
fn one_add_with_the_catalogue_writes_only_its_files() {
    let Some(bucket) = bucket() else { return };
    let during = requests_of_one_add(&bucket, "cat", &[], 10);
    assert!(!lists(&during), "one add listed the bucket: {during:#?}");
    let puts: Vec<&String> = during
        .iter()
        .filter(|r| r.starts_with("PUT ") && !lease_or_claim(r))
        .collect();
    let want = [
        "/cat/crates/newcomer/newcomer-2.0.0.crate ",
        "/cat/.regtool/catalogue-pending.json ",
        "/cat/ne/wc/newcomer ",
        "/cat/catalogue/crates/newcomer.html ",
        "/cat/catalogue/search-index.js ",
        "/cat/.regtool/catalogue-pages ",
        "/cat/.regtool/catalogue.json ",
        "/cat/feed.atom ",
    ];
    assert_eq!(puts.len(), want.len(), "{during:#?}");
    for (put, want) in puts.iter().zip(want) {
        assert!(put.contains(want), "{put} is not {want}: {during:#?}");
    }
    assert!(during.len() <= 10 + 14, "{during:#?}");
    for (key, ty) in [
        ("cat/index.html", "text/html; charset=utf-8"),
        (
            "cat/catalogue/crates/newcomer.html",
            "text/html; charset=utf-8",
        ),
        (
            "cat/catalogue/search-index.js",
            "text/javascript; charset=utf-8",
        ),
        ("cat/catalogue/style.css", "text/css; charset=utf-8"),
        ("cat/feed.atom", "application/atom+xml"),
    ] {
        let o = bucket.get(key);
        assert_eq!(o.status, 200, "{key}");
        assert_eq!(o.header("content-type"), Some(ty), "{key}");
    }
    assert!(
        String::from_utf8_lossy(&bucket.get("cat/catalogue/search-index.js").body)
            .contains("\"newcomer\"")
    );
}

/// Real cargo resolves, downloads and builds from the bucket, served by the
/// S3 server itself.
#[test]
fn cargo_builds_from_a_bucket() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.url("cargo/reg");
    let url = bucket.http_url("cargo/reg");
    bucket.ok(&["init", &reg, "--url", &url]);
    let index = format!("sparse+{url}/");
    let dir = common::tempdir();
    let base = CrateBuilder::new("s3-base", "1.2.0")
        .file("src/lib.rs", "pub fn value() -> u32 { 40 }\n")
        .write_to(dir.path());
    let app = CrateBuilder::new("s3-app", "0.3.0")
        .manifest_extra(&format!(
            "[dependencies.s3-base]\nversion = \"1\"\nregistry-index = \"{index}\"\n"
        ))
        .file(
            "src/lib.rs",
            "pub fn answer() -> u32 { s3_base::value() + 2 }\n",
        )
        .write_to(dir.path());
    bucket.ok(&[
        "--registry",
        &reg,
        "add",
        base.to_str().unwrap(),
        app.to_str().unwrap(),
    ]);
    let env = CargoEnv::new().with_registry("bucket", &index);
    let project = env.project_with_main(
        "s3-app = { version = \"0.3\", registry = \"bucket\" }",
        "fn main() { assert_eq!(s3_app::answer(), 42); }\n",
    );
    env.cargo_ok(&project, &["generate-lockfile"]);
    env.cargo_ok(&project, &["run"]);
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(lock.contains(&common::sha256_hex(&std::fs::read(&base).unwrap())));
}

/// 8 processes × 25 adds at once into one crate's index, one at a time
/// through the lease: every version lands exactly once, no write but the
/// lease's and the name claim's loses a race (412; a failure lists each with
/// its neighbours in moto's log), each add took the lease once (its
/// generation counts the takes), and the registry verifies clean.
#[test]
fn concurrent_adds_through_the_lease() {
    const PROCS: usize = 8;
    const EACH: usize = 25;
    let Some(bucket) = bucket() else { return };
    let bucket = std::sync::Arc::new(bucket);
    let reg = bucket.init("race", &[]);
    let generation = || {
        let lease: Value = serde_json::from_slice(&bucket.get("race/.regtool/lease").body)
            .expect("the lease is JSON");
        lease["generation"].as_u64().expect("a generation")
    };
    let first = generation();
    let dir = common::tempdir();
    let files: Vec<Vec<PathBuf>> = (0..PROCS)
        .map(|p| {
            (0..EACH)
                .map(|i| CrateBuilder::new("hammer", &format!("{p}.{i}.0")).write_to(dir.path()))
                .collect()
        })
        .collect();
    let workers: Vec<_> = files
        .into_iter()
        .map(|mine| {
            let bucket = bucket.clone();
            let reg = reg.clone();
            std::thread::spawn(move || {
                for f in mine {
                    bucket.ok(&["-q", "--registry", &reg, "add", f.to_str().unwrap()]);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed");
    }
    let body = bucket.get("race/ha/mm/hammer").body;
    let mut versions: Vec<String> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["vers"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(versions.len(), PROCS * EACH, "every add left its line");
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), PROCS * EACH, "no line twice");
    let verify = json(&bucket.ok(&["--format", "json", "verify", &reg]));
    assert_eq!(verify["problems"], serde_json::json!([]));
    assert_eq!(verify["crate_files"], PROCS * EACH);
    let log = bucket.timed_requests();
    let refused = |r: &str| r.starts_with("PUT ") && r.ends_with(" 412") && !lease_or_claim(r);
    assert!(
        !log.iter().any(|(_, r)| refused(r)),
        "writers raced past the lease:\n{}",
        in_context(&log, refused, 6)
    );
    // Each take writes the generation it read plus one: two writers that
    // took the lease from the same record would leave fewer.
    assert_eq!(
        generation() - first,
        (PROCS * EACH) as u64,
        "one take of the lease per add"
    );
}

/// The first five requests of `log` (`(time, request)` of
/// [`Bucket::timed_requests`]) that `pick` picks, numbered as in the log,
/// each with the `around` requests before and after it, the last few earlier
/// requests of the same object (`=`) and writes of the lease or a name claim
/// (`L`): the neighbours that tell a failure message's reader what happened.
fn in_context(log: &[(String, String)], pick: impl Fn(&str) -> bool, around: usize) -> String {
    let path = |r: &str| r.split(' ').nth(1).unwrap_or_default().to_string();
    let line = |i: usize, mark: &str| format!("{mark}{i:>6} [{}] {}\n", log[i].0, log[i].1);
    let picked: Vec<usize> = (0..log.len()).filter(|&i| pick(&log[i].1)).collect();
    let mut out = String::new();
    for &at in picked.iter().take(5) {
        let r = &log[at].1;
        let from = at.saturating_sub(around);
        out.push_str(&format!("--- request {at} of {}: {r}\n", log.len()));
        let same: Vec<usize> = (0..from).filter(|&i| path(&log[i].1) == path(r)).collect();
        for &i in &same[same.len().saturating_sub(4)..] {
            out.push_str(&line(i, "  = "));
        }
        let lease: Vec<usize> = (0..from)
            .filter(|&i| log[i].1.starts_with("PUT ") && lease_or_claim(&log[i].1))
            .collect();
        for &i in &lease[lease.len().saturating_sub(6)..] {
            out.push_str(&line(i, "  L "));
        }
        for i in from..(at + around + 1).min(log.len()) {
            out.push_str(&line(i, if i == at { ">>> " } else { "    " }));
        }
    }
    if picked.len() > 5 {
        out.push_str(&format!("... and {} more\n", picked.len() - 5));
    }
    out
}

/// SIGKILL in the middle of an add: never a line without its `.crate`; at most
/// orphan `.crate` files, which the next add of those crates repairs.
#[test]
fn killed_add_leaves_at_most_orphans() {
    let Some(bucket) = bucket() else { return };
    // A short lease: the killed add leaves it held, and the next add takes
    // it over once it has been unchanged for the lease and a quarter.
    let reg = bucket.init("kill", &["--lease", "2s"]);
    let dir = common::tempdir();
    let files: Vec<PathBuf> = (0..60)
        .map(|i| {
            CrateBuilder::new(&format!("victim{i}"), "1.0.0")
                .file("src/lib.rs", "x".repeat(20_000 + i))
                .write_to(dir.path())
        })
        .collect();
    let mut cmd = bucket.command();
    cmd.args(["--registry", &reg, "add"])
        .args(&files)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let before = bucket.requests().len();
    let mut child = cmd.spawn().expect("start add");
    // Kill once some .crate files are in, before every index file is. The
    // bound is generous: on a loaded machine (the suite shares moto) the
    // first PUT has come after more than a minute.
    let start = Instant::now();
    loop {
        let puts = bucket.requests()[before..]
            .iter()
            .filter(|r| r.starts_with("PUT ") && r.contains(".crate "))
            .count();
        if puts >= 5 || start.elapsed() > Duration::from_secs(300) {
            break;
        }
        if let Some(status) = child.try_wait().expect("poll add") {
            panic!("the add ended ({status}) before it could be killed after 5 .crate PUTs");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let out = bucket.run(&["--format", "json", "verify", &reg]);
    let report = json(&out);
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.is_empty(),
        "the add was killed before it finished, leaving orphans: {}",
        describe_output(&out)
    );
    assert!(
        kinds.iter().all(|k| *k == "orphan-crate"),
        "only orphan .crate files after a kill: {}",
        describe_output(&out)
    );
    // The same add again repairs it all.
    bucket.add(&reg, &files);
    let report = json(&bucket.ok(&["--format", "json", "verify", &reg]));
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["versions"], 60);
}

/// The fixtures corpus (21 real crates) gives the same index bytes in a
/// bucket as in a folder (same `SOURCE_DATE_EPOCH`).
#[test]
fn fixtures_give_the_same_index_bytes_as_a_folder() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.url("corpus");
    let crates = common::fixture_crates();
    assert_eq!(crates.len(), 21);
    let folder = common::tempdir();
    let root = folder.path().join("registry");
    let root_s = root.to_string_lossy().into_owned();
    for r in [&reg, &root_s] {
        bucket.ok(&["init", r, "--url", common::URL]);
        bucket.add(r, &crates);
    }
    let keys = common::index_files(&root);
    assert_eq!(keys.len(), 20);
    for key in &keys {
        let local = std::fs::read(root.join(key)).unwrap();
        let remote = bucket.get(&format!("corpus/{key}"));
        assert_eq!(remote.status, 200, "{key}");
        assert_eq!(
            String::from_utf8_lossy(&remote.body),
            String::from_utf8_lossy(&local),
            "{key}"
        );
    }
    let config = bucket.get("corpus/config.json").body;
    assert_eq!(config, std::fs::read(root.join("config.json")).unwrap());
}

/// Creates the object `key` (a key in the bucket, prefix included) holding
/// `bytes`, behind regtool's back: a killed run's leftover.
fn put_new(bucket: &Bucket, key: &str, bytes: Vec<u8>) {
    use object_store::{ObjectStore, PutMode, path::Path as P};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(
        bucket
            .client()
            .put_opts(&P::from(key), bytes.into(), PutMode::Create.into()),
    )
    .unwrap_or_else(|e| panic!("{key}: {e}"));
}

/// `add --dry-run` and the real add agree about an orphan `.crate` with
/// other bytes in a bucket (issue 17: the dry run said "Would add", the real
/// add failed with "changed by another writer" for 15 minutes): both add, and
/// the stored bytes are the added ones.
#[test]
fn add_dry_run_and_add_agree_about_a_young_orphan_with_other_bytes() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.init("dryorphan", &[]);
    let dir = common::tempdir();
    let ours = CrateBuilder::new("alpha", "1.0.0").write_to(dir.path());
    let other = CrateBuilder::new("alpha", "1.0.0")
        .file("src/lib.rs", "// a killed add's other bytes\n")
        .build();
    put_new(&bucket, "dryorphan/crates/alpha/alpha-1.0.0.crate", other);
    let file = ours.to_str().unwrap();
    let dry = bucket.run(&["--registry", &reg, "add", "--dry-run", file]);
    common::assert_success(&dry, "add --dry-run over an orphan with other bytes");
    assert!(
        String::from_utf8_lossy(&dry.stderr).contains("Would add"),
        "{}",
        describe_output(&dry)
    );
    let real = bucket.run(&["--registry", &reg, "add", file]);
    common::assert_success(&real, "add over an orphan with other bytes");
    let object = bucket.get("dryorphan/crates/alpha/alpha-1.0.0.crate");
    assert!(
        object.body == std::fs::read(&ours).unwrap(),
        "not the added bytes"
    );
    verified_clean(&bucket, &reg);
}

/// An orphan `.crate` with other bytes in a bucket (a killed add's, no line
/// names it) is replaced by upstream's checked bytes, and the rest of the
/// run goes on (issue 17: before the lease, mirror aborted the whole run,
/// "changed by another writer").
#[test]
fn mirror_replaces_a_young_orphan_with_other_bytes_in_a_bucket() {
    let Some(bucket) = bucket() else { return };
    let upstream = Upstream::new(&[
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0"),
    ]);
    let reg = init_mirror(&bucket, "orphan");
    let other = CrateBuilder::new("alpha", "1.0.0")
        .file("src/lib.rs", "// not upstream's\n")
        .build();
    put_new(&bucket, "orphan/crates/alpha/alpha-1.0.0.crate", other);
    let upstream_url = upstream.index_url();
    let out = bucket.run(&mirror_args(
        &reg,
        &upstream_url,
        &["alpha@1.0.0", "beta@0.2.0"],
    ));
    common::assert_success(&out, "mirror over an orphan with other bytes");
    let r = json(&out);
    for (name, vers) in [("alpha", "1.0.0"), ("beta", "0.2.0")] {
        assert_eq!(version_entry(&r, name, vers)["status"], "mirrored", "{r:#}");
        let object = bucket.get(&format!("orphan/crates/{name}/{name}-{vers}.crate"));
        assert!(
            object.body == std::fs::read(upstream.crate_file(name, vers)).unwrap(),
            "{name}: not upstream's bytes"
        );
    }
    verified_clean(&bucket, &reg);
}

/// `regtool mirror` into a `--mirror` registry in a bucket, from a regtool
/// upstream on 127.0.0.1, of a lockfile: upstream's index files and `.crate`
/// bytes land as they are, with their HTTP metadata; the bucket verifies
/// clean; a second run sends no request and writes nothing.
#[test]
fn mirror_of_a_lockfile_into_a_bucket() {
    let Some(bucket) = bucket() else { return };
    let wanted = [
        CrateBuilder::new("alpha", "1.0.0"),
        CrateBuilder::new("beta", "0.2.0").manifest_extra("[dependencies]\nalpha = \"1\"\n"),
        CrateBuilder::new("gamma", "0.1.0"),
        CrateBuilder::new("gamma", "0.2.0"),
    ];
    // Upstream has more than the lockfile asks for.
    let mut all = wanted.to_vec();
    all.push(CrateBuilder::new("delta", "1.0.0"));
    let upstream = Upstream::new(&all);
    let published: Vec<(&str, &str, PathBuf)> = wanted
        .iter()
        .map(|k| {
            (
                k.name(),
                k.version(),
                upstream.crate_file(k.name(), k.version()),
            )
        })
        .collect();

    // A lockfile as cargo writes it against crates.io, plus a path package.
    let cksums: Vec<String> = published
        .iter()
        .map(|(_, _, path)| common::sha256_hex(&std::fs::read(path).unwrap()))
        .collect();
    let locked: Vec<(&str, &str, &str)> = published
        .iter()
        .zip(&cksums)
        .map(|((name, vers, _), cksum)| (*name, *vers, cksum.as_str()))
        .collect();
    let dir = common::tempdir();
    let lockfile = dir.path().join("Cargo.lock");
    std::fs::write(&lockfile, crates_io_lockfile(Some("consumer"), &locked)).unwrap();

    let reg = init_mirror(&bucket, "mirror");
    let upstream_url = upstream.index_url();
    let args = mirror_args(&reg, &upstream_url, &[lockfile.to_str().unwrap()]);
    let out = bucket.ok(&args);
    let r = json(&out);
    for (name, vers, _) in &published {
        assert_eq!(version_entry(&r, name, vers)["status"], "mirrored", "{r:#}");
    }
    assert_eq!(r["versions"].as_array().unwrap().len(), 4, "{r:#}");
    assert_eq!(r["ignored"][0]["name"], "consumer", "{r:#}");
    // 4 .crate objects and 3 index objects, no more; each .crate before its
    // line, and beta's line after that of alpha, its dependency.
    let written = written(&r);
    assert_eq!(written.len(), 7, "{r:#}");
    let at = |key: &str| {
        written
            .iter()
            .position(|w| *w == key)
            .unwrap_or_else(|| panic!("{key} not written: {written:?}"))
    };
    for (name, vers, _) in &published {
        assert!(
            at(&format!("crates/{name}/{name}-{vers}.crate")) < at(&common::index_path(name)),
            "{written:?}"
        );
    }
    assert!(at("al/ph/alpha") < at("be/ta/beta"), "{written:?}");
    let bytes: u64 = published
        .iter()
        .map(|(_, _, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(r["downloaded_bytes"], bytes, "{r:#}");

    // Every index object is byte-identical to upstream's index file.
    let keys: Vec<String> = common::index_files(&upstream.root)
        .into_iter()
        .filter(|k| !k.ends_with("/delta"))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for key in &keys {
        let object = bucket.get(&format!("mirror/{key}"));
        assert_eq!(object.status, 200, "{key}");
        assert_eq!(
            String::from_utf8_lossy(&object.body),
            String::from_utf8_lossy(&std::fs::read(upstream.root.join(key)).unwrap()),
            "{key} differs from upstream"
        );
        assert_eq!(object.header("content-type"), Some("text/plain"), "{key}");
        assert_eq!(object.header("cache-control"), Some("no-cache"), "{key}");
    }
    assert_ne!(
        bucket.get("mirror/de/lt/delta").status,
        200,
        "delta was not asked for"
    );
    // Every .crate object is upstream's bytes, immutable.
    for (name, vers, path) in &published {
        let key = format!("mirror/crates/{name}/{name}-{vers}.crate");
        let object = bucket.get(&key);
        assert_eq!(object.status, 200, "{key}");
        assert!(object.body == std::fs::read(path).unwrap(), "{key} differs");
        assert_eq!(
            object.header("content-type"),
            Some("application/gzip"),
            "{key}"
        );
        assert_eq!(
            object.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{key}"
        );
    }
    let verify = verified_clean(&bucket, &reg);
    assert_eq!(verify["versions"], 4, "{verify:#}");

    // Incremental: nothing asked of upstream, nothing written to the bucket.
    let before = upstream.server.total();
    let requests_before = bucket.requests().len();
    let out = bucket.ok(&args);
    let r = json(&out);
    for (name, vers, _) in &published {
        assert_eq!(version_entry(&r, name, vers)["status"], "skipped", "{r:#}");
    }
    assert_eq!(r["written"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["requests"], 0, "{r:#}");
    assert_eq!(r["downloaded_bytes"], 0, "{r:#}");
    assert_eq!(upstream.server.total(), before);
    let during = bucket.requests().split_off(requests_before);
    assert!(
        !during
            .iter()
            .any(|r| r.starts_with("PUT ") && !r.contains("/.regtool/lease ")),
        "the second run wrote to the bucket (more than taking and releasing the lease): {during:#?}"
    );
}
