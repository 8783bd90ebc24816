// The decoders of outside bytes, fed seeded random input: each refuses
// with an error or round-trips to the very same bytes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeBech32, decodePayment, encodeBech32, encodePayment } from "../src/index.js";

// xorshift32, seeded and printed so a failure can be replayed.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}
const seed = Number(process.env.MICROPAY_SEED ?? Date.now() % 0xffffffff);
console.log(`decoders seed ${seed} (MICROPAY_SEED=${seed} to replay)`);

test("decodePayment: error, or the same 85 bytes again", () => {
  const r = rng(seed);
  for (let i = 0; i < 20_000; i++) {
    const len = r() < 0.5 ? 85 : Math.floor(r() * 100);
    const b = Uint8Array.from({ length: len }, () => Math.floor(r() * 256));
    if (r() < 0.5 && len > 0) b[0] = 1;
    let p;
    try {
      p = decodePayment(b);
    } catch {
      continue;
    }
    assert.deepEqual(encodePayment(p), b);
  }
});

test("decodeBech32: error, or the same string again", () => {
  const r = rng(seed ^ 0x9e3779b9);
  const alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l1bio";
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    let s: string;
    if (r() < 0.5) {
      const data = Uint8Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256));
      s = encodeBech32("tst", data);
      if (r() < 0.5) {
        const k = Math.floor(r() * s.length);
        s = s.slice(0, k) + alphabet[Math.floor(r() * alphabet.length)] + s.slice(k + 1);
      }
    } else {
      s = Array.from({ length: Math.floor(r() * 100) }, () => alphabet[Math.floor(r() * alphabet.length)]).join("");
    }
    let d;
    try {
      d = decodeBech32(s);
    } catch {
      continue;
    }
    decoded++;
    assert.equal(encodeBech32(d.hrp, d.data), s.toLowerCase());
  }
  assert.ok(decoded > 0, "some inputs decode");
});
