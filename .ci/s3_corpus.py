"""Helper of .ci/s3_corpus.sh (boto3, against the S3 server AWS_ENDPOINT_URL names).

  s3_corpus.py create-bucket BUCKET
  s3_corpus.py compare BUCKET PREFIX FOLDER

`compare` downloads every object under PREFIX/ except .regtool/ and crates/
(the index files and config.json), and compares each with the file at the same
path in FOLDER, byte for byte, both ways: an index file only one side has is a
failure too. Prints `N passed, N failed`; exits 1 if any failed.
"""

import os
import sys

import boto3


def client():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def served(key):
    """Whether `key` (relative to the registry) is an index file or config.json."""
    top = key.split("/", 1)[0]
    return not (top.startswith(".") or top == "crates")


def remote_keys(s3, bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            key = obj["Key"][len(prefix) + 1 :]
            if served(key):
                keys.append(key)
    return keys


def local_keys(folder):
    keys = []
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        dirs[:] = [d for d in dirs if served(d if rel == "." else rel)]
        for f in files:
            key = f if rel == "." else f"{rel}/{f}"
            if served(key) and not f.startswith("."):
                keys.append(key)
    return keys


def compare(bucket, prefix, folder):
    s3 = client()
    remote = set(remote_keys(s3, bucket, prefix))
    local = set(local_keys(folder))
    passed = failed = 0
    for key in sorted(remote | local):
        if key not in local:
            print(f"FAIL {key}: in the bucket only")
            failed += 1
            continue
        if key not in remote:
            print(f"FAIL {key}: in the folder only")
            failed += 1
            continue
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read()
        with open(os.path.join(folder, key), "rb") as f:
            want = f.read()
        if body == want:
            passed += 1
        else:
            print(f"FAIL {key}: the bucket's {len(body)} bytes differ from the folder's {len(want)}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


def main(argv):
    if argv[:1] == ["create-bucket"] and len(argv) == 2:
        client().create_bucket(Bucket=argv[1])
        return 0
    if argv[:1] == ["compare"] and len(argv) == 4:
        return compare(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
