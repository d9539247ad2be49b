//! The `regtool` binary: parse the command line, run it, map errors to exit codes.
//! On top of every floor: it uses [`regtool::cli`] only.

use clap::Parser;
use regtool::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let shell = cli::shell_for(&cli);
    if let Err(e) = cli::run(cli, &shell) {
        cli::report_error(&shell, &e);
        std::process::exit(e.exit_code());
    }
}
