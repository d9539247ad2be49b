//! A stateful property test (issue 9): random sequences of `init`, `add`,
//! `yank`, `yank --undo`, `remove`, `reindex` (`--prune`, `--accept-changed`)
//! and `verify` (`--deep`), with names in random spellings, stored `.crate`
//! files damaged, replaced by other bytes, deleted or put in by hand, foreign
//! files dropped in the tree and crate folders turned into symlinks, run on the
//! real binary against an in-memory model of the registry ([`Model`]).
//!
//! After every step:
//! - the exit code is the one the model predicts from README.md's promises;
//! - a refused command (exit 1), and a command the model says changes nothing,
//!   left every file byte-identical (the registry and the folders its links
//!   point to);
//! - every index file's lines (`vers`, `yanked`, `cksum`) are the model's, and
//!   there is no other index file;
//! - the files under `crates/` (links followed) are exactly the model's bytes;
//! - foreign files are untouched, linked folders are still links, `config.json`
//!   never changes and a line's `pubtime` never changes while the line lives;
//! - `verify` reports exactly the problems the model predicts.
//!
//! The same model runs on a bucket of moto's S3 server
//! (`a_bucket_follows_the_model`), the registry's objects read and written
//! directly ([`RawStore`]). What differs there, and only there: a bucket
//! has no links (no [`Step::Link`]); each crate's name is claimed before
//! its first index file and the claim outlives its last version until a
//! `reindex` releases it ([`Model::claims`]: `add` of another spelling is
//! refused meanwhile); a command that changes no content may release such a
//! claim, a refused one changes nothing at all.
//!
//! The bounded run (`cargo test --test it model`) tries 32 sequences of up to
//! 24 steps from a fixed seed on a folder, 8 on a bucket; the long run is
//! documented in DEVELOPMENT.md (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`,
//! `REGTOOL_MODEL_STEPS`); `REGTOOL_MODEL_LOG=1` prints every sequence it runs.

use crate::common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

// ---------------------------------------------------------------------------
// The universe: a few crates, versions and byte variants, built once
// ---------------------------------------------------------------------------

/// Crate names as packaged. `Foo_Bar` is the same crate as `foo-bar` for cargo.
const CRATES: [&str; 3] = ["foo-bar", "Baz", "Foo_Bar"];
/// Versions of each crate; `1.1.0+meta` collides with `1.1.0` (build metadata).
const VERSIONS: [&str; 4] = ["0.9.0", "1.0.0", "1.1.0", "1.1.0+meta"];
/// Byte variants per version: other bytes under the same name and version.
const VARIANTS: usize = 2;
/// Names typed at `yank` and `remove`: spellings of the crates, and two others.
const SPELLINGS: [&str; 9] = [
    "foo-bar", "foo_bar", "Foo_Bar", "FOO-BAR", "Baz", "baz", "BAZ", "qux", "foo",
];
/// Versions typed at `yank` and `remove`.
const TYPED_VERSIONS: [&str; 6] = [
    "0.9.0",
    "1.0.0",
    "1.1.0",
    "1.1.0+meta",
    "1.1.0+other",
    "2.0.0",
];
/// `crates/` folders [`Step::Link`] turns into links.
const LINKABLE: [&str; 4] = ["foo-bar", "Baz", "Foo_Bar", "upload"];
/// Files that are not the registry's: regtool must never touch them.
const FOREIGN: [(&str, &str); 6] = [
    ("robots.txt", "User-agent: *\nDisallow: /\n"),
    ("healthz", ""),
    ("index.html", "<h1>crates</h1>\n"),
    // In the index folder of `baz` (3/b/baz), not index-shaped.
    ("3/b/notes.txt", "not an index file\n"),
    // Index-shaped but at the wrong path: `verify` reports it, nothing touches it.
    ("3/x/baz", "{\"copied\": \"by hand\"}\n"),
    // Beside the .crate files of `foo-bar`.
    ("crates/foo-bar/README.md", "# foo-bar\n"),
];

/// One `.crate` of the universe: crate, version and byte variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Item {
    krate: usize,
    version: usize,
    variant: usize,
}

impl Item {
    fn name(self) -> &'static str {
        CRATES[self.krate]
    }
    fn vers(self) -> &'static str {
        VERSIONS[self.version]
    }
    fn id(self) -> usize {
        (self.krate * VERSIONS.len() + self.version) * VARIANTS + self.variant
    }
    /// Where the registry keeps it: `crates/{name}/{name}-{vers}.crate`.
    fn key(self) -> String {
        crate_key(self.name(), self.vers())
    }
    /// Where a `.crate` copied in by hand may sit.
    fn place(self, at: Place) -> String {
        let (name, vers) = (self.name(), self.vers());
        match at {
            Place::Own => self.key(),
            Place::Copy => format!("crates/{name}/copy-{vers}.crate"),
            Place::Upload => format!("crates/upload/{name}-{vers}.crate"),
        }
    }
    fn bytes(self) -> &'static [u8] {
        &UNIVERSE.bytes[self.id()]
    }
    fn cksum(self) -> &'static str {
        &UNIVERSE.cksums[self.id()]
    }
}

/// Where [`Step::Place`] puts a `.crate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Where the registry would keep it.
    Own,
    /// Beside it under another file name (reindex deletes it, or moves it).
    Copy,
    /// In another folder (reindex moves it).
    Upload,
}

fn all_items() -> impl Iterator<Item = Item> {
    (0..CRATES.len()).flat_map(|krate| {
        (0..VERSIONS.len()).flat_map(move |version| {
            (0..VARIANTS).map(move |variant| Item {
                krate,
                version,
                variant,
            })
        })
    })
}

struct Universe {
    bytes: Vec<Vec<u8>>,
    cksums: Vec<String>,
    by_bytes: HashMap<Vec<u8>, Item>,
    by_key: HashMap<String, (usize, usize)>,
}

static UNIVERSE: LazyLock<Universe> = LazyLock::new(|| {
    let mut u = Universe {
        bytes: Vec::new(),
        cksums: Vec::new(),
        by_bytes: HashMap::new(),
        by_key: HashMap::new(),
    };
    for item in all_items() {
        assert_eq!(item.id(), u.bytes.len());
        let mut b = CrateBuilder::new(item.name(), item.vers());
        if item.variant > 0 {
            b = b.file("src/variant.rs", format!("// variant {}\n", item.variant));
        }
        let bytes = b.build();
        u.cksums.push(sha256_hex(&bytes));
        u.by_bytes.insert(bytes.clone(), item);
        for at in [Place::Own, Place::Copy, Place::Upload] {
            u.by_key.insert(item.place(at), (item.krate, item.version));
        }
        u.bytes.push(bytes);
    }
    u
});

/// What cargo takes as the same name: lowercase, `-` as `_`.
fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// A version without its build metadata (the universe has no pre-releases).
fn version_key(vers: &str) -> &str {
    vers.split('+').next().unwrap_or(vers)
}

fn crate_key(name: &str, vers: &str) -> String {
    format!("crates/{name}/{name}-{vers}.crate")
}

/// Flips the byte in the middle, keeping the size (the same for model and disk).
fn damaged(mut bytes: Vec<u8>) -> Vec<u8> {
    let i = bytes.len() / 2;
    bytes[i] ^= 0x55;
    bytes
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// One index line as the model knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    vers: &'static str,
    cksum: String,
    yanked: bool,
    /// Which line this is (a line keeps its `pubtime` while it lives).
    born: u64,
}

/// One crate's index file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct IndexFile {
    /// The published spelling (the first line's `name`).
    name: &'static str,
    lines: Vec<Line>,
}

/// What the last step should have ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Exit 0.
    Ok,
    /// Exit 1 and nothing written.
    Refused,
}

/// The registry as README.md describes it.
#[derive(Clone, Debug)]
struct Model {
    /// Index files by canonical crate name.
    index: BTreeMap<String, IndexFile>,
    /// Every `.crate` under `crates/` (links followed), by key, with its bytes.
    disk: BTreeMap<String, Vec<u8>>,
    /// Foreign files by path, with their bytes.
    foreign: BTreeMap<&'static str, &'static str>,
    /// `crates/NAME` folders that are symlinks.
    linked: BTreeSet<&'static str>,
    expect: Expect,
    next_born: u64,
    /// Whether the registry is in a bucket, where each crate's name is
    /// claimed (`.regtool/names/{canonical}`) before its first index file,
    /// and the claim outlives its last version until a `reindex`.
    s3: bool,
    /// The claimed spelling of each crate, by canonical name (a bucket only).
    claims: BTreeMap<String, &'static str>,
}

impl Model {
    fn new(s3: bool) -> Model {
        Model {
            index: BTreeMap::new(),
            disk: BTreeMap::new(),
            foreign: BTreeMap::new(),
            linked: BTreeSet::new(),
            expect: Expect::Ok,
            next_born: 0,
            s3,
            claims: BTreeMap::new(),
        }
    }

    fn born(&mut self) -> u64 {
        self.next_born += 1;
        self.next_born
    }

    /// The registry's content (what a command may change).
    fn content(&self) -> (&BTreeMap<String, IndexFile>, &BTreeMap<String, Vec<u8>>) {
        (&self.index, &self.disk)
    }

    /// `regtool add ITEMS...`: every input is checked first (against the batch,
    /// then against the registry); any problem refuses the whole batch.
    fn add(&mut self, items: &[Item]) -> Expect {
        let mut groups: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        let mut refused = false;
        for &item in items {
            let group = groups.entry(canonical(item.name())).or_default();
            if group.first().is_some_and(|f| f.name() != item.name()) {
                refused = true; // two spellings in one batch
                continue;
            }
            if let Some(other) = group
                .iter()
                .find(|o| version_key(o.vers()) == version_key(item.vers()))
            {
                if other.cksum() != item.cksum() || other.vers() != item.vers() {
                    refused = true;
                }
                continue; // the same file given twice is taken once
            }
            group.push(item);
        }
        if refused {
            return Expect::Refused;
        }
        let mut plans = Vec::new();
        for (canon, group) in groups {
            let name = group[0].name();
            let stored = self.index.get(&canon);
            if stored.is_some_and(|s| s.name != name) {
                return Expect::Refused; // another spelling of an existing crate
            }
            if self.claims.get(&canon).is_some_and(|c| *c != name) {
                return Expect::Refused; // another spelling claimed (a bucket)
            }
            let (mut new, mut present) = (Vec::new(), Vec::new());
            for item in group {
                let hit = stored.and_then(|s| {
                    s.lines
                        .iter()
                        .find(|l| version_key(l.vers) == version_key(item.vers()))
                });
                match hit {
                    None => new.push(item),
                    Some(l) if l.vers == item.vers() && l.cksum == item.cksum() => {
                        present.push(item)
                    }
                    Some(_) => return Expect::Refused, // other bytes or build metadata
                }
            }
            plans.push((canon, name, new, present));
        }
        for (canon, name, new, present) in plans {
            for item in present {
                // Identical bytes: skipped, and a damaged or missing .crate restored.
                self.disk.insert(item.key(), item.bytes().to_vec());
            }
            if self.s3 {
                self.claims.entry(canon.clone()).or_insert(name);
            }
            for item in new {
                // A stray .crate at that key is replaced.
                self.disk.insert(item.key(), item.bytes().to_vec());
                let born = self.born();
                self.index
                    .entry(canon.clone())
                    .or_insert_with(|| IndexFile {
                        name,
                        lines: Vec::new(),
                    })
                    .lines
                    .push(Line {
                        vers: item.vers(),
                        cksum: item.cksum().to_owned(),
                        yanked: false,
                        born,
                    });
            }
        }
        Expect::Ok
    }

    /// The line `spelling@vers` names: the crate in any spelling, the version
    /// exactly, or else the one version equal but for build metadata.
    fn find(&self, spelling: &str, vers: &str) -> Option<(String, usize)> {
        let canon = canonical(spelling);
        let file = self.index.get(&canon)?;
        let i = file.lines.iter().position(|l| l.vers == vers).or_else(|| {
            let hits: Vec<usize> = (0..file.lines.len())
                .filter(|&i| version_key(file.lines[i].vers) == version_key(vers))
                .collect();
            (hits.len() == 1).then(|| hits[0])
        })?;
        Some((canon, i))
    }

    fn yank(&mut self, spelling: &str, vers: &str, undo: bool) -> Expect {
        let Some((canon, i)) = self.find(spelling, vers) else {
            return Expect::Refused;
        };
        let file = self.index.get_mut(&canon).expect("found");
        file.lines[i].yanked = !undo;
        Expect::Ok
    }

    fn remove(&mut self, spelling: &str, vers: &str) -> Expect {
        let Some((canon, i)) = self.find(spelling, vers) else {
            return Expect::Refused;
        };
        let file = self.index.get_mut(&canon).expect("found");
        let line = file.lines.remove(i);
        self.disk.remove(&crate_key(file.name, line.vers));
        if file.lines.is_empty() {
            self.index.remove(&canon);
        }
        Expect::Ok
    }

    /// `regtool reindex`: rebuilds the index from `crates/`, or refuses (and
    /// writes nothing) when a `.crate` cannot be read, one crate sits under two
    /// spellings and neither an index file nor (a bucket) a claim decides,
    /// two files hold one version, or a stored `.crate` no longer matches its
    /// line's `cksum` (unless `accept_changed`). A `.crate` under another
    /// spelling than the decided one is an orphan: left out, left alone.
    fn reindex(&mut self, prune: bool, accept_changed: bool) -> Expect {
        let mut found: BTreeMap<String, Vec<(String, Item)>> = BTreeMap::new();
        for (key, bytes) in &self.disk {
            match UNIVERSE.by_bytes.get(bytes) {
                Some(&item) => found
                    .entry(canonical(item.name()))
                    .or_default()
                    .push((key.clone(), item)),
                None => return Expect::Refused, // cannot be read
            }
        }
        let names: BTreeSet<String> = self.index.keys().chain(found.keys()).cloned().collect();
        // A bucket releases the claims of crates with no index file and no
        // `.crate` left (as found before this reindex changes anything).
        let mut claims = self.claims.clone();
        claims.retain(|c, _| names.contains(c));
        let mut new_index = BTreeMap::new();
        let mut disk = self.disk.clone();
        let mut next_born = self.next_born;
        for canon in names {
            let old = self.index.get(&canon);
            let mut found = found.remove(&canon).unwrap_or_default();
            // The index file's spelling decides, else (a bucket) the claim's:
            // a `.crate` under another spelling is an orphan, left out.
            if let Some(decided) = old.map(|o| o.name).or_else(|| claims.get(&canon).copied()) {
                found.retain(|(_, item)| item.name() == decided);
            }
            let spellings: BTreeSet<&str> = old
                .map(|o| o.name)
                .into_iter()
                .chain(found.iter().map(|(_, i)| i.name()))
                .collect();
            if spellings.len() > 1 {
                return Expect::Refused; // nothing decides between them
            }
            let Some(&name) = spellings.first() else {
                continue; // only orphans under another spelling than the claim
            };
            // By version, the file at its own key first (a stable sort).
            found.sort_by_key(|(key, item)| (item.version, *key != item.key()));
            // One file per version (build metadata ignored), at its own key.
            let mut by_version: BTreeMap<&str, Item> = BTreeMap::new();
            for (key, item) in found {
                match by_version.get(version_key(item.vers())) {
                    None => {
                        if key != item.key() {
                            if self.disk.contains_key(&item.key()) {
                                continue;
                            }
                            let bytes = disk.remove(&key).expect("on disk");
                            disk.insert(item.key(), bytes); // moved
                        }
                        by_version.insert(version_key(item.vers()), item);
                    }
                    Some(first) if first.vers() == item.vers() && first.cksum() == item.cksum() => {
                        disk.remove(&key); // a copy
                    }
                    Some(_) => return Expect::Refused, // two files hold one version
                }
            }
            let mut lines = Vec::new();
            for l in old.map(|o| o.lines.as_slice()).unwrap_or_default() {
                match by_version.remove(version_key(l.vers)) {
                    Some(item) if item.cksum() == l.cksum => lines.push(l.clone()),
                    Some(item) if item.vers() != l.vers => {
                        // Other build metadata: another version, never a change.
                        return Expect::Refused;
                    }
                    Some(item) => {
                        if !accept_changed {
                            return Expect::Refused; // damaged or replaced
                        }
                        lines.push(Line {
                            vers: item.vers(),
                            cksum: item.cksum().to_owned(),
                            ..l.clone()
                        });
                    }
                    None if prune => {}
                    None => lines.push(l.clone()), // missing .crate: kept
                }
            }
            for item in by_version.into_values() {
                next_born += 1;
                lines.push(Line {
                    vers: item.vers(),
                    cksum: item.cksum().to_owned(),
                    yanked: false,
                    born: next_born,
                });
            }
            if !lines.is_empty() {
                if self.s3 {
                    claims.entry(canon.clone()).or_insert(name);
                }
                new_index.insert(canon, IndexFile { name, lines });
            }
        }
        self.claims = claims;
        self.index = new_index;
        self.disk = disk;
        self.next_born = next_born;
        Expect::Ok
    }

    /// The `(kind, path)` of every problem `verify` must report.
    fn problems(&self, deep: bool) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        let mut expected = BTreeSet::new();
        for file in self.index.values() {
            for l in &file.lines {
                let key = crate_key(file.name, l.vers);
                match self.disk.get(&key) {
                    None => {
                        out.insert(("missing-crate".into(), index_path(file.name)));
                    }
                    Some(bytes) => {
                        let readable = UNIVERSE.by_bytes.contains_key(bytes);
                        if deep && !readable {
                            out.insert(("crate-unreadable".into(), key.clone()));
                        } else if sha256_hex(bytes) != l.cksum {
                            out.insert(("cksum-mismatch".into(), key.clone()));
                        }
                    }
                }
                expected.insert(key);
            }
        }
        let mut folders: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for key in self.disk.keys() {
            let folder = key.split('/').nth(1).expect("crates/NAME/...");
            folders.entry(canonical(folder)).or_default().insert(folder);
            if !expected.contains(key) {
                out.insert(("orphan-crate".into(), key.clone()));
            }
        }
        for (canon, set) in folders.iter().filter(|(_, s)| s.len() > 1) {
            // The index file's spelling decides, else (a bucket) the claim's:
            // the other folders then hold orphans, not a second spelling.
            let decided = self.index.get(canon).map(|f| f.name);
            if decided
                .or_else(|| self.claims.get(canon).copied())
                .is_some()
            {
                continue;
            }
            for f in set {
                out.insert(("name-conflict".into(), format!("crates/{f}")));
            }
        }
        if self.foreign.contains_key("3/x/baz") {
            out.insert(("wrong-path".into(), "3/x/baz".into()));
        }
        out
    }
}

/// One step.
#[derive(Clone, Debug)]
enum Step {
    /// `regtool init` on the existing registry (refused).
    InitAgain,
    Add(Vec<Item>),
    Yank {
        name: &'static str,
        vers: &'static str,
        undo: bool,
        /// `NAME VERSION` instead of `NAME@VERSION`.
        two_args: bool,
    },
    Remove {
        name: &'static str,
        vers: &'static str,
    },
    Reindex {
        prune: bool,
        accept_changed: bool,
    },
    Verify {
        deep: bool,
    },
    /// Flip a byte of a stored `.crate`, keeping its size.
    Damage(String),
    /// Put the other variant's bytes (same name and version) in a stored `.crate`.
    Replace(String),
    Delete(String),
    /// A `.crate` copied into `crates/` by hand. Under another spelling than
    /// its crate's index file (or claim) has, it is an orphan: `verify` says
    /// `orphan-crate`, `reindex` leaves it out.
    Place(Item, Place),
    Foreign(&'static str),
    /// Move `crates/NAME` elsewhere and leave a symlink to it.
    Link(&'static str),
}

impl Model {
    /// The bytes [`Step::Replace`] puts at `key`.
    fn replacement(&self, key: &str) -> Vec<u8> {
        let (krate, version) = UNIVERSE.by_key[key];
        let now = UNIVERSE.by_bytes.get(&self.disk[key]);
        let variant = match now {
            Some(i) if i.krate == krate && i.version == version => (i.variant + 1) % VARIANTS,
            _ => 0,
        };
        Item {
            krate,
            version,
            variant,
        }
        .bytes()
        .to_vec()
    }
}

fn item_strategy() -> impl Strategy<Value = Item> {
    (
        prop_oneof![4 => Just(0usize), 4 => Just(1usize), 1 => Just(2usize)],
        0..VERSIONS.len(),
        0..VARIANTS,
    )
        .prop_map(|(krate, version, variant)| Item {
            krate,
            version,
            variant,
        })
}

/// The model as a state machine, for a folder (`S3` false) or a bucket
/// (`S3` true: no links).
struct RegistryModel<const S3: bool>;

impl<const S3: bool> ReferenceStateMachine for RegistryModel<S3> {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::new(S3)).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        // Mostly a line that exists (in any spelling of its crate, its version
        // with or without build metadata), else any name and version.
        let mut targets: Vec<(&'static str, &'static str)> = Vec::new();
        for file in state.index.values() {
            for l in &file.lines {
                for name in SPELLINGS
                    .iter()
                    .filter(|s| canonical(s) == canonical(file.name))
                {
                    targets.push((name, l.vers));
                    targets.push((name, version_key(l.vers)));
                }
            }
        }
        let any_target = (
            proptest::sample::select(&SPELLINGS[..]),
            proptest::sample::select(&TYPED_VERSIONS[..]),
        )
            .boxed();
        let target = if targets.is_empty() {
            any_target
        } else {
            prop_oneof![3 => proptest::sample::select(targets), 1 => any_target].boxed()
        };
        let batch = prop_oneof![
            3 => item_strategy().prop_map(|i| vec![i]),
            1 => proptest::collection::vec(item_strategy(), 2..=3),
        ];
        let commands = prop_oneof![
            1 => Just(Step::InitAgain),
            8 => batch.prop_map(Step::Add),
            4 => (target.clone(), any::<bool>(), any::<bool>()).prop_map(
                |((name, vers), undo, two_args)| Step::Yank { name, vers, undo, two_args }
            ),
            2 => target.prop_map(|(name, vers)| Step::Remove { name, vers }),
            4 => (any::<bool>(), prop::bool::weighted(0.25)).prop_map(
                |(prune, accept_changed)| Step::Reindex { prune, accept_changed }
            ),
            2 => any::<bool>().prop_map(|deep| Step::Verify { deep }),
            2 => (
                item_strategy(),
                prop_oneof![Just(Place::Own), Just(Place::Copy), Just(Place::Upload)]
            )
                .prop_map(|(item, at)| Step::Place(item, at)),
        ];
        let mut extra: Vec<(u32, BoxedStrategy<Step>)> = vec![(24, commands.boxed())];
        let keys: Vec<String> = state.disk.keys().cloned().collect();
        if !keys.is_empty() {
            let k = proptest::sample::select(keys);
            extra.push((2, k.clone().prop_map(Step::Damage).boxed()));
            extra.push((2, k.clone().prop_map(Step::Replace).boxed()));
            extra.push((2, k.prop_map(Step::Delete).boxed()));
        }
        let foreign: Vec<&'static str> = FOREIGN
            .iter()
            .map(|f| f.0)
            .filter(|f| !state.foreign.contains_key(f))
            .collect();
        if !foreign.is_empty() {
            extra.push((
                1,
                proptest::sample::select(foreign)
                    .prop_map(Step::Foreign)
                    .boxed(),
            ));
        }
        let unlinked: Vec<&'static str> = LINKABLE
            .iter()
            .copied()
            .filter(|c| !state.linked.contains(c))
            .collect();
        if !unlinked.is_empty() && !S3 {
            extra.push((
                1,
                proptest::sample::select(unlinked)
                    .prop_map(Step::Link)
                    .boxed(),
            ));
        }
        proptest::strategy::Union::new_weighted(extra).boxed()
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        match step {
            Step::Damage(k) | Step::Replace(k) | Step::Delete(k) => state.disk.contains_key(k),
            Step::Place(item, at) => !state.disk.contains_key(&item.place(*at)),
            Step::Foreign(f) => !state.foreign.contains_key(f),
            Step::Link(c) => !S3 && !state.linked.contains(c),
            _ => true,
        }
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        let before = state.clone();
        let expect = match step {
            Step::InitAgain => Expect::Refused,
            Step::Add(items) => state.add(items),
            Step::Yank {
                name, vers, undo, ..
            } => state.yank(name, vers, *undo),
            Step::Remove { name, vers } => state.remove(name, vers),
            Step::Reindex {
                prune,
                accept_changed,
            } => state.reindex(*prune, *accept_changed),
            Step::Verify { deep } => {
                if state.problems(*deep).is_empty() {
                    Expect::Ok
                } else {
                    Expect::Refused
                }
            }
            Step::Damage(k) => {
                let b = damaged(state.disk[k].clone());
                state.disk.insert(k.clone(), b);
                Expect::Ok
            }
            Step::Replace(k) => {
                let b = state.replacement(k);
                state.disk.insert(k.clone(), b);
                Expect::Ok
            }
            Step::Delete(k) => {
                state.disk.remove(k);
                Expect::Ok
            }
            Step::Place(item, at) => {
                state.disk.insert(item.place(*at), item.bytes().to_vec());
                Expect::Ok
            }
            Step::Foreign(f) => {
                let text = FOREIGN.iter().find(|x| x.0 == *f).expect("listed").1;
                state.foreign.insert(f, text);
                Expect::Ok
            }
            Step::Link(c) => {
                state.linked.insert(c);
                Expect::Ok
            }
        };
        if expect == Expect::Refused {
            // A refused command changes nothing.
            state = Model { expect, ..before };
        }
        state.expect = expect;
        state
    }
}

// ---------------------------------------------------------------------------
// The real registry
// ---------------------------------------------------------------------------

/// Where the registry under test lives.
enum Home {
    /// A folder, and where its linked crate folders live: on another file
    /// system when there is one (`/dev/shm`), so that moves across it are
    /// tried too.
    Folder {
        reg: TestRegistry,
        elsewhere: PathBuf,
        _other_fs: Option<tempfile::TempDir>,
    },
    /// A prefix of a bucket on moto (no links, no file modes), and a scratch
    /// folder for the inputs.
    Bucket {
        bucket: Bucket,
        url: String,
        scratch: tempfile::TempDir,
    },
}

struct RealRegistry {
    home: Home,
    /// The registry's objects, read and written directly.
    store: RawStore,
    /// `inputs/{id}.crate` for every item.
    inputs: Vec<PathBuf>,
    config: Vec<u8>,
    /// The model before the step being applied.
    before: Model,
    /// `pubtime` of each living line, by [`Line::born`].
    pubtimes: HashMap<u64, String>,
    /// What ran so far, for failure messages.
    log: Vec<String>,
}

impl RealRegistry {
    /// What `--registry` takes: the folder, or the `s3://` URL.
    fn location(&self) -> OsString {
        match &self.home {
            Home::Folder { reg, .. } => reg.root.clone().into(),
            Home::Bucket { url, .. } => url.into(),
        }
    }

    /// The temp folder the inputs are in.
    fn scratch(&self) -> &Path {
        match &self.home {
            Home::Folder { reg, .. } => reg.temp_dir(),
            Home::Bucket { scratch, .. } => scratch.path(),
        }
    }

    /// `regtool ARGS...` (no `--registry` added), run to completion.
    fn run(&mut self, args: Vec<OsString>) -> Output {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                a.to_string_lossy()
                    .replace(&*self.scratch().to_string_lossy(), "$T")
            })
            .collect();
        self.log.push(format!("regtool {}", shown.join(" ")));
        let mut cmd: Command = match &self.home {
            Home::Folder { .. } => regtool(),
            Home::Bucket { bucket, .. } => bucket.command(),
        };
        cmd.env("SOURCE_DATE_EPOCH", EPOCH).args(args);
        run_with_timeout(cmd, REGTOOL_TIMEOUT)
    }

    fn run_on_registry(&mut self, args: &[&str], paths: &[PathBuf]) -> Output {
        let mut all: Vec<OsString> = vec!["--quiet".into(), "--registry".into(), self.location()];
        all.extend(args.iter().map(OsString::from));
        all.extend(paths.iter().map(OsString::from));
        self.run(all)
    }

    /// Every object of the registry (every file and folder, and of the
    /// folders its links point to).
    fn snapshot(&self) -> Tree {
        let mut t = self.store.tree();
        if let Home::Folder { elsewhere, .. } = &self.home {
            for (k, v) in tree(elsewhere) {
                t.insert(format!("<elsewhere>/{k}"), v);
            }
        }
        t
    }

    fn history(&self) -> String {
        self.log.join("\n  ")
    }

    /// `regtool verify [--deep]`, checking that it reports the model's problems.
    fn verify(&mut self, model: &Model, deep: bool) -> Output {
        let mut args = vec!["--format", "json", "verify"];
        if deep {
            args.push("--deep");
        }
        let out = self.run_on_registry(&args, &[]);
        let want = model.problems(deep);
        let got = reported_problems(&self.location(), &out);
        assert_eq!(
            out.status.code(),
            Some(i32::from(!want.is_empty())),
            "verify's exit code\nsteps:\n  {}\n{}",
            self.history(),
            describe_output(&out)
        );
        assert_eq!(
            got,
            want,
            "verify reports other problems than the model\nsteps:\n  {}\n{}",
            self.history(),
            describe_output(&out)
        );
        out
    }

    /// A line keeps the `pubtime` it was given while it lives (through yank,
    /// reindex and `--accept-changed`).
    fn check_pubtimes(&mut self, model: &Model) {
        let mut seen = HashMap::new();
        for file in model.index.values() {
            let lines = self.store.index_lines(file.name);
            for l in &file.lines {
                let real = lines
                    .iter()
                    .find(|r| r["vers"] == l.vers)
                    .and_then(|r| r["pubtime"].as_str())
                    .unwrap_or_else(|| panic!("{} v{} has no pubtime", file.name, l.vers))
                    .to_owned();
                if let Some(old) = self.pubtimes.get(&l.born) {
                    assert_eq!(
                        *old,
                        real,
                        "the pubtime of {} v{} changed\nsteps:\n  {}",
                        file.name,
                        l.vers,
                        self.history()
                    );
                }
                seen.insert(l.born, real);
            }
        }
        self.pubtimes = seen;
    }
}

/// The problems of a `verify --format json` report, as `(kind, key in the
/// registry)` (paths are reported under `location`, a folder or a URL).
fn reported_problems(location: &OsStr, out: &Output) -> BTreeSet<(String, String)> {
    let location = location.to_string_lossy();
    let location = location.trim_end_matches('/');
    json(out)["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems array\n{}", describe_output(out)))
        .iter()
        .map(|p| {
            let path = p["path"].as_str().expect("path");
            let rel = path
                .strip_prefix(location)
                .map_or(path, |r| r.trim_start_matches('/'));
            (
                p["kind"].as_str().expect("kind").to_owned(),
                rel.replace('\\', "/"),
            )
        })
        .collect()
}

/// The test of the real binary against the model, on a folder (`S3`
/// false) or on a bucket of moto (`S3` true).
struct RegistryTest<const S3: bool>;

/// The inputs of every item, written into `dir`.
fn write_inputs(dir: &Path) -> Vec<PathBuf> {
    let inputs = dir.join("inputs");
    fs::create_dir_all(&inputs).unwrap();
    all_items()
        .map(|item| {
            let p = inputs.join(format!("{}.crate", item.id()));
            fs::write(&p, item.bytes()).unwrap();
            p
        })
        .collect()
}

impl<const S3: bool> StateMachineTest for RegistryTest<S3> {
    type SystemUnderTest = RealRegistry;
    type Reference = RegistryModel<S3>;

    fn init_test(model: &Model) -> RealRegistry {
        let (home, store) = if S3 {
            let moto = MotoServer::shared("the registry lives in a bucket").expect("checked");
            let bucket = moto.bucket();
            let url = bucket.init("model", &[]);
            let store = RawStore::bucket(&bucket, "model");
            let scratch = tempdir();
            (
                Home::Bucket {
                    bucket,
                    url,
                    scratch,
                },
                store,
            )
        } else {
            let reg = TestRegistry::new();
            let other_fs = other_file_system(reg.temp_dir());
            let elsewhere = match &other_fs {
                Some(d) => d.path().to_path_buf(),
                None => reg.temp_dir().join("elsewhere"),
            };
            fs::create_dir_all(&elsewhere).unwrap();
            let store = RawStore::Folder(reg.root.clone());
            (
                Home::Folder {
                    reg,
                    elsewhere,
                    _other_fs: other_fs,
                },
                store,
            )
        };
        let mut sut = RealRegistry {
            home,
            config: store.get("config.json").expect("config.json"),
            store,
            inputs: Vec::new(),
            before: model.clone(),
            pubtimes: HashMap::new(),
            log: vec!["regtool init".into()],
        };
        sut.inputs = write_inputs(sut.scratch());
        sut
    }

    fn apply(mut sut: RealRegistry, model: &Model, step: Step) -> RealRegistry {
        let before = sut.snapshot();
        let out = match &step {
            Step::InitAgain => {
                let args = vec!["init".into(), sut.location(), "--url".into(), URL.into()];
                Some(sut.run(args))
            }
            Step::Add(items) => {
                let paths: Vec<PathBuf> =
                    items.iter().map(|i| sut.inputs[i.id()].clone()).collect();
                Some(sut.run_on_registry(&["add"], &paths))
            }
            Step::Yank {
                name,
                vers,
                undo,
                two_args,
            } => {
                let spec = format!("{name}@{vers}");
                let mut args = vec!["yank"];
                if *two_args {
                    args.extend([*name, *vers]);
                } else {
                    args.push(&spec);
                }
                if *undo {
                    args.push("--undo");
                }
                Some(sut.run_on_registry(&args, &[]))
            }
            Step::Remove { name, vers } => {
                Some(sut.run_on_registry(&["remove", &format!("{name}@{vers}")], &[]))
            }
            Step::Reindex {
                prune,
                accept_changed,
            } => {
                let mut args = vec!["reindex"];
                if *prune {
                    args.push("--prune");
                }
                if *accept_changed {
                    args.push("--accept-changed");
                }
                Some(sut.run_on_registry(&args, &[]))
            }
            Step::Verify { deep } => Some(sut.verify(model, *deep)),
            Step::Damage(k) => {
                sut.log.push(format!("damage {k}"));
                let bytes = sut.store.get(k).expect("there");
                sut.store.put(k, &damaged(bytes));
                None
            }
            Step::Replace(k) => {
                sut.log.push(format!("replace {k}"));
                sut.store.put(k, &sut.before.replacement(k));
                None
            }
            Step::Delete(k) => {
                sut.log.push(format!("delete {k}"));
                sut.store.delete(k);
                None
            }
            Step::Place(item, at) => {
                let key = item.place(*at);
                sut.log.push(format!("place {} as {key}", item.name()));
                sut.store.put(&key, item.bytes());
                None
            }
            Step::Foreign(f) => {
                sut.log.push(format!("foreign file {f}"));
                sut.store.put(f, model.foreign[f].as_bytes());
                None
            }
            Step::Link(c) => {
                sut.log.push(format!("link crates/{c}"));
                let Home::Folder { reg, elsewhere, .. } = &sut.home else {
                    unreachable!("a bucket has no links: no Link step is drawn");
                };
                let folder = reg.root.join("crates").join(c);
                let target = elsewhere.join(c);
                if folder.exists() {
                    move_dir(&folder, &target);
                } else {
                    fs::create_dir_all(&target).unwrap();
                }
                symlink_dir(&target, &folder);
                None
            }
        };
        if let Some(out) = out {
            sut.log.push(format!("  -> {:?}", out.status.code()));
            let code = match model.expect {
                Expect::Ok => 0,
                Expect::Refused => 1,
            };
            assert_eq!(
                out.status.code(),
                Some(code),
                "exit code: the model expects {code}\nsteps:\n  {}\n{}",
                sut.history(),
                describe_output(&out)
            );
            if model.expect == Expect::Refused || sut.before.content() == model.content() {
                let (mut before, mut after) = (before, sut.snapshot());
                if model.expect == Expect::Ok {
                    // A command that changes no content may release a bucket's
                    // name claim that no crate needs any more (`reindex`).
                    let claim = |k: &String, _: &mut _| !k.starts_with(".regtool/names/");
                    before.retain(claim);
                    after.retain(claim);
                }
                assert_tree_eq(
                    &before,
                    &after,
                    &format!(
                        "a command that must change nothing changed files\nsteps:\n  {}\n{}",
                        sut.history(),
                        describe_output(&out)
                    ),
                );
            }
        }
        sut.check_pubtimes(model);
        sut.before = model.clone();
        sut
    }

    /// Every sequence ends with `verify`, which must report what the model predicts.
    fn teardown(mut sut: RealRegistry, model: Model) {
        sut.verify(&model, false);
        if std::env::var_os("REGTOOL_MODEL_LOG").is_some() {
            eprintln!("sequence:\n  {}", sut.history());
        }
    }

    fn check_invariants(sut: &RealRegistry, model: &Model) {
        let store = &sut.store;
        let history = sut.history();
        // Index files: exactly the model's, with its lines.
        let mut want_files: BTreeSet<String> =
            model.index.values().map(|f| index_path(f.name)).collect();
        want_files.extend(
            model
                .foreign
                .keys()
                .filter(|f| !f.starts_with("crates/"))
                .map(|f| f.to_string()),
        );
        let got_files: BTreeSet<String> = store.index_files().into_iter().collect();
        assert_eq!(got_files, want_files, "index files\nsteps:\n  {history}");
        for file in model.index.values() {
            let mut want: Vec<(String, bool, String)> = file
                .lines
                .iter()
                .map(|l| (l.vers.to_owned(), l.yanked, l.cksum.clone()))
                .collect();
            let lines = store.index_lines(file.name);
            let mut got: Vec<(String, bool, String)> = lines
                .iter()
                .map(|l| {
                    assert_eq!(l["name"], file.name, "steps:\n  {history}");
                    (
                        l["vers"].as_str().unwrap().to_owned(),
                        l["yanked"].as_bool().unwrap(),
                        l["cksum"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "lines of {}\nsteps:\n  {history}", file.name);
        }
        // `.crate` files: exactly the model's bytes.
        let mut got = store.crate_files();
        for f in model.foreign.keys() {
            if f.starts_with("crates/") {
                assert!(got.remove(*f).is_some(), "{f} is gone\nsteps:\n  {history}");
            }
        }
        let got_keys: Vec<&String> = got.keys().collect();
        let want_keys: Vec<&String> = model.disk.keys().collect();
        assert_eq!(got_keys, want_keys, ".crate files\nsteps:\n  {history}");
        for (k, bytes) in &model.disk {
            assert!(got[k] == *bytes, "the bytes of {k}\nsteps:\n  {history}");
        }
        // Foreign files, links and config.json.
        for (f, text) in &model.foreign {
            assert_eq!(
                store.get(f).as_deref(),
                Some(text.as_bytes()),
                "foreign file {f}\nsteps:\n  {history}"
            );
        }
        for c in &model.linked {
            let Home::Folder { reg, .. } = &sut.home else {
                unreachable!("a bucket has no links");
            };
            let p = reg.root.join("crates").join(c);
            assert!(
                fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()),
                "crates/{c} is no longer a link\nsteps:\n  {history}"
            );
        }
        assert_eq!(
            store.get("config.json").expect("config.json"),
            sut.config,
            "config.json\nsteps:\n  {history}"
        );
    }
}

/// Moves a folder of files, across file systems too.
fn move_dir(from: &Path, to: &Path) {
    if fs::rename(from, to).is_ok() {
        return;
    }
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        assert!(e.file_type().unwrap().is_file(), "{:?}", e.path());
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    fs::remove_dir_all(from).unwrap();
}

/// A temp dir in `/dev/shm` if that is another file system than `dir`'s.
fn other_file_system(dir: &Path) -> Option<tempfile::TempDir> {
    use std::os::unix::fs::MetadataExt;
    let other = tempfile::Builder::new()
        .prefix("regtool-model-")
        .tempdir_in("/dev/shm")
        .ok()?;
    let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
    (dev(other.path()) != dev(dir)).then_some(other)
}

fn symlink_dir(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// `PROPTEST_CASES` (default 32) and `PROPTEST_RNG_SEED` (default fixed) as
/// proptest reads them; `REGTOOL_MODEL_STEPS` (default 24) the longest sequence.
fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 32;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x9e37_79b9);
    }
    config.max_shrink_iters = 2048;
    // A failure prints its shortest sequence of steps; with the fixed seed a
    // rerun finds it again. No regression files are written.
    config.failure_persistence = None;
    config
}

fn max_steps() -> usize {
    std::env::var("REGTOOL_MODEL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn registry_follows_the_model(
        (initial, steps, seen) in RegistryModel::<false>::sequential_strategy(1..=max_steps())
    ) {
        RegistryTest::<false>::test_sequential(config(), initial, steps, seen)
    }
}

/// The bucket's run: `PROPTEST_CASES` (default 8: each command is a few
/// requests to moto) sequences, and fewer shrinking steps.
#[cfg(feature = "s3")]
fn bucket_config() -> Config {
    let mut config = config();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 8;
    }
    config.max_shrink_iters = 256;
    config
}

/// The same model on a bucket (S3 on moto): what differs is that a bucket
/// has no links (no [`Step::Link`]) and no file modes.
#[cfg(feature = "s3")]
#[test]
fn a_bucket_follows_the_model() {
    if MotoServer::shared("the registry lives in a bucket on 127.0.0.1").is_none() {
        return;
    }
    let config = bucket_config();
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    let strategy = RegistryModel::<true>::sequential_strategy(1..=max_steps());
    let result = runner.run(&strategy, |(initial, steps, seen)| {
        RegistryTest::<true>::test_sequential(config.clone(), initial, steps, seen);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
