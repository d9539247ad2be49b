//! Running processes.

use super::*;

/// How long a single `regtool` invocation may take in tests.
pub const REGTOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a single `cargo` invocation may take in tests (compiling a few
/// tiny crates on a 2-core machine, several tests in parallel).
pub const CARGO_TIMEOUT: Duration = Duration::from_secs(600);

/// A `Command` for the `regtool` binary under test.
pub fn regtool() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_regtool"));
    cmd.env("NO_COLOR", "1").env_remove("REGTOOL_REGISTRY");
    cmd
}

/// Runs `regtool ARGS...` (with a timeout) and returns its output.
pub fn run_regtool<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = regtool();
    cmd.args(args);
    run_with_timeout(cmd, REGTOOL_TIMEOUT)
}

/// Runs `regtool ARGS...` and panics (showing its output) unless it exits 0.
pub fn regtool_ok<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = run_regtool(&args);
    assert_success(&out, &format!("regtool {}", show_args(&args)));
    out
}

fn show_args(args: &[std::ffi::OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Formats a process output for a failure message.
pub fn describe_output(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Panics with stdout and stderr unless the process exited 0.
#[track_caller]
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`{what}` failed\n{}",
        describe_output(out)
    );
}

/// Panics with stdout and stderr unless the process exited with `code`.
#[track_caller]
pub fn assert_exit_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "`{what}`: expected exit code {code}\n{}",
        describe_output(out)
    );
}

/// Runs `cmd` with stdin closed and stdout/stderr captured; kills it and
/// panics (showing what it printed so far) if it runs longer than `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child: Child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || read_all(stdout));
    let err_reader = thread::spawn(move || read_all(stderr));
    let start = Instant::now();
    // Poll often at first (most runs end within milliseconds), then every 20 ms.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "{shown} timed out after {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    buf
}

/// A port on 127.0.0.1 that was free a moment ago. Another process may take it
/// before the caller's server binds it, so servers started on it retry.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port on 127.0.0.1")
}

/// Waits until a server accepts connections on 127.0.0.1:`port`, asking
/// `exited` between tries whether it has ended (`Some(what it said)`).
/// `Err` with that, or after `timeout`.
pub fn wait_for_listener(
    port: u16,
    timeout: Duration,
    exited: &mut dyn FnMut() -> Option<String>,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Some(why) = exited() {
            return Err(why);
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "nothing listened on 127.0.0.1:{port} within {timeout:?}"
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
