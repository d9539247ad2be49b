//! Hostile and broken input (issue "Reliability"): gzip bombs, huge manifests,
//! tar entries that try to leave the crate's folder or are not plain files,
//! names and versions built to hurt, manifests past crates.io's limits, size
//! caps, and index files that are not valid JSON or carry fields regtool does
//! not know.
//!
//! Every refusal must: exit 1; print one clear `error:` line naming the input
//! file; write nothing to the registry and nothing anywhere else (the whole
//! temp dir, which holds the registry, the inputs and regtool's working
//! directory, is compared before and after); and never panic.
#![cfg(unix)]

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A temp dir holding a registry (`registry/`), the inputs (`inputs/`) and the
/// folder regtool runs in (`cwd/`), so that a write anywhere shows up.
struct Fx {
    dir: tempfile::TempDir,
    root: PathBuf,
    inputs: PathBuf,
    cwd: PathBuf,
}

impl Fx {
    fn new() -> Fx {
        Fx::with(&[])
    }

    /// A registry made with `regtool init ... extra`.
    fn with(extra: &[&str]) -> Fx {
        let dir = tempdir();
        let root = dir.path().join("registry");
        let inputs = dir.path().join("inputs");
        let cwd = dir.path().join("cwd");
        fs::create_dir_all(&inputs).unwrap();
        fs::create_dir_all(&cwd).unwrap();
        let mut args: Vec<OsString> = vec!["init".into(), root.clone().into()];
        args.extend(["--url", URL].iter().map(OsString::from));
        args.extend(extra.iter().map(OsString::from));
        regtool_ok(&args);
        Fx {
            dir,
            root,
            inputs,
            cwd,
        }
    }

    /// Runs `regtool --registry ROOT ARGS` in `cwd/`.
    fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd: Command = regtool();
        cmd.arg("--registry")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.cwd);
        run_with_timeout(cmd, REGTOOL_TIMEOUT)
    }

    fn add(&self, input: &Path, extra: &[&str]) -> Output {
        let mut args = vec![OsString::from("add"), input.into()];
        args.extend(extra.iter().map(OsString::from));
        self.run(args)
    }

    fn input(&self, file_name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.inputs.join(file_name);
        fs::write(&p, bytes).unwrap();
        p
    }

    /// Every file, folder and link under the temp dir, with mode and content
    /// hash (the lock file is left out: taking the lock may create it).
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = BTreeMap::new();
        for e in walkdir::WalkDir::new(self.dir.path()).min_depth(1) {
            let e = e.expect("walk the temp dir");
            let rel = e
                .path()
                .strip_prefix(self.dir.path())
                .unwrap()
                .to_path_buf();
            if rel == Path::new("registry/.regtool/lock") {
                continue;
            }
            let meta = e.path().symlink_metadata().unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.is_dir() {
                format!("dir {mode:o}")
            } else if meta.file_type().is_symlink() {
                format!("link {}", fs::read_link(e.path()).unwrap().display())
            } else {
                format!(
                    "file {mode:o} {} {}",
                    meta.len(),
                    sha256_hex(&fs::read(e.path()).unwrap())
                )
            };
            out.insert(rel, what);
        }
        out
    }
}

/// The refusal contract (see the module docs); `phrases` must all appear in the
/// `error:` line. Every broken part of the contract is reported at once.
#[track_caller]
fn assert_refused(
    fx: &Fx,
    out: &Output,
    input: &Path,
    phrases: &[&str],
    before: &BTreeMap<PathBuf, String>,
) {
    let err = stderr(out);
    let mut broken = Vec::new();
    if err.contains("panicked") {
        broken.push("regtool panicked".to_string());
    }
    if out.status.code() != Some(1) {
        broken.push(format!(
            "exit code {:?}, expected 1 (input rejected)",
            out.status.code()
        ));
    }
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    if errors.len() != 1 {
        broken.push(format!("{} `error:` lines, expected 1", errors.len()));
    }
    let shown = input.display().to_string();
    match errors.first() {
        None => {}
        Some(line) => {
            if !line.contains(&shown) {
                broken.push(format!("the error line does not name `{shown}`"));
            }
            for p in phrases {
                if !line.contains(p) {
                    broken.push(format!("the error line lacks `{p}`"));
                }
            }
        }
    }
    let diff = changes(fx, before);
    if !diff.is_empty() {
        broken.push(format!(
            "files changed under {}:\n{}",
            fx.dir.path().display(),
            diff.join("\n")
        ));
    }
    assert!(
        broken.is_empty(),
        "refusal contract broken:\n- {}\n{}",
        broken.join("\n- "),
        describe_output(out)
    );
}

/// What changed under the temp dir since `before`.
fn changes(fx: &Fx, before: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let after = fx.snapshot();
    let mut diff = Vec::new();
    for (p, v) in &after {
        match before.get(p) {
            None => diff.push(format!("new:     {} ({v})", p.display())),
            Some(b) if b != v => diff.push(format!("changed: {} ({b} -> {v})", p.display())),
            _ => {}
        }
    }
    for p in before.keys().filter(|p| !after.contains_key(*p)) {
        diff.push(format!("gone:    {}", p.display()));
    }
    diff
}

#[track_caller]
fn assert_unchanged(fx: &Fx, before: &BTreeMap<PathBuf, String>, ctx: &str) {
    let diff = changes(fx, before);
    assert!(
        diff.is_empty(),
        "{ctx}: files changed under {}:\n{}",
        fx.dir.path().display(),
        diff.join("\n")
    );
}

/// Adds `input` and checks the refusal contract.
#[track_caller]
fn refuse(fx: &Fx, input: &Path, phrases: &[&str]) -> Output {
    let before = fx.snapshot();
    let out = fx.add(input, &[]);
    assert_refused(fx, &out, input, phrases, &before);
    out
}

/// A tar header block for a regular file, in ustar (POSIX) format.
fn ustar(path: &str, size: u64) -> Vec<u8> {
    ustar_typed(path.as_bytes(), size, tar::EntryType::Regular)
}

fn ustar_typed(path: &[u8], size: u64, kind: tar::EntryType) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    let name = &mut h.as_ustar_mut().unwrap().name;
    let n = path.len().min(100);
    name[..n].copy_from_slice(&path[..n]);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(kind);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// `data` padded to a whole number of 512-byte blocks.
fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

/// One pax extended header entry (`x`, or `g` for a global one) carrying
/// `records`, as POSIX.1-2001 defines them: `"%d %s=%s\n"`, the length counting
/// itself.
fn pax(records: &[(&str, &str)], global: bool) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in records {
        let rest = format!(" {k}={v}\n");
        let mut n = rest.len() + 1;
        while n.to_string().len() + rest.len() != n {
            n += 1;
        }
        body.extend_from_slice(format!("{n}{rest}").as_bytes());
    }
    let kind = if global {
        tar::EntryType::XGlobalHeader
    } else {
        tar::EntryType::XHeader
    };
    let name: &[u8] = if global {
        b"pax_global_header"
    } else {
        b"PaxHeaders.0/entry"
    };
    let mut out = ustar_typed(name, body.len() as u64, kind);
    out.extend(padded(&body));
    out
}

/// The valid part of the hostile `evil 1.0.0` crate: its `Cargo.toml` and
/// `src/lib.rs`; tests chain their hostile entries after these.
fn evil_base() -> RawTarBuilder {
    RawTarBuilder::new()
        .file(
            "evil-1.0.0/Cargo.toml",
            default_manifest("evil", "1.0.0").as_bytes(),
        )
        .file("evil-1.0.0/src/lib.rs", b"")
}

/// Writes the hostile crate `b` as `inputs/evil-1.0.0.crate`.
fn evil_crate(fx: &Fx, b: RawTarBuilder) -> PathBuf {
    fx.input("evil-1.0.0.crate", &b.build())
}

/// `regtool verify --format json`: exit code and (kind, path) problems.
fn verify(fx: &Fx, deep: bool) -> (Option<i32>, Vec<(String, String, String)>, Output) {
    let mut args = vec!["verify", "--format", "json"];
    if deep {
        args.push("--deep");
    }
    let out = fx.run(args);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify printed no JSON ({e})\n{}", describe_output(&out)));
    let problems = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or("").to_string(),
                p["path"].as_str().unwrap_or("").to_string(),
                p["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    (out.status.code(), problems, out)
}

#[track_caller]
fn assert_verify_clean(fx: &Fx, deep: bool) {
    let (code, problems, out) = verify(fx, deep);
    assert!(
        code == Some(0) && problems.is_empty(),
        "verify is not clean\n{}",
        describe_output(&out)
    );
}

#[track_caller]
fn assert_added(out: &Output, what: &str) {
    assert!(
        !stderr(out).contains("panicked"),
        "{}",
        describe_output(out)
    );
    assert_success(out, what);
}

// ---------------------------------------------------------------------------
// Size caps
// ---------------------------------------------------------------------------

/// A `.crate` for `name` `vers` whose `zeros.bin` claims and holds `zeros`
/// bytes of zeros (in 1 MiB steps).
fn zeros_crate(name: &str, vers: &str, zeros_mib: u64) -> Vec<u8> {
    let top = format!("{name}-{vers}");
    let manifest = default_manifest(name, vers);
    let mut prefix = ustar(&format!("{top}/Cargo.toml"), manifest.len() as u64);
    prefix.extend(padded(manifest.as_bytes()));
    prefix.extend(ustar(&format!("{top}/src/lib.rs"), 0));
    prefix.extend(ustar(&format!("{top}/zeros.bin"), zeros_mib << 20));
    gzip_repeating(&prefix, &vec![0; 1 << 20], zeros_mib, &[0; 1024])
}

#[test]
fn a_gzip_bomb_stops_at_the_unpacked_size_cap() {
    let fx = Fx::new();
    // 2 GiB of zeros in about 2 MB.
    let bomb = zeros_crate("bomb", "1.0.0", 2048);
    assert!(bomb.len() < 4 << 20, "the bomb is {} bytes", bomb.len());
    let input = fx.input("bomb-1.0.0.crate", &bomb);
    let start = Instant::now();
    let out = refuse(&fx, &input, &["--max-unpacked-size"]);
    eprintln!("the 2 GiB bomb was refused in {:?}", start.elapsed());
    let line = stderr(&out);
    // The cap is named: 512 MiB by default.
    assert!(
        ["536870912", "512 MiB", "512MiB"]
            .iter()
            .any(|c| line.contains(c)),
        "the error does not name the cap:\n{line}"
    );
}

#[test]
fn the_unpacked_size_cap_set_by_init_applies_and_add_can_raise_it() {
    let fx = Fx::with(&["--max-unpacked-size", "1MiB"]);
    let input = fx.input("roomy-1.0.0.crate", &zeros_crate("roomy", "1.0.0", 3));
    let out = refuse(&fx, &input, &["--max-unpacked-size"]);
    let err = stderr(&out);
    assert!(
        ["1048576", "1 MiB", "1MiB"].iter().any(|c| err.contains(c)),
        "the error does not name the 1 MiB cap:\n{err}"
    );
    // The bomb too, long before 512 MiB.
    let bomb = fx.input("bomb-1.0.0.crate", &zeros_crate("bomb", "1.0.0", 2048));
    refuse(&fx, &bomb, &["--max-unpacked-size"]);
    fs::remove_file(&bomb).unwrap();
    // A run may raise it.
    let out = fx.add(&input, &["--max-unpacked-size", "8MiB"]);
    assert_added(&out, "add --max-unpacked-size 8MiB");
    assert_eq!(read_index_lines(&fx.root, "roomy").len(), 1);
    assert_verify_clean(&fx, false);
}

/// A `.crate` whose `Cargo.toml` is a valid manifest padded with comment lines
/// to `mib` MiB.
fn big_manifest_crate(name: &str, mib: u64) -> Vec<u8> {
    let top = format!("{name}-1.0.0");
    let head = default_manifest(name, "1.0.0");
    let mut line = vec![b'#'; 1023];
    line.push(b'\n');
    let chunk: Vec<u8> = line.repeat(1024);
    let size = head.len() as u64 + (mib << 20);
    let mut prefix = ustar(&format!("{top}/Cargo.toml"), size);
    prefix.extend_from_slice(head.as_bytes());
    let mut suffix = vec![0u8; ((512 - size % 512) % 512) as usize];
    suffix.extend(ustar(&format!("{top}/src/lib.rs"), 0));
    suffix.extend_from_slice(&[0; 1024]);
    gzip_repeating(&prefix, &chunk, mib, &suffix)
}

#[test]
fn a_100_mb_manifest_is_refused_as_too_large() {
    // Within the 512 MiB unpacked cap.
    let fx = Fx::new();
    let input = fx.input("huge-1.0.0.crate", &big_manifest_crate("huge", 100));
    let out = refuse(&fx, &input, &["Cargo.toml"]);
    let err = stderr(&out);
    assert!(
        err.contains("limit") || err.contains("too large"),
        "the error should say the manifest is too large:\n{err}"
    );
}

#[test]
fn a_100_mb_manifest_past_the_unpacked_cap_is_refused_as_too_large() {
    let fx = Fx::with(&["--max-unpacked-size", "1MiB"]);
    let input = fx.input("huge-1.0.0.crate", &big_manifest_crate("huge", 100));
    let out = refuse(&fx, &input, &[]);
    let err = stderr(&out);
    assert!(
        err.contains("Cargo.toml") || err.contains("--max-unpacked-size"),
        "the error should say the manifest (or the archive) is too large:\n{err}"
    );
}

#[test]
fn a_crate_over_max_crate_size_is_refused_unless_the_run_raises_it() {
    let fx = Fx::new();
    let krate = CrateBuilder::new("heavy", "1.0.0").file("data.bin", noise(11 << 20));
    let bytes = gzip_stored(&krate.build_tar());
    assert!(bytes.len() > 11 << 20);
    let input = fx.input("heavy-1.0.0.crate", &bytes);
    let out = refuse(&fx, &input, &["--max-crate-size"]);
    let err = stderr(&out);
    assert!(
        ["10485760", "10 MiB", "10MiB"]
            .iter()
            .any(|c| err.contains(c)),
        "the error does not name the 10 MiB limit:\n{err}"
    );
    let out = fx.add(&input, &["--max-crate-size", "20MiB"]);
    assert_added(&out, "add --max-crate-size 20MiB");
    let lines = read_index_lines(&fx.root, "heavy");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["cksum"], sha256_hex(&bytes).as_str());
    assert_verify_clean(&fx, false);
}

/// gzip without compression (fast for incompressible data).
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

// ---------------------------------------------------------------------------
// Tar entries
// ---------------------------------------------------------------------------

#[test]
fn a_dot_dot_entry_is_refused() {
    let fx = Fx::new();
    let input = evil_crate(
        &fx,
        evil_base().file("evil-1.0.0/../../escaped.txt", b"gotcha"),
    );
    refuse(&fx, &input, &["evil-1.0.0/../../escaped.txt"]);
    assert!(!fx.dir.path().join("escaped.txt").exists());
}

#[test]
fn a_top_level_dot_dot_entry_is_refused() {
    let fx = Fx::new();
    let input = evil_crate(&fx, evil_base().file("../escaped.txt", b"gotcha"));
    refuse(&fx, &input, &["../escaped.txt"]);
}

/// A path outside the temp dir that must never appear.
fn outside_target(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "regtool-hostile-{tag}-{}-{nanos}",
        std::process::id()
    ))
}

#[test]
fn an_absolute_entry_is_refused() {
    let fx = Fx::new();
    let target = outside_target("abs");
    let entry = format!("{}/escaped.txt", target.display());
    let input = evil_crate(&fx, evil_base().file(&entry, b"gotcha"));
    refuse(&fx, &input, &[&entry]);
    assert!(!target.exists(), "{} was created", target.display());
}

#[test]
fn a_symlink_entry_is_refused() {
    let fx = Fx::new();
    let input = evil_crate(
        &fx,
        evil_base().symlink("evil-1.0.0/src/passwd.rs", "/etc/passwd"),
    );
    refuse(&fx, &input, &["evil-1.0.0/src/passwd.rs", "symlink"]);
}

#[test]
fn a_symlinked_folder_then_a_file_through_it_is_refused() {
    // The classic two-step escape: `dir -> /tmp/x`, then `dir/file`.
    let fx = Fx::new();
    let target = outside_target("link");
    let input = evil_crate(
        &fx,
        evil_base()
            .symlink("evil-1.0.0/out", target.to_str().unwrap())
            .file("evil-1.0.0/out/escaped.txt", b"gotcha"),
    );
    refuse(&fx, &input, &["symlink"]);
    assert!(!target.exists());
}

#[test]
fn a_hardlink_entry_is_refused() {
    let fx = Fx::new();
    let input = evil_crate(
        &fx,
        evil_base().hardlink("evil-1.0.0/src/shadow.rs", "../../../../etc/shadow"),
    );
    refuse(&fx, &input, &["evil-1.0.0/src/shadow.rs", "hardlink"]);
}

#[test]
fn device_and_fifo_entries_are_refused() {
    for (kind, word) in [
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Block, "block device"),
        (tar::EntryType::Fifo, "fifo"),
    ] {
        let fx = Fx::new();
        let input = evil_crate(&fx, evil_base().entry("evil-1.0.0/src/dev", b"", kind));
        refuse(&fx, &input, &[word]);
    }
}

#[test]
fn a_non_utf8_entry_name_is_refused() {
    let fx = Fx::new();
    let input = evil_crate(
        &fx,
        evil_base().file(b"evil-1.0.0/src/\xff\xfe.rs".as_slice(), b""),
    );
    refuse(&fx, &input, &["UTF-8"]);
}

#[test]
fn an_entry_claiming_a_terabyte_is_refused() {
    // The size field says 1 TiB; the archive ends long before.
    let fx = Fx::new();
    let input = evil_crate(
        &fx,
        evil_base().raw_entry(RawEntry {
            path: b"evil-1.0.0/src/big.rs".to_vec(),
            data: b"fn main() {}".to_vec(),
            kind: tar::EntryType::Regular,
            link: None,
            mode: 0o644,
            size: Some(1 << 40),
        }),
    );
    refuse(&fx, &input, &[]);
}

#[test]
fn a_gnu_long_name_with_dot_dot_is_refused() {
    let fx = Fx::new();
    // Over 100 bytes: carried in a GNU long-name record.
    let entry = format!("evil-1.0.0/{}/../../../escaped.txt", "d".repeat(120));
    let input = evil_crate(&fx, evil_base().file(&entry, b"gotcha"));
    refuse(&fx, &input, &["outside"]);
}

/// A `.crate` of `evil 1.0.0` whose extra entry has a harmless ustar name but a
/// pax `path` record (which wins, for every tar reader) leaving the folder.
#[test]
fn a_pax_path_with_dot_dot_is_refused() {
    let fx = Fx::new();
    let manifest = default_manifest("evil", "1.0.0");
    let mut tar = ustar("evil-1.0.0/Cargo.toml", manifest.len() as u64);
    tar.extend(padded(manifest.as_bytes()));
    tar.extend(pax(&[("path", "evil-1.0.0/../../escaped.txt")], false));
    tar.extend(ustar("evil-1.0.0/src/lib.rs", 6));
    tar.extend(padded(b"gotcha"));
    tar.extend_from_slice(&[0; 1024]);
    let input = fx.input("evil-1.0.0.crate", &gzip(&tar));
    refuse(&fx, &input, &["../escaped.txt"]);
}

#[test]
fn pax_extended_headers_are_accepted_like_cargo_accepts_them() {
    let fx = Fx::new();
    let top = "paxed-1.0.0";
    let manifest = default_manifest("paxed", "1.0.0");
    let long = format!(
        "{top}/src/{}/deeply_nested_module_name.rs",
        "nested".repeat(20)
    );
    assert!(long.len() > 100);
    let mut tar = pax(&[("comment", "made by a pax writer")], true);
    // Cargo.toml with a pax header of its own (sub-second mtime, owner names).
    tar.extend(pax(
        &[
            ("mtime", "1700000000.123456789"),
            ("uname", "builder"),
            ("gname", "builder"),
        ],
        false,
    ));
    tar.extend(ustar(&format!("{top}/Cargo.toml"), manifest.len() as u64));
    tar.extend(padded(manifest.as_bytes()));
    tar.extend(ustar(&format!("{top}/src/lib.rs"), 0));
    // A path too long for ustar, carried by pax; the ustar name is a stub.
    let body = b"pub fn deep() {}\n";
    tar.extend(pax(
        &[("path", &long), ("size", &body.len().to_string())],
        false,
    ));
    tar.extend(ustar(&format!("{top}/src/stub.rs"), body.len() as u64));
    tar.extend(padded(body));
    tar.extend_from_slice(&[0; 1024]);
    let bytes = gzip(&tar);
    let input = fx.input("paxed-1.0.0.crate", &bytes);
    let out = fx.add(&input, &[]);
    assert_added(&out, "add of a crate with pax headers");
    let lines = read_index_lines(&fx.root, "paxed");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["cksum"], sha256_hex(&bytes).as_str());
    assert_verify_clean(&fx, true);
}

#[test]
fn pax_path_naming_the_manifest_is_followed() {
    // The ustar name is truncated garbage; the pax path says Cargo.toml. Tar
    // readers (cargo's included) use the pax path, so regtool must too.
    let fx = Fx::new();
    let top = "paxman-1.0.0";
    let manifest = default_manifest("paxman", "1.0.0");
    let mut tar = pax(&[("path", &format!("{top}/Cargo.toml"))], false);
    tar.extend(ustar(&format!("{top}/Cargo.to"), manifest.len() as u64));
    tar.extend(padded(manifest.as_bytes()));
    tar.extend(ustar(&format!("{top}/src/lib.rs"), 0));
    tar.extend_from_slice(&[0; 1024]);
    let input = fx.input("paxman-1.0.0.crate", &gzip(&tar));
    let out = fx.add(&input, &[]);
    assert_added(
        &out,
        "add of a crate whose manifest path is in a pax header",
    );
    assert_eq!(read_index_lines(&fx.root, "paxman").len(), 1);
    assert_verify_clean(&fx, true);
}

#[test]
fn gnu_long_names_are_accepted() {
    // What `cargo package` writes for paths over 100 bytes.
    let fx = Fx::new();
    let krate = CrateBuilder::new("longnames", "1.0.0").file(
        &format!("src/{}/mod.rs", "very_long_folder_name".repeat(8)),
        b"",
    );
    let input = krate.write_to(&fx.inputs);
    let out = fx.add(&input, &[]);
    assert_added(&out, "add of a crate with GNU long names");
    assert_verify_clean(&fx, true);
}

// ---------------------------------------------------------------------------
// Names, versions and manifest limits
// ---------------------------------------------------------------------------

#[test]
fn a_path_traversal_crate_name_is_refused() {
    let fx = Fx::new();
    let manifest = default_manifest("../../etc", "1.0.0");
    let krate = CrateBuilder::new("x", "1.0.0").manifest(manifest);
    let input = fx.input("x-1.0.0.crate", &krate.build());
    refuse(&fx, &input, &["../../etc"]);
    assert!(!fx.dir.path().join("etc").exists());
}

#[test]
fn a_path_traversal_crate_name_matching_its_folder_is_refused() {
    let fx = Fx::new();
    let b = RawTarBuilder::new()
        .file(
            "../../etc-1.0.0/Cargo.toml",
            default_manifest("../../etc", "1.0.0").as_bytes(),
        )
        .file("../../etc-1.0.0/src/lib.rs", b"");
    let input = fx.input("etc-1.0.0.crate", &b.build());
    refuse(&fx, &input, &["../../etc"]);
}

#[test]

fn a_10000_character_version_is_refused() {
    let fx = Fx::new();
    // Valid semver (a pre-release of 9 994 letters), but no file name can hold it.
    let vers = format!("1.0.0-{}", "a".repeat(9994));
    assert_eq!(vers.len(), 10_000);
    let top = format!("longv-{vers}");
    let b = RawTarBuilder::new()
        .file(
            format!("{top}/Cargo.toml"),
            default_manifest("longv", &vers).as_bytes(),
        )
        .file(format!("{top}/src/lib.rs"), b"");
    let input = fx.input("longv.crate", &b.build());
    refuse(&fx, &input, &["version"]);
}

#[test]
fn a_version_with_a_10000_digit_number_is_refused() {
    let fx = Fx::new();
    let vers = format!("1.0.{}", "9".repeat(9996));
    let top = format!("digits-{vers}");
    let b = RawTarBuilder::new()
        .file(
            format!("{top}/Cargo.toml"),
            default_manifest("digits", &vers).as_bytes(),
        )
        .file(format!("{top}/src/lib.rs"), b"");
    let input = fx.input("digits.crate", &b.build());
    refuse(&fx, &input, &["Cargo.toml"]);
}

fn manifest_crate(fx: &Fx, name: &str, extra: &str) -> PathBuf {
    let krate = CrateBuilder::new(name, "1.0.0").manifest_extra(extra);
    fx.input(&krate.file_name(), &krate.build())
}

#[test]
fn a_manifest_with_10000_dependencies_is_refused() {
    let fx = Fx::new();
    let mut extra = String::from("[dependencies]\n");
    for i in 0..10_000 {
        extra.push_str(&format!("dep{i} = \"1\"\n"));
    }
    let input = manifest_crate(&fx, "manydeps", &extra);
    refuse(&fx, &input, &["10000 dependencies", "500"]);
}

#[test]
fn a_manifest_with_10000_features_is_refused() {
    let fx = Fx::new();
    let mut extra = String::from("[features]\n");
    for i in 0..10_000 {
        extra.push_str(&format!("f{i} = []\n"));
    }
    let input = manifest_crate(&fx, "manyfeatures", &extra);
    refuse(&fx, &input, &["10000 features", "3000"]);
}

#[test]
fn a_feature_with_10000_values_is_refused() {
    let fx = Fx::new();
    let values: Vec<String> = (0..10_000).map(|i| format!("\"v{i}\"")).collect();
    let extra = format!("[features]\nbig = [{}]\n", values.join(", "));
    let input = manifest_crate(&fx, "bigfeature", &extra);
    refuse(&fx, &input, &["10000", "300"]);
}

#[test]
fn the_limits_themselves_are_accepted() {
    // 500 dependencies, 3000 features, 300 values: crates.io's own limits.
    let fx = Fx::new();
    let mut extra = String::from("[dependencies]\n");
    for i in 0..500 {
        extra.push_str(&format!("dep{i} = \"1\"\n"));
    }
    extra.push_str("\n[features]\n");
    let values: Vec<String> = (0..300).map(|i| format!("\"f{i}\"")).collect();
    extra.push_str(&format!("big = [{}]\n", values.join(", ")));
    for i in 0..2999 {
        extra.push_str(&format!("f{i} = []\n"));
    }
    let input = manifest_crate(&fx, "atlimits", &extra);
    let out = fx.add(&input, &[]);
    assert_added(&out, "add of a crate at the limits");
    let line = &read_index_lines(&fx.root, "atlimits")[0];
    assert_eq!(line["deps"].as_array().unwrap().len(), 500);
    assert_eq!(line["features"].as_object().unwrap().len(), 3000);
}

// ---------------------------------------------------------------------------
// Broken index files
// ---------------------------------------------------------------------------

#[test]
fn verify_reports_an_index_file_with_invalid_json() {
    let fx = Fx::new();
    let good = CrateBuilder::new("good", "1.0.0").write_to(&fx.inputs);
    assert_added(&fx.add(&good, &[]), "add good");
    // A line cut short, by hand, then a line that is not JSON at all.
    let broken_crate = CrateBuilder::new("broken", "1.0.0").write_to(&fx.inputs);
    assert_added(&fx.add(&broken_crate, &[]), "add broken");
    let path = fx.root.join(index_path("broken"));
    let line = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        format!("{}\nthis is not json\n", &line[..line.len() / 2]),
    )
    .unwrap();

    let (code, problems, out) = verify(&fx, false);
    assert_eq!(code, Some(1), "{}", describe_output(&out));
    assert!(
        !stderr(&out).contains("panicked"),
        "{}",
        describe_output(&out)
    );
    let shown = path.display().to_string();
    let hits: Vec<_> = problems
        .iter()
        .filter(|p| p.1 == shown && (p.0 == "index-line" || p.0.starts_with("index")))
        .collect();
    assert!(
        !hits.is_empty(),
        "verify did not report `{shown}` as an invalid index file: {problems:#?}"
    );
    assert!(
        problems
            .iter()
            .all(|p| p.1 == shown || p.0 == "orphan-crate"),
        "verify blamed other files: {problems:#?}"
    );
    // The text report names the file too.
    let text = fx.run(["verify"]);
    assert_eq!(text.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(&shown),
        "{}",
        describe_output(&text)
    );

    // `add` does not write over an index file it cannot read.
    let next = CrateBuilder::new("broken", "1.1.0").write_to(&fx.inputs);
    let before = fx.snapshot();
    let out = fx.add(&next, &[]);
    assert!(
        !stderr(&out).contains("panicked"),
        "{}",
        describe_output(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    let err = stderr(&out);
    let first = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(
        first.contains(&shown),
        "the error should name the broken index file `{shown}`:\n{err}"
    );
    assert_unchanged(&fx, &before, "after add into a broken index file");

    // Nor do yank and remove.
    for args in [["yank", "broken@1.0.0"], ["remove", "broken@1.0.0"]] {
        let before = fx.snapshot();
        let out = fx.run(args);
        assert!(
            !stderr(&out).contains("panicked"),
            "{}",
            describe_output(&out)
        );
        assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
        assert!(
            stderr(&out).contains(&shown),
            "`regtool {}` should name the broken index file `{shown}`\n{}",
            args.join(" "),
            describe_output(&out)
        );
        assert_unchanged(&fx, &before, &format!("after {}", args.join(" ")));
    }
}

/// The index line `line` with fields regtool does not know, written by hand:
/// `"x-custom":{"a":1}` after `cksum`, and `"x-dep":[true]` at the start of the
/// first dependency; everything else as it was.
fn with_custom_fields(line: &str) -> String {
    let cks = line.find("\"cksum\":\"").expect("cksum");
    let end = cks + line[cks + 9..].find('"').unwrap() + 10;
    let mut s = format!("{},\"x-custom\":{{\"a\":1}}{}", &line[..end], &line[end..]);
    // An unknown field inside the first dependency too.
    if let Some(d) = s.find("\"deps\":[{") {
        s.insert_str(d + 9, "\"x-dep\":[true],");
    }
    s
}

#[test]
fn unknown_fields_are_kept_byte_for_byte() {
    let fx = Fx::new();
    let first = CrateBuilder::new("custom", "1.0.0")
        .manifest_extra("[dependencies.serde]\nversion = \"1\"\n")
        .write_to(&fx.inputs);
    assert_added(&fx.add(&first, &[]), "add custom 1.0.0");
    let path = fx.root.join(index_path("custom"));
    let original = fs::read_to_string(&path).unwrap();
    let custom = with_custom_fields(original.trim_end());
    assert!(custom.contains("\"x-custom\":{\"a\":1}") && custom.contains("\"x-dep\""));
    serde_json::from_str::<Value>(&custom).expect("the hand-written line is JSON");
    fs::write(&path, format!("{custom}\n")).unwrap();
    assert_verify_clean(&fx, false);

    let second = CrateBuilder::new("custom", "1.1.0").write_to(&fx.inputs);
    assert_added(&fx.add(&second, &[]), "add custom 1.1.0");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], custom, "add changed the hand-written line");

    // Yanking another version leaves it alone; yanking it flips only `yanked`.
    assert_added(&fx.run(["yank", "custom@1.1.0"]), "yank custom@1.1.0");
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().next().unwrap(), custom);
    assert_added(&fx.run(["yank", "custom@1.0.0"]), "yank custom@1.0.0");
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        custom.replace("\"yanked\":false", "\"yanked\":true"),
        "yank changed more than `yanked` in the hand-written line"
    );
    assert_verify_clean(&fx, false);

    // reindex keeps the unknown fields (their values at least).
    assert_added(&fx.run(["reindex"]), "reindex");
    let lines = read_index_lines(&fx.root, "custom");
    assert_eq!(
        lines[0]["x-custom"],
        serde_json::json!({"a": 1}),
        "{:?}",
        lines[0]
    );
    assert_eq!(lines[0]["yanked"], Value::Bool(true));
    assert_verify_clean(&fx, false);
}

#[test]
fn the_index_files_of_refused_inputs_stay_byte_for_byte() {
    // A registry with content: a refused add must not touch any of it.
    let fx = Fx::new();
    let a = CrateBuilder::new("present", "1.0.0").write_to(&fx.inputs);
    assert_added(&fx.add(&a, &[]), "add present");
    let files = index_files(&fx.root);
    assert_eq!(files.len(), 1);
    let input = evil_crate(&fx, evil_base().symlink("evil-1.0.0/l", "/"));
    refuse(&fx, &input, &["symlink"]);
    // And a batch with one bad input writes nothing either.
    let good = CrateBuilder::new("present", "1.1.0").write_to(&fx.inputs);
    let before = fx.snapshot();
    let out = fx.run([OsStr::new("add"), good.as_os_str(), input.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    assert!(!stderr(&out).contains("panicked"));
    assert!(stderr(&out).contains(&input.display().to_string()));
    assert_unchanged(&fx, &before, "after a batch with one hostile input");
}

// ---------------------------------------------------------------------------
// What the error line shows of hostile input
// ---------------------------------------------------------------------------

/// Bytes of `stderr` a terminal would act on: control characters other than
/// `\n` and `\t` (ESC starts the sequences that retitle, clear or rewrite a
/// terminal).
fn control_chars(out: &Output) -> Vec<u8> {
    out.stderr
        .iter()
        .copied()
        .filter(|b| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f)
        .collect()
}

/// Control characters from a `.crate` are not echoed raw to the terminal:
/// in the manifest text (invalid TOML, shown in the parse error), in a crate
/// name (valid TOML, invalid name) and in a tar entry path.
#[test]

fn errors_do_not_echo_terminal_escapes_from_the_input() {
    const ESC: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let fx = Fx::new();
    let mut broken = Vec::new();
    let raw_toml = CrateBuilder::new("esc", "1.0.0")
        .manifest_extra(&format!("[package.metadata]\ndescription = \"{ESC}\"\n"));
    let escaped_name = CrateBuilder::new("escname", "1.0.0").manifest(
        "[package]\nname = \"esc\\u001b[2Jname\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
    );
    let inputs = [
        (
            "raw ESC in Cargo.toml",
            fx.input("esc-1.0.0.crate", &raw_toml.build()),
        ),
        (
            "ESC in the crate name",
            fx.input("escname-1.0.0.crate", &escaped_name.build()),
        ),
        (
            "ESC in a tar path",
            fx.input(
                "escpath-1.0.0.crate",
                &evil_base()
                    .file(format!("evil-1.0.0/../{ESC}"), b"")
                    .build(),
            ),
        ),
    ];
    for (what, input) in &inputs {
        let before = fx.snapshot();
        let out = fx.add(input, &[]);
        assert_refused(&fx, &out, input, &[], &before);
        let bad = control_chars(&out);
        if !bad.is_empty() {
            broken.push(format!(
                "{what}: stderr holds control bytes {bad:?}: {:?}",
                stderr(&out)
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// A manifest built to make a parser recurse is refused, and the error line
/// stays short (it names the problem, it does not echo a 200 KB line).
#[test]

fn a_deeply_nested_manifest_gets_a_short_error() {
    let fx = Fx::new();
    let n = 100_000;
    let mut broken = Vec::new();
    for (name, value) in [
        ("deeparr", format!("{}{}", "[".repeat(n), "]".repeat(n))),
        ("deeptab", format!("{}1{}", "{a=".repeat(n), "}".repeat(n))),
    ] {
        let krate = CrateBuilder::new(name, "1.0.0")
            .manifest_extra(&format!("[package.metadata]\nx = {value}\n"));
        let input = fx.input(&krate.file_name(), &krate.build());
        let before = fx.snapshot();
        let out = fx.add(&input, &[]);
        assert_refused(&fx, &out, &input, &["Cargo.toml"], &before);
        let longest = stderr(&out).lines().map(str::len).max().unwrap_or(0);
        if longest > 2000 {
            broken.push(format!("{name}: an error line of {longest} bytes"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The same without the echo problem: nesting in dotted keys.
#[test]
fn deeply_dotted_keys_are_refused() {
    let fx = Fx::new();
    let keys = vec!["a"; 100_000].join(".");
    let krate = CrateBuilder::new("deepdot", "1.0.0")
        .manifest_extra(&format!("[package.metadata]\n{keys} = 1\n"));
    let input = fx.input(&krate.file_name(), &krate.build());
    refuse(&fx, &input, &["Cargo.toml"]);
}
