//! Fuzz target: arbitrary bytes as a packaged `Cargo.toml`, turned into an
//! index entry with `regtool::manifest::to_index_package`, as `regtool add`
//! does for every `.crate`. Any panic is a bug: a bad manifest must come back as
//! a `CrateProblem`. An accepted entry must also serialize to one JSON line
//! that reads back as the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regtool::config::Settings;
use regtool::index::IndexPackage;
use regtool::manifest::{DepContext, to_index_package};
use std::sync::OnceLock;

fn settings(mirror: bool) -> &'static Settings {
    static PLAIN: OnceLock<Settings> = OnceLock::new();
    static MIRROR: OnceLock<Settings> = OnceLock::new();
    let make = || Settings {
        aliases: vec!["https://mirror.example.com/index".into()],
        mirror,
        html: false,
        ..Settings::new("https://crates.example.com".into())
    };
    if mirror {
        MIRROR.get_or_init(make)
    } else {
        PLAIN.get_or_init(make)
    }
}

fuzz_target!(|data: &[u8]| {
    for mirror in [false, true] {
        let ctx = DepContext {
            settings: settings(mirror),
        };
        let Ok(entry) = to_index_package(data, &ctx) else {
            continue;
        };
        let line = entry.to_line();
        assert!(!line.contains('\n'), "an index line holds no newline");
        let back: IndexPackage = serde_json::from_str(&line).expect("own line reads back");
        assert_eq!(
            back, entry,
            "an index line must read back as the same entry"
        );
    }
});
