#!/usr/bin/env python3
"""Load client for bench/serve.sh (issue 21's figures), standard library only.

  serve_client.py publish PORT TOKEN CLIENTS COUNT PREFIX
      COUNT publishes of new crates PREFIX-0..PREFIX-{COUNT-1} (1.0.0, a small
      lib), cargo's publish frame (32-bit little-endian JSON length, JSON,
      32-bit .crate length, .crate) over HTTP/1.1, CLIENTS at once (threads,
      one connection per publish as cargo makes). Prints one JSON line:
      count, failures, p50/p99/mean latency in ms, wall seconds.
  serve_client.py get PORT PATH CLIENTS SECONDS
      GET PATH for SECONDS from CLIENTS processes, each with one kept-alive
      connection, one request at a time. Prints requests per second and the
      count of answers that were not 200.

The same client measures `regtool serve` and nginx, so that the two figures
differ by the server only (on two cores the client takes a share of them).
"""
import gzip
import io
import json
import multiprocessing
import socket
import statistics
import sys
import tarfile
import threading
import time


def make_crate(name, vers):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        files = {
            "Cargo.toml": f'[package]\nname = "{name}"\nversion = "{vers}"\nedition = "2021"\n'
            f'description = "bench"\nlicense = "MIT"\n',
            "src/lib.rs": "pub fn answer() -> u32 { 42 }\n",
        }
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{vers}/{path}")
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def frame(name, vers):
    meta = json.dumps({"name": name, "vers": vers, "deps": [], "features": {}}).encode()
    krate = make_crate(name, vers)
    return (len(meta).to_bytes(4, "little") + meta
            + len(krate).to_bytes(4, "little") + krate)


def read_response(sock, buf=b""):
    """(status, rest of the buffer) of one response with Content-Length."""
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("closed before the headers")
        buf += more
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("closed in the body")
        body += more
    return status, body[length:]


def publish_one(port, token, body):
    head = (f"PUT /api/v1/crates/new HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {token}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(head + body)
        status, _ = read_response(s)
    return status, (time.perf_counter() - start) * 1000


def publish(port, token, clients, count, prefix):
    bodies = [frame(f"{prefix}-{i}", "1.0.0") for i in range(count)]
    lat, failed, lock = [], [0], threading.Lock()
    todo = iter(range(count))

    def worker():
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            status, ms = publish_one(port, token, bodies[i])
            with lock:
                lat.append(ms)
                if status != 200:
                    failed[0] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(json.dumps({"count": len(lat), "failures": failed[0], "p50_ms": round(pick(0.5), 1),
                      "p99_ms": round(pick(0.99), 1), "mean_ms": round(statistics.mean(lat), 1),
                      "wall_s": round(wall, 2)}))


def get_worker(port, path, seconds, out):
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    done, bad, buf = 0, 0, b""

    def connect():
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    s = connect()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        try:
            s.sendall(req)
            status, buf = read_response(s, buf)
        except OSError:  # the server closed a kept-alive connection: again
            s.close()
            s, buf = connect(), b""
            continue
        done += 1
        bad += status != 200
    s.close()
    out.put((done, bad))


def get(port, path, clients, seconds):
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=get_worker, args=(port, path, seconds, out))
             for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    print(json.dumps({"requests": done, "not_200": sum(r[1] for r in results),
                      "per_second": round(done / seconds)}))


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "publish":
        publish(port, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif cmd == "get":
        get(port, sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(f"unknown command {cmd}")
