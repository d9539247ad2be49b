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
//! and a lock that an implementation may make a no-op when it relies on
//! compare-and-swap instead. [`local::LocalStorage`] is the folder
//! implementation (flock, fsync, `syncfs` batches, modes and mtime rules live there);
//! [`s3::S3Storage`] keeps a registry in an S3 bucket (no lock, conditional
//! requests, HTTP metadata on every object).

#[cfg(test)]
mod contract;
pub(crate) mod local;
pub(crate) mod s3;

use crate::error::Result;
use std::fmt::Debug;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    /// A catalogue page (`text/html; charset=utf-8`, revalidated).
    Html,
    /// A catalogue script (`text/javascript`, revalidated).
    Script,
    /// The catalogue's style sheet (`text/css`, revalidated).
    Style,
    /// The catalogue's Atom feed (`application/atom+xml`, revalidated).
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

/// An object as read: its bytes and revision.
#[derive(Clone, Debug)]
pub(crate) struct Object {
    /// The whole content.
    pub(crate) bytes: Vec<u8>,
    /// Its revision, for a later [`Precondition::Unchanged`].
    pub(crate) revision: Revision,
}

/// Size and time of a stored object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    /// Size in bytes.
    pub(crate) size: u64,
    /// Last modification time, where the backend knows it.
    pub(crate) modified: Option<SystemTime>,
}

/// Told what happens while taking a lock.
pub(crate) trait LockEvents {
    /// Another process holds the lock; about to wait. `what` names the lock.
    fn waiting(&self, what: &Path);
    /// The storage cannot lock (some NFS setups); going on without.
    fn unsupported(&self, what: &Path, error: &std::io::Error);
}

/// A held lock; released on drop.
pub(crate) trait LockGuard: Debug + Send + Sync {
    /// Whether the lock is still held: `Ok` while it is, an error once it is
    /// lost, after which nothing may be written under it. An OS lock on a
    /// file is never lost while its process lives; a lease kept in object
    /// storage is lost when it runs out before it is renewed.
    ///
    /// # Errors
    /// The error naming the lock, once it is lost.
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
/// and never hold `.` or `..` components (callers build them through
/// [`crate::registry::Registry`]). Every method names the failing object in its error.
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

    /// A temp file to fill before [`Storage::put_file`] (for a folder, on the
    /// same file system, so that the put is a rename).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the temp folder.
    fn staging_file(&self) -> Result<tempfile::NamedTempFile>;

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

    /// Takes the registry's lock; waits while another process holds it.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the lock.
    fn lock(&self, mode: LockMode, events: &dyn LockEvents) -> Result<Box<dyn LockGuard>>;

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

    /// Whether [`Storage::lock`] keeps other writers out (a folder: yes;
    /// object storage: no, its lock is a no-op and writers rely on
    /// conditional puts). [`crate::registry::Writer::publish`] then creates `.crate`
    /// files create-only and re-applies a batch to index files changed meanwhile.
    fn locks(&self) -> bool {
        true
    }
}
