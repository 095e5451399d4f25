// Failed guest calls in the daemon's log, so an operator sees a component
// failing without a client's help: one warning per failed call, with the
// container, method, status and message, at most `perSecond` a second; past
// that, one line per second says how many were left out.
import { codeName } from '../errors.js';
import type { Logger } from '../observability/log.js';

export interface FinishedCall {
  readonly domain: string;
  readonly service: string;
  readonly method: string;
  /** The container that ran it; undefined when the call was not routed to one. */
  readonly container: string | undefined;
  readonly code: number;
  readonly message: string;
  readonly ms: number;
}

export class FailedCallLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  note(c: FinishedCall): void {
    if (c.code === 0) return;
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      if (this.suppressed > 0) this.log.warn({ suppressed: this.suppressed }, `${this.suppressed} more failed calls not logged (at most ${this.perSecond} a second)`);
      this.windowStart = t;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.suppressed++;
      return;
    }
    this.inWindow++;
    this.log.warn(
      { container: c.container, component: `${c.domain}:${c.service}`, method: c.method, code: c.code, status: codeName(c.code), grpcMessage: c.message, ms: Math.round(c.ms * 10) / 10 },
      'call failed',
    );
  }
}
