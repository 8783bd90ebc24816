// @micropay/x402: the micropay-warrant x402 scheme (docs/x402-scheme.md).
export { MicropayWarrantClient, StateMismatchError, adopt, type MicropayClientOptions } from "./client.js";
export { MicropayWarrantServer } from "./server.js";
export { FilePositionStore, type Position, type PositionStore } from "./position.js";
export { signedBytes, encodePayment, decodePayment, signPayment, verifyPayment, privateKeyFromSeed, publicKeyBytes, type Payment, type Warrant } from "./payment.js";
export { agentIdBytes, chainIdOf, parseHname, warrantOf, SCHEME, NAMESPACE, ASSET } from "./agent.js";
export { decodeBech32, encodeBech32 } from "./bech32.js";
