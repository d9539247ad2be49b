#!/usr/bin/env python3
"""The comparison of bench/compare.sh (which builds and fetches what this needs
and then runs this): paired runs with hyperfine, printed as markdown tables.

Each table is a set of commands measured in rounds: every round runs every
command once (hyperfine -N --runs 1, its --prepare first and untimed), in an
order that rotates from round to round, after one warm-up round that is not
counted. Commands of one round ran seconds apart under the same load, so the
ratio and the difference of two commands are taken within each round and their
median reported ("paired"). The 1-minute load average and the kernel's CPU and
I/O pressure (/proc/pressure, "some" over 10 s) are read before every run.

Every bulk add writes a new registry folder (WORK/compare-runs/N), deleted only
after the last round: on a file system mounted with online discard, deleting a
large tree slows the file creations that follow for seconds, which would be
charged to whichever command ran next.

usage: compare.py --regtool BIN --floor BIN --corpus DIR --one FILE
                  --synth-on DIR --synth-off DIR --work DIR [--margo BIN]
                  [--runs N] [--skip-synth] [--wait-load L [--wait-max S]]
--wait-load L: before each round, wait (at most --wait-max seconds, default
120) until the 1-minute load average is at most L.
Writes WORK/compare.md (the tables) and WORK/compare.json (every time).
"""
import argparse, datetime, json, os, platform, shlex, statistics, subprocess, sys, tempfile, time

URL = "http://127.0.0.1:8000"


def sh(script):
    """A command line hyperfine -N runs: `sh -c SCRIPT`."""
    return "sh -c " + shlex.quote(script)


def q(path):
    return shlex.quote(str(path))


FRESH = "@FRESH@"  # in a command or prepare: replaced by a new folder per run


class Row:
    def __init__(self, name, command, prepare="true", refs=()):
        self.name, self.command, self.prepare, self.refs = name, command, prepare, list(refs)
        self.times, self.cpu, self.loads, self.cpu_psi, self.io_psi = [], [], [], [], []


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def pressure(kind):
    """The share of the last 10 s in which some task waited for `kind` (%)."""
    try:
        with open(f"/proc/pressure/{kind}") as f:
            return float(f.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return float("nan")


def run_once(row, record, fresh):
    command = row.command.replace(FRESH, fresh)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        load, cpu_psi, io_psi = load1(), pressure("cpu"), pressure("io")
        subprocess.run(
            ["hyperfine", "-N", "--runs", "1", "--style", "none", "--export-json", out.name,
             "--prepare", sh(row.prepare.replace(FRESH, fresh)), "-n", row.name, command],
            check=True, stdout=subprocess.DEVNULL,
        )
        r = json.load(open(out.name))["results"][0]
    if any(c != 0 for c in r["exit_codes"]):
        sys.exit(f"compare.py: `{command}` failed")
    if record:
        row.times.append(r["times"][0])
        row.cpu.append(r["user"] + r["system"])
        row.loads.append(load)
        row.cpu_psi.append(cpu_psi)
        row.io_psi.append(io_psi)


def settle(folder):
    """Deletes `folder` and gives the file system a few seconds to finish it."""
    subprocess.run(["rm", "-rf", folder], check=True)
    subprocess.run(["sync"], check=True)
    time.sleep(5)


def measure(rows, runs, label, runs_dir, wait_load, wait_max):
    print(f"{label}: 1 warm-up round + {runs} paired rounds of {len(rows)} commands", file=sys.stderr)
    settle(runs_dir)
    os.makedirs(runs_dir)
    n = 0
    for rnd in range(runs + 1):
        if wait_load is not None:
            deadline = time.monotonic() + wait_max
            while load1() > wait_load and time.monotonic() < deadline:
                time.sleep(5)
        k = rnd % len(rows)
        for row in rows[k:] + rows[:k]:
            n += 1
            run_once(row, rnd > 0, os.path.join(runs_dir, str(n)))
        if rnd:
            print(f"  round {rnd}/{runs} done (load {load1():.2f})", file=sys.stderr)
    settle(runs_dir)


def ms(s):
    return f"{s * 1000:,.0f} ms" if s >= 0.1 else f"{s * 1000:.1f} ms"


def table(rows):
    by_name = {r.name: r for r in rows}
    out = [
        "| what | min | median | mean ± σ | CPU (user+sys), median | paired, median over rounds "
        "| load (1 min) | CPU / I/O pressure, max % |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        t = r.times
        sd = statistics.stdev(t) if len(t) > 1 else 0.0
        paired = []
        for ref in r.refs:
            o = by_name[ref].times
            ratio = statistics.median(a / b for a, b in zip(t, o))
            diff = statistics.median(a - b for a, b in zip(t, o))
            paired.append(f"{ratio:.2f}× ({'+' if diff >= 0 else '−'}{ms(abs(diff))}) {ref}")
        out.append(
            f"| {r.name} | {ms(min(t))} | **{ms(statistics.median(t))}** | "
            f"{ms(statistics.mean(t))} ± {ms(sd)} | {ms(statistics.median(r.cpu))} | "
            f"{'; '.join(paired) or ''} | {min(r.loads):.2f}–{max(r.loads):.2f} "
            f"| {max(r.cpu_psi):.0f} / {max(r.io_psi):.0f} |"
        )
    return "\n".join(out)


def tool_version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def main():
    ap = argparse.ArgumentParser()
    for a in ("--regtool", "--floor", "--corpus", "--one", "--synth-on", "--synth-off", "--work"):
        ap.add_argument(a, required=True)
    ap.add_argument("--margo", default="")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--skip-synth", action="store_true")
    ap.add_argument("--wait-load", type=float)
    ap.add_argument("--wait-max", type=float, default=120)
    a = ap.parse_args()
    rt, floor, corpus, work = a.regtool, a.floor, a.corpus, a.work

    files = sorted(f for f in os.listdir(corpus) if f.endswith(".crate"))
    inputs = " ".join(q(os.path.join(corpus, f)) for f in files)
    info = subprocess.run([floor, corpus], capture_output=True, text=True, check=True).stdout
    facts = dict(kv.split("=", 1) for kv in info.split())
    runs_dir = os.path.join(work, "compare-runs")
    fresh = FRESH
    warm = f"cat {inputs} > /dev/null && sync"

    head = [
        f"Measured {datetime.datetime.now().astimezone().isoformat(timespec='minutes')} on "
        f"{os.cpu_count()} cores, Linux {platform.release()}; {tool_version([rt, '--version'])}; "
        f"{tool_version(['hyperfine', '--version'])}; niceness {os.nice(0)}; "
        f"{a.runs} paired rounds. Load (1-minute average) before the runs: {load1():.2f}.",
    ]
    tables = []

    # 1. Bulk add of the corpus into a fresh registry, whole processes (init included).
    rows = [
        Row("floor, 1 core", f"{q(floor)} --threads 1 {q(corpus)}"),
        Row("floor, 2 cores", f"{q(floor)} --threads 2 {q(corpus)}"),
    ]
    off = "regtool, catalogue off"
    on = "regtool, catalogue on"
    rt_init = f"{q(rt)} -q init {q(fresh)} --url {URL}"
    rt_add = f"{q(rt)} -q --registry {q(fresh)} add {q(corpus)}"
    rows.append(Row(off, sh(f"{rt_init} --no-html && {rt_add}"), warm, ["floor, 1 core"]))
    rows.append(Row(on, sh(f"{rt_init} && {rt_add}"), warm, [off]))
    if a.margo:
        m_init = f"{q(a.margo)} init --base-url {URL}/ --defaults"
        m_add = f"{q(a.margo)} add --registry {q(fresh)} {inputs} > /dev/null"
        rows.append(Row("margo, HTML off", sh(f"{m_init} --html false {q(fresh)} > /dev/null && {m_add}"), warm))
        rows.append(Row("margo, HTML on", sh(f"{m_init} --html true {q(fresh)} > /dev/null && {m_add}"), warm,
                        ["margo, HTML off"]))
        rows[2].refs.insert(0, "margo, HTML off")
        rows[3].refs.insert(0, "margo, HTML on")
    measure(rows, a.runs, "bulk add", runs_dir, a.wait_load, a.wait_max)
    bulk = rows
    tables.append(
        f"### Bulk add of {len(files)} .crate files ({int(facts['read_bytes']):,} bytes, "
        f"{int(facts['inflated_bytes']):,} inflated) into a fresh registry\n\n"
        "Whole-process wall time, `init` included, each run into a new folder; page cache "
        "warm (`cat` of the inputs and `sync` before each run, untimed).\n\n" + table(rows)
    )
    if not a.margo:
        tables.append("margo: not measured (give MARGO=/path/to/margo; see BENCHMARKS.md for how to build it).")

    # 2. The synthetic registry: one add, reindex, the whole catalogue.
    synth = []
    if not a.skip_synth:
        son, soff, one = a.synth_on, a.synth_off, a.one
        versions = sum(1 for _, _, fs in os.walk(os.path.join(soff, "crates")) for f in fs if f.endswith(".crate"))

        def drop_one(reg):
            return f"{q(rt)} -q --registry {q(reg)} remove bench-one@1.0.0 >/dev/null 2>&1; sync"

        a_on = "add 1 crate, catalogue on"
        a_off = "add 1 crate, catalogue off"
        r_off = "reindex, nothing to change, catalogue off"
        r_on = "reindex, nothing to change, catalogue on"
        rows = [
            Row(a_on, f"{q(rt)} -q --registry {q(son)} add {q(one)}", drop_one(son), [a_off]),
            Row(a_off, f"{q(rt)} -q --registry {q(soff)} add {q(one)}", drop_one(soff)),
            Row(r_off, f"{q(rt)} -q reindex {q(soff)}", drop_one(soff)),
            Row(r_on, f"{q(rt)} -q reindex {q(son)}", drop_one(son), [r_off]),
            Row("the whole catalogue written (`settings --html true`; metadata already stored)",
                f"{q(rt)} -q --registry {q(son)} settings --html true",
                f"{q(rt)} -q --registry {q(son)} settings --html false && sync"),
        ]
        measure(rows, a.runs, "synthetic registry", runs_dir, a.wait_load, a.wait_max)
        synth = rows
        tables.append(
            f"### The synthetic registry: {versions:,} versions (bench/gen.py)\n\n" + table(rows)
        )

    md = "\n".join(head) + "\n\n" + "\n\n".join(tables) + "\n"
    with open(os.path.join(work, "compare.md"), "w") as f:
        f.write(md)
    with open(os.path.join(work, "compare.json"), "w") as f:
        json.dump(
            {r.name: {"command": r.command, "times": r.times, "cpu": r.cpu, "load1": r.loads,
                      "cpu_pressure": r.cpu_psi, "io_pressure": r.io_psi}
             for r in bulk + synth},
            f, indent=1,
        )
    print(md)


if __name__ == "__main__":
    main()
