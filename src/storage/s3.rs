//! A registry in an S3 bucket (or any S3-protocol store): `s3://bucket/prefix`.
//! Floor 2 (`storage`); compiled with the `s3` feature only.
//!
//! Built on Apache Arrow's `object_store` crate (its S3 backend, on the one
//! HTTP client and TLS provider of [`crate::http`]), which is async: each
//! call runs on a small tokio runtime owned by the [`S3Storage`] (one worker
//! thread, which keeps connections going while regtool works), so the rest of
//! regtool stays synchronous. The connection comes
//! from the standard AWS environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...; see
//! `AmazonS3Builder::from_env`); with an endpoint set, requests are path-style
//! (`http://host/bucket/key`), as most S3-compatible servers want.
//!
//! The writers' lock is a lease kept in the bucket (`.regtool/lease`, see
//! [`super::lease`]), renewed from a thread of its own; every request that
//! writes passes a gate that refuses it once the lease is lost ([`gate`]).
//! Beside the lease, every write of a shared object stays conditional, so
//! that a holder paused past its lease cannot undo the next holder's work: a
//! create-only put ([`Precondition::Absent`]) is `If-None-Match: *`; a
//! compare-and-swap ([`Precondition::Unchanged`]) is `If-Match: <ETag>`, on
//! puts and deletes alike; a refused precondition (HTTP 412, or 409 from a
//! concurrent conditional write) is [`Outcome::Conflict`], and the
//! registry's writer ([`crate::registry::Writer`]) re-reads and re-applies.
//! A request is retried by `object_store` at most a few times within seconds
//! (the default would retry for minutes, longer than a lease).
//!
//! Keys are keys: a key from a listing is read back exactly as listed
//! (`foo-1.1.0%2Bb1.crate` stays that, never re-encoded); a key the client
//! cannot represent (`a//b`, `..`) is left out of the listing and reported
//! ([`Storage::unreadable_keys`]). A bucket that does not exist, a denied
//! request and a plain-http endpoint without `AWS_ALLOW_HTTP` each give one
//! line that names the bucket or the variable.
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

mod gate;

use super::lease::{self, LeaseGuard, LeaseObject, Written};
use super::{
    Durability, LockEvents, LockGuard, LockMode, Meta, Object, ObjectKind, Outcome, Precondition,
    Revision, Storage, Unlocked, check_key,
};
use crate::error::{Error, Result};
use crate::layout::LEASE_KEY;
use gate::{GateConnector, GateState};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientConfigKey, GetOptions, ObjectStore,
    ObjectStoreExt, PutMode, PutOptions, PutPayload, PutResult, RetryConfig, UpdateVersion,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Name prefix of the staging files in the system's temp folder.
const STAGING_PREFIX: &str = "regtool-add-";

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
    client: Arc<Client>,
    gate: Arc<GateState>,
}

/// The S3 client and the runtime its requests run on (shared with the
/// lease's renewal thread).
#[derive(Debug)]
struct Client {
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
}

/// The guard of a shared lock: readers take none.
#[derive(Debug)]
struct NoLock;
impl LockGuard for NoLock {}

/// The guard of [`S3Storage::lock`]: the lease, checked by the gate too
/// while it is held.
#[derive(Debug)]
struct LeaseLock {
    guard: Option<LeaseGuard>,
    gate: Arc<GateState>,
}

impl LockGuard for LeaseLock {
    fn check(&self) -> Result<()> {
        self.guard.as_ref().map_or(Ok(()), LockGuard::check)
    }
}

impl Drop for LeaseLock {
    fn drop(&mut self) {
        // Released first, through the gate (the lease's own key passes).
        drop(self.guard.take());
        self.gate.set_lease(None);
    }
}

/// How many times `object_store` retries a request that failed with a 5xx,
/// a timeout or a broken connection (its default, 10 within 3 minutes,
/// outlives a lease).
const MAX_RETRIES: usize = 3;
/// How long after its first try a request may still be retried.
const RETRY_WINDOW: Duration = Duration::from_secs(10);
/// Timeout of one request, unless the environment sets another
/// (`object_store`'s `timeout` key).
const REQUEST_TIMEOUT: &str = "15s";
/// Timeout of connecting, unless set in the environment.
const CONNECT_TIMEOUT: &str = "5s";

/// The lease object of the registry under `prefix` ([`LeaseObject`]).
#[derive(Debug)]
struct S3Lease {
    client: Arc<Client>,
    bucket: String,
    path: ObjectPath,
    url: PathBuf,
}

impl S3Lease {
    fn fail(&self, action: &'static str, e: object_store::Error) -> Error {
        fail(action, &self.bucket, &self.url, e)
    }
}

impl LeaseObject for S3Lease {
    fn locate(&self) -> PathBuf {
        self.url.clone()
    }

    fn read(&self) -> Result<Option<(Vec<u8>, Revision)>> {
        match self.client.get(&self.path) {
            Ok(o) => Ok(Some((o.bytes, o.revision))),
            Err(e @ object_store::Error::NotFound { .. })
                if !chain_mentions(&e, "NoSuchBucket") =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail("read", e)),
        }
    }

    fn write(&self, bytes: &[u8], pre: &Precondition) -> Result<Written> {
        match self.client.put(
            &self.path,
            PutPayload::from(bytes.to_vec()),
            ObjectKind::State,
            pre,
        ) {
            Ok(r) => Ok(Written::Done(r.e_tag.map(Revision))),
            Err(e) if is_conflict(&e, pre) => Ok(Written::Conflict),
            Err(e) => Err(self.fail("write", e)),
        }
    }
}

/// The error of `action` on `url` failing with `e`: [`Error::Bucket`] for a
/// missing bucket or denied access, [`Error::Unavailable`] for an outage
/// (see [`is_outage`]), else [`Error::Io`].
fn fail(action: &'static str, bucket: &str, url: &Path, e: object_store::Error) -> Error {
    if let Some(b) = bucket_error(bucket, url, &e) {
        return b;
    }
    if is_outage(&e) {
        return Error::Unavailable {
            action,
            path: url.to_path_buf(),
            source: std::io::Error::other(e),
        };
    }
    Error::io(action, url, std::io::Error::other(e))
}

/// Whether `e` is an outage of the S3 endpoint, left after the client's
/// retries: no connection, a request cut or timed out, or a 5xx answer.
fn is_outage(e: &(dyn std::error::Error + 'static)) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(h) = c.downcast_ref::<HttpError>()
            && matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            )
        {
            return true;
        }
        cur = c.source();
    }
    // object_store's status error is private; its text is
    // "Server returned non-2xx status code: 503 Service Unavailable: ...".
    chain_mentions(e, "non-2xx status code: 5")
}

/// One line naming the bucket, when `e` says that it does not exist or that
/// access to `url` was denied.
fn bucket_error(bucket: &str, url: &Path, e: &object_store::Error) -> Option<Error> {
    let message = if chain_mentions(e, "NoSuchBucket") {
        format!(
            "the bucket `{bucket}` does not exist (the S3 server answered 404 NoSuchBucket): create it first, or check the bucket name and AWS_ENDPOINT_URL"
        )
    } else if let object_store::Error::PermissionDenied { .. }
    | object_store::Error::Unauthenticated { .. } = e
    {
        format!(
            "the S3 server denied access to `{}` (403 AccessDenied): check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), AWS_REGION and the policy of the bucket `{bucket}`",
            url.display()
        )
    } else {
        return None;
    };
    Some(Error::Bucket {
        path: url.to_path_buf(),
        message,
    })
}

/// Whether a failed put is a refused precondition (412; 409 from a
/// concurrent conditional write; 404 for `If-Match` on a deleted object).
fn is_conflict(e: &object_store::Error, pre: &Precondition) -> bool {
    match e {
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            true
        }
        object_store::Error::NotFound { .. } => {
            *pre != Precondition::Any && !chain_mentions(e, "NoSuchBucket")
        }
        _ => false,
    }
}

/// Whether `e` or one of its causes says `what` (S3's error codes are in
/// the answer's body, which `object_store` keeps in its error).
fn chain_mentions(e: &(dyn std::error::Error + 'static), what: &str) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.to_string().contains(what) {
            return true;
        }
        cur = c.source();
    }
    false
}

/// Whether the gate refused a request of `e` (the lease is lost).
fn refused_by_gate(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<gate::Refused>() {
            return true;
        }
        cur = c.source();
    }
    false
}

impl Client {
    fn get(&self, path: &ObjectPath) -> std::result::Result<Object, object_store::Error> {
        self.runtime.block_on(async {
            let r = self.store.get_opts(path, GetOptions::default()).await?;
            let e_tag = r.meta.e_tag.clone().or(r.meta.version.clone());
            Ok(Object {
                bytes: r.bytes().await?.to_vec(),
                // Without an ETag no compare-and-swap can succeed: an empty
                // revision makes every `If-Match` fail (a conflict, not a loss).
                revision: Revision(e_tag.unwrap_or_default()),
            })
        })
    }

    fn put(
        &self,
        path: &ObjectPath,
        bytes: PutPayload,
        kind: ObjectKind,
        pre: &Precondition,
    ) -> std::result::Result<PutResult, object_store::Error> {
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
        self.runtime
            .block_on(self.store.put_opts(path, bytes, opts))
    }
}

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
    /// not make a valid client (a malformed endpoint, say; a plain-http
    /// endpoint without `AWS_ALLOW_HTTP=true`), or the runtime cannot start.
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
        // object_store's reqwest client takes the process's rustls provider.
        crate::http::install_tls_provider();
        let mut builder = builder.with_bucket_name(bucket);
        if builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some()
        {
            builder = builder.with_virtual_hosted_style_request(false);
        }
        let url = format!("s3://{bucket}/{prefix}");
        check_plain_http(&builder, &url)?;
        let gate = Arc::new(GateState::new(LEASE_KEY));
        let builder = fenced(builder, &gate);
        let store = builder.build().map_err(|e| Error::Config {
            path: PathBuf::from(&url),
            message: format!("cannot set up the S3 client: {e}"),
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("regtool-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the S3 client for", PathBuf::from(&url), e))?;
        Ok(S3Storage {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            client: Arc::new(Client { store, runtime }),
            gate,
        })
    }

    /// The object path of `key` (checked, [`check_key`]), taken as it is:
    /// never re-encoded, so that a listed key reads back as listed.
    fn object_path(&self, key: &str) -> Result<ObjectPath> {
        check_key(key, false)?;
        self.full_path(key)
    }

    /// The object path of the folder `prefix` (`""`: the registry's top).
    fn folder_path(&self, prefix: &str) -> Result<ObjectPath> {
        let prefix = prefix.trim_end_matches('/');
        check_key(prefix, true)?;
        self.full_path(prefix)
    }

    fn full_path(&self, key: &str) -> Result<ObjectPath> {
        let full = match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => key.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{key}", self.prefix),
        };
        ObjectPath::parse(&full).map_err(|_| Error::BadKey {
            key: key.to_string(),
            reason: "the S3 client cannot represent it (a control character)",
        })
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

    /// The error of a failed request about `key`: the lease's when the gate
    /// refused it; one line naming the bucket when it does not exist or
    /// access was denied; else an I/O error naming the object.
    fn fail(&self, action: &'static str, key: &str, e: object_store::Error) -> Error {
        if refused_by_gate(&e)
            && let Some(Err(lost)) = self.gate.lease().map(|l| l.check())
        {
            return lost;
        }
        fail(action, &self.bucket, &self.locate(key), e)
    }

    fn put_bytes(
        &self,
        key: &str,
        bytes: PutPayload,
        kind: ObjectKind,
        pre: &Precondition,
    ) -> Result<Outcome> {
        let path = self.object_path(key)?;
        match self.client.put(&path, bytes, kind, pre) {
            Ok(_) => Ok(Outcome::Done),
            Err(e) if is_conflict(&e, pre) => Ok(Outcome::Conflict),
            Err(e) => Err(self.fail("write", key, e)),
        }
    }

    fn head(&self, key: &str) -> Result<Option<object_store::ObjectMeta>> {
        let path = self.object_path(key)?;
        match self.client.runtime.block_on(self.client.store.head(&path)) {
            Ok(m) => Ok(Some(m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read", key, e)),
        }
    }

    fn lease_object(&self) -> Result<Arc<S3Lease>> {
        Ok(Arc::new(S3Lease {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            path: self.object_path(LEASE_KEY)?,
            url: self.locate(LEASE_KEY),
        }))
    }
}

/// Refuses a plain-http endpoint unless `AWS_ALLOW_HTTP` allows it (else the
/// client fails later, on every request, with a builder error).
fn check_plain_http(builder: &AmazonS3Builder, url: &str) -> Result<()> {
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let allowed = builder
        .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
        .is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "true" | "on" | "yes" | "y"
            )
        });
    match endpoint {
        Some(e) if e.to_ascii_lowercase().starts_with("http://") && !allowed => {
            Err(Error::Config {
                path: PathBuf::from(url),
                message: format!(
                    "the endpoint `{e}` is plain http: set AWS_ALLOW_HTTP=true to use it (or use https)"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// The client settings the lease relies on: the gate in front of every
/// request, single-object deletes (which take `If-Match`; the bulk delete
/// does not), and retries and timeouts well inside a lease. Timeouts set in
/// the environment stay.
fn fenced(builder: AmazonS3Builder, gate: &Arc<GateState>) -> AmazonS3Builder {
    let mut builder = builder
        .with_http_connector(GateConnector(gate.clone()))
        .with_disable_bulk_delete(true)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_WINDOW,
        });
    for (key, value) in [
        (ClientConfigKey::Timeout, REQUEST_TIMEOUT),
        (ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT),
    ] {
        let key = AmazonS3ConfigKey::Client(key);
        if builder.get_config_value(&key).is_none() {
            builder = builder.with_config(key, value);
        }
    }
    builder
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
        let path = self.object_path(key)?;
        match self.client.get(&path) {
            Ok(o) => Ok(Some(o)),
            Err(e @ object_store::Error::NotFound { .. })
                if !chain_mentions(&e, "NoSuchBucket") =>
            {
                Ok(None)
            }
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
            revision: Revision(m.e_tag.or(m.version).unwrap_or_default()),
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

    /// A temp file in the system's temp folder (removed when dropped), named
    /// [`STAGING_PREFIX`]`…`.
    fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        super::local::fs::locked_staging_file(&std::env::temp_dir(), STAGING_PREFIX, false)
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

    /// `Unchanged` is a `DELETE` with `If-Match` (S3 answers 412 when the
    /// object changed: a conflict; 404 when it is gone: deleted already,
    /// which is also what a retried delete that landed sees); `Absent` asks
    /// with a `HEAD`.
    fn delete(&self, key: &str, pre: &Precondition) -> Result<Outcome> {
        let path = self.object_path(key)?;
        let store = &self.client.store;
        let result = match pre {
            Precondition::Any => self.client.runtime.block_on(store.delete(&path)),
            Precondition::Absent => {
                return Ok(if self.head(key)?.is_some() {
                    Outcome::Conflict
                } else {
                    Outcome::Done
                });
            }
            Precondition::Unchanged(rev) => self
                .client
                .runtime
                .block_on(gate::if_match(rev.0.clone(), store.delete(&path))),
        };
        match result {
            Ok(()) => Ok(Outcome::Done),
            Err(e @ object_store::Error::NotFound { .. })
                if !chain_mentions(&e, "NoSuchBucket") =>
            {
                Ok(Outcome::Done)
            }
            Err(e) if is_conflict(&e, pre) => Ok(Outcome::Conflict),
            Err(e) => Err(self.fail("delete", key, e)),
        }
    }

    /// Copies the object (its bytes, written anew with `kind`'s metadata,
    /// where no object is: a target written meanwhile by another writer is
    /// a conflict) and deletes the original if it is still the one copied.
    fn rename(&self, from: &str, to: &str, kind: ObjectKind) -> Result<()> {
        let Some(obj) = self.get(from)? else {
            return Err(Error::io(
                "move",
                self.locate(from),
                std::io::ErrorKind::NotFound.into(),
            ));
        };
        let bytes = obj.bytes;
        match self.put_bytes(
            to,
            PutPayload::from(bytes.clone()),
            kind,
            &Precondition::Absent,
        )? {
            Outcome::Done => {}
            // The same bytes there already: a move that was cut short.
            Outcome::Conflict if self.get(to)?.is_some_and(|o| o.bytes == bytes) => {}
            Outcome::Conflict => {
                return Err(Error::Conflict {
                    path: self.locate(to),
                });
            }
        }
        let _ = self.delete(from, &Precondition::Unchanged(obj.revision))?;
        Ok(())
    }

    /// A one-part multipart upload where the ETag is an MD5 (a plain PUT),
    /// a plain PUT (`If-Match`) where it is a multipart one (`…-N`).
    fn refresh(&self, key: &str, kind: ObjectKind) -> Result<Outcome> {
        let Some(obj) = self.get(key)? else {
            return Ok(Outcome::Conflict);
        };
        if obj.revision.0.contains('-') {
            let pre = Precondition::Unchanged(obj.revision);
            return self.put_bytes(key, PutPayload::from(obj.bytes), kind, &pre);
        }
        let path = self.object_path(key)?;
        let (content_type, cache_control) = http_metadata(kind);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.into());
        attributes.insert(Attribute::CacheControl, cache_control.into());
        let store = &self.client.store;
        let upload = async {
            let mut upload = store.put_multipart_opts(&path, attributes.into()).await?;
            upload.put_part(PutPayload::from(obj.bytes)).await?;
            upload.complete().await
        };
        match self.client.runtime.block_on(upload) {
            Ok(_) => Ok(Outcome::Done),
            Err(e) => Err(self.fail("write", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        use futures_util::TryStreamExt;
        let dir = prefix.trim_end_matches('/');
        let path = self.folder_path(dir)?;
        let listed: std::result::Result<Vec<_>, _> = self.client.runtime.block_on(
            self.client
                .store
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
        let path = self.folder_path(dir)?;
        let listed = self
            .client
            .runtime
            .block_on(
                self.client
                    .store
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

    /// The exclusive lock is the registry's lease ([`super::lease`]), taken
    /// for `lease` and checked by the gate before every write request while
    /// it is held. Readers (the shared lock) take nothing.
    fn lock(
        &self,
        mode: LockMode,
        lease: Duration,
        events: &dyn LockEvents,
    ) -> Result<Box<dyn LockGuard>> {
        if mode == LockMode::Shared {
            return Ok(Box::new(NoLock));
        }
        let guard = lease::take(self.lease_object()?, lease, events)?;
        self.gate.set_lease(Some(guard.lease()));
        Ok(Box::new(LeaseLock {
            guard: Some(guard),
            gate: self.gate.clone(),
        }))
    }

    fn unlock(&self, force: bool, lease: Duration, events: &dyn LockEvents) -> Result<Unlocked> {
        lease::unlock(self.lease_object()?.as_ref(), force, lease, events)
    }

    fn unreadable_keys(&self) -> Vec<String> {
        self.gate
            .unreadable()
            .into_iter()
            .map(|k| format!("s3://{}/{k}", self.bucket))
            .collect()
    }

    /// No object is ever a temp object; staging files are local temp files,
    /// removed when dropped, and after a kill by this sweep of the system's
    /// temp folder (ours only: named `regtool-add-…`, not held by a running
    /// regtool, older than `max_age`; another user's are left alone).
    fn clean_temp(&self, max_age: Duration, _beside_published: bool) -> Result<usize> {
        super::local::fs::sweep_staging(&std::env::temp_dir(), STAGING_PREFIX, max_age, false)
    }

    /// Gives an object copied in by other means the HTTP metadata of `kind`
    /// (`Content-Type`, `Cache-Control`): rewritten with its own bytes
    /// (`If-Match`) when either differs.
    fn fix_published(&self, key: &str, kind: ObjectKind) -> Result<()> {
        let path = self.object_path(key)?;
        let (want_type, want_cache) = http_metadata(kind);
        let head = self.client.runtime.block_on(self.client.store.get_opts(
            &path,
            GetOptions {
                head: true,
                ..GetOptions::default()
            },
        ));
        let attributes = match head {
            Ok(r) => r.attributes,
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(self.fail("read", key, e)),
        };
        let has = |a: &Attribute, want: &str| {
            attributes
                .get(a)
                .is_some_and(|v: &AttributeValue| v.as_ref() == want)
        };
        if has(&Attribute::ContentType, want_type) && has(&Attribute::CacheControl, want_cache) {
            return Ok(());
        }
        let Some(obj) = self.get(key)? else {
            return Ok(());
        };
        let pre = Precondition::Unchanged(obj.revision);
        match self.put_bytes(key, PutPayload::from(obj.bytes), kind, &pre)? {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(Error::Conflict {
                path: self.locate(key),
            }),
        }
    }

    fn cheap_listing(&self) -> bool {
        false
    }

    /// A lease is not an OS lock: a holder paused past it may still send a
    /// write it checked before, so writers fence with conditional writes.
    fn locks(&self) -> bool {
        false
    }
}
