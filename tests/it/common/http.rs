//! Static file server.

use super::*;

/// One request seen by a [`StaticServer`].
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A minimal HTTP/1.1 static file server on 127.0.0.1 (random port),
/// serving files under `root` for GET and HEAD, one thread per connection,
/// `Connection: close` on every response. Stops when dropped.
pub struct StaticServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    log: Arc<Mutex<Vec<RequestRecord>>>,
    accept_thread: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Starts serving `root`; the directory need not exist yet (files are
    /// looked up on each request).
    pub fn start(root: &Path) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let root = root.to_path_buf();
        let accept_thread = {
            let stop = stop.clone();
            let counts = counts.clone();
            let log = log.clone();
            thread::Builder::new()
                .name(format!("static-server-{}", addr.port()))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let stream = match conn {
                            Ok(s) => s,
                            Err(_) => {
                                thread::sleep(Duration::from_millis(5));
                                continue;
                            }
                        };
                        let root = root.clone();
                        let counts = counts.clone();
                        let log = log.clone();
                        // If no thread can be spawned the stream is dropped,
                        // which closes the connection.
                        let _ = thread::Builder::new()
                            .name("static-server-conn".into())
                            .spawn(move || {
                                let _ = handle_connection(stream, &root, &counts, &log);
                            });
                    }
                })
                .expect("spawn server thread")
        };
        StaticServer {
            addr,
            stop,
            counts,
            log,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// `sparse+http://127.0.0.1:PORT/`, the index URL Cargo uses.
    pub fn sparse_index_url(&self) -> String {
        format!("sparse+{}/", self.url())
    }

    /// Number of requests (any method, any status) for `path`, which is the
    /// decoded request path such as `/config.json`.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// A snapshot of the per-path request counts.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().unwrap().clone()
    }

    /// Total number of requests seen so far.
    pub fn total_requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Paths answered with 200 whose path ends with `suffix`.
    pub fn served_ok_with_suffix(&self, suffix: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.status == 200 && r.path.ends_with(suffix))
            .map(|r| r.path.clone())
            .collect()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock `accept`; if even that fails, leave the thread detached
        // rather than hang the test.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if woke && let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

fn handle_connection(
    mut stream: TcpStream,
    root: &Path,
    counts: &Mutex<HashMap<String, usize>>,
    log: &Mutex<Vec<RequestRecord>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true).ok();

    // Read the request line and headers (bounded).
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // e.g. the self-connection that unblocks accept
    }
    let mut header_bytes = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if header_bytes > 64 * 1024 {
            return write_response(&mut stream, 431, "text/plain", b"headers too large", false);
        }
    }

    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let path_part = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path_part);

    let (status, body, content_type) = if method != "GET" && method != "HEAD" {
        (405, b"method not allowed".to_vec(), "text/plain")
    } else {
        match decoded.as_deref().and_then(|p| resolve(root, p)) {
            Some(file) => match fs::read(&file) {
                Ok(data) => (200, data, content_type_for(&file)),
                Err(_) => (404, b"not found".to_vec(), "text/plain"),
            },
            None => (404, b"not found".to_vec(), "text/plain"),
        }
    };

    let key = decoded.unwrap_or_else(|| path_part.to_owned());
    *counts.lock().unwrap().entry(key.clone()).or_insert(0) += 1;
    log.lock().unwrap().push(RequestRecord {
        method: method.clone(),
        path: key,
        status,
    });

    write_response(&mut stream, status, content_type, &body, method == "HEAD")?;
    // Let the client see the end of the response before the socket goes:
    // half-close, then drain whatever it still sends until it closes.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 1024];
    while let Ok(n) = reader.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    Ok(())
}

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Unknown",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body);
    }
    stream.write_all(&response)?;
    stream.flush()
}

/// Maps a decoded URL path to a file under `root`, refusing anything that
/// could leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    if !url_path.starts_with('/') {
        return None;
    }
    let mut path = root.to_path_buf();
    for seg in url_path.split('/') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        path.push(seg);
    }
    if path.is_file() { Some(path) } else { None }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type_for(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("crate") => "application/gzip",
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("atom") => "application/atom+xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// A response read by [`http_request`].
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One plain HTTP/1.1 request to `127.0.0.1:port` (no client library, so the
/// test sees exactly the status and headers the server sent), with `headers`
/// and, when not empty, `body`; read to the end (`Connection: close`).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set timeout");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).expect("send request");
    stream.write_all(body).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
