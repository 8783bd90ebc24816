// The micropay/v1 payment (docs/protocol.md §2): signed bytes, the 85-byte
// wire form, and ed25519 signing with Node's own crypto.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";

/** The tag that starts the signed bytes. */
export const TAG = "micropay/v1";
/** The wire form's version byte. */
export const VERSION = 1;
/** Length of a wire payment. */
export const WIRE_SIZE = 85;

/** A warrant: what the signed bytes bind besides epoch, ordinal and total. */
export interface Warrant {
  chainId: Uint8Array; // 32 bytes
  contract: number; // hname of the micropay contract (u32)
  payer: Uint8Array; // payer AgentID.Bytes()
  provider: Uint8Array; // provider AgentID.Bytes()
}

/** A payment: a cumulative promise and its signature. */
export interface Payment {
  epoch: number;
  ordinal: bigint;
  total: bigint;
  signature: Uint8Array; // 64 bytes
}

const MAX_U32 = 0xffffffff;
const MAX_U64 = (1n << 64n) - 1n;

function checkRange(epoch: number, ordinal: bigint, total: bigint): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_U32) throw new RangeError(`epoch ${epoch} is not a u32`);
  if (ordinal < 0n || ordinal > MAX_U64) throw new RangeError(`ordinal ${ordinal} is not a u64`);
  if (total < 0n || total > MAX_U64) throw new RangeError(`total ${total} is not a u64`);
}

/** The bytes a payer signs: tag, chain, contract, both agents, epoch, ordinal, total. */
export function signedBytes(w: Warrant, epoch: number, ordinal: bigint, total: bigint): Uint8Array {
  checkRange(epoch, ordinal, total);
  if (w.chainId.length !== 32) throw new RangeError(`chain ID of ${w.chainId.length} bytes, want 32`);
  if (w.payer.length > 255 || w.provider.length > 255) throw new RangeError("agent ID longer than 255 bytes");
  const out = Buffer.alloc(TAG.length + 32 + 4 + 1 + w.payer.length + 1 + w.provider.length + 4 + 8 + 8);
  let o = out.write(TAG, 0, "ascii");
  out.set(w.chainId, o);
  o += 32;
  o = out.writeUInt32LE(w.contract >>> 0, o);
  o = out.writeUInt8(w.payer.length, o);
  out.set(w.payer, o);
  o += w.payer.length;
  o = out.writeUInt8(w.provider.length, o);
  out.set(w.provider, o);
  o += w.provider.length;
  o = out.writeUInt32LE(epoch, o);
  o = out.writeBigUInt64LE(ordinal, o);
  out.writeBigUInt64LE(total, o);
  return new Uint8Array(out);
}

/** The 85-byte wire form of p. */
export function encodePayment(p: Payment): Uint8Array {
  checkRange(p.epoch, p.ordinal, p.total);
  if (p.signature.length !== 64) throw new RangeError(`signature of ${p.signature.length} bytes, want 64`);
  const out = Buffer.alloc(WIRE_SIZE);
  out.writeUInt8(VERSION, 0);
  out.writeUInt32LE(p.epoch, 1);
  out.writeBigUInt64LE(p.ordinal, 5);
  out.writeBigUInt64LE(p.total, 13);
  out.set(p.signature, 21);
  return new Uint8Array(out);
}

/** Decodes exactly 85 bytes starting with version 1. */
export function decodePayment(b: Uint8Array): Payment {
  if (b.length !== WIRE_SIZE) throw new Error(`payment of ${b.length} bytes, want ${WIRE_SIZE}`);
  if (b[0] !== VERSION) throw new Error(`payment version ${b[0]}, want ${VERSION}`);
  const buf = Buffer.from(b);
  return {
    epoch: buf.readUInt32LE(1),
    ordinal: buf.readBigUInt64LE(5),
    total: buf.readBigUInt64LE(13),
    signature: new Uint8Array(buf.subarray(21)),
  };
}

// PKCS #8 wrapping of a raw 32-byte ed25519 seed (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** The ed25519 private key of a 32-byte seed. */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError(`ed25519 seed of ${seed.length} bytes, want 32`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

/** The raw 32-byte public key of an ed25519 private key. */
export function publicKeyBytes(key: KeyObject): Uint8Array {
  const der = createPublicKey(key).export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** Signs a payment under w with key (RFC 8032 ed25519, no pre-hash). */
export function signPayment(key: KeyObject, w: Warrant, epoch: number, ordinal: bigint, total: bigint): Payment {
  const signature = new Uint8Array(sign(null, signedBytes(w, epoch, ordinal, total), key));
  return { epoch, ordinal, total, signature };
}

/** Reports whether p carries publicKey's signature under w. */
export function verifyPayment(publicKey: Uint8Array, w: Warrant, p: Payment): boolean {
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), publicKey]);
  const key = createPublicKey({ key: spki, format: "der", type: "spki" });
  return verify(null, signedBytes(w, p.epoch, p.ordinal, p.total), key, p.signature);
}
