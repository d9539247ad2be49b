//! A fault-injecting HTTP proxy between `regtool` and the S3 server (moto),
//! for the tests of many writers on one bucket (`tests/it/interleavings.rs`,
//! `tests/it/stress.rs`).
//!
//! Each job (one `regtool` process) talks to the proxy through an
//! [`Endpoint`] of its own (a port on 127.0.0.1 that `AWS_ENDPOINT_URL`
//! names), so the proxy knows whose request it holds. Every request is read
//! whole, checked against the [`Rule`]s (first match wins) and, when a
//! seeded [`Chaos`] is set for the endpoint, against it; then it is
//! forwarded to the server on a fresh connection (`Connection: close`, so an
//! unthreaded server is never blocked by an idle client) and the answer is
//! passed back. What a rule can do ([`ProxyFault`]): delay the request, answer
//! 500/503 itself, close the connection before forwarding or after forwarding
//! (the request landed but the client saw an error: a retried conditional PUT
//! then comes back as a conflict), hold it until a [`Gate`] opens ("hold
//! request R of job A until job B exited"), or hold it until another job's
//! request completed (a reorder across clients). Every request is recorded
//! ([`Exchange`]): job, method, target, what was done, the statuses, and when.
//!
//! Plain `std::net` threads, one per connection; HTTP/1.1 with
//! `Content-Length` or chunked bodies, which is all the S3 client and moto send.

use super::*;
use std::sync::Condvar;

/// Something a test opens once (a job exited, another request completed);
/// requests held on it go on then, or are dropped if it was abandoned.
/// Cloning shares it.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<GateState>, Condvar)>);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum GateState {
    #[default]
    Closed,
    Open,
    /// Requests held on it are dropped (their job was killed meanwhile).
    Abandoned,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    fn set(&self, state: GateState) {
        *self.0.0.lock().unwrap() = state;
        self.0.1.notify_all();
    }

    /// Opens it (for good): every request held on it goes on.
    pub fn open(&self) {
        self.set(GateState::Open);
    }

    /// Abandons it: every request held on it is dropped without being
    /// forwarded (its job was killed: no request of it lands later).
    pub fn abandon(&self) {
        self.set(GateState::Abandoned);
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        *self.0.0.lock().unwrap() == GateState::Open
    }

    /// Waits until it is open or abandoned, at most `timeout`; whether the
    /// request may go on (open, or still closed after `timeout`).
    fn wait(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.0;
        let state = lock.lock().unwrap();
        let (state, _) = cvar
            .wait_timeout_while(state, timeout, |s| *s == GateState::Closed)
            .unwrap();
        *state != GateState::Abandoned
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({:?})", *self.0.0.lock().unwrap())
    }
}

/// How long a request is held at most (on a [`Gate`] that never opens, or
/// waiting for another job's request): long enough for any test, short
/// enough that a broken test fails instead of hanging.
pub const HOLD_MAX: Duration = Duration::from_secs(90);

/// What the proxy does with a request.
#[derive(Clone, Debug)]
pub enum ProxyFault {
    /// Nothing: forwards it (a rule that only opens a gate).
    Pass,
    /// Waits this long, then forwards it.
    Delay(Duration),
    /// Answers with this status (500, 503) and an S3 error body itself,
    /// without forwarding.
    Status(u16),
    /// Closes the connection without forwarding: the request never landed.
    DropBefore,
    /// Forwards it, then closes the connection without answering: the
    /// request landed but the client saw an error.
    DropAfter,
    /// Holds it until the gate opens (at most [`HOLD_MAX`]), then forwards
    /// it; drops it (closes the connection) if the gate was abandoned.
    Hold(Gate),
    /// Holds it until a request of another job completed after this one
    /// arrived (at most the given time), then forwards it: a reorder across
    /// clients.
    AfterOther(Duration),
}

/// Which requests a rule applies to, and what it does to them.
#[derive(Clone, Debug)]
pub struct Rule {
    job: Option<String>,
    method: Option<String>,
    path_suffix: Option<String>,
    path_part: Option<String>,
    after: Option<Gate>,
    query: Option<String>,
    deletes: Option<String>,
    skip: usize,
    times: usize,
    fault: ProxyFault,
    then_open: Option<Gate>,
}

impl Rule {
    /// A rule doing `fault` to every request (narrow it with the builders).
    pub fn new(fault: ProxyFault) -> Rule {
        Rule {
            job: None,
            method: None,
            path_suffix: None,
            path_part: None,
            after: None,
            query: None,
            deletes: None,
            skip: 0,
            times: usize::MAX,
            fault,
            then_open: None,
        }
    }

    /// Narrows the rule by one text filter: `field` of it set to `value`.
    fn only(mut self, field: fn(&mut Rule) -> &mut Option<String>, value: &str) -> Rule {
        *field(&mut self) = Some(value.to_owned());
        self
    }

    /// Only requests of `job`.
    pub fn job(self, job: &str) -> Rule {
        self.only(|r| &mut r.job, job)
    }

    /// Only requests with this method (`GET`, `HEAD`, `PUT`, `DELETE`, ...).
    pub fn method(self, method: &str) -> Rule {
        self.only(|r| &mut r.method, method)
    }

    /// Only requests whose path (without the query) ends with `suffix`,
    /// percent-encoded as sent (`/fo/o-/foo-bar`).
    pub fn path_ends(self, suffix: &str) -> Rule {
        self.only(|r| &mut r.path_suffix, suffix)
    }

    /// Only requests whose path (without the query) contains `part`
    /// (`/r/catalogue/`).
    pub fn path_contains(self, part: &str) -> Rule {
        self.only(|r| &mut r.path_part, part)
    }

    /// Only requests that arrive once `gate` is open (after another rule's
    /// request completed, say).
    pub fn after(mut self, gate: &Gate) -> Rule {
        self.after = Some(gate.clone());
        self
    }

    /// Only requests whose query contains `part` (`list-type=2`).
    pub fn query(self, part: &str) -> Rule {
        self.only(|r| &mut r.query, part)
    }

    /// Only requests that delete the object whose path ends with `suffix`:
    /// a `DELETE` of it, or a bulk delete (`POST ?delete`) naming it.
    pub fn deletes(self, suffix: &str) -> Rule {
        self.only(|r| &mut r.deletes, suffix)
    }

    /// Lets the first `n` matching requests pass untouched.
    pub fn skip(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    /// Applies to `n` requests at most (after the skipped ones).
    pub fn times(mut self, n: usize) -> Rule {
        self.times = n;
        self
    }

    /// Applies to one request only.
    pub fn once(self) -> Rule {
        self.times(1)
    }

    /// Opens `gate` when a request this rule applied to has completed (its
    /// answer sent, or its connection closed).
    pub fn then_open(mut self, gate: &Gate) -> Rule {
        self.then_open = Some(gate.clone());
        self
    }

    fn matches(&self, job: &str, method: &str, target: &str, body: &[u8]) -> bool {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        self.job.as_deref().is_none_or(|j| j == job)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_suffix
                .as_deref()
                .is_none_or(|s| path.ends_with(s))
            && self.path_part.as_deref().is_none_or(|p| path.contains(p))
            && self.after.as_ref().is_none_or(Gate::is_open)
            && self.query.as_deref().is_none_or(|q| query.contains(q))
            && self.deletes.as_deref().is_none_or(|key| {
                (method == "DELETE" && path.ends_with(key))
                    || (method == "POST"
                        && query.split('&').any(|q| q == "delete" || q == "delete=")
                        && {
                            let key = key.trim_start_matches('/');
                            let body = String::from_utf8_lossy(body);
                            body.contains(&format!(">{key}</Key>"))
                                || body.contains(&format!("/{key}</Key>"))
                        })
            })
    }
}

/// Random faults from a seed, for the stress test: each request of an
/// endpoint with chaos gets at most one fault, drawn with these chances
/// (per mille).
#[derive(Clone, Debug)]
pub struct Chaos {
    /// Seed of the draws (one stream for the whole proxy: with several jobs
    /// at once the order of draws, and so a replay, is only as repeatable as
    /// the order the requests arrive in).
    pub seed: u64,
    /// Delay up to `max_delay`.
    pub delay: u32,
    /// The longest delay.
    pub max_delay: Duration,
    /// Hold until another job's request completed (at most `max_delay`).
    pub reorder: u32,
    /// Answer 500.
    pub status_500: u32,
    /// Answer 503.
    pub status_503: u32,
    /// Close before forwarding.
    pub drop_before: u32,
    /// Close after forwarding.
    pub drop_after: u32,
}

impl Chaos {
    /// Draws the fault for one request (or none).
    fn draw(&self, rng: &mut u64) -> Option<ProxyFault> {
        let r = (next_random(rng) % 1000) as u32;
        let mut bound = 0;
        let mut pick = |chance: u32| {
            bound += chance;
            r < bound
        };
        if pick(self.delay) {
            let ms = self.max_delay.as_millis().max(1) as u64;
            Some(ProxyFault::Delay(Duration::from_millis(
                next_random(rng) % ms,
            )))
        } else if pick(self.reorder) {
            Some(ProxyFault::AfterOther(self.max_delay))
        } else if pick(self.status_500) {
            Some(ProxyFault::Status(500))
        } else if pick(self.status_503) {
            Some(ProxyFault::Status(503))
        } else if pick(self.drop_before) {
            Some(ProxyFault::DropBefore)
        } else if pick(self.drop_after) {
            Some(ProxyFault::DropAfter)
        } else {
            None
        }
    }
}

/// xorshift64*: the tests have no `rand`.
pub fn next_random(state: &mut u64) -> u64 {
    let mut x = (*state).max(1);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// One request that passed through the proxy.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Its number, in arrival order (from 0).
    pub id: usize,
    /// The job whose endpoint it came to.
    pub job: String,
    /// `GET`, `PUT`, ...
    pub method: String,
    /// Path and query as sent (`/bucket/prefix/key?x-id=PutObject`).
    pub target: String,
    /// What the proxy did to it (`None`: forwarded as it came).
    pub fault: Option<ProxyFault>,
    /// Whether it is being held right now.
    pub held: bool,
    /// The status the server answered (`None`: not forwarded, or the server
    /// did not answer).
    pub upstream: Option<u16>,
    /// The status the client got (`None`: its connection was closed).
    pub answered: Option<u16>,
    /// When it arrived (read whole).
    pub start: Instant,
    /// When it completed (answered or closed); `None` while in flight.
    pub end: Option<Instant>,
}

impl Exchange {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// `JOB METHOD TARGET -> STATUS [fault]`, for messages.
    pub fn show(&self) -> String {
        let status = match (self.answered, self.end) {
            (Some(s), _) => s.to_string(),
            (None, Some(_)) => "closed".to_owned(),
            (None, None) => "in flight".to_owned(),
        };
        let fault = match &self.fault {
            Some(f) => format!(" [{f:?}]"),
            None => String::new(),
        };
        format!(
            "{} {} {} -> {status}{fault}",
            self.job, self.method, self.target
        )
    }
}

struct RuleState {
    rule: Rule,
    seen: usize,
    applied: usize,
}

#[derive(Default)]
struct Log {
    exchanges: Vec<Exchange>,
}

struct Inner {
    upstream: u16,
    rules: Mutex<Vec<RuleState>>,
    chaos: Mutex<Option<(Chaos, u64)>>,
    log: Mutex<Log>,
    changed: Condvar,
}

/// The proxy in front of an S3 server on 127.0.0.1 (see the module docs).
/// Cloning shares it.
#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
}

/// A port of the proxy for one job: `AWS_ENDPOINT_URL` names [`Endpoint::url`].
/// It stops accepting connections when dropped (connections open go on).
pub struct Endpoint {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The job its requests are recorded under.
    pub job: String,
    stop: Arc<AtomicBool>,
}

impl Endpoint {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl FaultProxy {
    /// A proxy in front of the server on 127.0.0.1:`upstream`, with no rule.
    pub fn new(upstream: u16) -> FaultProxy {
        FaultProxy {
            inner: Arc::new(Inner {
                upstream,
                rules: Mutex::new(Vec::new()),
                chaos: Mutex::new(None),
                log: Mutex::new(Log::default()),
                changed: Condvar::new(),
            }),
        }
    }

    /// A new port whose requests are `job`'s, with the rules only.
    pub fn endpoint(&self, job: &str) -> Endpoint {
        self.listen(job, false)
    }

    /// A new port whose requests are `job`'s, with the rules and the chaos
    /// set by [`FaultProxy::set_chaos`].
    pub fn chaotic_endpoint(&self, job: &str) -> Endpoint {
        self.listen(job, true)
    }

    fn listen(&self, job: &str, chaotic: bool) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let (inner, stop2, name) = (self.inner.clone(), stop.clone(), job.to_owned());
        thread::Builder::new()
            .name(format!("proxy-{job}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let (inner, name) = (inner.clone(), name.clone());
                    let _ = thread::Builder::new()
                        .name("proxy-conn".into())
                        .spawn(move || serve_client(&inner, stream, &name, chaotic));
                }
            })
            .expect("spawn the proxy's accept thread");
        Endpoint {
            port,
            job: job.to_owned(),
            stop,
        }
    }

    /// Adds a rule after those already there (the first that matches a
    /// request and still applies decides).
    pub fn rule(&self, rule: Rule) {
        self.inner.rules.lock().unwrap().push(RuleState {
            rule,
            seen: 0,
            applied: 0,
        });
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        self.inner.rules.lock().unwrap().clear();
    }

    /// Sets (or with `None` removes) the random faults of the chaotic endpoints.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        *self.inner.chaos.lock().unwrap() = chaos.map(|c| {
            let seed = c.seed;
            (c, seed)
        });
    }

    /// Every request so far, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.inner.log.lock().unwrap().exchanges.clone()
    }

    /// The requests of `job` so far.
    pub fn of_job(&self, job: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.job == job)
            .collect()
    }

    /// Waits until some request satisfies `pred` (or `give_up` says to stop
    /// waiting, asked at least every 50 ms), at most `timeout`; returns it.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut give_up: impl FnMut() -> bool,
        pred: impl Fn(&Exchange) -> bool,
    ) -> Option<Exchange> {
        let start = Instant::now();
        let mut log = self.inner.log.lock().unwrap();
        loop {
            if let Some(e) = log.exchanges.iter().find(|e| pred(e)) {
                return Some(e.clone());
            }
            if give_up() || start.elapsed() > timeout {
                return None;
            }
            log = self
                .inner
                .changed
                .wait_timeout(log, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    }

    /// The requests of `job`, one per line, for failure messages.
    pub fn show(&self, job: Option<&str>) -> String {
        self.exchanges()
            .iter()
            .filter(|e| job.is_none_or(|j| e.job == j))
            .map(Exchange::show)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Inner {
    /// Records a new request; returns its id.
    fn arrive(&self, job: &str, method: &str, target: &str) -> usize {
        let mut log = self.log.lock().unwrap();
        let id = log.exchanges.len();
        log.exchanges.push(Exchange {
            id,
            job: job.to_owned(),
            method: method.to_owned(),
            target: target.to_owned(),
            fault: None,
            held: false,
            upstream: None,
            answered: None,
            start: Instant::now(),
            end: None,
        });
        drop(log);
        self.changed.notify_all();
        id
    }

    fn update(&self, id: usize, f: impl FnOnce(&mut Exchange)) {
        f(&mut self.log.lock().unwrap().exchanges[id]);
        self.changed.notify_all();
    }

    /// The fault for a request, and the gate to open once it completed.
    fn decide(
        &self,
        job: &str,
        method: &str,
        target: &str,
        body: &[u8],
        chaotic: bool,
    ) -> (Option<ProxyFault>, Option<Gate>) {
        let mut rules = self.rules.lock().unwrap();
        for r in rules.iter_mut() {
            if !r.rule.matches(job, method, target, body) {
                continue;
            }
            r.seen += 1;
            if r.seen <= r.rule.skip || r.applied >= r.rule.times {
                continue;
            }
            r.applied += 1;
            return (Some(r.rule.fault.clone()), r.rule.then_open.clone());
        }
        drop(rules);
        if chaotic && let Some((chaos, rng)) = self.chaos.lock().unwrap().as_mut() {
            return (chaos.draw(rng), None);
        }
        (None, None)
    }

    /// Holds request `id` of `job` until a request of another job completes
    /// (at most `max`).
    fn wait_for_other(&self, id: usize, job: &str, max: Duration) {
        let done_by_others = |log: &Log| {
            log.exchanges
                .iter()
                .filter(|e| e.job != job && e.end.is_some())
                .count()
        };
        let start = Instant::now();
        let mut log = self.log.lock().unwrap();
        let before = done_by_others(&log);
        log.exchanges[id].held = true;
        self.changed.notify_all();
        while done_by_others(&log) == before && start.elapsed() < max {
            log = self
                .changed
                .wait_timeout(log, Duration::from_millis(20))
                .unwrap()
                .0;
        }
        log.exchanges[id].held = false;
        drop(log);
        self.changed.notify_all();
    }
}

/// An HTTP message head and body as read from a socket.
struct Message {
    /// The request line or the status line.
    first: String,
    headers: Vec<(String, String)>,
    /// The body as it came (chunked framing kept for a request).
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// A message's first line and its headers.
type Head = (String, Vec<(String, String)>);

/// Reads the head of a message; `None` at a clean end of stream.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok(Some((
        first.trim_end_matches(['\r', '\n']).to_owned(),
        headers,
    )))
}

/// Reads a chunked body; `raw` keeps the framing, else it is decoded.
fn read_chunked(r: &mut impl BufRead, raw: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        if raw {
            out.extend_from_slice(line.as_bytes());
        }
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 {
                    break;
                }
                if raw {
                    out.extend_from_slice(t.as_bytes());
                }
                if t == "\r\n" || t == "\n" {
                    break;
                }
            }
            return Ok(out);
        }
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk)?;
        if raw {
            out.extend_from_slice(&chunk);
        } else {
            out.extend_from_slice(&chunk[..size]);
        }
    }
}

fn read_request(r: &mut impl BufRead) -> io::Result<Option<Message>> {
    let Some((first, headers)) = read_head(r)? else {
        return Ok(None);
    };
    let mut m = Message {
        first,
        headers,
        body: Vec::new(),
    };
    read_body(r, &mut m, true)?;
    Ok(Some(m))
}

/// Reads the body of `m` (its head read) from `r`: chunked (`raw` keeps the
/// framing, see [`read_chunked`]) or `Content-Length` bytes; `false` when it
/// has neither, and nothing was read.
fn read_body(r: &mut impl BufRead, m: &mut Message, raw: bool) -> io::Result<bool> {
    if m.chunked() {
        m.body = read_chunked(r, raw)?;
    } else if let Some(n) = m.header("content-length") {
        let n: usize = n
            .parse()
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        m.body = vec![0; n];
        r.read_exact(&mut m.body)?;
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// Forwards `req` to the server on a connection of its own and reads the
/// whole answer (body decoded).
fn forward(upstream: u16, method: &str, req: &Message) -> io::Result<Message> {
    let mut s = TcpStream::connect(("127.0.0.1", upstream))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!("{}\r\n", req.first);
    for (k, v) in &req.headers {
        if !["connection", "keep-alive", "proxy-connection"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(&req.body)?;
    s.flush()?;
    let mut r = BufReader::new(s);
    let (first, headers) = read_head(&mut r)?.ok_or(io::ErrorKind::UnexpectedEof)?;
    let mut m = Message {
        first,
        headers,
        body: Vec::new(),
    };
    let status = status_of(&m.first);
    if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(m);
    }
    if !read_body(&mut r, &mut m, false)? {
        r.read_to_end(&mut m.body)?;
    }
    Ok(m)
}

fn status_of(status_line: &str) -> u16 {
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Writes `resp` to the client, framed with `Content-Length` (a `HEAD`
/// answer keeps the server's, with no body).
fn answer(client: &mut TcpStream, method: &str, resp: &Message) -> io::Result<()> {
    let mut head = format!("{}\r\n", resp.first);
    let mut length = None;
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(v.clone());
            continue;
        }
        if !["connection", "keep-alive", "transfer-encoding"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    let length = if method == "HEAD" {
        length.unwrap_or_else(|| "0".to_owned())
    } else {
        resp.body.len().to_string()
    };
    head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    client.write_all(head.as_bytes())?;
    if method != "HEAD" {
        client.write_all(&resp.body)?;
    }
    client.flush()
}

/// An S3-style error answer made up by the proxy.
fn made_up(status: u16) -> Message {
    let (code, reason) = match status {
        503 => ("SlowDown", "Service Unavailable"),
        _ => ("InternalError", "Internal Server Error"),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the test proxy</Message></Error>"
    );
    Message {
        first: format!("HTTP/1.1 {status} {reason}"),
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: body.into_bytes(),
    }
}

/// Serves one client connection: request after request until it closes.
fn serve_client(inner: &Inner, mut client: TcpStream, job: &str, chaotic: bool) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(300)));
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let mut parts = req.first.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let id = inner.arrive(job, &method, &target);
        let (fault, then_open) = inner.decide(job, &method, &target, &req.body, chaotic);
        inner.update(id, |e| e.fault = fault.clone());
        let keep = exchange(inner, id, job, &method, &req, fault.as_ref(), &mut client);
        if let Some(g) = then_open {
            g.open();
        }
        let closes = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !keep || closes {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Does one request with its fault; records the outcome. Returns whether
/// the client connection stays open.
fn exchange(
    inner: &Inner,
    id: usize,
    job: &str,
    method: &str,
    req: &Message,
    fault: Option<&ProxyFault>,
    client: &mut TcpStream,
) -> bool {
    let finish = |upstream: Option<u16>, answered: Option<u16>| {
        inner.update(id, |e| {
            e.upstream = upstream;
            e.answered = answered;
            e.end = Some(Instant::now());
        });
    };
    match fault {
        Some(ProxyFault::Delay(d)) => thread::sleep(*d),
        Some(ProxyFault::Hold(gate)) => {
            inner.update(id, |e| e.held = true);
            let go_on = gate.wait(HOLD_MAX);
            inner.update(id, |e| e.held = false);
            if !go_on {
                finish(None, None);
                return false;
            }
        }
        Some(ProxyFault::AfterOther(max)) => inner.wait_for_other(id, job, *max),
        Some(ProxyFault::Status(s)) => {
            let ok = answer(client, method, &made_up(*s)).is_ok();
            finish(None, ok.then_some(*s));
            return ok;
        }
        Some(ProxyFault::DropBefore) => {
            finish(None, None);
            return false;
        }
        Some(ProxyFault::DropAfter | ProxyFault::Pass) | None => {}
    }
    let resp = match forward(inner.upstream, method, req) {
        Ok(r) => r,
        Err(_) => {
            finish(None, None);
            return false;
        }
    };
    let status = status_of(&resp.first);
    if matches!(fault, Some(ProxyFault::DropAfter)) {
        finish(Some(status), None);
        return false;
    }
    let ok = answer(client, method, &resp).is_ok();
    finish(Some(status), ok.then_some(status));
    ok
}
