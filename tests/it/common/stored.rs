//! A registry as stored, read without regtool: the objects of a folder or
//! of a bucket prefix ([`RawStore`]), and the registry they make
//! ([`Stored`]: index files, `.crate` files, catalogue) with the checks of
//! issue 17's invariants that a state alone can fail (every line has its
//! `.crate`, one spelling per crate, the catalogue describes the index).

use super::*;

/// Where a registry's objects are, read and written directly (no regtool,
/// no S3 client library: a folder's files, or plain HTTP to the S3 server).
#[derive(Clone, Debug)]
pub enum RawStore {
    /// A registry folder.
    Folder(PathBuf),
    /// A prefix (without `/` at either end) of a bucket on the S3 server at
    /// 127.0.0.1:`port`.
    Bucket {
        /// The server's port.
        port: u16,
        /// The bucket.
        bucket: String,
        /// The registry's prefix in it.
        prefix: String,
    },
}

/// `s` percent-encoded for a URL path: every byte but the unreserved ones
/// and `/`; a segment `.` or `..` as `%2E` or `%2E%2E`, so that no one on
/// the way resolves it.
pub fn encode_path(s: &str) -> String {
    let segments: Vec<String> = s
        .split('/')
        .map(|seg| {
            if seg == "." || seg == ".." {
                return "%2E".repeat(seg.len());
            }
            let mut out = String::with_capacity(seg.len());
            for b in seg.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        })
        .collect();
    segments.join("/")
}

/// The header that makes moto take a request as the tests' user's (moto
/// does not check the signature; without it a write is anonymous, and the
/// test buckets let anonymous users read only).
const AS_THE_USER: (&str, &str) = (
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/s3/aws4_request, \
     SignedHeaders=host, Signature=0",
);

impl RawStore {
    /// The registry under `prefix` in `bucket`.
    pub fn bucket(bucket: &Bucket, prefix: &str) -> RawStore {
        RawStore::Bucket {
            port: bucket.moto.port,
            bucket: bucket.name.clone(),
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    fn object_path(&self, key: &str) -> String {
        match self {
            RawStore::Folder(_) => unreachable!("a folder has no URL"),
            RawStore::Bucket { bucket, prefix, .. } => {
                format!("/{bucket}/{}", encode_path(&format!("{prefix}/{key}")))
            }
        }
    }

    /// Every object's key (relative to the registry, `.regtool/` too; in a
    /// folder, links followed), sorted.
    pub fn keys(&self) -> Vec<String> {
        match self {
            RawStore::Folder(root) => {
                let mut out = Vec::new();
                for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(true) {
                    let e = e.expect("walk the registry");
                    if e.file_type().is_file() {
                        let rel = e.path().strip_prefix(root).expect("under root");
                        out.push(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
                out.sort();
                out
            }
            RawStore::Bucket { .. } => self.listing().into_keys().collect(),
        }
    }

    /// A bucket's objects with their `ETag`s, by key (one listing, no reads).
    fn listing(&self) -> BTreeMap<String, String> {
        let RawStore::Bucket {
            port,
            bucket,
            prefix,
        } = self
        else {
            unreachable!("a folder has no listing");
        };
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!(
                "/{bucket}?list-type=2&prefix={}",
                encode_path(&format!("{prefix}/")).replace('/', "%2F")
            );
            if let Some(t) = &token {
                path.push_str(&format!("&continuation-token={}", encode_path(t)));
            }
            let r = http_request(*port, "GET", &path, &[AS_THE_USER], b"");
            assert_eq!(r.status, 200, "list {path}");
            let (objects, next) = parse_listing(&r.body);
            out.extend(objects.into_iter().filter_map(|(k, etag)| {
                k.strip_prefix(&format!("{prefix}/"))
                    .map(|k| (k.to_owned(), etag))
            }));
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out
    }

    /// The object at `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self {
            RawStore::Folder(root) => fs::read(root.join(key)).ok(),
            RawStore::Bucket { port, .. } => {
                let r = http_request(*port, "GET", &self.object_path(key), &[AS_THE_USER], b"");
                match r.status {
                    200 => Some(r.body),
                    404 => None,
                    s => panic!("GET {key}: {s} {}", String::from_utf8_lossy(&r.body)),
                }
            }
        }
    }

    /// Puts `bytes` at `key` (as a hand copy would: no metadata).
    pub fn put(&self, key: &str, bytes: &[u8]) {
        match self {
            RawStore::Folder(root) => {
                let p = root.join(key);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, bytes).unwrap();
            }
            RawStore::Bucket { port, .. } => {
                let r = http_request(*port, "PUT", &self.object_path(key), &[AS_THE_USER], bytes);
                assert_eq!(r.status, 200, "PUT {key}");
            }
        }
    }

    /// Deletes the object at `key` (there may be none).
    pub fn delete(&self, key: &str) {
        match self {
            RawStore::Folder(root) => match fs::remove_file(root.join(key)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => panic!("delete {key}: {e}"),
            },
            RawStore::Bucket { port, .. } => {
                let r = http_request(*port, "DELETE", &self.object_path(key), &[AS_THE_USER], b"");
                assert!(r.status < 300, "DELETE {key}: {}", r.status);
            }
        }
    }

    /// Every key that is neither regtool's own (`.regtool/`, `crates/`,
    /// `config.json`, the catalogue) nor a dot file: the index files and
    /// whatever foreign objects sit among them, as [`index_files`] finds in
    /// a folder.
    pub fn index_files(&self) -> Vec<String> {
        self.keys()
            .into_iter()
            .filter(|k| {
                let top = k.split('/').next().unwrap_or_default();
                let file = k.rsplit('/').next().unwrap_or_default();
                !(top == ".regtool"
                    || top == "crates"
                    || top == "catalogue"
                    || k == "config.json"
                    || file.starts_with('.')
                    || ((k == "index.html" || k == "feed.atom") && self.is_catalogue_file(k)))
            })
            .collect()
    }

    /// Whether the object at `key` carries regtool's catalogue mark.
    fn is_catalogue_file(&self, key: &str) -> bool {
        self.get(key).is_some_and(|b| {
            let t = String::from_utf8_lossy(&b);
            t.contains(regtool::catalogue::HTML_MARK) || t.contains(regtool::catalogue::FEED_MARK)
        })
    }

    /// The objects as a [`Tree`] without the catalogue (as [`tree`] leaves
    /// it out of a folder's). A bucket's objects map to their `ETag`s (equal
    /// exactly when the bytes are: one listing, no reads), and its lease
    /// object is left out, since every writer rewrites it (as any command
    /// may create a folder's `.regtool/lock`).
    pub fn tree(&self) -> Tree {
        match self {
            RawStore::Folder(root) => tree(root),
            RawStore::Bucket { .. } => self
                .listing()
                .into_iter()
                .filter(|(k, _)| {
                    !(k.starts_with("catalogue/")
                        || k.starts_with(".regtool/meta/")
                        || k.starts_with(".regtool/catalogue")
                        || k == ".regtool/lease"
                        || ((k == "index.html" || k == "feed.atom") && self.is_catalogue_file(k)))
                })
                .map(|(k, etag)| (k, Some(etag.into_bytes())))
                .collect(),
        }
    }

    /// The lines of `name`'s index file, parsed (panics if it is missing).
    pub fn index_lines(&self, name: &str) -> Vec<Value> {
        let key = index_path(name);
        let bytes = self
            .get(&key)
            .unwrap_or_else(|| panic!("no index file {key}"));
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("bad index line in {key}: {e}\n{l}"))
            })
            .collect()
    }

    /// Every file under `crates/` with its bytes, by key.
    pub fn crate_files(&self) -> BTreeMap<String, Vec<u8>> {
        self.keys()
            .into_iter()
            .filter(|k| k.starts_with("crates/"))
            .filter_map(|k| {
                let bytes = self.get(&k)?;
                Some((k, bytes))
            })
            .collect()
    }

    /// The registry these objects make.
    pub fn read(&self) -> Stored {
        let keys = self.keys();
        let mut index = BTreeMap::new();
        let mut crates = BTreeMap::new();
        for key in &keys {
            if key.starts_with("crates/") {
                if key.ends_with(".crate")
                    && let Some(bytes) = self.get(key)
                {
                    crates.insert(key.clone(), sha256_hex(&bytes));
                }
            } else if is_index_key(key)
                && let Some(bytes) = self.get(key)
            {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let lines = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| {
                        let v: Value = serde_json::from_str(l)
                            .unwrap_or_else(|e| panic!("{key}: not an index line ({e}): {l}"));
                        StoredLine {
                            name: v["name"].as_str().unwrap_or_default().to_owned(),
                            vers: v["vers"].as_str().unwrap_or_default().to_owned(),
                            cksum: v["cksum"].as_str().unwrap_or_default().to_owned(),
                            yanked: v["yanked"].as_bool().unwrap_or_default(),
                        }
                    })
                    .collect();
                index.insert(key.clone(), lines);
            }
        }
        Stored {
            keys,
            index,
            crates,
        }
    }
}

/// The keys of a `ListObjectsV2` answer with their `ETag`s, and its
/// continuation token when it is truncated (a plain scan: the answer's
/// shape is fixed).
fn parse_listing(xml: &[u8]) -> (Vec<(String, String)>, Option<String>) {
    let text = String::from_utf8_lossy(xml);
    let element = |within: &str, tag: &str| -> Vec<String> {
        within
            .split(&format!("<{tag}>"))
            .skip(1)
            .filter_map(|rest| {
                rest.split_once(&format!("</{tag}>"))
                    .map(|(v, _)| unescape_xml(v))
            })
            .collect()
    };
    let objects = text
        .split("<Contents>")
        .skip(1)
        .filter_map(|c| {
            let c = c.split("</Contents>").next().unwrap_or_default();
            let key = element(c, "Key").into_iter().next()?;
            Some((
                key,
                element(c, "ETag").into_iter().next().unwrap_or_default(),
            ))
        })
        .collect();
    let truncated = element(&text, "IsTruncated")
        .first()
        .is_some_and(|t| t == "true");
    let next = element(&text, "NextContinuationToken").into_iter().next();
    (objects, if truncated { next } else { None })
}

/// XML text with its five entities and character references replaced.
fn unescape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').expect("an XML entity ends with ;");
        let entity = &after[..end];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .unwrap_or_else(|| panic!("XML entity &{entity};")),
        };
        out.push(ch);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether `key` is where the index file of its last component lives
/// (`3/f/foo`, `fo/o-/foo-bar`), outside regtool's other folders.
pub fn is_index_key(key: &str) -> bool {
    let file = key.rsplit('/').next().unwrap_or_default();
    !file.is_empty()
        && !key.starts_with("crates/")
        && !key.starts_with("catalogue/")
        && !key.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && index_path(file) == key
}

/// What cargo takes as the same name: lowercase, `-` as `_`.
pub fn canonical_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// One index line as stored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredLine {
    /// The name as published.
    pub name: String,
    /// The version.
    pub vers: String,
    /// The `.crate`'s SHA-256.
    pub cksum: String,
    /// Whether it is yanked.
    pub yanked: bool,
}

/// A registry as stored (see [`RawStore::read`]).
#[derive(Clone, Debug)]
pub struct Stored {
    /// Every key.
    pub keys: Vec<String>,
    /// Every index file, by key, with its lines.
    pub index: BTreeMap<String, Vec<StoredLine>>,
    /// Every `.crate` under `crates/`, by key, with its SHA-256.
    pub crates: BTreeMap<String, String>,
}

impl Stored {
    /// Every line, of every index file.
    pub fn lines(&self) -> impl Iterator<Item = &StoredLine> {
        self.index.values().flatten()
    }

    /// The lines of the crate `name` (any spelling), from whichever index
    /// file holds them.
    pub fn lines_of(&self, name: &str) -> Vec<&StoredLine> {
        let canon = canonical_name(name);
        self.lines()
            .filter(|l| canonical_name(&l.name) == canon)
            .collect()
    }

    /// The line of `name` (any spelling) `vers`, if there is one.
    pub fn line(&self, name: &str, vers: &str) -> Option<&StoredLine> {
        self.lines_of(name).into_iter().find(|l| l.vers == vers)
    }

    /// Invariant 2: the lines whose `.crate` is missing or holds other bytes.
    pub fn lines_without_crates(&self) -> Vec<String> {
        self.lines()
            .filter_map(|l| {
                let key = format!("crates/{0}/{0}-{1}.crate", l.name, l.vers);
                match self.crates.get(&key) {
                    Some(sum) if *sum == l.cksum => None,
                    Some(_) => Some(format!("{} {}: {key} holds other bytes", l.name, l.vers)),
                    None => Some(format!("{} {}: {key} is missing", l.name, l.vers)),
                }
            })
            .collect()
    }

    /// Invariant 3: crates stored under two spellings (index files, or
    /// `crates/` folders holding a `.crate`), and index files whose lines
    /// do not all have one name.
    pub fn spelling_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut spellings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (key, lines) in &self.index {
            let names: BTreeSet<&str> = lines.iter().map(|l| l.name.as_str()).collect();
            if names.len() > 1 {
                out.push(format!("{key} holds lines of {names:?}"));
            }
            for n in names {
                spellings
                    .entry(canonical_name(n))
                    .or_default()
                    .insert(format!("index file {key} ({n})"));
            }
        }
        let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for key in self.crates.keys() {
            let folder = key.split('/').nth(1).unwrap_or_default();
            folders
                .entry(canonical_name(folder))
                .or_default()
                .insert(folder.to_owned());
        }
        for (canon, set) in &spellings {
            if set.len() > 1 {
                out.push(format!("{canon} has {} index files: {set:?}", set.len()));
            }
        }
        for (canon, set) in &folders {
            if set.len() > 1 {
                out.push(format!(
                    "{canon} has {} crates/ folders: {set:?}",
                    set.len()
                ));
            }
        }
        out
    }

    /// The `.crate` files no line names.
    pub fn orphans(&self) -> Vec<String> {
        let named: BTreeSet<String> = self
            .lines()
            .map(|l| format!("crates/{0}/{0}-{1}.crate", l.name, l.vers))
            .collect();
        self.crates
            .keys()
            .filter(|k| !named.contains(*k))
            .cloned()
            .collect()
    }
}

/// Invariant 4 as the files show it: each indexed crate's catalogue page
/// lists exactly its versions, each marked yanked as its line is; the search
/// data lists exactly the indexed crates, each with the version its page
/// shows; no page is left of a crate that is gone (or it says it has no
/// versions). `None` when the registry has no catalogue.
pub fn catalogue_problems(store: &RawStore, stored: &Stored) -> Option<Vec<String>> {
    let search = store.get("catalogue/search-index.js")?;
    let mut out = Vec::new();
    let mut want_rows = BTreeMap::new();
    for lines in stored.index.values() {
        let Some(first) = lines.first() else { continue };
        let page_key = format!("catalogue/crates/{}.html", first.name);
        let want: BTreeSet<(String, bool)> =
            lines.iter().map(|l| (l.vers.clone(), l.yanked)).collect();
        match store.get(&page_key) {
            None => out.push(format!("{page_key} is missing")),
            Some(html) => {
                let got = page_rows(&String::from_utf8_lossy(&html));
                if got != want {
                    out.push(format!("{page_key} lists {got:?}, the index {want:?}"));
                }
            }
        }
        want_rows.insert(first.name.clone(), shown_version(lines));
    }
    let indexed: BTreeSet<String> = stored
        .lines()
        .map(|l| format!("catalogue/crates/{}.html", l.name))
        .collect();
    for key in &stored.keys {
        if key.starts_with("catalogue/crates/") && !indexed.contains(key) {
            let html = store.get(key).unwrap_or_default();
            if !String::from_utf8_lossy(&html).contains("no versions") {
                out.push(format!("{key} is the page of a crate that is not indexed"));
            }
        }
    }
    let text = String::from_utf8_lossy(&search);
    let json = text
        .trim()
        .strip_prefix("window.REGTOOL_CATALOGUE = ")
        .and_then(|t| t.strip_suffix(';'))
        .unwrap_or_else(|| panic!("search data: {text}"));
    let v: Value = serde_json::from_str(json).expect("search data is JSON");
    let got: BTreeMap<String, String> = v["crates"]
        .as_array()
        .expect("crates")
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap_or_default().to_owned(),
                c[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    if got != want_rows {
        out.push(format!(
            "the search data lists {got:?}, the index {want_rows:?}"
        ));
    }
    Some(out)
}

/// The version rows of a crate page: `(version, yanked)`.
fn page_rows(html: &str) -> BTreeSet<(String, bool)> {
    html.split("<tr id=\"v")
        .skip(1)
        .filter_map(|rest| {
            let (vers, after) = rest.split_once('"')?;
            Some((vers.to_owned(), after.starts_with(" class=\"yanked\"")))
        })
        .collect()
}

/// The version a crate page shows: the highest not yanked, else the highest.
fn shown_version(lines: &[StoredLine]) -> String {
    let highest = |yanked_too: bool| {
        lines
            .iter()
            .filter(|l| yanked_too || !l.yanked)
            .filter_map(|l| semver::Version::parse(&l.vers).ok().map(|v| (v, &l.vers)))
            .max()
            .map(|(_, s)| s.clone())
    };
    highest(false).or_else(|| highest(true)).unwrap_or_default()
}
