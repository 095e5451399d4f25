// One node-wide cap on request bytes held in memory while calls are incomplete
// (partial messages, and whole messages whose stream has not ended). Without
// it, many streams each sending most of a 4 MiB message could hold gigabytes.
export class ByteBudget {
  used = 0;

  constructor(readonly limit: number) {}

  /** Takes n bytes if they fit under the limit. */
  reserve(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    this.used -= n;
  }
}

/** No limit (tests and tools). */
export const UNLIMITED = new ByteBudget(Number.POSITIVE_INFINITY);
