#!/usr/bin/env python3
"""mvcall.py USER_DIR URL METHOD PATH [BODY] - one signed request (DESIGN section 3) to a medvault
service as the user in USER_DIR, for integration tests that need an API with no CLI command.
Prints the answer body; exit 0 for HTTP < 400, else 1 (status on stderr). Needs python3-cryptography."""
import hashlib, json, os, sys, time, urllib.error, urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def main():
    udir, base, method, path = sys.argv[1:5]
    body = sys.argv[5].encode() if len(sys.argv) > 5 else b""
    keys = json.load(open(os.path.join(udir, "keys")))
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(keys["sign_seed"]))
    pk = sk.public_key().public_bytes_raw().hex()
    cred = open(os.path.join(udir, "credential")).read().strip()
    date, nonce = str(int(time.time())), os.urandom(16).hex()
    msg = "medvault-req-v1\n%s\n%s\n%s\n%s\n%s" % (method, path, date, nonce, hashlib.sha256(body).hexdigest())
    headers = {"MV-Key": pk, "MV-Date": date, "MV-Nonce": nonce, "MV-Signature": sk.sign(msg.encode()).hex(),
               "MV-Credential": cred}
    if body:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base.rstrip("/") + path, data=body if body else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            sys.stdout.write(r.read().decode())
            return 0
    except urllib.error.HTTPError as e:
        sys.stdout.write(e.read().decode())
        print("HTTP %d" % e.code, file=sys.stderr)
        return 1


sys.exit(main())
