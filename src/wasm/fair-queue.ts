// Fair queueing across containers: every container's calls wait in a lane of
// their own, and the worker pool takes from the lanes in turn (round robin),
// so a container with many calls waiting cannot push another's calls behind
// them. Each lane also keeps the CPU time its calls take (an average of the
// real thread CPU time they used), which tells the pool whose calls are long
// and must not hold more than their share of the workers (worker-pool.ts).

import { fixedLimit } from '../limits.js';

export const LONG_RUNNING_CPU_MS = fixedLimit('executorLongRunningCpuMs');
export const LANE_QUANTUM = fixedLimit('executorLaneQuantum');

/** Weight of the newest call in a lane's CPU average (once it has this many calls; the plain mean before). */
const EWMA_WEIGHT = 1 / 8;

/**
 * Measured calls a method needs before its average alone makes it
 * long-running (a call seen running long makes it so at once): a container's
 * first calls of a method also pay for code compiled on first use on a young
 * worker (1-5 ms of CPU under load for a 100-byte echo), and one such call
 * made every later call of the method wait behind the container's looping
 * calls in the long queue.
 */
const MIN_SAMPLES = 4;

/** What a lane knows of one of its methods. */
interface MethodCpu {
  /** Average thread CPU ns per call. */
  avg: number;
  /** Calls measured. */
  n: number;
  /** Long-running: its calls wait in the long queue. */
  long: boolean;
}

/** A first-in first-out queue that can also take an item back at its front. */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  pushFront(x: T): void {
    if (this.head > 0) this.items[--this.head] = x;
    else this.items.unshift(x);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  /** Removes and returns every item. */
  drain(): T[] {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return all;
  }
}

/**
 * One container's waiting calls. Whether a call is long-running is learned per
 * method (a container's Loop must not slow down its own Echo), from the
 * average real CPU time that method's calls took; long and short calls wait
 * apart, each in order.
 */
export class Lane<T> {
  readonly short = new Fifo<T>();
  readonly long = new Fifo<T>();
  private readonly cpu = new Map<string, MethodCpu>();
  /** Its long-running calls holding a worker now. */
  holding = 0;
  /** In the fair queue's ring of lanes with calls waiting. */
  active = false;

  get size(): number {
    return this.short.size + this.long.size;
  }

  /** Whether a call of this method has been measured yet. */
  known(method: string): boolean {
    return this.cpu.has(method);
  }

  isLong(method: string): boolean {
    return this.cpu.get(method)?.long === true;
  }

  /** Which queue a call of this method waits in. */
  fifo(method: string): Fifo<T> {
    return this.isLong(method) ? this.long : this.short;
  }

  /** Adds one measured call to its method's CPU average. */
  measured(method: string, cpuNanos: number): void {
    let m = this.cpu.get(method);
    if (m === undefined) this.cpu.set(method, (m = { avg: 0, n: 0, long: false }));
    m.n++;
    m.avg += (cpuNanos - m.avg) * Math.max(EWMA_WEIGHT, 1 / m.n);
    m.long = m.n >= MIN_SAMPLES && m.avg >= LONG_RUNNING_CPU_MS * 1e6;
  }

  /** A call of this method has been running for `ms`: its method is long-running from now on (until its average says otherwise). */
  ranLong(method: string, ms: number): void {
    let m = this.cpu.get(method);
    if (m === undefined) this.cpu.set(method, (m = { avg: 0, n: 0, long: false }));
    if (m.avg < ms * 1e6) m.avg = ms * 1e6;
    // Counted as if measured often: its average must fall well below the line again to make it short.
    m.n = Math.max(m.n, MIN_SAMPLES);
    m.long = true;
  }

  drain(): T[] {
    return [...this.long.drain(), ...this.short.drain()];
  }
}

/** The lanes with calls waiting, in turn. */
export class FairQueue<T> {
  private ring: Lane<T>[] = [];
  private next = 0;

  get lanes(): readonly Lane<T>[] {
    return this.ring;
  }

  /** Calls waiting in all lanes. */
  waiting(): number {
    let n = 0;
    for (const l of this.ring) n += l.size;
    return n;
  }

  activate(lane: Lane<T>): void {
    if (lane.active) return;
    lane.active = true;
    this.ring.push(lane);
  }

  /**
   * Visits the lanes in turn, starting after the one served first last time,
   * until `visit` makes no progress on a whole round; empty lanes leave the ring.
   * `visit` returns whether it took anything from the lane.
   */
  serve(visit: (lane: Lane<T>) => boolean): void {
    let progress = true;
    while (progress && this.ring.length > 0) {
      progress = false;
      const n = this.ring.length;
      const start = this.next % n;
      for (let k = 0; k < n; k++) {
        const lane = this.ring[(start + k) % n]!;
        if (lane.size > 0 && visit(lane)) progress = true;
      }
      this.next = start + 1;
      this.compact();
    }
  }

  private compact(): void {
    if (this.ring.every((l) => l.size > 0)) return;
    this.ring = this.ring.filter((l) => {
      if (l.size > 0) return true;
      l.active = false;
      return false;
    });
  }
}
