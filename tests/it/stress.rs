//! A history-checking stress test in the style of Jepsen (issue 17), on a
//! folder and on a bucket.
//!
//! A few jobs (processes, `REGTOOL_STRESS_JOBS`, default 3) run random
//! `add` (one or two versions of one spelling), re-`add` of the same bytes,
//! `yank`, `yank --undo` and `remove` commands at once on crates whose names
//! are one crate for cargo (`foo-bar`, `foo_bar`, `Foo-Bar`) and one other
//! (`qux`), three versions each. Some commands are SIGKILLed at a random
//! moment; some are SIGSTOPped at a random moment for longer than the lease
//! (on a folder: a while) and resumed with SIGCONT. On a bucket every job
//! talks to the S3 server through the [`FaultProxy`], which delays requests,
//! holds one until another job's request completed (a reorder across
//! clients), answers 500 or 503, and closes the connection before or after
//! forwarding (the request landed but the client saw an error). The bucket
//! lives on moto's server run unthreaded ([`MotoServer::unthreaded`]: moto
//! checks a precondition and then writes under no lock, so its threaded
//! server could let two conditional writes both pass; S3 does not).
//!
//! Every command is recorded with its start, its end (after the test reaped
//! the process) and its outcome: *acknowledged* (exit 0), *refused* (exit 1)
//! or *unknown* (killed, or any other exit: it may or may not have taken
//! effect). The run is cut into rounds; between two rounds no job runs, so
//! the state read then is the registry's exact state (a *quiescent point*).
//!
//! # What is checked, and why it is sound
//!
//! At every quiescent point, on the objects read directly (files, or plain
//! HTTP to the S3 server, not through regtool):
//! - invariant 1, per crate (the three spellings are one crate): the state
//!   must be *explained* by the round's history. The model of one crate is
//!   its spelling and its versions with their `yanked` flags; `add` of a
//!   spelling other than the stored one is refused while any version is
//!   stored, else it adds the versions that are missing (a re-add changes
//!   nothing); `yank`/`yank --undo`/`remove` of a version that is not there
//!   are refused. The check searches for an order of the round's commands
//!   that is consistent with real time (a command that ended before another
//!   started comes first; the recorded interval of each command contains the
//!   real one, so this only allows more orders) in which every acknowledged
//!   command takes effect as the model says (it must be allowed there),
//!   every refused command changes nothing, and every unknown command either
//!   takes effect or changes nothing, and which leads from the state at the
//!   round's start to the state at its end. This is linearizability of each
//!   crate's index file (Wing and Gong's search, with a memo of visited
//!   states); it is exactly "the final state is explained by some order of
//!   acknowledged commands consistent with real time plus any subset of the
//!   unknown ones", done per round because each round starts from a state
//!   known exactly. Crates are checked apart because no command touches two.
//!   The model is looser than regtool where regtool refuses more (a name
//!   claim outlives the crate's last version on a bucket; a refused command
//!   is never asked to have been refusable), so it never fails a correct
//!   history; it fails any lost acknowledged change, any change no command
//!   made, and two spellings both acknowledged.
//! - invariant 2: every index line's `.crate` is there with the line's bytes;
//! - invariant 3: one index file per crate, and lines of one name in it;
//! - `.crate` files no line names (orphans) only where an unknown `add` or
//!   `remove` of that version may have left one: a refused or acknowledged
//!   command leaves none.
//!
//! At each quiescent point one more command runs twice, with `--dry-run`
//! and for real (invariant 5): same exit code, same report (`--format json`,
//! but for its `dry_run` flag); when the real one succeeds, the catalogue
//! describes the index by its end (invariant 4: whatever a killed job left
//! pending, the next command finishes). After the last round: `verify --deep`
//! reports nothing but those orphans (and is no I/O error: every listed key
//! is read back, invariant 6); `reindex --dry-run` succeeds (orphans trip
//! no spelling check); then one more `add` runs, after which the catalogue
//! describes the index (invariant 4: its pages, yanked marks and search data;
//! [`catalogue_problems`]).
//!
//! Not checked here: that a refused command was right to refuse (the model
//! does not know every rule; the named tests in `interleavings.rs` and the
//! model test check refusals), and invariant 6 for keys regtool never writes
//! (`%`, `//`, `..`: `interleavings.rs`).
//!
//! # Knobs
//! `REGTOOL_STRESS_SEED` (printed at the start and in every failure;
//! replays the commands and faults each job draws: the interleaving itself
//! depends on timing), `REGTOOL_STRESS_JOBS` (3), `REGTOOL_STRESS_OPS`
//! (commands per job per round, 5), `REGTOOL_STRESS_SECS` (go on with more
//! rounds until this many seconds passed; 0: three rounds). DEVELOPMENT.md
//! shows the long run.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Crate names as packaged: three spellings of one crate, and another crate.
const NAMES: [&str; 4] = ["foo-bar", "foo_bar", "Foo-Bar", "qux"];
/// Names typed at `yank` and `remove` (any spelling finds the crate).
const TYPED: [&str; 6] = ["foo-bar", "foo_bar", "Foo-Bar", "FOO_BAR", "qux", "QUX"];
/// Versions of each crate.
const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "2.0.0"];
/// The lease length the bucket's registry is made with (seconds): short, so
/// that a killed holder's lease is taken over soon, yet with room for a
/// loaded machine (a request the lease's gate let through must land within
/// three quarters of it, a bound the proxy's delays stay well inside).
const LEASE_SECS: u64 = 3;

/// The run's parameters, from the environment (see the module docs).
#[derive(Clone, Debug)]
struct Knobs {
    seed: u64,
    jobs: usize,
    ops: usize,
    duration: Duration,
    /// Chance per command of a SIGKILL, and of a SIGSTOP, per mille.
    kill: u64,
    stop: u64,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

impl Knobs {
    fn from_env(test: &str) -> Knobs {
        let seed = env_number("REGTOOL_STRESS_SEED").unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970");
            t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
        });
        eprintln!("{test}: seed {seed} (REGTOOL_STRESS_SEED={seed} replays it)");
        Knobs {
            seed,
            jobs: env_number("REGTOOL_STRESS_JOBS").unwrap_or(3).max(1) as usize,
            ops: env_number("REGTOOL_STRESS_OPS").unwrap_or(5).max(1) as usize,
            duration: Duration::from_secs(env_number("REGTOOL_STRESS_SECS").unwrap_or(0)),
            kill: 150,
            stop: 50,
        }
    }
}

/// xorshift64* from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let _ = r.next();
        r
    }
    fn next(&mut self) -> u64 {
        next_random(&mut self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn millis(&mut self, max: Duration) -> Duration {
        Duration::from_millis(self.below(max.as_millis() as u64 + 1))
    }
}

/// Every `.crate` of the run, built once: `files[name][version]`.
struct Universe {
    dir: tempfile::TempDir,
    files: Vec<Vec<PathBuf>>,
}

impl Universe {
    fn new() -> Universe {
        let dir = tempdir();
        let files = NAMES
            .iter()
            .map(|n| {
                VERSIONS
                    .iter()
                    .map(|v| CrateBuilder::new(n, v).write_to(dir.path()))
                    .collect()
            })
            .collect();
        Universe { dir, files }
    }
}

/// One command of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cmd {
    /// `add` of these versions of `NAMES[name]` (one `.crate` each).
    Add { name: usize, versions: Vec<usize> },
    /// `yank TYPED[typed]@VERSION` (`--undo`).
    Yank {
        typed: usize,
        version: usize,
        undo: bool,
    },
    /// `remove TYPED[typed]@VERSION`.
    Remove { typed: usize, version: usize },
}

impl Cmd {
    /// A random command; `known` are adds that were acknowledged before:
    /// a re-add picks one of them, and most yanks and removes pick one of
    /// their versions (in any spelling of its crate).
    fn random(rng: &mut Rng, known: &[Cmd]) -> Cmd {
        let target = |rng: &mut Rng| -> (usize, usize) {
            if let Some(Cmd::Add { name, versions }) =
                (!known.is_empty() && rng.chance(750)).then(|| rng.pick_cmd(known))
            {
                let canon = canonical_name(NAMES[name]);
                let spellings: Vec<usize> = (0..TYPED.len())
                    .filter(|&t| canonical_name(TYPED[t]) == canon)
                    .collect();
                let typed = spellings[rng.below(spellings.len() as u64) as usize];
                (typed, versions[rng.below(versions.len() as u64) as usize])
            } else {
                (
                    rng.below(TYPED.len() as u64) as usize,
                    rng.below(VERSIONS.len() as u64) as usize,
                )
            }
        };
        match rng.below(100) {
            0..40 => {
                let name = rng.below(NAMES.len() as u64) as usize;
                let first = rng.below(VERSIONS.len() as u64) as usize;
                let mut versions = vec![first];
                if rng.chance(300) {
                    let second = rng.below(VERSIONS.len() as u64) as usize;
                    if second != first {
                        versions.push(second);
                    }
                }
                Cmd::Add { name, versions }
            }
            40..52 if !known.is_empty() => rng.pick_cmd(known),
            40..70 => {
                let (typed, version) = target(rng);
                Cmd::Yank {
                    typed,
                    version,
                    undo: false,
                }
            }
            70..82 => {
                let (typed, version) = target(rng);
                Cmd::Yank {
                    typed,
                    version,
                    undo: true,
                }
            }
            _ => {
                let (typed, version) = target(rng);
                Cmd::Remove { typed, version }
            }
        }
    }

    /// The arguments after `--registry REG`.
    fn args(&self, universe: &Universe) -> Vec<OsString> {
        match self {
            Cmd::Add { name, versions } => {
                let mut a: Vec<OsString> = vec!["add".into()];
                a.extend(
                    versions
                        .iter()
                        .map(|&v| universe.files[*name][v].clone().into()),
                );
                a
            }
            Cmd::Yank {
                typed,
                version,
                undo,
            } => {
                let mut a: Vec<OsString> = vec![
                    "yank".into(),
                    format!("{}@{}", TYPED[*typed], VERSIONS[*version]).into(),
                ];
                if *undo {
                    a.push("--undo".into());
                }
                a
            }
            Cmd::Remove { typed, version } => vec![
                "remove".into(),
                format!("{}@{}", TYPED[*typed], VERSIONS[*version]).into(),
            ],
        }
    }

    /// The crate it is about (canonical name).
    fn krate(&self) -> String {
        match self {
            Cmd::Add { name, .. } => canonical_name(NAMES[*name]),
            Cmd::Yank { typed, .. } | Cmd::Remove { typed, .. } => canonical_name(TYPED[*typed]),
        }
    }

    /// The versions it is about.
    fn versions(&self) -> Vec<&'static str> {
        match self {
            Cmd::Add { versions, .. } => versions.iter().map(|&v| VERSIONS[v]).collect(),
            Cmd::Yank { version, .. } | Cmd::Remove { version, .. } => vec![VERSIONS[*version]],
        }
    }

    fn show(&self) -> String {
        match self {
            Cmd::Add { name, versions } => {
                let v: Vec<&str> = versions.iter().map(|&v| VERSIONS[v]).collect();
                format!("add {} {}", NAMES[*name], v.join(","))
            }
            Cmd::Yank {
                typed,
                version,
                undo,
            } => format!(
                "yank {}@{}{}",
                TYPED[*typed],
                VERSIONS[*version],
                if *undo { " --undo" } else { "" }
            ),
            Cmd::Remove { typed, version } => {
                format!("remove {}@{}", TYPED[*typed], VERSIONS[*version])
            }
        }
    }

    /// What the command does to its crate in the model; `None` when the
    /// model refuses it.
    fn apply(&self, c: &Krate) -> Option<Krate> {
        let mut c = c.clone();
        match self {
            Cmd::Add { name, versions } => {
                if c.spelling.is_some_and(|s| s != NAMES[*name]) {
                    return None;
                }
                c.spelling = Some(NAMES[*name]);
                for &v in versions {
                    c.versions.entry(VERSIONS[v]).or_insert(false);
                }
            }
            Cmd::Yank { version, undo, .. } => {
                *c.versions.get_mut(VERSIONS[*version])? = !undo;
            }
            Cmd::Remove { version, .. } => {
                c.versions.remove(VERSIONS[*version])?;
                if c.versions.is_empty() {
                    c.spelling = None;
                }
            }
        }
        Some(c)
    }
}

impl Rng {
    fn pick_cmd(&mut self, from: &[Cmd]) -> Cmd {
        from[self.below(from.len() as u64) as usize].clone()
    }
}

/// One crate in the model: its spelling (while it has versions) and its
/// versions with their `yanked` flags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Krate {
    spelling: Option<&'static str>,
    versions: BTreeMap<&'static str, bool>,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// Exit 0: acknowledged.
    Ok,
    /// Exit 1: refused, nothing changed.
    Refused,
    /// Killed, or another exit: it may or may not have taken effect.
    Unknown,
}

impl Exit {
    /// How a command that ended with `status` ended.
    fn of(status: std::process::ExitStatus) -> Exit {
        match status.code() {
            Some(0) => Exit::Ok,
            Some(1) => Exit::Refused,
            _ => Exit::Unknown,
        }
    }
}

/// One command as it ran.
#[derive(Clone, Debug)]
struct Op {
    job: usize,
    cmd: Cmd,
    start: Instant,
    end: Instant,
    exit: Exit,
    /// The exit code or signal, and the fault done to it.
    how: String,
    stderr: String,
}

/// Where the run happens.
enum Backend {
    Folder(TestRegistry),
    Bucket {
        bucket: Bucket,
        proxy: FaultProxy,
        reg: String,
    },
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Folder(_) => "folder",
            Backend::Bucket { .. } => "bucket",
        }
    }

    fn store(&self) -> RawStore {
        match self {
            Backend::Folder(r) => RawStore::Folder(r.root.clone()),
            Backend::Bucket { bucket, .. } => RawStore::bucket(bucket, "r"),
        }
    }

    /// `regtool --registry REG`, for a job (on a bucket through a chaotic
    /// port of the proxy when `chaos`; the port lives as long as the job).
    fn command(&self, job: &str, chaos: bool) -> (Command, Option<Endpoint>) {
        match self {
            Backend::Folder(r) => {
                let mut cmd = regtool();
                cmd.env("SOURCE_DATE_EPOCH", EPOCH)
                    .arg("--registry")
                    .arg(&r.root);
                (cmd, None)
            }
            Backend::Bucket { bucket, proxy, reg } => {
                let ep = if chaos {
                    proxy.chaotic_endpoint(job)
                } else {
                    proxy.endpoint(job)
                };
                let mut cmd = bucket.command_via(&ep);
                cmd.args(["--registry", reg]);
                (cmd, Some(ep))
            }
        }
    }

    /// A command run to completion without faults.
    fn run(&self, args: &[OsString]) -> Output {
        let (mut cmd, _ep) = self.command("check", false);
        cmd.args(args);
        run_with_timeout(cmd, REGTOOL_TIMEOUT)
    }

    /// How long a SIGSTOP lasts: past the lease on a bucket (1.25 L, and
    /// some), a while on a folder.
    fn stop_for(&self) -> Duration {
        match self {
            Backend::Folder(_) => Duration::from_millis(600),
            Backend::Bucket { .. } => Duration::from_millis(LEASE_SECS * 1250 + 750),
        }
    }
}

/// How long acknowledged commands take (a running mean), so that kills and
/// stops land while a command runs, whatever the machine's load.
#[derive(Default)]
struct Timing {
    total_micros: AtomicU64,
    count: AtomicU64,
}

impl Timing {
    fn record(&self, took: Duration) {
        self.total_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The window a fault's moment is drawn from: one and a half times the
    /// mean so far (100 ms until there are a few).
    fn window(&self) -> Duration {
        let n = self.count.load(Ordering::Relaxed);
        if n < 3 {
            return Duration::from_millis(100);
        }
        let mean = self.total_micros.load(Ordering::Relaxed) / n;
        Duration::from_micros(mean * 3 / 2).max(Duration::from_millis(5))
    }
}

/// Runs `cmd` as job `job`, with the fault the job's `rng` draws.
fn run_op(
    backend: &Backend,
    universe: &Universe,
    knobs: &Knobs,
    timing: &Timing,
    job: usize,
    cmd: Cmd,
    rng: &mut Rng,
) -> Op {
    let (window, stop_for) = (timing.window(), backend.stop_for());
    let kill = rng.chance(knobs.kill).then(|| rng.millis(window));
    let stop = (kill.is_none() && rng.chance(knobs.stop)).then(|| rng.millis(window / 2));
    let (mut command, endpoint) = backend.command(&format!("job{job}"), true);
    command.args(cmd.args(universe));
    let start = Instant::now();
    let mut running = Job::spawn(&cmd.show(), command);
    let wait_until = |running: &mut Job, at: Duration| {
        while start.elapsed() < at && !running.exited() {
            thread::sleep(Duration::from_millis(2));
        }
        !running.exited()
    };
    let mut fault = String::new();
    let out = if let Some(at) = kill {
        if wait_until(&mut running, at) {
            fault = format!(", SIGKILL at {at:?}");
            running.kill()
        } else {
            running.finish(REGTOOL_TIMEOUT)
        }
    } else {
        if let Some(at) = stop
            && wait_until(&mut running, at)
        {
            running.signal("STOP");
            thread::sleep(stop_for);
            running.signal("CONT");
            fault = format!(", SIGSTOP at {at:?} for {stop_for:?}");
        }
        running.finish(REGTOOL_TIMEOUT)
    };
    let end = Instant::now();
    drop(endpoint);
    let exit = Exit::of(out.status);
    if exit == Exit::Ok && fault.is_empty() {
        timing.record(end - start);
    }
    Op {
        job,
        cmd,
        start,
        end,
        exit,
        how: format!("{}{fault}", out.status),
        stderr: stderr(&out),
    }
}

/// The crates of a stored state, in the model's terms; an error names what
/// the model cannot hold (two spellings in one crate, an unknown name).
fn crates_of(stored: &Stored) -> Result<BTreeMap<String, Krate>, String> {
    let mut out: BTreeMap<String, Krate> = BTreeMap::new();
    for l in stored.lines() {
        let Some(&name) = NAMES.iter().find(|n| **n == l.name) else {
            if l.name == "zzz" {
                continue;
            }
            return Err(format!("a line of unknown crate {}", l.name));
        };
        let Some(&vers) = VERSIONS.iter().find(|v| **v == l.vers) else {
            return Err(format!("a line of unknown version {} {}", l.name, l.vers));
        };
        let k = out.entry(canonical_name(name)).or_default();
        if k.spelling.is_some_and(|s| s != name) {
            return Err(format!(
                "{} is stored as {} and as {name}",
                canonical_name(name),
                k.spelling.unwrap_or_default()
            ));
        }
        k.spelling = Some(name);
        if k.versions.insert(vers, l.yanked).is_some() {
            return Err(format!("{name} {vers} has two lines"));
        }
    }
    Ok(out)
}

/// Whether some order of `ops` consistent with real time leads from `from`
/// to `to` (see the module docs: acknowledged commands take effect,
/// refused ones do not, unknown ones may).
fn explained(ops: &[&Op], from: &Krate, to: &Krate) -> bool {
    let n = ops.len();
    assert!(
        n <= 128,
        "{n} commands on one crate in one round: too many to search"
    );
    let full: u128 = if n == 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    };
    let mut seen: HashSet<(u128, Krate)> = HashSet::new();
    let mut stack = vec![(0u128, from.clone())];
    while let Some((done, state)) = stack.pop() {
        if done == full {
            if state == *to {
                return true;
            }
            continue;
        }
        if !seen.insert((done, state.clone())) {
            continue;
        }
        let pending = || (0..n).filter(|i| done & (1 << i) == 0);
        let first_end = pending().map(|i| ops[i].end).min().expect("one pending");
        for i in pending().filter(|&i| ops[i].start <= first_end) {
            let next = done | (1 << i);
            let applied = ops[i].cmd.apply(&state);
            match ops[i].exit {
                Exit::Ok => {
                    if let Some(s) = applied {
                        stack.push((next, s));
                    }
                }
                Exit::Refused => stack.push((next, state.clone())),
                Exit::Unknown => {
                    if let Some(s) = applied {
                        stack.push((next, s));
                    }
                    stack.push((next, state.clone()));
                }
            }
        }
    }
    false
}

/// A whole run on one backend: rounds of jobs, the checks at each
/// quiescent point and at the end.
struct Run {
    backend: Arc<Backend>,
    universe: Arc<Universe>,
    knobs: Knobs,
    t0: Instant,
    timing: Arc<Timing>,
    /// Every command so far, with its round.
    history: Vec<(usize, Op)>,
    failures: Vec<String>,
    /// Acknowledged adds so far (a re-add picks one).
    acked_adds: Vec<Cmd>,
}

impl Run {
    fn new(backend: Backend, knobs: Knobs) -> Run {
        Run {
            backend: Arc::new(backend),
            universe: Arc::new(Universe::new()),
            knobs,
            t0: Instant::now(),
            timing: Arc::default(),
            history: Vec::new(),
            failures: Vec::new(),
            acked_adds: Vec::new(),
        }
    }

    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }

    /// Runs every job's commands of `round` at once.
    fn round(&mut self, round: usize) {
        let ops = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..self.knobs.jobs)
            .map(|job| {
                let (backend, universe, knobs, timing, ops) = (
                    self.backend.clone(),
                    self.universe.clone(),
                    self.knobs.clone(),
                    self.timing.clone(),
                    ops.clone(),
                );
                let recent = self.acked_adds.clone();
                thread::spawn(move || {
                    let mut rng = Rng::new(knobs.seed, (round * 1000 + job) as u64);
                    for _ in 0..knobs.ops {
                        let cmd = Cmd::random(&mut rng, &recent);
                        let op = run_op(&backend, &universe, &knobs, &timing, job, cmd, &mut rng);
                        ops.lock().unwrap().push(op);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a job's thread panicked");
        }
        let ops = std::mem::take(&mut *ops.lock().unwrap());
        for op in ops {
            if op.exit == Exit::Ok && matches!(op.cmd, Cmd::Add { .. }) {
                self.acked_adds.push(op.cmd.clone());
            }
            self.history.push((round, op));
        }
    }

    /// The checks at a quiescent point: `before` is the state at the
    /// round's start, `round` the commands since.
    fn check_point(&mut self, round: usize, before: &Stored, after: &Stored) {
        for p in after.lines_without_crates() {
            self.fail(format!("after round {round}: invariant 2: {p}"));
        }
        for p in after.spelling_problems() {
            // Folders holding only orphans an unknown add may have left are
            // judged with the orphans below.
            if !p.contains("crates/ folders") {
                self.fail(format!("after round {round}: invariant 3: {p}"));
            }
        }
        for orphan in after.orphans() {
            if !self.explains_orphan(&orphan) {
                self.fail(format!(
                    "after round {round}: {orphan} is a .crate no line names, and no unknown \
                     command of that version could have left it"
                ));
            }
        }
        let (from, to) = match (crates_of(before), crates_of(after)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => {
                self.fail(format!("after round {round}: {e}"));
                return;
            }
        };
        let names: BTreeSet<String> = NAMES.iter().map(|n| canonical_name(n)).collect();
        for name in names {
            let ops: Vec<&Op> = self
                .history
                .iter()
                .filter(|(r, op)| *r == round && op.cmd.krate() == name)
                .map(|(_, op)| op)
                .collect();
            let (f, t) = (
                from.get(&name).cloned().unwrap_or_default(),
                to.get(&name).cloned().unwrap_or_default(),
            );
            if !explained(&ops, &f, &t) {
                let shown: Vec<String> = ops.iter().map(|o| self.show_op(o)).collect();
                self.fail(format!(
                    "after round {round}: invariant 1: no order of the round's commands on {name} \
                     leads from {f:?} to {t:?}; its commands:\n    {}",
                    shown.join("\n    ")
                ));
            }
        }
    }

    /// Whether an unknown `add` or `remove` of that version may have left
    /// the `.crate` at `key` (`crates/NAME/NAME-VERS.crate`).
    fn explains_orphan(&self, key: &str) -> bool {
        let Some((name, file)) = key.strip_prefix("crates/").and_then(|k| k.split_once('/')) else {
            return false;
        };
        self.history.iter().any(|(_, op)| {
            op.exit == Exit::Unknown
                && op.cmd.krate() == canonical_name(name)
                && op
                    .cmd
                    .versions()
                    .iter()
                    .any(|v| file == format!("{name}-{v}.crate"))
                && match &op.cmd {
                    Cmd::Add { name: n, .. } => NAMES[*n] == name,
                    _ => true,
                }
        })
    }

    /// At a quiescent point: one command with `--dry-run`, then for real
    /// (invariant 5); the real one joins the history of `next_round`.
    fn dry_run_agrees(&mut self, rng: &mut Rng, next_round: usize) {
        let cmd = Cmd::random(rng, &self.acked_adds);
        let mut args: Vec<OsString> = vec!["--format".into(), "json".into()];
        args.extend(cmd.args(&self.universe));
        let mut dry_args = args.clone();
        dry_args.push("--dry-run".into());
        let dry = self.backend.run(&dry_args);
        let start = Instant::now();
        let real = self.backend.run(&args);
        let end = Instant::now();
        let report = |out: &Output| -> Option<serde_json::Value> {
            let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            if let Some(o) = v.as_object_mut() {
                o.remove("dry_run");
            }
            Some(v)
        };
        if dry.status.code() != real.status.code()
            || (real.status.success() && report(&dry) != report(&real))
        {
            self.fail(format!(
                "invariant 5: `{}` with --dry-run and for real disagree\n--- dry run ---\n{}\n--- real ---\n{}",
                cmd.show(),
                describe_output(&dry),
                describe_output(&real)
            ));
        }
        let exit = Exit::of(real.status);
        if exit == Exit::Ok && matches!(cmd, Cmd::Add { .. }) {
            self.acked_adds.push(cmd.clone());
        }
        if exit == Exit::Ok {
            // It ran alone after the round: by its end the catalogue
            // describes the index, whatever a killed job left pending.
            let store = self.backend.store();
            let problems = catalogue_problems(&store, &store.read()).unwrap_or_default();
            for p in problems {
                self.fail(format!(
                    "invariant 4, after `{}` (alone, after round {}): {p}",
                    cmd.show(),
                    next_round - 1
                ));
            }
        }
        self.history.push((
            next_round,
            Op {
                job: usize::MAX,
                cmd,
                start,
                end,
                exit,
                how: format!("{} (after its --dry-run)", real.status),
                stderr: stderr(&real),
            },
        ));
    }

    /// After the last round: `verify --deep`, `reindex --dry-run`, and the
    /// catalogue after one more command.
    fn final_checks(&mut self) {
        let verify_args: Vec<OsString> = ["--format", "json", "verify", "--deep"]
            .map(OsString::from)
            .to_vec();
        let verify = self.backend.run(&verify_args);
        self.check_verify(&verify, "after the run");
        let reindex = self.backend.run(&["reindex".into(), "--dry-run".into()]);
        if !reindex.status.success() {
            self.fail(format!(
                "invariant 3: `reindex --dry-run` trips over what the run left\n{}",
                describe_output(&reindex)
            ));
        }
        let last = CrateBuilder::new("zzz", "1.0.0").write_to(self.universe.dir.path());
        let add = self.backend.run(&["add".into(), last.into()]);
        if !add.status.success() {
            self.fail(format!(
                "a last add after the run failed\n{}",
                describe_output(&add)
            ));
            return;
        }
        let store = self.backend.store();
        let stored = store.read();
        if let Some(problems) = catalogue_problems(&store, &stored) {
            for p in problems {
                self.fail(format!("invariant 4, after one more command: {p}"));
            }
        }
        let verify = self.backend.run(&verify_args);
        self.check_verify(&verify, "after one more command");
    }

    /// `verify --deep` reports nothing but orphans the history explains,
    /// and is no I/O error.
    fn check_verify(&mut self, out: &Output, when: &str) {
        if out.status.code() == Some(2) {
            self.fail(format!(
                "verify --deep {when} failed\n{}",
                describe_output(out)
            ));
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            self.fail(format!(
                "verify --deep {when}: no JSON\n{}",
                describe_output(out)
            ));
            return;
        };
        for p in v["problems"].as_array().cloned().unwrap_or_default() {
            let kind = p["kind"].as_str().unwrap_or_default();
            let path = p["path"].as_str().unwrap_or_default();
            let key = path
                .split_once("/crates/")
                .map(|(_, k)| format!("crates/{k}"))
                .unwrap_or_else(|| path.to_owned());
            if !(kind == "orphan-crate" && self.explains_orphan(&key)) {
                self.fail(format!("verify --deep {when} reports {p}"));
            }
        }
    }

    fn show_op(&self, op: &Op) -> String {
        let ms = |t: Instant| t.duration_since(self.t0).as_millis();
        let job = if op.job == usize::MAX {
            "check".to_owned()
        } else {
            format!("job{}", op.job)
        };
        let last = op.stderr.lines().last().unwrap_or_default();
        format!(
            "[{:>6}..{:>6} ms] {job:>5} {:<28} {:?} ({}) {last}",
            ms(op.start),
            ms(op.end),
            op.cmd.show(),
            op.exit,
            op.how
        )
    }

    /// Panics with every failure, the seed and the history (also written to
    /// a file under the target folder) if there was any failure.
    fn finish(self, test: &str) {
        let mut text = String::new();
        for (round, op) in &self.history {
            let _ = writeln!(text, "round {round}: {}", self.show_op(op));
        }
        let counts = |e: Exit| self.history.iter().filter(|(_, o)| o.exit == e).count();
        let faults = |f: &str| {
            self.history
                .iter()
                .filter(|(_, o)| o.how.contains(f))
                .count()
        };
        eprintln!(
            "{test}: {} commands on a {}: {} acknowledged, {} refused, {} unknown; \
             {} killed, {} stopped and resumed",
            self.history.len(),
            self.backend.name(),
            counts(Exit::Ok),
            counts(Exit::Refused),
            counts(Exit::Unknown),
            faults("SIGKILL"),
            faults("SIGSTOP")
        );
        if self.failures.is_empty() {
            return;
        }
        let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "stress-{}-{}.txt",
            self.backend.name(),
            self.knobs.seed
        ));
        let _ = std::fs::write(&file, format!("{}\n\n{text}", self.failures.join("\n\n")));
        panic!(
            "{test} on a {} (REGTOOL_STRESS_SEED={} replays the commands and faults): {} failure(s):\n\n{}\n\nhistory (also in {}):\n{text}",
            self.backend.name(),
            self.knobs.seed,
            self.failures.len(),
            self.failures.join("\n\n"),
            file.display()
        );
    }
}

/// Runs rounds until the knobs say stop, checking at each quiescent point.
fn stress(backend: Backend, knobs: Knobs, test: &str) {
    let mut run = Run::new(backend, knobs.clone());
    let store = run.backend.store();
    let mut rng = Rng::new(knobs.seed, u64::MAX);
    let mut before = store.read();
    let mut round = 0;
    loop {
        run.round(round);
        let after = store.read();
        run.check_point(round, &before, &after);
        before = after;
        round += 1;
        run.dry_run_agrees(&mut rng, round);
        if round >= 3 && run.t0.elapsed() >= knobs.duration {
            break;
        }
        if !run.failures.is_empty() {
            break;
        }
    }
    // The last dry-run check's real command, alone in its round.
    let after = store.read();
    run.check_point(round, &before, &after);
    run.final_checks();
    run.finish(test);
}

#[test]
fn stress_on_a_folder() {
    let knobs = Knobs::from_env("stress_on_a_folder");
    stress(
        Backend::Folder(TestRegistry::new()),
        knobs,
        "stress_on_a_folder",
    );
}

#[test]
fn stress_on_a_bucket() {
    let Some(moto) = MotoServer::unthreaded("the jobs share a bucket on 127.0.0.1") else {
        return;
    };
    let bucket = moto.bucket();
    let lease = format!("{LEASE_SECS}s");
    let reg = bucket.init("r", &["--lease", &lease]);
    let proxy = bucket.proxy();
    let knobs = Knobs::from_env("stress_on_a_bucket");
    proxy.set_chaos(Some(Chaos {
        seed: knobs.seed,
        delay: 40,
        max_delay: Duration::from_millis(LEASE_SECS * 1000 / 4),
        reorder: 20,
        status_500: 15,
        status_503: 15,
        drop_before: 10,
        drop_after: 10,
    }));
    stress(
        Backend::Bucket { bucket, proxy, reg },
        knobs,
        "stress_on_a_bucket",
    );
}
