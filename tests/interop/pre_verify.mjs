// pre_verify.mjs - a second implementation of medvault-pre-v1 (the threshold proxy re-encryption
// of sharing through two clouds), written only from docs/pre.md with @noble/curves' ristretto255,
// @noble/hashes and node:crypto's ChaCha20-Poly1305, never from src/crypto/pre*.c: it checks that
// the document alone fixes every byte. For each case of tests/vectors/pre.json it re-derives the
// seeds and keys (§2), the capsule and its key (§3), the kfrags (§4), the delegation (§6.1, signed
// again with the owner's Ed25519 seed) and its hash, every cfrag (§5), the MVKF plaintext (§6.2)
// and the wrapped secret (§3 Wrap), and compares each byte for byte with the vector. It then parses
// the vector's delegation as §6.1 says, verifies the owner's signature and the capsules, verifies
// every cfrag, combines the last t and every t-subset to the key, unwraps the secret, and checks
// that every flipped byte of a cfrag or of the delegation is refused and that t-1 cfrags do not
// open the capsule. Exit status 0 only if everything matched.
//
// Usage: node tests/interop/pre_verify.mjs [VECTORS.json]
// (default $MV_VECTORS_DIR/pre.json, else tests/vectors/pre.json). The npm packages come from
// tests/browser/node_modules (`bash scripts/setup.sh --browser`, which `make check` runs).
import { readFileSync } from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';

import { REPO, load } from './npm.mjs';
const { ristretto255, ristretto255_hasher, ed25519 } = await load('@noble/curves/ed25519.js');
const { expand_message_xmd } = await load('@noble/curves/abstract/hash-to-curve.js');
const { sha256, sha512 } = await load('@noble/hashes/sha2.js');
const { hkdf } = await load('@noble/hashes/hkdf.js');

const Point = ristretto255.Point;
const G = Point.BASE;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

// ---- byte helpers ------------------------------------------------------------------------------

const ascii = (s) => new TextEncoder().encode(s);
const toHex = (b) => Buffer.from(b).toString('hex');
function fromHex(s) {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new Error(`bad hex: ${s}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
function same(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }
const u8 = (x) => Uint8Array.of(x);
function u16be(x) { return Uint8Array.of((x >> 8) & 0xff, x & 0xff); }
function u64be(x) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(x)); return b; }
function memcmp(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// ---- §1 scalars, elements, H, U ----------------------------------------------------------------

const md = (x) => ((x % L) + L) % L;
function leInt(b) { let x = 0n; for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]); return x; }
function scalarOut(s) {
  const b = new Uint8Array(32);
  let x = md(s);
  for (let i = 0; i < 32; i++) { b[i] = Number(x & 0xffn); x >>= 8n; }
  return b;
}
function scalarIn(b) { // canonical: < L
  if (b.length !== 32) throw new Error('scalar length');
  const x = leInt(b);
  if (x >= L) throw new Error('non-canonical scalar');
  return x;
}
function elementIn(b) { // canonical, not the identity
  if (b.length !== 32) throw new Error('element length');
  const p = Point.fromBytes(b); // rejects non-canonical encodings
  if (p.is0()) throw new Error('identity element');
  if (!same(p.toBytes(), b)) throw new Error('non-canonical element');
  return p;
}
function inv(x) { // Fermat
  x = md(x);
  if (x === 0n) throw new Error('inverse of 0');
  let r = 1n, b = x, e = L - 2n;
  while (e > 0n) { if (e & 1n) r = (r * b) % L; b = (b * b) % L; e >>= 1n; }
  return r;
}
const mul = (P, k) => (md(k) === 0n ? Point.ZERO : P.multiply(md(k)));

// H(name; x_1..x_k) = HashToScalar(x_1 || ... || x_k, "medvault-pre-v1-" || name)
function H(name, ...xs) {
  const uniform = expand_message_xmd(concat(...xs), ascii(`medvault-pre-v1-${name}`), 64, sha512);
  return md(leInt(uniform));
}
function Hnz(name, ...xs) { const v = H(name, ...xs); if (v === 0n) throw new Error(`H(${name}) = 0`); return v; }

// U = HashToGroup("U", "medvault-pre-v1-generator"): message "U", DST "medvault-pre-v1-generator".
const U = ristretto255_hasher.hashToCurve(ascii('U'), { DST: ascii('medvault-pre-v1-generator') });
const Ub = U.toBytes();
// The same, by hand from RFC 9380 Appendix B (expand_message_xmd then the one-way map).
{
  const byHand = ristretto255_hasher.deriveToCurve(expand_message_xmd(ascii('U'), ascii('medvault-pre-v1-generator'), 64, sha512));
  if (!byHand.equals(U)) { console.error('FAIL: hash_to_ristretto255 disagrees with its own definition'); process.exit(1); }
}

const HKDF = (salt, ikm, info, len) => hkdf(sha256, ikm, salt, info, len);

// ---- §2 keys -----------------------------------------------------------------------------------

const userSeed = (boxSk) => HKDF(ascii('medvault-pre-v1 seed'), boxSk, new Uint8Array(0), 32);
const recipientKey = (seed) => Hnz('recipient-key', seed);
const labelKey = (seed, owner, kind, label) => Hnz('label-key', seed, owner, u8(kind), label);

// ---- §3 the key encapsulation ------------------------------------------------------------------

const KDF = (P, capsule) => HKDF(ascii('medvault-pre-v1 kdf'), P.toBytes(), capsule, 32);

function encapsulate(A, rnd) {
  const r = Hnz('encap-r', rnd.subarray(0, 32));
  const u = Hnz('encap-u', rnd.subarray(32, 64));
  const E = mul(G, r), V = mul(G, u);
  const h = H('capsule', E.toBytes(), V.toBytes());
  const s = md(u + r * h);
  const capsule = concat(E.toBytes(), V.toBytes(), scalarOut(s));
  return { capsule, key: KDF(mul(A, r + u), capsule) };
}

// Check(capsule): throws unless E, V are elements, s canonical and s·G = V + h·E.
function checkCapsule(capsule) {
  if (capsule.length !== 96) throw new Error('capsule length');
  const E = elementIn(capsule.subarray(0, 32));
  const V = elementIn(capsule.subarray(32, 64));
  const s = scalarIn(capsule.subarray(64, 96));
  const h = H('capsule', capsule.subarray(0, 32), capsule.subarray(32, 64));
  if (!mul(G, s).equals(V.add(mul(E, h)))) throw new Error('capsule equation');
  return { E, V, s, h };
}

const decapsulate = (a, capsule) => { const { E, V } = checkCapsule(capsule); return KDF(mul(E.add(V), a), capsule); };

function aead(encrypt, key, aad, data) {
  const nonce = new Uint8Array(12);
  if (encrypt) {
    const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: data.length });
    return concat(c.update(data), c.final(), c.getAuthTag());
  }
  const d = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: data.length - 16 });
  d.setAuthTag(data.subarray(data.length - 16));
  return concat(d.update(data.subarray(0, data.length - 16)), d.final());
}
const wrapAad = (capsule, ref) => concat(ascii('medvault-pre-v1 wrap'), capsule, ref);
const wrap = (key, capsule, ref, secret) => aead(true, key, wrapAad(capsule, ref), secret);
const unwrap = (key, capsule, ref, wrapped) => aead(false, key, wrapAad(capsule, ref), wrapped);

// ---- §4 kfrags ---------------------------------------------------------------------------------

function reKeyGen(a, A, B, t, n, seedK) {
  if (!(1 <= t && t <= n && n <= 16)) throw new Error('t, n');
  if (A.equals(B)) throw new Error('B = A');
  const xA = Hnz('kfrag-x', seedK);
  const coef = [];
  for (let j = 1; j <= t - 1; j++) coef.push(H('kfrag-coef', seedK, u8(j)));
  const ids = [];
  for (let i = 1; i <= n; i++) ids.push(scalarOut(H('kfrag-id', seedK, u8(i))));
  const XA = mul(G, xA);
  const d = Hnz('dh', XA.toBytes(), B.toBytes(), mul(B, xA).toBytes());
  const f = [md(a * inv(d)), ...coef];
  const poly = (x) => { let y = 0n; for (let k = f.length - 1; k >= 0; k--) y = md(y * x + f[k]); return y; };
  const D = H('share-secret', A.toBytes(), B.toBytes(), mul(B, a).toBytes());
  const kfrags = [], seen = new Set();
  for (let i = 0; i < n; i++) {
    const x = H('share-x', ids[i], scalarOut(D));
    const rk = poly(x);
    if (x === 0n || rk === 0n || seen.has(x)) throw new Error('degenerate share (start again)');
    seen.add(x);
    kfrags.push({ id: ids[i], rk, U1: mul(U, rk) });
  }
  return { XA, kfrags };
}

// ---- §5 re-encryption, verification, decapsulation ---------------------------------------------

function proofChallenge(capsule, E1b, E2b, V1b, V2b, U1b, U2b, aux, id) {
  return H('cfrag-proof', capsule.subarray(0, 32), E1b, E2b, capsule.subarray(32, 64), V1b, V2b, Ub, U1b, U2b, aux, id);
}

function reEncrypt(kfrag, capsule, aux, rnd) {
  const { E, V } = checkCapsule(capsule);
  const E1 = mul(E, kfrag.rk), V1 = mul(V, kfrag.rk);
  const tau = Hnz('proof-nonce', rnd, scalarOut(kfrag.rk), capsule, aux, kfrag.id, kfrag.U1.toBytes());
  const E2 = mul(E, tau), V2 = mul(V, tau), U2 = mul(U, tau);
  const c = proofChallenge(capsule, E1.toBytes(), E2.toBytes(), V1.toBytes(), V2.toBytes(), kfrag.U1.toBytes(), U2.toBytes(), aux, kfrag.id);
  const z3 = md(tau + c * kfrag.rk);
  return concat(E1.toBytes(), V1.toBytes(), kfrag.id, E2.toBytes(), V2.toBytes(), U2.toBytes(), scalarOut(z3));
}

// Verify(capsule, cfrag, id, U1, aux): returns the parsed cfrag or throws.
function verifyCfrag(capsule, cfrag, id, U1b, aux) {
  if (cfrag.length !== 224) throw new Error('cfrag length');
  const { E, V } = checkCapsule(capsule);
  const f = (k) => cfrag.subarray(32 * k, 32 * k + 32);
  const E1 = elementIn(f(0)), V1 = elementIn(f(1));
  const cid = f(2);
  const E2 = elementIn(f(3)), V2 = elementIn(f(4)), U2 = elementIn(f(5));
  const z3 = scalarIn(f(6));
  const U1 = elementIn(U1b);
  if (!same(cid, id)) throw new Error('cfrag id');
  const c = proofChallenge(capsule, f(0), f(3), f(1), f(4), U1b, f(5), aux, id);
  if (!mul(E, z3).equals(E2.add(mul(E1, c)))) throw new Error('proof equation E');
  if (!mul(V, z3).equals(V2.add(mul(V1, c)))) throw new Error('proof equation V');
  if (!mul(U, z3).equals(U2.add(mul(U1, c)))) throw new Error('proof equation U');
  return { E1, V1, id: cid };
}

function decapsulateFrags(b, B, A, XA, capsule, frags) {
  const { E, V, s, h } = checkCapsule(capsule);
  const D = H('share-secret', A.toBytes(), B.toBytes(), mul(A, b).toBytes());
  const xs = frags.map((fr) => H('share-x', fr.id, scalarOut(D)));
  if (new Set(xs).size !== xs.length) throw new Error('repeated share point');
  let E_ = Point.ZERO, V_ = Point.ZERO;
  for (let i = 0; i < frags.length; i++) {
    let lam = 1n;
    for (let j = 0; j < frags.length; j++) if (j !== i) lam = md(lam * xs[j] * inv(xs[j] - xs[i]));
    E_ = E_.add(mul(frags[i].E1, lam));
    V_ = V_.add(mul(frags[i].V1, lam));
  }
  const d = Hnz('dh', XA.toBytes(), B.toBytes(), mul(XA, b).toBytes());
  if (!mul(A, s).equals(mul(V_.add(mul(E_, h)), d))) throw new Error('s·A != d·(V\' + h·E\') (step 5)');
  return KDF(mul(E_.add(V_), d), capsule);
}

// ---- §6.1 the delegation MVPD ------------------------------------------------------------------

const SIG_PREFIX = ascii('medvault-pre-delegation-v1\n');
const DEPT_RE = /^[A-Za-z0-9 _.-]+$/;

function encodeDelegation(dl, ownerSeed) {
  const body = concat(
    ascii('MVPD'), u8(dl.version ?? 1), dl.owner, u8(dl.labelKind), dl.label, dl.A, dl.recipient, dl.B,
    u8(dl.role), u8(dl.department.length), ascii(dl.department),
    u64be(dl.issuedAt), u64be(dl.expiresAt), u8(dl.t), u8(dl.n), dl.XA,
    ...dl.commitments.map((c, i) => concat(u8(i + (dl.commitmentIndexBase ?? 1)), c.id, c.U1)),
    u16be(dl.entries.length),
    ...dl.entries.map((e) => concat(u8(e.kind), e.ref, e.capsule, e.wrapped)));
  return concat(body, ed25519.sign(concat(SIG_PREFIX, body), ownerSeed));
}

// Parses and verifies a delegation (every rule of §6.1 and the signature); throws on any refusal.
function parseDelegation(buf) {
  let o = 0;
  const take = (k) => {
    if (o + k > buf.length) throw new Error('truncated');
    const v = buf.subarray(o, o + k); o += k; return v;
  };
  const byte = () => take(1)[0];
  if (!same(take(4), ascii('MVPD'))) throw new Error('magic');
  if (byte() !== 1) throw new Error('version');
  const owner = take(32);
  const labelKind = byte();
  if (labelKind !== 1 && labelKind !== 2) throw new Error('label_kind');
  const label = take(16);
  const Ab = take(32); const A = elementIn(Ab);
  const recipient = take(32);
  if (same(recipient, owner)) throw new Error('recipient = owner');
  const Bb = take(32); const B = elementIn(Bb);
  if (A.equals(B)) throw new Error('B = A');
  const role = byte();
  if (role !== 1 && role !== 2 && role !== 4) throw new Error('role');
  const dlen = byte();
  if (dlen < 1 || dlen > 63) throw new Error('dlen');
  const deptBytes = take(dlen);
  const department = String.fromCharCode(...deptBytes);
  if (!DEPT_RE.test(department)) throw new Error('department character');
  const dv = new DataView(buf.buffer, buf.byteOffset);
  const issuedAt = (take(8), dv.getBigUint64(o - 8));
  const expiresAt = (take(8), dv.getBigUint64(o - 8));
  if (!(expiresAt > issuedAt)) throw new Error('expires_at <= issued_at');
  const t = byte(), n = byte();
  if (!(n >= 1 && n <= 16)) throw new Error('n');
  if (!(t >= 1 && t <= n)) throw new Error('t');
  const XAb = take(32); const XA = elementIn(XAb);
  const commitments = [];
  for (let i = 1; i <= n; i++) {
    if (byte() !== i) throw new Error(`commitment index ${i}`);
    const id = take(32);
    scalarIn(id); // an id is a scalar's encoding (§4 step 1)
    const U1b = take(32); elementIn(U1b);
    commitments.push({ id, U1: U1b });
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (same(commitments[i].id, commitments[j].id)) throw new Error('repeated kfrag id');
  const m = (take(2), dv.getUint16(o - 2));
  if (m < 1 || m > 1024) throw new Error('m');
  const entries = [];
  for (let k = 0; k < m; k++) {
    const kind = byte();
    if (kind !== 1 && kind !== 2) throw new Error('entry kind');
    const ref = take(16);
    const capsule = take(96);
    checkCapsule(capsule);
    const wrapped = take(48);
    if (k > 0 && memcmp(entries[k - 1].ref, ref) >= 0) throw new Error('refs not strictly ascending');
    entries.push({ kind, ref, capsule, wrapped });
  }
  if (labelKind === 2 && (m !== 1 || entries[0].kind !== 2 || !same(entries[0].ref, label))) throw new Error('kind-2 label entry');
  const bodyLen = o;
  const signature = take(64);
  if (o !== buf.length) throw new Error('bytes after the signature');
  if (!ed25519.verify(signature, concat(SIG_PREFIX, buf.subarray(0, bodyLen)), owner, { zip215: false })) throw new Error('signature');
  return { owner, labelKind, label, A, Ab, recipient, B, Bb, role, department, issuedAt, expiresAt, t, n, XA, XAb, commitments, entries };
}
const delegationHash = (buf) => sha256(concat(ascii('medvault-pre-delegation-id-v1'), buf));

// ---- the cases ---------------------------------------------------------------------------------

const file = process.argv[2] ||
  (process.env.MV_VECTORS_DIR ? path.join(process.env.MV_VECTORS_DIR, 'pre.json') : path.join(REPO, 'tests', 'vectors', 'pre.json'));
const doc = JSON.parse(readFileSync(file, 'utf8'));
if (!Array.isArray(doc.cases) || doc.cases.length === 0) { console.error(`FAIL: no cases in ${file}`); process.exit(1); }

let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++; else { failed++; console.error(`FAIL: ${what}`); }
  return ok;
}
function checkBytes(caseName, field, got, want) {
  return check(same(got, want), `${caseName}: ${field} differs\n  got  ${toHex(got)}\n  want ${toHex(want)}`);
}
function refused(fn) { try { fn(); return false; } catch { return true; } }
function subsets(arr, k) {
  if (k === 0) return [[]];
  if (arr.length < k) return [];
  const [x, ...rest] = arr;
  return [...subsets(rest, k - 1).map((s) => [x, ...s]), ...subsets(rest, k)];
}

for (const c of doc.cases) {
  const name = c.name;
  const before = failed;
  const v = (k) => { if (!(k in c)) throw new Error(`${name}: field ${k} missing`); return fromHex(c[k]); };
  try {
    const t = c.t, n = c.n;
    // §2 keys.
    const ownerSeed = userSeed(v('owner_box_sk'));
    checkBytes(name, 'owner_seed', ownerSeed, v('owner_seed'));
    const ownerSignPk = ed25519.getPublicKey(v('owner_sign_seed'));
    checkBytes(name, 'owner_sign_pk', ownerSignPk, v('owner_sign_pk'));
    const label = v('label');
    const a = labelKey(ownerSeed, ownerSignPk, 2, label);
    const A = mul(G, a);
    checkBytes(name, 'label_sk', scalarOut(a), v('label_sk'));
    checkBytes(name, 'label_pk', A.toBytes(), v('label_pk'));
    const recipientSeed = userSeed(v('recipient_box_sk'));
    checkBytes(name, 'recipient_seed', recipientSeed, v('recipient_seed'));
    const b = recipientKey(recipientSeed);
    const B = mul(G, b);
    checkBytes(name, 'recipient_sk', scalarOut(b), v('recipient_sk'));
    checkBytes(name, 'recipient_pk', B.toBytes(), v('recipient_pk'));

    // §3 capsule, key, owner's decapsulation, wrap.
    const { capsule, key } = encapsulate(A, v('encap_rnd'));
    checkBytes(name, 'capsule', capsule, v('capsule'));
    checkBytes(name, 'key', key, v('key'));
    check(!refused(() => checkCapsule(v('capsule'))), `${name}: the vector's capsule fails Check`);
    checkBytes(name, 'key (owner Decapsulate)', decapsulate(a, v('capsule')), v('key'));
    const wrapped = wrap(v('key'), v('capsule'), label, v('wrapped_secret'));
    checkBytes(name, 'wrapped', wrapped, v('wrapped'));

    // §4 kfrags.
    const { XA, kfrags } = reKeyGen(a, A, B, t, n, v('kfrag_seed'));
    checkBytes(name, 'X_A', XA.toBytes(), v('X_A'));
    for (let i = 1; i <= n; i++) {
      const k = kfrags[i - 1];
      checkBytes(name, `kfrag${i}_id`, k.id, v(`kfrag${i}_id`));
      checkBytes(name, `kfrag${i}_rk`, scalarOut(k.rk), v(`kfrag${i}_rk`));
      checkBytes(name, `kfrag${i}_U1`, k.U1.toBytes(), v(`kfrag${i}_U1`));
      check(mul(U, scalarIn(v(`kfrag${i}_rk`))).equals(elementIn(v(`kfrag${i}_U1`))), `${name}: kfrag${i}_U1 != rk·U`);
    }
    // §6.2 MVKF plaintext of kfrag 1.
    const mvkf = concat(ascii('MVKF'), u8(1), u8(1), kfrags[0].id, scalarOut(kfrags[0].rk));
    check(mvkf.length === 70, `${name}: MVKF plaintext is ${mvkf.length} bytes`);
    checkBytes(name, 'kfrag1_sealed_plaintext', mvkf, v('kfrag1_sealed_plaintext'));

    // §6.1 the delegation, rebuilt from the inputs and signed again (Ed25519 is deterministic).
    const deleg = encodeDelegation({
      owner: ownerSignPk, labelKind: 2, label, A: A.toBytes(), recipient: v('delegation_recipient_sign_pk'),
      B: B.toBytes(), role: 2, department: 'cardiology', issuedAt: 1800000000, expiresAt: 1802592000, t, n,
      XA: XA.toBytes(), commitments: kfrags.map((k) => ({ id: k.id, U1: k.U1.toBytes() })),
      entries: [{ kind: 2, ref: label, capsule, wrapped }],
    }, v('owner_sign_seed'));
    checkBytes(name, 'delegation', deleg, v('delegation'));
    const dhash = delegationHash(v('delegation'));
    checkBytes(name, 'delegation_hash', dhash, v('delegation_hash'));

    // Parse the vector's delegation and check what it says.
    const vd = v('delegation');
    const P = parseDelegation(vd);
    check(same(P.owner, ownerSignPk) && P.labelKind === 2 && same(P.label, label) && P.A.equals(A) &&
      same(P.recipient, v('delegation_recipient_sign_pk')) && P.B.equals(B) && P.role === 2 &&
      P.department === 'cardiology' && P.issuedAt === 1800000000n && P.expiresAt === 1802592000n &&
      P.t === t && P.n === n && P.XA.equals(XA) && P.entries.length === 1,
      `${name}: the parsed delegation's fields differ from the case's`);
    const entry = P.entries[0];
    checkBytes(name, 'delegation entry capsule', entry.capsule, v('capsule'));

    // §5 cfrags: re-derive, verify with the delegation's commitments.
    const verified = [];
    for (let i = 1; i <= n; i++) {
      const cf = reEncrypt(kfrags[i - 1], capsule, dhash, v(`proof${i}_rnd`));
      checkBytes(name, `cfrag${i}`, cf, v(`cfrag${i}`));
      const com = P.commitments[i - 1];
      let fr = null;
      try { fr = verifyCfrag(entry.capsule, v(`cfrag${i}`), com.id, com.U1, dhash); } catch (e) { check(false, `${name}: cfrag${i} fails Verify: ${e.message}`); }
      verified.push(fr);
      // Every flipped byte refused.
      let accepted = 0;
      const orig = v(`cfrag${i}`);
      for (let k = 0; k < orig.length; k++) {
        const bad = orig.slice(); bad[k] ^= 0x01;
        if (!refused(() => verifyCfrag(entry.capsule, bad, com.id, com.U1, dhash))) { accepted++; console.error(`  accepted: cfrag${i} byte ${k} ^ 1`); }
      }
      check(accepted === 0, `${name}: ${accepted} flipped cfrag${i} bytes verified`);
      // Bound to the delegation and to the proxy's commitment.
      check(refused(() => verifyCfrag(entry.capsule, orig, com.id, com.U1, new Uint8Array(32))), `${name}: cfrag${i} verified with another aux`);
      if (n > 1) {
        const other = P.commitments[i % n];
        check(refused(() => verifyCfrag(entry.capsule, orig, com.id, other.U1, dhash)), `${name}: cfrag${i} verified with another proxy's U1`);
      }
    }

    // Combine: the last t, every t-subset (and every larger one), never t-1.
    const idx = [...Array(n).keys()];
    const lastT = idx.slice(n - t);
    const open = (set) => decapsulateFrags(b, B, P.A, P.XA, entry.capsule, set.map((j) => verified[j]));
    checkBytes(name, `key (cfrags ${lastT.map((j) => j + 1).join(',')})`, open(lastT), v('key'));
    let subsetsOk = 0, subsetsAll = 0;
    for (let k = t; k <= n; k++) for (const s of subsets(idx, k)) {
      subsetsAll++;
      let got = null; try { got = open(s); } catch { /* counted below */ }
      if (check(got && same(got, v('key')), `${name}: cfrags ${s.map((j) => j + 1).join(',')} do not give the key`)) subsetsOk++;
    }
    let shortRefused = 0, shortAll = 0;
    for (const s of subsets(idx, t - 1)) {
      shortAll++;
      let why = null;
      try { open(s); } catch (e) { why = e.message; }
      if (check(why && why.includes('step 5'), `${name}: ${s.length} cfrags (${s.map((j) => j + 1).join(',')}) were not refused at step 5 (${why})`)) shortRefused++;
    }
    // Unwrap with the recovered key.
    const secret = unwrap(open(lastT), entry.capsule, entry.ref, entry.wrapped);
    checkBytes(name, 'unwrapped secret', secret, v('wrapped_secret'));

    // Every flipped byte of the delegation refused by the parser and the signature.
    let accepted = 0, byParser = 0;
    for (let k = 0; k < vd.length; k++) {
      const bad = vd.slice(); bad[k] ^= 0x01;
      let why = null;
      try { parseDelegation(bad); } catch (e) { why = e.message; }
      if (why === null) { accepted++; console.error(`  accepted: delegation byte ${k} ^ 1`); } else if (why !== 'signature') byParser++;
    }
    check(accepted === 0, `${name}: ${accepted} flipped delegation bytes accepted`);
    check(refused(() => parseDelegation(concat(vd, u8(0)))), `${name}: a byte after the signature was accepted`);
    check(refused(() => parseDelegation(vd.subarray(0, vd.length - 1))), `${name}: a truncated delegation was accepted`);

    // Each rule of §6.1, broken in a delegation the owner signs again (so that only the parser can
    // refuse it), and two well-formed variants that must be accepted.
    const base = {
      owner: ownerSignPk, labelKind: 2, label, A: A.toBytes(), recipient: v('delegation_recipient_sign_pk'),
      B: B.toBytes(), role: 2, department: 'cardiology', issuedAt: 1800000000, expiresAt: 1802592000, t, n,
      XA: XA.toBytes(), commitments: kfrags.map((k) => ({ id: k.id, U1: k.U1.toBytes() })),
      entries: [{ kind: 2, ref: label, capsule, wrapped }],
    };
    const seedO = v('owner_sign_seed');
    const variant = (f) => { const dl = structuredClone(base); f(dl); return encodeDelegation(dl, seedO); };
    const ref2 = label.slice(); ref2[15] ^= 0x80;
    const [refLo, refHi] = memcmp(label, ref2) < 0 ? [label, ref2] : [ref2, label];
    const negative = new Uint8Array(32); negative[0] = 1; // odd: not a canonical ristretto255 encoding
    const badCapsule = capsule.slice(); badCapsule[64] ^= 1;
    const rules = {
      'version 2': (dl) => { dl.version = 2; },
      'label_kind 3': (dl) => { dl.labelKind = 3; },
      'A not canonical': (dl) => { dl.A = negative; },
      'A the identity': (dl) => { dl.A = new Uint8Array(32); },
      'recipient = owner': (dl) => { dl.recipient = dl.owner; },
      'B = A': (dl) => { dl.B = dl.A; },
      'B the identity': (dl) => { dl.B = new Uint8Array(32); },
      'role 3': (dl) => { dl.role = 3; },
      'department empty': (dl) => { dl.department = ''; },
      'department of 64 bytes': (dl) => { dl.department = 'c'.repeat(64); },
      'department with "/"': (dl) => { dl.department = 'cardio/logy'; },
      'expires_at = issued_at': (dl) => { dl.expiresAt = dl.issuedAt; },
      't = 0': (dl) => { dl.t = 0; },
      't = n + 1': (dl) => { dl.t = dl.n + 1; },
      'X_A the identity': (dl) => { dl.XA = new Uint8Array(32); },
      'U1_1 not canonical': (dl) => { dl.commitments[0].U1 = negative; },
      'commitment index 0': (dl) => { dl.commitmentIndexBase = 0; },
      'capsule fails Check': (dl) => { dl.entries[0].capsule = badCapsule; },
      'm = 0': (dl) => { dl.entries = []; },
      'kind 2 with two entries': (dl) => { dl.entries = [{ ...dl.entries[0], ref: refLo }, { ...dl.entries[0], ref: refHi }]; },
      'kind 2 with an entry of kind 1': (dl) => { dl.entries[0].kind = 1; },
      'kind 2 with another ref': (dl) => { dl.entries[0].ref = ref2; },
      'kind 1, refs descending': (dl) => { dl.labelKind = 1; dl.entries = [{ ...dl.entries[0], ref: refHi }, { ...dl.entries[0], ref: refLo }]; },
      'kind 1, refs equal': (dl) => { dl.labelKind = 1; dl.entries = [dl.entries[0], dl.entries[0]]; },
    };
    let ruleFails = 0;
    for (const [rule, f] of Object.entries(rules)) {
      if (process.env.PRE_VERIFY_DEBUG) { try { parseDelegation(variant(f)); } catch (e) { console.error(`  ${rule}: ${e.message}`); } }
      if (!refused(() => parseDelegation(variant(f)))) { ruleFails++; check(false, `${name}: a signed delegation with ${rule} was accepted`); }
    }
    check(!refused(() => parseDelegation(variant((dl) => { dl.labelKind = 1; dl.entries = [{ ...dl.entries[0], ref: refLo }, { ...dl.entries[0], kind: 1, ref: refHi }]; }))),
      `${name}: a well-formed kind-1 delegation with two ascending entries was refused`);
    check(!refused(() => parseDelegation(variant((dl) => { dl.department = 'Intensive care_2.a-b'; dl.role = 4; }))),
      `${name}: a well-formed delegation with department "Intensive care_2.a-b" was refused`);

    if (failed === before) {
      console.log(`ok - ${name}: keys, capsule, key, wrapped, X_A, ${n} kfrags, ${n} cfrags, MVKF plaintext, ` +
        `delegation (${vd.length} bytes, re-signed) and its hash byte for byte; ${subsetsOk}/${subsetsAll} subsets of >= t cfrags ` +
        `give the key, ${shortRefused}/${shortAll} subsets of t-1 refused at step 5, secret unwrapped; ` +
        `${224 * n} cfrag flips and ${vd.length} delegation flips refused (${byParser} by the parser before the signature), ` +
        `${Object.keys(rules).length} re-signed rule violations refused`);
    } else {
      console.log(`not ok - ${name}: ${failed - before} checks failed`);
    }
  } catch (e) {
    failed++;
    console.error(`FAIL: ${name}: ${e.stack || e.message}`);
    console.log(`not ok - ${name}: stopped`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
