import { RateLimiterMemory } from 'rate-limiter-flexible';

/**
 * Throttles what arrives before anyone is known, by network address: failed
 * sign-ins (REST and sockets) and new Socket.IO connections. Each node keeps
 * its own counts, per minute.
 *
 * Addresses are those of the TCP peer. Behind a load balancer that is the
 * balancer, so the defaults are generous: they stop floods, not people.
 */
export class AddressLimiter {
  readonly #failureLimit: number;
  readonly #failures: RateLimiterMemory;
  readonly #connects: RateLimiterMemory;

  constructor(limits: { authFailures: number; connects: number }) {
    this.#failureLimit = limits.authFailures;
    this.#failures = new RateLimiterMemory({ points: limits.authFailures, duration: 60 });
    this.#connects = new RateLimiterMemory({ points: limits.connects, duration: 60 });
  }

  /** Whether this address failed too often lately; its requests are refused without reading a token. */
  async blocked(ip: string): Promise<boolean> {
    const res = await this.#failures.get(ip);
    return !!res && res.consumedPoints >= this.#failureLimit;
  }

  /** Whole seconds until a blocked address may try again. */
  async retryAfter(ip: string): Promise<number> {
    const res = await this.#failures.get(ip);
    return Math.max(1, Math.ceil((res?.msBeforeNext ?? 1000) / 1000));
  }

  async failed(ip: string): Promise<void> {
    await this.#failures.consume(ip).catch(() => {});
  }

  /** Counts a new connection; false when the address opened too many lately. */
  async connect(ip: string): Promise<boolean> {
    return this.#connects.consume(ip).then(
      () => true,
      () => false,
    );
  }
}
