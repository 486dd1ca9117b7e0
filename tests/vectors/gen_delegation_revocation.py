#!/usr/bin/env python3
"""Generates tests/vectors/delegation.json, revocation.json and the seed corpora
tests/fuzz/corpus/{delegation,revocation}/ from the MVD1 / MVL1 layouts documented in
include/medvault/mv_delegation.h and mv_revocation.h, with an Ed25519 (RFC 8032)
implementation independent of ours (pyca/cryptography). Run from the repository root.
Keys are derived from fixed seeds, and Ed25519 is deterministic: the output is stable."""
import struct, os, base64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization
def kp(seed):
    k = Ed25519PrivateKey.from_private_bytes(bytes([seed])*32)
    return k, k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
pat, ppk = kp(1); doc, dpk = kp(2); hos, hpk = kp(3)
D = "tests/fuzz/corpus/delegation/"; R = "tests/fuzz/corpus/revocation/"
def deleg(dept, issued, expires, counter=True, appt=bytes(range(16))):
    body = b"MVD1" + ppk + dpk + appt + struct.pack(">QQ", issued, expires) + bytes([len(dept)]) + dept
    ps = pat.sign(b"medvault-delegation-v1\n" + body)
    hs = hos.sign(b"medvault-delegation-hospital-v1\n" + body + ps) if counter else bytes(64)
    return body + ps + hs
w = lambda p, b: open(p, "wb").write(b)
w(D+"countersigned", deleg(b"Cardiology", 1790000000, 1790604800))
w(D+"patient-only", deleg(b"ER", 1790000000, 1790000600, counter=False))
w(D+"longest-dept", deleg(b"A"*63, 1, 2**64-1))
w(D+"bad-dept-char", deleg(b"Card/ology", 1790000000, 1790604800))
w(D+"backward-window", deleg(b"ER", 1790000600, 1790000000))
w(D+"truncated", deleg(b"ER", 1, 2)[:150])
w(D+"b64-countersigned", base64.b64encode(deleg(b"Oncology", 1790000000, 1790604800)))
w(D+"magic-only", b"MVD1")
def rev(keys, serial, issued, nxt, signer=hos, issuer=None):
    issuer = issuer or hpk
    body = b"MVL1" + issuer + struct.pack(">QQQI", serial, issued, nxt, len(keys)) + b"".join(keys)
    return body + signer.sign(b"medvault-revocation-v1\n" + body)
keys = sorted([bytes([i])*32 for i in (0x10, 0x20, 0x30, 0xfe)])
w(R+"empty", rev([], 1, 1790000000, 1790000010))
w(R+"four-keys", rev(keys, 42, 1790000000, 1790000010))
w(R+"unsorted", rev(list(reversed(keys)), 43, 1790000000, 1790000010))
w(R+"duplicate", rev([keys[0], keys[0]], 44, 1790000000, 1790000010))
w(R+"n-too-large", rev(keys, 45, 1, 2)[:60] + struct.pack(">I", 1000001) + b"\0"*64)
w(R+"wrong-signer", rev(keys[:1], 46, 1, 2, signer=pat))
w(R+"magic-only", b"MVL1")
import json
def pkof(k): return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
vec = {"source": "independent: Python 'cryptography' Ed25519 (RFC 8032) over the MVD1 layout of include/medvault/mv_delegation.h; tests/vectors/gen_delegation_revocation.py",
       "patient_pk": ppk.hex(), "doctor_pk": dpk.hex(), "hospital_pk": hpk.hex(),
       "valid": [{"dept": "Cardiology", "issued_at": 1790000000, "expires_at": 1790604800, "hex": deleg(b"Cardiology", 1790000000, 1790604800).hex()},
                 {"dept": "A"*63, "issued_at": 1, "expires_at": 2**64-1, "hex": deleg(b"A"*63, 1, 2**64-1).hex()}],
       "patient_only": deleg(b"ER", 1790000000, 1790000600, counter=False).hex()}
json.dump(vec, open("tests/vectors/delegation.json", "w"), indent=1)
vec = {"source": "independent: Python 'cryptography' Ed25519 (RFC 8032) over the MVL1 layout of include/medvault/mv_revocation.h; tests/vectors/gen_delegation_revocation.py",
       "hospital_pk": hpk.hex(),
       "lists": [{"serial": 42, "issued_at": 1790000000, "next_update": 1790000010, "keys": [k.hex() for k in keys], "hex": rev(keys, 42, 1790000000, 1790000010).hex()},
                 {"serial": 1, "issued_at": 1790000000, "next_update": 1790000010, "keys": [], "hex": rev([], 1, 1790000000, 1790000010).hex()}],
       "wrong_signer": rev(keys[:1], 46, 1, 2, signer=pat).hex()}
json.dump(vec, open("tests/vectors/revocation.json", "w"), indent=1)
