//! An S3-protocol server on 127.0.0.1 for the tests: moto's standalone server
//! (`moto_server`, from PyPI's `moto[server]`; found by [`require_tool`],
//! installed by `.ci/install.sh`). One server runs for the whole test binary,
//! on a free port, with its request log in a file; each test takes a
//! [`Bucket`] of its own (anonymous `GetObject` allowed, so that cargo and the
//! tests read it over plain HTTP, path-style:
//! `http://127.0.0.1:PORT/bucket/key`).

use super::*;

/// The running moto server.
pub struct MotoServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// A shell that kills moto when our end of its stdin closes (this test
    /// process exits), so no server outlives the tests.
    _keeper: Child,
}

static MOTO: OnceLock<Result<MotoServer, String>> = OnceLock::new();
static BUCKETS: AtomicUsize = AtomicUsize::new(0);

impl MotoServer {
    /// The server shared by every test of this binary, started on first use;
    /// `None` (after [`skip_or_fail`]) when `moto_server` is missing or does
    /// not start. `why` says what the running test needs it for.
    pub fn shared(why: &str) -> Option<&'static MotoServer> {
        MotoServer::once(&MOTO, false, why)
    }

    /// A server of its own that answers one request at a time (moto's
    /// standalone server is threaded and has no switch for that), started
    /// on first use; `None` as for [`MotoServer::shared`].
    ///
    /// moto checks `If-Match` / `If-None-Match` and then stores the object
    /// in separate steps under no lock (`put_object` in moto/s3/responses.py),
    /// so under its threaded server two conditional PUTs of one key can both
    /// pass their check. S3 makes each conditional request atomic; an
    /// unthreaded server does too, so the stress test cannot blame regtool
    /// for moto's race. The same `moto_server` runs, with a `sitecustomize`
    /// module on `PYTHONPATH` that turns werkzeug's `threaded` off (whatever
    /// starts the Python: a venv's script, a pyenv shim).
    pub fn unthreaded(why: &str) -> Option<&'static MotoServer> {
        static UNTHREADED: OnceLock<Result<MotoServer, String>> = OnceLock::new();
        MotoServer::once(&UNTHREADED, true, why)
    }

    /// The server kept in `cell`, started on first use (`unthreaded`: see
    /// [`MotoServer::unthreaded`]); `None` after [`skip_or_fail`].
    fn once(
        cell: &'static OnceLock<Result<MotoServer, String>>,
        unthreaded: bool,
        why: &str,
    ) -> Option<&'static MotoServer> {
        let bin = require_tool("moto_server", why)?;
        match cell.get_or_init(|| MotoServer::start(&bin, unthreaded)) {
            Ok(m) => Some(m),
            Err(e) => {
                skip_or_fail(
                    &format!("moto_server did not start: {e}"),
                    why,
                    "Check that `$MOTO_SERVER -H 127.0.0.1 -p 5000` runs",
                );
                None
            }
        }
    }

    /// Runs `bin -H 127.0.0.1 -p PORT` until this test process exits
    /// (`unthreaded`: see [`MotoServer::unthreaded`]). Ready once moto's log
    /// says it runs on that port: something else that took the port between
    /// [`free_port`] and moto's start (another test binary on a busy
    /// machine) would otherwise answer in its place; moto then says the
    /// address is in use, and another port is tried.
    fn start(bin: &Path, unthreaded: bool) -> Result<MotoServer, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match MotoServer::start_on(bin, unthreaded, free_port())? {
                Ok(m) => return Ok(m),
                Err(taken) => last = taken,
            }
        }
        Err(last)
    }

    /// One try of [`MotoServer::start`] on `port`: the inner `Err` when the
    /// port was taken meanwhile.
    fn start_on(
        bin: &Path,
        unthreaded: bool,
        port: u16,
    ) -> Result<Result<MotoServer, String>, String> {
        let dir = tempdir();
        let log = dir.path().join("moto.log");
        let script =
            r#""$1" -H 127.0.0.1 -p "$2" >"$3" 2>&1 & pid=$!; cat >/dev/null; kill "$pid""#;
        let mut keeper = Command::new("sh");
        keeper
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(bin)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Python imports `sitecustomize` from PYTHONPATH before moto's code.
        let site = dir.path().join("site");
        fs::create_dir_all(&site).map_err(|e| e.to_string())?;
        let mut custom = ATOMIC_WRITES.to_string();
        if unthreaded {
            custom.push_str(UNTHREADED_SITE);
        }
        fs::write(site.join("sitecustomize.py"), custom).map_err(|e| e.to_string())?;
        let mut path = std::ffi::OsString::from(&site);
        if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(old);
        }
        keeper.env("PYTHONPATH", path);
        let keeper = keeper
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let running = format!("Running on http://127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            let said = fs::read_to_string(&log).unwrap_or_default();
            if said.contains(&running) {
                break;
            }
            if said.contains("Address already in use") {
                return Ok(Err(format!("port {port} was taken: {said}")));
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "moto did not start on port {port} within 60 s: {said}"
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
        wait_for_listener(port, Duration::from_secs(10), &mut || None)
            .map_err(|e| format!("{e}: {}", fs::read_to_string(&log).unwrap_or_default()))?;
        let said = fs::read_to_string(&log).unwrap_or_default();
        if !said.contains(ATOMIC_MARK) {
            return Err(format!(
                "its object writes were not made atomic (sitecustomize.py did not run): {said}"
            ));
        }
        Ok(Ok(MotoServer {
            port,
            log,
            _dir: dir,
            _keeper: keeper,
        }))
    }

    /// `http://127.0.0.1:PORT`, the endpoint S3 clients take.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new bucket of this server, readable anonymously.
    pub fn bucket(&'static self) -> Bucket {
        let name = format!(
            "regtool-{}-{}",
            std::process::id(),
            BUCKETS.fetch_add(1, Ordering::SeqCst)
        );
        let r = http_request(self.port, "PUT", &format!("/{name}"), &[], b"");
        assert_eq!(r.status, 200, "create bucket {name}");
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{name}/*"}}]}}"#
        );
        let r = http_request(
            self.port,
            "PUT",
            &format!("/{name}?policy"),
            &[],
            policy.as_bytes(),
        );
        assert!(
            r.status < 300,
            "bucket policy: {}",
            String::from_utf8_lossy(&r.body)
        );
        Bucket { moto: self, name }
    }

    /// Every request in moto's log so far, as `METHOD /path STATUS` (the
    /// colours werkzeug puts around some lines taken out).
    pub fn requests(&self) -> Vec<String> {
        self.timed_requests().into_iter().map(|(_, r)| r).collect()
    }

    /// [`MotoServer::requests`], each with the time moto logged it
    /// (`03/Dec/2026 10:15:02`, to the second).
    pub fn timed_requests(&self) -> Vec<(String, String)> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(strip_ansi)
            .filter_map(|l| {
                let time = l.split('[').nth(1)?.split(']').next()?.to_string();
                let mut quoted = l.split('"');
                let request = quoted.nth(1)?;
                let status = quoted.next()?.split_whitespace().next()?;
                let mut parts = request.split(' ');
                let (method, path) = (parts.next()?, parts.next()?);
                Some((time, format!("{method} {path} {status}")))
            })
            .collect()
    }
}

/// What moto prints once [`ATOMIC_WRITES`] is in place.
const ATOMIC_MARK: &str = "regtool tests: object writes are atomic";

/// Makes each of moto's writes of an object atomic, as S3's are: moto
/// serves every request in a thread of its own and checks a conditional
/// write's `If-Match` / `If-None-Match` in a step before the one that stores
/// the object, so two conditional writes of one key at the same moment can
/// both succeed. Under load that let two or three `regtool add` take the same
/// free lease (`s3::concurrent_adds_through_the_lease` saw their writes
/// race; [`MotoServer::unthreaded`] avoids it by answering one request at a
/// time). A lock around each request on an object other than a read (its
/// body is read before) closes that gap in every server; S3 gives the
/// guarantee itself:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html>.
const ATOMIC_WRITES: &str = r#"
import sys
import threading

from moto.s3.responses import S3Response

_lock = threading.Lock()
_key_response = S3Response._key_response


def _atomic_key_response(self, request, *args, **kwargs):
    if request.method in ("GET", "HEAD"):
        return _key_response(self, request, *args, **kwargs)
    with _lock:
        return _key_response(self, request, *args, **kwargs)


S3Response._key_response = _atomic_key_response
print("regtool tests: object writes are atomic", file=sys.stderr, flush=True)
"#;

/// Python's `sitecustomize` for [`MotoServer::unthreaded`]: imported at
/// the interpreter's start, before moto imports werkzeug's `run_simple`.
const UNTHREADED_SITE: &str = "\
import werkzeug.serving as _serving
_run_simple = _serving.run_simple
def _unthreaded(*args, **kwargs):
    kwargs['threaded'] = False
    return _run_simple(*args, **kwargs)
_serving.run_simple = _unthreaded
";

/// `line` without ANSI colour sequences (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A bucket of its own for one test, with `regtool` pointed at moto.
pub struct Bucket {
    /// The server it is on.
    pub moto: &'static MotoServer,
    /// Its name.
    pub name: String,
}

impl Bucket {
    /// `s3://bucket/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.name)
    }

    /// Where cargo reads the registry under `prefix`.
    pub fn http_url(&self, prefix: &str) -> String {
        format!("{}/{}/{prefix}", self.moto.endpoint(), self.name)
    }

    /// An anonymous GET of `key`.
    pub fn get(&self, key: &str) -> HttpResponse {
        http_request(
            self.moto.port,
            "GET",
            &format!("/{}/{key}", self.name),
            &[],
            b"",
        )
    }

    /// A `regtool` command with the AWS environment pointing at moto (and
    /// nothing else of the caller's `AWS_*`), `SOURCE_DATE_EPOCH` = [`EPOCH`],
    /// no proxy for local servers and no `REGTOOL_UPSTREAM`.
    pub fn command(&self) -> Command {
        let mut cmd = regtool();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env_remove("REGTOOL_UPSTREAM");
        cmd
    }

    /// [`Bucket::command`] talking to the server through `endpoint`, a port
    /// of a [`FaultProxy`] in front of it.
    pub fn command_via(&self, endpoint: &Endpoint) -> Command {
        let mut cmd = self.command();
        cmd.env("AWS_ENDPOINT_URL", endpoint.url());
        cmd
    }

    /// A new [`FaultProxy`] in front of this bucket's server.
    pub fn proxy(&self) -> FaultProxy {
        FaultProxy::new(self.moto.port)
    }

    /// `regtool ARGS...` (see [`Bucket::command`]), with a timeout.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        run_with_timeout(cmd, REGTOOL_TIMEOUT)
    }

    /// Like [`Bucket::run`], panicking (with the output) unless it exits 0.
    #[track_caller]
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let out = self.run(args);
        let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
        assert_success(&out, &format!("regtool {}", shown.join(" ")));
        out
    }

    /// `regtool init s3://bucket/PREFIX --url URL EXTRA...`; returns the
    /// registry's `s3://` URL.
    #[track_caller]
    pub fn init(&self, prefix: &str, extra: &[&str]) -> String {
        let reg = self.url(prefix);
        let mut args = vec!["init", &reg, "--url", URL];
        args.extend(extra);
        self.ok(&args);
        reg
    }

    /// `regtool --registry REG add FILES...`, which must exit 0.
    #[track_caller]
    pub fn add(&self, reg: &str, files: &[PathBuf]) -> Output {
        let mut args: Vec<OsString> = vec!["--registry".into(), reg.into(), "add".into()];
        args.extend(files.iter().map(|f| f.clone().into_os_string()));
        self.ok(&args)
    }

    /// The moto request log lines about this bucket so far: `METHOD /path STATUS`.
    pub fn requests(&self) -> Vec<String> {
        self.timed_requests().into_iter().map(|(_, r)| r).collect()
    }

    /// [`Bucket::requests`], each with the time moto logged it.
    pub fn timed_requests(&self) -> Vec<(String, String)> {
        let me = format!("/{}", self.name);
        self.moto
            .timed_requests()
            .into_iter()
            .filter(|(_, r)| {
                let path = r.split(' ').nth(1).unwrap_or_default();
                path == me
                    || path.starts_with(&format!("{me}/"))
                    || path.starts_with(&format!("{me}?"))
            })
            .collect()
    }

    /// The requests about this bucket that `f` made.
    pub fn requests_during<T>(&self, f: impl FnOnce() -> T) -> Vec<String> {
        let before = self.requests().len();
        f();
        self.requests().split_off(before)
    }

    /// An `object_store` client of this bucket, for the protocol checks
    /// (object_store is regtool's dependency with the `s3` feature only).
    /// Its TLS provider is ring, installed here as regtool installs it.
    #[cfg(feature = "s3")]
    pub fn client(&self) -> object_store::aws::AmazonS3 {
        // `Err` when installed already (by an earlier test).
        let _ = rustls::crypto::ring::default_provider().install_default();
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.name)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_endpoint(self.moto.endpoint())
            .with_allow_http(true)
            .build()
            .expect("S3 client")
    }
}
