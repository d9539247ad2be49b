//! Fuzz target: arbitrary bytes as upstream's index file of the crate
//! `fuzz-me`, read by `regtool mirror`'s parser
//! (`regtool::upstream::scan_index_file`), which keeps the lines of the
//! versions in [`KEEP`].
//!
//! Nothing may panic, and every line it takes must hold what `mirror` relies
//! on, checked here on the raw JSON, not with regtool's own code: it is one of
//! the input's lines byte for byte; its `name` is the crate's (up to case and
//! `-`/`_`) and a crate name; its `vers` is one of the versions asked for,
//! written as semver writes it; its `cksum` is 64 lowercase hex digits; no
//! dependency names another registry than crates.io; no version is taken
//! twice. Memory is bounded by `fuzz/run.sh`'s `-malloc_limit_mb`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

/// The versions asked for (each as semver writes it).
const KEEP: &[&str] = &["1.0.0", "0.1.0-alpha.1+build.5", "2.3.4"];

/// crates.io's index, as a dependency's `registry` may name it.
const CRATES_IO: &[&str] = &[
    "https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

fuzz_target!(|data: &[u8]| {
    let Ok(taken) = regtool::upstream::scan_index_file(data, "fuzz-me", KEEP) else {
        return;
    };
    let lines: HashSet<&[u8]> = data.split(|b| *b == b'\n').collect();
    let mut versions = HashSet::new();
    for raw in &taken {
        assert!(lines.contains(raw.as_bytes()), "not an input line: {raw:?}");
        let line: serde_json::Value = serde_json::from_str(raw).expect("a taken line is JSON");
        let name = line["name"].as_str().expect("a string `name`");
        assert_eq!(
            name.to_ascii_lowercase().replace('-', "_"),
            "fuzz_me",
            "{raw}"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{raw}"
        );
        let vers = line["vers"].as_str().expect("a string `vers`");
        assert!(KEEP.contains(&vers), "not asked for: {raw}");
        assert!(versions.insert(vers.to_string()), "taken twice: {vers}");
        let cksum = line["cksum"].as_str().expect("a string `cksum`");
        assert!(
            cksum.len() == 64
                && cksum
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{raw}"
        );
        for dep in line["deps"].as_array().expect("`deps`") {
            match &dep["registry"] {
                serde_json::Value::Null => {}
                serde_json::Value::String(r) => {
                    assert!(
                        CRATES_IO
                            .iter()
                            .any(|c| c.trim_end_matches('/') == r.trim_end_matches('/')),
                        "{raw}"
                    )
                }
                other => panic!("a `registry` that is {other}: {raw}"),
            }
        }
    }
});
