//! Issue 17's interleavings, each a named test: two jobs on one registry,
//! with no sleeps. On a bucket a [`FaultProxy`] holds one chosen request of
//! job A until job B has exited, or until B says that it waits for the
//! registry's lock (`Blocking ...` on stderr: with one writer at a time A
//! holds it while its request is held, and B can only wait); then A goes on.
//! Every test then checks what must hold whatever order the two ran in: both
//! acknowledged changes are in (invariant 1), no index line lacks its
//! `.crate` (2), one spelling per crate (3), the catalogue describes the
//! index (4), `--dry-run` and the real run agree (5), listed keys are read
//! back (6); `verify --deep` is clean.
//!
//! On a folder the registry's lock makes the two jobs run one after the
//! other, so only the cases that do not need a race are run there too (the
//! loser of two spellings, an orphan `.crate`, a `.crate` whose file name
//! holds `%`).
//!
//! The issue's list, and the tests (each failed on main e961655, before the
//! lease):
//! 1. `remove` of the last version racing an `add`:
//!    [`remove_of_the_last_version_racing_an_add_keeps_the_add`];
//! 2. `remove` racing a re-add of the same `.crate`:
//!    [`remove_racing_a_re_add_keeps_the_line_and_its_crate_together`];
//! 3. `foo-bar` and `foo_bar` at once:
//!    [`foo_bar_and_foo_underscore_bar_at_once_keep_one_spelling`];
//! 4. `Foo` and `foo` at once:
//!    [`foo_and_capital_foo_at_once_leave_nothing_of_the_loser`] (on a
//!    folder: [`a_second_spelling_on_a_folder_is_refused_and_leaves_nothing`]);
//! 5. two adds of one crate, the catalogue from a stale copy:
//!    [`two_adds_of_one_crate_at_once_leave_a_catalogue_of_both`],
//!    [`an_add_racing_a_yank_leaves_the_yank_in_the_catalogue`];
//! 6. a recent orphan with other bytes, `add --dry-run` against `add`:
//!    [`a_recent_orphan_with_other_bytes_on_a_bucket_is_added_over_as_the_dry_run_says`]
//!    (and in a folder);
//! 7. `mirror` over such an orphan:
//!    [`mirror_over_a_recent_orphan_in_a_bucket_mirrors_every_version`] (and
//!    in a folder);
//! 8. a `.crate` key with `%`:
//!    [`a_crate_key_with_percent_is_indexed_as_a_folder_indexes_that_file_name`],
//!    and keys a client cannot represent:
//!    [`keys_a_client_cannot_represent_are_reported_and_skipped`].
//!
//! Two more, from the stress test: a run killed between its index write and
//! the catalogue ([`an_add_killed_between_its_index_and_the_catalogue_is_finished_by_the_next_command`];
//! a reindex: [`a_reindex_killed_after_its_index_write_is_finished_by_the_next_command`]),
//! and a killed folder add's `.crate` under a spelling the crate no longer has
//! ([`a_killed_adds_orphan_under_another_spelling_trips_nothing_on_a_folder`]).

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How long a test waits for a job to reach the held request, or for the
/// other job to exit or wait for the lock.
const WAIT: Duration = Duration::from_secs(60);

/// The registry `r` in a bucket of its own, with a proxy in front of the
/// server and a scratch folder for `.crate` files.
struct Race {
    bucket: Bucket,
    proxy: FaultProxy,
    reg: String,
    store: RawStore,
    dir: tempfile::TempDir,
}

/// How two raced jobs ended.
struct Raced {
    a: Output,
    b: Output,
    /// Whether B exited (`"exited"`) or waited for the lock (`"blocked"`)
    /// while A's request was held.
    b_while_held: &'static str,
}

impl Race {
    /// A new race, or `None` without moto (after a note; a panic in CI).
    fn new() -> Option<Race> {
        let moto = MotoServer::shared("the two jobs share a bucket on 127.0.0.1")?;
        let bucket = moto.bucket();
        // A short lease: a waiting writer reads it again every quarter second.
        let reg = bucket.init("r", &["--lease", "2s"]);
        Some(Race {
            proxy: bucket.proxy(),
            store: RawStore::bucket(&bucket, "r"),
            bucket,
            reg,
            dir: tempdir(),
        })
    }

    /// `NAME-VERS.crate` in the scratch folder.
    fn krate(&self, name: &str, vers: &str) -> PathBuf {
        CrateBuilder::new(name, vers).write_to(self.dir.path())
    }

    /// `regtool --registry REG ARGS...` through the proxy's `endpoint`.
    fn command(&self, endpoint: &Endpoint, args: &[&str]) -> Command {
        let mut cmd = self.bucket.command_via(endpoint);
        cmd.arg("--registry").arg(&self.reg).args(args);
        cmd
    }

    /// `regtool --registry REG ARGS...` straight to the server, to completion.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--registry", &self.reg];
        all.extend(args);
        self.bucket.run(&all)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_success(&out, &format!("regtool {}", args.join(" ")));
        out
    }

    /// Runs job A (`a`) until the request `hold` picks out is held, then job
    /// B (`b`) until it exited or waits for the lock; then lets A go on and
    /// waits for both. Panics when A never makes that request.
    fn race(&self, hold: impl FnOnce(Rule) -> Rule, a: &[&str], b: &[&str]) -> Raced {
        let gate = Gate::new();
        self.proxy.clear_rules();
        self.proxy.rule(hold(
            Rule::new(ProxyFault::Hold(gate.clone())).job("A").once(),
        ));
        let (ep_a, ep_b) = (self.proxy.endpoint("A"), self.proxy.endpoint("B"));
        let mut job_a = Job::spawn("A", self.command(&ep_a, a));
        let held = self
            .proxy
            .wait_for(WAIT, || job_a.exited(), |e| e.job == "A" && e.held);
        if held.is_none() {
            gate.open();
            let out = job_a.finish(WAIT);
            panic!(
                "job A (regtool {}) never made the request the test holds; its requests:\n{}\n{}",
                a.join(" "),
                self.proxy.show(Some("A")),
                describe_output(&out)
            );
        }
        let mut job_b = Job::spawn("B", self.command(&ep_b, b));
        let b_while_held = job_b.exited_or_blocked(WAIT).unwrap_or_else(|| {
            panic!(
                "job B (regtool {}) neither exited nor waited for the lock while A's request was held; \
                 its requests:\n{}\nits stderr:\n{}",
                b.join(" "),
                self.proxy.show(Some("B")),
                job_b.stderr_so_far()
            )
        });
        gate.open();
        let a = job_a.finish(WAIT);
        let b = job_b.finish(WAIT);
        self.proxy.clear_rules();
        Raced { a, b, b_while_held }
    }

    /// What the two jobs did, for failure messages.
    fn show(&self, r: &Raced) -> String {
        format!(
            "B {} while A's request was held\n--- A ---\n{}\n{}\n--- B ---\n{}\n{}",
            r.b_while_held,
            self.proxy.show(Some("A")),
            describe_output(&r.a),
            self.proxy.show(Some("B")),
            describe_output(&r.b)
        )
    }
}

/// The key of the index file of `name` under the registry `r`, as a path
/// suffix the proxy matches.
fn index_suffix(name: &str) -> String {
    format!("/r/{}", index_path(name))
}

/// `(kind, path)` of each problem `verify --format json` reported.
fn problems(out: &Output) -> Vec<(String, String)> {
    json(out)["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems array\n{}", describe_output(out)))
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or_default().to_owned(),
                p["path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// What must hold after every race, whatever the order: every line has its
/// `.crate`, one spelling per crate, no orphan, the catalogue describes the
/// index, and `verify --deep` is clean.
#[track_caller]
fn assert_consistent(store: &RawStore, verify: Output, ctx: &str) {
    let stored = store.read();
    assert_eq!(stored.lines_without_crates(), Vec::<String>::new(), "{ctx}");
    assert_eq!(stored.spelling_problems(), Vec::<String>::new(), "{ctx}");
    assert_eq!(stored.orphans(), Vec::<String>::new(), "{ctx}");
    if let Some(p) = catalogue_problems(store, &stored) {
        assert_eq!(p, Vec::<String>::new(), "the catalogue\n{ctx}");
    }
    assert_eq!(
        problems(&verify),
        Vec::<(String, String)>::new(),
        "verify --deep\n{}\n{ctx}",
        describe_output(&verify)
    );
}

impl Race {
    #[track_caller]
    fn assert_consistent(&self, raced: &Raced) {
        let verify = self
            .bucket
            .run(&["--format", "json", "verify", &self.reg, "--deep"]);
        assert_consistent(&self.store, verify, &self.show(raced));
    }
}

/// `remove` of a crate's last version racing an `add` of a new version:
/// the add's line must survive (the remove used to check the index file
/// with a HEAD, then delete it unconditionally: the add's line went with it).
/// Job A's deletion of the index file is held until B has added.
#[test]
fn remove_of_the_last_version_racing_an_add_keeps_the_add() {
    let Some(r) = Race::new() else { return };
    let (v1, v2) = (r.krate("foo-bar", "1.0.0"), r.krate("foo-bar", "1.1.0"));
    r.ok(&["add", v1.to_str().unwrap()]);
    let raced = r.race(
        |rule| rule.deletes(&index_suffix("foo-bar")),
        &["remove", "foo-bar@1.0.0"],
        &["add", v2.to_str().unwrap()],
    );
    let ctx = r.show(&raced);
    assert_success(&raced.a, &ctx);
    assert_success(&raced.b, &ctx);
    let stored = r.store.read();
    assert!(stored.line("foo-bar", "1.0.0").is_none(), "removed\n{ctx}");
    assert!(
        stored.line("foo-bar", "1.1.0").is_some(),
        "the add's line is lost\n{ctx}"
    );
    r.assert_consistent(&raced);
}

/// `remove` racing a re-add of the same `.crate` (a CI re-run): the line and
/// its `.crate` stay together, both there (the re-add came last) or both
/// gone (the remove came last). The re-add used to take the old object as
/// written and exit 0, and the remove then deleted it: a line without its
/// file. Job A's deletion of the `.crate` is held until B has re-added.
#[test]
fn remove_racing_a_re_add_keeps_the_line_and_its_crate_together() {
    let Some(r) = Race::new() else { return };
    let (v1, v2) = (r.krate("foo-bar", "1.0.0"), r.krate("foo-bar", "1.1.0"));
    r.ok(&["add", v1.to_str().unwrap(), v2.to_str().unwrap()]);
    let raced = r.race(
        |rule| rule.deletes("/r/crates/foo-bar/foo-bar-1.0.0.crate"),
        &["remove", "foo-bar@1.0.0"],
        &["add", v1.to_str().unwrap()],
    );
    let ctx = r.show(&raced);
    assert_success(&raced.a, &ctx);
    assert_success(&raced.b, &ctx);
    let stored = r.store.read();
    assert!(stored.line("foo-bar", "1.1.0").is_some(), "{ctx}");
    let line = stored.line("foo-bar", "1.0.0").is_some();
    let file = stored
        .crates
        .contains_key("crates/foo-bar/foo-bar-1.0.0.crate");
    assert_eq!(
        line, file,
        "the line is there: {line}, its .crate: {file}\n{ctx}"
    );
    r.assert_consistent(&raced);
}

/// Two spellings of one crate added at once: exactly one wins, the other is
/// refused and leaves nothing behind; one index file, one `crates/` folder;
/// `reindex` still runs. A's write of its index file is held until B is done.
fn two_spellings_at_once(a: &str, b: &str) {
    let Some(r) = Race::new() else { return };
    let (ka, kb) = (r.krate(a, "1.0.0"), r.krate(b, "1.0.0"));
    let raced = r.race(
        |rule| rule.method("PUT").path_ends(&index_suffix(a)),
        &["add", ka.to_str().unwrap()],
        &["add", kb.to_str().unwrap()],
    );
    let ctx = r.show(&raced);
    let won: Vec<&str> = [(a, &raced.a), (b, &raced.b)]
        .iter()
        .filter(|(_, o)| o.status.success())
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(won.len(), 1, "exactly one spelling wins: {won:?}\n{ctx}");
    let (winner, loser) = if won[0] == a { (a, b) } else { (b, a) };
    let stored = r.store.read();
    let lines: Vec<&str> = stored.lines().map(|l| l.name.as_str()).collect();
    assert_eq!(lines, [winner], "{ctx}");
    let left: Vec<&String> = stored
        .keys
        .iter()
        .filter(|k| k.starts_with(&format!("crates/{loser}/")))
        .collect();
    assert!(left.is_empty(), "the refused {loser} left {left:?}\n{ctx}");
    r.assert_consistent(&raced);
    let out = r.run(&["reindex", "--dry-run"]);
    assert_success(&out, &format!("reindex --dry-run after the race\n{ctx}"));
}

/// `foo-bar` and `foo_bar` (one crate for cargo, two index files) at once:
/// both used to exit 0, leaving one crate under two names.
#[test]
fn foo_bar_and_foo_underscore_bar_at_once_keep_one_spelling() {
    two_spellings_at_once("foo-bar", "foo_bar");
}

/// `Foo` and `foo` (one index file) at once: the loser used to be refused
/// but leave its `.crate` behind, which blocked `reindex`.
#[test]
fn foo_and_capital_foo_at_once_leave_nothing_of_the_loser() {
    two_spellings_at_once("Foo", "foo");
}

/// On a folder the lock runs two spellings one after the other: the second
/// is refused (exit 1) and leaves nothing behind.
#[test]
fn a_second_spelling_on_a_folder_is_refused_and_leaves_nothing() {
    for (a, b) in [("foo-bar", "foo_bar"), ("Foo", "foo")] {
        let reg = TestRegistry::new();
        reg.publish(&CrateBuilder::new(a, "1.0.0"));
        let kb = reg.krate(&CrateBuilder::new(b, "1.0.0"));
        let out = reg.add(&[&kb]);
        assert_exit_code(&out, 1, &format!("add {b} after {a}"));
        let store = RawStore::Folder(reg.root.clone());
        let stored = store.read();
        assert!(
            !stored
                .keys
                .iter()
                .any(|k| k.starts_with(&format!("crates/{b}/"))),
            "{:?}",
            stored.keys
        );
        let verify = reg.verify(&["--format", "json", "--deep"]);
        assert_consistent(&store, verify, &format!("{a} then {b}"));
    }
}

/// Two adds of one crate at once: the index holds both (the loser re-applies
/// its line), and the catalogue page and search data must describe that
/// index, not the loser's copy read before it (which lacks the winner's
/// version). A's write of the index file is held until B is done.
#[test]
fn two_adds_of_one_crate_at_once_leave_a_catalogue_of_both() {
    let Some(r) = Race::new() else { return };
    let k: Vec<PathBuf> = ["1.0.0", "1.1.0", "1.2.0"]
        .iter()
        .map(|v| r.krate("foo-bar", v))
        .collect();
    r.ok(&["add", k[0].to_str().unwrap()]);
    let raced = r.race(
        |rule| rule.method("PUT").path_ends(&index_suffix("foo-bar")),
        &["add", k[1].to_str().unwrap()],
        &["add", k[2].to_str().unwrap()],
    );
    let ctx = r.show(&raced);
    assert_success(&raced.a, &ctx);
    assert_success(&raced.b, &ctx);
    let stored = r.store.read();
    let mut versions: Vec<&str> = stored.lines().map(|l| l.vers.as_str()).collect();
    versions.sort_unstable();
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.2.0"], "{ctx}");
    r.assert_consistent(&raced);
}

/// An add racing a yank of the same crate: the catalogue must show the
/// version yanked (the add used to write the page from its copy read before
/// the yank).
#[test]
fn an_add_racing_a_yank_leaves_the_yank_in_the_catalogue() {
    let Some(r) = Race::new() else { return };
    let k: Vec<PathBuf> = ["1.0.0", "1.1.0", "1.2.0"]
        .iter()
        .map(|v| r.krate("foo-bar", v))
        .collect();
    r.ok(&["add", k[0].to_str().unwrap(), k[1].to_str().unwrap()]);
    let raced = r.race(
        |rule| rule.method("PUT").path_ends(&index_suffix("foo-bar")),
        &["add", k[2].to_str().unwrap()],
        &["yank", "foo-bar@1.1.0"],
    );
    let ctx = r.show(&raced);
    assert_success(&raced.a, &ctx);
    assert_success(&raced.b, &ctx);
    let stored = r.store.read();
    assert!(
        stored.line("foo-bar", "1.1.0").is_some_and(|l| l.yanked),
        "{ctx}"
    );
    assert!(stored.line("foo-bar", "1.2.0").is_some(), "{ctx}");
    r.assert_consistent(&raced);
}

/// The `versions` of an `add --format json` report: `(name, vers, status)`.
fn statuses(out: &Output) -> Vec<(String, String, String)> {
    let report = json(out);
    let list = report["versions"]
        .as_array()
        .or_else(|| report["crates"].as_array())
        .unwrap_or_else(|| panic!("no versions in the report\n{}", describe_output(out)));
    list.iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_owned(),
                v["vers"].as_str().unwrap_or_default().to_owned(),
                v["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A recent orphan `.crate` with other bytes at the key of a version being
/// added (a killed run's, or one copied in by hand): `add --dry-run` and
/// the real `add` agree, and with one writer at a time the orphan is no
/// one's work in progress, so the add replaces it. The real add used to fail
/// with "changed by another writer" (there was none) for 15 minutes while
/// the dry run said "Would add".
fn orphan_with_other_bytes(store: &RawStore, run: &dyn Fn(&[&str]) -> Output, krate: &Path) {
    let other = CrateBuilder::new("foo-bar", "1.0.0")
        .file("src/other.rs", "// other bytes\n")
        .build();
    store.put("crates/foo-bar/foo-bar-1.0.0.crate", &other);
    let path = krate.to_str().unwrap();
    let dry = run(&["--format", "json", "add", "--dry-run", path]);
    let real = run(&["--format", "json", "add", path]);
    let ctx = format!(
        "--- dry run ---\n{}\n--- real ---\n{}",
        describe_output(&dry),
        describe_output(&real)
    );
    assert_eq!(dry.status.code(), real.status.code(), "{ctx}");
    assert_success(&real, &ctx);
    let drop_status = |v: Vec<(String, String, String)>| -> Vec<(String, String)> {
        v.into_iter().map(|(n, v, _)| (n, v)).collect()
    };
    assert_eq!(
        drop_status(statuses(&dry)),
        drop_status(statuses(&real)),
        "{ctx}"
    );
    assert_eq!(json(&dry)["written"], json(&real)["written"], "{ctx}");
    let bytes = store.get("crates/foo-bar/foo-bar-1.0.0.crate").unwrap();
    assert!(
        bytes == fs::read(krate).unwrap(),
        "the orphan was not replaced\n{ctx}"
    );
    let verify = run(&["--format", "json", "verify", "--deep"]);
    assert_consistent(store, verify, &ctx);
}

#[test]
fn a_recent_orphan_with_other_bytes_on_a_bucket_is_added_over_as_the_dry_run_says() {
    let Some(r) = Race::new() else { return };
    let k = r.krate("foo-bar", "1.0.0");
    orphan_with_other_bytes(&r.store, &|args| r.run(args), &k);
}

#[test]
fn a_recent_orphan_with_other_bytes_in_a_folder_is_added_over_as_the_dry_run_says() {
    let reg = TestRegistry::new();
    let k = reg.krate(&CrateBuilder::new("foo-bar", "1.0.0"));
    let run = |args: &[&str]| {
        let a: Vec<&dyn AsRef<std::ffi::OsStr>> = args
            .iter()
            .map(|a| a as &dyn AsRef<std::ffi::OsStr>)
            .collect();
        reg.run(&a)
    };
    orphan_with_other_bytes(&RawStore::Folder(reg.root.clone()), &run, &k);
}

/// `mirror` into a registry where one version's key holds a recent orphan
/// with other bytes: every other version is mirrored, and that one is
/// mirrored over the orphan (with one writer at a time the orphan is no
/// one's work in progress). `mirror` used to abort the whole run.
fn mirror_over_an_orphan(store: &RawStore, mirror: &dyn Fn(&[&str]) -> Output) {
    let up = Upstream::alpha_beta();
    let other = CrateBuilder::new("alpha", "1.0.0")
        .file("src/other.rs", "// other bytes\n")
        .build();
    store.put("crates/alpha/alpha-1.0.0.crate", &other);
    let url = up.index_url();
    let out = mirror(&["--upstream", &url, "beta@0.2.0", "alpha@1.0.0"]);
    let ctx = describe_output(&out);
    assert_success(&out, &ctx);
    let r = json(&out);
    for (name, vers) in [("alpha", "1.0.0"), ("beta", "0.2.0")] {
        assert_eq!(version_entry(&r, name, vers)["status"], "mirrored", "{ctx}");
        let key = format!("crates/{name}/{name}-{vers}.crate");
        assert!(
            store.get(&key).unwrap() == fs::read(up.crate_file(name, vers)).unwrap(),
            "{key}\n{ctx}"
        );
    }
}

#[test]
fn mirror_over_a_recent_orphan_in_a_bucket_mirrors_every_version() {
    let Some(moto) = MotoServer::shared("the registry lives in a bucket on 127.0.0.1") else {
        return;
    };
    let bucket = moto.bucket();
    let reg = bucket.url("m");
    bucket.ok(&["init", &reg, "--url", URL, "--mirror"]);
    let store = RawStore::bucket(&bucket, "m");
    mirror_over_an_orphan(&store, &|args| {
        let mut cmd = bucket.command();
        cmd.args(["--registry", &reg, "--format", "json", "mirror"])
            .args(args);
        run_with_timeout(cmd, REGTOOL_TIMEOUT)
    });
    let verify = bucket.run(&["--format", "json", "verify", &reg, "--deep"]);
    assert_consistent(&store, verify, "after the mirror");
}

#[test]
fn mirror_over_a_recent_orphan_in_a_folder_mirrors_every_version() {
    let reg = TestRegistry::mirror();
    let store = RawStore::Folder(reg.root.clone());
    mirror_over_an_orphan(&store, &|args| {
        run_with_timeout(mirror_command(&reg.root, args), REGTOOL_TIMEOUT)
    });
    assert_consistent(
        &store,
        reg.verify(&["--format", "json", "--deep"]),
        "after the mirror",
    );
}

/// The `.crate` of `foo-bar 1.1.0+b1` under the file name wget gives a
/// download of it (`foo-bar-1.1.0%2Bb1.crate`, with a literal `%`), then
/// `verify` and `reindex`; returns what is stored afterwards.
fn percent_key(store: &RawStore, run: &dyn Fn(&[&str]) -> Output) -> Stored {
    let key = "crates/foo-bar/foo-bar-1.1.0%2Bb1.crate";
    store.put(key, &CrateBuilder::new("foo-bar", "1.1.0+b1").build());
    let listed = store.read();
    assert!(listed.keys.iter().any(|k| k == key), "{:?}", listed.keys);
    let verify = run(&["--format", "json", "verify"]);
    assert_ne!(
        verify.status.code(),
        Some(2),
        "{}",
        describe_output(&verify)
    );
    let reindex = run(&["reindex"]);
    assert_success(&reindex, "reindex of a .crate whose key holds %");
    let verify = run(&["--format", "json", "verify", "--deep"]);
    let stored = store.read();
    assert_consistent(store, verify, "after reindex");
    stored
}

/// Keys are keys: a `.crate` key holding `%` (a literal one) is read back
/// under exactly that key and indexed as a folder registry indexes that
/// file name. `verify` used to say reindex indexes it, and `reindex` then
/// re-encoded the key and said it did not exist.
#[test]
fn a_crate_key_with_percent_is_indexed_as_a_folder_indexes_that_file_name() {
    let Some(r) = Race::new() else { return };
    let folder = TestRegistry::new();
    let in_folder = percent_key(&RawStore::Folder(folder.root.clone()), &|args| {
        let a: Vec<&dyn AsRef<std::ffi::OsStr>> = args
            .iter()
            .map(|a| a as &dyn AsRef<std::ffi::OsStr>)
            .collect();
        folder.run(&a)
    });
    let in_bucket = percent_key(&r.store, &|args| r.run(args));
    assert_eq!(in_bucket.index, in_folder.index);
    assert_eq!(in_bucket.crates, in_folder.crates);
    assert!(
        in_bucket.line("foo-bar", "1.1.0+b1").is_some(),
        "{:?}",
        in_bucket.index
    );
}

/// Keys a client cannot represent as a path (`//`, `..`) in a listing are
/// reported by name and skipped: they never fail the whole listing, so
/// `verify` reports (exit 1, not an I/O error) and `reindex` indexes the
/// rest.
#[test]
fn keys_a_client_cannot_represent_are_reported_and_skipped() {
    let Some(r) = Race::new() else { return };
    let k = r.krate("foo-bar", "1.0.0");
    r.store.put(
        "crates/foo-bar//foo-bar-1.0.0.crate",
        &fs::read(&k).unwrap(),
    );
    r.store.put("crates/foo-bar/../x.crate", b"not a crate");
    let keys = r.store.keys();
    let odd: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains("//") || k.contains(".."))
        .collect();
    assert_eq!(odd.len(), 2, "moto keeps both keys: {keys:?}");
    let verify = r.run(&["--format", "json", "verify"]);
    assert_exit_code(&verify, 1, "verify with odd keys");
    let said = format!("{}{}", stdout(&verify), stderr(&verify));
    for key in &odd {
        assert!(
            said.contains(key.as_str()),
            "verify does not name {key}\n{}",
            describe_output(&verify)
        );
    }
    r.ok(&["add", k.to_str().unwrap()]);
    let reindex = r.run(&["reindex"]);
    assert_success(&reindex, "reindex with odd keys");
    let stored = r.store.read();
    assert!(stored.line("foo-bar", "1.0.0").is_some());
}

/// A killed `add` of a crate that had no version at that moment, in a
/// spelling another job then published (`add Foo-Bar 2.0.0` killed after
/// its `.crate` landed, then `add foo-bar 1.0.0`): on a folder nothing
/// claims names, so the orphan sits in `crates/Foo-Bar/` beside
/// `crates/foo-bar/`. A killed command cannot clean up after itself, so its
/// leftover must be invisible (issue 17: "an orphan no spelling check or
/// reindex trips over"): the index decides a crate's spelling, so `verify`
/// reports it as an orphan (not a name conflict), `reindex` leaves it out
/// and says so (exit 0), the crate can still be added to, and an `add` of
/// the orphan's spelling is still refused by name. The stress test found
/// this on a folder; the planted file stands for the killed add.
#[test]
fn a_killed_adds_orphan_under_another_spelling_trips_nothing_on_a_folder() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo-bar", "1.0.0"));
    let store = RawStore::Folder(reg.root.clone());
    store.put(
        "crates/Foo-Bar/Foo-Bar-2.0.0.crate",
        &CrateBuilder::new("Foo-Bar", "2.0.0").build(),
    );
    let verify = reg.verify(&["--format", "json"]);
    let kinds: Vec<String> = problems(&verify).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        ["orphan-crate"],
        "verify: the orphan, nothing else\n{}",
        describe_output(&verify)
    );
    let orphan = reg.root.join("crates/Foo-Bar/Foo-Bar-2.0.0.crate");
    let dry = reg.run(&[&"--format", &"json", &"reindex", &"--dry-run"]);
    assert_success(&dry, "reindex --dry-run beside the orphan");
    reg.publish(&CrateBuilder::new("foo-bar", "1.1.0"));
    let reindex = reg.run(&[&"--format", &"json", &"reindex"]);
    assert_success(&reindex, "reindex beside the orphan");
    for (out, what) in [(&dry, "reindex --dry-run"), (&reindex, "reindex")] {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["left_out"],
            serde_json::json!([orphan]),
            "{what} reports the orphan it leaves out\n{}",
            describe_output(out)
        );
        assert!(
            stderr(out).contains("Foo-Bar-2.0.0.crate"),
            "{what} warns about the orphan\n{}",
            describe_output(out)
        );
    }
    let stored = store.read();
    assert!(stored.line("foo-bar", "1.1.0").is_some());
    assert!(
        stored.line("Foo-Bar", "2.0.0").is_none(),
        "left out of the index"
    );
    assert_eq!(stored.orphans(), ["crates/Foo-Bar/Foo-Bar-2.0.0.crate"]);
    // The index files have one spelling; the second `crates/` folder holds
    // only the orphan.
    let spelling: Vec<String> = stored
        .spelling_problems()
        .into_iter()
        .filter(|p| !p.contains("crates/ folders"))
        .collect();
    assert_eq!(spelling, Vec::<String>::new());
    let krate = reg.krate(&CrateBuilder::new("Foo-Bar", "2.1.0"));
    let add = reg.run(&[&"add", &krate]);
    assert_exit_code(&add, 1, "add of the orphan's spelling");
    assert!(
        stderr(&add).contains("foo-bar"),
        "the refusal names the crate's spelling\n{}",
        describe_output(&add)
    );
}

/// A `reindex` SIGKILLed after its first index write (of a `.crate` no
/// line named yet), before the catalogue: it marked the whole catalogue
/// pending before that write, so the next command (an add of another crate)
/// brings the page, the search data and the feed up to date. Before, the
/// marker was only written after the index, and every later change left the
/// catalogue stale.
#[cfg(feature = "html")]
#[test]
fn a_reindex_killed_after_its_index_write_is_finished_by_the_next_command() {
    let Some(r) = Race::new() else { return };
    let v1 = r.krate("foo-bar", "1.0.0");
    r.ok(&["add", v1.to_str().unwrap()]);
    r.store.put(
        "crates/foo-bar/foo-bar-1.1.0.crate",
        &CrateBuilder::new("foo-bar", "1.1.0").build(),
    );
    kill_after_the_index_write_then_add(&r, &["reindex"], "/r/");
}

/// An `add` SIGKILLed after its index write, before the catalogue's pages:
/// by the end of the next command (an add of another crate) the catalogue
/// describes the index (invariant 4: the killed run leaves a marker the
/// next command finishes, on a bucket too). Job A's first catalogue page
/// write after its index write is held and A is killed there; the held
/// request is dropped, never forwarded.
#[cfg(feature = "html")]
#[test]
fn an_add_killed_between_its_index_and_the_catalogue_is_finished_by_the_next_command() {
    let Some(r) = Race::new() else { return };
    let (v1, v2) = (r.krate("foo-bar", "1.0.0"), r.krate("foo-bar", "1.1.0"));
    r.ok(&["add", v1.to_str().unwrap()]);
    kill_after_the_index_write_then_add(&r, &["add", v2.to_str().unwrap()], "/r/catalogue/");
}

/// Runs job A (`args`, which writes `foo-bar` 1.1.0's index line) until its
/// first PUT whose path holds `held` after that index write, SIGKILLs it
/// there (the held request is dropped, never forwarded), then adds another
/// crate straight to the server: by its end the catalogue describes the
/// index and `verify --deep` is clean.
#[cfg(feature = "html")]
fn kill_after_the_index_write_then_add(r: &Race, args: &[&str], held: &str) {
    let other = r.krate("qux", "1.0.0");
    let (indexed, hold) = (Gate::new(), Gate::new());
    r.proxy.rule(
        Rule::new(ProxyFault::Pass)
            .job("A")
            .method("PUT")
            .path_ends(&index_suffix("foo-bar"))
            .then_open(&indexed),
    );
    r.proxy.rule(
        Rule::new(ProxyFault::Hold(hold.clone()))
            .job("A")
            .method("PUT")
            .path_contains(held)
            .after(&indexed)
            .once(),
    );
    let ep = r.proxy.endpoint("A");
    let mut a = Job::spawn("A", r.command(&ep, args));
    let reached = r
        .proxy
        .wait_for(WAIT, || a.exited(), |e| e.job == "A" && e.held);
    assert!(
        reached.is_some(),
        "A never wrote under {held} after its index file:\n{}",
        r.proxy.show(Some("A"))
    );
    let killed = a.kill();
    hold.abandon();
    r.proxy.clear_rules();
    let ctx = format!("{}\n{}", r.proxy.show(Some("A")), describe_output(&killed));
    assert!(
        r.store.read().line("foo-bar", "1.1.0").is_some(),
        "A's index write landed\n{ctx}"
    );
    r.ok(&["add", other.to_str().unwrap()]);
    let stored = r.store.read();
    let problems = catalogue_problems(&r.store, &stored).expect("a catalogue");
    assert_eq!(
        problems,
        Vec::<String>::new(),
        "after the next command\n{ctx}"
    );
    let verify = r
        .bucket
        .run(&["--format", "json", "verify", &r.reg, "--deep"]);
    assert_consistent(&r.store, verify, &ctx);
}
