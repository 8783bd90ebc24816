// The server side of micropay-warrant for @x402/core's
// x402ResourceServer: register(network, new MicropayWarrantServer()).

import type { AssetAmount, Network, PaymentRequirements, Price, SchemeNetworkServer, SchemeServerHooks, SupportedKind } from "@x402/core/types";
import { ASSET, NAMESPACE, SCHEME } from "./agent.js";

/**
 * MicropayWarrantServer turns a price in base tokens into
 * micropay-warrant requirements (asset "base", the facilitator's contract
 * in extra) and passes the payer's position from a refused verification
 * into the 402 it answers: the corrective 402 a client recovers from.
 * Payments are verified before the handler and stored by the
 * facilitator's /settle after it ("authorization" flow).
 */
export class MicropayWarrantServer implements SchemeNetworkServer {
  readonly scheme = SCHEME;
  readonly defaultAssetTransferMethod = "default";
  readonly paymentFlows = { default: { supported: ["authorization" as const], default: "authorization" as const } };
  readonly schemeHooks: SchemeServerHooks;
  // Positions from refused verifications, by payment hex; bounded.
  private readonly refused = new Map<string, Record<string, unknown>>();

  constructor() {
    this.schemeHooks = {
      onAfterVerify: async (ctx) => {
        const position = (ctx.result.extra as Record<string, unknown> | undefined)?.position;
        const hex = ctx.paymentPayload.payload.payment;
        if (!ctx.result.isValid && position && typeof position === "object" && typeof hex === "string") {
          if (this.refused.size >= 1024) this.refused.delete(this.refused.keys().next().value as string);
          this.refused.set(hex, position as Record<string, unknown>);
        }
      },
    };
  }

  /** parsePrice takes whole base tokens: 700, "700", or { asset: "base", amount: "700" }. */
  async parsePrice(price: Price, network: Network): Promise<AssetAmount> {
    if (!network.startsWith(NAMESPACE + ":")) throw new Error(`network ${network} is not ${NAMESPACE}:<chainID>`);
    if (typeof price === "object") {
      if (price.asset !== ASSET) throw new Error(`asset ${price.asset}: ${SCHEME} pays in ${ASSET}`);
      return { asset: ASSET, amount: positive(price.amount) };
    }
    return { asset: ASSET, amount: positive(String(price)) };
  }

  async enhancePaymentRequirements(r: PaymentRequirements, kind: SupportedKind): Promise<PaymentRequirements> {
    const extra = kind.extra ?? {};
    if (typeof extra.contract !== "string") throw new Error(`the facilitator names no contract for ${kind.network}`);
    if (typeof extra.payTo === "string" && extra.payTo !== r.payTo) {
      throw new Error(`payTo ${r.payTo}: this facilitator settles for ${extra.payTo}`);
    }
    // Every micropay-warrant offer states the same timeout, so a client
    // paying pinned terms before its first 402 echoes them exactly.
    return { ...r, maxTimeoutSeconds: MAX_TIMEOUT_SECONDS, extra: { ...r.extra, contract: extra.contract } };
  }

  async enrichPaymentRequiredResponse(ctx: { requirements: PaymentRequirements[]; paymentPayload?: { payload: Record<string, unknown> } }): Promise<PaymentRequirements[] | void> {
    const hex = ctx.paymentPayload?.payload.payment;
    const position = typeof hex === "string" ? this.refused.get(hex) : undefined;
    if (!position || typeof hex !== "string") return;
    this.refused.delete(hex);
    return ctx.requirements.map((r) => (r.scheme === SCHEME ? { ...r, extra: { ...r.extra, ...position } } : r));
  }
}

/** The maxTimeoutSeconds of every micropay-warrant offer (docs/x402-scheme.md). */
export const MAX_TIMEOUT_SECONDS = 60;

function positive(s: string): string {
  if (!/^[0-9]+$/.test(s) || BigInt(s) <= 0n || BigInt(s) >= 1n << 64n) {
    throw new Error(`price ${JSON.stringify(s)}: want whole base tokens above 0 (no "$" prices: ${SCHEME} pays in the chain's base token)`);
  }
  return BigInt(s).toString();
}
