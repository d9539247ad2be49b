//! A registry in an S3 bucket (or any S3-protocol store): `s3://bucket/prefix`.
//! Floor 2 (`storage`).
//!
//! Built on Apache Arrow's `object_store` crate (its `aws` backend), which is
//! async: each call runs on a small tokio current-thread runtime owned by the
//! [`S3Storage`], so the rest of regtool stays synchronous. The connection comes
//! from the standard AWS environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...; see
//! `AmazonS3Builder::from_env`); with an endpoint set, requests are path-style
//! (`http://host/bucket/key`), as most S3-compatible servers want.
//!
//! There is no lock ([`Storage::lock`] returns a guard that holds nothing):
//! writers rely on conditional requests instead. A create-only put
//! ([`Precondition::Absent`]) is `If-None-Match: *`; a compare-and-swap
//! ([`Precondition::Unchanged`]) is `If-Match: <ETag>`; a refused precondition
//! (HTTP 412, or 409 from a concurrent conditional write) is
//! [`Outcome::Conflict`], and the registry's writer
//! ([`crate::registry::Writer`]) re-reads and re-applies.
//!
//! Every object gets its HTTP metadata at write time, so that the bucket can be
//! served to cargo as it is (directly or behind a CDN): `config.json`
//! `application/json` and index files `text/plain`, both `Cache-Control: no-cache`
//! (revalidated on every use); `.crate` files `application/gzip` with
//! `Cache-Control: public, max-age=31536000, immutable`. regtool's own state
//! (`.regtool/config.toml`) lives under the same prefix.
//!
//! Source: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html>.

// The storage layer: it reads back its own staging files.
#![allow(clippy::disallowed_methods)]

use super::{
    Durability, LockEvents, LockGuard, LockMode, Meta, Object, ObjectKind, Outcome, Precondition,
    Revision, Storage,
};
use crate::error::{Error, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, UpdateVersion,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `Cache-Control` of a `.crate`: its bytes never change.
pub(crate) const CRATE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of index files and `config.json`: revalidate every time.
pub(crate) const INDEX_CACHE_CONTROL: &str = "no-cache";

/// A registry under `prefix` in an S3 bucket.
#[derive(Debug)]
pub(crate) struct S3Storage {
    bucket: String,
    /// The key prefix, without leading or trailing `/` (`""`: the bucket's top).
    prefix: String,
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
}

/// The no-op guard of [`S3Storage::lock`].
#[derive(Debug)]
struct NoLock;
impl LockGuard for NoLock {}

/// `Content-Type` and `Cache-Control` of an object of `kind`.
pub(crate) fn http_metadata(kind: ObjectKind) -> (&'static str, &'static str) {
    match kind {
        ObjectKind::Index => ("text/plain", INDEX_CACHE_CONTROL),
        ObjectKind::Config => ("application/json", INDEX_CACHE_CONTROL),
        ObjectKind::Crate => ("application/gzip", CRATE_CACHE_CONTROL),
        ObjectKind::State | ObjectKind::Secret => ("text/plain", "no-store"),
        ObjectKind::Html => ("text/html; charset=utf-8", INDEX_CACHE_CONTROL),
        ObjectKind::Script => ("text/javascript; charset=utf-8", INDEX_CACHE_CONTROL),
        ObjectKind::Style => ("text/css; charset=utf-8", INDEX_CACHE_CONTROL),
        ObjectKind::Feed => ("application/atom+xml", INDEX_CACHE_CONTROL),
    }
}

impl S3Storage {
    /// Storage under `prefix` in `bucket`, configured from the standard AWS
    /// environment variables. Makes no request.
    ///
    /// # Errors
    /// [`Error::Config`] naming `s3://bucket/prefix` when the environment does
    /// not make a valid client (a malformed endpoint, say), or the runtime cannot
    /// start.
    pub(crate) fn from_env(bucket: &str, prefix: &str) -> Result<S3Storage> {
        Self::from_builder(AmazonS3Builder::from_env(), bucket, prefix)
    }

    /// Storage under `prefix` in `bucket` of the S3 server at `endpoint`
    /// (plain HTTP allowed, test credentials), for the storage contract.
    #[cfg(test)]
    pub(crate) fn at_endpoint(endpoint: &str, bucket: &str, prefix: &str) -> Result<S3Storage> {
        let builder = AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing");
        Self::from_builder(builder, bucket, prefix)
    }

    fn from_builder(builder: AmazonS3Builder, bucket: &str, prefix: &str) -> Result<S3Storage> {
        let mut builder = builder.with_bucket_name(bucket);
        if builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some()
        {
            builder = builder.with_virtual_hosted_style_request(false);
        }
        let url = format!("s3://{bucket}/{prefix}");
        let store = builder.build().map_err(|e| Error::Config {
            path: PathBuf::from(&url),
            message: format!("cannot set up the S3 client: {e}"),
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the S3 client for", PathBuf::from(&url), e))?;
        Ok(S3Storage {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            store,
            runtime,
        })
    }

    fn object_path(&self, key: &str) -> ObjectPath {
        debug_assert!(!key.starts_with('/') && !key.split('/').any(|c| c == ".." || c == "."));
        let key = key.trim_end_matches('/');
        match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => ObjectPath::from(key),
            (false, true) => ObjectPath::from(self.prefix.as_str()),
            (false, false) => ObjectPath::from(format!("{}/{key}", self.prefix)),
        }
    }

    /// The key (relative to the prefix) of an object path from a listing.
    fn key_of(&self, path: &ObjectPath) -> Option<String> {
        let full = path.as_ref();
        if self.prefix.is_empty() {
            return Some(full.to_string());
        }
        full.strip_prefix(self.prefix.as_str())?
            .strip_prefix('/')
            .map(str::to_string)
    }

    fn fail(&self, action: &'static str, key: &str, e: object_store::Error) -> Error {
        Error::io(action, self.locate(key), std::io::Error::other(e))
    }

    fn put_bytes(
        &self,
        key: &str,
        bytes: PutPayload,
        kind: ObjectKind,
        pre: &Precondition,
    ) -> Result<Outcome> {
        let mode = match pre {
            Precondition::Any => PutMode::Overwrite,
            Precondition::Absent => PutMode::Create,
            Precondition::Unchanged(rev) => PutMode::Update(UpdateVersion {
                e_tag: Some(rev.0.clone()),
                version: None,
            }),
        };
        let (content_type, cache_control) = http_metadata(kind);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.into());
        attributes.insert(Attribute::CacheControl, cache_control.into());
        let opts = PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        };
        let path = self.object_path(key);
        match self
            .runtime
            .block_on(self.store.put_opts(&path, bytes, opts))
        {
            Ok(_) => Ok(Outcome::Done),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Outcome::Conflict),
            // `If-Match` on an object deleted meanwhile.
            Err(object_store::Error::NotFound { .. }) if *pre != Precondition::Any => {
                Ok(Outcome::Conflict)
            }
            Err(e) => Err(self.fail("write", key, e)),
        }
    }

    fn head(&self, key: &str) -> Result<Option<object_store::ObjectMeta>> {
        match self
            .runtime
            .block_on(self.store.head(&self.object_path(key)))
        {
            Ok(m) => Ok(Some(m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read", key, e)),
        }
    }
}

/// Whether a key (relative to the listed prefix) has a component starting with
/// `.` (temp objects, `.regtool/`), which listings leave out.
fn hidden(rel: &str) -> bool {
    rel.split('/').any(|c| c.starts_with('.'))
}

impl Storage for S3Storage {
    fn locate(&self, key: &str) -> PathBuf {
        let mut url = format!("s3://{}", self.bucket);
        for part in [self.prefix.as_str(), key] {
            if !part.is_empty() {
                url.push('/');
                url.push_str(part);
            }
        }
        PathBuf::from(url)
    }

    /// Object storage has no folders to make: nothing to do.
    fn init(&self) -> Result<()> {
        Ok(())
    }

    fn local_root(&self) -> Option<&Path> {
        None
    }

    fn get(&self, key: &str) -> Result<Option<Object>> {
        let path = self.object_path(key);
        let result = self.runtime.block_on(async {
            let r = self.store.get_opts(&path, GetOptions::default()).await?;
            let e_tag = r.meta.e_tag.clone().or(r.meta.version.clone());
            Ok::<_, object_store::Error>((r.bytes().await?, e_tag))
        });
        match result {
            Ok((bytes, e_tag)) => Ok(Some(Object {
                bytes: bytes.to_vec(),
                // Without an ETag no compare-and-swap can succeed: an empty
                // revision makes every `If-Match` fail (a conflict, not a loss).
                revision: Revision(e_tag.unwrap_or_default()),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read", key, e)),
        }
    }

    /// Reads the whole object (a `.crate` is small) and streams it from memory.
    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        Ok(self
            .get(key)?
            .map(|o| Box::new(std::io::Cursor::new(o.bytes)) as Box<dyn Read + Send>))
    }

    fn stat(&self, key: &str) -> Result<Option<Meta>> {
        Ok(self.head(key)?.map(|m| Meta {
            size: m.size,
            modified: Some(m.last_modified.into()),
        }))
    }

    fn put(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        pre: &Precondition,
        _durability: Durability,
    ) -> Result<Outcome> {
        // One PUT is atomic and durable when it returns.
        self.put_bytes(key, PutPayload::from(bytes.to_vec()), kind, pre)
    }

    /// A temp file in the system's temp folder (removed when dropped).
    fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix("regtool-add-")
            .tempfile()
            .map_err(|e| Error::io("create a temporary file in", std::env::temp_dir(), e))
    }

    fn put_file(
        &self,
        key: &str,
        file: tempfile::NamedTempFile,
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        let bytes = std::fs::read(file.path()).map_err(|e| Error::io("read", file.path(), e))?;
        self.put(key, &bytes, kind, pre, durability)
    }

    /// `Unchanged` is checked with a `HEAD` before the `DELETE` (S3's
    /// `DeleteObject` takes no `If-Match` in the client used): a writer that
    /// changes the object between the two loses its change. Only `remove` and
    /// `reindex` delete index files.
    fn delete(&self, key: &str, pre: &Precondition) -> Result<Outcome> {
        match pre {
            Precondition::Any => {}
            Precondition::Absent => {
                return Ok(if self.head(key)?.is_some() {
                    Outcome::Conflict
                } else {
                    Outcome::Done
                });
            }
            Precondition::Unchanged(rev) => match self.head(key)? {
                Some(m) if m.e_tag.as_deref() == Some(rev.0.as_str()) => {}
                _ => return Ok(Outcome::Conflict),
            },
        }
        match self
            .runtime
            .block_on(self.store.delete(&self.object_path(key)))
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(Outcome::Done),
            Err(e) => Err(self.fail("delete", key, e)),
        }
    }

    /// Copies the object (its bytes, written anew with `kind`'s metadata) and
    /// deletes the original.
    fn rename(&self, from: &str, to: &str, kind: ObjectKind) -> Result<()> {
        let Some(obj) = self.get(from)? else {
            return Err(Error::io(
                "move",
                self.locate(from),
                std::io::ErrorKind::NotFound.into(),
            ));
        };
        let _ = self.put_bytes(to, PutPayload::from(obj.bytes), kind, &Precondition::Any)?;
        let _ = self.delete(from, &Precondition::Any)?;
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        use futures_util::TryStreamExt;
        let dir = prefix.trim_end_matches('/');
        let path = self.object_path(dir);
        let listed: std::result::Result<Vec<_>, _> = self.runtime.block_on(
            self.store
                .list(Some(&path).filter(|p| !p.as_ref().is_empty()))
                .try_collect(),
        );
        let listed = listed.map_err(|e| self.fail("list", dir, e))?;
        let mut out: Vec<String> = listed
            .iter()
            .filter_map(|m| self.key_of(&m.location))
            .filter(|k| {
                let rel = if dir.is_empty() {
                    k.as_str()
                } else {
                    k.strip_prefix(dir)
                        .and_then(|r| r.strip_prefix('/'))
                        .unwrap_or("")
                };
                !rel.is_empty() && !hidden(rel)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = prefix.trim_end_matches('/');
        let path = self.object_path(dir);
        let listed = self
            .runtime
            .block_on(
                self.store
                    .list_with_delimiter(Some(&path).filter(|p| !p.as_ref().is_empty())),
            )
            .map_err(|e| self.fail("list", dir, e))?;
        let mut out: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every put is durable when it returns: nothing to do.
    fn barrier(&self) -> Result<()> {
        Ok(())
    }

    /// No lock: returns a guard that holds nothing. Writers never overwrite
    /// each other's changes because every write of a shared object is
    /// conditional (see the module docs).
    fn lock(&self, _mode: LockMode, _events: &dyn LockEvents) -> Result<Box<dyn LockGuard>> {
        Ok(Box::new(NoLock))
    }

    /// Staging files are local temp files, removed when dropped (or by the
    /// system's temp cleaner after a kill); no object is ever a temp object.
    fn clean_temp(&self, _max_age: Duration, _beside_published: bool) -> Result<usize> {
        Ok(0)
    }

    /// Nothing to do: objects carry no file mode.
    fn fix_published(&self, _key: &str, _kind: ObjectKind) -> Result<()> {
        Ok(())
    }

    fn cheap_listing(&self) -> bool {
        false
    }

    fn locks(&self) -> bool {
        false
    }
}
