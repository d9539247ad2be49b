//! Reliability (issue "Reliability"): regtool under concurrency and crashes.
//!
//! - Concurrency: many `regtool` processes change one registry at the same time
//!   (`add` of different crates and of versions of one shared crate, `yank`,
//!   `yank --undo`, `reindex`, `verify`); afterwards every version is there exactly
//!   once, the yanks that ran are reflected, and `verify` is clean. A process that
//!   waits for the lock says so; a lock left by a killed process never blocks.
//! - Crash safety: `add`, `yank`, `remove` and `reindex` are killed with SIGKILL
//!   at random moments. After each kill the registry must be one a web server can
//!   keep serving: every index file is complete JSON lines ending in `\n`, every
//!   line's `.crate` is there with the line's checksum, `verify` reports at most
//!   orphan `.crate` files; and the next run repairs it so that `verify` is clean.
//!   Every run goes through `umask 077`, and every published file must still be
//!   mode 0644.
//!
//! The random moments come from a seed printed on stderr (`--nocapture` shows
//! it); `REGTOOL_TEST_SEED=N` replays a run.
#![cfg(unix)]

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A registry made by `regtool init` in its own temp dir, with an `inputs/`
/// folder next to it for `.crate` files.
struct Reg {
    _dir: tempfile::TempDir,
    root: PathBuf,
    inputs: PathBuf,
}

impl Reg {
    fn new() -> Reg {
        let dir = tempdir();
        let root = dir.path().join("registry");
        let inputs = dir.path().join("inputs");
        fs::create_dir_all(&inputs).expect("create inputs/");
        let out = run_umask(&[
            OsString::from("init"),
            root.clone().into(),
            "--url".into(),
            URL.into(),
        ]);
        assert_success(&out, "regtool init (umask 077)");
        Reg {
            _dir: dir,
            root,
            inputs,
        }
    }

    /// `--registry ROOT` followed by `rest`.
    fn args<I, S>(&self, rest: I) -> Vec<OsString>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut v = vec![OsString::from("--registry"), self.root.clone().into()];
        v.extend(rest.into_iter().map(|s| s.as_ref().to_owned()));
        v
    }

    /// Writes `krate` into `inputs/{sub}/` and returns its path.
    fn write(&self, sub: &str, krate: &CrateBuilder) -> PathBuf {
        krate.write_to(&self.inputs.join(sub))
    }
}

/// `regtool ARGS` run through `sh -c 'umask 077; exec regtool ARGS'`, so that
/// any file regtool creates without setting its mode explicitly shows up as
/// 0600. `exec` keeps the PID, so killing the child kills regtool itself.
fn umask_command(args: &[OsString]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_regtool"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("REGTOOL_REGISTRY")
        .stdin(Stdio::null());
    cmd
}

/// Runs regtool under `umask 077` to completion (with a timeout).
fn run_umask(args: &[OsString]) -> Output {
    run_with_timeout(umask_command(args), REGTOOL_TIMEOUT)
}

/// Like [`run_umask`], panicking unless it exits 0.
#[track_caller]
fn ok_umask(args: &[OsString]) -> Output {
    let out = run_umask(args);
    assert_success(&out, &show(args));
    out
}

fn show(args: &[OsString]) -> String {
    let v: Vec<_> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("regtool {}", v.join(" "))
}

/// A small deterministic PRNG (xorshift64*): the tests have no `rand`.
struct Rng(u64);

impl Rng {
    /// Seeded from `REGTOOL_TEST_SEED`, else from the clock; the seed is printed.
    fn new(test: &str) -> Rng {
        let seed = std::env::var("REGTOOL_TEST_SEED")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or_else(|| {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock after 1970");
                t.as_nanos() as u64 ^ (std::process::id() as u64) << 32
            });
        eprintln!("{test}: seed {seed} (REGTOOL_TEST_SEED={seed} replays it)");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `n` incompressible bytes, so that a `.crate` has real weight.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// One index line as found on disk.
#[derive(Debug, Clone)]
struct Line {
    /// The index file, relative to the registry root.
    file: String,
    /// The raw line, without its `\n`.
    raw: String,
    name: String,
    vers: String,
    cksum: String,
    yanked: bool,
}

/// Reads every index file, panicking (with `ctx`) unless each one is complete:
/// non-empty, UTF-8, ending in `\n`, no blank line, every line a JSON object with
/// `name`, `vers`, `cksum` and `yanked`, sitting at its name's path.
#[track_caller]
fn read_all_lines(root: &Path, ctx: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    for rel in index_files(root) {
        let bytes = fs::read(root.join(&rel)).unwrap_or_else(|e| panic!("{ctx}: read {rel}: {e}"));
        assert!(!bytes.is_empty(), "{ctx}: index file {rel} is empty");
        assert!(
            bytes.ends_with(b"\n"),
            "{ctx}: index file {rel} does not end in a newline (truncated?): {:?}",
            String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(200)..])
        );
        let text = std::str::from_utf8(&bytes)
            .unwrap_or_else(|e| panic!("{ctx}: index file {rel} is not UTF-8: {e}"));
        for (i, raw) in text[..text.len() - 1].split('\n').enumerate() {
            let v: Value = serde_json::from_str(raw).unwrap_or_else(|e| {
                panic!(
                    "{ctx}: {rel} line {} is not complete JSON ({e}): {raw}",
                    i + 1
                )
            });
            let field = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{ctx}: {rel} line {}: no `{k}`: {raw}", i + 1))
                    .to_string()
            };
            let name = field("name");
            assert_eq!(
                index_path(&name),
                rel,
                "{ctx}: line for `{name}` in the wrong file"
            );
            lines.push(Line {
                file: rel.clone(),
                raw: raw.to_string(),
                vers: field("vers"),
                cksum: field("cksum"),
                yanked: v
                    .get("yanked")
                    .and_then(Value::as_bool)
                    .unwrap_or_else(|| panic!("{ctx}: {rel}: no boolean `yanked`: {raw}")),
                name,
            });
        }
    }
    lines
}

/// Where the `.crate` of a line lives: `crates/{name}/{name}-{vers}.crate`,
/// where `config.json`'s `dl` template points.
fn crate_path(root: &Path, name: &str, vers: &str) -> PathBuf {
    root.join("crates")
        .join(name)
        .join(format!("{name}-{vers}.crate"))
}

/// Every line points at a complete `.crate`: present, and its SHA-256 is the
/// line's `cksum`.
#[track_caller]
fn assert_lines_have_their_crates(root: &Path, lines: &[Line], ctx: &str) {
    for l in lines {
        let p = crate_path(root, &l.name, &l.vers);
        let bytes = fs::read(&p).unwrap_or_else(|e| {
            panic!(
                "{ctx}: the index line of {} v{} (in {}) points at a missing .crate `{}`: {e}",
                l.name,
                l.vers,
                l.file,
                p.display()
            )
        });
        assert_eq!(
            sha256_hex(&bytes),
            l.cksum,
            "{ctx}: `{}` is partial or other bytes than its index line says",
            p.display()
        );
    }
}

/// Each (name, vers) in `lines` at most once; returns the count per version.
#[track_caller]
fn versions(lines: &[Line], ctx: &str) -> BTreeMap<(String, String), usize> {
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for l in lines {
        *seen.entry((l.name.clone(), l.vers.clone())).or_default() += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "{ctx}: versions listed twice: {dups:?}");
    seen
}

/// Published entries (outside `.regtool/`, not dot files) whose mode is not
/// 0644 for a file or 0755 for a folder, as `"MODE path"`.
fn wrong_modes(root: &Path, folders: bool) -> Vec<String> {
    let mut bad = Vec::new();
    for e in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".regtool"))
    {
        let e = e.expect("walk the registry");
        // Temp files and folders (`.regtool-tmp-*`) are not published: cargo never
        // asks for them, and `reindex` removes those a killed run left behind.
        if e.file_name().to_string_lossy().starts_with(".regtool-tmp-") {
            continue;
        }
        let want = if e.file_type().is_dir() && folders {
            0o755
        } else if e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with('.') {
            0o644
        } else {
            continue;
        };
        let mode = e.metadata().expect("stat").permissions().mode() & 0o777;
        if mode != want {
            bad.push(format!("{mode:o} {}", e.path().display()));
        }
    }
    bad
}

/// Every published file has mode 0644, and (with `folders`) every folder 0755,
/// although regtool ran under umask 077.
#[track_caller]
fn assert_modes(root: &Path, folders: bool, ctx: &str) {
    let bad = wrong_modes(root, folders);
    assert!(
        bad.is_empty(),
        "{ctx}: published with the wrong mode (regtool ran under umask 077):\n{}",
        bad.join("\n")
    );
}

/// Files 0644, folders 0755.
#[track_caller]
fn assert_published_modes(root: &Path, ctx: &str) {
    assert_modes(root, true, ctx);
}

/// `regtool verify ROOT --format json`: exit code and (kind, path) of each problem.
fn verify(root: &Path) -> (Option<i32>, Vec<(String, String, String)>, Output) {
    let out = run_regtool([
        OsStr::new("verify"),
        root.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON report ({e})\n{}",
            describe_output(&out)
        )
    });
    let problems = report["problems"]
        .as_array()
        .expect("problems array")
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or("?").to_string(),
                p["path"].as_str().unwrap_or("?").to_string(),
                p["message"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    (out.status.code(), problems, out)
}

#[track_caller]
fn assert_verify_clean(root: &Path, ctx: &str) {
    let (code, problems, out) = verify(root);
    assert!(
        code == Some(0) && problems.is_empty(),
        "{ctx}: `regtool verify` is not clean\n{}",
        describe_output(&out)
    );
}

/// After a kill: the registry a web server would serve is consistent. Returns
/// the lines and the orphan `.crate` paths `verify` reported.
#[track_caller]
fn check_after_kill(root: &Path, ctx: &str) -> (Vec<Line>, Vec<String>) {
    let lines = read_all_lines(root, ctx);
    assert_lines_have_their_crates(root, &lines, ctx);
    versions(&lines, ctx);
    // Folders: see `a_killed_run_leaves_no_folder_unreadable`.
    assert_modes(root, false, ctx);
    // A killed run may also leave the catalogue behind the index, with its
    // pending work recorded (the next command finishes it: see the
    // callers' `assert_verify_clean` after a rerun).
    let (code, problems, out) = verify(root);
    let others: Vec<_> = problems
        .iter()
        .filter(|p| p.0 != "orphan-crate" && p.0 != "catalogue")
        .collect();
    assert!(
        others.is_empty(),
        "{ctx}: `regtool verify` found more than orphan .crate files and pending catalogue work: {others:#?}\n{}",
        describe_output(&out)
    );
    let want = if problems.is_empty() { 0 } else { 1 };
    let orphans: Vec<String> = problems
        .into_iter()
        .filter(|p| p.0 == "orphan-crate")
        .map(|p| p.1)
        .collect();
    assert_eq!(
        code,
        Some(want),
        "{ctx}: verify's exit code\n{}",
        describe_output(&out)
    );
    (lines, orphans)
}

/// Files regtool left next to published files (`.regtool-tmp-*`), which a web
/// server would serve.
fn stray_temp_files(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".regtool"))
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_type().is_file() && e.file_name().to_string_lossy().starts_with(".regtool-tmp")
        })
        .map(|e| e.into_path())
        .collect()
}

/// Killed runs may leave `.regtool-tmp-*` files next to published files; the
/// next `reindex` removes them (and changes nothing else: `verify` stays clean).
#[track_caller]
fn assert_reindex_cleans_up(reg: &Reg, test: &str) {
    let before = stray_temp_files(&reg.root);
    eprintln!(
        "{test}: {} temp files left by killed runs before the final reindex",
        before.len()
    );
    ok_umask(&reg.args(["reindex"]));
    let stray = stray_temp_files(&reg.root);
    assert!(
        stray.is_empty(),
        "{test}: temp files left after reindex: {stray:?}"
    );
    assert_verify_clean(&reg.root, &format!("{test}, after the final reindex"));
    assert_modes(&reg.root, false, test);
}

/// Spawns `cmd`, sleeps `delay`, then SIGKILLs it (`Child::kill`). Returns
/// whether it was still running when killed, and how it ended.
fn kill_after(mut cmd: Command, delay: Duration) -> (bool, ExitStatus) {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn regtool");
    thread::sleep(delay);
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let status = child.wait().expect("wait for the killed regtool");
    (running, status)
}

/// How long `cmd` takes to run to completion (it must exit 0).
fn time_ok(cmd: Command, what: &str) -> Duration {
    let start = Instant::now();
    let out = run_with_timeout(cmd, REGTOOL_TIMEOUT);
    assert_success(&out, what);
    start.elapsed()
}

/// Where the kills land: a delay uniform in `0..=window`, the window starting
/// at 1.25 times a full run and adapting to how long runs take right now (the
/// machine may be busy): it grows after a kill that landed while regtool ran
/// and shrinks after one that came too late. Also counts what the kills left.
struct Kills {
    window: Duration,
    runs: usize,
    killed_running: usize,
    /// What the kills left, by kind (`untouched`, `partial`, `complete`...).
    outcomes: BTreeMap<&'static str, usize>,
}

impl Kills {
    fn new(full_run: Duration) -> Kills {
        Kills {
            window: full_run + full_run / 4,
            runs: 0,
            killed_running: 0,
            outcomes: BTreeMap::new(),
        }
    }

    /// Spawns `cmd` and SIGKILLs it after a random delay; returns whether it
    /// was still running.
    fn kill(&mut self, cmd: Command, rng: &mut Rng) -> bool {
        let delay = Duration::from_micros(rng.below(self.window.as_micros() as u64 + 1));
        let (running, _) = kill_after(cmd, delay);
        self.runs += 1;
        if running {
            self.killed_running += 1;
            self.window = self.window * 11 / 10;
        } else {
            self.window = (self.window * 3 / 4).max(Duration::from_millis(2));
        }
        running
    }

    fn outcome(&mut self, what: &'static str) {
        *self.outcomes.entry(what).or_default() += 1;
    }

    fn report(&self, test: &str) {
        eprintln!(
            "{test}: {} runs, {} killed while running (final kill window {:?}); left: {:?}",
            self.runs, self.killed_running, self.window, self.outcomes
        );
        // A kill that always lands after the process ended tests nothing.
        assert!(
            self.killed_running * 4 >= self.runs,
            "{test}: only {} of {} kills landed while regtool ran",
            self.killed_running,
            self.runs
        );
    }
}

/// A crate with `extra` bytes of incompressible data, so reading and copying
/// it takes a moment.
fn weighty(name: &str, vers: &str, rng: &mut Rng, extra: usize) -> CrateBuilder {
    CrateBuilder::new(name, vers).file("data.bin", rng.bytes(extra))
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

/// Runs `jobs` (each a list of regtool argument lists run one after another)
/// on one thread each, all starting together; returns each job's outputs.
fn run_concurrently(jobs: Vec<Vec<Vec<OsString>>>) -> Vec<Vec<(Vec<OsString>, Output)>> {
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|cmds| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                cmds.into_iter()
                    .map(|args| {
                        let out = run_umask(&args);
                        (args, out)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("worker thread"))
        .collect()
}

#[test]
fn concurrent_adds_keep_every_version_exactly_once() {
    const PROCS: usize = 8;
    const BATCH: usize = 5;
    let reg = Reg::new();
    let mut expected: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut jobs = Vec::new();
    let everyone = CrateBuilder::new("everyone", "1.0.0");
    for p in 0..PROCS {
        // 25 crates per process: 16 crates of its own, 5 versions of a crate of
        // its own, 3 versions of `shared` (every process adds some), and the
        // same `everyone 1.0.0` as every other process.
        let mut crates = vec![everyone.clone()];
        for k in 0..3 {
            crates.push(CrateBuilder::new("shared", &format!("{p}.{k}.0")));
        }
        for k in 0..5 {
            crates.push(CrateBuilder::new(&format!("own{p}"), &format!("1.0.{k}")));
        }
        for j in 0..16 {
            crates.push(
                CrateBuilder::new(&format!("p{p}-c{j}"), "0.1.0")
                    .file("src/lib.rs", format!("pub const P: usize = {p}; // {j}\n")),
            );
        }
        assert_eq!(crates.len(), 25);
        // Interleave so that `shared` and `own{p}` versions land in different
        // `add` runs of this process.
        crates.sort_by_key(|c| (c.name().len() * 7 + c.version().len()) % BATCH);
        let mut cmds = Vec::new();
        for chunk in crates.chunks(BATCH) {
            let paths: Vec<PathBuf> = chunk
                .iter()
                .map(|c| {
                    let path = reg.write(&format!("p{p}"), c);
                    expected.insert(
                        (c.name().to_string(), c.version().to_string()),
                        sha256_hex(&fs::read(&path).unwrap()),
                    );
                    path
                })
                .collect();
            let mut args = vec![OsString::from("add")];
            args.extend(paths.into_iter().map(OsString::from));
            cmds.push(reg.args(args));
        }
        jobs.push(cmds);
    }

    for (args, out) in run_concurrently(jobs).into_iter().flatten() {
        assert_success(&out, &show(&args));
        assert!(
            !stderr(&out).contains("panicked"),
            "{}",
            describe_output(&out)
        );
    }

    let lines = read_all_lines(&reg.root, "after concurrent adds");
    assert_lines_have_their_crates(&reg.root, &lines, "after concurrent adds");
    let seen = versions(&lines, "after concurrent adds");
    let got: BTreeSet<_> = seen.keys().cloned().collect();
    let want: BTreeSet<_> = expected.keys().cloned().collect();
    assert_eq!(
        got.symmetric_difference(&want).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "versions lost or invented by concurrent adds"
    );
    for l in &lines {
        assert_eq!(
            &l.cksum,
            &expected[&(l.name.clone(), l.vers.clone())],
            "cksum of {} v{}",
            l.name,
            l.vers
        );
        assert!(!l.yanked);
    }
    assert_eq!(lines.len(), 1 + PROCS * 24);
    assert_published_modes(&reg.root, "after concurrent adds");
    assert_verify_clean(&reg.root, "after concurrent adds");
}

#[test]
fn concurrent_add_yank_reindex_and_verify_stay_consistent() {
    let reg = Reg::new();
    // Seed: `base` 1.0.0 ..= 1.0.11, which the yankers work on.
    let seed: Vec<PathBuf> = (0..12)
        .map(|k| reg.write("seed", &CrateBuilder::new("base", &format!("1.0.{k}"))))
        .collect();
    let mut args = vec![OsString::from("add")];
    args.extend(seed.iter().map(OsString::from));
    ok_umask(&reg.args(args));
    let pubtimes: BTreeMap<String, String> = read_index_lines(&reg.root, "base")
        .iter()
        .map(|v| {
            (
                v["vers"].as_str().unwrap().to_string(),
                v["pubtime"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();

    let mut expected: BTreeSet<(String, String)> = (0..12)
        .map(|k| ("base".into(), format!("1.0.{k}")))
        .collect();
    let mut jobs: Vec<Vec<Vec<OsString>>> = Vec::new();
    // 4 adders: 6 new crates each, and new versions of `base`, 3 files per run.
    for a in 0..4 {
        let mut crates = Vec::new();
        for j in 0..6 {
            crates.push(CrateBuilder::new(&format!("mix{a}-{j}"), "0.1.0"));
            crates.push(CrateBuilder::new("base", &format!("2.{a}.{j}")));
        }
        let cmds = crates
            .chunks(3)
            .map(|chunk| {
                let mut args = vec![OsString::from("add")];
                for c in chunk {
                    expected.insert((c.name().into(), c.version().into()));
                    args.push(reg.write(&format!("adder{a}"), c).into());
                }
                reg.args(args)
            })
            .collect();
        jobs.push(cmds);
    }
    // 2 yankers, 6 seed versions each. Version k gets 1 + k % 3 operations,
    // alternating yank / undo, so it ends yanked unless k % 3 == 1.
    let mut final_yanked: BTreeMap<String, bool> = BTreeMap::new();
    let mut yank_ops: Vec<Vec<(String, bool)>> = vec![Vec::new(), Vec::new()];
    for (y, ops) in yank_ops.iter_mut().enumerate() {
        for round in 0..3 {
            for k in (y * 6)..(y * 6 + 6) {
                if round < 1 + k % 3 {
                    ops.push((format!("1.0.{k}"), round % 2 == 1));
                }
            }
        }
        for k in (y * 6)..(y * 6 + 6) {
            final_yanked.insert(format!("1.0.{k}"), k % 3 != 1);
        }
    }
    for ops in &yank_ops {
        jobs.push(
            ops.iter()
                .map(|(v, undo)| {
                    let mut a = vec![
                        "--format".to_string(),
                        "json".into(),
                        "yank".into(),
                        format!("base@{v}"),
                    ];
                    if *undo {
                        a.push("--undo".into());
                    }
                    reg.args(a)
                })
                .collect(),
        );
    }
    // 1 reindexer.
    jobs.push((0..4).map(|_| reg.args(["reindex"])).collect());
    let n_jobs = jobs.len();

    // Meanwhile a reader runs `verify` in a loop: it may see a .crate whose line
    // is not written yet (an orphan), never anything worse.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let root = reg.root.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let (_, problems, out) = verify(&root);
                let bad: Vec<_> = problems.iter().filter(|p| p.0 != "orphan-crate").collect();
                assert!(
                    bad.is_empty(),
                    "a concurrent `verify` saw a broken registry: {bad:#?}\n{}",
                    describe_output(&out)
                );
                rounds += 1;
            }
            rounds
        })
    };
    let results = run_concurrently(jobs);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = reader
        .join()
        .expect("the verify loop saw a broken registry");
    eprintln!("concurrent verify ran {rounds} times");
    assert_eq!(results.len(), n_jobs);

    for (i, job) in results.iter().enumerate() {
        for (args, out) in job {
            assert_success(out, &show(args));
            assert!(
                !stderr(out).contains("panicked"),
                "{}",
                describe_output(out)
            );
            if (4..6).contains(&i) {
                // Each yank ran alone on its version, so each one changed it.
                let r: Value = serde_json::from_slice(&out.stdout)
                    .unwrap_or_else(|e| panic!("yank JSON ({e}): {}", describe_output(out)));
                let undo = args.iter().any(|a| a == "--undo");
                assert_eq!(r["yanked"], Value::Bool(!undo), "{}", describe_output(out));
                assert_eq!(r["changed"], Value::Bool(true), "{}", describe_output(out));
            }
        }
    }

    let lines = read_all_lines(&reg.root, "after the mixed run");
    assert_lines_have_their_crates(&reg.root, &lines, "after the mixed run");
    let seen = versions(&lines, "after the mixed run");
    let got: BTreeSet<_> = seen.keys().cloned().collect();
    assert_eq!(
        got.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "versions lost or invented"
    );
    for l in &lines {
        let want = l.name == "base" && final_yanked.get(&l.vers).copied().unwrap_or(false);
        assert_eq!(
            l.yanked, want,
            "{} v{}: `yanked` does not reflect the yanks that ran",
            l.name, l.vers
        );
        if let Some(t) = pubtimes.get(&l.vers).filter(|_| l.name == "base") {
            assert!(
                l.raw.contains(&format!("\"pubtime\":\"{t}\"")),
                "{} v{}: pubtime changed: {}",
                l.name,
                l.vers,
                l.raw
            );
        }
    }
    assert_published_modes(&reg.root, "after the mixed run");
    assert_verify_clean(&reg.root, "after the mixed run");
}

#[test]
fn concurrent_adds_of_one_crate_under_different_spellings_keep_one() {
    // `Same-Name`, `same_name`, `SAME-name`...: one crate (names equal after
    // lowercasing and `-`/`_` are one, as for cargo and crates.io). Each
    // lives at its own index path, so only the lock and the re-check under it
    // keep two of them from getting in.
    let reg = Reg::new();
    let spellings = [
        "Same-Name",
        "same_name",
        "SAME-NAME",
        "same-name",
        "Same_Name",
        "sAmE-nAmE",
    ];
    let jobs = spellings
        .iter()
        .map(|s| {
            let input = reg.write(s, &CrateBuilder::new(s, "1.0.0"));
            vec![reg.args([OsStr::new("add"), input.as_os_str()])]
        })
        .collect();
    let results: Vec<(Vec<OsString>, Output)> =
        run_concurrently(jobs).into_iter().flatten().collect();
    let winners: Vec<&(Vec<OsString>, Output)> =
        results.iter().filter(|(_, o)| o.status.success()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one spelling must get in: {:#?}",
        results
            .iter()
            .map(|(a, o)| format!("{}: {}", show(a), describe_output(o)))
            .collect::<Vec<_>>()
    );
    let lines = read_all_lines(&reg.root, "after the spelling race");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let winner = &lines[0].name;
    for (args, out) in &results {
        assert!(
            !stderr(out).contains("panicked"),
            "{}",
            describe_output(out)
        );
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1), "{}", describe_output(out));
            assert!(
                stderr(out).contains(&format!("`{winner}`")),
                "`{}` should name the existing `{winner}`\n{}",
                show(args),
                describe_output(out)
            );
        }
    }
    assert_eq!(index_files(&reg.root).len(), 1);
    assert_verify_clean(&reg.root, "after the spelling race");
}

/// Reads `child`'s stderr on a thread, sending each line.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for `child` to exit (killing it after `timeout`).
fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("regtool still running after {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn open_lock(root: &Path) -> fs::File {
    let path = root.join(".regtool").join("lock");
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

#[test]
fn a_waiting_add_says_so_and_proceeds_once_the_lock_is_free() {
    let reg = Reg::new();
    let input = reg.write("in", &CrateBuilder::new("waiter", "1.0.0"));
    let lock = open_lock(&reg.root);
    lock.lock().expect("take the registry lock");

    let mut cmd = regtool();
    cmd.args(reg.args([OsStr::new("add"), input.as_os_str()]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn regtool add");
    let lines = stderr_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let message = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains("waiting for file lock") => break l,
            Ok(l) => seen.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!("no `waiting for file lock` line on stderr; got: {seen:#?}");
            }
        }
    };
    assert!(
        message.contains(".regtool/lock"),
        "the waiting message should name the lock file: {message}"
    );
    // It really waits: still running, nothing published.
    thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "regtool add did not wait for the lock"
    );
    assert!(
        !reg.root.join(index_path("waiter")).exists(),
        "regtool add wrote the index while another process held the lock"
    );

    lock.unlock().expect("release the lock");
    drop(lock);
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(
        status.success(),
        "regtool add failed after the lock was freed: {rest:#?}"
    );
    assert!(rest.iter().all(|l| !l.contains("panicked")), "{rest:#?}");
    let lines = read_index_lines(&reg.root, "waiter");
    assert_eq!(lines.len(), 1);
    assert_verify_clean(&reg.root, "after the waiting add");
}

/// A raw tar header block (GNU format) for a regular file.
fn tar_header(path: &str, size: u64) -> [u8; 512] {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).expect("tar path");
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    *h.as_bytes()
}

/// A valid `.crate` of `name` `vers` whose `zeros.bin` holds `mib` MiB of
/// zeros: a few KB on disk, slow to read.
fn zeros_crate(name: &str, vers: &str, mib: u64) -> Vec<u8> {
    let top = format!("{name}-{vers}");
    let manifest = default_manifest(name, vers);
    let mut prefix = Vec::new();
    prefix.extend_from_slice(&tar_header(
        &format!("{top}/Cargo.toml"),
        manifest.len() as u64,
    ));
    prefix.extend_from_slice(manifest.as_bytes());
    prefix.resize(prefix.len().div_ceil(512) * 512, 0);
    prefix.extend_from_slice(&tar_header(&format!("{top}/src/lib.rs"), 0));
    prefix.extend_from_slice(&tar_header(&format!("{top}/zeros.bin"), mib << 20));
    gzip_repeating(&prefix, &vec![0; 1 << 20], mib, &[0; 1024])
}

#[test]
fn a_lock_left_by_a_killed_regtool_never_blocks() {
    let reg = Reg::new();
    // `reindex` holds the lock while it reads every .crate; crates that inflate
    // to a lot of zeros keep it busy long enough to be caught holding it.
    let dir = reg.root.join("crates").join("slow");
    fs::create_dir_all(&dir).unwrap();
    for k in 0..3 {
        let vers = format!("1.0.{k}");
        let bytes = zeros_crate("slow", &vers, 200);
        fs::write(dir.join(format!("slow-{vers}.crate")), bytes).unwrap();
    }
    let lock = open_lock(&reg.root);
    let mut caught = false;
    for attempt in 0..5 {
        let mut cmd = regtool();
        cmd.args(reg.args(["reindex"]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn reindex");
        let start = Instant::now();
        // Poll until the lock is held by someone else (the reindex).
        loop {
            match lock.try_lock() {
                Err(fs::TryLockError::WouldBlock) => {
                    caught = true;
                    break;
                }
                Err(fs::TryLockError::Error(e)) => panic!("try_lock: {e}"),
                Ok(()) => lock.unlock().unwrap(),
            }
            if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill();
        child.wait().unwrap();
        if caught {
            eprintln!("killed reindex holding the lock (attempt {attempt})");
            break;
        }
    }
    assert!(caught, "never saw reindex holding the lock");

    let input = reg.write("in", &CrateBuilder::new("after-kill", "1.0.0"));
    let start = Instant::now();
    let out = regtool_ok(reg.args([OsStr::new("add"), input.as_os_str()]));
    let took = start.elapsed();
    assert!(
        !stderr(&out).contains("waiting for file lock"),
        "the lock of a killed process blocked the next add:\n{}",
        describe_output(&out)
    );
    assert!(took < Duration::from_secs(30), "add took {took:?}");
    assert_eq!(read_index_lines(&reg.root, "after-kill").len(), 1);
    // And the killed reindex's work can be finished.
    ok_umask(&reg.args(["reindex"]));
    assert_verify_clean(&reg.root, "after the killed reindex and a new one");
}

// ---------------------------------------------------------------------------
// Crash safety
// ---------------------------------------------------------------------------

/// Runs per crash test (4 tests).
const CRASH_RUNS: usize = 16;

#[test]
fn killed_add_leaves_a_consistent_registry_and_a_rerun_repairs_it() {
    let test = "killed_add";
    let mut rng = Rng::new(test);
    let reg = Reg::new();
    let batch = |run: usize, rng: &mut Rng| -> Vec<CrateBuilder> {
        let mut v: Vec<CrateBuilder> = (0..6)
            .map(|j| weighty(&format!("k{run}-{j}"), "0.1.0", rng, 160 * 1024))
            .collect();
        // New versions of a crate whose index file every run rewrites.
        v.push(weighty("crashy", &format!("0.{run}.0"), rng, 64 * 1024));
        v.push(weighty("crashy", &format!("0.{run}.1"), rng, 64 * 1024));
        v
    };
    let add_args = |dir: &Path| reg.args([OsStr::new("add"), dir.as_os_str()]);

    // Calibrate: how long does a whole add take here?
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for c in batch(0, &mut rng) {
        reg.write("run0", &c);
        expected.insert((c.name().into(), c.version().into()));
    }
    let full = time_ok(
        umask_command(&add_args(&reg.inputs.join("run0"))),
        "add run0",
    );

    let mut stats = Kills::new(full);
    for run in 1..=CRASH_RUNS {
        let ctx = format!("{test} run {run}");
        let crates = batch(run, &mut rng);
        let dir = reg.inputs.join(format!("run{run}"));
        for c in &crates {
            reg.write(&format!("run{run}"), c);
            expected.insert((c.name().into(), c.version().into()));
        }
        stats.kill(umask_command(&add_args(&dir)), &mut rng);

        let (lines, orphans) = check_after_kill(&reg.root, &ctx);
        let listed = crates
            .iter()
            .filter(|c| {
                lines
                    .iter()
                    .any(|l| l.name == c.name() && l.vers == c.version())
            })
            .count();
        let files = crates
            .iter()
            .filter(|c| crate_path(&reg.root, c.name(), c.version()).exists())
            .count();
        stats.outcome(match (listed, files) {
            (0, 0) => "untouched",
            (l, _) if l == crates.len() => "complete",
            (0, _) => "orphans only",
            _ => "partly indexed",
        });
        // Repair: even runs reindex first (indexing the orphans), then every run
        // adds the same files again.
        if run % 2 == 0 {
            ok_umask(&reg.args(["reindex"]));
            assert_verify_clean(
                &reg.root,
                &format!("{ctx}, after reindex (orphans were {orphans:?})"),
            );
        }
        ok_umask(&add_args(&dir));
        assert_verify_clean(
            &reg.root,
            &format!("{ctx}, after the rerun (orphans were {orphans:?})"),
        );
        let lines = read_all_lines(&reg.root, &ctx);
        let got: BTreeSet<_> = versions(&lines, &ctx).into_keys().collect();
        assert_eq!(got, expected, "{ctx}: versions after the repair");
        assert_modes(&reg.root, false, &ctx);
    }
    stats.report(test);
    assert_reindex_cleans_up(&reg, test);
}

#[test]
fn killed_yank_changes_one_flag_or_nothing() {
    let test = "killed_yank";
    let mut rng = Rng::new(test);
    let reg = Reg::new();
    let mut args = vec![OsString::from("add")];
    for k in 0..40 {
        args.push(
            reg.write("seed", &CrateBuilder::new("yanky", &format!("1.{k}.0")))
                .into(),
        );
    }
    ok_umask(&reg.args(args));
    let path = reg.root.join(index_path("yanky"));
    let yank_args = |k: u64, undo: bool| {
        let mut a = vec!["yank".to_string(), format!("yanky@1.{k}.0")];
        if undo {
            a.push("--undo".into());
        }
        reg.args(a)
    };
    let full = time_ok(umask_command(&yank_args(0, false)), "yank");
    ok_umask(&yank_args(0, true));
    let mut yanked = [false; 40];

    let mut stats = Kills::new(full);
    for run in 1..=CRASH_RUNS * 2 {
        let ctx = format!("{test} run {run}");
        let k = rng.below(40);
        let undo = yanked[k as usize];
        let before = fs::read_to_string(&path).unwrap();
        stats.kill(umask_command(&yank_args(k, undo)), &mut rng);

        let (_, orphans) = check_after_kill(&reg.root, &ctx);
        assert!(
            orphans.is_empty(),
            "{ctx}: orphans after a yank: {orphans:?}"
        );
        let after = fs::read_to_string(&path).unwrap();
        stats.outcome(if after == before {
            "unchanged"
        } else {
            "flipped"
        });
        let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
        assert_eq!(b.len(), a.len(), "{ctx}: lines added or lost");
        for (i, (lb, la)) in b.iter().zip(&a).enumerate() {
            if i as u64 == k && lb != la {
                // Yanked before iff this run undoes a yank.
                let flipped = lb.replace(
                    &format!("\"yanked\":{undo}"),
                    &format!("\"yanked\":{}", !undo),
                );
                assert_eq!(
                    *la, flipped,
                    "{ctx}: the yanked line changed more than its flag"
                );
            } else {
                assert_eq!(lb, la, "{ctx}: line {} changed", i + 1);
            }
        }
        // The same command, run again, finishes the job.
        ok_umask(&yank_args(k, undo));
        yanked[k as usize] = !undo;
        let lines = read_index_lines(&reg.root, "yanky");
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(
                l["yanked"],
                Value::Bool(yanked[i]),
                "{ctx}: yanked of line {}",
                i + 1
            );
        }
        assert_verify_clean(&reg.root, &ctx);
    }
    stats.report(test);
    assert_reindex_cleans_up(&reg, test);
}

#[test]
fn killed_remove_leaves_at_most_an_orphan_and_is_repaired() {
    let test = "killed_remove";
    let mut rng = Rng::new(test);
    let reg = Reg::new();
    let mut args = vec![OsString::from("add")];
    for k in 0..=CRASH_RUNS {
        args.push(
            reg.write(
                "seed",
                &weighty("remo", &format!("1.{k}.0"), &mut rng, 32 * 1024),
            )
            .into(),
        );
        args.push(
            reg.write(
                "seed",
                &weighty(&format!("solo{k}"), "1.0.0", &mut rng, 32 * 1024),
            )
            .into(),
        );
    }
    ok_umask(&reg.args(args));
    let remove_args = |spec: &str| reg.args(["remove", spec]);
    let full = time_ok(umask_command(&remove_args("remo@1.0.0")), "remove");

    let mut stats = Kills::new(full);
    for run in 1..=CRASH_RUNS {
        let ctx = format!("{test} run {run}");
        // Odd runs remove the only version of a crate (index file and folder go).
        let (name, vers) = if run % 2 == 0 {
            ("remo".to_string(), format!("1.{run}.0"))
        } else {
            (format!("solo{run}"), "1.0.0".to_string())
        };
        let spec = format!("{name}@{vers}");
        stats.kill(umask_command(&remove_args(&spec)), &mut rng);

        let (lines, orphans) = check_after_kill(&reg.root, &ctx);
        let listed = lines.iter().any(|l| l.name == name && l.vers == vers);
        let file = crate_path(&reg.root, &name, &vers);
        stats.outcome(match (listed, file.exists()) {
            (true, true) => "untouched",
            (false, true) => "line gone, file left",
            (false, false) => "removed",
            (true, false) => "line left, file gone",
        });
        let allowed: Vec<String> = vec![file.to_string_lossy().into_owned()];
        assert!(
            orphans.iter().all(|o| allowed.contains(o)),
            "{ctx}: unexpected orphans {orphans:?}"
        );
        if listed {
            // Not removed yet: the same command does it.
            ok_umask(&remove_args(&spec));
        } else if file.exists() {
            // The line went, the file stayed: reindex brings the line back, then
            // the remove can run again.
            ok_umask(&reg.args(["reindex"]));
            assert_verify_clean(&reg.root, &format!("{ctx}, after reindex"));
            assert!(
                read_index_lines(&reg.root, &name)
                    .iter()
                    .any(|l| l["vers"] == vers.as_str()),
                "{ctx}: reindex did not index the orphan {}",
                file.display()
            );
            ok_umask(&remove_args(&spec));
        }
        assert!(!file.exists(), "{ctx}: {} still there", file.display());
        let lines = read_all_lines(&reg.root, &ctx);
        assert!(
            !lines.iter().any(|l| l.name == name && l.vers == vers),
            "{ctx}: {spec} still listed"
        );
        assert_verify_clean(&reg.root, &ctx);
    }
    stats.report(test);
    assert_reindex_cleans_up(&reg, test);
}

#[test]
fn killed_reindex_loses_nothing_and_a_rerun_finishes_it() {
    let test = "killed_reindex";
    let mut rng = Rng::new(test);
    let reg = Reg::new();
    // Indexed crates, two of them yanked: reindex must keep that.
    let mut args = vec![OsString::from("add")];
    for k in 0..6 {
        args.push(
            reg.write(
                "seed",
                &weighty("kept", &format!("1.{k}.0"), &mut rng, 64 * 1024),
            )
            .into(),
        );
    }
    ok_umask(&reg.args(args));
    ok_umask(&reg.args(["yank", "kept@1.1.0"]));
    ok_umask(&reg.args(["yank", "kept@1.4.0"]));
    let yanked_before: BTreeMap<String, bool> = read_index_lines(&reg.root, "kept")
        .iter()
        .map(|l| {
            (
                l["vers"].as_str().unwrap().to_string(),
                l["yanked"].as_bool().unwrap(),
            )
        })
        .collect();

    // Drops `.crate` files into crates/ the way a migration does: some where
    // cargo downloads them from, some elsewhere under crates/ (reindex moves
    // those). Returns the (name, vers, where it was dropped).
    let drop_batch = |run: usize, rng: &mut Rng| -> Vec<(String, String, PathBuf)> {
        (0..6)
            .map(|j| {
                let name = format!("ri{run}-{j}");
                let c = weighty(&name, "0.1.0", rng, 96 * 1024);
                let at = if j % 2 == 0 {
                    crate_path(&reg.root, &name, "0.1.0")
                } else {
                    reg.root
                        .join("crates")
                        .join("incoming")
                        .join(format!("upload-{run}-{j}.crate"))
                };
                let dir = at.parent().unwrap();
                fs::create_dir_all(dir).unwrap();
                fs::set_permissions(dir, PermissionsExt::from_mode(0o755)).unwrap();
                fs::write(&at, c.build()).unwrap();
                fs::set_permissions(&at, PermissionsExt::from_mode(0o644)).unwrap();
                (name, "0.1.0".to_string(), at)
            })
            .collect()
    };
    drop_batch(0, &mut rng);
    let full = time_ok(umask_command(&reg.args(["reindex"])), "reindex");
    let mut expected: BTreeSet<(String, String)> = read_all_lines(&reg.root, "calibration")
        .into_iter()
        .map(|l| (l.name, l.vers))
        .collect();

    let mut stats = Kills::new(full);
    for run in 1..=CRASH_RUNS {
        let ctx = format!("{test} run {run}");
        let dropped = drop_batch(run, &mut rng);
        stats.kill(umask_command(&reg.args(["reindex"])), &mut rng);

        let (lines, _) = check_after_kill(&reg.root, &ctx);
        let indexed = dropped
            .iter()
            .filter(|(n, v, _)| lines.iter().any(|l| &l.name == n && &l.vers == v))
            .count();
        let moved = dropped
            .iter()
            .filter(|(n, v, at)| !at.exists() && crate_path(&reg.root, n, v).exists())
            .count();
        stats.outcome(match (indexed, moved) {
            (0, 0) => "untouched",
            (i, _) if i == dropped.len() => "complete",
            (0, _) => "moved, not indexed",
            _ => "partly indexed",
        });
        // No dropped file is lost: it is where it was dropped or where it belongs.
        for (name, vers, at) in &dropped {
            let home = crate_path(&reg.root, name, vers);
            assert!(
                at.exists() || home.exists(),
                "{ctx}: {name} v{vers} vanished (dropped at {})",
                at.display()
            );
        }
        ok_umask(&reg.args(["reindex"]));
        assert_verify_clean(&reg.root, &format!("{ctx}, after the rerun"));
        expected.extend(dropped.iter().map(|(n, v, _)| (n.clone(), v.clone())));
        let lines = read_all_lines(&reg.root, &ctx);
        let got: BTreeSet<_> = versions(&lines, &ctx).into_keys().collect();
        assert_eq!(got, expected, "{ctx}: versions after the rerun");
        for l in lines.iter().filter(|l| l.name == "kept") {
            assert_eq!(
                l.yanked, yanked_before[&l.vers],
                "{ctx}: kept v{} yanked flag",
                l.vers
            );
        }
        assert_modes(&reg.root, false, &ctx);
    }
    stats.report(test);
    assert_reindex_cleans_up(&reg, test);
}

#[test]

fn a_killed_run_leaves_no_folder_unreadable() {
    // Every run creates new folders (index folders and crates/NAME/); kills
    // land while they are made. A folder must never be left unreadable to the
    // web server: not right after the kill, and not after the next run.
    let test = "killed_add_folders";
    let mut rng = Rng::new(test);
    let reg = Reg::new();
    let batch = |run: usize| -> Vec<PathBuf> {
        (0..12)
            .map(|j| {
                reg.write(
                    &format!("f{run}"),
                    &CrateBuilder::new(&format!("f{run}x{j}"), "1.0.0"),
                )
            })
            .collect()
    };
    let add_args = |run: usize| {
        reg.args([
            OsString::from("add"),
            reg.inputs.join(format!("f{run}")).into(),
        ])
    };
    batch(0);
    let full = time_ok(umask_command(&add_args(0)), "add f0");
    let mut stats = Kills::new(full);
    // Each wrong folder with the run that first showed it.
    let mut after_kill: BTreeMap<String, usize> = BTreeMap::new();
    let mut after_rerun: BTreeMap<String, usize> = BTreeMap::new();
    for run in 1..=40 {
        batch(run);
        stats.kill(umask_command(&add_args(run)), &mut rng);
        let bad = wrong_modes(&reg.root, true);
        stats.outcome(if bad.is_empty() {
            "all 0755"
        } else {
            "a folder not 0755"
        });
        for b in bad {
            after_kill.entry(b).or_insert(run);
        }
        ok_umask(&add_args(run));
        for b in wrong_modes(&reg.root, true) {
            after_rerun.entry(b).or_insert(run);
        }
    }
    stats.report(test);
    let show = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(b, run)| format!("{b} (from run {run})"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        after_kill.is_empty() && after_rerun.is_empty(),
        "folders left unreadable right after a kill:\n{}\n...and still after the next add, through run 40:\n{}",
        show(&after_kill),
        show(&after_rerun)
    );
}

#[test]
fn files_published_under_umask_077_are_0644() {
    let reg = Reg::new();
    let a = reg.write("in", &CrateBuilder::new("modes", "1.0.0"));
    let b = reg.write("in", &CrateBuilder::new("modes", "1.1.0"));
    ok_umask(&reg.args([OsStr::new("add"), a.as_os_str(), b.as_os_str()]));
    ok_umask(&reg.args(["yank", "modes@1.0.0"]));
    ok_umask(&reg.args(["remove", "modes@1.1.0"]));
    ok_umask(&reg.args(["reindex"]));
    assert_published_modes(
        &reg.root,
        "after init, add, yank, remove, reindex under umask 077",
    );
    let cfg = fs::metadata(reg.root.join("config.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(cfg, 0o644, "config.json");
}

#[test]
fn folders_published_under_umask_077_are_0755() {
    let reg = Reg::new();
    let a = reg.write("in", &CrateBuilder::new("dirmode", "1.0.0"));
    ok_umask(&reg.args([OsStr::new("add"), a.as_os_str()]));
    assert_published_modes(&reg.root, "after init and add under umask 077");
}

#[test]

fn a_crate_file_reindex_publishes_is_0644() {
    let reg = Reg::new();
    // A migration copies .crate files in with whatever mode they had: one where
    // cargo downloads it from, one elsewhere (reindex moves it).
    let placed = crate_path(&reg.root, "placed", "1.0.0");
    let moved = reg.root.join("crates").join("incoming").join("x.crate");
    for (at, name) in [(&placed, "placed"), (&moved, "moved")] {
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::write(at, CrateBuilder::new(name, "1.0.0").build()).unwrap();
        fs::set_permissions(at, fs::Permissions::from_mode(0o600)).unwrap();
    }
    ok_umask(&reg.args(["reindex"]));
    assert_verify_clean(&reg.root, "after reindex");
    let mut bad = Vec::new();
    for name in ["placed", "moved"] {
        let home = crate_path(&reg.root, name, "1.0.0");
        let mode = fs::metadata(&home).unwrap().permissions().mode() & 0o777;
        if mode != 0o644 {
            bad.push(format!("{mode:o} {}", home.display()));
        }
    }
    assert!(
        bad.is_empty(),
        ".crate files indexed by reindex that a web server cannot read:\n{}",
        bad.join("\n")
    );
}
