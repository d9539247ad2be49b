//! A storage that counts what passes through it (tests only): each key read
//! (`get`, `open`) and written (`put`, `put_file`, `delete`, `rename`),
//! around another storage that does the work.

use super::{
    Durability, LockEvents, LockGuard, LockMode, Meta, Object, ObjectKind, Outcome, Precondition,
    Staged, Storage, Unlocked,
};
use crate::error::Result;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reads and writes by key, counted.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    /// Times each key was read.
    pub(crate) reads: BTreeMap<String, usize>,
    /// Times each key was written, renamed into or deleted.
    pub(crate) writes: BTreeMap<String, usize>,
}

/// `inner`, counting into [`Counting::counts`].
#[derive(Debug)]
pub(crate) struct Counting {
    inner: Arc<dyn Storage>,
    counts: Mutex<Counts>,
}

impl Counting {
    pub(crate) fn new(inner: Arc<dyn Storage>) -> Counting {
        Counting {
            inner,
            counts: Mutex::default(),
        }
    }

    /// What was counted so far; starts counting again.
    pub(crate) fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }

    /// Counts one read of `key`, or one write when `write`.
    fn count(&self, key: &str, write: bool) {
        let mut counts = self.counts.lock().unwrap();
        let map = if write {
            &mut counts.writes
        } else {
            &mut counts.reads
        };
        *map.entry(key.into()).or_default() += 1;
    }

    fn read(&self, key: &str) {
        self.count(key, false);
    }

    fn write(&self, key: &str) {
        self.count(key, true);
    }
}

impl Storage for Counting {
    fn locate(&self, key: &str) -> PathBuf {
        self.inner.locate(key)
    }
    fn init(&self) -> Result<()> {
        self.inner.init()
    }
    fn local_root(&self) -> Option<&Path> {
        self.inner.local_root()
    }
    fn get(&self, key: &str) -> Result<Option<Object>> {
        self.read(key);
        self.inner.get(key)
    }
    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        self.read(key);
        self.inner.open(key)
    }
    fn stat(&self, key: &str) -> Result<Option<Meta>> {
        self.inner.stat(key)
    }
    fn put(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        self.write(key);
        self.inner.put(key, bytes, kind, pre, durability)
    }
    fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        self.inner.staging_file()
    }
    fn stage(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        durability: Durability,
    ) -> Result<Staged> {
        self.inner.stage(key, bytes, kind, durability)
    }
    fn put_staged(
        &self,
        key: &str,
        staged: Staged,
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        self.write(key);
        self.inner.put_staged(key, staged, kind, pre, durability)
    }
    fn staging_done(&self, file: &tempfile::NamedTempFile) {
        self.inner.staging_done(file);
    }
    fn put_file(
        &self,
        key: &str,
        file: tempfile::NamedTempFile,
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        self.write(key);
        self.inner.put_file(key, file, kind, pre, durability)
    }
    fn delete(&self, key: &str, pre: &Precondition) -> Result<Outcome> {
        self.write(key);
        self.inner.delete(key, pre)
    }
    fn refresh(&self, key: &str, kind: ObjectKind) -> Result<Outcome> {
        self.inner.refresh(key, kind)
    }
    fn rename(&self, from: &str, to: &str, kind: ObjectKind) -> Result<()> {
        self.write(from);
        self.write(to);
        self.inner.rename(from, to, kind)
    }
    fn same_object(&self, a: &str, b: &str) -> Result<bool> {
        self.inner.same_object(a, b)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list(prefix)
    }
    fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.folders(prefix)
    }
    fn barrier(&self) -> Result<()> {
        self.inner.barrier()
    }
    fn lock(
        &self,
        mode: LockMode,
        lease: Duration,
        events: &dyn LockEvents,
    ) -> Result<Box<dyn LockGuard>> {
        self.inner.lock(mode, lease, events)
    }
    fn unlock(&self, force: bool, lease: Duration, events: &dyn LockEvents) -> Result<Unlocked> {
        self.inner.unlock(force, lease, events)
    }
    fn unreadable_keys(&self) -> Vec<String> {
        self.inner.unreadable_keys()
    }
    fn clean_temp(&self, max_age: Duration, beside_published: bool) -> Result<usize> {
        self.inner.clean_temp(max_age, beside_published)
    }
    /// Not counted: on a folder it sets a file's mode only.
    fn fix_published(&self, key: &str, kind: ObjectKind) -> Result<()> {
        self.inner.fix_published(key, kind)
    }
    fn cheap_listing(&self) -> bool {
        self.inner.cheap_listing()
    }
    fn locks(&self) -> bool {
        self.inner.locks()
    }
}
