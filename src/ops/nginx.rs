//! `regtool nginx-config`: an nginx `server` block that serves the registry.

use crate::error::Result;
use crate::registry::Registry;
use std::path::PathBuf;

/// Options of `nginx-config`.
#[derive(Debug, Clone)]
pub struct NginxOptions {
    /// `listen` value (port or address:port).
    pub listen: String,
    /// `server_name` value.
    pub server_name: String,
    /// File of accepted tokens (for `auth-required` registries).
    pub token_file: Option<PathBuf>,
}

/// The server block for `reg`.
///
/// # Errors
/// None yet.
pub fn server_block(reg: &Registry, opts: &NginxOptions) -> Result<String> {
    let _ = (reg, opts);
    Ok(String::new())
}
