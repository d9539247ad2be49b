//! The command line (clap derive) and the dispatch from a parsed command to the
//! commands in [`crate::ops`]: each command's arguments convert themselves into
//! its options (`From`/`TryFrom`, parsed and checked once, here), and [`run`]
//! is a table of one arm per subcommand. Floor 6 (`command line`), with the
//! printer ([`crate::report`]); `src/main.rs` sits on it.

use crate::config::RegistryName;
use crate::error::{Error, Result};
use crate::location::RegistryLocation;
use crate::name::CrateName;
use crate::ops;
use crate::output::{Format, Shell};
use crate::registry::Registry;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

const ABOUT: &str = "Keep a Cargo alternative registry as plain static files";
const LONG_ABOUT: &str = "\
Keep a Cargo alternative registry as plain static files.

regtool writes .crate files, the sparse index (one file per crate, one JSON line per
version, exactly as crates.io writes them) and config.json into a folder. Any static
web server (nginx, S3, `python3 -m http.server`) can then serve that folder to cargo:

    regtool init ./registry --url https://crates.example.com
    cargo package && regtool --registry ./registry add target/package/*.crate

and in ~/.cargo/config.toml:

    [registries.example]
    index = \"sparse+https://crates.example.com/\"";

/// regtool's command line.
#[derive(Debug, Parser)]
#[command(name = "regtool", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// The registry to work on: a folder, or s3://BUCKET/PREFIX (AWS settings from the environment) [default: the current folder]
    #[arg(long, global = true, env = "REGTOOL_REGISTRY", value_name = "DIR")]
    pub registry: Option<PathBuf>,

    /// How to print reports on stdout: `text` for people, `json` for scripts
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,

    /// Print no status lines (warnings and errors are still printed)
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Never draw progress bars (they are only drawn when stderr is a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// How long a command that changes the registry waits for another regtool to finish (the folder's file lock, or a bucket's lease), e.g. 30s, 5m, 0 for not at all [default: as long as it takes]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,

    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Human-readable text
    Text,
    /// JSON on stdout
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new registry in a folder or an S3 bucket
    #[command(long_about = "\
Create a new registry in a folder: config.json (what cargo reads first, with the download
URL template) and .regtool/ (regtool's own settings and lock). The folder may exist, but
must not already hold a registry.

The URL is where the folder will be served; cargo users then configure
`index = \"sparse+URL/\"`.

A registry can also live in an S3 bucket (any S3-protocol store): give
s3://BUCKET/PREFIX instead of a folder, here and to --registry. Credentials, region and
endpoint come from the standard AWS environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP).

Examples:
    regtool init ./registry --url https://crates.example.com
    regtool init s3://acme-crates/registry --url https://crates.acme.example")]
    Init(InitArgs),

    /// Add .crate files (from `cargo package`) to the registry
    #[command(long_about = "\
Add .crate files (as written by `cargo package`) to the registry.

Each file is checked (gzip, tar layout, Cargo.toml, name and version rules), its
SHA-256 checksum computed, and its index line derived exactly as crates.io would write
it. If any input is bad, nothing is written and every problem is listed. Adding the same
bytes again is a no-op (handy for CI reruns); other bytes under an existing version are
refused.

Examples:
    regtool add target/package/foo-1.0.0.crate
    regtool --registry /srv/registry add ./dist/")]
    Add(AddArgs),

    /// Mark a version as yanked (or not, with --undo), like `cargo yank`
    #[command(long_about = "\
Mark a version as yanked, like `cargo yank`: cargo no longer picks it for new lockfiles,
but projects whose Cargo.lock already pins it still download and build it. `--undo`
makes it available again. Only that version's `yanked` flag changes in the index file.

Examples:
    regtool yank foo@1.0.1
    regtool yank foo 1.0.1 --undo")]
    Yank(YankArgs),

    /// Delete a version (its index line and .crate) from the registry
    #[command(long_about = "\
Delete a version: its index line and its .crate file. Meant for versions published by
mistake (a secret inside, say). Projects whose Cargo.lock pins the version will fail to
build; `regtool yank` is the usual tool. Removing the last version removes the crate's
index file.

Example:
    regtool remove foo@1.0.1")]
    Remove(RemoveArgs),

    /// Rebuild the index from the .crate files under crates/
    #[command(long_about = "\
Rebuild every index file from the .crate files under crates/, reading each manifest
(file names are not trusted). Versions that had a line keep their yanked flag and
publication time; new ones get the file's mtime. Lines whose .crate is missing are
reported and kept, unless --prune. Running it twice changes nothing.

Reindex never changes what it cannot justify: a .crate whose SHA-256 no longer matches
its line (damaged or replaced after it was added), a .crate it cannot read, one crate
under two spellings that no index file decides between (foo and Foo, a-b and a_b), or
two files for one version. It lists each, writes nothing and exits 1. A .crate under
another spelling than its crate's index file has (a killed add's leftover, or a copy)
is an orphan: left out of the index and named. --accept-changed takes the new bytes of changed
.crate files (naming each); lockfiles that pin the old checksum then break. Files that
are not index files (robots.txt, index.html, healthz) are never touched.

Also the migration path: copy an Artifactory local repository's crates/ folder into a
new registry (`regtool init`) and run reindex.

Example:
    regtool reindex ./registry")]
    Reindex(ReindexArgs),

    /// Check the registry and report every problem found
    #[command(long_about = "\
Check the registry and report every problem (exit code 1 if any): config.json, index
files that do not parse (as regtool's and as cargo's own index lines), sit at the wrong
path or mix crates, duplicate versions, lines without their .crate, .crate files without
a line, and checksums that do not match. --deep also re-derives every line from its
.crate and reports the fields that differ.

Example:
    regtool verify ./registry --deep")]
    Verify(VerifyArgs),

    /// List the crates in the registry
    #[command(long_about = "\
List the crates in the registry: name, latest version (not yanked), number of versions
and of yanked versions.

Example:
    regtool list --format json")]
    List,

    /// Show a crate's versions, or one version's details
    #[command(long_about = "\
Show a crate's versions (yanked, publication time, size), or with VERSION one
version's details: dependencies, features, rust-version, checksum and size.

Examples:
    regtool info foo
    regtool info foo 1.0.0")]
    Info(InfoArgs),

    /// Show or change the registry's settings (URL, aliases, token requirement, size limits)
    #[command(long_about = "\
Show the registry's settings, or change them: the URL it is served at (rewrites
config.json's download URL; the old URL stays known as an alias, so crates whose
dependencies name it still count as depending on this registry), other URLs it is known
by, whether cargo must send a token, and the size limits for `add`. Index lines are not
changed.

Examples:
    regtool settings
    regtool settings --url https://crates.new-host.example.com
    regtool settings --max-crate-size 50MiB --format json")]
    Settings(SettingsArgs),

    /// Free the writers' lease of a registry in a bucket after its holder died
    #[command(long_about = "\
Free the writers' lease of a registry in an S3 bucket (.regtool/lease) after the regtool
holding it died (a CI job killed mid-add): without it, the next writer waits until the
lease has been unchanged for the lease time and a quarter (75s with the default 60s),
then takes it over.

unlock watches the lease the same way and frees it once stale; it refuses when the
holder renews it meanwhile (it is alive), or when --lock-timeout runs out first, saying
how long it would take.

--force frees the lease at once. Dangerous: if the holder is alive after all, it keeps
writing beside the next writer until its next renewal fails (up to half the lease),
which is exactly what the lease prevents. Use it only when the holder is known to be dead.

A folder registry's lock is an OS lock that ends with its process: nothing to unlock.

Examples:
    regtool --registry s3://acme-crates/registry unlock
    regtool --registry s3://acme-crates/registry unlock --force")]
    Unlock(UnlockArgs),

    /// Print an nginx server block that serves the registry
    #[command(
        name = "nginx-config",
        long_about = "\
Print an nginx `server` block that serves the registry: index files as text/plain with
ETag and a short cache lifetime, .crate files as immutable, 404 for unknown crates, and
.regtool/ never served.

For a registry made with --auth-required, the block checks cargo's Authorization
header against a token file nginx reads and answers 401 without a valid token (default
.regtool/nginx-tokens.map in the registry, never served). `regtool token add NAME`
writes it (nginx's built-in secure_link module checks each token's MD5 digest, so the
file holds no token); raw tokens added by hand, one \"~^TOKEN$\" 1; line each, are
accepted too. nginx reads the block and the token file when it starts or reloads: the
example's second line starts nginx, or reloads it when it runs.

Example:
    regtool --registry /srv/registry nginx-config --listen 80 --server-name crates.example.com \\
        | sudo tee /etc/nginx/conf.d/registry.conf > /dev/null
    sudo nginx -t && (sudo nginx -s reload || sudo nginx)"
    )]
    NginxConfig(NginxArgs),

    /// Add, list or revoke the tokens nginx accepts for an --auth-required registry
    #[command(long_about = "\
Manage the tokens nginx accepts for a registry made with --auth-required: the token
file .regtool/nginx-tokens.map in the registry (never served, mode 0600), which the
`nginx-config` block includes. nginx reads it when it starts or reloads: run
`sudo nginx -t && (sudo nginx -s reload || sudo nginx)` after a change.

`token add NAME` makes a random token (rgt_ + 16 hex digits of ID + _ + 64 hex digits
of secret, from the operating system's random source), prints it once on stdout and
stores only its MD5 digest, which nginx's built-in secure_link module checks. It is
not shown again: `token list` shows names, IDs and dates, never tokens.

Through nginx every token can only read. Through `regtool serve` (cargo's Web API)
a token may do what its --scope says (publish-new, publish-update, yank,
change-owners, admin), optionally only for the crates --crates names; a token
without --scope, and every token made before scopes existed, can only read
(`token list` shows `read-only` in its SCOPES column). --read-only says so
explicitly; it cannot go with --scope.

Examples:
    regtool --registry /srv/registry token add ci-build --read-only
    regtool --registry /srv/registry token add alice --scope publish-new,publish-update,yank
    regtool --registry /srv/registry token list --format json
    regtool --registry /srv/registry token revoke ci-build && sudo nginx -s reload")]
    Token(TokenArgs),

    /// Copy crates.io versions (from Cargo.lock files or NAME@VERSION) into a --mirror registry
    #[command(long_about = "\
Copy the exact crates.io versions a project needs into a registry made with
`regtool init --mirror`, for building where crates.io cannot be reached: every
package of the given Cargo.lock files (or folders holding one) that comes from
crates.io, or versions named as NAME@VERSION. Packages from path, git or other
registries are listed and skipped.

For each version, upstream's index line is taken as it is (yanked flag and all,
byte for byte) and its .crate downloaded and checked against that line's cksum and
the lockfile's checksum; the .crate is stored before its line. Each crate lands as
soon as its downloads and the crates it depends on have landed, so a run killed
midway keeps what it finished; versions already in the mirror are skipped without a
request, so a run can be repeated or resumed. A version upstream lacks, whose
checksums disagree, or whose .crate is over the registry's max-crate-size, is
refused and named, nothing of it is written, and the exit code is 1.

--refresh takes upstream's current line for every mirrored version (crates yanked
since they were mirrored show as yanked). Proxies come from HTTPS_PROXY, HTTP_PROXY,
ALL_PROXY and NO_PROXY; REGTOOL_UPSTREAM_TOKEN is sent to an upstream that needs a
token.

Examples:
    regtool init ./mirror --url https://crates.internal.example --mirror
    regtool --registry ./mirror mirror Cargo.lock ../other/Cargo.lock
    regtool --registry ./mirror mirror serde@1.0.219 --dry-run
    regtool --registry ./mirror mirror --refresh")]
    Mirror(MirrorArgs),

    /// Probe a deployed registry over HTTP as cargo does, and report what is wrong
    #[command(long_about = "\
Probe a deployed registry over HTTP as cargo reads it, one line per check (ok, warn,
fail or skip, what was seen, how to fix it); exit code 1 if any check fails (warnings
do not fail). Nothing is written.

Checks: config.json (200, or 401 with `WWW-Authenticate: Cargo` for a registry that
needs a token; then with --token, sent as cargo sends it: the raw Authorization value,
only after the 401), a crate's index file at its lowercased path, 404 for a crate that
does not exist, a 304 answer when revalidating the index file (ETag/Last-Modified), a
.crate through config.json's dl template whose SHA-256 is the index line's cksum,
content types, Cache-Control, and that .regtool/ is not served.

The crate probed is --crate, else one from the local registry (--registry, or the
current folder when it is a registry), preferring a name with uppercase letters; with
neither, the checks that need a crate are skipped. URL defaults to the local
registry's URL.

Examples:
    regtool doctor https://crates.example.com --crate my-crate
    regtool --registry /srv/registry doctor
    REGTOOL_TOKEN=... regtool doctor sparse+https://crates.example.com/ --format json")]
    Doctor(DoctorArgs),

    /// List or change the owners of a crate (who may change it through `regtool serve`)
    #[command(long_about = "\
List or change who owns a crate: the users (token names) that may publish new versions
of it, yank them and change its owners through `regtool serve` (cargo's Web API),
within their tokens' scopes. The first publisher of a crate through `serve` becomes
its owner. A crate added with `regtool add` or `mirror` has no owner: only a token with
the admin scope may change it through the API until an owner is set here. The owners
are kept in the registry's .regtool/ folder, which is never served.

Examples:
    regtool owner foo
    regtool owner foo --add alice --remove bob")]
    Owner(OwnerArgs),

    /// Serve cargo's Web API (publish, yank) on the registry's own files
    #[command(long_about = "\
Serve cargo's Web API for the registry, so that `cargo publish --registry NAME` and
`cargo yank` work: a publish goes through exactly what `regtool add` does (every check,
limit and spelling rule, the catalogue), a yank through `regtool yank`. Every write
takes the registry's one writer (the folder's lock, a bucket's lease), waiting at most
--lock-timeout (20s by default) and then answering 503, which cargo prints.

Tokens come from `regtool token add NAME --scope ...`; a token without scopes can only
read. config.json's `api` tells cargo where the API is: `regtool settings --api URL`.
TLS belongs to a reverse proxy in front. SIGTERM or Ctrl-C stops the server after the
requests under way have finished.

Examples:
    regtool --registry /srv/registry settings --api https://crates.example.com
    regtool --registry /srv/registry serve --listen 127.0.0.1:8080")]
    Serve(ServeArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(long_about = "\
Print a shell completion script on stdout.

Examples:
    regtool completions bash > ~/.local/share/bash-completion/completions/regtool
    regtool completions zsh > ~/.zfunc/_regtool
    regtool completions fish > ~/.config/fish/completions/regtool.fish")]
    Completions(CompletionsArgs),
}

/// Arguments of `settings`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Move the registry to this URL (config.json's download URL is rewritten; the old URL becomes an alias)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Add another URL the same folder is served at (repeatable)
    #[arg(long = "alias", value_name = "URL")]
    pub aliases: Vec<String>,
    /// Whether cargo must send a token with every request (config.json `auth-required`)
    #[arg(long, value_name = "BOOL")]
    pub auth_required: Option<bool>,
    /// Largest .crate file accepted by `add`, e.g. 10MiB, or `none`
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_crate_size: Option<u64>,
    /// Largest unpacked size of a .crate accepted by `add`
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_unpacked_size: Option<u64>,
    /// Write the browsable catalogue (index.html, a page per crate, feed.atom) on every change: `true` writes it now, `false` deletes it
    #[arg(long, value_name = "BOOL")]
    pub html: Option<bool>,
    /// The name cargo knows the registry by, in the cargo commands regtool prints (`[registries.NAME]`, `cargo login --registry NAME`): a letter or `_`, then ASCII letters, digits, `-` and `_`
    #[arg(long, value_name = "NAME")]
    pub name: Option<RegistryName>,
    /// How long the writers' lease of a registry in a bucket lasts without renewal, in whole seconds, e.g. 60s or 2m (default 60s)
    #[arg(long, value_name = "DURATION", value_parser = parse_lease)]
    pub lease: Option<u64>,
    /// Where cargo's Web API is (`regtool serve`): config.json's `api`, so that cargo publish, yank, owner and search work; an empty URL removes it
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (TLS belongs to a reverse proxy in front)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

/// Arguments of `unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Free the lease at once, even if it is not stale (dangerous: see above)
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `nginx-config`.
#[derive(Debug, Args)]
pub struct NginxArgs {
    /// What nginx listens on: a port, or address:port
    #[arg(long, default_value = "80", value_name = "ADDR")]
    pub listen: String,
    /// The server_name of the block
    #[arg(long, default_value = "_", value_name = "NAME")]
    pub server_name: String,
    /// Token file of an --auth-required registry, as `regtool token add` writes it or with one "~^TOKEN$" 1; line per token (letters, digits, -, _) [default: REGISTRY/.regtool/nginx-tokens.map]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Arguments of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token, print it once, and let nginx accept it (after a reload)
    Add {
        /// The token's name (letters, digits, -, _), for `list` and `revoke`
        name: String,
        /// Mark the token as a consumer's (a label in `list`)
        #[arg(long)]
        read_only: bool,
        /// What the token may do through cargo's Web API (`regtool serve`), comma-separated: publish-new, publish-update, yank, change-owners, admin [default: nothing: it can only read]
        #[arg(long = "scope", value_name = "SCOPES", value_delimiter = ',', value_parser = parse_scope)]
        scopes: Vec<String>,
        /// Limit the scopes to these crates, comma-separated: a crate name, or the start of one followed by `*` [default: every crate]
        #[arg(long, value_name = "PATTERNS", value_delimiter = ',')]
        crates: Vec<String>,
    },
    /// List the tokens (names, IDs, dates; never the tokens)
    List,
    /// Remove a token from the token file (nginx refuses it after a reload)
    Revoke {
        /// The token's name
        name: String,
    },
}

/// Arguments of `mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Cargo.lock files (or folders holding one), or NAME@VERSION
    #[arg(
        value_name = "LOCKFILE|NAME@VERSION",
        required_unless_present = "refresh"
    )]
    pub inputs: Vec<String>,
    /// Take upstream's current line (its yanked flag) for every mirrored version
    #[arg(long)]
    pub refresh: bool,
    /// The sparse registry to copy from
    #[arg(long, value_name = "URL", env = "REGTOOL_UPSTREAM", default_value = crate::upstream::CRATES_IO_SPARSE)]
    pub upstream: String,
    /// Most downloads at once
    #[arg(long, short = 'j', value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Retries of a request that failed with 429, 5xx, a timeout or a broken connection
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,
    /// Timeouts, low-speed limit and deadline of each file
    #[command(flatten)]
    pub pace: PaceArgs,
    /// Find out what would be mirrored (fetches index files only); write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The registry's URL, or cargo's index URL (sparse+URL/) [default: the local registry's URL]
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// The token cargo would send (sent only after a 401, as the raw Authorization value)
    #[arg(
        long,
        env = "REGTOOL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// The crate to probe [default: one from the local registry]
    #[arg(long = "crate", value_name = "NAME")]
    pub krate: Option<String>,
    /// Timeouts, low-speed limit and deadline of each request
    #[command(flatten)]
    pub pace: PaceArgs,
}

/// How long a network read may take (`mirror`, `doctor`): cargo's
/// `http.timeout` and `http.low-speed-limit`, and a deadline per file.
#[derive(Debug, Args)]
pub struct PaceArgs {
    /// Seconds to wait for connecting, for an answer and for each read; also the window of --low-speed-limit (cargo's http.timeout)
    #[arg(long, value_name = "SECS", default_value_t = crate::http::DEFAULT_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Abandon an answer that arrives slower than this many bytes per second over --timeout seconds (cargo's http.low-speed-limit; 0: never)
    #[arg(long, value_name = "BYTES", default_value_t = crate::http::DEFAULT_LOW_SPEED_LIMIT)]
    pub low_speed_limit: u64,
    /// Seconds one file may take in all, from its first request to its last byte, retries included
    #[arg(long, value_name = "SECS", default_value_t = crate::http::DEFAULT_DEADLINE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline: u64,
}

impl PaceArgs {
    fn pace(&self) -> crate::http::Pace {
        crate::http::Pace {
            timeout: std::time::Duration::from_secs(self.timeout),
            low_speed_limit: self.low_speed_limit,
            deadline: std::time::Duration::from_secs(self.deadline),
        }
    }
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `yank`.
#[derive(Debug, Args)]
pub struct YankArgs {
    /// The crate, or NAME@VERSION
    #[arg(value_name = "NAME[@VERSION]")]
    pub spec: String,
    /// The version (when not given as NAME@VERSION)
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
    /// Undo a yank: make the version available to new lockfiles again
    #[arg(long)]
    pub undo: bool,
    /// Print what would change; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `owner`.
#[derive(Debug, Args)]
pub struct OwnerArgs {
    /// The crate
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Make USER (a token's name) an owner (repeatable)
    #[arg(long, value_name = "USER")]
    pub add: Vec<String>,
    /// Remove USER from the owners (repeatable)
    #[arg(long, value_name = "USER")]
    pub remove: Vec<String>,
}

impl TryFrom<OwnerArgs> for ops::owner::OwnerOptions {
    type Error = Error;

    fn try_from(a: OwnerArgs) -> Result<Self> {
        Ok(ops::owner::OwnerOptions {
            name: ops::find::parse_name(&a.name)?,
            add: a.add,
            remove: a.remove,
        })
    }
}

/// Arguments of `remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The crate, or NAME@VERSION
    #[arg(value_name = "NAME[@VERSION]")]
    pub spec: String,
    /// The version (when not given as NAME@VERSION)
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
    /// Print what would be removed; remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `reindex`.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// The registry folder, or s3://BUCKET/PREFIX [default: --registry, else the current folder]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Drop index lines whose .crate file is missing
    #[arg(long)]
    pub prune: bool,
    /// Take the new bytes of .crate files that changed since they were added (their cksum changes; lockfiles pinning the old one break)
    #[arg(long)]
    pub accept_changed: bool,
    /// Check everything and print what would be written, moved and removed; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The registry folder, or s3://BUCKET/PREFIX [default: --registry, else the current folder]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also re-derive every index line from its .crate and compare
    #[arg(long)]
    pub deep: bool,
}

/// Arguments of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The crate
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Show only this version, with its dependencies and features
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create the registry in, or s3://BUCKET/PREFIX [default: --registry, else the current folder]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// URL the folder will be served at, e.g. `https://crates.example.com/` (used in config.json's download template)
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Another URL the same folder is served at (repeatable): crates whose dependencies name it are taken as depending on this registry
    #[arg(long = "alias", value_name = "URL")]
    pub aliases: Vec<String>,

    /// Require cargo to send a token with every request (config.json `auth-required`); the web server must check it
    #[arg(long)]
    pub auth_required: bool,

    /// This registry stands in for crates.io (cargo source replacement): crates.io dependencies carry no `registry` field
    #[arg(long)]
    pub mirror: bool,

    /// Largest .crate file accepted, e.g. 10MiB, 50MB, a number of bytes or `none` [default: 10MiB, like crates.io; none with --mirror, as crates.io serves larger crates by exception]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_crate_size: Option<u64>,

    /// Largest unpacked size of a .crate (guards against gzip bombs)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512MiB")]
    pub max_unpacked_size: u64,

    /// Do not write the browsable catalogue (index.html, a page per crate, feed.atom); `settings --html true` turns it on later
    #[arg(long)]
    pub no_html: bool,

    /// The name cargo users give the registry (`[registries.NAME]`, `cargo add --registry NAME`), shown in the cargo commands regtool prints: a letter or `_`, then ASCII letters, digits, `-` and `_` [default: from the URL's host, e.g. `example` for https://crates.example.com; `local` for an IP address or localhost]
    #[arg(long, value_name = "NAME")]
    pub name: Option<RegistryName>,
    /// How long the writers' lease of a registry in a bucket lasts without renewal, in whole seconds, e.g. 60s or 2m [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_lease)]
    pub lease: Option<u64>,
    /// Where cargo's Web API will be (`regtool serve`): config.json's `api`, so that cargo publish, yank, owner and search work [default: none: a static registry]
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
}

/// Arguments of `add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// .crate files, or folders to search for them
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Refuse crates whose dependencies on this registry no version satisfies (default: warn)
    #[arg(long)]
    pub strict: bool,

    /// Accept .crate files up to this size for this run (default: the registry's setting)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_crate_size: Option<u64>,

    /// Accept .crate files that unpack up to this size for this run (default: the registry's setting)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_unpacked_size: Option<u64>,

    /// Check everything and print what would be published; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Parses a size: a number of bytes, or a number with `KB`, `MB`, `GB` (powers of
/// 1000) or `KiB`, `MiB`, `GiB` (powers of 1024; `K`, `M`, `G` too); `none` is
/// no limit ([`crate::config::NO_SIZE_LIMIT`]).
///
/// ```
/// assert_eq!(regtool::cli::parse_size("10MiB"), Ok(10 * 1024 * 1024));
/// assert_eq!(regtool::cli::parse_size("512"), Ok(512));
/// assert_eq!(regtool::cli::parse_size("none"), Ok(u64::MAX));
/// ```
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(crate::config::NO_SIZE_LIMIT);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (try 10MiB, 10485760 or none)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{s}` has an unknown unit (use KB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (a bare number is
/// seconds).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(regtool::cli::parse_duration("90s"), Ok(Duration::from_secs(90)));
/// assert_eq!(regtool::cli::parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(regtool::cli::parse_duration("0"), Ok(Duration::ZERO));
/// assert_eq!(regtool::cli::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// ```
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 30s, 5m or 0)"))?;
    let millis: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("`{s}` has an unknown unit (use ms, s, m or h)")),
    };
    n.checked_mul(millis)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("`{s}` is too long"))
}

/// Parses a lease length ([`parse_duration`]) into whole seconds, at least 1.
fn parse_lease(s: &str) -> std::result::Result<u64, String> {
    let d = parse_duration(s)?;
    if d.subsec_nanos() != 0 || d.as_secs() == 0 {
        return Err(format!(
            "`{s}`: a lease is a whole number of seconds, at least 1s"
        ));
    }
    Ok(d.as_secs())
}

/// A `mirror` input: `NAME@VERSION` when it has that shape (a crate name and a
/// semver version), otherwise a lockfile path (write `./foo@1.0.0` for a file
/// of that name).
///
/// # Errors
/// [`Error::Usage`] for `NAME@VERSION` whose version is not semver.
pub(crate) fn mirror_input(input: &str) -> Result<ops::mirror::MirrorInput> {
    if let Some((name, version)) = input.split_once('@')
        && let Ok(name) = CrateName::new(name)
    {
        let version = ops::find::parse_version(version)?;
        return Ok(ops::mirror::MirrorInput::Version(name, version));
    }
    Ok(ops::mirror::MirrorInput::Lockfile(PathBuf::from(input)))
}

// From each command's arguments to its options: parsed and checked once, here.

impl From<InitArgs> for ops::init::InitOptions {
    fn from(a: InitArgs) -> Self {
        ops::init::InitOptions {
            url: a.url,
            aliases: a.aliases,
            auth_required: a.auth_required,
            mirror: a.mirror,
            max_crate_size: a.max_crate_size,
            max_unpacked_size: a.max_unpacked_size,
            html: !a.no_html,
            name: a.name,
            lease_seconds: a.lease,
            api: a.api,
        }
    }
}

impl From<AddArgs> for ops::add::AddOptions {
    fn from(a: AddArgs) -> Self {
        ops::add::AddOptions {
            paths: a.paths,
            strict: a.strict,
            max_crate_size: a.max_crate_size,
            max_unpacked_size: a.max_unpacked_size,
            dry_run: a.dry_run,
        }
    }
}

impl TryFrom<YankArgs> for ops::yank::YankOptions {
    type Error = Error;

    fn try_from(a: YankArgs) -> Result<Self> {
        let (name, version) = ops::find::parse_spec(&a.spec, a.version.as_deref())?;
        Ok(ops::yank::YankOptions {
            name,
            version,
            undo: a.undo,
            dry_run: a.dry_run,
        })
    }
}

impl TryFrom<RemoveArgs> for ops::remove::RemoveOptions {
    type Error = Error;

    fn try_from(a: RemoveArgs) -> Result<Self> {
        let (name, version) = ops::find::parse_spec(&a.spec, a.version.as_deref())?;
        Ok(ops::remove::RemoveOptions {
            name,
            version,
            dry_run: a.dry_run,
        })
    }
}

impl From<&ReindexArgs> for ops::reindex::ReindexOptions {
    fn from(a: &ReindexArgs) -> Self {
        ops::reindex::ReindexOptions {
            prune: a.prune,
            accept_changed: a.accept_changed,
            dry_run: a.dry_run,
        }
    }
}

impl From<&VerifyArgs> for ops::verify::VerifyOptions {
    fn from(a: &VerifyArgs) -> Self {
        ops::verify::VerifyOptions { deep: a.deep }
    }
}

impl TryFrom<InfoArgs> for ops::info::InfoOptions {
    type Error = Error;

    fn try_from(a: InfoArgs) -> Result<Self> {
        Ok(ops::info::InfoOptions {
            name: ops::find::parse_name(&a.name)?,
            version: a
                .version
                .as_deref()
                .map(ops::find::parse_version)
                .transpose()?,
        })
    }
}

impl From<SettingsArgs> for ops::settings::SettingsChange {
    fn from(a: SettingsArgs) -> Self {
        ops::settings::SettingsChange {
            url: a.url,
            add_aliases: a.aliases,
            auth_required: a.auth_required,
            max_crate_size: a.max_crate_size,
            max_unpacked_size: a.max_unpacked_size,
            html: a.html,
            name: a.name,
            lease_seconds: a.lease,
            api: a.api,
        }
    }
}

impl From<NginxArgs> for ops::nginx::NginxOptions {
    fn from(a: NginxArgs) -> Self {
        ops::nginx::NginxOptions {
            listen: a.listen,
            server_name: a.server_name,
            token_file: a.token_file,
        }
    }
}

impl TryFrom<MirrorArgs> for ops::mirror::MirrorOptions {
    type Error = Error;

    /// Also reads `REGTOOL_UPSTREAM_TOKEN`, the token sent to upstream.
    fn try_from(a: MirrorArgs) -> Result<Self> {
        Ok(ops::mirror::MirrorOptions {
            inputs: a
                .inputs
                .iter()
                .map(|i| mirror_input(i))
                .collect::<Result<Vec<_>>>()?,
            upstream: a.upstream,
            token: std::env::var("REGTOOL_UPSTREAM_TOKEN").ok(),
            jobs: a.jobs.into(),
            retry: crate::upstream::RetryPolicy {
                retries: a.retries,
                pace: a.pace.pace(),
                ..Default::default()
            },
            dry_run: a.dry_run,
            refresh: a.refresh,
        })
    }
}

impl DoctorArgs {
    /// The options, with the URL taken from the local registry `local` when
    /// none was given.
    fn options(self, local: Option<&Registry>) -> Result<ops::doctor::DoctorOptions> {
        let url = match (self.url, local) {
            (Some(u), _) => u,
            (None, Some(reg)) => reg.settings.url.clone(),
            (None, None) => {
                return Err(Error::Usage(
                    "give the registry's URL (or --registry DIR to take its URL)".into(),
                ));
            }
        };
        let crate_name = self
            .krate
            .as_deref()
            .map(|n| {
                CrateName::new(n)
                    .map_err(|r| Error::Usage(format!("`--crate {n}` is not a crate name: {r}")))
            })
            .transpose()?;
        Ok(ops::doctor::DoctorOptions {
            url,
            token: self.token,
            crate_name,
            pace: self.pace.pace(),
        })
    }
}

/// The shell for a parsed command line.
pub fn shell_for(cli: &Cli) -> Shell {
    let format = match cli.format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
    };
    Shell::new(format, cli.quiet, cli.no_progress).with_lock_timeout(cli.lock_timeout)
}

/// Where the registry a command names is: its own `DIR` argument, else
/// `--registry`, else the current folder; parsed once, here.
fn location(dir: Option<&Path>, registry: &Path) -> Result<RegistryLocation> {
    RegistryLocation::parse(dir.unwrap_or(registry))
}

/// The local registry `doctor` compares with: `--registry`, else the current
/// folder when it is a registry (a warning when it cannot be read).
fn local_registry(registry: Option<&Path>, shell: &Shell) -> Result<Option<Registry>> {
    if let Some(dir) = registry {
        return crate::location::open(dir).map(Some);
    }
    match RegistryLocation::Local(PathBuf::from(".")).open() {
        Ok(reg) => Ok(Some(reg)),
        Err(Error::NotARegistry { .. }) => Ok(None),
        Err(e) => {
            shell.warn(format!(
                "not using the current folder's registry: {}",
                crate::error::Report(&e)
            ));
            Ok(None)
        }
    }
}

/// Runs `token add/list/revoke`.
fn token(command: TokenCommand, reg: &Registry, shell: &Shell) -> Result<()> {
    use crate::report::print;
    match command {
        TokenCommand::Add {
            name,
            read_only,
            scopes,
            crates,
        } => {
            let opts = ops::token::AddOptions {
                read_only,
                scopes: scopes
                    .iter()
                    .map(|s| ops::token::Scope::parse(s))
                    .collect::<Result<_>>()?,
                crates,
            };
            print(shell, &ops::token::add(reg, &name, &opts, shell)?)
        }
        TokenCommand::List => print(shell, &ops::token::list(reg)?),
        TokenCommand::Revoke { name } => print(shell, &ops::token::revoke(reg, &name, shell)?),
    }
}

/// Runs `serve` (a build with the `serve` feature).
#[cfg(feature = "serve")]
fn serve(
    at: &RegistryLocation,
    a: &ServeArgs,
    lock_timeout: Option<std::time::Duration>,
    shell: &Shell,
) -> Result<()> {
    let opts = ops::serve::ServeOptions {
        listen: a.listen,
        lock_timeout: lock_timeout.unwrap_or(ops::serve::DEFAULT_LOCK_TIMEOUT),
    };
    ops::serve::serve(at, &opts, shell)
}

/// Refuses `serve` in a build without the `serve` feature.
#[cfg(not(feature = "serve"))]
fn serve(
    at: &RegistryLocation,
    _: &ServeArgs,
    _: Option<std::time::Duration>,
    _: &Shell,
) -> Result<()> {
    Err(Error::FeatureMissing {
        path: match at {
            RegistryLocation::Local(p) => p.clone(),
            RegistryLocation::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}").into(),
        },
        feature: "serve",
        needs: "`regtool serve` (cargo's Web API)",
        hint: "",
    })
}

/// A `--scope` value, checked.
fn parse_scope(s: &str) -> std::result::Result<String, String> {
    ops::token::Scope::parse(s)
        .map(|x| x.as_str().to_owned())
        .map_err(|e| e.to_string())
}

/// Prints a failed command's error: `error:` lines on stderr (one per problem),
/// and with `--format json` the error as JSON on stdout ([`Error::to_json`]).
pub fn report_error(shell: &Shell, e: &Error) {
    if let Error::Rejected { problems } = e {
        for p in problems {
            shell.error(crate::error::Report(p));
        }
    }
    shell.error(crate::error::Report(e));
    // `verify` and `reindex` have printed their report, which lists the problems.
    if shell.format == Format::Json && !matches!(e, Error::ProblemsFound { .. }) {
        shell.json(&e.to_json());
    }
}

/// Runs a parsed command line: each command's arguments become its options,
/// the command runs, and its report goes to the one printer
/// ([`crate::report::print`]).
///
/// # Errors
/// Whatever the command fails with; see each `ops` module.
pub fn run(cli: Cli, shell: &Shell) -> Result<()> {
    use crate::report::print;
    use ops::{
        add, doctor, info, init, list, mirror, nginx, reindex, remove, settings, verify, yank,
    };
    let here = cli.registry.clone().unwrap_or_else(|| PathBuf::from("."));
    let open = || crate::location::open(&here);
    match cli.command {
        Command::Init(a) => {
            let at = location(a.dir.as_deref(), &here)?;
            print(shell, &init::init(&at, &a.into(), shell)?)
        }
        Command::Add(a) => print(shell, &add::add(&open()?, &a.into(), shell)?),
        Command::Yank(a) => print(shell, &yank::yank(&open()?, &a.try_into()?, shell)?),
        Command::Remove(a) => print(shell, &remove::remove(&open()?, &a.try_into()?, shell)?),
        Command::Reindex(a) => {
            let reg = location(a.dir.as_deref(), &here)?.open()?;
            print(shell, &reindex::reindex(&reg, &(&a).into(), shell)?)
        }
        Command::Verify(a) => {
            let at = location(a.dir.as_deref(), &here)?;
            print(shell, &verify::verify(&at, &(&a).into(), shell)?)
        }
        Command::List => print(shell, &list::list(&open()?)?),
        Command::Info(a) => print(shell, &info::info(&open()?, &a.try_into()?)?),
        Command::Settings(a) => print(shell, &settings::settings(&open()?, &a.into(), shell)?),
        Command::Unlock(a) => print(shell, &ops::unlock::unlock(&open()?, a.force, shell)?),
        Command::NginxConfig(a) => {
            shell.data(nginx::server_block(&open()?, &a.into())?);
            Ok(())
        }
        Command::Token(a) => token(a.command, &open()?, shell),
        Command::Mirror(a) => print(shell, &mirror::mirror(&open()?, &a.try_into()?, shell)?),
        Command::Doctor(a) => {
            let local = local_registry(cli.registry.as_deref(), shell)?;
            let opts = a.options(local.as_ref())?;
            print(shell, &doctor::doctor(local.as_ref(), &opts, shell)?)
        }
        Command::Owner(a) => print(shell, &ops::owner::owner(&open()?, &a.try_into()?, shell)?),
        Command::Serve(a) => serve(&location(None, &here)?, &a, cli.lock_timeout, shell),
        Command::Completions(a) => {
            use clap::CommandFactory;
            let mut out = std::io::stdout();
            clap_complete::generate(a.shell, &mut Cli::command(), "regtool", &mut out);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1XB").is_err());
    }

    #[test]
    fn help_reloads_nginx_as_regtool_prints_it() {
        use clap::CommandFactory;
        let cli = Cli::command();
        for name in ["nginx-config", "token"] {
            let sub = cli.find_subcommand(name).unwrap();
            let help = sub.get_long_about().unwrap().to_string();
            assert!(help.contains(ops::nginx::START_OR_RELOAD), "{name}: {help}");
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
