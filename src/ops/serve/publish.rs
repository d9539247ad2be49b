//! The body of `PUT /api/v1/crates/new`: cargo's frame and its metadata,
//! checked against the `.crate` it carries. Part of [`super`] (floor 5).
//!
//! The frame (<https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish>):
//! a 32-bit little-endian length, that many bytes of JSON (the publish
//! metadata), another 32-bit little-endian length, that many bytes of
//! `.crate`, and nothing after; [`Framer`] reads it as it arrives. The JSON
//! is only cross-checked: the index line is derived from the `.crate` by
//! `add`'s own path.

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

/// Reads a publish body as it arrives, chunk by chunk: keeps the length
/// prefixes and the JSON (at most [`MAX_JSON`] bytes), and hands the
/// `.crate`'s bytes to a writer as they come, so that a publish never holds
/// its `.crate` in memory.
#[derive(Debug)]
pub(crate) struct Framer {
    /// The bytes before the `.crate`: two prefixes and the JSON.
    head: Vec<u8>,
    /// The JSON's length, once its prefix is in.
    json_len: Option<usize>,
    /// The `.crate`'s length, once its prefix is in.
    crate_len: Option<u64>,
    /// `.crate` bytes passed on so far.
    written: u64,
    /// Largest `.crate` accepted (bytes).
    max_crate: u64,
}

impl Framer {
    /// A framer for `.crate` files of at most `max_crate` bytes.
    pub(crate) fn new(max_crate: u64) -> Framer {
        Framer {
            head: Vec::new(),
            json_len: None,
            crate_len: None,
            written: 0,
            max_crate,
        }
    }

    /// Takes the next `chunk` of the body; the `.crate`'s bytes go to `out`.
    ///
    /// # Errors
    /// [`FrameError::Bad`] for a JSON part over [`MAX_JSON`] or bytes after
    /// the `.crate`; [`FrameError::Oversize`] for a `.crate` announced over
    /// `max_crate` (before any of it is read); [`FrameError::Write`] for the
    /// writer's error.
    pub(crate) fn push(
        &mut self,
        mut chunk: &[u8],
        out: &mut dyn std::io::Write,
    ) -> Result<(), FrameError> {
        while !chunk.is_empty() {
            if let Some(len) = self.crate_len {
                let left = len - self.written;
                if chunk.len() as u64 > left {
                    return Err(FrameError::Bad(BadPublish(format!(
                        "the publish body has bytes after the .crate its length prefix announces ({len} bytes)"
                    ))));
                }
                out.write_all(chunk).map_err(FrameError::Write)?;
                self.written += chunk.len() as u64;
                return Ok(());
            }
            let need = match self.json_len {
                None => 4,
                Some(j) => 4 + j + 4,
            };
            let take = (need - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.head.len() < need {
                continue;
            }
            let len =
                |at: usize| u32::from_le_bytes(self.head[at..at + 4].try_into().expect("4 bytes"));
            match self.json_len {
                None => {
                    let j = len(0) as usize;
                    if j > MAX_JSON {
                        return Err(FrameError::Bad(BadPublish(format!(
                            "the metadata JSON is {j} bytes, over the limit of {MAX_JSON} bytes"
                        ))));
                    }
                    self.json_len = Some(j);
                }
                Some(j) => {
                    let c = u64::from(len(4 + j));
                    if c > self.max_crate {
                        return Err(FrameError::Oversize(format!(
                            "the .crate is {c} bytes, over this registry's limit of {} bytes (max-crate-size)",
                            self.max_crate
                        )));
                    }
                    self.crate_len = Some(c);
                }
            }
        }
        Ok(())
    }

    /// The JSON part and the `.crate`'s length, once the body has ended.
    ///
    /// # Errors
    /// [`BadPublish`] for a body that ended before a length or a part it
    /// announced.
    pub(crate) fn finish(self) -> Result<(Vec<u8>, u64), BadPublish> {
        let Some(j) = self.json_len else {
            return Err(BadPublish(
                "the publish body ends before the length of the metadata JSON (4 bytes, little-endian)".into(),
            ));
        };
        let Some(c) = self.crate_len else {
            let got = self.head.len().saturating_sub(4);
            return Err(BadPublish(if got < j {
                format!(
                    "the length prefix announces a metadata JSON of {j} bytes but only {got} follow"
                )
            } else {
                "the publish body ends before the length of the .crate (4 bytes, little-endian)"
                    .into()
            }));
        };
        if self.written < c {
            return Err(BadPublish(format!(
                "the length prefix announces a .crate of {c} bytes but only {} follow",
                self.written
            )));
        }
        let mut head = self.head;
        head.truncate(4 + j);
        Ok((head.split_off(4), c))
    }
}

/// Why a body was refused while it arrived.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// Not cargo's frame (400).
    Bad(BadPublish),
    /// A `.crate` over the registry's limit (413).
    Oversize(String),
    /// The staging file could not be written.
    Write(std::io::Error),
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

    /// `body` through a framer in chunks of `size`: the JSON, the .crate.
    fn run(body: &[u8], size: usize, max: u64) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        for c in body.chunks(size) {
            f.push(c, &mut out).map_err(|e| match e {
                FrameError::Bad(b) => b.0,
                FrameError::Oversize(m) => format!("oversize: {m}"),
                FrameError::Write(e) => e.to_string(),
            })?;
        }
        let (json, len) = f.finish().map_err(|e| e.0)?;
        assert_eq!(len, out.len() as u64);
        Ok((json, out))
    }

    #[test]
    fn a_well_formed_body_frames_in_chunks_of_any_size() {
        let body = frame(b"{\"a\":1}", b"crate bytes");
        for size in 1..=body.len() {
            assert_eq!(
                run(&body, size, 100),
                Ok((b"{\"a\":1}".to_vec(), b"crate bytes".to_vec())),
                "{size}"
            );
        }
        assert_eq!(run(&frame(b"", b""), 3, 0), Ok((Vec::new(), Vec::new())));
    }

    #[test]
    fn truncated_lying_trailing_and_oversize_bodies_are_refused() {
        let body = frame(b"{\"a\":1}", b"crate bytes");
        for cut in 0..body.len() {
            for size in [1, 5, 64] {
                let e = run(&body[..cut], size, 100).expect_err("a truncated body");
                assert!(
                    e.contains("ends before") || e.contains("only"),
                    "{cut}/{size}: {e}"
                );
            }
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(run(&longer, 7, 100).unwrap_err().contains("bytes after"));
        let mut lying = body.clone();
        lying[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(run(&lying, 7, 100).unwrap_err().contains("over the limit"));
        let e = run(&body, 7, 10).unwrap_err();
        assert!(e.starts_with("oversize: the .crate is 11 bytes"), "{e}");
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
