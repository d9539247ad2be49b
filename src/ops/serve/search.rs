//! What `cargo search` finds (`GET /api/v1/crates?q=&per_page=`): every
//! crate with its latest version and description. Part of [`super`]
//! (floor 5).
//!
//! With the catalogue on, from its search data (`catalogue/search-index.js`,
//! one row `[name, latest, description]` per crate, as
//! `crate::catalogue::render::search_row` writes it): one read per search,
//! however many crates the registry holds, and the descriptions of the
//! crates' manifests. With the catalogue off, or while the catalogue has
//! work pending (its data may lag behind the index), from the index
//! ([`crate::ops::list::list`]: every index file read), without
//! descriptions. Source: <https://doc.rust-lang.org/cargo/reference/registry-web-api.html#search>.

use crate::error::Result;
use crate::registry::Registry;

/// The key of the catalogue's search data.
const SEARCH_KEY: &str = "catalogue/search-index.js";
/// What the search data starts with, up to its first row.
const PREFIX: &str = "window.REGTOOL_CATALOGUE = {\"crates\":[\n";
/// What the search data ends with, after its last row.
const SUFFIX: &str = "\n]};\n";

/// One crate as search shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The name as published.
    pub(crate) name: String,
    /// The latest version (as `regtool list` says).
    pub(crate) max_version: String,
    /// The manifest's description; empty when there is none or the
    /// catalogue is off.
    pub(crate) description: String,
}

/// Every crate of `reg` by name, from the catalogue's search data when it is
/// on and up to date, else from the index.
///
/// # Errors
/// The storage's errors ([`crate::Error::Io`]) and those of
/// [`crate::ops::list::list`].
pub(crate) fn crates(reg: &Registry) -> Result<Vec<Hit>> {
    if reg.settings.html
        && reg.stat(crate::catalogue::PENDING_KEY)?.is_none()
        && let Some(object) = reg.get_object(SEARCH_KEY)?
        && let Some(hits) = String::from_utf8(object.bytes).ok().and_then(|t| parse(&t))
    {
        return Ok(hits);
    }
    Ok(crate::ops::list::list(reg)?
        .0
        .into_iter()
        .map(|c| Hit {
            name: c.name,
            max_version: c.latest,
            description: String::new(),
        })
        .collect())
}

/// The rows of the search data `text`; `None` when it is not in its shape.
fn parse(text: &str) -> Option<Vec<Hit>> {
    let body = text.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if body.is_empty() {
        return Some(Vec::new());
    }
    body.split('\n')
        .map(|row| {
            let row = row.strip_suffix(',').unwrap_or(row);
            let [name, max_version, description]: [String; 3] = serde_json::from_str(row).ok()?;
            Some(Hit {
                name,
                max_version,
                description,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "html")]
    #[test]
    fn the_catalogues_search_data_parses() {
        use crate::catalogue::render::{SEARCH_PREFIX, SEARCH_SUFFIX, search_index, search_row};
        assert_eq!((PREFIX, SUFFIX), (SEARCH_PREFIX, SEARCH_SUFFIX));
        let rows = [
            search_row("a-b", "1.0.0", Some("says \"hi\",\nthen ’more’")),
            search_row("c", "0.1.0-rc.1", None),
        ];
        let hits = parse(&search_index(rows.iter().map(String::as_str))).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].name, "a-b");
        assert!(hits[0].description.starts_with("says \"hi\""), "{hits:?}");
        assert_eq!(
            (hits[1].max_version.as_str(), hits[1].description.as_str()),
            ("0.1.0-rc.1", "")
        );
        assert_eq!(parse(&search_index([])), Some(Vec::new()));
    }

    #[test]
    fn other_shapes_are_none() {
        assert_eq!(parse(""), None);
        assert_eq!(parse(&format!("{PREFIX}[\"a\"]{SUFFIX}")), None);
    }
}
