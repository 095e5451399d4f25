// How many TCP connections the data plane may hold: node-wide and per peer
// address. Each one costs a file descriptor, and the process has a fixed
// number (RLIMIT_NOFILE); the data plane keeps `fdReserve` of them for the
// rest of the node (the CRI socket the kubelet needs, image pulls, logs), so
// a flood of idle data-plane connections cannot make the CRI refuse the kubelet.
// Shared by every HTTP/2 listener (QUIC connections share one UDP socket).
import { readFileSync } from 'node:fs';
import type { Limits } from '../limits.js';

/** The soft RLIMIT_NOFILE of this process, from /proc/self/limits; undefined when unknown or unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export class ConnectionBudget {
  /** Connections allowed node-wide: the configured cap, lowered to fit the descriptors left after the reserve. */
  readonly max: number;
  private open = 0;
  private readonly byPeer = new Map<string, number>();

  constructor(
    limits: Pick<Limits, 'http2MaxConnections' | 'http2MaxConnectionsPerPeer' | 'fdReserve'>,
    fdLimit: number | undefined = openFileLimit(),
    private readonly perPeer = limits.http2MaxConnectionsPerPeer,
  ) {
    const byFds = fdLimit === undefined ? Infinity : fdLimit - limits.fdReserve;
    this.max = Math.max(1, Math.min(limits.http2MaxConnections, byFds));
  }

  get connections(): number {
    return this.open;
  }

  /** Takes a place for a connection from `peer`; false (and nothing taken) when the node or that peer is at its cap. */
  acquire(peer: string): boolean {
    if (this.open >= this.max) return false;
    const n = this.byPeer.get(peer) ?? 0;
    if (n >= this.perPeer) return false;
    this.byPeer.set(peer, n + 1);
    this.open++;
    return true;
  }

  release(peer: string): void {
    const n = this.byPeer.get(peer);
    if (n === undefined) return;
    if (n <= 1) this.byPeer.delete(peer);
    else this.byPeer.set(peer, n - 1);
    this.open--;
  }
}
