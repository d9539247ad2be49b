//! What goes where: data and JSON reports to stdout, status lines, warnings and
//! progress to stderr, so that a script can read stdout whatever regtool says
//! meanwhile; progress bars only on a terminal. Status lines look like
//! cargo's: a verb right-aligned in 12 columns, then the message. Floor 0
//! (`core`): imports nothing of the crate.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// `n` and `noun`, in the plural unless `n` is 1: `count(1, "index file")` is
/// `1 index file`, `count(3, "index file")` is `3 index files`. Every count in
/// regtool's text for people goes through it (the nouns regtool counts all take
/// an `s`).
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `--format`: how reports are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document per command, on stdout.
    Json,
}

/// The output sink handed to every operation.
#[derive(Debug)]
pub struct Shell {
    quiet: bool,
    progress: bool,
    color: bool,
    /// How reports are printed.
    pub format: Format,
    /// How long a command waits for the registry's lock or lease
    /// (`--lock-timeout`); `None`: as long as it takes.
    lock_timeout: Option<std::time::Duration>,
}

/// Taken by every line written to stderr, so that the lines of threads (and
/// of [`warn`]) never mix.
static STDERR: Mutex<()> = Mutex::new(());

/// Whether stderr takes colors: a terminal, and no `NO_COLOR`.
fn stderr_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !no_color
}

/// A warning on stderr, as [`Shell::warn`] prints it, for the parts of the
/// library that have no shell at hand: what a change hook could not do after
/// the index was written (see [`crate::registry::Writer`]).
pub(crate) fn warn(message: impl std::fmt::Display) {
    labelled(stderr_color(), "warning", "1;33", message);
}

/// `label: message` on stderr, the label in the ANSI color `sgr` when `color`.
fn labelled(color: bool, label: &str, sgr: &str, message: impl std::fmt::Display) {
    let _g = STDERR.lock();
    let label = if color {
        format!("\x1b[{sgr}m{label}\x1b[0m")
    } else {
        label.to_string()
    };
    let _ = writeln!(
        std::io::stderr(),
        "{label}: {}",
        printable(&message.to_string())
    );
}

impl Shell {
    /// A shell for the current process: progress only when stderr is a terminal
    /// (and `no_progress` is false); colors only on a terminal without `NO_COLOR`.
    pub(crate) fn new(format: Format, quiet: bool, no_progress: bool) -> Shell {
        let tty = std::io::stderr().is_terminal();
        Shell {
            quiet,
            progress: tty && !no_progress && !quiet,
            color: stderr_color(),
            format,
            lock_timeout: None,
        }
    }

    /// This shell, with commands waiting at most `timeout` for the
    /// registry's lock or lease (`None`: as long as it takes).
    #[must_use]
    pub(crate) fn with_lock_timeout(mut self, timeout: Option<std::time::Duration>) -> Shell {
        self.lock_timeout = timeout;
        self
    }

    /// How long to wait for the registry's lock or lease (see
    /// [`Shell::with_lock_timeout`]).
    pub(crate) fn lock_timeout(&self) -> Option<std::time::Duration> {
        self.lock_timeout
    }

    /// A silent shell (for unit tests).
    #[cfg(test)]
    pub(crate) fn silent() -> Shell {
        Shell {
            quiet: true,
            progress: false,
            color: false,
            format: Format::Text,
            lock_timeout: None,
        }
    }

    /// A status line on stderr (`      Adding serde v1.0.0`); hidden by `--quiet`.
    pub(crate) fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        let _g = STDERR.lock();
        let verb = if self.color {
            format!("\x1b[1;32m{verb:>12}\x1b[0m")
        } else {
            format!("{verb:>12}")
        };
        let _ = writeln!(
            std::io::stderr(),
            "{verb} {}",
            printable(&message.to_string())
        );
    }

    /// A warning on stderr (`warning: ...`); shown even with `--quiet`.
    pub(crate) fn warn(&self, message: impl std::fmt::Display) {
        self.labelled("warning", "1;33", message);
    }

    /// An error line on stderr (`error: ...`).
    pub(crate) fn error(&self, message: impl std::fmt::Display) {
        self.labelled("error", "1;31", message);
    }

    /// `label: message` on stderr, the label in the ANSI color `sgr` on a terminal.
    fn labelled(&self, label: &str, sgr: &str, message: impl std::fmt::Display) {
        labelled(self.color, label, sgr, message);
    }

    /// Prints `value` as pretty JSON on stdout.
    pub(crate) fn json<T: serde::Serialize>(&self, value: &T) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, value);
        let _ = writeln!(out);
    }

    /// Prints a line of data on stdout.
    pub(crate) fn data(&self, line: impl std::fmt::Display) {
        let _ = writeln!(std::io::stdout().lock(), "{}", printable(&line.to_string()));
    }

    /// A progress bar of `len` steps, hidden unless [`Shell::progress`].
    pub(crate) fn bar(&self, len: u64, message: &'static str) -> indicatif::ProgressBar {
        if !self.progress {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>12.cyan.bold} [{bar:40}] {pos}/{len} {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(message);
        bar
    }
}

/// `text` with control characters (other than newlines) escaped, so that bytes
/// from a hostile `.crate` (terminal escape sequences) never reach the terminal.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_singular_for_one_only() {
        assert_eq!(super::count(0, "index file"), "0 index files");
        assert_eq!(super::count(1, "index file"), "1 index file");
        assert_eq!(super::count(2, ".crate file"), "2 .crate files");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            super::printable("a\x1b[2Jb\nc\u{7}"),
            "a\\u{1b}[2Jb\nc\\u{7}"
        );
        assert_eq!(super::printable("plain"), "plain");
    }
}
