// The scheme client: durable positions, never two totals under one
// ordinal, the corrective 402, and the server's price parsing.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PaymentRequirements } from "@x402/core/types";
import { FilePositionStore, MicropayWarrantClient, MicropayWarrantServer, StateMismatchError, decodePayment, encodeBech32 } from "../src/index.js";

// Two Ed25519 addresses and an alias address (the chain), in bech32.
const payer = encodeBech32("tst", Uint8Array.from([0, ...new Array(32).fill(1)]));
const provider = encodeBech32("tst", Uint8Array.from([0, ...new Array(32).fill(2)]));
const chain = encodeBech32("tst", Uint8Array.from([8, ...new Array(32).fill(3)]));

function requirements(extra: Record<string, unknown> = {}): PaymentRequirements {
  return { scheme: "micropay-warrant", network: `iota-isc:${chain}`, asset: "base", amount: "700", payTo: provider, maxTimeoutSeconds: 60, extra: { contract: "0c9ec378", ...extra } };
}

function client(dir: string, positions = new FilePositionStore(dir)) {
  return new MicropayWarrantClient({ seed: new Uint8Array(32).fill(7), payer, positions });
}

const wire = (r: { payload: Record<string, unknown> }) => decodePayment(Uint8Array.from(Buffer.from(String(r.payload.payment), "hex")));

test("payments are cumulative and the position survives a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "micropay-js-"));
  const store = new FilePositionStore(dir);
  const a = client(dir, store);
  const p1 = wire(await a.createPaymentPayload(2, requirements()));
  const p2 = wire(await a.createPaymentPayload(2, requirements()));
  assert.deepEqual([p1.epoch, p1.ordinal, p1.total], [1, 1n, 700n]);
  assert.deepEqual([p2.ordinal, p2.total], [2n, 1400n]);
  store.close();
  const b = client(dir); // a new process on the same store
  const p3 = wire(await b.createPaymentPayload(2, requirements()));
  assert.deepEqual([p3.ordinal, p3.total], [3n, 2100n], "never signs another total under ordinal 1 or 2");
});

test("the corrective 402: a refused payment is rolled back, the stated position adopted, and paid once more", async () => {
  const dir = mkdtempSync(join(tmpdir(), "micropay-js-"));
  const c = client(dir);
  for (let i = 0; i < 3; i++) await c.createPaymentPayload(2, requirements()); // signed up to 2100
  const refused = await c.createPaymentPayload(2, requirements()); // ordinal 4, total 2800
  // The seller accepted only up to ordinal 2 (total 1400) and owes a credit of 300.
  const corrective = [requirements({ payer, epoch: 1, lastOrdinal: 5, lastTotal: "1400", credit: "300" })];
  const out = await c.schemeHooks.onPaymentResponse!({ paymentPayload: { x402Version: 2, accepted: requirements(), payload: refused.payload }, requirements: requirements(), paymentRequired: { x402Version: 2, resource: { url: "/" }, accepts: corrective } });
  assert.deepEqual(out, { recovered: true });
  const again = wire(await c.createPaymentPayload(2, requirements()));
  assert.deepEqual([again.epoch, again.ordinal, again.total], [1, 6n, 1800n], "ordinal above the seller's, total on the seller's less the credit");
  // A second refusal is final.
  const out2 = await c.schemeHooks.onPaymentResponse!({ paymentPayload: { x402Version: 2, accepted: requirements(), payload: { payer, payment: Buffer.from([]).toString("hex") } }, requirements: requirements(), paymentRequired: { x402Version: 2, resource: { url: "/" }, accepts: corrective } });
  assert.equal(out2, undefined);
});

test("a stated total above anything signed is a state mismatch: nothing signed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "micropay-js-"));
  const c = client(dir);
  await c.createPaymentPayload(2, requirements());
  await assert.rejects(c.createPaymentPayload(2, requirements({ payer, epoch: 1, lastOrdinal: 1, lastTotal: "1000000" })), StateMismatchError);
  const next = wire(await c.createPaymentPayload(2, requirements()));
  assert.deepEqual([next.ordinal, next.total], [2n, 1400n]);
});

test("a later epoch starts afresh", async () => {
  const c = client(mkdtempSync(join(tmpdir(), "micropay-js-")));
  await c.createPaymentPayload(2, requirements());
  const p = wire(await c.createPaymentPayload(2, requirements({ payer, epoch: 2, lastOrdinal: 0, lastTotal: "0" })));
  assert.deepEqual([p.epoch, p.ordinal, p.total], [2, 1n, 700n]);
});

test("the server prices in whole base tokens and refuses dollars", async () => {
  const s = new MicropayWarrantServer();
  const net = `iota-isc:${chain}` as const;
  assert.deepEqual(await s.parsePrice(700, net), { asset: "base", amount: "700" });
  assert.deepEqual(await s.parsePrice("700", net), { asset: "base", amount: "700" });
  await assert.rejects(s.parsePrice("$0.01", net), /whole base tokens/);
  await assert.rejects(s.parsePrice(0, net), /above 0/);
  await assert.rejects(s.parsePrice(700, "eip155:8453"), /iota-isc/);
  const r = await s.enhancePaymentRequirements({ ...requirements(), maxTimeoutSeconds: 300, extra: {} }, { x402Version: 2, scheme: "micropay-warrant", network: net, extra: { contract: "0c9ec378", payTo: provider } });
  assert.equal(r.extra.contract, "0c9ec378");
  assert.equal(r.maxTimeoutSeconds, 60, "every offer states the scheme's timeout");
  await assert.rejects(s.enhancePaymentRequirements({ ...requirements(), payTo: payer }, { x402Version: 2, scheme: "micropay-warrant", network: net, extra: { contract: "0c9ec378", payTo: provider } }), /settles for/);
});

test("one process per position directory: a live holder refuses a second store, a dead one's lock is taken over", () => {
  const dir = mkdtempSync(join(tmpdir(), "micropay-js-"));
  const first = new FilePositionStore(dir);
  assert.throws(() => new FilePositionStore(dir), /in use by process \d+/);
  first.close();
  const second = new FilePositionStore(dir); // released: taken at once
  second.close();

  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  const gone = Number(child.stdout.toString()); // a pid whose process has exited
  writeFileSync(join(dir, "LOCK"), String(gone));
  const third = new FilePositionStore(dir); // a crashed holder's lock
  assert.equal(readFileSync(join(dir, "LOCK"), "utf8"), String(process.pid));
  assert.throws(() => new FilePositionStore(dir), /in use by process/);
  third.close();
  assert.equal(existsSync(join(dir, "LOCK")), false, "close removes the lock");

  writeFileSync(join(dir, "LOCK"), "9".repeat(1 << 20)); // garbled, and large: read 16 bytes of it
  const fourth = new FilePositionStore(dir);
  assert.equal(readFileSync(join(dir, "LOCK"), "utf8"), String(process.pid));
  fourth.close();
});
