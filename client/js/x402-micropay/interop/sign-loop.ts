// Crash run, driven by client/facilitator's Go test: signs micropay-warrant
// payments in a loop with a durable position and prints each one's
// "epoch ordinal total" only once its signature exists; the test kills it
// with SIGKILL at random points and starts it again on the same state.

import { FilePositionStore, MicropayWarrantClient, decodePayment } from "../src/index.js";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (this script is run by client/facilitator's Go test)`);
  return v;
}

const network = env("MICROPAY_NETWORK") as `${string}:${string}`;
const client = new MicropayWarrantClient({
  seed: Uint8Array.from(Buffer.from(env("MICROPAY_PAYER_SEED"), "hex")),
  payer: env("MICROPAY_PAYER"),
  positions: new FilePositionStore(env("MICROPAY_STATE_DIR")),
});
const requirements = {
  scheme: "micropay-warrant", network, asset: "base", amount: env("MICROPAY_PRICE"), payTo: env("MICROPAY_PAY_TO"),
  maxTimeoutSeconds: 60, extra: { contract: env("MICROPAY_CONTRACT") },
};

for (;;) {
  const r = await client.createPaymentPayload(2, requirements);
  const p = decodePayment(Uint8Array.from(Buffer.from(String(r.payload.payment), "hex")));
  process.stdout.write(`${p.epoch} ${p.ordinal} ${p.total}\n`); // synchronous on a pipe (Linux)
}
