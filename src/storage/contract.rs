//! The storage contract (issue 17): one suite of checks, each a function
//! taking a fresh, empty [`Storage`], run against every backend (a folder;
//! S3 on moto's server) in the manner of `object_store`'s own integration
//! tests. Every method of the trait is covered: what each precondition does
//! to a put and a delete, what a listing returns and that it can be read
//! back (keys with `+`, a literal `%`, a space, non-ASCII), that keys which
//! are not keys are refused, what a lock hands out and keeps out, what
//! `unlock` frees. A backend's documented differences (`local_root`,
//! `cheap_listing`, `locks`, links, a lease that can be lost) are checked
//! against what that backend says of itself. `unreadable_keys` needs a key
//! no method writes (`a//b`, put there by another client):
//! `tests/it/interleavings.rs` plants one.
//!
//! The S3 half needs moto's server (`MOTO_SERVER`, or `moto_server` on
//! `PATH`); without it the rule of the integration tests applies (their
//! `tests/it/common/needs.rs` is this module's too): a note outside CI, a
//! failure in CI.

// The tests reach the integration tests' rule file and make a folder link.
#![allow(clippy::disallowed_methods)]

use super::local::LocalStorage;
#[cfg(feature = "s3")]
use super::s3::S3Storage;
use super::{
    Durability, LockEvents, LockMode, ObjectKind, Outcome, Precondition, Revision, Storage,
    Unlocked, Waiting,
};
use crate::error::Error;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// What a test needs from outside, and the one rule when it is missing
/// (`skip_or_fail`, `require_tool`): the integration tests' own file.
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../tests/it/common/needs.rs"]
mod needs;

/// Says nothing while locking, and waits as long as it takes.
struct Quiet;
impl LockEvents for Quiet {
    fn waiting(&self, _: Waiting<'_>) {}
    fn unsupported(&self, _: &Path, _: &std::io::Error) {}
}

/// Does not wait for a lock another holder has (`--lock-timeout 0`).
struct Impatient;
impl LockEvents for Impatient {
    fn waiting(&self, _: Waiting<'_>) {}
    fn unsupported(&self, _: &Path, _: &std::io::Error) {}
    fn patience(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

/// The lease length the lock checks take (a folder's OS lock ignores it).
const LEASE: Duration = Duration::from_secs(1);

fn put(s: &dyn Storage, key: &str, bytes: &[u8], pre: &Precondition) -> Outcome {
    s.put(key, bytes, ObjectKind::State, pre, Durability::Now)
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
}

/// A put with no condition, which must be done.
fn store(s: &dyn Storage, key: &str, bytes: &[u8]) {
    assert_eq!(
        put(s, key, bytes, &Precondition::Any),
        Outcome::Done,
        "{key}"
    );
}

fn bytes(s: &dyn Storage, key: &str) -> Option<Vec<u8>> {
    s.get(key)
        .unwrap_or_else(|e| panic!("get {key}: {e}"))
        .map(|o| o.bytes)
}

fn revision(s: &dyn Storage, key: &str) -> Revision {
    s.get(key)
        .unwrap()
        .unwrap_or_else(|| panic!("{key} is missing"))
        .revision
}

/// A staging file holding `content`.
fn staged(s: &dyn Storage, content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = s.staging_file().expect("staging file");
    std::io::Write::write_all(f.as_file_mut(), content).unwrap();
    f
}

/// `get`, `stat` and `open` of a missing key: nothing, not an error.
fn missing_objects_are_none(s: &dyn Storage) {
    assert!(s.get("a/missing").unwrap().is_none());
    assert!(s.stat("a/missing").unwrap().is_none());
    assert!(s.open("a/missing").unwrap().is_none());
}

/// A put with no condition creates and replaces; `get`, `stat` and `open`
/// see the whole object, and every change gives a new revision.
fn put_any_creates_and_replaces(s: &dyn Storage) {
    assert_eq!(put(s, "a/b/c", b"one", &Precondition::Any), Outcome::Done);
    let first = s.get("a/b/c").unwrap().unwrap();
    assert_eq!(first.bytes, b"one");
    assert_eq!(
        put(s, "a/b/c", b"second", &Precondition::Any),
        Outcome::Done
    );
    let second = s.get("a/b/c").unwrap().unwrap();
    assert_eq!(second.bytes, b"second");
    assert_ne!(
        first.revision, second.revision,
        "a change gives a new revision"
    );
    let meta = s.stat("a/b/c").unwrap().unwrap();
    assert_eq!(meta.size, 6);
    assert!(meta.modified.is_some(), "both backends know the time");
    let mut streamed = Vec::new();
    s.open("a/b/c")
        .unwrap()
        .unwrap()
        .read_to_end(&mut streamed)
        .unwrap();
    assert_eq!(streamed, b"second");
}

/// Create-only: done where nothing is, a conflict (and nothing written)
/// where something is.
fn put_absent_is_create_only(s: &dyn Storage) {
    assert_eq!(put(s, "k", b"one", &Precondition::Absent), Outcome::Done);
    assert_eq!(
        put(s, "k", b"two", &Precondition::Absent),
        Outcome::Conflict
    );
    assert_eq!(bytes(s, "k").unwrap(), b"one");
}

/// Compare-and-swap: done with the current revision (once), a conflict
/// with a stale one or on a missing object.
fn put_unchanged_is_compare_and_swap(s: &dyn Storage) {
    store(s, "k", b"one");
    let rev = revision(s, "k");
    let cas = Precondition::Unchanged(rev.clone());
    assert_eq!(put(s, "k", b"two", &cas), Outcome::Done);
    assert_eq!(put(s, "k", b"three", &cas), Outcome::Conflict, "stale now");
    assert_eq!(bytes(s, "k").unwrap(), b"two");
    assert_eq!(
        put(s, "gone", b"x", &Precondition::Unchanged(rev)),
        Outcome::Conflict
    );
    assert!(bytes(s, "gone").is_none());
    assert_eq!(
        Precondition::from_read(None),
        Precondition::Absent,
        "a key read as missing is written create-only"
    );
}

/// `put_file` of a staging file keeps the same preconditions as `put`.
fn put_file_honours_preconditions(s: &dyn Storage) {
    let put_file = |key: &str, content: &[u8], pre: &Precondition| {
        s.put_file(
            key,
            staged(s, content),
            ObjectKind::Crate,
            pre,
            Durability::Now,
        )
        .unwrap()
    };
    assert_eq!(
        put_file("f/x.crate", b"one", &Precondition::Absent),
        Outcome::Done
    );
    assert_eq!(
        put_file("f/x.crate", b"two", &Precondition::Absent),
        Outcome::Conflict
    );
    let rev = revision(s, "f/x.crate");
    assert_eq!(
        put_file("f/x.crate", b"three", &Precondition::Unchanged(rev.clone())),
        Outcome::Done
    );
    assert_eq!(
        put_file("f/x.crate", b"four", &Precondition::Unchanged(rev)),
        Outcome::Conflict
    );
    assert_eq!(
        put_file("f/x.crate", b"five", &Precondition::Any),
        Outcome::Done
    );
    assert_eq!(bytes(s, "f/x.crate").unwrap(), b"five");
}

/// Deferred writes are there (and durable after the barrier).
fn deferred_writes_and_the_barrier(s: &dyn Storage) {
    for i in 0..3 {
        let key = format!("d/{i}");
        let out = s
            .put(
                &key,
                b"x",
                ObjectKind::Index,
                &Precondition::Absent,
                Durability::Deferred,
            )
            .unwrap();
        assert_eq!(out, Outcome::Done);
    }
    s.barrier().unwrap();
    assert_eq!(s.list("d").unwrap(), ["d/0", "d/1", "d/2"]);
}

/// Deletes: of a missing object, done; with a stale revision, a conflict
/// that leaves the object; with the current one, gone; create-only
/// (`Absent`) is a conflict where something is.
fn delete_honours_preconditions(s: &dyn Storage) {
    assert_eq!(
        s.delete("nothing/here", &Precondition::Any).unwrap(),
        Outcome::Done
    );
    store(s, "k", b"one");
    let old = revision(s, "k");
    store(s, "k", b"two");
    assert_eq!(
        s.delete("k", &Precondition::Unchanged(old)).unwrap(),
        Outcome::Conflict
    );
    assert_eq!(bytes(s, "k").unwrap(), b"two");
    assert_eq!(
        s.delete("k", &Precondition::Absent).unwrap(),
        Outcome::Conflict
    );
    let now = revision(s, "k");
    assert_eq!(
        s.delete("k", &Precondition::Unchanged(now)).unwrap(),
        Outcome::Done
    );
    assert!(bytes(s, "k").is_none());
    store(s, "k", b"three");
    assert_eq!(s.delete("k", &Precondition::Any).unwrap(), Outcome::Done);
    assert!(s.get("k").unwrap().is_none());
}

/// A delete leaves no empty folder behind in a listing.
fn delete_leaves_no_empty_folder(s: &dyn Storage) {
    store(s, "crates/foo/foo-1.0.0.crate", b"x");
    store(s, "crates/bar/bar-1.0.0.crate", b"y");
    assert_eq!(s.folders("crates").unwrap(), ["bar", "foo"]);
    let _ = s
        .delete("crates/foo/foo-1.0.0.crate", &Precondition::Any)
        .unwrap();
    assert_eq!(s.folders("crates").unwrap(), ["bar"]);
    assert_eq!(s.list("crates").unwrap(), ["crates/bar/bar-1.0.0.crate"]);
}

/// `rename` moves the bytes; the old key is gone; a missing source is an
/// error naming it.
fn rename_moves(s: &dyn Storage) {
    store(s, "crates/up/x-1.0.0.crate", b"bytes");
    s.rename(
        "crates/up/x-1.0.0.crate",
        "crates/x/x-1.0.0.crate",
        ObjectKind::Crate,
    )
    .unwrap();
    assert!(bytes(s, "crates/up/x-1.0.0.crate").is_none());
    assert_eq!(bytes(s, "crates/x/x-1.0.0.crate").unwrap(), b"bytes");
    let err = s
        .rename(
            "crates/up/none.crate",
            "crates/x/none.crate",
            ObjectKind::Crate,
        )
        .unwrap_err();
    assert!(err.to_string().contains("none.crate"), "{err}");
}

/// Two keys are one object only through a folder link; plain keys never.
fn same_object_of_plain_keys(s: &dyn Storage) {
    store(s, "a/x", b"1");
    store(s, "b/x", b"1");
    assert!(!s.same_object("a/x", "b/x").unwrap());
}

/// `list`: every key under a prefix, sorted, full keys; nothing whose path
/// holds a component starting with `.`; a missing prefix lists nothing.
fn list_is_sorted_and_leaves_out_dot_entries(s: &dyn Storage) {
    for key in [
        "b/2",
        "a/1",
        "b/1",
        "b/c/3",
        "b/.hidden",
        ".regtool/state",
        "top",
    ] {
        store(s, key, b"x");
    }
    assert_eq!(s.list("b").unwrap(), ["b/1", "b/2", "b/c/3"]);
    assert_eq!(s.list("b/").unwrap(), ["b/1", "b/2", "b/c/3"]);
    assert_eq!(s.list("").unwrap(), ["a/1", "b/1", "b/2", "b/c/3", "top"]);
    assert!(s.list("nowhere").unwrap().is_empty());
    assert_eq!(
        bytes(s, ".regtool/state").unwrap(),
        b"x",
        "hidden from listings, not from reads"
    );
}

/// `folders`: the folder names right under a prefix, sorted, not the
/// dot ones.
fn folders_are_the_names_right_under(s: &dyn Storage) {
    for key in [
        "3/a/abc",
        "3/b/bcd",
        "ab/cd/abcd",
        "config.json",
        ".regtool/x",
    ] {
        store(s, key, b"x");
    }
    assert_eq!(s.folders("").unwrap(), ["3", "ab"]);
    assert_eq!(s.folders("3").unwrap(), ["a", "b"]);
    assert!(s.folders("nowhere").unwrap().is_empty());
}

/// Keys are keys (invariant 6): whatever a listing returns reads back under
/// exactly that key, `+` and a literal `%` included.
fn listed_keys_read_back(s: &dyn Storage) {
    let keys = [
        "crates/foo/foo-1.1.0+b1.crate",
        "crates/foo/foo-1.1.0%2Bb1.crate",
        "crates/foo/with space.crate",
        "crates/foo/ünï.crate",
    ];
    for (i, key) in keys.iter().enumerate() {
        let out = put(s, key, format!("{i}").as_bytes(), &Precondition::Absent);
        assert_eq!(out, Outcome::Done, "{key}");
    }
    let listed = s.list("crates").unwrap();
    let mut want: Vec<&str> = keys.to_vec();
    want.sort_unstable();
    assert_eq!(listed, want);
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(bytes(s, key).unwrap(), format!("{i}").as_bytes(), "{key}");
    }
}

/// A lock can be taken, says it holds, and is free again once dropped;
/// readers' locks too.
fn lock_holds_until_dropped(s: &dyn Storage) {
    s.init().unwrap();
    let held = s.lock(LockMode::Exclusive, LEASE, &Quiet).unwrap();
    held.check().unwrap();
    drop(held);
    let again = s.lock(LockMode::Exclusive, LEASE, &Impatient).unwrap();
    again.check().unwrap();
    drop(again);
    let shared = s.lock(LockMode::Shared, LEASE, &Quiet).unwrap();
    shared.check().unwrap();
}

/// While one writer holds the lock, another that will not wait is refused
/// with the lock's error (`--lock-timeout 0`); once it is released the next
/// one gets it.
fn a_second_writer_is_kept_out(s: &dyn Storage) {
    s.init().unwrap();
    let held = s.lock(LockMode::Exclusive, LEASE, &Quiet).unwrap();
    match s.lock(LockMode::Exclusive, LEASE, &Impatient) {
        Err(Error::Lock { .. }) => {}
        Err(e) => panic!("a second writer: another error than the lock's: {e}"),
        Ok(_) => panic!("a second writer got the lock while it was held"),
    }
    held.check().unwrap();
    drop(held);
    s.lock(LockMode::Exclusive, LEASE, &Impatient)
        .expect("the lock is free again");
}

/// `unlock`: storage whose lock is an OS lock has no lease to free; a lease
/// that is free says so; a lease freed by force is lost to its holder (its
/// check fails by its next renewal, its writes are refused and write
/// nothing), and the next writer takes it at once.
fn unlock_frees_a_lease_and_its_holder_loses_it(s: &dyn Storage) {
    s.init().unwrap();
    let free = s.unlock(false, LEASE, &Impatient).unwrap();
    let held = s.lock(LockMode::Exclusive, LEASE, &Quiet).unwrap();
    match s.unlock(true, LEASE, &Quiet).unwrap() {
        Unlocked::NoLease => {
            assert_eq!(free, Unlocked::NoLease);
            held.check()
                .expect("an OS lock is never lost while its process lives");
            return;
        }
        Unlocked::Freed { holder } => assert!(holder.contains("pid"), "{holder}"),
        Unlocked::WasFree => panic!("a held lease was reported free"),
    }
    assert_eq!(free, Unlocked::WasFree, "a lease never taken is free");
    let start = Instant::now();
    while held.check().is_ok() {
        assert!(
            start.elapsed() < LEASE * 3,
            "the holder still holds a lease freed {:?} ago",
            start.elapsed()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let late = s.put(
        "after/loss",
        b"x",
        ObjectKind::Index,
        &Precondition::Any,
        Durability::Now,
    );
    assert!(late.is_err(), "a write after the lease was lost: {late:?}");
    assert!(bytes(s, "after/loss").is_none(), "and nothing was written");
    drop(held);
    s.lock(LockMode::Exclusive, LEASE, &Impatient)
        .expect("the next writer takes a freed lease at once");
}

/// Keys that are not keys (empty, absolute, empty / `.` / `..` components)
/// are refused by every method with the key's error, and nothing is written.
fn bad_keys_are_refused(s: &dyn Storage) {
    for key in ["", "/abs", "a//b", "a/./b", "a/../b", "a/", ".."] {
        let bad = |r: Result<(), Error>, what: &str| match r {
            Err(Error::BadKey { .. }) => {}
            other => panic!("{what} of {key:?}: {other:?}"),
        };
        bad(s.get(key).map(drop), "get");
        bad(s.stat(key).map(drop), "stat");
        bad(s.open(key).map(drop), "open");
        bad(
            s.put(
                key,
                b"x",
                ObjectKind::State,
                &Precondition::Any,
                Durability::Now,
            )
            .map(drop),
            "put",
        );
        bad(s.delete(key, &Precondition::Any).map(drop), "delete");
    }
    assert!(s.list("").unwrap().is_empty(), "nothing was written");
}

/// `refresh` keeps the bytes; where a lock can be outlived (object
/// storage) it gives the object a new revision, so that a conditional
/// delete sent with the old one fails, and a missing object is a conflict.
fn refresh_changes_only_the_revision(s: &dyn Storage) {
    let key = "crates/x/x-1.0.0.crate";
    store(s, key, b"bytes");
    let old = revision(s, key);
    assert_eq!(s.refresh(key, ObjectKind::Crate).unwrap(), Outcome::Done);
    assert_eq!(bytes(s, key).unwrap(), b"bytes");
    if !s.locks() {
        assert_ne!(revision(s, key), old, "a new revision");
        assert_eq!(
            s.delete(key, &Precondition::Unchanged(old)).unwrap(),
            Outcome::Conflict
        );
        assert_eq!(bytes(s, key).unwrap(), b"bytes");
        assert_eq!(
            s.refresh("crates/x/gone.crate", ObjectKind::Crate).unwrap(),
            Outcome::Conflict
        );
    }
}

/// `stat` gives the revision `get` gives, for a conditional delete.
fn stat_gives_the_revision(s: &dyn Storage) {
    store(s, "k", b"one");
    let meta = s.stat("k").unwrap().unwrap();
    assert_eq!(meta.revision, revision(s, "k"));
    assert_eq!(
        s.delete("k", &Precondition::Unchanged(meta.revision))
            .unwrap(),
        Outcome::Done
    );
}

/// `clean_temp` removes nothing that was published, nor a staging file in
/// use (it may remove what killed runs left: a bucket's staging files share
/// the system's temp folder; the lock rule is tested with `serve`).
fn clean_temp_keeps_what_was_published(s: &dyn Storage) {
    s.init().unwrap();
    store(s, "crates/x/x-1.0.0.crate", b"x");
    let keep = staged(s, b"in use");
    s.clean_temp(std::time::Duration::from_secs(3600), true)
        .unwrap();
    assert!(keep.reopen().is_ok(), "{}", keep.path().display());
    assert_eq!(bytes(s, "crates/x/x-1.0.0.crate").unwrap(), b"x");
}

/// `fix_published` leaves an object's bytes as they are.
fn fix_published_keeps_the_bytes(s: &dyn Storage) {
    store(s, "crates/x/x-1.0.0.crate", b"by hand");
    s.fix_published("crates/x/x-1.0.0.crate", ObjectKind::Crate)
        .unwrap();
    assert_eq!(bytes(s, "crates/x/x-1.0.0.crate").unwrap(), b"by hand");
}

/// `locate` names the key; `local_root` is the folder exactly when listing
/// is cheap and the lock keeps writers out (a folder), and `init` may run
/// on empty storage.
fn self_description_is_consistent(s: &dyn Storage) {
    s.init().unwrap();
    let at = s.locate("crates/x/x-1.0.0.crate");
    assert!(
        at.to_string_lossy().ends_with("crates/x/x-1.0.0.crate"),
        "{at:?}"
    );
    assert_eq!(s.local_root().is_some(), s.cheap_listing());
    assert_eq!(s.local_root().is_some(), s.locks());
    if let Some(root) = s.local_root() {
        assert_eq!(s.locate(""), root);
    }
}

/// One check of the contract: it gets a fresh, empty storage.
type Check = fn(&dyn Storage);

/// Every check of the contract, by name.
const SUITE: &[(&str, Check)] = &[
    ("missing_objects_are_none", missing_objects_are_none),
    ("put_any_creates_and_replaces", put_any_creates_and_replaces),
    ("put_absent_is_create_only", put_absent_is_create_only),
    (
        "put_unchanged_is_compare_and_swap",
        put_unchanged_is_compare_and_swap,
    ),
    (
        "put_file_honours_preconditions",
        put_file_honours_preconditions,
    ),
    (
        "deferred_writes_and_the_barrier",
        deferred_writes_and_the_barrier,
    ),
    ("delete_honours_preconditions", delete_honours_preconditions),
    (
        "delete_leaves_no_empty_folder",
        delete_leaves_no_empty_folder,
    ),
    ("rename_moves", rename_moves),
    ("same_object_of_plain_keys", same_object_of_plain_keys),
    (
        "list_is_sorted_and_leaves_out_dot_entries",
        list_is_sorted_and_leaves_out_dot_entries,
    ),
    (
        "folders_are_the_names_right_under",
        folders_are_the_names_right_under,
    ),
    ("listed_keys_read_back", listed_keys_read_back),
    ("lock_holds_until_dropped", lock_holds_until_dropped),
    ("a_second_writer_is_kept_out", a_second_writer_is_kept_out),
    (
        "unlock_frees_a_lease_and_its_holder_loses_it",
        unlock_frees_a_lease_and_its_holder_loses_it,
    ),
    ("bad_keys_are_refused", bad_keys_are_refused),
    ("stat_gives_the_revision", stat_gives_the_revision),
    (
        "refresh_changes_only_the_revision",
        refresh_changes_only_the_revision,
    ),
    (
        "clean_temp_keeps_what_was_published",
        clean_temp_keeps_what_was_published,
    ),
    (
        "fix_published_keeps_the_bytes",
        fix_published_keeps_the_bytes,
    ),
    (
        "self_description_is_consistent",
        self_description_is_consistent,
    ),
];

/// Runs every check of [`SUITE`] on a fresh storage from `fresh` (given the
/// check's name), and reports all the failures at once.
fn run_suite(backend: &str, fresh: &dyn Fn(&str) -> Box<dyn Storage>) {
    let mut failed = Vec::new();
    for (name, check) in SUITE {
        let store = fresh(name);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&*store)));
        if let Err(e) = outcome {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failed.is_empty(),
        "the {backend} backend breaks the storage contract:\n{}",
        failed.join("\n")
    );
}

#[test]
fn a_folder_keeps_the_storage_contract() {
    let tmp = tempfile::tempdir().unwrap();
    run_suite("folder", &|name| {
        Box::new(LocalStorage::new(&tmp.path().join(name)))
    });
}

/// A folder link makes one file show under two keys (what `same_object`
/// is for); listings follow it.
#[cfg(unix)]
#[test]
fn a_folder_link_is_one_object_under_two_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let s = LocalStorage::new(&tmp.path().join("reg"));
    store(&s, "crates/real/x-1.0.0.crate", b"x");
    std::os::unix::fs::symlink(
        tmp.path().join("reg/crates/real"),
        tmp.path().join("reg/crates/link"),
    )
    .unwrap();
    assert!(
        s.same_object("crates/real/x-1.0.0.crate", "crates/link/x-1.0.0.crate")
            .unwrap()
    );
    assert_eq!(
        s.list("crates").unwrap(),
        ["crates/link/x-1.0.0.crate", "crates/real/x-1.0.0.crate"]
    );
}

/// moto's S3 server on a free port of 127.0.0.1, for this test binary's
/// run (killed when dropped).
#[cfg(feature = "s3")]
struct Moto {
    port: u16,
    child: std::process::Child,
}

#[cfg(feature = "s3")]
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "s3")]
impl Moto {
    /// Starts `moto_server`, or `None` after the rule of [`needs`].
    fn start(why: &str) -> Option<Moto> {
        let bin = needs::require_tool("moto_server", why)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let moto = Moto { port, child };
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "moto_server did not listen on {port}"
            );
            thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(moto)
    }

    /// Creates `bucket` with one plain HTTP request.
    fn create_bucket(&self, bucket: &str) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "create bucket: {answer}"
        );
    }
}

#[cfg(feature = "s3")]
#[test]
fn a_bucket_keeps_the_storage_contract() {
    let Some(moto) = Moto::start("the S3 half of the storage contract runs against moto") else {
        return;
    };
    moto.create_bucket("contract");
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    run_suite("S3", &|name| {
        Box::new(S3Storage::at_endpoint(&endpoint, "contract", name).expect("an S3 client"))
    });
}
