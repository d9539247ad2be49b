//! The command line (clap derive) and the dispatch from a parsed command to the
//! operations in [`crate::ops`].

use crate::error::Result;
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
#[command(name = "regtool", version, about = ABOUT, long_about = LONG_ABOUT, propagate_version = true)]
pub struct Cli {
    /// The registry folder to work on [default: the current folder]
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
    /// Create a new registry in a folder
    #[command(long_about = "\
Create a new registry in a folder: config.json (what cargo reads first, with the download
URL template) and .regtool/ (regtool's own settings and lock). The folder may exist, but
must not already hold a registry.

The URL is where the folder will be served; cargo users then configure
`index = \"sparse+URL/\"`.

Example:
    regtool init ./registry --url https://crates.example.com")]
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
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create the registry in [default: --registry, else the current folder]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// URL the folder will be served at, e.g. https://crates.example.com/ (used in config.json's download template)
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Require cargo to send a token with every request (config.json `auth-required`); the web server must check it
    #[arg(long)]
    pub auth_required: bool,

    /// This registry stands in for crates.io (cargo source replacement): crates.io dependencies carry no `registry` field
    #[arg(long)]
    pub mirror: bool,

    /// Largest .crate file accepted, e.g. 10MiB, 50MB or a number of bytes
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "10MiB")]
    pub max_crate_size: u64,

    /// Largest unpacked size of a .crate (guards against gzip bombs)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512MiB")]
    pub max_unpacked_size: u64,
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
}

/// Parses a size: a number of bytes, or a number with `KB`, `MB`, `GB` (powers of
/// 1000) or `KiB`, `MiB`, `GiB` (powers of 1024; `K`, `M`, `G` too).
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (try 10MiB or 10485760)"))?;
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

impl Cli {
    fn registry_dir(&self) -> PathBuf {
        self.registry.clone().unwrap_or_else(|| PathBuf::from("."))
    }
}

/// The shell for a parsed command line.
pub fn shell_for(cli: &Cli) -> Shell {
    let format = match cli.format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
    };
    Shell::new(format, cli.quiet, cli.no_progress)
}

fn open(dir: &Path) -> Result<Registry> {
    Registry::open(dir)
}

/// Runs a parsed command line, printing to `shell`.
///
/// # Errors
/// Whatever the operation fails with; see each `ops` module.
pub fn run(cli: Cli, shell: &Shell) -> Result<()> {
    match &cli.command {
        Command::Init(a) => {
            let dir = a.dir.clone().unwrap_or_else(|| cli.registry_dir());
            let reg = ops::init::init(
                &dir,
                &ops::init::InitOptions {
                    url: a.url.clone(),
                    auth_required: a.auth_required,
                    mirror: a.mirror,
                    max_crate_size: a.max_crate_size,
                    max_unpacked_size: a.max_unpacked_size,
                },
            )?;
            shell.status("Created", format!("registry in `{}`", dir.display()));
            if shell.format == Format::Json {
                shell.json(&serde_json::json!({
                    "registry": dir,
                    "index": reg.index_url(),
                    "dl": reg.config.dl,
                    "auth_required": reg.config.auth_required,
                    "mirror": reg.settings.mirror,
                }));
            } else {
                let snippet = if reg.settings.mirror {
                    format!(
                        "[source.crates-io]\nreplace-with = \"regtool-mirror\"\n\n[source.regtool-mirror]\nregistry = \"{}\"",
                        reg.index_url()
                    )
                } else {
                    format!("[registries.NAME]\nindex = \"{}\"", reg.index_url())
                };
                shell.status(
                    "Note",
                    format!(
                        "serve the folder at {}/ and add to .cargo/config.toml:\n\n{snippet}\n",
                        reg.settings.url
                    ),
                );
            }
            Ok(())
        }
        Command::Add(a) => {
            let reg = open(&cli.registry_dir())?;
            let opts = ops::add::AddOptions {
                strict: a.strict,
                max_crate_size: a.max_crate_size,
                max_unpacked_size: a.max_unpacked_size,
            };
            let report = ops::add::add(&reg, &a.paths, &opts, shell)?;
            if shell.format == Format::Json {
                shell.json(&report);
            }
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
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
