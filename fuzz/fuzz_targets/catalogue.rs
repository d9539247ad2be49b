//! Fuzz target: crate metadata and a README, as any `.crate` (or an upstream
//! index line, for a mirror) can hold them, into the catalogue
//! (`regtool::catalogue::sample`: the crate's page, `index.html`, the search
//! data and the feed, as `regtool add` writes them).
//!
//! The input is split at NUL bytes into text fields (lossy UTF-8, so any
//! Unicode scalar can come through): description, README, license,
//! repository, homepage, documentation, keywords (`,`-separated), a feature,
//! a dependency's name, its requirement, its target, its `package`, `links`,
//! `rust-version`, the README's path. Checks that can fail, beyond "no
//! panic": the crate page parses without a single HTML parse error
//! (html5ever's own parser, tree construction included: it accepts any
//! input, so parsing alone proves nothing) and holds no `script` element,
//! event handler attribute or `javascript:` URL (the crate page has no
//! script of regtool's); the feed holds only XML 1.0 characters and is
//! well-formed; the search data's JSON parses and holds the row; when the
//! README's HTML goes through the sanitizer's fast path, it is byte for byte
//! what ammonia makes of it.
#![no_main]

#[path = "../../tests/it/common/markup.rs"]
mod markup;

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let mut fields = data
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let mut next = || fields.next().unwrap_or_default();
    let (description, readme, license, repository, homepage, documentation) =
        (next(), next(), next(), next(), next(), next());
    let keywords: Vec<String> = next().split(',').map(str::to_string).collect();
    let (feature, dep, req, target, package, links, rust_version, readme_path) = (
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
    );
    if let Some((fast, ammonia)) = regtool::catalogue::readme_sanitized_both_ways(&readme) {
        assert_eq!(fast, ammonia, "the README's fast path and ammonia differ for {readme:?}");
    }
    let mut dependency = json!({
        "name": dep, "req": req, "features": [feature], "optional": !target.is_empty(),
        "default_features": true, "target": (!target.is_empty()).then_some(&target),
        "kind": "normal",
    });
    if !package.is_empty() {
        dependency["package"] = json!(package);
    }
    let line = json!({
        "name": "fuzzed", "vers": "1.0.0-fuzz", "deps": [dependency], "cksum": "0".repeat(64),
        "features": { feature.clone(): [format!("{dep}/{feature}")] }, "yanked": false,
        "links": (!links.is_empty()).then_some(&links),
        "rust_version": (!rust_version.is_empty()).then_some(&rust_version),
        "pubtime": "2026-01-01T00:00:00Z",
    });
    let meta = json!({
        "description": description, "license": license, "repository": repository,
        "homepage": homepage, "documentation": documentation, "keywords": keywords,
        "readme": readme,
        "readme_path": if readme_path.is_empty() { "README.md".to_string() } else { readme_path },
    });
    let index_file = format!("{line}\n");
    let meta = serde_json::to_vec(&meta).expect("JSON");
    let sample = regtool::catalogue::sample(index_file.as_bytes(), &meta, "https://crates.example.com")
        .expect("a valid index line and metadata give a sample");

    let page = markup::check_html(&sample.page);
    assert!(page.errors.is_empty(), "HTML parse errors {:?} in\n{}", page.errors, sample.page);
    assert_eq!(page.scripts, 0, "a script in\n{}", sample.page);
    assert!(page.handlers.is_empty(), "handlers {:?} in\n{}", page.handlers, sample.page);
    assert!(
        page.script_urls.is_empty(),
        "script URLs {:?} in\n{}",
        page.script_urls,
        sample.page
    );
    let index = markup::check_html(&sample.index);
    assert!(index.errors.is_empty(), "{:?}", index.errors);

    if let Some((at, c)) = markup::first_non_xml_char(&sample.feed) {
        panic!("{c:?} at {at} is not an XML 1.0 character in\n{}", sample.feed);
    }
    let mut reader = quick_xml::Reader::from_str(&sample.feed);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("feed not well-formed: {e}\n{}", sample.feed),
        }
    }

    let json = sample
        .search
        .strip_prefix("window.REGTOOL_CATALOGUE = ")
        .and_then(|s| s.strip_suffix(";\n"))
        .expect("the search data is a script assigning JSON");
    let v: serde_json::Value = serde_json::from_str(json).expect("the search data's JSON parses");
    assert_eq!(v["crates"][0][0], "fuzzed");
});
