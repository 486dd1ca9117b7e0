#!/usr/bin/env python3
# guard_probe.py - raw storage requests for tests/integration/test_guard.sh: signed as a user
# (DESIGN section 3), signed with a credential of a forged hospital, or unsigned; prints the
# answer's status, header names in order, content type, body size and SHA-256 as JSON, and
# optionally the latency of repeated requests. Needs python3-cryptography (Ed25519).
import argparse, base64, hashlib, http.client, json, os, secrets, struct, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

def raw_pk(sk):
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def load_seed(d):
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(json.load(open(os.path.join(d, "keys")))["sign_seed"]))

def credential(subject, issuer_sk, role, depts, issued, expires):
    # mv_auth.h "Binary credential layout" (MVC1, big-endian).
    b = b"MVC1" + subject + raw_pk(issuer_sk) + struct.pack(">QQ", issued, expires)
    b += bytes([len(role)]) + role.encode() + bytes([len(depts)])
    for d in depts:
        b += bytes([len(d)]) + d.encode()
    return base64.b64encode(b + issuer_sk.sign(b"medvault-cred-v1\n" + b)).decode()

def signed_headers(sk, cred, method, path, body):
    date, nonce = str(int(time.time())), secrets.token_hex(16)
    msg = "medvault-req-v1\n%s\n%s\n%s\n%s\n%s" % (method, path, date, nonce, hashlib.sha256(body).hexdigest())
    return {"MV-Key": raw_pk(sk).hex(), "MV-Date": date, "MV-Nonce": nonce, "MV-Credential": cred,
            "MV-Signature": sk.sign(msg.encode()).hex()}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url"); ap.add_argument("method"); ap.add_argument("path")
    ap.add_argument("--user", help="user directory: sign with its keys and credential")
    ap.add_argument("--forge", action="store_true", help="with --user: a credential signed by a fake hospital")
    ap.add_argument("--expired-by", help="HOSPITAL_DIR: with --user, a credential the real hospital signed that expired an hour ago")
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
            sk = load_seed(a.user)
            cred = open(os.path.join(a.user, "credential")).read().strip()
            now = int(time.time())
            if a.forge:
                cred = credential(raw_pk(sk), Ed25519PrivateKey.generate(), "doctor", ["cardiology"], now - 60, now + 3600)
            if a.expired_by:
                cred = credential(raw_pk(sk), load_seed(a.expired_by), "doctor", ["cardiology"], now - 7200, now - 3600)
            hdrs.update(signed_headers(sk, cred, a.method, a.path, body))
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
