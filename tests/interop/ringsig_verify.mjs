// ringsig_verify.mjs - a second implementation of medvault-ring-v1 (the accountable ring
// signature of group sharing), written only from docs/group-signature.md with @noble/curves'
// ristretto255 and @noble/hashes, never from src/crypto/ringsig*.c: it proves that the document
// alone fixes every byte. For each case of tests/vectors/ringsig.json it recomputes the roster hash
// and the generators (§2), re-derives the signature from the signer's key and seed (§4) and
// compares it byte for byte, verifies it (§5, the six equations one by one), checks the opening's
// partials and judges it (§7); then flips every byte of the signature and of the opening, signs
// nothing but verifies another message, and moves the opening to another member, each of which
// must be refused. Exit status 0 only if everything matched.
//
// Usage: node tests/interop/ringsig_verify.mjs [VECTORS.json]
// (default $MV_VECTORS_DIR/ringsig.json, else tests/vectors/ringsig.json). The npm packages come
// from tests/browser/node_modules (`bash scripts/setup.sh --browser`, which `make check` runs).
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { REPO, load } from './npm.mjs';
const { ristretto255, ristretto255_hasher } = await load('@noble/curves/ed25519.js');
const { expand_message_xmd } = await load('@noble/curves/abstract/hash-to-curve.js');
const { sha256, sha512 } = await load('@noble/hashes/sha2.js');

const Point = ristretto255.Point;
const G = Point.BASE;
// §1: the order of ristretto255.
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

// ---- §1 primitives -------------------------------------------------------------------------

const ascii = (s) => new TextEncoder().encode(s);
const DST = {
  gen: ascii('medvault-ring-v1-generators'),
  challenge: ascii('medvault-ring-v1-challenge'),
  nonce: ascii('medvault-ring-v1-nonce'),
  enc: ascii('medvault-ring-v1-enc'),
  open: ascii('medvault-ring-v1-open'),
};

function hex(b) { return Buffer.from(b).toString('hex'); }
function unhex(s) {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new Error(`bad hex: ${s}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}
function cat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
function eq(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }
const u8 = (x) => Uint8Array.of(x);
function u32be(x) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, x); return b; }
function u64be(x) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(x)); return b; }
function readU32be(b, o) { return new DataView(b.buffer, b.byteOffset).getUint32(o); }
function readU64be(b, o) { return new DataView(b.buffer, b.byteOffset).getBigUint64(o); }

const mod = (a) => ((a % L) + L) % L;
function leToInt(b) { let x = 0n; for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]); return x; }
function scalarBytes(s) {
  const b = new Uint8Array(32);
  let x = mod(s);
  for (let i = 0; i < 32; i++) { b[i] = Number(x & 0xffn); x >>= 8n; }
  return b;
}
// A scalar field: 32 bytes little-endian, rejected when >= L (§1). Returns null when invalid.
function decodeScalar(b) { const x = leToInt(b); return x < L ? x : null; }
// An element: canonical ristretto255 (RFC 9496 §4.3.1) and not the identity (§1). null if invalid.
// Memoised: the negative checks decode the same elements thousands of times (speed only).
const decoded = new Map();
function decodePoint(b) {
  if (b.every((x) => x === 0)) return null;
  const key = hex(b);
  if (!decoded.has(key)) {
    let P = null;
    try { P = Point.fromBytes(b); } catch { P = null; }
    decoded.set(key, P);
  }
  return decoded.get(key);
}
function inv(a) {
  // Fermat: a^(L-2) mod L (L is prime); a != 0 is the caller's invariant.
  let r = 1n, base = mod(a), e = L - 2n;
  while (e > 0n) { if (e & 1n) r = (r * base) % L; base = (base * base) % L; e >>= 1n; }
  return r;
}
// Variable time is fine here: this is a test that handles public values and fixed vectors.
function mul(P, k) { k = mod(k); return k === 0n ? Point.ZERO : P.multiplyUnsafe(k); }
function msm(pairs) { return pairs.reduce((acc, [k, P]) => acc.add(mul(P, k)), Point.ZERO); }

// HashToScalar(msg, DST): 64 bytes of expand_message_xmd(SHA-512), little-endian, mod L.
function hashToScalar(msg, dst) { return mod(leToInt(expand_message_xmd(msg, dst, 64, sha512))); }
// HashToGroup(msg, DST): hash_to_ristretto255 of RFC 9380 Appendix B.
function hashToGroup(msg, dst) { return ristretto255_hasher.hashToCurve(msg, { DST: dst }); }

// ---- §2 the ring ---------------------------------------------------------------------------

// Lagrange coefficient at 0 of index i in the set S (§2, §7).
function lagrange(i, S) {
  let num = 1n, den = 1n;
  for (const j of S) if (j !== i) { num = (num * BigInt(j)) % L; den = (den * mod(BigInt(j - i))) % L; }
  return (num * inv(den)) % L;
}

function makeRing(c) {
  const N = c.member_keys.length;
  if (N !== c.members) throw new Error(`members ${c.members} but ${N} member_keys`);
  if (N < 2 || N > 4096) throw new Error(`ring of ${N} members`);
  if (!(BigInt(c.epoch) >= 1n)) throw new Error(`epoch ${c.epoch}`);
  const keysBytes = c.member_keys.map(unhex);
  for (let i = 1; i < N; i++) {
    if (Buffer.compare(Buffer.from(keysBytes[i - 1]), Buffer.from(keysBytes[i])) >= 0) {
      throw new Error(`member keys not strictly ascending at ${i}`);
    }
  }
  const keys = keysBytes.map((b, i) => { const P = decodePoint(b); if (!P) throw new Error(`member key ${i} invalid`); return P; });
  const { t, n } = c;
  if (!(1 <= t && t <= n && n <= 8)) throw new Error(`t=${t} n=${n}`);
  const EKb = unhex(c.ek);
  const EK = decodePoint(EKb);
  if (!EK) throw new Error('ek invalid');
  const sharesBytes = unhex(c.ek_shares);
  if (sharesBytes.length !== 32 * n) throw new Error('ek_shares length');
  const EKsBytes = [], EKs = [];
  for (let i = 0; i < n; i++) {
    const b = sharesBytes.subarray(32 * i, 32 * i + 32);
    EKsBytes.push(b);
    const P = decodePoint(b);
    if (!P) throw new Error(`ek share ${i + 1} invalid`);
    EKs.push(P);
  }
  if (n === 1 && !eq(EKsBytes[0], EKb)) throw new Error('n = 1 but EK_1 != EK');
  // Every window of t consecutive shares interpolates to EK.
  for (let s = 1; s + t - 1 <= n; s++) {
    const S = Array.from({ length: t }, (_, k) => s + k);
    const got = msm(S.map((i) => [lagrange(i, S), EKs[i - 1]]));
    if (!got.equals(EK)) throw new Error(`shares ${S} do not interpolate to EK`);
  }
  let m = 0;
  while ((1 << m) < N) m++;
  if (m < 1) m = 1;
  const M = 1 << m;
  for (const Q of [G, EK, ...EKs, ...keys]) Q.precompute(8, false);
  const padded = Array.from({ length: M }, (_, i) => keys[Math.min(i, N - 1)]);
  const groupId = unhex(c.group_id);
  if (groupId.length !== 16) throw new Error('group_id length');
  const rosterHash = sha256(cat(ascii('medvault-ring-v1-roster'), groupId, u64be(c.epoch), EKb,
    u8(t), u8(n), ...EKsBytes, u32be(N), ...keysBytes));
  return { N, m, M, t, n, epoch: BigInt(c.epoch), EK, EKb, EKs, EKsBytes, keys, keysBytes, padded, rosterHash };
}

const genCache = new Map();
function generators(m) {
  if (!genCache.has(m)) {
    const Gs = Array.from({ length: m }, (_, j) => hashToGroup(cat(ascii('G'), u8(j)), DST.gen));
    const H = hashToGroup(ascii('H'), DST.gen);
    // Window tables for the points every verification multiplies (speed only).
    for (const Q of [...Gs, H]) Q.precompute(8, false);
    genCache.set(m, { Gs, H });
  }
  return genCache.get(m);
}
function com(m, v, s) {
  const { Gs, H } = generators(m);
  return msm([[s, H], ...v.map((vj, j) => [vj, Gs[j]])]);
}

// ---- §6 encoding ---------------------------------------------------------------------------

const sigLen = (m) => 426 + 96 * m;
const headLen = (m) => 202 + 64 * m + 64;

function challenge(ring, msg, head) {
  return hashToScalar(cat(ring.rosterHash, sha512(msg), head), DST.challenge);
}

// ---- §4 signing (to re-derive the vector's bytes) ------------------------------------------

function sign(ring, sk, msg, seed) {
  const { m, M, EK, padded } = ring;
  const P = mul(G, sk);
  const l = ring.keys.findIndex((K) => K.equals(P));
  if (l < 0) throw new Error('the signer is not in the ring');
  const bits = Array.from({ length: m }, (_, j) => BigInt((l >> j) & 1));
  const skB = scalarBytes(sk);
  const hmsg = sha512(msg);
  const r = hashToScalar(cat(skB, ring.rosterHash, hmsg), DST.enc);
  const K = sha512(cat(ascii('medvault-ring-v1-sign'), skB, ring.rosterHash, hmsg, seed));
  const nonce = (tag, j) => hashToScalar(cat(K, ascii(tag), u8(j)), DST.nonce);
  const a = bits.map((_, j) => nonce('a', j));
  const rho = bits.map((_, j) => nonce('p', j));
  const [rA, rB, rC, rD, sr, sk_] = ['A', 'B', 'C', 'D', 'r', 'k'].map((tag) => nonce(tag, 0));

  const u = mul(G, r);
  const v = mul(EK, r).add(P);
  const A = com(m, a, rA);
  const B = com(m, bits, rB);
  const C = com(m, a.map((aj, j) => mod(aj * (1n - 2n * bits[j]))), rC);
  const D = com(m, a.map((aj) => mod(-aj * aj)), rD);
  // p_i(X) as coefficient arrays [p_{i,0} .. p_{i,m}].
  const polyMul = (p, [c0, c1]) => {
    const out = new Array(p.length + 1).fill(0n);
    p.forEach((pk, k) => { out[k] = mod(out[k] + pk * c0); out[k + 1] = mod(out[k + 1] + pk * c1); });
    return out;
  };
  const coeffs = [];
  for (let i = 0; i < M; i++) {
    let p = [1n];
    for (let j = 0; j < m; j++) {
      // f_{j,1}(X) = l_j X + a_j; f_{j,0}(X) = (1 - l_j) X - a_j; as [constant, linear].
      p = polyMul(p, ((i >> j) & 1) ? [a[j], bits[j]] : [mod(-a[j]), 1n - bits[j]]);
    }
    coeffs.push(p);
  }
  const Gk = [];
  for (let k = 0; k < m; k++) {
    const Qk = msm(padded.map((Pi, i) => [coeffs[i][k], Pi]));
    Gk.push([mul(G, rho[k]), mul(EK, rho[k]).subtract(Qk)]);
  }
  const T1 = mul(G, sr);
  const T2 = mul(EK, sr).add(mul(G, sk_));
  const head = cat(u8(1), u8(m), u64be(ring.epoch), ...[u, v, A, B, C, D].map((Q) => Q.toBytes()),
    ...Gk.flat().map((Q) => Q.toBytes()), T1.toBytes(), T2.toBytes());
  const x = challenge(ring, msg, head);
  if (x === 0n) throw new Error('challenge 0');
  const f = bits.map((lj, j) => mod(lj * x + a[j]));
  let xk = 1n, sumRho = 0n;
  for (let k = 0; k < m; k++) { sumRho = mod(sumRho + rho[k] * xk); xk = mod(xk * x); }
  const zA = mod(rB * x + rA);
  const zC = mod(rC * x + rD);
  const zd = mod(r * xk - sumRho);
  const zr = mod(sr + x * r);
  const zk = mod(sk_ + x * sk);
  return cat(head, ...f.map(scalarBytes), ...[zA, zC, zd, zr, zk].map(scalarBytes));
}

// ---- §5 verification -----------------------------------------------------------------------

// Parses a signature for this ring; returns the fields or a reason string.
function parseSig(ring, sig) {
  const { m } = ring;
  if (sig.length !== sigLen(m)) return `length ${sig.length}, expected ${sigLen(m)}`;
  if (sig[0] !== 1) return 'version';
  if (sig[1] !== m) return 'm';
  if (readU64be(sig, 2) !== ring.epoch) return 'epoch';
  const pts = [];
  for (let o = 10; o < headLen(m); o += 32) {
    const P = decodePoint(sig.subarray(o, o + 32));
    if (!P) return `element at offset ${o}`;
    pts.push(P);
  }
  const scs = [];
  for (let o = headLen(m); o < sigLen(m); o += 32) {
    const s = decodeScalar(sig.subarray(o, o + 32));
    if (s === null) return `scalar at offset ${o}`;
    scs.push(s);
  }
  const [u, v, A, B, C, D] = pts;
  const Gk = Array.from({ length: m }, (_, k) => [pts[6 + 2 * k], pts[7 + 2 * k]]);
  const [T1, T2] = pts.slice(6 + 2 * m);
  const f = scs.slice(0, m);
  const [zA, zC, zd, zr, zk] = scs.slice(m);
  return { u, v, A, B, C, D, Gk, T1, T2, f, zA, zC, zd, zr, zk, head: sig.subarray(0, headLen(m)) };
}

// Returns null when the signature verifies, else the first reason it does not.
function verify(ring, msg, sig) {
  const s = parseSig(ring, sig);
  if (typeof s === 'string') return s;
  const { m, M, EK, padded } = ring;
  const x = challenge(ring, msg, s.head);
  if (x === 0n) return 'challenge 0';
  const xs = [1n];
  for (let k = 1; k <= m; k++) xs.push(mod(xs[k - 1] * x));
  // E1 x·B + A = Com(f; z_A)
  if (!mul(s.B, x).add(s.A).equals(com(m, s.f, s.zA))) return 'E1';
  // E2 x·C + D = Com(f_j (x - f_j); z_C)
  if (!mul(s.C, x).add(s.D).equals(com(m, s.f.map((fj) => mod(fj * (x - fj))), s.zC))) return 'E2';
  // E3 x^m·u - Σ x^k·G_k^1 = z_d·G
  const e3 = mul(s.u, xs[m]).subtract(msm(s.Gk.map(([g1], k) => [xs[k], g1])));
  if (!e3.equals(mul(G, s.zd))) return 'E3';
  // E4 x^m·v - Σ p_i·P_i - Σ x^k·G_k^2 = z_d·EK, with f_{j,1} = f_j and f_{j,0} = x - f_j.
  const p = Array.from({ length: M }, (_, i) =>
    s.f.reduce((acc, fj, j) => mod(acc * (((i >> j) & 1) ? fj : x - fj)), 1n));
  const e4 = mul(s.v, xs[m]).subtract(msm(padded.map((Pi, i) => [p[i], Pi])))
    .subtract(msm(s.Gk.map(([, g2], k) => [xs[k], g2])));
  if (!e4.equals(mul(EK, s.zd))) return 'E4';
  // E5 z_r·G = T_1 + x·u
  if (!mul(G, s.zr).equals(s.T1.add(mul(s.u, x)))) return 'E5';
  // E6 z_r·EK + z_k·G = T_2 + x·v
  if (!mul(EK, s.zr).add(mul(G, s.zk)).equals(s.T2.add(mul(s.v, x)))) return 'E6';
  return null;
}

// ---- §7 opening and judging ----------------------------------------------------------------

const PARTIAL = 97;

// Checks one 97-byte partial of signature sig; returns { i, D } or a reason string.
function checkPartial(ring, sig, u, part) {
  const i = part[0];
  if (i < 1 || i > ring.n) return `partial index ${i}`;
  const D = decodePoint(part.subarray(1, 33));
  if (!D) return `partial ${i}: D_i`;
  const c = decodeScalar(part.subarray(33, 65));
  const z = decodeScalar(part.subarray(65, 97));
  if (c === null || c === 0n) return `partial ${i}: c`;
  if (z === null) return `partial ${i}: z`;
  const EKi = ring.EKs[i - 1];
  const A1 = mul(G, z).subtract(mul(EKi, c));
  const A2 = mul(u, z).subtract(mul(D, c));
  const c2 = hashToScalar(cat(ring.rosterHash, sha512(sig), u8(i), ring.EKsBytes[i - 1], u.toBytes(),
    D.toBytes(), A1.toBytes(), A2.toBytes()), DST.open);
  if (c2 !== c) return `partial ${i}: proof`;
  return { i, D };
}

// Opener i's partial of §7, from her share dk_i and a 32-byte seed' (to re-derive the vector's).
function openPartial(ring, sig, u, i, dk, seed) {
  const K2 = sha512(cat(ascii('medvault-ring-v1-open'), scalarBytes(dk), sig, seed));
  const w = hashToScalar(cat(K2, ascii('w'), u8(0)), DST.nonce);
  const D = mul(u, dk);
  const c = hashToScalar(cat(ring.rosterHash, sha512(sig), u8(i), ring.EKsBytes[i - 1], u.toBytes(),
    D.toBytes(), mul(G, w).toBytes(), mul(u, w).toBytes()), DST.open);
  return cat(u8(i), D.toBytes(), scalarBytes(c), scalarBytes(w + c * dk));
}

// The judge: returns { pos } or { reason }.
function judge(ring, msg, sig, opening) {
  const bad = verify(ring, msg, sig);
  if (bad) return { reason: `signature: ${bad}` };
  const u = parseSig(ring, sig).u;
  const v = parseSig(ring, sig).v;
  if (opening.length < 41 || !eq(opening.subarray(0, 4), ascii('MVO1'))) return { reason: 'magic' };
  const pos = readU32be(opening, 4);
  const P = decodePoint(opening.subarray(8, 40));
  if (!P) return { reason: 'P' };
  const cnt = opening[40];
  if (opening.length !== 41 + PARTIAL * cnt) return { reason: 'length' };
  if (cnt < ring.t || cnt > ring.n) return { reason: `|S| = ${cnt}` };
  const parts = [];
  for (let k = 0; k < cnt; k++) {
    const r = checkPartial(ring, sig, u, opening.subarray(41 + PARTIAL * k, 41 + PARTIAL * (k + 1)));
    if (typeof r === 'string') return { reason: r };
    if (parts.some((q) => q.i === r.i)) return { reason: `index ${r.i} twice` };
    parts.push(r);
  }
  const S = parts.map((q) => q.i);
  const combined = v.subtract(msm(parts.map((q) => [ring.n === 1 ? 1n : lagrange(q.i, S), q.D])));
  if (!combined.equals(P)) return { reason: 'combined key differs from P' };
  if (pos >= ring.N || !ring.keys[pos].equals(P)) return { reason: 'P_pos differs from P' };
  return { pos };
}

// ---- the checks ----------------------------------------------------------------------------

const file = process.argv[2] ||
  path.join(process.env.MV_VECTORS_DIR || path.join(REPO, 'tests', 'vectors'), 'ringsig.json');
const doc = JSON.parse(readFileSync(file, 'utf8'));
let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) { passed++; } else { failed++; console.error(`FAIL: ${what}`); }
}

check(/^medvault-ring-v1\b/.test(doc.scheme), `scheme ${doc.scheme}`);
if (!Array.isArray(doc.cases) || doc.cases.length === 0) check(false, 'no cases');
for (const [ci, c] of (doc.cases || []).entries()) {
  const name = `case ${ci} (N=${c.members}, ${c.t}-of-${c.n})`;
  const failedBefore = failed;
  let ring;
  try { ring = makeRing(c); } catch (e) { check(false, `${name}: ring: ${e.message}`); continue; }
  check(hex(ring.rosterHash) === c.roster_hash, `${name}: roster hash ${hex(ring.rosterHash)} != ${c.roster_hash}`);
  const { Gs, H } = generators(ring.m);
  const gens = hex(cat(...Gs.map((Q) => Q.toBytes()), H.toBytes()));
  check(gens === c.generators, `${name}: generators differ`);

  const msg = unhex(c.msg);
  const sig = unhex(c.signature);
  const sk = decodeScalar(unhex(c.signer_sk));
  check(sk !== null && sk !== 0n, `${name}: signer_sk`);
  check(ring.keys[c.signer_index].equals(mul(G, sk)), `${name}: signer_index does not hold sk·G`);
  const mine = sign(ring, sk, msg, unhex(c.sign_seed));
  if (!eq(mine, sig)) {
    const at = mine.findIndex((b, k) => b !== sig[k]);
    check(false, `${name}: re-derived signature differs from the vector's (first at byte ${at}, of ${sig.length})`);
  } else {
    check(true);
  }
  const bad = verify(ring, msg, sig);
  check(bad === null, `${name}: the vector's signature does not verify (${bad})`);
  check(verify(ring, msg, mine) === null, `${name}: the re-derived signature does not verify`);

  // The opening: every partial checks, D_i = dk_i·u for the secret shares, the judge names the signer.
  const opening = unhex(c.opening);
  const shares = unhex(c.opener_shares);
  // opener_seeds, when the vector has them: the seed' of each partial, in the opening's order.
  const seeds = c.opener_seeds === undefined ? null : unhex(c.opener_seeds);
  if (seeds === null) console.log(`note - ${name}: no opener_seeds in the vector: partials checked, not re-derived`);
  const u = Point.fromBytes(sig.subarray(10, 42));
  for (let k = 0; 41 + PARTIAL * (k + 1) <= opening.length; k++) {
    const part = opening.subarray(41 + PARTIAL * k, 41 + PARTIAL * (k + 1));
    const r = checkPartial(ring, sig, u, part);
    check(typeof r !== 'string', `${name}: partial number ${k}: ${r}`);
    if (typeof r === 'string') continue;
    const dk = decodeScalar(shares.subarray(32 * (r.i - 1), 32 * r.i));
    check(dk !== null && mul(G, dk).equals(ring.EKs[r.i - 1]), `${name}: opener share ${r.i} is not EK_${r.i}'s`);
    check(mul(u, dk).equals(r.D), `${name}: D_${r.i} != dk_${r.i}·u`);
    if (seeds !== null) {
      const mine = openPartial(ring, sig, u, r.i, dk, seeds.subarray(32 * k, 32 * k + 32));
      check(eq(mine, part), `${name}: partial ${r.i} re-derived from its seed differs from the vector's`);
    }
  }
  const j = judge(ring, msg, sig, opening);
  check(j.pos === c.signer_index, `${name}: judge: ${j.reason ?? `pos ${j.pos}`}, expected ${c.signer_index}`);

  // Negative checks. Every byte of the signature, flipped in its low and its top bit.
  let flipsAccepted = 0;
  for (let k = 0; k < sig.length; k++) {
    for (const mask of [0x01, 0x80]) {
      const s2 = sig.slice();
      s2[k] ^= mask;
      if (verify(ring, msg, s2) === null) { flipsAccepted++; console.error(`  accepted: byte ${k} ^ ${mask}`); }
    }
  }
  check(flipsAccepted === 0, `${name}: ${flipsAccepted} flipped signatures verified`);
  const other = cat(msg, u8(0));
  check(verify(ring, other, sig) !== null, `${name}: the signature verifies for another message`);
  check(judge(ring, other, sig, opening).pos === undefined, `${name}: judged under another message`);
  // Every byte of the opening flipped.
  let openFlips = 0;
  for (let k = 0; k < opening.length; k++) {
    const o2 = opening.slice();
    o2[k] ^= 0x01;
    if (judge(ring, msg, sig, o2).pos !== undefined) { openFlips++; console.error(`  judged: opening byte ${k} ^ 1`); }
  }
  check(openFlips === 0, `${name}: ${openFlips} flipped openings judged`);
  // The opening moved to another member: another pos alone, and another pos with that member's key.
  const otherPos = (c.signer_index + 1) % ring.N;
  const moved = opening.slice();
  moved.set(u32be(otherPos), 4);
  check(judge(ring, msg, sig, moved).pos === undefined, `${name}: an opening naming position ${otherPos} was judged`);
  moved.set(ring.keysBytes[otherPos], 8);
  check(judge(ring, msg, sig, moved).pos === undefined, `${name}: an opening naming member ${otherPos} and her key was judged`);
  // A padded position (N <= pos < M holds P_{N-1} in the proof, but is no member's position).
  if (ring.M > ring.N && c.signer_index === ring.N - 1) {
    const padded = opening.slice();
    padded.set(u32be(ring.N), 4);
    check(judge(ring, msg, sig, padded).pos === undefined, `${name}: an opening naming padded position ${ring.N} was judged`);
  }
  // The partials in the other order are judged the same.
  if (opening[40] === 2) {
    const swapped = cat(opening.subarray(0, 41), opening.subarray(41 + PARTIAL), opening.subarray(41, 41 + PARTIAL));
    check(judge(ring, msg, sig, swapped).pos === c.signer_index, `${name}: the partials in the other order were not judged`);
  }
  // One partial fewer than t is refused (t = 1 has none to drop).
  if (ring.t > 1) {
    const short = cat(opening.subarray(0, 40), u8(opening[40] - 1), opening.subarray(41, opening.length - PARTIAL));
    check(judge(ring, msg, sig, short).pos === undefined, `${name}: an opening with fewer than t partials was judged`);
  }
  if (failed === failedBefore) {
    console.log(`ok - ${name}: m=${ring.m}, roster hash and generators recomputed, the ${sig.length}-byte ` +
      `signature re-derived byte for byte and verified, ${seeds ? 'partials re-derived, ' : ''}opening judged to position ${j.pos}; ` +
      `${2 * sig.length} signature flips, ${opening.length} opening flips, another message and another position refused`);
  } else {
    console.log(`not ok - ${name}: ${failed - failedBefore} checks failed`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
