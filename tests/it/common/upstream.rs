//! For `regtool mirror` and `doctor`: an upstream registry served by a
//! [`FaultServer`], a small HTTP server on plain `std::net` that answers 404,
//! 5xx and slow responses on cue and lies on request (other bytes, bytes
//! dripped one at a time, redirects, huge generated bodies), running `mirror`
//! against it, and reading its report.

use super::*;

/// Writes a generated body (see [`Fault::Stream`]).
pub type BodyWriter = Arc<dyn Fn(&mut dyn Write) -> io::Result<()> + Send + Sync>;

/// What the fault server does with one request for a path.
#[derive(Clone)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Wait this long before serving the file.
    Delay(Duration),
    /// Serve the file (its head at once) one byte at a time, waiting this
    /// long before each.
    Drip(Duration),
    /// Answer 200 with these bytes instead of the file.
    Body(Vec<u8>),
    /// Answer `302 Found` pointing at this location.
    Redirect(String),
    /// Answer 200 with a body the function writes as it is sent (no
    /// `Content-Length`: the body ends when the connection closes).
    Stream(BodyWriter),
    /// Serve the file with this `Content-Length` instead of its size (a
    /// lie either way: the body is the file, whatever the header says).
    Length(u64),
}

impl Fault {
    /// Answer 200 with zeros for as long as the client reads (no
    /// `Content-Length`).
    pub fn endless() -> Fault {
        Fault::Stream(Arc::new(|out: &mut dyn Write| -> io::Result<()> {
            let zeros = [0u8; 64 * 1024];
            loop {
                out.write_all(&zeros)?;
            }
        }))
    }
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Status(s) => write!(f, "Status({s})"),
            Fault::Delay(d) => write!(f, "Delay({d:?})"),
            Fault::Drip(d) => write!(f, "Drip({d:?})"),
            Fault::Body(b) => write!(f, "Body({} bytes)", b.len()),
            Fault::Redirect(to) => write!(f, "Redirect({to})"),
            Fault::Stream(_) => write!(f, "Stream(..)"),
            Fault::Length(n) => write!(f, "Length({n})"),
        }
    }
}

/// Serves the files under a folder on 127.0.0.1 (GET, `Connection: close`);
/// each path's queued faults are used up one per request, then its standing
/// lie (if any) answers every request, else the file is served. Counts the
/// requests for each path.
pub struct FaultServer {
    /// Its port.
    pub port: u16,
    faults: Arc<Mutex<HashMap<String, Vec<Fault>>>>,
    lies: Arc<Mutex<HashMap<String, Fault>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl FaultServer {
    /// Serves `root` until dropped.
    pub fn start(root: &Path) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults: Arc<Mutex<HashMap<String, Vec<Fault>>>> = Arc::default();
        let lies: Arc<Mutex<HashMap<String, Fault>>> = Arc::default();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, l, c, s, root) = (
            faults.clone(),
            lies.clone(),
            counts.clone(),
            stop.clone(),
            root.to_path_buf(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let (f, l, c, root, s) = (f.clone(), l.clone(), c.clone(), root.clone(), s.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &root, &f, &l, &c, &s);
                });
            }
        });
        FaultServer {
            port,
            faults,
            lies,
            counts,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `sparse+http://127.0.0.1:PORT/`, what `--upstream` takes.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/", self.url())
    }

    /// Queues `faults` for the next requests of `path` (`/al/ph/alpha`).
    pub fn fail(&self, path: &str, faults: &[Fault]) {
        self.faults
            .lock()
            .unwrap()
            .insert(path.to_string(), faults.to_vec());
    }

    /// Answers every request of `path` with `lie` from now on (after any
    /// queued faults).
    pub fn lie(&self, path: &str, lie: Fault) {
        self.lies.lock().unwrap().insert(path.to_string(), lie);
    }

    /// How many requests `path` had.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Every path asked for, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.counts.lock().unwrap().keys().cloned().collect();
        paths.sort();
        paths
    }

    /// How many requests there were in all.
    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    mut stream: TcpStream,
    root: &Path,
    faults: &Mutex<HashMap<String, Vec<Fault>>>,
    lies: &Mutex<HashMap<String, Fault>>,
    counts: &Mutex<HashMap<String, usize>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    if reader.read_line(&mut request)? == 0 {
        return Ok(());
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    let fault = {
        let mut f = faults.lock().unwrap();
        f.get_mut(&path)
            .and_then(|q| (!q.is_empty()).then(|| q.remove(0)))
    }
    .or_else(|| lies.lock().unwrap().get(&path).cloned());
    let file = || {
        let rel = path.trim_start_matches('/');
        match fs::read(root.join(rel)) {
            Ok(b) if !rel.contains("..") => (200, b),
            _ => (404, b"not found".to_vec()),
        }
    };
    let head = |status: u16, len: Option<usize>, extra: &str| {
        let len = len
            .map(|n| format!("Content-Length: {n}\r\n"))
            .unwrap_or_default();
        format!("HTTP/1.1 {status} X\r\n{len}{extra}Connection: close\r\n\r\n")
    };
    match fault {
        Some(Fault::Status(s)) => {
            stream.write_all(head(s, Some(0), "").as_bytes())?;
        }
        Some(Fault::Redirect(to)) => {
            stream.write_all(head(302, Some(0), &format!("Location: {to}\r\n")).as_bytes())?;
        }
        Some(Fault::Body(body)) => {
            stream.write_all(head(200, Some(body.len()), "").as_bytes())?;
            stream.write_all(&body)?;
        }
        Some(Fault::Stream(write)) => {
            stream.write_all(head(200, None, "").as_bytes())?;
            let mut out = io::BufWriter::with_capacity(256 * 1024, &stream);
            write(&mut out)?;
            out.flush()?;
        }
        Some(Fault::Length(claimed)) => {
            let (status, body) = file();
            let extra = format!("Content-Length: {claimed}\r\n");
            stream.write_all(head(status, None, &extra).as_bytes())?;
            stream.write_all(&body)?;
        }
        Some(Fault::Drip(gap)) => {
            let (status, body) = file();
            stream.write_all(head(status, Some(body.len()), "").as_bytes())?;
            for b in body {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                thread::sleep(gap);
                stream.write_all(&[b])?;
            }
        }
        other => {
            if let Some(Fault::Delay(d)) = other {
                thread::sleep(d);
            }
            let (status, body) = file();
            stream.write_all(head(status, Some(body.len()), "").as_bytes())?;
            stream.write_all(&body)?;
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 512];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

/// An upstream for `regtool mirror`: a regtool `--mirror` registry (standing
/// in for crates.io) served by a [`FaultServer`], with its `dl` URL pointing
/// there. Derefs to the registry ([`TestRegistry`]).
pub struct Upstream {
    /// The registry.
    pub registry: TestRegistry,
    /// The server in front of it.
    pub server: FaultServer,
}

impl Upstream {
    /// An upstream holding `crates`.
    pub fn new(crates: &[CrateBuilder]) -> Upstream {
        let registry = TestRegistry::mirror();
        for krate in crates {
            registry.publish(krate);
        }
        let server = FaultServer::start(&registry.root);
        registry.ok(&[&"settings", &"--url", &server.url()]);
        Upstream { registry, server }
    }

    /// An upstream holding `alpha 1.0.0` and `beta 0.2.0`, which depends on
    /// alpha.
    pub fn alpha_beta() -> Upstream {
        Upstream::new(&[
            CrateBuilder::new("alpha", "1.0.0"),
            CrateBuilder::new("beta", "0.2.0").manifest_extra("[dependencies]\nalpha = \"1\"\n"),
        ])
    }

    /// Its sparse index URL, what `--upstream` takes.
    pub fn index_url(&self) -> String {
        self.server.index_url()
    }

    /// `regtool --registry MIRROR --format json mirror --upstream URL ARGS...`
    /// (see [`mirror_command`]), with a timeout.
    pub fn mirror_into(&self, mirror: &Path, args: &[&str]) -> Output {
        let url = self.index_url();
        let mut all = vec!["--upstream", &url];
        all.extend(args);
        run_with_timeout(mirror_command(mirror, &all), REGTOOL_TIMEOUT)
    }
}

impl std::ops::Deref for Upstream {
    type Target = TestRegistry;
    fn deref(&self) -> &TestRegistry {
        &self.registry
    }
}

/// `regtool --registry ROOT --format json mirror ARGS...`, not yet run: local
/// servers bypass any proxy, and no `REGTOOL_UPSTREAM` is inherited.
pub fn mirror_command(root: &Path, args: &[&str]) -> Command {
    let mut cmd = regtool();
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("REGTOOL_UPSTREAM")
        .arg("--registry")
        .arg(root)
        .args(["--format", "json", "mirror"])
        .args(args);
    cmd
}

/// The entry for `name` `vers` in the `versions` of a `mirror` or `add` JSON
/// report (panics, showing the report, when there is none).
pub fn version_entry<'a>(report: &'a Value, name: &str, vers: &str) -> &'a Value {
    report["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name && v["vers"] == vers)
        .unwrap_or_else(|| panic!("{name} {vers} not in the report: {report:#}"))
}

/// The `written` list of a JSON report.
pub fn written(report: &Value) -> Vec<&str> {
    report["written"]
        .as_array()
        .unwrap_or_else(|| panic!("no `written` list: {report:#}"))
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect()
}

/// A `Cargo.lock` (version 4) as cargo writes it against crates.io: first
/// `path_package` (a package of the workspace, no source) when given, then
/// each `(name, version, checksum)` from crates.io.
pub fn crates_io_lockfile(path_package: Option<&str>, packages: &[(&str, &str, &str)]) -> String {
    let mut lock = String::from("version = 4\n");
    if let Some(name) = path_package {
        lock.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"0.1.0\"\n"
        ));
    }
    for (name, vers, cksum) in packages {
        lock.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"{vers}\"\nsource = \"registry+{CRATES_IO_INDEX}\"\nchecksum = \"{cksum}\"\n"
        ));
    }
    lock
}
