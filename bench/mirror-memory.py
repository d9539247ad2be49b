#!/usr/bin/env python3
"""Peak memory of `regtool mirror` against huge upstream index files (issue 18:
streamed line by line, only the lines asked for kept).

usage: bench/mirror-memory.py [REGTOOL] [SIZE_MB] [CRATES]

Makes an upstream `--mirror` registry holding CRATES (default 1, at most 6) of
the small crates of fixtures/crates-io/, and replaces each one's index file by
SIZE_MB (default 255: under the 256 MiB mirror reads at most) of lines of
other versions (crates.io's line with `vers` changed to a pre-release no one
asks for), the real line last. It serves that upstream on 127.0.0.1 (python3's
threaded http.server, in this process), mirrors the one real version of each
crate with `--jobs CRATES`, and prints the wall time and the peak resident
memory of the regtool process (from getrusage). Exits 1 if a version is not mirrored, or if the peak is 64 MiB per
crate or more.
"""
import functools, http.server, json, os, resource, shutil, subprocess, sys
import tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
regtool = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/regtool")
size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 255
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
fixtures = os.path.join(root, "fixtures", "crates-io")
small = ["wait-timeout-0.2.1", "cpufeatures-0.3.1", "itoa-1.0.18", "autocfg-1.5.1",
         "zmij-1.0.23", "jiff-static-0.2.43"][:count]
sys.path.insert(0, os.path.join(root, ".ci"))
from sparse_index import index_path  # noqa: E402


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


work = tempfile.mkdtemp(prefix="regtool-mirror-memory-")
try:
    up = os.path.join(work, "upstream")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=up))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    subprocess.run([regtool, "-q", "init", up, "--mirror", "--url", url, "--no-html"], check=True)
    subprocess.run([regtool, "-q", "--registry", up, "add"]
                   + [os.path.join(fixtures, f"{c}.crate") for c in small], check=True)
    asked = []
    for c in small:
        name, vers = c.rsplit("-", 1)
        path = os.path.join(up, index_path(name))
        line = json.loads(open(path).read().strip().splitlines()[0])
        real = json.dumps(line, separators=(",", ":"))
        written, n = 0, 0
        with open(path, "w") as f:
            while written < size_mb * 1024 * 1024 - len(real) - 200:
                line["vers"] = f"0.{n // 1000}.{n % 1000}-filler"
                text = json.dumps(line, separators=(",", ":")) + "\n"
                f.write(text)
                written += len(text)
                n += 1
            f.write(real + "\n")
        asked.append(f"{name}@{vers}")
    threading.Thread(target=server.serve_forever, daemon=True).start()

    mirror = os.path.join(work, "mirror")
    subprocess.run([regtool, "-q", "init", mirror, "--mirror", "--url", "http://127.0.0.1:1",
                    "--no-html"], check=True)
    env = dict(os.environ, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    start = time.monotonic()
    out = subprocess.run(
        [regtool, "--registry", mirror, "--format", "json", "mirror", "--upstream",
         f"sparse+{url}/", "--jobs", str(count)] + asked,
        env=env, stdout=subprocess.PIPE)
    took = time.monotonic() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    server.shutdown()
    report = json.loads(out.stdout)
    statuses = [v["status"] for v in report["versions"]]
    print(f"{count} index file(s) of {size_mb} MiB, --jobs {count}: {took:.2f} s, "
          f"peak {peak_kib / 1024:.1f} MiB resident; {statuses}")
    ok = out.returncode == 0 and statuses == ["mirrored"] * count
    sys.exit(0 if ok and peak_kib < 64 * 1024 * count else 1)
finally:
    shutil.rmtree(work, ignore_errors=True)
