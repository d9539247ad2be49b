//! The S3 client's gate: every HTTP request of the S3 backend passes here,
//! between `object_store` and its HTTP client. Floor 2 (`storage`).
//!
//! - **Fencing**: a request that writes (any method but `GET` and `HEAD`) is
//!   refused while the registry's lease is lost ([`Lease::check`]), each try
//!   of it: `object_store` retries a failed request after a pause, and the
//!   process may have been stopped during that pause. Writes of the lease
//!   object itself pass.
//! - **Conditional deletes**: `object_store` sends no `If-Match` on
//!   `DeleteObject`; a delete run inside [`if_match`] gets that header
//!   (S3 and moto ≥ 5.1 honour it; a store that ignores it deletes as before).
//! - **Keys are keys**: a listing (`ListObjectsV2`) that holds a key the
//!   client cannot represent (`a//b`, a `..` component: `object_store` fails
//!   the whole listing on it) has that entry taken out and recorded, so that
//!   the rest of the listing goes on and the key is reported by name.
//!
//! Source: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html>
//! (`If-Match`), <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>.

use crate::storage::lease::Lease;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, Result as StoreResult};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

tokio::task_local! {
    /// The ETag a `DELETE` sent from within [`if_match`] must match.
    static DELETE_IF_MATCH: String;
}

/// Runs `f` (an `object_store` delete) with `If-Match: etag` on its `DELETE`.
pub(super) async fn if_match<F: std::future::Future>(etag: String, f: F) -> F::Output {
    DELETE_IF_MATCH.scope(etag, f).await
}

/// What the gate knows: the lease to check, and the keys it took out of
/// listings.
#[derive(Debug, Default)]
pub(super) struct GateState {
    lease: Mutex<Option<Arc<Lease>>>,
    /// The end of the URL path of the lease object (its writes pass).
    lease_path: String,
    unreadable: Mutex<BTreeSet<String>>,
}

impl GateState {
    /// A gate for a registry whose lease object is at `lease_key` (without
    /// the prefix: `.regtool/lease`).
    pub(super) fn new(lease_key: &str) -> GateState {
        GateState {
            lease_path: format!("/{lease_key}"),
            ..GateState::default()
        }
    }

    /// Checks writes against `lease` from now on (`None`: no more).
    pub(super) fn set_lease(&self, lease: Option<Arc<Lease>>) {
        *self.lease.lock().unwrap_or_else(PoisonError::into_inner) = lease;
    }

    /// The lease writes are checked against.
    pub(super) fn lease(&self) -> Option<Arc<Lease>> {
        self.lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The keys (with the prefix) taken out of listings so far.
    pub(super) fn unreadable(&self) -> Vec<String> {
        self.unreadable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// The error of a write the gate refused (the lease is lost).
#[derive(Debug, thiserror::Error)]
#[error("refused: the registry lease is lost")]
pub(super) struct Refused;

/// Makes `object_store`'s HTTP client with the gate in front.
#[derive(Debug)]
pub(super) struct GateConnector(pub(super) Arc<GateState>);

impl HttpConnector for GateConnector {
    fn connect(&self, options: &ClientOptions) -> StoreResult<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Gate {
            inner,
            state: self.0.clone(),
        }))
    }
}

#[derive(Debug)]
struct Gate {
    inner: HttpClient,
    state: Arc<GateState>,
}

#[async_trait::async_trait]
impl HttpService for Gate {
    async fn call(&self, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let method = req.method().as_str().to_string();
        let writes = method != "GET" && method != "HEAD";
        if writes
            && !req.uri().path().ends_with(&self.state.lease_path)
            && let Some(lease) = self.state.lease()
            && lease.check().is_err()
        {
            return Err(HttpError::new(HttpErrorKind::Unknown, Refused));
        }
        if method == "DELETE"
            && let Ok(etag) = DELETE_IF_MATCH.try_with(Clone::clone)
            && let Ok(value) = object_store::HeaderValue::from_str(&etag)
        {
            req.headers_mut().insert("if-match", value);
        }
        let listing = method == "GET"
            && req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "list-type=2"));
        let resp = self.inner.execute(req).await?;
        if !listing || !resp.status().is_success() {
            return Ok(resp);
        }
        let (parts, body) = resp.into_parts();
        let bytes = body.bytes().await?;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Ok(HttpResponse::from_parts(parts, bytes.into()));
        };
        let mut bad = Vec::new();
        let kept = without_unreadable_keys(text, &mut bad);
        if bad.is_empty() {
            return Ok(HttpResponse::from_parts(parts, bytes.into()));
        }
        self.state
            .unreadable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(bad);
        Ok(HttpResponse::from_parts(parts, kept.into()))
    }
}

/// A `ListObjectsV2` answer without the entries (`<Contents>` by `<Key>`,
/// `<CommonPrefixes>` by `<Prefix>`) whose key `object_store` cannot take as
/// a path; those keys go to `bad`.
pub(super) fn without_unreadable_keys(xml: &str, bad: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    loop {
        let next = [
            ("<Contents>", "</Contents>", "Key"),
            ("<CommonPrefixes>", "</CommonPrefixes>", "Prefix"),
        ]
        .into_iter()
        .filter_map(|(open, close, field)| rest.find(open).map(|at| (at, open, close, field)))
        .min_by_key(|(at, ..)| *at);
        let Some((at, _, close, field)) = next else {
            out.push_str(rest);
            return out;
        };
        let Some(len) = rest[at..].find(close).map(|e| e + close.len()) else {
            out.push_str(rest);
            return out;
        };
        let block = &rest[at..at + len];
        out.push_str(&rest[..at]);
        match element_text(block, field).map(unescape) {
            Some(key) if ObjectPath::parse(&key).is_err() => bad.push(key),
            _ => out.push_str(block),
        }
        rest = &rest[at + len..];
    }
}

/// The text of the first `<field>` element in `block`, still escaped.
fn element_text<'a>(block: &'a str, field: &str) -> Option<&'a str> {
    let open = format!("<{field}>");
    let start = block.find(&open)? + open.len();
    let end = block[start..].find(&format!("</{field}>"))?;
    Some(&block[start..start + end])
}

/// XML character data with its entity and character references replaced.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';') else {
            out.push_str(&rest[amp..]);
            return out;
        };
        let entity = &after[..semi];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&rest[amp..=amp + 1 + semi]),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_lose_only_the_keys_the_client_cannot_take() {
        let xml = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name>\
            <Contents><Key>reg/crates/a/a-1.0.0.crate</Key><Size>1</Size></Contents>\
            <Contents><Key>reg/crates//x.crate</Key><Size>1</Size></Contents>\
            <Contents><Key>reg/crates/a/a-1.1.0%2Bb1.crate</Key><Size>1</Size></Contents>\
            <Contents><Key>reg/crates/../up.crate</Key><Size>1</Size></Contents>\
            <Contents><Key>reg/a&amp;b</Key><Size>1</Size></Contents>\
            <CommonPrefixes><Prefix>reg/x//</Prefix></CommonPrefixes>\
            <CommonPrefixes><Prefix>reg/ok/</Prefix></CommonPrefixes>\
            <IsTruncated>false</IsTruncated></ListBucketResult>";
        let mut bad = Vec::new();
        let kept = without_unreadable_keys(xml, &mut bad);
        assert_eq!(
            bad,
            ["reg/crates//x.crate", "reg/crates/../up.crate", "reg/x//"]
        );
        for k in [
            "reg/crates/a/a-1.0.0.crate",
            "a-1.1.0%2Bb1.crate",
            "reg/a&amp;b",
            "reg/ok/",
            "<IsTruncated>false",
        ] {
            assert!(kept.contains(k), "{k}: {kept}");
        }
        assert!(!kept.contains("up.crate") && !kept.contains("//"), "{kept}");
        // Nothing to take out: the answer as it was.
        let mut none = Vec::new();
        let plain = "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>";
        assert_eq!(without_unreadable_keys(plain, &mut none), plain);
        assert!(none.is_empty());
    }

    #[test]
    fn xml_text_is_unescaped() {
        assert_eq!(unescape("a&amp;b&#x1;&#47;&lt;"), "a&b\u{1}/<");
        assert_eq!(unescape("odd & text"), "odd & text");
    }
}
