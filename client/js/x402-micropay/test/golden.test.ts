// The Go implementation's golden vectors (contract/payment/testdata),
// reproduced byte for byte.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { decodePayment, encodePayment, privateKeyFromSeed, publicKeyBytes, signPayment, signedBytes, verifyPayment, type Warrant } from "../src/index.js";

const here = dirname(fileURLToPath(import.meta.url)); // dist/test
const golden = JSON.parse(readFileSync(join(here, "../../../../../contract/payment/testdata/golden.json"), "utf8"));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const warrant: Warrant = {
  chainId: hex(golden.chain_id),
  contract: golden.contract_hname,
  payer: hex(golden.payer_agent_id),
  provider: hex(golden.provider_agent_id),
};
const key = privateKeyFromSeed(hex(golden.ed25519_seed));

test("the seed gives the golden public key", () => {
  assert.equal(toHex(publicKeyBytes(key)), golden.public_key);
});

test("every golden vector: signed bytes, signature and wire form byte for byte", () => {
  assert.ok(golden.vectors.length > 0);
  for (const v of golden.vectors) {
    const ordinal = BigInt(v.ordinal), total = BigInt(v.total);
    assert.equal(toHex(signedBytes(warrant, v.epoch, ordinal, total)), v.signed_bytes, `signed bytes of ${v.epoch}/${v.ordinal}/${v.total}`);
    const p = signPayment(key, warrant, v.epoch, ordinal, total);
    assert.equal(toHex(p.signature), v.signature);
    assert.equal(toHex(encodePayment(p)), v.wire);
    const d = decodePayment(hex(v.wire));
    assert.deepEqual(d, p);
    assert.ok(verifyPayment(publicKeyBytes(key), warrant, d));
  }
});

test("a changed total, epoch or provider breaks the signature", () => {
  const v = golden.vectors[2];
  const p = decodePayment(hex(v.wire));
  const pk = publicKeyBytes(key);
  assert.ok(!verifyPayment(pk, warrant, { ...p, total: p.total + 1n }));
  assert.ok(!verifyPayment(pk, warrant, { ...p, epoch: p.epoch + 1 }));
  assert.ok(!verifyPayment(pk, { ...warrant, provider: warrant.payer }, p));
});

test("the decoder takes exactly 85 bytes of version 1", () => {
  const w = hex(golden.vectors[0].wire);
  assert.throws(() => decodePayment(w.subarray(0, 84)), /84 bytes/);
  assert.throws(() => decodePayment(Uint8Array.from([...w, 0])), /86 bytes/);
  const v2 = Uint8Array.from(w);
  v2[0] = 2;
  assert.throws(() => decodePayment(v2), /version 2/);
});

test("bech32 round-trips, and agent IDs decode to AgentID.Bytes()", async () => {
  const { encodeBech32, decodeBech32, agentIdBytes } = await import("../src/index.js");
  const addr = Uint8Array.from([0, ...hex(golden.payer_agent_id).subarray(2)]);
  const s = encodeBech32("tst", addr);
  assert.deepEqual(decodeBech32(s).data, addr);
  assert.equal(toHex(agentIdBytes(s)), golden.payer_agent_id);
  assert.throws(() => decodeBech32(s.slice(0, -1) + (s.endsWith("q") ? "p" : "q")), /checksum/);
});
