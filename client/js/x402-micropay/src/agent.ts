// ISC identifiers as the scheme's JSON carries them.

import { decodeBech32 } from "./bech32.js";
import type { Warrant } from "./payment.js";

/** The x402 scheme name. */
export const SCHEME = "micropay-warrant";
/** The network namespace: networks are "iota-isc:<chainID bech32>". */
export const NAMESPACE = "iota-isc";
/** The asset: the chain's base token. */
export const ASSET = "base";

const ADDRESS_AGENT_KIND = 1; // isc.AgentIDKindAddress
const ED25519_ADDRESS = 0; // iotago.AddressEd25519
const ALIAS_ADDRESS = 8; // iotago.AddressAlias

/**
 * AgentID.Bytes() of an address agent ID given as ISC prints it (the
 * bech32 address). Contract and EVM agent IDs ("…@…") are not supported.
 */
export function agentIdBytes(agent: string): Uint8Array {
  if (agent.includes("@")) throw new Error(`agent ID ${JSON.stringify(agent)}: only address agent IDs are supported`);
  const { data } = decodeBech32(agent);
  if (data[0] !== ED25519_ADDRESS || data.length !== 33) {
    throw new Error(`agent ID ${JSON.stringify(agent)}: not an Ed25519 address`);
  }
  return Uint8Array.from([ADDRESS_AGENT_KIND, ...data]);
}

/** The 32-byte chain ID of network "iota-isc:<chainID>". */
export function chainIdOf(network: string): Uint8Array {
  const [ns, id, ...rest] = network.split(":");
  if (ns !== NAMESPACE || id === undefined || rest.length > 0) {
    throw new Error(`network ${JSON.stringify(network)} is not ${NAMESPACE}:<chainID>`);
  }
  const { data } = decodeBech32(id);
  if (data[0] !== ALIAS_ADDRESS || data.length !== 33) throw new Error(`network ${JSON.stringify(network)}: chain ID is not an alias address`);
  return data.subarray(1);
}

/** The u32 of a contract hname in ISC's text form (8 hex digits). */
export function parseHname(s: unknown): number {
  if (typeof s !== "string" || !/^[0-9a-f]{8}$/.test(s)) throw new Error(`contract hname ${JSON.stringify(s)}: want 8 lower-case hex digits`);
  return Number.parseInt(s, 16) >>> 0;
}

/** The warrant of payer paying the requirements' payTo on their network. */
export function warrantOf(network: string, contract: unknown, payer: string, payTo: string): Warrant {
  return { chainId: chainIdOf(network), contract: parseHname(contract), payer: agentIdBytes(payer), provider: agentIdBytes(payTo) };
}
