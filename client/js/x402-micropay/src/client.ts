// The client side of micropay-warrant for @x402/core's x402Client:
// register(network, new MicropayWarrantClient(...)).

import type { PaymentPayloadResult, PaymentRequirements, SchemeClientHooks, SchemeNetworkClient } from "@x402/core/types";
import type { KeyObject } from "node:crypto";
import { ASSET, SCHEME, warrantOf } from "./agent.js";
import { encodePayment, privateKeyFromSeed, signPayment } from "./payment.js";
import type { Position, PositionStore } from "./position.js";

/** Options of a MicropayWarrantClient. */
export interface MicropayClientOptions {
  /** The payer's 32-byte ed25519 seed (the key registered on chain). */
  seed: Uint8Array;
  /** The payer's agent ID, as `micropay key show` prints it. */
  payer: string;
  /** Where the position of each warrant is kept, durably. */
  positions: PositionStore;
  /** Refuse a piece whose charge is above this many base tokens. */
  maxPrice?: bigint;
}

/** Thrown when a provider states a total this payer never signed. */
export class StateMismatchError extends Error {}

/** The position a seller states in extra (docs/x402-scheme.md). */
interface Stated {
  epoch: number;
  lastOrdinal: bigint;
  lastTotal: bigint;
  credit: bigint;
}

const ZERO: Position = { epoch: 0, ordinal: 0n, total: 0n, signed: 0n };

/**
 * MicropayWarrantClient signs micropay-warrant payments: cumulative
 * totals under the payer's warrant, each saved durably before it is
 * signed, so no two totals are ever signed under one ordinal. When the
 * seller refuses a payment with a corrective 402 stating the payer's
 * position, its schemeHooks roll the refused payment back, adopt the
 * position (ordinals upward; totals only up to the highest this payer
 * signed) and ask the transport to pay once more.
 */
export class MicropayWarrantClient implements SchemeNetworkClient {
  readonly scheme = SCHEME;
  readonly schemeHooks: SchemeClientHooks;
  private readonly key: KeyObject;
  private readonly credits = new Map<string, bigint>();
  private readonly pending = new Map<string, { warrant: string; before: Position; retry: boolean }>();
  private recovering = false;

  constructor(private readonly opts: MicropayClientOptions) {
    this.key = privateKeyFromSeed(opts.seed);
    this.schemeHooks = { onPaymentResponse: async (ctx) => this.onResponse(ctx.paymentPayload.payload, ctx.paymentRequired?.accepts, ctx.settleResponse?.success) };
  }

  private warrantKey(r: PaymentRequirements): string {
    return [r.network, String(r.extra.contract), this.opts.payer, r.payTo].join("|");
  }

  async createPaymentPayload(x402Version: number, r: PaymentRequirements): Promise<PaymentPayloadResult> {
    if (r.scheme !== SCHEME) throw new Error(`scheme ${r.scheme}, this client pays ${SCHEME}`);
    if (r.asset !== ASSET) throw new Error(`asset ${r.asset}, this scheme pays in ${ASSET}`);
    const amount = BigInt(r.amount);
    if (amount <= 0n) throw new Error(`amount ${r.amount} is not above 0`);
    const warrant = warrantOf(r.network, r.extra.contract, this.opts.payer, r.payTo);
    const wkey = this.warrantKey(r);
    let pos = this.opts.positions.load(wkey) ?? ZERO;
    const stated = this.stated(r.extra);
    if (stated) pos = adopt(pos, stated);
    if (pos.epoch === 0) pos = { ...ZERO, epoch: 1 };
    const credit = stated?.credit ?? this.credits.get(wkey) ?? 0n;
    this.credits.delete(wkey);
    const charge = amount > credit ? amount - credit : 0n;
    if (this.opts.maxPrice !== undefined && charge > this.opts.maxPrice) {
      throw new Error(`a piece of ${charge} base tokens is above the cap of ${this.opts.maxPrice}`);
    }
    const total = pos.total + charge;
    const next: Position = { epoch: pos.epoch, ordinal: pos.ordinal + 1n, total, signed: total > pos.signed ? total : pos.signed };
    this.opts.positions.save(wkey, next); // durable before the signature exists
    const hex = Buffer.from(encodePayment(signPayment(this.key, warrant, next.epoch, next.ordinal, next.total))).toString("hex");
    this.pending.set(hex, { warrant: wkey, before: pos, retry: this.recovering });
    this.recovering = false;
    return { x402Version, payload: { payer: this.opts.payer, payment: hex } };
  }

  /** The position the seller states for this payer in extra, if any. */
  private stated(extra: Record<string, unknown> | undefined): Stated | undefined {
    if (!extra || extra.payer !== this.opts.payer || typeof extra.epoch !== "number") return undefined;
    const big = (v: unknown) => (typeof v === "string" || typeof v === "number" ? BigInt(v) : 0n);
    return { epoch: extra.epoch, lastOrdinal: big(extra.lastOrdinal), lastTotal: big(extra.lastTotal), credit: big(extra.credit) };
  }

  private async onResponse(payload: Record<string, unknown>, accepts: PaymentRequirements[] | undefined, success: boolean | undefined): Promise<void | { recovered: true }> {
    const hex = typeof payload.payment === "string" ? payload.payment : "";
    const p = this.pending.get(hex);
    if (!p) return;
    this.pending.delete(hex);
    if (success || !accepts) return; // served, or no 402 to learn from
    // Refused: the ordinal stays used, the total does not.
    const cur = this.opts.positions.load(p.warrant) ?? ZERO;
    let pos: Position = { ...cur, total: p.before.total };
    const mine = accepts.find((a) => a.scheme === SCHEME && this.warrantKey(a) === p.warrant);
    const stated = mine && this.stated(mine.extra);
    if (stated) {
      pos = adopt(pos, stated);
      this.credits.set(p.warrant, stated.credit);
    }
    this.opts.positions.save(p.warrant, pos);
    if (!stated || p.retry) return; // a second refusal is final
    this.recovering = true;
    return { recovered: true };
  }
}

/**
 * adopt moves pos to what the seller states: a later epoch starts afresh;
 * ordinals only go up; the total becomes the seller's, which may be lower
 * (believing a denial costs nothing: the seller can settle at most the
 * highest total signed) but not above the highest this payer signed in the
 * epoch (that is a StateMismatchError: nothing is signed on the seller's
 * word alone).
 */
export function adopt(pos: Position, s: Stated): Position {
  if (s.epoch < pos.epoch) return pos; // the seller is behind; the payment will say so
  let p = s.epoch > pos.epoch ? { ...ZERO, epoch: s.epoch } : pos;
  if (s.lastTotal > p.signed) {
    throw new StateMismatchError(`the seller states a total of ${s.lastTotal} in epoch ${s.epoch}; this payer signed at most ${p.signed}: lost or shared payer state? resync deliberately`);
  }
  p = { ...p, ordinal: s.lastOrdinal > p.ordinal ? s.lastOrdinal : p.ordinal, total: s.lastTotal };
  return p;
}
