//! One module per subcommand. Each takes an opened [`crate::Registry`] (or a
//! folder) and a [`crate::output::Shell`], and returns a report that serializes
//! to the command's `--format json` schema.

pub mod add;
pub mod init;

/// The current time as an index `pubtime` (`YYYY-MM-DDTHH:MM:SSZ`, UTC). Honors
/// `SOURCE_DATE_EPOCH` (seconds since 1970) for reproducible registries and tests.
pub fn pubtime_now() -> String {
    let ts = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    format_pubtime(ts)
}

/// Formats a timestamp as an index `pubtime`.
pub fn format_pubtime(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
