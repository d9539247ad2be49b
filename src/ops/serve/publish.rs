//! The body of `PUT /api/v1/crates/new`: cargo's frame and its metadata,
//! checked against the `.crate` it carries. Part of [`super`] (floor 5).
//!
//! The frame (<https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish>):
//! a 32-bit little-endian length, that many bytes of JSON (the publish
//! metadata), another 32-bit little-endian length, that many bytes of
//! `.crate`, and nothing after. The JSON is only cross-checked: the index
//! line is derived from the `.crate` by `add`'s own path.

use crate::index::IndexPackage;
use serde::Deserialize;

/// Largest JSON part accepted (bytes): cargo's metadata is a few KiB; a
/// README is not in it (only its file name).
pub(crate) const MAX_JSON: usize = 1024 * 1024;

/// A body that is not cargo's frame, or metadata that disagrees with the
/// `.crate`: the text of the 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BadPublish(pub(crate) String);

/// The two parts of a publish body: `(JSON, .crate)`.
///
/// # Errors
/// [`BadPublish`] for a body shorter than a length it announces, a JSON part
/// over [`MAX_JSON`], or bytes after the `.crate`.
pub(crate) fn split(body: &[u8]) -> Result<(&[u8], &[u8]), BadPublish> {
    let (json, rest) = part(body, "metadata JSON", MAX_JSON)?;
    let (krate, rest) = part(rest, ".crate", usize::MAX)?;
    if !rest.is_empty() {
        return Err(BadPublish(format!(
            "the publish body has {} bytes after the .crate its length prefix announces",
            rest.len()
        )));
    }
    Ok((json, krate))
}

/// One length-prefixed part of `bytes` and what follows it.
fn part<'a>(bytes: &'a [u8], what: &str, max: usize) -> Result<(&'a [u8], &'a [u8]), BadPublish> {
    let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(BadPublish(format!(
            "the publish body ends before the length of the {what} (4 bytes, little-endian)"
        )));
    };
    let len = u32::from_le_bytes(*len) as usize;
    if len > max {
        return Err(BadPublish(format!(
            "the {what} is {len} bytes, over the limit of {max} bytes"
        )));
    }
    if len > rest.len() {
        return Err(BadPublish(format!(
            "the length prefix announces a {what} of {len} bytes but only {} follow",
            rest.len()
        )));
    }
    Ok(rest.split_at(len))
}

/// The fields of cargo's publish metadata that are checked against the
/// `.crate` (the others are ignored, as the reference asks of unknown fields).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct NewCrate {
    /// The package name.
    pub(crate) name: String,
    /// The version.
    pub(crate) vers: String,
    /// The dependencies.
    #[serde(default)]
    pub(crate) deps: Vec<NewCrateDep>,
}

/// One dependency of [`NewCrate`].
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct NewCrateDep {
    /// The dependency's package name.
    pub(crate) name: String,
    /// The name the manifest gives it, when renamed (`package = ...`).
    #[serde(default)]
    pub(crate) explicit_name_in_toml: Option<String>,
}

/// Parses the JSON part.
///
/// # Errors
/// [`BadPublish`] with serde's message.
pub(crate) fn metadata(json: &[u8]) -> Result<NewCrate, BadPublish> {
    serde_json::from_slice(json)
        .map_err(|e| BadPublish(format!("the publish metadata is not valid JSON: {e}")))
}

/// Checks the metadata against the index line the `.crate` gives: the name
/// (same spelling), the version, and the dependencies' names (as the index
/// names them: the manifest's name for a renamed one).
///
/// # Errors
/// [`BadPublish`] naming the first field that differs and both values.
pub(crate) fn cross_check(meta: &NewCrate, line: &IndexPackage) -> Result<(), BadPublish> {
    let differs = |field: &str, json: &str, krate: &str| {
        BadPublish(format!(
            "the publish metadata's `{field}` is `{json}` but the .crate's Cargo.toml says `{krate}`"
        ))
    };
    if meta.name != line.name {
        return Err(differs("name", &meta.name, &line.name));
    }
    if meta.vers != line.vers {
        return Err(differs("vers", &meta.vers, &line.vers));
    }
    let mut json: Vec<&str> = meta
        .deps
        .iter()
        .map(|d| d.explicit_name_in_toml.as_deref().unwrap_or(&d.name))
        .collect();
    let mut krate: Vec<&str> = line.deps.iter().map(|d| d.name.as_str()).collect();
    json.sort_unstable();
    krate.sort_unstable();
    if json != krate {
        return Err(differs("deps", &json.join(", "), &krate.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
        let mut v = (json.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(json);
        v.extend_from_slice(&(krate.len() as u32).to_le_bytes());
        v.extend_from_slice(krate);
        v
    }

    #[test]
    fn a_well_formed_body_splits() {
        let body = frame(b"{}", b"gz");
        assert_eq!(split(&body), Ok((&b"{}"[..], &b"gz"[..])));
        assert_eq!(split(&frame(b"", b"")), Ok((&b""[..], &b""[..])));
    }

    #[test]
    fn truncated_lying_and_trailing_bodies_are_refused() {
        let body = frame(b"{\"a\":1}", b"crate bytes");
        for cut in 0..body.len() {
            let e = split(&body[..cut]).expect_err("a truncated body");
            assert!(
                e.0.contains("ends before") || e.0.contains("only"),
                "{cut}: {e}"
            );
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(split(&longer).unwrap_err().0.contains("1 bytes after"));
        let mut lying = body.clone();
        lying[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(split(&lying).unwrap_err().0.contains("over the limit"));
    }

    fn line(name: &str, vers: &str, deps: &[&str]) -> IndexPackage {
        let deps: Vec<serde_json::Value> = deps
            .iter()
            .map(|d| {
                serde_json::json!({"name": d, "req": "^1", "features": [], "optional": false,
                    "default_features": true, "target": null, "kind": "normal"})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": name, "vers": vers, "deps": deps, "cksum": "0".repeat(64),
            "features": {}, "yanked": false
        }))
        .unwrap()
    }

    #[test]
    fn metadata_is_cross_checked_field_by_field() {
        let meta = metadata(
            br#"{"name":"foo","vers":"1.0.0","deps":[{"name":"bar","version_req":"^1"},
                {"name":"baz","explicit_name_in_toml":"qux"}],"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(
            cross_check(&meta, &line("foo", "1.0.0", &["qux", "bar"])),
            Ok(())
        );
        let e = cross_check(&meta, &line("Foo", "1.0.0", &["bar", "qux"])).unwrap_err();
        assert!(
            e.0.contains("`name` is `foo`") && e.0.contains("`Foo`"),
            "{e}"
        );
        let e = cross_check(&meta, &line("foo", "1.0.1", &["bar", "qux"])).unwrap_err();
        assert!(e.0.contains("`vers`"), "{e}");
        let e = cross_check(&meta, &line("foo", "1.0.0", &["bar"])).unwrap_err();
        assert!(e.0.contains("`deps`"), "{e}");
        assert!(metadata(b"{").unwrap_err().0.contains("not valid JSON"));
    }
}
