//! The `regtool` binary: parse the command line, run it, map errors to exit codes.

use clap::Parser;
use regtool::cli::{self, Cli};
use regtool::error::{Error, Report};

fn main() {
    let cli = Cli::parse();
    let shell = cli::shell_for(&cli);
    if let Err(e) = cli::run(cli, &shell) {
        if let Error::Rejected { problems } = &e {
            for p in problems {
                shell.error(Report(p));
            }
        }
        shell.error(Report(&e));
        std::process::exit(e.exit_code());
    }
}
