//! Shared support for the integration tests, one module per concern (all
//! re-exported here, so a test module needs only `use crate::common::*`):
//! - [`process`]: running the `regtool` binary with a timeout, describing and
//!   asserting its output;
//! - [`util`]: hashes, index paths, temp folders, reading index files;
//! - [`crates`]: building `.crate` files ([`CrateBuilder`]) and hostile
//!   archives ([`RawTarBuilder`]);
//! - [`http`]: a tiny static HTTP server that plays the registry's web host;
//! - [`served`]: a registry served over HTTP;
//! - [`cargo`]: a sandboxed `cargo` with its own `CARGO_HOME`;
//! - [`registry`]: the one registry harness, [`TestRegistry`] (a registry on
//!   disk and the commands run on it);
//! - [`tree`]: byte-exact snapshots of a file tree;
//! - [`conformance`]: the check against crates.io's own index lines;
//! - [`needs`]: what a test needs from outside the repository, and the one
//!   rule when it is missing ([`skip_or_fail`], [`require_tool`]);
//! - [`nginx`]: a registry served by a real nginx ([`NginxRegistry`]);
//! - [`s3`]: moto's S3 server and a bucket per test ([`MotoServer`], [`Bucket`]);
//! - [`proxy`]: a fault-injecting proxy between `regtool` and moto
//!   ([`FaultProxy`]: delays, 5xx, dropped connections, held requests);
//! - [`stored`]: a registry's objects read directly from its folder or
//!   bucket ([`RawStore`]) and the invariants a stored state can break;
//! - [`jobs`]: `regtool` processes running at once ([`Job`]), watched,
//!   stopped, resumed or killed;
//! - [`markup`]: what a browser's HTML parser makes of a page (parse errors,
//!   scripts, handlers, `javascript:` URLs) and XML 1.0's characters;
//! - [`readme`]: README.md's fenced blocks, taken out and run as written;
//! - [`upstream`]: an upstream registry for `regtool mirror`, behind a server
//!   that misbehaves on cue ([`Upstream`], [`FaultServer`]), and `mirror` runs.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;
use sha2::{Digest, Sha256};

mod cargo;
mod conformance;
mod crates;
mod http;
mod jobs;
#[cfg(feature = "html")]
mod markup;
mod needs;
mod nginx;
mod process;
mod proxy;
mod readme;
mod registry;
mod s3;
mod served;
mod stored;
mod tree;
mod upstream;
mod util;

pub use cargo::*;
pub use conformance::*;
pub use crates::*;
pub use http::*;
// Jobs run at once on a bucket (interleavings, stress, lease): the `s3` build.
#[cfg(feature = "s3")]
pub use jobs::*;
#[cfg(feature = "html")]
pub use markup::*;
pub use needs::*;
pub use nginx::*;
pub use process::*;
pub use proxy::*;
pub use readme::*;
pub use registry::*;
pub use s3::*;
pub use served::*;
pub use stored::*;
pub use tree::*;
pub use upstream::*;
pub use util::*;
