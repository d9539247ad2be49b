//! Where a registry's files live: a small storage trait behind the registry
//! (`crate::registry`). Floor 2 (`storage`): imports the core only; its
//! backends are the folder ([`local`], with the file-system primitives) and
//! S3 ([`s3`]).
//!
//! Every byte regtool reads from or writes to a registry goes through a
//! [`Storage`]: objects addressed by *keys* (relative paths with `/` separators:
//! `config.json`, `se/rd/serde`, `crates/serde/serde-1.0.219.crate`,
//! `.regtool/config.toml`). The trait offers what both a folder and an object
//! store can do safely: read with a revision, atomic put, put-if-unchanged
//! (compare-and-swap on the revision), create-only put, list by prefix, delete,
//! and the writers' lock. [`local::LocalStorage`] is the folder
//! implementation (flock, fsync, `syncfs` batches, modes and mtime rules live there);
//! `s3::S3Storage` keeps a registry in an S3 bucket (a lease, `lease`, held in the
//! bucket as its lock, conditional requests, HTTP metadata on every object;
//! built with the `s3` feature).
//!
//! Keys are checked here, in every build: [`check_key`] refuses an absolute
//! key and empty, `.` or `..` components with [`crate::Error::BadKey`].

#[cfg(test)]
mod contract;
#[cfg(test)]
pub(crate) mod counting;
// The lease is the lock of object storage only.
#[cfg(feature = "s3")]
pub(crate) mod lease;
pub(crate) mod local;
#[cfg(feature = "s3")]
pub(crate) mod s3;

use crate::error::{Error, Result};
use std::fmt::Debug;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A `--lock-timeout` as the user writes it (`1s`, `250ms`, `2m` is `120s`),
/// for the message that says it ran out: the configured patience, not the
/// time measured, so a loaded machine does not change the words.
pub(crate) fn show_patience(patience: Duration) -> String {
    if patience.subsec_nanos() == 0 {
        format!("{}s", patience.as_secs())
    } else {
        format!("{}ms", patience.as_millis())
    }
}

/// Checks a key before it names a file or an object: relative, `/`-separated,
/// no empty, `.` or `..` component (`""`, the registry itself, is allowed
/// where `allow_root`).
///
/// # Errors
/// [`Error::BadKey`] naming the key and the rule it breaks.
pub(crate) fn check_key(key: &str, allow_root: bool) -> Result<()> {
    let bad = |reason| {
        Err(Error::BadKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return if allow_root {
            Ok(())
        } else {
            bad("it is empty")
        };
    }
    if key.starts_with('/') {
        return bad("it is absolute (starts with `/`)");
    }
    for part in key.split('/') {
        match part {
            "" => return bad("it has an empty component (`//`, or a trailing `/`)"),
            "." | ".." => return bad("it has a `.` or `..` component"),
            _ if part.contains('\0') => return bad("it holds a NUL character"),
            _ => {}
        }
    }
    Ok(())
}

/// What an object is: decides its file mode or its HTTP metadata
/// (`Content-Type`, `Cache-Control`) in backends that serve it directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    /// A sparse-index file (`text/plain`, revalidated by caches).
    Index,
    /// A `.crate` file (`application/gzip`, immutable).
    Crate,
    /// `config.json` (`application/json`, revalidated).
    Config,
    /// regtool's own state under `.regtool/` (never served to cargo).
    State,
    /// State that must not be readable by others (the token file under
    /// `.regtool/`): in a folder, mode 0600, or 0640 keeping the group of the
    /// file it replaces when that one was group-readable (the web server's group).
    Secret,
    /// A catalogue page (`text/html; charset=utf-8`, revalidated). This
    /// and the next three: only the catalogue writes them (feature `html`).
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    Html,
    /// A catalogue script (`text/javascript`, revalidated).
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    Script,
    /// The catalogue's style sheet (`text/css`, revalidated).
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    Style,
    /// The catalogue's Atom feed (`application/atom+xml`, revalidated).
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    Feed,
}

/// An opaque revision of a stored object: an `ETag` in object storage; the
/// inode, size and modification time in a folder. Two reads that return the same
/// revision saw the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Revision(pub String);

/// The condition under which a put or delete may happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Always (atomic replace).
    Any,
    /// Only if no object is at the key (create-only; `If-None-Match: *`).
    Absent,
    /// Only if the object still has this revision (compare-and-swap; `If-Match`).
    Unchanged(Revision),
}

impl Precondition {
    /// `Unchanged(rev)` for an object that was read with `rev`, `Absent` for one
    /// that was not there.
    pub(crate) fn from_read(rev: Option<Revision>) -> Precondition {
        match rev {
            Some(r) => Precondition::Unchanged(r),
            None => Precondition::Absent,
        }
    }
}

/// Whether a conditional write happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Outcome {
    /// The write (or delete) took place.
    Done,
    /// The precondition failed: someone else changed the object first.
    Conflict,
}

/// When a write must be durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Durable when the call returns.
    Now,
    /// Durable after the next [`Storage::barrier`] (lets a folder sync a batch
    /// of writes with one `syncfs`).
    Deferred,
}

/// A write prepared by [`Storage::stage`], not visible under its key yet:
/// [`Storage::put_staged`] publishes it; dropped, it leaves nothing behind.
#[derive(Debug)]
pub(crate) enum Staged {
    /// The bytes, kept in memory (object storage: one PUT when put).
    Bytes(Vec<u8>),
    /// A finished temp file beside the object (a folder: a rename when
    /// put); removed when dropped.
    File(tempfile::NamedTempFile),
}

/// An object as read: its bytes and revision.
#[derive(Clone, Debug)]
pub(crate) struct Object {
    /// The whole content.
    pub(crate) bytes: Vec<u8>,
    /// Its revision, for a later [`Precondition::Unchanged`].
    pub(crate) revision: Revision,
}

/// Size, time and revision of a stored object.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    /// Size in bytes.
    pub(crate) size: u64,
    /// Last modification time, where the backend knows it.
    pub(crate) modified: Option<SystemTime>,
    /// Its revision (as [`Object::revision`]), for a conditional delete.
    pub(crate) revision: Revision,
}

/// What a writer waits for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Waiting<'a> {
    /// Another process holds the OS lock on this file.
    FileLock(&'a Path),
    /// Another writer holds the registry's lease: `holder` says who
    /// (`HOST (pid N, since T)`).
    #[cfg_attr(not(feature = "s3"), allow(dead_code))] // leases live in buckets
    Lease {
        /// Who holds it, as `HOST (pid N, since T)`.
        holder: &'a str,
    },
}

/// Told what happens while taking a lock, and how long to wait for it.
pub(crate) trait LockEvents {
    /// Another process holds the lock; about to wait.
    fn waiting(&self, what: Waiting<'_>);
    /// The storage cannot lock (some NFS setups); going on without.
    fn unsupported(&self, what: &Path, error: &std::io::Error);
    /// A stale lease (`holder`'s, unchanged for `unchanged`) was taken over.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))] // leases live in buckets
    fn took_over(&self, lease: &Path, holder: &str, unchanged: Duration) {
        let _ = (lease, holder, unchanged);
    }
    /// How long to wait for a lock another process holds before giving up
    /// (`--lock-timeout`); `None`: as long as it takes.
    fn patience(&self) -> Option<Duration> {
        None
    }
}

/// What [`Storage::unlock`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unlocked {
    /// The storage has no lease (a folder's lock goes with its process).
    NoLease,
    /// The lease was free already (or never taken).
    #[cfg_attr(not(feature = "s3"), allow(dead_code))] // leases live in buckets
    WasFree,
    /// The lease of `holder` (`HOST (pid N, since T)`) was freed.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))] // leases live in buckets
    Freed {
        /// Who held it.
        holder: String,
    },
}

/// A held lock; released on drop.
pub(crate) trait LockGuard: Debug + Send + Sync {
    /// Whether the lock is still held: `Ok` while it is, an error once it is
    /// lost, after which nothing may be written under it. An OS lock on a
    /// file is never lost while its process lives; a lease kept in object
    /// storage is lost when it runs out before it is renewed.
    ///
    /// # Errors
    /// [`Error::Lock`] naming the lock, once it is lost.
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// Whether a lock excludes every other holder or only writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// For commands that change the registry.
    Exclusive,
    /// For readers (`verify`) that must see the registry between two changes.
    Shared,
}

/// A registry's storage. Keys are relative, `/`-separated, never start with `/`
/// and never hold empty, `.` or `..` components (callers build them through
/// [`crate::registry::Registry`]; every method refuses others with
/// [`Error::BadKey`], see [`check_key`]). Every method names the failing object
/// in its error.
pub(crate) trait Storage: Send + Sync + Debug {
    /// Where the object at `key` is, for messages: a path or a URL (`""`: the
    /// registry itself).
    fn locate(&self, key: &str) -> PathBuf;

    /// Prepares new, empty storage for a registry (a folder makes its
    /// `crates/` and `.regtool/tmp/` folders).
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    fn init(&self) -> Result<()>;

    /// The folder the registry lives in, for a local registry (`nginx-config`
    /// prints it); `None` for object storage.
    fn local_root(&self) -> Option<&Path>;

    /// Reads the whole object at `key`; `None` if there is none.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn get(&self, key: &str) -> Result<Option<Object>>;

    /// Opens the object at `key` for streaming; `None` if there is none.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>>;

    /// Size and time of the object at `key`; `None` if there is none.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn stat(&self, key: &str) -> Result<Option<Meta>>;

    /// Writes `bytes` at `key` atomically (readers see the old or the new object,
    /// never a part) if `pre` holds.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn put(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome>;

    /// Prepares a [`Storage::put`] of `bytes` at `key` with nothing visible
    /// under `key` yet, so that [`Storage::put_staged`] (same `kind` and
    /// `durability`) has the least left to do: the folder backend writes a
    /// finished temp file beside the object (folders made, mode set, fsynced
    /// unless `durability` is [`Durability::Deferred`], when the next
    /// [`Storage::barrier`] covers it), and the put is then a rename. By
    /// default (object storage) the bytes are kept for one PUT then.
    ///
    /// # Errors
    /// [`crate::Error::BadKey`] for a bad key; [`crate::Error::Io`] naming
    /// the file that could not be written.
    fn stage(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        durability: Durability,
    ) -> Result<Staged> {
        check_key(key, false)?;
        let _ = (kind, durability);
        Ok(Staged::Bytes(bytes.to_vec()))
    }

    /// [`Storage::put`] of what [`Storage::stage`] prepared for `key`, if
    /// `pre` holds now (checked here, not when staged).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn put_staged(
        &self,
        key: &str,
        staged: Staged,
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        match staged {
            Staged::Bytes(bytes) => self.put(key, &bytes, kind, pre, durability),
            Staged::File(file) => self.put_file(key, file, kind, pre, durability),
        }
    }

    /// A temp file to fill before [`Storage::put_file`] (for a folder, on the
    /// same file system, so that the put is a rename).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the temp folder.
    fn staging_file(&self) -> Result<tempfile::NamedTempFile>;

    /// Says that the staging `file` (from [`Storage::staging_file`]) is
    /// complete and will be put soon: the folder backend starts writing its
    /// bytes out to the disk now, in the background, so that the
    /// [`Storage::barrier`] or fsync that later makes it durable has less
    /// left to wait for. Only a hint: it makes nothing durable and never
    /// fails (an error is ignored). Does nothing by default (object storage
    /// uploads the file when it is put).
    fn staging_done(&self, file: &tempfile::NamedTempFile) {
        let _ = file;
    }

    /// Like [`Storage::put`] with the content of a finished staging file.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn put_file(
        &self,
        key: &str,
        file: tempfile::NamedTempFile,
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome>;

    /// Deletes the object at `key` if `pre` holds (a missing object is deleted
    /// already). Folders a delete leaves empty go too.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn delete(&self, key: &str, pre: &Precondition) -> Result<Outcome>;

    /// Writes the object at `key` again, with the same bytes, so that its
    /// revision changes: a conditional delete sent earlier (by a holder
    /// paused past its lease) then fails instead of deleting it. Object
    /// storage only: an ETag is the MD5 of the bytes, so the new object is
    /// uploaded the other way (in one part, or as a one-part multipart
    /// upload) to get another ETag. A folder's lock cannot be outlived:
    /// nothing to do. [`Outcome::Conflict`] when the object is gone.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn refresh(&self, key: &str, kind: ObjectKind) -> Result<Outcome> {
        let _ = (key, kind);
        Ok(Outcome::Done)
    }

    /// Moves an object (`reindex` puts a misplaced `.crate` where cargo downloads it).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn rename(&self, from: &str, to: &str, kind: ObjectKind) -> Result<()>;

    /// Whether the keys `a` and `b` reach one object (a folder link makes one
    /// file show under two keys): deleting either would lose both. Stores
    /// without links have no such pairs.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn same_object(&self, a: &str, b: &str) -> Result<bool> {
        let _ = (a, b);
        Ok(false)
    }

    /// Every key under `prefix` (a folder, `""` for all), sorted; entries whose
    /// name starts with `.` (temp files, `.regtool/`) are left out, links are
    /// followed.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the folder that cannot be listed.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// The names of the folders (common prefixes) right under `prefix` (`""`
    /// for the top), sorted, leaving out those whose name starts with `.`.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the folder that cannot be listed.
    fn folders(&self, prefix: &str) -> Result<Vec<String>>;

    /// Makes every [`Durability::Deferred`] write so far durable.
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    fn barrier(&self) -> Result<()>;

    /// Takes the registry's lock; waits while another process holds it (at
    /// most [`LockEvents::patience`]). `lease` is how long a lease lasts
    /// without renewal where the lock is one (the registry's `lease-seconds`;
    /// a folder's OS lock ignores it).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the lock; [`crate::Error::Lock`] when the
    /// wait timed out.
    fn lock(
        &self,
        mode: LockMode,
        lease: Duration,
        events: &dyn LockEvents,
    ) -> Result<Box<dyn LockGuard>>;

    /// Frees the registry's lease for a holder known to be dead (`regtool
    /// unlock`): with `force`, at once (a live holder then writes beside the
    /// next one until its next renewal fails); else only once it is stale
    /// (watched as a writer taking it over would, at most
    /// [`LockEvents::patience`]). Storage whose lock is an OS lock has no
    /// lease to free.
    ///
    /// # Errors
    /// [`crate::Error::Lock`] when the lease is renewed meanwhile or the wait
    /// timed out; [`crate::Error::Io`].
    fn unlock(&self, force: bool, lease: Duration, events: &dyn LockEvents) -> Result<Unlocked> {
        let _ = (force, lease, events);
        Ok(Unlocked::NoLease)
    }

    /// Keys a listing returned that cannot be read back (a key the client
    /// cannot represent: `a//b`, `..`), left out of every listing so far:
    /// full keys or paths, for messages.
    fn unreadable_keys(&self) -> Vec<String> {
        Vec::new()
    }

    /// Deletes what an interrupted regtool left behind: temp objects beside
    /// published ones (only while holding the exclusive lock) and staging files
    /// older than `max_age`. Returns how many were removed.
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    fn clean_temp(&self, max_age: std::time::Duration, beside_published: bool) -> Result<usize>;

    /// Makes an object put there by other means fit to serve (a `.crate` copied
    /// in by hand gets mode 0644).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object.
    fn fix_published(&self, key: &str, kind: ObjectKind) -> Result<()>;

    /// Whether listing a folder costs about as little as reading one object
    /// (a local folder: yes; object storage: no, a `LIST` request per page).
    /// [`crate::registry::Registry`] then reads the few keys a name can have instead of
    /// listing their folders.
    fn cheap_listing(&self) -> bool {
        true
    }

    /// Whether [`Storage::lock`] keeps other writers out absolutely (a
    /// folder's OS lock: yes; a lease in object storage: no, a holder paused
    /// past its lease can still send a write it checked before). Without it
    /// [`crate::registry::Writer`] fences: `.crate` files are created
    /// create-only, each crate's name is claimed before its first index file,
    /// deletes are conditional, and a batch is re-applied to index files
    /// changed meanwhile.
    fn locks(&self) -> bool {
        true
    }
}
