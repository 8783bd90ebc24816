// An Express server selling GET /piece/:n through micropay warrants: stock
// @x402/express, micropay's facilitator (`micropay facilitator`) and the
// micropay-warrant scheme. Run: see README.md in this directory.
import express from "express";
import { paymentMiddleware } from "@x402/express";
import { HTTPFacilitatorClient, x402ResourceServer } from "@x402/core/server";
import { MicropayWarrantServer } from "@micropay/x402";

const { NETWORK, PAY_TO, FACILITATOR_URL, FACILITATOR_TOKEN, PRICE = "700", PORT = "4021" } = process.env;
const auth = { Authorization: `Bearer ${FACILITATOR_TOKEN}` };
const facilitator = new HTTPFacilitatorClient({
  url: FACILITATOR_URL,
  createAuthHeaders: async () => ({ verify: auth, settle: auth, supported: auth }),
});
const server = new x402ResourceServer(facilitator).register(NETWORK, new MicropayWarrantServer());

const app = express();
app.use(paymentMiddleware({
  "GET /piece/[n]": { accepts: { scheme: "micropay-warrant", price: PRICE, network: NETWORK, payTo: PAY_TO }, description: "one piece" },
}, server));
app.get("/piece/:n", (req, res) => res.send(`piece ${req.params.n}`));

const listener = app.listen(Number(PORT), "127.0.0.1", () => console.log(`selling at http://127.0.0.1:${listener.address().port}`));
