import { validateAndNormalizeRtpCapabilities } from 'mediasoup/ortc';
import type { RtpCapabilities } from 'mediasoup/types';
import { checkRtpCapabilities, invalid } from './validate.ts';

/**
 * The peers that receive without asking. A peer that gave its receive
 * capabilities (MediaSession.receive) gets a consumer for every producer of
 * the other peers, made by the session and pushed to it, on its newest
 * receive transport: no consume request per producer. Each (peer, producer)
 * pair is claimed synchronously before its consumer is made, so a producer
 * that appears while the peer gives its capabilities is consumed once, not
 * by both paths.
 */
export class Receivers {
  readonly #peers = new Map<string, { caps?: RtpCapabilities; transportId?: string }>();
  readonly #claims = new Set<string>();

  /** A receive transport the peer opened: the newest one is where its consumers go. */
  transportOpened(peerId: string, transportId: string): void {
    this.#peers.set(peerId, { ...this.#peers.get(peerId), transportId });
  }

  transportClosed(peerId: string, transportId: string): void {
    const peer = this.#peers.get(peerId);
    if (peer?.transportId === transportId) delete peer.transportId;
  }

  /** Checked as mediasoup checks them, so a malformed set fails here and not at a later producer. */
  setCapabilities(peerId: string, value: unknown): void {
    checkRtpCapabilities(value);
    const caps = structuredClone(value) as RtpCapabilities;
    try {
      validateAndNormalizeRtpCapabilities(caps);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw invalid('rtpCapabilities', message.length > 200 ? `${message.slice(0, 200)}…` : message);
    }
    this.#peers.set(peerId, { ...this.#peers.get(peerId), caps });
  }

  /** Where the peer's pushed consumers go, if it receives: its capabilities and transport. */
  target(peerId: string): { caps: RtpCapabilities; transportId: string } | undefined {
    const peer = this.#peers.get(peerId);
    return peer?.caps && peer.transportId ? { caps: peer.caps, transportId: peer.transportId } : undefined;
  }

  /** The peers that receive (capabilities given, a receive transport open). */
  peers(): string[] {
    return [...this.#peers.keys()].filter((peerId) => this.target(peerId));
  }

  /** True once per (peer, producer) until released: the caller makes that consumer. */
  claim(peerId: string, producerId: string): boolean {
    const key = JSON.stringify([peerId, producerId]);
    if (this.#claims.has(key)) return false;
    this.#claims.add(key);
    return true;
  }

  release(peerId: string, producerId: string): void {
    this.#claims.delete(JSON.stringify([peerId, producerId]));
  }

  /** The peer left (or joins again): it gives its capabilities anew. */
  forget(peerId: string): void {
    this.#peers.delete(peerId);
    for (const key of this.#claims) if ((JSON.parse(key) as string[])[0] === peerId) this.#claims.delete(key);
  }

  clear(): void {
    this.#peers.clear();
    this.#claims.clear();
  }
}
