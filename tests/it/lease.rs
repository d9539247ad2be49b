//! One writer on every backend: the writers' lease of a registry in a bucket
//! (take, wait, take over a stale one, refuse after a pause, `unlock`),
//! `--lock-timeout` on a folder and a bucket, the registry format version,
//! keys that are keys, and the one-line S3 errors. Against moto's S3 server
//! ([`common::MotoServer`]); without it the bucket tests skip with a note
//! (and fail in CI).

use crate::common::{
    self, Bucket, CrateBuilder, MotoServer, TestRegistry, describe_output, http_request, json,
    stderr,
};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bucket() -> Option<Bucket> {
    MotoServer::shared("the registry lives in an S3 bucket on 127.0.0.1").map(MotoServer::bucket)
}

/// The `kind` of every problem of a `verify --format json` report.
fn kinds(report: &serde_json::Value) -> Vec<&str> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect()
}

/// Sends `signal` (`STOP`, `CONT`) to the process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {pid}"))
        .status()
        .expect("run sh");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// `count` crates big enough that an `add` of all of them takes a moment.
fn many_crates(dir: &std::path::Path, prefix: &str, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            CrateBuilder::new(&format!("{prefix}{i}"), "1.0.0")
                .file("src/lib.rs", common::noise(40_000))
                .write_to(dir)
        })
        .collect()
}

/// A `regtool add` of `files` into `reg`, started, that has taken the
/// registry's lease (its write of `.regtool/lease` is in moto's log) and is
/// then stopped (SIGSTOP) while it holds it.
fn paused_holder(bucket: &Bucket, reg: &str, files: &[PathBuf]) -> Child {
    let before = bucket.requests().len();
    let mut cmd = bucket.command();
    cmd.args(["--registry", reg, "add"])
        .args(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start add");
    let start = Instant::now();
    loop {
        let took = bucket.requests()[before..]
            .iter()
            .any(|r| r.starts_with("PUT ") && r.contains("/.regtool/lease "));
        if took {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the add never took the lease"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(child.id(), "STOP");
    child
}

/// Resumes a paused holder and waits for it.
fn resume(child: Child) -> Output {
    signal(child.id(), "CONT");
    child.wait_with_output().expect("wait for the add")
}

/// A writer paused (SIGSTOP) while it holds the lease: two other writers
/// wait for it (saying whose lease they wait for), one of them takes it
/// over once it has been unchanged for the lease and a quarter, the other
/// waits for that one; both finish. The paused writer, resumed, refuses its
/// next write with an error naming the lease, and exits 2; the registry
/// holds no line without its `.crate`, and the same add again completes it.
#[test]
fn a_paused_holder_is_taken_over_and_refuses_after_resuming() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.init("paused", &["--no-html", "--lease", "2s"]);
    let dir = common::tempdir();
    let slow = many_crates(dir.path(), "slow", 40);
    let holder = paused_holder(&bucket, &reg, &slow);
    let pid = holder.id();
    let started = Instant::now();
    let takers: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|name| {
            let file = CrateBuilder::new(name, "1.0.0").write_to(dir.path());
            let mut cmd = bucket.command();
            cmd.args(["--registry", &reg, "add"]).arg(file);
            std::thread::spawn(move || common::run_with_timeout(cmd, common::REGTOOL_TIMEOUT))
        })
        .collect();
    let outs: Vec<Output> = takers.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "taken over before the lease and a quarter"
    );
    for out in &outs {
        assert_eq!(out.status.code(), Some(0), "{}", describe_output(out));
    }
    let all_err: String = outs.iter().map(stderr).collect();
    assert!(
        all_err.contains("Blocking waiting for the registry lease held by ")
            && all_err.contains(&format!("(pid {pid}, since ")),
        "{all_err}"
    );
    assert_eq!(
        all_err.matches("took over the registry lease").count(),
        1,
        "one taker took it over: {all_err}"
    );
    let out = resume(holder);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    let err = stderr(&out);
    assert!(
        err.contains("/.regtool/lease`: the registry lease was lost"),
        "{err}"
    );
    // No line without its .crate: at most orphans of the paused add.
    let report = json(&bucket.run(&["--format", "json", "verify", &reg]));
    for kind in kinds(&report) {
        assert_eq!(kind, "orphan-crate", "{report:#}");
    }
    bucket.add(&reg, &slow);
    let report = json(&bucket.ok(&["--format", "json", "verify", &reg]));
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["versions"], 42);
}

/// `unlock` watches the lease as a taker would: with a `--lock-timeout`
/// shorter than that it refuses, saying how long is left; without, it frees
/// the stale lease (naming its holder), and the holder, resumed, refuses to
/// write on. `--force` frees at once. A folder has nothing to unlock.
#[test]
fn unlock_refuses_a_fresh_lease_and_frees_a_stale_one() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.init("unlock", &["--no-html", "--lease", "2s"]);
    let dir = common::tempdir();
    let holder = paused_holder(&bucket, &reg, &many_crates(dir.path(), "a", 30));
    let pid = holder.id();
    let out = bucket.run(&["--registry", &reg, "--lock-timeout", "500ms", "unlock"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is fresh") && err.contains("stale once unchanged for 2.5s"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    let out = bucket.ok(&["--registry", &reg, "--format", "json", "unlock"]);
    let r = json(&out);
    assert_eq!(r["outcome"], "freed", "{r:#}");
    assert!(
        r["holder"]
            .as_str()
            .unwrap()
            .contains(&format!("(pid {pid}, ")),
        "{r:#}"
    );
    let out = resume(holder);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    assert!(stderr(&out).contains("the registry lease was lost"));
    // Free now: nothing to do.
    let r = json(&bucket.ok(&["--registry", &reg, "--format", "json", "unlock"]));
    assert_eq!(r["outcome"], "free");
    // --force does not wait.
    let holder = paused_holder(&bucket, &reg, &many_crates(dir.path(), "b", 30));
    let t = Instant::now();
    let r = json(&bucket.ok(&["--registry", &reg, "--format", "json", "unlock", "--force"]));
    assert_eq!(r["outcome"], "freed", "{r:#}");
    assert!(t.elapsed() < Duration::from_secs(2));
    let _ = resume(holder);
    let folder = TestRegistry::new();
    let r = json(&folder.ok(&[&"--format", &"json", &"unlock"]));
    assert_eq!(r["outcome"], "no-lease", "{r:#}");
}

/// `--lock-timeout` bounds the wait of a writer: for a folder's file lock
/// (held here by another process) and for a bucket's lease; the error names
/// what it waited for, and nothing is written.
#[test]
fn lock_timeout_bounds_the_wait_on_a_folder_and_a_bucket() {
    let folder = TestRegistry::new();
    let lock = folder.root.join(".regtool/lock");
    let mut python = Command::new("python3")
        .arg("-c")
        .arg("import fcntl,sys; f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()")
        .arg(&lock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 holds the lock");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(python.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    let file = folder.krate(&CrateBuilder::new("waiter", "1.0.0"));
    let t = Instant::now();
    let out = folder.run(&[&"--lock-timeout", &"1s", &"add", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    assert!(t.elapsed() < Duration::from_secs(10));
    let err = stderr(&out);
    assert!(
        err.contains("Blocking waiting for file lock")
            && err.contains("timed out after 1s waiting for the file lock"),
        "{err}"
    );
    assert!(!folder.index_file("waiter").exists());
    drop(python.stdin.take());
    let _ = python.wait();
    folder.add_ok(&[&file]);

    let Some(bucket) = bucket() else { return };
    let reg = bucket.init("timeout", &["--no-html", "--lease", "30s"]);
    let dir = common::tempdir();
    let holder = paused_holder(&bucket, &reg, &many_crates(dir.path(), "c", 30));
    let file = CrateBuilder::new("waiter", "1.0.0").write_to(dir.path());
    let t = Instant::now();
    let out = bucket.run(&[
        "--registry",
        &reg,
        "--lock-timeout",
        "1s",
        "add",
        file.to_str().unwrap(),
    ]);
    assert!((Duration::from_secs(1)..Duration::from_secs(10)).contains(&t.elapsed()));
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    let err = stderr(&out);
    // The patience given, not the time measured (which a loaded machine
    // stretches): the words do not change with the load.
    assert!(
        err.contains("timed out after 1s waiting for the registry lease held by ")
            && err.contains(&format!("(pid {}, since ", holder.id())),
        "{err}"
    );
    assert_eq!(bucket.get("timeout/wa/it/waiter").status, 404);
    let _ = bucket.ok(&["--registry", &reg, "unlock", "--force"]);
    let _ = resume(holder);
}

/// A registry whose settings ask for a newer regtool (`min-writer-version`
/// above this one's) is refused by every command that writes, before
/// anything is written; read-only commands still work, and `verify` reports
/// it. A registry in a bucket asks for writer version 2 (the lease); unknown
/// settings keys survive a change of the settings.
#[test]
fn a_registry_for_a_newer_regtool_is_not_written() {
    let folder = TestRegistry::new();
    let settings = folder.root.join(".regtool/config.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(!text.contains("min-writer-version"), "{text}");
    std::fs::write(
        &settings,
        format!("{text}min-writer-version = 3\nfuture-thing = \"kept\"\n"),
    )
    .unwrap();
    let file = folder.krate(&CrateBuilder::new("later", "1.0.0"));
    let out = folder.add(&[&file]);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    assert!(
        stderr(&out).contains(
            "needs regtool writer version 3 or later to be changed (this regtool writes version 2)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!folder.index_file("later").exists());
    let out = folder.run(&[&"settings", &"--html", &"false"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    let report = json(&folder.verify(&["--format", "json"]));
    assert_eq!(kinds(&report), ["writer-version"], "{report:#}");
    // Back to a version this regtool knows: a change keeps the unknown key.
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(
        &settings,
        text.replace("min-writer-version = 3", "min-writer-version = 2"),
    )
    .unwrap();
    folder.ok(&[&"settings", &"--html", &"false"]);
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("future-thing = \"kept\""), "{text}");

    let Some(bucket) = bucket() else { return };
    let reg = bucket.init("versioned", &["--no-html"]);
    let out = bucket.ok(&["--registry", &reg, "--format", "json", "settings"]);
    assert_eq!(json(&out)["min_writer_version"], 2);
    assert_eq!(json(&out)["lease_seconds"], 60);
}

/// A bucket that does not exist, and a plain-http endpoint without
/// `AWS_ALLOW_HTTP`: one line each, naming the bucket or the variable
/// (never "changed by another writer", never a builder error).
#[test]
fn bucket_errors_name_the_bucket_or_the_variable() {
    let Some(bucket) = bucket() else { return };
    let out = bucket.run(&[
        "init",
        "s3://no-such-bucket-here/registry",
        "--url",
        common::URL,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    assert_eq!(
        stderr(&out).trim(),
        "error: the bucket `no-such-bucket-here` does not exist (the S3 server answered 404 NoSuchBucket): create it first, or check the bucket name and AWS_ENDPOINT_URL"
    );
    let out = bucket.run(&["--registry", "s3://no-such-bucket-here/registry", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    assert!(stderr(&out).contains("does not exist (the S3 server answered 404 NoSuchBucket)"));

    let mut cmd = bucket.command();
    cmd.env_remove("AWS_ALLOW_HTTP")
        .args(["init", &bucket.url("plain"), "--url", common::URL]);
    let out = common::run_with_timeout(cmd, common::REGTOOL_TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: `{}`: the endpoint `{}` is plain http: set AWS_ALLOW_HTTP=true to use it (or use https)",
            bucket.url("plain"),
            bucket.moto.endpoint()
        )
    );
}

/// Puts `body` at `key` of the bucket as another S3 client would
/// (`path` is the URL path, percent-encoded).
fn put_raw(bucket: &Bucket, path: &str, body: &[u8]) {
    let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
    let r = http_request(
        bucket.moto.port,
        "PUT",
        &format!("/{}/{path}", bucket.name),
        &[
            ("Authorization", auth),
            ("Content-Type", "application/octet-stream"),
        ],
        body,
    );
    assert_eq!(
        r.status,
        200,
        "PUT {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

/// Keys are keys: a `.crate` whose key holds a `%` (as wget names a
/// download of `foo-1.1.0+b1`) is read under exactly that key and indexed
/// as a folder registry indexes that file name; a key the client cannot
/// represent (an empty component) is reported by name and left out, and
/// the listing goes on.
#[test]
fn keys_with_percent_are_read_back_and_unreadable_keys_reported() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.init("keys", &["--no-html"]);
    let krate = CrateBuilder::new("foo", "1.1.0+b1");
    let bytes = krate.build();
    put_raw(&bucket, "keys/crates/foo/foo-1.1.0%252Bb1.crate", &bytes);
    put_raw(&bucket, "keys/crates/foo//stray.crate", b"not a crate");
    let out = bucket.run(&["--format", "json", "verify", &reg]);
    let report = json(&out);
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["kind"] == "orphan-crate"
            && p["path"]
                .as_str()
                .unwrap()
                .ends_with("/crates/foo/foo-1.1.0%2Bb1.crate")),
        "{report:#}"
    );
    assert!(
        problems.iter().any(|p| p["kind"] == "unreadable-key"
            && p["path"]
                .as_str()
                .unwrap()
                .ends_with("keys/crates/foo//stray.crate")),
        "{report:#}"
    );
    let out = bucket.ok(&["--format", "json", "reindex", &reg]);
    let bucket_report = json(&out);
    assert!(stderr(&out).contains("crates/foo//stray.crate` cannot be read back"));

    // A folder holding the same file name does the same.
    let folder = TestRegistry::new();
    let crates = folder.root.join("crates/foo");
    std::fs::create_dir_all(&crates).unwrap();
    std::fs::write(crates.join("foo-1.1.0%2Bb1.crate"), &bytes).unwrap();
    let folder_report = json(&folder.ok(&[&"--format", &"json", &"reindex"]));
    for field in ["lines_added", "index_files_written"] {
        assert_eq!(bucket_report[field], folder_report[field], "{field}");
    }
    assert_eq!(
        bucket_report["lines_added"],
        serde_json::json!(["foo@1.1.0+b1"])
    );
    let moved = |r: &serde_json::Value| -> Vec<String> {
        r["moved"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let m = m.as_str().unwrap();
                m[m.find("crates/").unwrap()..].to_string()
            })
            .collect()
    };
    assert_eq!(moved(&bucket_report), moved(&folder_report));
    let report = json(&bucket.run(&["--format", "json", "verify", &reg]));
    assert_eq!(kinds(&report), ["unreadable-key"], "{report:#}");
}

/// The one delete no compare-and-swap on the index guards: `remove` drops a
/// version's line, then deletes its `.crate` with `If-Match` on the ETag it
/// saw. If that delete is late (its writer paused past the lease) and
/// another writer re-added the same bytes meanwhile, the ETag would match
/// (it is the MD5 of the bytes) and the re-added version would lose its
/// file; so a re-add that finds such a `.crate` writes it again another way,
/// and the late delete is refused (412).
#[test]
fn a_late_crate_delete_cannot_take_a_re_added_crate() {
    let Some(bucket) = bucket() else { return };
    let reg = bucket.init("late", &["--no-html"]);
    let dir = common::tempdir();
    let file = CrateBuilder::new("late", "1.0.0").write_to(dir.path());
    bucket.add(&reg, std::slice::from_ref(&file));
    let key = "late/crates/late/late-1.0.0.crate";
    let etag = |bucket: &Bucket| {
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
        let r = http_request(
            bucket.moto.port,
            "HEAD",
            &format!("/{}/{key}", bucket.name),
            &[("Authorization", auth)],
            b"",
        );
        r.header("etag").map(str::to_string)
    };
    let seen = etag(&bucket).expect("the .crate is there");
    // A remove whose line went and whose delete has not landed yet.
    bucket.ok(&["--registry", &reg, "remove", "late@1.0.0"]);
    put_raw(&bucket, key, &std::fs::read(&file).unwrap());
    assert_eq!(etag(&bucket).as_deref(), Some(seen.as_str()));
    // The re-add (a CI re-run): the same bytes, written again.
    bucket.add(&reg, std::slice::from_ref(&file));
    assert_ne!(etag(&bucket).as_deref(), Some(seen.as_str()));
    // The late delete, as regtool sends it.
    let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
    let r = http_request(
        bucket.moto.port,
        "DELETE",
        &format!("/{}/{key}", bucket.name),
        &[("Authorization", auth), ("If-Match", &seen)],
        b"",
    );
    assert_eq!(r.status, 412, "{}", String::from_utf8_lossy(&r.body));
    let report = json(&bucket.ok(&["--format", "json", "verify", &reg, "--deep"]));
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["versions"], 1);
}

/// An S3 endpoint on 127.0.0.1 that denies every request (403 with S3's
/// `AccessDenied` error body), as a bucket whose policy or credentials do
/// not let the caller in: moto lets every caller in. Serves until the test
/// process ends; returns its `http://` endpoint.
fn denying_endpoint() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let _ = reader
                .by_ref()
                .take(length as u64)
                .read_to_end(&mut Vec::new());
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    endpoint
}

#[test]
fn a_bucket_that_denies_access_is_named_in_one_line() {
    let endpoint = denying_endpoint();
    for args in [
        &["init", "s3://acme-crates/registry", "--url", common::URL][..],
        &["--registry", "s3://acme-crates/registry", "list"][..],
    ] {
        let mut cmd = common::regtool();
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .args(args);
        let out = common::run_with_timeout(cmd, common::REGTOOL_TIMEOUT);
        assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{}", describe_output(&out));
        assert!(
            err.starts_with("error: the S3 server denied access to `s3://acme-crates/registry/")
                && err.contains("(403 AccessDenied)")
                && err.contains("the policy of the bucket `acme-crates`"),
            "{}",
            describe_output(&out)
        );
    }
}
