#!/usr/bin/env python3
"""Before and after, interleaved: the bulk add of a folder of .crate files by
several commands (two regtool builds, catalogue off and on, margo), each round
running every command once in a rotated order, so that a machine that speeds
up or slows down during the run moves every command alike.

usage: bench/pair.py ROUNDS CORPUS WORK 'label=command' ...

`{reg}` in a command is replaced by a fresh folder under WORK (one per run;
nothing is deleted until the end: deleting a registry's ~1,300 files just
before a run makes the next run's file creations slower on this disk, by as
much as 2-4x with its `discard` mount, which hides the differences measured).
Before each run the corpus is read (`cat`, untimed, so the page cache is warm).
One warm-up round is not counted. Prints a markdown row per command: wall
time min and median (ms), and the median of the CPU time (user + system, ms)
of the command and its children.
"""
import os
import shutil
import statistics
import subprocess
import sys
import time

if len(sys.argv) < 5:
    sys.exit(__doc__)
rounds, corpus, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmds = [a.split("=", 1) for a in sys.argv[4:]]
os.makedirs(work, exist_ok=True)
results = {label: [] for label, _ in cmds}
try:
    for r in range(rounds + 1):
        k = r % len(cmds)
        for i, (label, cmd) in enumerate(cmds[k:] + cmds[:k]):
            reg = os.path.join(work, f"reg-{r}-{i}")
            subprocess.run(f"cat {corpus}/*.crate > /dev/null", shell=True, check=True)
            time.sleep(0.3)
            start = time.perf_counter()
            p = subprocess.Popen(cmd.replace("{reg}", reg) + " > /dev/null", shell=True)
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - start
            if status != 0:
                sys.exit(f"{label} failed ({status}): {cmd}")
            if r > 0:
                results[label].append((wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000))
finally:
    shutil.rmtree(work, ignore_errors=True)
print(f"{rounds} rounds (+1 warm-up), 1-minute load at the end {os.getloadavg()[0]:.2f}\n")
print("| what | min | median | CPU median |\n| --- | ---: | ---: | ---: |")
for label, runs in results.items():
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    print(f"| {label} | {min(walls):.0f} ms | **{statistics.median(walls):.0f} ms** | {statistics.median(cpus):.0f} ms |")
