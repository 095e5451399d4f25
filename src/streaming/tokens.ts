// One-time tokens for streaming requests (the kubelet's streaming request
// cache): Exec, Attach and PortForward store their request and answer a URL
// holding a random token; the first connection to present it consumes it, and
// an unused one expires.
import { randomBytes } from 'node:crypto';
import { WorkdError, Code } from '../errors.js';

export class TokenCache<T> {
  private readonly entries = new Map<string, { readonly value: T; readonly expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Stores a request and returns its token (128 random bits, URL-safe). */
  insert(value: T): string {
    this.sweep();
    if (this.entries.size >= this.maxEntries) {
      throw new WorkdError(Code.RESOURCE_EXHAUSTED, `too many streaming requests waiting for their connection (at most ${this.maxEntries}); retry shortly`);
    }
    const token = randomBytes(16).toString('base64url');
    this.entries.set(token, { value, expires: this.now() + this.ttlMs });
    return token;
  }

  /** The request for a token, removed so that it cannot be used twice; undefined when unknown or expired. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.value : undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
  }
}
