// Interop run, driven by client/x402interop's Go test: a stock
// @x402/express server whose HTTPFacilitatorClient points at micropay's
// facilitator sells GET /piece/:n; a stock @x402/fetch client with the
// micropay-warrant scheme buys PIECES of them; then bad input crosses the
// boundary (a tampered payment, a replayed older one, the newest one
// replayed for another piece). With
// MICROPAY_SELLER_URL it buys from that seller instead of its own. It prints one JSON
// line of what it saw and exits non-zero on any surprise.

import express from "express";
import type { AddressInfo } from "node:net";
import { paymentMiddleware } from "@x402/express";
import { HTTPFacilitatorClient, x402ResourceServer } from "@x402/core/server";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { FilePositionStore, MicropayWarrantClient, MicropayWarrantServer } from "../src/index.js";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (this script is run by client/x402interop's Go test)`);
  return v;
}

const network = env("MICROPAY_NETWORK") as `${string}:${string}`;
const token = env("MICROPAY_FACILITATOR_TOKEN");
const pieces = Number(env("MICROPAY_PIECES"));
const auth = { Authorization: `Bearer ${token}` };

async function main(): Promise<void> {
  const seller = process.env.MICROPAY_SELLER_URL; // another seller (docs/examples/express-seller.mjs) to buy from
  if (seller) {
    console.log(JSON.stringify(await buy(seller)));
    return;
  }
  const facilitator = new HTTPFacilitatorClient({
    url: env("MICROPAY_FACILITATOR_URL"),
    createAuthHeaders: async () => ({ verify: auth, settle: auth, supported: auth }),
  });
  const resourceServer = new x402ResourceServer(facilitator).register(network, new MicropayWarrantServer());
  const app = express();
  const route = { accepts: { scheme: "micropay-warrant", price: env("MICROPAY_PRICE"), network, payTo: env("MICROPAY_PAY_TO") }, description: "one piece" };
  app.use(paymentMiddleware({ "GET /piece/[n]": route }, resourceServer));
  app.get("/piece/:n", (req, res) => void res.send(`piece ${req.params.n}`));
  const srv = app.listen(0, "127.0.0.1");
  await new Promise<void>((ok) => srv.once("listening", () => ok()));
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    const out = await buy(base);
    console.log(JSON.stringify(out));
  } finally {
    srv.close();
  }
}

async function buy(base: string) {
  const scheme = new MicropayWarrantClient({
    seed: Uint8Array.from(Buffer.from(env("MICROPAY_PAYER_SEED"), "hex")),
    payer: env("MICROPAY_PAYER"),
    positions: new FilePositionStore(env("MICROPAY_STATE_DIR")),
  });
  // Spend controls: the SDK allows only the assets it knows unless told;
  // base tokens of this chain, at most the price a payment.
  const client = x402Client.fromConfig({
    schemes: [{ network, client: scheme }],
    spendControls: { allowedAssets: [{ network, asset: "base", maxAmountPerPayment: env("MICROPAY_PRICE") }] },
  });
  const sent: unknown[] = [];
  client.onAfterPaymentCreation(async (ctx) => void sent.push(ctx.paymentPayload));
  const pay = wrapFetchWithPayment(fetch, client);
  const served: string[] = [];
  const transactions: string[] = [];
  for (let i = 1; i <= pieces; i++) {
    const res = await pay(`${base}/piece/${i}`);
    const body = await res.text();
    if (res.status !== 200 || body !== `piece ${i}`) throw new Error(`piece ${i}: ${res.status} ${body}`);
    served.push(body);
    const header = res.headers.get("PAYMENT-RESPONSE");
    if (!header) throw new Error(`piece ${i}: no PAYMENT-RESPONSE`);
    transactions.push(JSON.parse(Buffer.from(header, "base64").toString()).transaction);
  }
  const newestPaid = sent[sent.length - 1];
  // Bad input through the stock server: a fresh payment with one
  // signature byte flipped (its position is used up, never accepted: this
  // is the run's end), and the first payment replayed for another piece.
  const unpaid = await fetch(`${base}/piece/x`);
  const required = unpaid.headers.get("PAYMENT-REQUIRED");
  if (unpaid.status !== 402 || !required) throw new Error(`unpaid request: ${unpaid.status}`);
  const tampered = await client.createPaymentPayload(JSON.parse(Buffer.from(required, "base64").toString()));
  const hex = String(tampered.payload.payment);
  tampered.payload.payment = hex.slice(0, 100) + (hex[100] === "0" ? "1" : "0") + hex.slice(101);
  const encode = (p: unknown) => Buffer.from(JSON.stringify(p)).toString("base64");
  const refusedTampered = await fetch(`${base}/piece/t`, { headers: { "PAYMENT-SIGNATURE": encode(tampered) } });
  const replay = await fetch(`${base}/piece/r`, { headers: { "PAYMENT-SIGNATURE": encode(sent[0]) } });
  // The newest accepted payment sent again for another piece.
  const newest = await fetch(`${base}/piece/n`, { headers: { "PAYMENT-SIGNATURE": encode(newestPaid) } });
  return {
    served, transactions, tamperedStatus: refusedTampered.status, tamperedError: errorOf(refusedTampered),
    replayStatus: replay.status, replayError: errorOf(replay), newestStatus: newest.status, newestError: errorOf(newest),
  };
}

function errorOf(res: Response): string {
  const h = res.headers.get("PAYMENT-REQUIRED");
  if (!h) return "";
  const pr = JSON.parse(Buffer.from(h, "base64").toString());
  return String(pr.reason ?? pr.error ?? ""); // micropay's Go paywall names the rule in reason
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
