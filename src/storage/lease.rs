//! The registry's lease: the writers' lock of a registry kept in object
//! storage, where no OS lock reaches. Floor 2 (`storage`).
//!
//! The lease is one object (`.regtool/lease`, never served) holding a
//! [`Record`]: its state (held or free), its holder (host, pid and a random
//! id), a generation (one more on every take), the lease length, and the wall
//! time it was taken (for messages only). Every write of it is conditional, so
//! that of two writers racing for it exactly one wins:
//!
//! - **take**: create-only (`If-None-Match: *`) where there is none;
//!   `If-Match` on the ETag of a free one;
//! - **renew**: `If-Match` on the ETag of the last write, every quarter of
//!   the lease, from a thread beside the work (each renewal changes the
//!   bytes, so the ETag moves while the holder lives);
//! - **release**: written free (`If-Match`), not deleted;
//! - **take over**: a held lease whose ETag stayed the same for the lease and
//!   a quarter more, measured on the taker's own monotonic clock (clocks of CI
//!   runners disagree, and the server's time is not at hand), is taken with
//!   `If-Match` on that ETag.
//!
//! The holder may write until half the lease has passed since it *sent* its
//! last successful write of the lease ([`Lease::check`], called before every
//! write; after that the lease is lost for good). A taker takes over at the
//! earliest the lease and a quarter after it first *saw* that write, so a
//! write the holder checked in time has three quarters of the lease to reach
//! the store before anyone else may write. A conditional write that came
//! back as a conflict may be our own retried write that landed: the lease is
//! read back and compared before giving up.
//!
//! Source: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html>.

use super::{LockEvents, LockGuard, Precondition, Revision, Unlocked, Waiting};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where a lease is kept: one object, read with its revision, written only
/// under a precondition.
pub(crate) trait LeaseObject: Send + Sync + Debug {
    /// Where the object is, for messages.
    fn locate(&self) -> PathBuf;

    /// Its bytes and revision; `None` if there is none.
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    fn read(&self) -> Result<Option<(Vec<u8>, Revision)>>;

    /// Writes `bytes` if `pre` holds; says whether it did (with the new
    /// revision where the store tells it).
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    fn write(&self, bytes: &[u8], pre: &Precondition) -> Result<Written>;
}

/// What [`LeaseObject::write`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Written; its new revision, where the store told it.
    Done(Option<Revision>),
    /// The precondition failed.
    Conflict,
}

/// How often the holder renews: a quarter of the lease.
fn renew_every(length: Duration) -> Duration {
    length / 4
}

/// How long after sending its last successful write of the lease the holder
/// may still write: half the lease.
fn write_window(length: Duration) -> Duration {
    length / 2
}

/// How long a taker watches an unchanged held lease before it takes it
/// over: the lease and a quarter.
fn stale_after(length: Duration) -> Duration {
    length + length / 4
}

/// How soon a waiting writer reads the lease again the first time after it
/// changed.
const FIRST_POLL: Duration = Duration::from_millis(50);

/// How often, at most, a waiting writer reads the lease again.
fn poll_every(length: Duration) -> Duration {
    (length / 8).clamp(Duration::from_millis(100), Duration::from_secs(2))
}

/// Whether a lease is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum State {
    Held,
    Free,
}

/// Who holds (or last held) a lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    /// Random, new for every take: tells two processes of one pid apart.
    id: String,
}

/// The content of the lease object (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Record {
    state: State,
    holder: Holder,
    /// One more on every take (fresh or over a stale holder).
    generation: u64,
    /// The holder's lease length, in seconds.
    lease_seconds: u64,
    /// When the holder took it (RFC 3339, its own clock): for messages only.
    since: String,
    /// One more on every renewal, so that each renewal changes the ETag.
    #[serde(default)]
    renewal: u64,
}

impl Record {
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a lease serializes");
        v.push(b'\n');
        v
    }

    fn parse(obj: &dyn LeaseObject, bytes: &[u8]) -> Result<Record> {
        serde_json::from_slice(bytes).map_err(|e| Error::Lock {
            path: obj.locate(),
            message: format!(
                "not a regtool lease ({e}); if no regtool is writing, `regtool unlock --force` replaces it"
            ),
        })
    }

    /// `HOST (pid N, since T)`.
    fn describe(&self) -> String {
        format!(
            "{} (pid {}, since {})",
            self.holder.host, self.holder.pid, self.since
        )
    }

    fn length(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }
}

/// This process as a lease holder, with a fresh id.
fn me() -> Result<Holder> {
    let mut id = [0u8; 12];
    getrandom::fill(&mut id).map_err(|e| Error::Lock {
        path: PathBuf::from("the lease"),
        message: format!("no randomness for the holder id: {e}"),
    })?;
    Ok(Holder {
        host: hostname(),
        pid: std::process::id(),
        id: id.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

fn hostname() -> String {
    #[cfg(unix)]
    {
        let uts = rustix::system::uname();
        let name = uts.nodename().to_string_lossy().into_owned();
        if !name.is_empty() {
            return name;
        }
    }
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Writes `record` if `pre` holds; on a conflict reads the object back,
/// since a write the client retried after a lost answer comes back as a
/// conflict although it landed. The new revision, or `None` when another
/// writer's write stands.
fn put(obj: &dyn LeaseObject, record: &Record, pre: &Precondition) -> Result<Option<Revision>> {
    let bytes = record.to_bytes();
    match obj.write(&bytes, pre)? {
        Written::Done(Some(rev)) => Ok(Some(rev)),
        Written::Done(None) | Written::Conflict => match obj.read()? {
            Some((now, rev)) if now == bytes => Ok(Some(rev)),
            _ => Ok(None),
        },
    }
}

/// A held lease, shared by the writer (its [`Lease::check`]), the renewal
/// thread and the storage's request gate.
#[derive(Debug)]
pub(crate) struct Lease {
    obj: Arc<dyn LeaseObject>,
    length: Duration,
    held: Mutex<Held>,
    stop: Mutex<bool>,
    wake: Condvar,
}

#[derive(Debug)]
struct Held {
    record: Record,
    revision: Revision,
    /// When the last successful write of the lease was sent.
    renewed_at: Instant,
    /// Why the lease is lost, once it is (for good).
    lost: Option<String>,
}

impl Lease {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Ok` while the lease is held with time to spare (less than half the
    /// lease since the last renewal was sent); from the first failure on,
    /// always the error.
    ///
    /// # Errors
    /// [`Error::Lock`] naming the lease and why it was lost.
    pub(crate) fn check(&self) -> Result<()> {
        let mut held = self.held();
        if held.lost.is_none() && held.renewed_at.elapsed() > write_window(self.length) {
            held.lost = Some(format!(
                "this process did not renew it for {:.1}s (paused, or the store did not answer), so another writer may take it over; nothing more is written",
                held.renewed_at.elapsed().as_secs_f64()
            ));
        }
        match &held.lost {
            None => Ok(()),
            Some(why) => Err(Error::Lock {
                path: self.obj.locate(),
                message: format!("the registry lease was lost: {why}"),
            }),
        }
    }

    /// The generation of this holding.
    #[cfg(test)]
    fn generation(&self) -> u64 {
        self.held().record.generation
    }

    /// One renewal: `If-Match` on the last revision, with the next renewal
    /// count. `Ok(false)` when another writer holds the lease now.
    fn renew(&self) -> Result<bool> {
        let (record, revision) = {
            let held = self.held();
            if held.lost.is_some() {
                return Ok(false);
            }
            let mut r = held.record.clone();
            r.renewal += 1;
            (r, held.revision.clone())
        };
        let sent = Instant::now();
        match put(
            self.obj.as_ref(),
            &record,
            &Precondition::Unchanged(revision),
        )? {
            Some(rev) => {
                let mut held = self.held();
                if held.lost.is_none() {
                    held.record = record;
                    held.revision = rev;
                    held.renewed_at = sent;
                }
                Ok(true)
            }
            None => {
                let why = match self.obj.read() {
                    Ok(Some((bytes, _))) => match Record::parse(self.obj.as_ref(), &bytes) {
                        Ok(r) if r.state == State::Free => {
                            "it was freed meanwhile (`regtool unlock`)".to_string()
                        }
                        Ok(r) => format!("it was taken over by {}", r.describe()),
                        Err(_) => "it was replaced by something that is not a lease".into(),
                    },
                    _ => "it was deleted".into(),
                };
                self.held().lost = Some(why);
                Ok(false)
            }
        }
    }

    /// The renewal loop (in its own thread): renews every quarter of the
    /// lease; after a failed request, retries soon, until the lease is lost.
    fn renew_loop(&self) {
        let mut wait = renew_every(self.length);
        loop {
            let stop = self
                .stop
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (stop, _) = self
                .wake
                .wait_timeout_while(stop, wait, |s| !*s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *stop {
                return;
            }
            drop(stop);
            if self.check().is_err() {
                return;
            }
            wait = match self.renew() {
                Ok(true) => renew_every(self.length),
                Ok(false) => return,
                Err(_) => poll_every(self.length),
            };
        }
    }

    /// Writes the lease free (`If-Match`), unless it is lost.
    fn release(&self) {
        let (mut record, revision) = {
            let held = self.held();
            if held.lost.is_some() {
                return;
            }
            (held.record.clone(), held.revision.clone())
        };
        record.state = State::Free;
        record.renewal += 1;
        let _ = put(
            self.obj.as_ref(),
            &record,
            &Precondition::Unchanged(revision),
        );
        self.held().lost = Some("it was released".into());
    }
}

/// A held lease as the registry's lock guard: renewed by a thread of its own
/// while it lives, released (written free) when dropped.
#[derive(Debug)]
pub(crate) struct LeaseGuard {
    lease: Arc<Lease>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl LeaseGuard {
    /// The lease, for a gate that checks it before every request.
    pub(crate) fn lease(&self) -> Arc<Lease> {
        self.lease.clone()
    }
}

impl LockGuard for LeaseGuard {
    fn check(&self) -> Result<()> {
        self.lease.check()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        *self
            .lease
            .stop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.lease.wake.notify_all();
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        self.lease.release();
    }
}

/// A held lease another writer holds, as watched by a taker: its revision
/// and when that revision was first seen here.
struct Watch {
    revision: Revision,
    since: Instant,
}

/// What one look at the lease found.
enum Look {
    /// Taken: the new holding.
    Taken(Record, Revision, Instant),
    /// Another writer holds it: its record, and how long until it is stale.
    Held(Record, Duration),
    /// Another writer wrote it meanwhile: look again at once.
    Again,
}

/// Takes the lease kept in `obj` for a writer of lease length `length`:
/// at once when there is none or it is free; else waits (telling `events`
/// once, at most [`LockEvents::patience`]) until its holder releases it or it
/// turns stale and is taken over. Starts the renewal thread.
///
/// # Errors
/// [`Error::Lock`] when the wait timed out (naming the holder) or the object
/// is not a lease; [`Error::Io`].
pub(crate) fn take(
    obj: Arc<dyn LeaseObject>,
    length: Duration,
    events: &dyn LockEvents,
) -> Result<LeaseGuard> {
    let me = me()?;
    let (record, revision, sent) = wait_for(obj.as_ref(), length, events, |seen| {
        let generation = seen.map_or(0, |r| r.generation) + 1;
        Record {
            state: State::Held,
            holder: me.clone(),
            generation,
            lease_seconds: length.as_secs().max(1),
            since: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
            renewal: 0,
        }
    })?;
    let lease = Arc::new(Lease {
        obj,
        length,
        held: Mutex::new(Held {
            record,
            revision,
            renewed_at: sent,
            lost: None,
        }),
        stop: Mutex::new(false),
        wake: Condvar::new(),
    });
    let for_thread = lease.clone();
    let renewer = std::thread::Builder::new()
        .name("regtool-lease".into())
        .spawn(move || for_thread.renew_loop())
        .map_err(|e| Error::io("start the renewal of", lease.obj.locate(), e))?;
    Ok(LeaseGuard {
        lease,
        renewer: Some(renewer),
    })
}

/// Frees the lease in `obj` (see [`super::Storage::unlock`]).
///
/// # Errors
/// [`Error::Lock`] when the holder renews it while it is watched, or the wait
/// timed out; [`Error::Io`].
pub(crate) fn unlock(
    obj: &dyn LeaseObject,
    force: bool,
    length: Duration,
    events: &dyn LockEvents,
) -> Result<Unlocked> {
    let Some((bytes, first_rev)) = obj.read()? else {
        return Ok(Unlocked::WasFree);
    };
    let record = match Record::parse(obj, &bytes) {
        Ok(r) => r,
        Err(e) if !force => return Err(e),
        Err(_) => {
            // Not a lease at all: --force replaces it with a free one.
            let free = Record {
                state: State::Free,
                holder: me()?,
                generation: 0,
                lease_seconds: length.as_secs().max(1),
                since: String::new(),
                renewal: 0,
            };
            return match put(obj, &free, &Precondition::Unchanged(first_rev))? {
                Some(_) => Ok(Unlocked::Freed {
                    holder: "an object that was not a lease".into(),
                }),
                None => Err(changed(obj)),
            };
        }
    };
    if record.state == State::Free {
        return Ok(Unlocked::WasFree);
    }
    let holder = record.describe();
    let free = |r: &Record| Record {
        state: State::Free,
        renewal: r.renewal + 1,
        ..r.clone()
    };
    if force {
        return match put(obj, &free(&record), &Precondition::Unchanged(first_rev))? {
            Some(_) => Ok(Unlocked::Freed { holder }),
            None => Err(changed(obj)),
        };
    }
    let first_seen = Instant::now();
    let stale = stale_after(length.max(record.length()));
    let deadline = events.patience().map(|p| first_seen + p);
    events.waiting(Waiting::Lease { holder: &holder });
    loop {
        let now = Instant::now();
        if now >= first_seen + stale {
            break;
        }
        if deadline.is_some_and(|d| now >= d) {
            return Err(Error::Lock {
                path: obj.locate(),
                message: format!(
                    "the registry lease held by {holder} is fresh: unchanged for {:.1}s so far, it is stale once unchanged for {:.1}s (another {:.1}s); run `regtool unlock` with a longer --lock-timeout, or `regtool unlock --force` if that process is known to be dead",
                    now.duration_since(first_seen).as_secs_f64(),
                    stale.as_secs_f64(),
                    (first_seen + stale).duration_since(now).as_secs_f64()
                ),
            });
        }
        sleep_until(
            now,
            first_seen + stale,
            deadline,
            length.max(record.length()),
        );
        match obj.read()? {
            Some((_, rev)) if rev == first_rev => {}
            _ => {
                return Err(Error::Lock {
                    path: obj.locate(),
                    message: format!(
                        "the registry lease held by {holder} was renewed or released while watched: its holder is alive; nothing was changed"
                    ),
                });
            }
        }
    }
    match put(obj, &free(&record), &Precondition::Unchanged(first_rev))? {
        Some(_) => Ok(Unlocked::Freed { holder }),
        None => Err(changed(obj)),
    }
}

fn changed(obj: &dyn LeaseObject) -> Error {
    Error::Lock {
        path: obj.locate(),
        message: "the registry lease changed while it was freed; nothing was changed".into(),
    }
}

/// Sleeps a poll interval, or less to wake at `stale` or `deadline`.
fn sleep_until(now: Instant, stale: Instant, deadline: Option<Instant>, interval: Duration) {
    let mut until = (now + interval).min(stale);
    if let Some(d) = deadline {
        until = until.min(d);
    }
    std::thread::sleep(until.saturating_duration_since(now));
}

/// The taking loop of [`take`]: `fresh` makes this writer's record from the
/// one seen (free or stale; `None` when there is none).
fn wait_for(
    obj: &dyn LeaseObject,
    length: Duration,
    events: &dyn LockEvents,
    fresh: impl Fn(Option<&Record>) -> Record,
) -> Result<(Record, Revision, Instant)> {
    let start = Instant::now();
    let deadline = events.patience().map(|p| start + p);
    let mut watch: Option<Watch> = None;
    let mut told = false;
    // Short at first, so that a lease freed soon is taken soon; longer the
    // longer the same holding lasts (each renewal starts over).
    let mut interval = FIRST_POLL;
    let mut seen: Option<Revision> = None;
    loop {
        match look(obj, length, events, &mut watch, &fresh)? {
            Look::Taken(r, rev, sent) => return Ok((r, rev, sent)),
            Look::Again => {}
            Look::Held(record, until_stale) => {
                let now = Instant::now();
                if !told {
                    events.waiting(Waiting::Lease {
                        holder: &record.describe(),
                    });
                    told = true;
                }
                if deadline.is_some_and(|d| now >= d) {
                    return Err(Error::Lock {
                        path: obj.locate(),
                        message: format!(
                            "timed out after {} waiting for the registry lease held by {} (--lock-timeout); it is taken over once unchanged for {:.1}s",
                            super::show_patience(events.patience().unwrap_or_default()),
                            record.describe(),
                            stale_after(length.max(record.length())).as_secs_f64()
                        ),
                    });
                }
                let revision = watch.as_ref().map(|w| w.revision.clone());
                if revision == seen {
                    interval = (interval * 3 / 2).min(poll_every(length.max(record.length())));
                } else {
                    interval = FIRST_POLL;
                    seen = revision;
                }
                sleep_until(now, now + until_stale, deadline, interval);
            }
        }
    }
}

/// One look at the lease: takes it when there is none, it is free, or it
/// turned stale; else says who holds it.
fn look(
    obj: &dyn LeaseObject,
    length: Duration,
    events: &dyn LockEvents,
    watch: &mut Option<Watch>,
    fresh: &impl Fn(Option<&Record>) -> Record,
) -> Result<Look> {
    let Some((bytes, rev)) = obj.read()? else {
        let mine = fresh(None);
        let sent = Instant::now();
        return Ok(match put(obj, &mine, &Precondition::Absent)? {
            Some(rev) => Look::Taken(mine, rev, sent),
            // Another writer created it first.
            None => Look::Again,
        });
    };
    let theirs = Record::parse(obj, &bytes)?;
    let now = Instant::now();
    let since = match watch {
        Some(w) if w.revision == rev => w.since,
        _ => {
            *watch = Some(Watch {
                revision: rev.clone(),
                since: now,
            });
            now
        }
    };
    let stale = stale_after(length.max(theirs.length()));
    let unchanged = now.duration_since(since);
    if theirs.state == State::Held && unchanged < stale {
        return Ok(Look::Held(theirs, stale - unchanged));
    }
    let mine = fresh(Some(&theirs));
    let sent = Instant::now();
    match put(obj, &mine, &Precondition::Unchanged(rev))? {
        Some(new) => {
            if theirs.state == State::Held {
                events.took_over(&obj.locate(), &theirs.describe(), unchanged);
            }
            Ok(Look::Taken(mine, new, sent))
        }
        // Another writer was faster.
        None => {
            *watch = None;
            Ok(Look::Again)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A lease object in memory: each write gets a new revision.
    #[derive(Debug, Default)]
    struct Memory {
        object: Mutex<Option<(Vec<u8>, Revision)>>,
        next: AtomicU64,
        /// Makes every write fail with an error (a store that does not answer).
        broken: std::sync::atomic::AtomicBool,
    }

    impl LeaseObject for Memory {
        fn locate(&self) -> PathBuf {
            PathBuf::from("mem://lease")
        }

        fn read(&self) -> Result<Option<(Vec<u8>, Revision)>> {
            Ok(self.object.lock().unwrap().clone())
        }

        fn write(&self, bytes: &[u8], pre: &Precondition) -> Result<Written> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(Error::io(
                    "write",
                    self.locate(),
                    std::io::ErrorKind::TimedOut.into(),
                ));
            }
            let mut o = self.object.lock().unwrap();
            let ok = match (pre, o.as_ref()) {
                (Precondition::Any, _) | (Precondition::Absent, None) => true,
                (Precondition::Unchanged(want), Some((_, have))) => want == have,
                _ => false,
            };
            if !ok {
                return Ok(Written::Conflict);
            }
            let rev = Revision(format!("r{}", self.next.fetch_add(1, Ordering::SeqCst)));
            *o = Some((bytes.to_vec(), rev.clone()));
            Ok(Written::Done(Some(rev)))
        }
    }

    /// Records what a taker is told.
    #[derive(Debug, Default)]
    struct Told {
        waits: Mutex<Vec<String>>,
        take_overs: Mutex<Vec<String>>,
        patience: Option<Duration>,
    }

    impl LockEvents for Told {
        fn waiting(&self, what: Waiting<'_>) {
            if let Waiting::Lease { holder, .. } = what {
                self.waits.lock().unwrap().push(holder.to_string());
            }
        }
        fn unsupported(&self, _: &Path, _: &std::io::Error) {}
        fn took_over(&self, _: &Path, holder: &str, _: Duration) {
            self.take_overs.lock().unwrap().push(holder.to_string());
        }
        fn patience(&self) -> Option<Duration> {
            self.patience
        }
    }

    fn record(obj: &Memory) -> Record {
        let (bytes, _) = obj.read().unwrap().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    const SHORT: Duration = Duration::from_millis(400);

    #[test]
    fn take_renew_release() {
        let obj = Arc::new(Memory::default());
        let told = Told::default();
        let guard = take(obj.clone(), SHORT, &told).unwrap();
        let first = record(&obj);
        assert_eq!(first.state, State::Held);
        assert_eq!(first.generation, 1);
        assert_eq!(first.holder.pid, std::process::id());
        // Renewed while held: the lease stays ours and its bytes move on.
        std::thread::sleep(SHORT * 2);
        guard.check().unwrap();
        assert!(record(&obj).renewal >= 2, "{:?}", record(&obj));
        drop(guard);
        let last = record(&obj);
        assert_eq!(last.state, State::Free);
        assert_eq!(last.holder, first.holder);
        // The next take of a free lease is immediate, one generation on.
        let again = take(obj.clone(), SHORT, &told).unwrap();
        assert_eq!(record(&obj).generation, 2);
        assert_ne!(record(&obj).holder.id, first.holder.id);
        drop(again);
        assert!(told.waits.lock().unwrap().is_empty());
    }

    #[test]
    fn a_held_lease_blocks_until_released() {
        let obj = Arc::new(Memory::default());
        let told = Told::default();
        let first = take(obj.clone(), Duration::from_secs(30), &told).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let t = Instant::now();
        let second = take(obj.clone(), Duration::from_secs(30), &told).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(250));
        assert!(t.elapsed() < Duration::from_secs(10), "not a take-over");
        releaser.join().unwrap();
        assert_eq!(told.waits.lock().unwrap().len(), 1);
        assert!(told.waits.lock().unwrap()[0].contains(&format!("pid {}", std::process::id())));
        assert!(told.take_overs.lock().unwrap().is_empty());
        second.check().unwrap();
    }

    /// A holder that stops renewing (killed: its thread is gone) is taken
    /// over after the lease and a quarter, by exactly one of two takers.
    #[test]
    fn a_stale_lease_is_taken_over_by_one_taker() {
        let obj = Arc::new(Memory::default());
        let dead = take(obj.clone(), SHORT, &Told::default()).unwrap();
        // Kill the renewal without releasing: as a SIGKILL leaves it.
        *dead.lease.stop.lock().unwrap() = true;
        dead.lease.wake.notify_all();
        let dead = std::mem::ManuallyDrop::new(dead);
        let t = Instant::now();
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let obj = obj.clone();
                std::thread::spawn(move || {
                    let told = Told::default();
                    let g = take(obj, SHORT, &told).unwrap();
                    let took = !told.take_overs.lock().unwrap().is_empty();
                    let gen_ = g.lease.generation();
                    std::thread::sleep(SHORT);
                    // Whether this holder still held the lease at the end.
                    let kept = g.check().is_ok();
                    (took, gen_, kept)
                })
            })
            .collect();
        let results: Vec<_> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(t.elapsed() >= stale_after(SHORT));
        // One took it over (generation 2), the other waited for its release
        // (generation 3): never both at once.
        let mut gens: Vec<u64> = results.iter().map(|r| r.1).collect();
        gens.sort_unstable();
        assert_eq!(gens, [2, 3]);
        // The first taker took the dead holder's lease over. The second
        // waited for its release, or (on a machine so loaded that the first
        // holder's renewals stalled past the stale time) took it over too;
        // then the first holder knew it had lost the lease, so its writer
        // refused and the two never wrote at once.
        let first = results.iter().find(|r| r.1 == 2).unwrap();
        let second = results.iter().find(|r| r.1 == 3).unwrap();
        assert!(first.0, "generation 2 came from taking the dead lease over");
        assert!(
            !second.0 || !first.2,
            "the second taker took over a lease its holder still held"
        );
        // The dead holder's writer refuses.
        assert!(dead.check().is_err());
    }

    #[test]
    fn a_holder_that_cannot_renew_refuses_to_write() {
        let obj = Arc::new(Memory::default());
        let guard = take(obj.clone(), SHORT, &Told::default()).unwrap();
        guard.check().unwrap();
        obj.broken.store(true, Ordering::SeqCst);
        std::thread::sleep(write_window(SHORT) + Duration::from_millis(100));
        let err = guard.check().unwrap_err().to_string();
        assert!(err.contains("did not renew it"), "{err}");
        // Lost for good, even once the store answers again.
        obj.broken.store(false, Ordering::SeqCst);
        std::thread::sleep(SHORT);
        assert!(guard.check().is_err());
    }

    #[test]
    fn a_taken_over_holder_refuses_to_write() {
        let obj = Arc::new(Memory::default());
        let guard = take(obj.clone(), SHORT, &Told::default()).unwrap();
        // Someone else writes the lease (as `unlock --force` and a take would).
        let (bytes, rev) = obj.read().unwrap().unwrap();
        let mut other: Record = serde_json::from_slice(&bytes).unwrap();
        other.holder.id = "other".into();
        other.generation += 1;
        obj.write(&other.to_bytes(), &Precondition::Unchanged(rev))
            .unwrap();
        std::thread::sleep(SHORT / 2);
        let err = guard.check().unwrap_err().to_string();
        assert!(err.contains("taken over"), "{err}");
        drop(guard);
        // Its release did not free the other writer's lease.
        assert_eq!(record(&obj).holder.id, "other");
        assert_eq!(record(&obj).state, State::Held);
    }

    #[test]
    fn lock_timeout_names_the_holder() {
        let obj = Arc::new(Memory::default());
        let _held = take(obj.clone(), Duration::from_secs(30), &Told::default()).unwrap();
        let told = Told {
            patience: Some(Duration::from_millis(200)),
            ..Told::default()
        };
        let t = Instant::now();
        let err = take(obj.clone(), Duration::from_secs(30), &told)
            .unwrap_err()
            .to_string();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(err.contains("timed out after"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
    }

    #[test]
    fn unlock_refuses_a_renewed_lease_and_frees_a_stale_one() {
        let obj = Arc::new(Memory::default());
        assert_eq!(
            unlock(obj.as_ref(), false, SHORT, &Told::default()).unwrap(),
            Unlocked::WasFree
        );
        let live = take(obj.clone(), SHORT, &Told::default()).unwrap();
        let err = unlock(obj.as_ref(), false, SHORT, &Told::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("its holder is alive"), "{err}");
        let told = Told {
            patience: Some(Duration::ZERO),
            ..Told::default()
        };
        *live.lease.stop.lock().unwrap() = true;
        live.lease.wake.notify_all();
        let live = std::mem::ManuallyDrop::new(live);
        let err = unlock(obj.as_ref(), false, SHORT, &told)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is fresh") && err.contains("--force"), "{err}");
        assert!(matches!(
            unlock(obj.as_ref(), false, SHORT, &Told::default()).unwrap(),
            Unlocked::Freed { .. }
        ));
        assert_eq!(record(&obj).state, State::Free);
        assert!(live.check().is_err());
    }

    #[test]
    fn unlock_force_frees_at_once() {
        let obj = Arc::new(Memory::default());
        let live = take(obj.clone(), Duration::from_secs(30), &Told::default()).unwrap();
        let freed = unlock(obj.as_ref(), true, SHORT, &Told::default()).unwrap();
        assert!(
            matches!(&freed, Unlocked::Freed { holder } if holder.contains("pid")),
            "{freed:?}"
        );
        assert_eq!(record(&obj).state, State::Free);
        let next = take(obj.clone(), Duration::from_secs(30), &Told::default()).unwrap();
        drop(live);
        // The forced-out holder's release did not free the new holding.
        assert_eq!(record(&obj).state, State::Held);
        next.check().unwrap();
    }

    #[test]
    fn a_retried_write_that_landed_counts_as_ours() {
        /// Lands every write, then answers "conflict" (as a retried
        /// conditional PUT whose first try landed).
        #[derive(Debug, Default)]
        struct LostAnswer(Memory);
        impl LeaseObject for LostAnswer {
            fn locate(&self) -> PathBuf {
                self.0.locate()
            }
            fn read(&self) -> Result<Option<(Vec<u8>, Revision)>> {
                self.0.read()
            }
            fn write(&self, bytes: &[u8], pre: &Precondition) -> Result<Written> {
                self.0.write(bytes, pre)?;
                Ok(Written::Conflict)
            }
        }
        let obj = Arc::new(LostAnswer::default());
        let guard = take(obj.clone(), SHORT, &Told::default()).unwrap();
        std::thread::sleep(SHORT);
        guard.check().unwrap();
        drop(guard);
        assert_eq!(record(&obj.0).state, State::Free);
    }
}
