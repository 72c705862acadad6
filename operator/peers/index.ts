// The operators' peer transport: pinned mutual TLS carrying opaque sync messages.
export { pinPeers, parseEndpoint, type Endpoint, type PeerConfig, type PinnedPeer } from "./config.ts";
export { DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION } from "./frame.ts";
export { DEFAULT_RECONNECT, SILENT_HEARTBEATS, type ReconnectPolicy } from "./health.ts";
export { fingerprint, normalizeFingerprint, type RefusalReason } from "./identity.ts";
export { PeerTransport, type PeerStatus, type PeerTransportOptions } from "./transport.ts";
