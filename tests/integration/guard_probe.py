#!/usr/bin/env python3
# guard_probe.py - raw storage requests for tests/integration/test_guard.sh: signed as a user
# (DESIGN section 3), signed with a credential of a forged hospital, or unsigned; prints the
# answer's status, header names in order, content type, body size and SHA-256 as JSON, and
# optionally the latency of repeated requests. The MV-* headers come from the mv_sign test
# helper (MV_SIGN_BIN, built with the tests: the project's own signing code).
import argparse, hashlib, http.client, json, os, struct, subprocess, sys, tempfile, time

def signed_headers(url, user, method, path, body, forge, expired_by, expires_at=None):
    args = [os.environ["MV_SIGN_BIN"], "--user", user, "--target", url]
    if forge:
        args += ["--forge", "cred"]
    if expired_by:
        args += ["--expired-by", expired_by]
    if expires_at:
        args += ["--expires-at", str(expires_at)]
    args += [method, path]
    with tempfile.NamedTemporaryFile() as f:
        if body:
            f.write(body)
            f.flush()
            args.append(f.name)
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return dict(line.split(": ", 1) for line in out.splitlines() if line)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url"); ap.add_argument("method"); ap.add_argument("path")
    ap.add_argument("--user", help="user directory: sign with its keys and credential")
    ap.add_argument("--forge", action="store_true", help="with --user: a credential signed by a fake hospital")
    ap.add_argument("--expired-by", help="HOSPITAL_DIR: with --user, a credential the real hospital signed that expired an hour ago")
    ap.add_argument("--expires-at", type=int, help="with --expired-by: the credential expired at this unix time instead")
    ap.add_argument("--grant", help="file holding a base64 step-up grant (MV-Step-Up)")
    ap.add_argument("--ids", help="comma-separated record ids: body is an MVQ1 frame")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--body-out"); ap.add_argument("--out")
    a = ap.parse_args()
    body = b""
    if a.ids:
        ids = [bytes.fromhex(x) for x in a.ids.split(",")]
        body = b"MVQ1" + struct.pack("<I", len(ids)) + b"".join(ids)
    host = a.url.split("://", 1)[1]
    res, ms, statuses = None, [], []
    for _ in range(a.repeat):
        hdrs = {}
        if body:
            hdrs["Content-Type"] = "application/octet-stream"
        if a.user:
            hdrs.update(signed_headers(a.url, a.user, a.method, a.path, body, a.forge, a.expired_by, a.expires_at))
        if a.grant:
            hdrs["MV-Step-Up"] = open(a.grant).read().strip()
        c = http.client.HTTPConnection(host, timeout=30)
        t = time.perf_counter()
        c.request(a.method, a.path, body=body or None, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        ms.append((time.perf_counter() - t) * 1000.0)
        statuses.append(r.status)
        res = {"status": r.status, "headers": [k for k, _ in r.getheaders() if k.lower() != "date"],
               "header_values": {k: v for k, v in r.getheaders() if k.lower().startswith("mv-")},
               "content_type": r.getheader("Content-Type"), "body_len": len(data),
               "body_sha256": hashlib.sha256(data).hexdigest()}
        c.close()
        if a.body_out:
            open(a.body_out, "wb").write(data)
    ms.sort()
    res["statuses"] = statuses
    res["ms_median"] = ms[len(ms) // 2]
    res["ms_p90"] = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    out = json.dumps(res)
    if a.out:
        open(a.out, "w").write(out + "\n")
    print(out)

main()
