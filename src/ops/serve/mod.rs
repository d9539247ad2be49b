//! `regtool serve`: cargo's Web API on the registry's own files. Floor 5
//! (`commands`): a unit of its own under `ops::*`; it calls `add`, `yank`,
//! `owner`, `list` and `token` (the same floor), which never call it.
//! docs/serve.md is the design.
//!
//! The library stays synchronous: `serve` builds a tokio runtime, runs an
//! accept loop of hyper connections (with a header timeout), axum routes the
//! requests, and each handler runs the synchronous commands through
//! `spawn_blocking`. A publish goes through exactly the code path of
//! `regtool add` ([`crate::ops::add::add_with`], the `.crate` as its one
//! input, after [`publish`]'s frame and cross-check, the authorization and
//! the claim in its hook under its writer); yank and unyank through [`crate::ops::yank::yank_with`], owner
//! changes through [`crate::ops::owner::change_with`], each under the writer
//! that checked the owner; search over the catalogue's search data or the
//! index ([`search`]); the files
//! read-only through [`files`]. Every write waits at most the lock timeout
//! for the registry's one `Writer`, then answers 503. Sources:
//! <https://doc.rust-lang.org/cargo/reference/registry-web-api.html>,
//! <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>.

mod api;
mod files;
mod publish;
mod search;

use crate::error::{Error, Result};
use crate::location::RegistryLocation;
use crate::name::CrateName;
use crate::ops::token::{Scope, TokenInfo};
use crate::output::{Format, Shell};
use crate::registry::Registry;
use api::ApiError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a write waits for the registry's writer by default, well inside
/// cargo's own HTTP timeout (`http.timeout`, 30 s by default).
pub(crate) const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest time a client may take to send a request's headers, the first
/// request's and each next one's on a kept-alive connection (a slow client).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause between two parts of a request body (a slow client).
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest time a request may take in all, the wait for the writer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the requests under way get to finish after SIGTERM before their
/// connections are dropped (a client that stops reading must not keep
/// `serve` from stopping); a publish already adding finishes regardless.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Most changes (publishes, yanks, owner changes) under way at once in one
/// `serve`, received or waiting for the writer; one more gets 503 at once.
/// A publish holds a staging file of up to `max-crate-size` bytes and its
/// JSON (up to [`publish::MAX_JSON`]) until it ends, and each change may
/// hold a thread of the blocking pool while it waits for the writer, so
/// this bounds the disk and memory they take and keeps the pool free for
/// reads (which never wait for a writer).
pub(crate) const MAX_CHANGES: usize = 16;

/// Options of `serve`.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// Address and port to listen on.
    pub(crate) listen: SocketAddr,
    /// How long a write waits for the registry's writer before answering 503.
    pub(crate) lock_timeout: Duration,
}

/// What every handler shares.
struct Served {
    /// The registry, opened again for each request that uses it, so that
    /// its settings are read as they are now.
    location: RegistryLocation,
    /// See [`ServeOptions::lock_timeout`].
    lock_timeout: Duration,
    /// One permit per change under way ([`MAX_CHANGES`]).
    changes: Arc<tokio::sync::Semaphore>,
}

impl Served {
    /// The shell the commands run with: quiet (their status lines would be
    /// noise in the log), waiting at most the lock timeout.
    fn shell(&self) -> Shell {
        Shell::new(Format::Text, true, true).with_lock_timeout(Some(self.lock_timeout))
    }

    /// A place among the [`MAX_CHANGES`] changes under way, held until the
    /// change ends.
    ///
    /// # Errors
    /// 503 when there is none left.
    fn change_permit(&self) -> std::result::Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.changes)
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "this server has {MAX_CHANGES} changes under way already (publishes, yanks, owner changes); try again in a moment"
                    ),
                )
            })
    }

    fn open(&self) -> std::result::Result<Registry, ApiError> {
        self.location
            .open()
            .map_err(|e| ApiError::from_error(&e, ""))
    }
}

/// The body limit of a publish for a registry's settings (bytes): the
/// largest `.crate`, the JSON part and the two length prefixes, at most what
/// the prefixes (`u32`) can announce.
fn body_limit(reg: &Registry) -> usize {
    let max = u64::from(u32::MAX);
    let limit = reg
        .settings
        .max_crate_size
        .min(max)
        .saturating_add(publish::MAX_JSON as u64 + 8);
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Serves cargo's Web API for the registry at `at` on `opts.listen` until
/// SIGTERM or Ctrl-C, then finishes the requests under way.
///
/// # Errors
/// As opening the registry ([`RegistryLocation::open`]); [`Error::Io`] when
/// the address cannot be bound or the runtime cannot start.
pub(crate) fn serve(at: &RegistryLocation, opts: &ServeOptions, shell: &Shell) -> Result<()> {
    let reg = at.open()?;
    // Staging files of publishes cut by a kill: no request lives longer than
    // REQUEST_TIMEOUT, and the ones in use (here or by `add`) are skipped.
    let swept = reg.sweep_staging(REQUEST_TIMEOUT)?;
    if swept > 0 {
        shell.status(
            "Removed",
            format!(
                "{} a killed run left",
                crate::output::count(swept, "staging file")
            ),
        );
    }
    let served = Arc::new(Served {
        location: at.clone(),
        lock_timeout: opts.lock_timeout,
        changes: Arc::new(tokio::sync::Semaphore::new(MAX_CHANGES)),
    });
    let app = Router::new()
        .route("/api/v1/crates/new", put(publish_handler))
        .route("/api/v1/crates/{name}/{version}/yank", delete(yank_handler))
        .route(
            "/api/v1/crates/{name}/{version}/unyank",
            put(unyank_handler),
        )
        .route(
            "/api/v1/crates/{name}/owners",
            get(owners_list_handler)
                .put(owners_add_handler)
                .delete(owners_remove_handler),
        )
        .route("/api/v1/crates", get(search_handler))
        .fallback(files_handler)
        // The other bodies (owners) are small; a publish reads its own
        // (`receive`, limited by the registry's settings).
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_IDLE_TIMEOUT,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(access_log))
        .with_state(served);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start", "the server's runtime", e))?;
    let listen = opts.listen;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::io("listen on", listen.to_string(), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("listen on", listen.to_string(), e))?;
        shell.status(
            "Serving",
            format!(
                "cargo's Web API for `{}` on http://{addr}/ (Ctrl-C or SIGTERM stops it)",
                reg.location().display()
            ),
        );
        accept(listener, app).await;
        Ok(())
    })
}

/// Serves the connections `listener` accepts with `app`, each with the
/// header timeout (hyper's, which needs a timer: `axum::serve` sets none),
/// until [`shutdown`]; then waits for the requests under way, at most
/// [`SHUTDOWN_GRACE`].
async fn accept(listener: tokio::net::TcpListener, app: Router) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: a warning, a pause, on.
                    crate::output::warn(format!("accepting a connection failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        crate::output::warn(format!(
            "requests still under way {}s after the signal: their connections are dropped",
            SHUTDOWN_GRACE.as_secs()
        ));
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// One line per request on stderr: method, path, status, milliseconds.
/// Never a header (the token) or the query.
async fn access_log(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let start = Instant::now();
    let res = next.run(req).await;
    crate::output::log_line(format!(
        "access method={method} path={path} status={} ms={}",
        res.status().as_u16(),
        start.elapsed().as_millis()
    ));
    res
}

/// Runs `f` on the blocking pool; its JSON answer, or a 500 if it panicked.
async fn blocking<F>(f: F) -> Response
where
    F: FnOnce() -> std::result::Result<serde_json::Value, ApiError> + Send + 'static,
{
    blocking_response(move || f().map(|v| axum::Json(v).into_response())).await
}

/// Runs `f` on the blocking pool; its answer, or a 500 if it panicked.
async fn blocking_response<F>(f: F) -> Response
where
    F: FnOnce() -> std::result::Result<Response, ApiError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request failed inside regtool: {e}"),
        )
        .into_response(),
    }
}

/// The token cargo sent (`Authorization`, the token itself), if any: an
/// extractor, so that every handler takes it the same way.
///
/// # Errors
/// (The rejection) 400 for more than one `Authorization` header (a proxy in
/// front and `serve` could disagree on who is calling).
struct Presented(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Presented {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, ApiError> {
        let mut all = parts.headers.get_all(header::AUTHORIZATION).iter();
        let first = all.next();
        if all.next().is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the request has more than one Authorization header",
            ));
        }
        Ok(Self(first.and_then(|v| v.to_str().ok()).map(str::to_owned)))
    }
}

/// The token `presented` names.
///
/// # Errors
/// 401 without a token, and for a token the registry does not hold (never
/// echoing it), so that cargo tells its user to log in again.
fn authenticate(
    reg: &Registry,
    presented: Option<&str>,
) -> std::result::Result<TokenInfo, ApiError> {
    let Some(presented) = presented else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "this request needs a token: `regtool token add NAME --scope ...` makes one, `cargo login --registry {}` gives it to cargo",
                reg.settings.registry_name()
            ),
        ));
    };
    crate::ops::token::authenticate(reg, presented)
        .map_err(|e| ApiError::from_error(&e, ""))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "the token is not valid for this registry (unknown or revoked): `cargo logout --registry {0}`, then `cargo login --registry {0}` with a token of `regtool token add`",
                    reg.settings.registry_name()
                ),
            )
        })
}

/// The token `presented` names, if it may do `scope` to `name`.
///
/// # Errors
/// As [`authenticate`]; 403 for a token without the scope for that crate.
fn authorize(
    reg: &Registry,
    presented: Option<&str>,
    scope: Scope,
    name: &CrateName,
) -> std::result::Result<TokenInfo, ApiError> {
    let info = authenticate(reg, presented)?;
    check_scope(&info, scope, name)?;
    Ok(info)
}

/// Whether the token `info` may do `scope` to `name`.
///
/// # Errors
/// 403 naming the scope (and the token's crate patterns).
fn check_scope(
    info: &TokenInfo,
    scope: Scope,
    name: &CrateName,
) -> std::result::Result<(), ApiError> {
    if info.allows(scope, name) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "the token `{}` may not {} `{name}`: it needs the `{}` scope{}",
            info.name,
            match scope {
                Scope::PublishNew => "publish the new crate",
                Scope::PublishUpdate => "publish a new version of",
                Scope::Yank => "yank or unyank versions of",
                Scope::ChangeOwners => "change the owners of",
                Scope::Admin => "administer",
            },
            scope.as_str(),
            if info.crates.is_empty() {
                String::new()
            } else {
                format!(" for a crate matching {}", info.crates.join(", "))
            }
        ),
    ))
}

/// Whether `who` may change the existing crate `name` as an owner: an
/// `admin` token (whose crate patterns, if any, match `name`) always;
/// otherwise only one of its owners.
///
/// # Errors
/// 403 naming the owners, or saying that the crate has none (an `admin`
/// token or `regtool owner` must act); 404 for a crate that is not in the
/// registry and has no owner.
fn check_owner(
    reg: &Registry,
    who: &TokenInfo,
    name: &CrateName,
) -> std::result::Result<(), ApiError> {
    // An admin token limited to crate patterns is an admin of those only.
    if who.allows(Scope::Admin, name) {
        return Ok(());
    }
    let (owners, _) =
        crate::ops::owner::owners(reg, name).map_err(|e| ApiError::from_error(&e, ""))?;
    match owners {
        Some(o) if o.contains(&who.name) => Ok(()),
        Some(o) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "`{}` is not an owner of `{name}` (its owners: {})",
                who.name,
                o.join(", ")
            ),
        )),
        None if reg
            .find_crate(name)
            .map_err(|e| ApiError::from_error(&e, ""))?
            .is_none() =>
        {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("there is no crate `{name}` in this registry"),
            ))
        }
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "`{name}` has no owner (it was added with `regtool add` or `mirror`): only an admin token may change it through the API until `regtool owner {name} --add USER` gives it one"
            ),
        )),
    }
}

/// Whether `who` may publish a version of `name`, decided under the
/// registry's writer that then adds it ([`crate::ops::add::add_with`]'s
/// hook): a crate in the index needs `publish-update`, a new one
/// `publish-new`; a crate that is in the index or has an owners file (a name
/// claimed by a publish that then failed, or a crate removed since) needs an
/// owner or admin; a crate with neither is claimed for the token's user
/// here, so that of two first publishes the second is refused.
///
/// # Errors
/// As [`check_scope`] and [`check_owner`]; the library's errors.
fn authorize_publish(
    writer: &crate::registry::Writer,
    who: &TokenInfo,
    name: &CrateName,
) -> std::result::Result<(), Refusal> {
    let exists = writer.find_crate(name)?.is_some();
    let scope = if exists {
        Scope::PublishUpdate
    } else {
        Scope::PublishNew
    };
    check_scope(who, scope, name)?;
    let (owners, _) = crate::ops::owner::owners(writer, name)?;
    if exists || owners.is_some() {
        check_owner(writer, who, name)?;
    } else {
        crate::ops::owner::claim(writer, name, &who.name)?;
    }
    Ok(())
}

/// A refusal from the API's own checks or an error of the library (which
/// becomes an answer naming the crate, see [`ApiError::from_error`]).
enum Refusal {
    Api(ApiError),
    Lib(Error),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal::Api(e)
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        Refusal::Lib(e)
    }
}

impl Refusal {
    /// The answer, naming the crate as `what` for a library error.
    fn or_lib(self, what: &str) -> ApiError {
        match self {
            Refusal::Api(e) => e,
            Refusal::Lib(e) => ApiError::from_error(&e, what),
        }
    }
}

/// `PUT /api/v1/crates/new`.
async fn publish_handler(
    State(served): State<Arc<Served>>,
    Presented(token): Presented,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let received = match receive(&served, token, announced, body).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    blocking(move || publish_blocking(&served, received)).await
}

/// A publish body received: who sent it, the JSON, and the `.crate` in a
/// staging file of the registry (opened for this request).
struct Received {
    reg: Registry,
    who: TokenInfo,
    json: Vec<u8>,
    staging: tempfile::NamedTempFile,
    /// This publish's place among [`MAX_CHANGES`], held until it ends.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Reads a publish body as it arrives ([`publish::Framer`]): the JSON into
/// memory, the `.crate` into a staging file, so that a publish holds at most
/// the JSON and one chunk in memory; only for a `token` that may publish
/// some crate ([`may_publish`]), checked before a byte of the body is read.
///
/// # Errors
/// As [`may_publish`] (401, 403); 503 when [`MAX_CHANGES`] are under way
/// (before the body is read); 413 for a body announced (`Content-Length`) over [`body_limit`] or a
/// `.crate` announced over `max-crate-size`, before it is read; 400 for a
/// body that is not cargo's frame or cannot be read (a client that stopped
/// sending); the library's errors.
async fn receive(
    served: &Arc<Served>,
    token: Option<String>,
    announced: Option<u64>,
    mut body: axum::body::Body,
) -> std::result::Result<Received, ApiError> {
    use http_body_util::BodyExt as _;
    let opener = Arc::clone(served);
    let (reg, who, staging) = tokio::task::spawn_blocking(move || {
        let reg = opener.open()?;
        let who = may_publish(&reg, token.as_deref())?;
        let staging = reg
            .staging_file()
            .map_err(|e| ApiError::from_error(&e, ""))?;
        Ok::<_, ApiError>((reg, who, staging))
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request failed inside regtool: {e}"),
        )
    })??;
    let permit = served.change_permit()?;
    let limit = body_limit(&reg);
    if let Some(n) = announced.filter(|&n| n > limit as u64) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the publish body is {n} bytes, over this registry's limit of {limit} bytes (max-crate-size and {} of metadata)",
                publish::MAX_JSON
            ),
        ));
    }
    let mut framer = publish::Framer::new(reg.settings.max_crate_size);
    let mut file = staging.as_file();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the publish body could not be read to its end: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        tokio::task::block_in_place(|| framer.push(&data, &mut file)).map_err(|e| match e {
            publish::FrameError::Bad(b) => ApiError::from(b),
            publish::FrameError::Oversize(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            publish::FrameError::Write(e) => {
                ApiError::from_error(&Error::io("write", staging.path(), e), "")
            }
        })?;
    }
    let (json, _) = framer.finish()?;
    Ok(Received {
        reg,
        who,
        json,
        staging,
        _permit: permit,
    })
}

/// The token `presented` names, if it may publish some crate (a publish
/// scope or `admin`); which crate it may publish is decided once the
/// `.crate` is read ([`authorize_publish`]).
///
/// # Errors
/// As [`authenticate`]; 403 for a token without a publish scope.
fn may_publish(
    reg: &Registry,
    presented: Option<&str>,
) -> std::result::Result<TokenInfo, ApiError> {
    let who = authenticate(reg, presented)?;
    let publishes = [Scope::PublishNew, Scope::PublishUpdate, Scope::Admin];
    if who.scopes.iter().any(|s| publishes.contains(s)) {
        return Ok(who);
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "the token `{}` may not publish: it needs the `publish-new` or `publish-update` scope",
            who.name
        ),
    ))
}

/// A publish: the `.crate` read and cross-checked with the JSON, then
/// `add` with the `.crate` as its one input, the token authorized (and a
/// new crate claimed) under `add`'s writer.
fn publish_blocking(
    served: &Served,
    received: Received,
) -> std::result::Result<serde_json::Value, ApiError> {
    let Received {
        reg,
        who,
        json,
        staging,
        _permit,
    } = received;
    let meta = publish::metadata(&json)?;
    let what = format!(
        "{}@{}",
        crate::output::printable(&meta.name),
        crate::output::printable(&meta.vers)
    );
    let limits = crate::reader::input_limits(&reg.settings, None, None);
    let entry = crate::reader::read_entry_file(staging.path(), &limits, &reg.settings, None)
        .map_err(|e| ApiError::from_error(&e, &what))?;
    publish::cross_check(&meta, &entry.line)?;
    let shell = served.shell();
    let opts = crate::ops::add::AddOptions {
        paths: vec![staging.path().to_path_buf()],
        ..Default::default()
    };
    // The authorization, the claim and the add under one writer.
    let report = crate::ops::add::add_with(&reg, &opts, &shell, |writer| {
        authorize_publish(writer, &who, &entry.name)
    })
    .map_err(|e: Refusal| e.or_lib(&what))?;
    let staged = format!("`{}`", staging.path().display());
    let other: Vec<String> = report
        .warnings
        .iter()
        .map(|w| w.replace(&staged, &what))
        .collect();
    Ok(serde_json::json!({
        "warnings": { "invalid_categories": [], "invalid_badges": [], "other": other }
    }))
}

/// `DELETE /api/v1/crates/{name}/{version}/yank`.
async fn yank_handler(
    State(served): State<Arc<Served>>,
    Presented(token): Presented,
    UrlPath((name, version)): UrlPath<(String, String)>,
) -> Response {
    blocking(move || yank_blocking(&served, token.as_deref(), &name, &version, false)).await
}

/// `PUT /api/v1/crates/{name}/{version}/unyank`.
async fn unyank_handler(
    State(served): State<Arc<Served>>,
    Presented(token): Presented,
    UrlPath((name, version)): UrlPath<(String, String)>,
) -> Response {
    blocking(move || yank_blocking(&served, token.as_deref(), &name, &version, true)).await
}

/// A yank (or unyank with `undo`) through `regtool yank`'s code path.
fn yank_blocking(
    served: &Served,
    token: Option<&str>,
    name: &str,
    version: &str,
    undo: bool,
) -> std::result::Result<serde_json::Value, ApiError> {
    let bad = |what: &str, why: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` is not a {what}: {why}",
                crate::output::printable(if what == "version" { version } else { name })
            ),
        )
    };
    let name = crate_name(name)?;
    let version = semver::Version::parse(version).map_err(|e| bad("version", e.to_string()))?;
    let reg = served.open()?;
    let who = authorize(&reg, token, Scope::Yank, &name)?;
    let _permit = served.change_permit()?;
    // The owner check and the yank under one writer: an owner removed
    // meanwhile cannot yank.
    let shell = served.shell();
    let lib = |e: Error| ApiError::from_error(&e, "");
    let writer = reg.writer(&shell).map_err(lib)?;
    check_owner(&writer, &who, &name)?;
    let opts = crate::ops::yank::YankOptions {
        name,
        version,
        undo,
        dry_run: false,
    };
    crate::ops::yank::yank_with(&writer, &opts, &shell).map_err(lib)?;
    Ok(serde_json::json!({ "ok": true }))
}

/// `GET /api/v1/crates/{name}/owners`: any valid token may list them.
async fn owners_list_handler(
    State(served): State<Arc<Served>>,
    Presented(token): Presented,
    UrlPath(name): UrlPath<String>,
) -> Response {
    blocking(move || {
        let name = crate_name(&name)?;
        let reg = served.open()?;
        authenticate(&reg, token.as_deref())?;
        let opts = crate::ops::owner::OwnerOptions {
            name,
            add: Vec::new(),
            remove: Vec::new(),
        };
        let report = crate::ops::owner::owner(&reg, &opts, &served.shell())
            .map_err(|e| ApiError::from_error(&e, ""))?;
        let users: Vec<serde_json::Value> = report
            .owners
            .iter()
            .enumerate()
            .map(|(i, o)| serde_json::json!({ "id": i + 1, "login": o, "name": o }))
            .collect();
        Ok(serde_json::json!({ "users": users }))
    })
    .await
}

/// `PUT /api/v1/crates/{name}/owners`.
async fn owners_add_handler(
    State(served): State<Arc<Served>>,
    Presented(token): Presented,
    UrlPath(name): UrlPath<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    owners_change(served, token, name, body, true).await
}

/// `DELETE /api/v1/crates/{name}/owners`.
async fn owners_remove_handler(
    State(served): State<Arc<Served>>,
    Presented(token): Presented,
    UrlPath(name): UrlPath<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    owners_change(served, token, name, body, false).await
}

/// The body of an owners change: `{"users": ["login", ...]}`.
#[derive(serde::Deserialize)]
struct OwnersBody {
    users: Vec<String>,
}

/// Adds (`add`) or removes the users of the body through `regtool owner`'s
/// code path, for an owner (or admin) with the `change-owners` scope.
async fn owners_change(
    served: Arc<Served>,
    token: Option<String>,
    name: String,
    body: std::result::Result<Bytes, BytesRejection>,
    add: bool,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return ApiError::new(r.status(), r.body_text()).into_response(),
    };
    blocking(move || {
        let name = crate_name(&name)?;
        let users: OwnersBody = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not {{\"users\": [...]}}: {e}"),
            )
        })?;
        let reg = served.open()?;
        let who = authorize(&reg, token.as_deref(), Scope::ChangeOwners, &name)?;
        let _permit = served.change_permit()?;
        // The owner check and the change under one writer.
        let shell = served.shell();
        let lib = |e: Error| ApiError::from_error(&e, "");
        let writer = reg.writer(&shell).map_err(lib)?;
        check_owner(&writer, &who, &name)?;
        let (add, remove) = if add {
            (users.users.clone(), Vec::new())
        } else {
            (Vec::new(), users.users.clone())
        };
        let opts = crate::ops::owner::OwnerOptions { name, add, remove };
        let report = crate::ops::owner::change_with(&writer, &opts, &shell).map_err(lib)?;
        let msg = format!(
            "the owners of `{}` are now: {}",
            report.name,
            report.owners.join(", ")
        );
        Ok(serde_json::json!({ "ok": true, "msg": msg }))
    })
    .await
}

/// A crate name from a URL.
///
/// # Errors
/// 400 naming the rule.
fn crate_name(name: &str) -> std::result::Result<CrateName, ApiError> {
    CrateName::new(name).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` is not a crate name: {e}",
                crate::output::printable(name)
            ),
        )
    })
}

/// The query of a search: `q` and `per_page` (1 to 100, 10 by default);
/// other parameters are ignored, as the reference asks.
#[derive(serde::Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    per_page: Option<usize>,
}

/// `GET /api/v1/crates?q=&per_page=`: the crates whose name holds `q`
/// (any case, `-` and `_` alike), by name, with their description when the
/// catalogue is on ([`search::crates`]).
async fn search_handler(
    State(served): State<Arc<Served>>,
    Presented(token): Presented,
    query: std::result::Result<
        axum::extract::Query<SearchQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    let query = match query {
        Ok(q) => q.0,
        Err(r) => return ApiError::new(r.status(), r.body_text()).into_response(),
    };
    blocking(move || {
        let reg = served.open()?;
        if reg.config.auth_required {
            authenticate(&reg, token.as_deref())?;
        }
        let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
        let q = fold(&query.q);
        let per_page = query.per_page.unwrap_or(10).clamp(1, 100);
        let all = search::crates(&reg).map_err(|e| ApiError::from_error(&e, ""))?;
        let hits: Vec<_> = all.iter().filter(|c| fold(&c.name).contains(&q)).collect();
        let crates: Vec<serde_json::Value> = hits
            .iter()
            .take(per_page)
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "max_version": c.max_version,
                    // cargo prints `# ` for an empty string, nothing for null.
                    "description": (!c.description.is_empty()).then_some(&c.description),
                })
            })
            .collect();
        Ok(serde_json::json!({ "crates": crates, "meta": { "total": hits.len() } }))
    })
    .await
}

/// Every other `GET` (and `HEAD`): the registry's files, read-only
/// ([`files`]); with `auth-required`, only for a valid token (401 with
/// `WWW-Authenticate: Cargo` first, the handshake cargo expects).
async fn files_handler(
    State(served): State<Arc<Served>>,
    method: axum::http::Method,
    Presented(token): Presented,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return ApiError::new(StatusCode::NOT_FOUND, "regtool serve has no such endpoint")
            .into_response();
    }
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = uri.path().to_owned();
    let runtime = tokio::runtime::Handle::current();
    blocking_response(move || {
        let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not found");
        let key = files::key_of(&path).ok_or_else(not_found)?;
        let reg = served.open()?;
        if reg.config.auth_required {
            authenticate(&reg, token.as_deref())?;
        }
        // A file that cannot be read (a folder, a name the file system
        // refuses) is a 404 that names nothing; the log says why.
        let unreadable = |e: Error| {
            crate::output::warn(format!("serving `{key}`: {}", crate::error::Report(&e)));
            not_found()
        };
        let meta = reg.stat(&key).map_err(unreadable)?.ok_or_else(not_found)?;
        let headers = |etag: &str| {
            [
                (header::ETAG, etag.to_owned()),
                (header::CONTENT_TYPE, files::content_type(&key).to_owned()),
                (header::CACHE_CONTROL, "no-cache".to_owned()),
            ]
        };
        if meta.size <= files::WHOLE {
            let object = reg
                .get_object(&key)
                .map_err(unreadable)?
                .ok_or_else(not_found)?;
            let etag = files::etag(&object.bytes);
            if if_none_match.is_some_and(|v| files::matches(&v, &etag)) {
                return Ok((StatusCode::NOT_MODIFIED, headers(&etag)).into_response());
            }
            return Ok((StatusCode::OK, headers(&etag), object.bytes).into_response());
        }
        // A large file (a big .crate) is streamed: a download that stalls
        // holds a few chunks, not the file.
        let etag = files::etag_of_meta(&meta);
        if if_none_match.is_some_and(|v| files::matches(&v, &etag)) {
            return Ok((StatusCode::NOT_MODIFIED, headers(&etag)).into_response());
        }
        let reader = reg
            .open_object(&key)
            .map_err(unreadable)?
            .ok_or_else(not_found)?;
        let body = {
            let _in_runtime = runtime.enter();
            files::stream(reader)
        };
        Ok((
            StatusCode::OK,
            headers(&etag),
            [(header::CONTENT_LENGTH, meta.size.to_string())],
            body,
        )
            .into_response())
    })
    .await
}
