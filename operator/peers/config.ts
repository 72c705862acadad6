// The peer set as the Federation spec gives it, checked before use: a typo
// in a pin or an endpoint is a configuration error to report, not a peer
// that silently never connects.
import { REGION_NAME } from "../api/v1alpha1/fields.ts";
import { normalizeFingerprint } from "./identity.ts";

export interface PeerConfig {
  readonly region: string;
  /** `host:port`, or `[ipv6]:port`. */
  readonly endpoint: string;
  /** SHA-256 of the peer's DER certificate, hex (colons and case are ignored). */
  readonly fingerprint: string;
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface PinnedPeer {
  readonly region: string;
  readonly endpoint: Endpoint;
  readonly fingerprint: string;
}

export function parseEndpoint(endpoint: string): Endpoint {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(endpoint);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535)
    throw new Error(`peer endpoint must be host:port, not ${JSON.stringify(endpoint)}`);
  return { host, port };
}

/** The pinned peers by region. Throws on anything that would make identities ambiguous. */
export function pinPeers(self: string, peers: readonly PeerConfig[]): Map<string, PinnedPeer> {
  const byRegion = new Map<string, PinnedPeer>();
  const fingerprints = new Set<string>();
  for (const peer of peers) {
    if (!REGION_NAME.test(peer.region)) throw new Error(`invalid peer region ${JSON.stringify(peer.region)}`);
    if (peer.region === self) throw new Error(`region ${self} cannot be its own peer`);
    if (byRegion.has(peer.region)) throw new Error(`region ${peer.region} is pinned twice`);
    const fingerprint = normalizeFingerprint(peer.fingerprint);
    // One certificate for two regions would let either speak for the other.
    if (fingerprints.has(fingerprint))
      throw new Error(`region ${peer.region} shares its certificate with another region`);
    fingerprints.add(fingerprint);
    byRegion.set(peer.region, { region: peer.region, endpoint: parseEndpoint(peer.endpoint), fingerprint });
  }
  return byRegion;
}
