// Two QuicConnection ends joined in memory, for unit tests of the HTTP/3
// layers alone (frame order, QPACK, stream states) without UDP or TLS. The
// integration tests (test/integration/http3-*.test.ts) run the same code over
// the real QUIC transport. Delivery is asynchronous (setImmediate), in order,
// like a lossless network.
import type { QuicConnection, QuicStream } from '../../src/dataplane/quic/transport.js';

class MemStream implements QuicStream {
  onData: ((chunk: Uint8Array, fin: boolean) => void) | null = null;
  onReset: ((errorCode: number) => void) | null = null;
  /** No flow control in memory: nothing ever waits. */
  readonly bufferedBytes = 0;
  onWritable: (() => void) | null = null;
  peer!: MemStream;
  announced = false;
  finSent = false;
  resetSent = false;
  stopped = false;
  readDone = false;
  /** What arrived before the app set onData. */
  private backlog: Array<[Uint8Array, boolean]> = [];

  constructor(
    readonly conn: MemConnection,
    readonly id: number,
    readonly bidirectional: boolean,
    readonly peerInitiated: boolean,
  ) {}

  write(chunk: Uint8Array, fin = false): void {
    if (this.resetSent || this.conn.isClosed) return;
    if (this.finSent) throw new Error(`write after FIN on stream ${this.id}`);
    if (fin) this.finSent = true;
    const copy = Uint8Array.from(chunk);
    this.conn.later(() => this.peer.deliver(copy, fin));
  }

  deliver(chunk: Uint8Array, fin: boolean): void {
    if (this.readDone) return;
    if (!this.announced) {
      this.announced = true;
      this.conn.onStream?.(this);
    }
    if (fin) this.readDone = true;
    if (this.onData) this.onData(chunk, fin);
    else this.backlog.push([chunk, fin]);
  }

  drain(): void {
    while (this.onData && this.backlog.length > 0) {
      const [c, f] = this.backlog.shift()!;
      this.onData(c, f);
    }
  }

  reset(errorCode: number): void {
    if (this.resetSent || this.finSent) return;
    this.resetSent = true;
    this.conn.later(() => this.peer.peerReset(errorCode));
  }

  stopSending(errorCode: number): void {
    if (this.stopped || this.readDone) return;
    this.stopped = true;
    this.readDone = true;
    this.conn.later(() => {
      if (!this.peer.finSent && !this.peer.resetSent) {
        this.peer.resetSent = true;
        this.peer.onReset?.(errorCode);
      }
    });
  }

  private peerReset(code: number): void {
    if (this.readDone) return;
    this.readDone = true;
    if (!this.announced) {
      this.announced = true;
      this.conn.onStream?.(this);
    }
    this.onReset?.(code);
  }
}

export class MemConnection implements QuicConnection {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 4433;
  readonly alpn = 'h3';
  /** No TLS in memory: no server name, no client certificate. */
  readonly serverName = undefined;
  readonly peerCertified = false;
  onStream: ((stream: QuicStream) => void) | null = null;
  onClose: ((errorCode: number, reason: string) => void) | null = null;
  /** No stream limit in memory. */
  readonly bidiStreamsLeft = Infinity;
  onStreamCredit: (() => void) | null = null;
  peer!: MemConnection;
  isClosed = false;
  private nextBidi: number;
  private nextUni: number;
  /** The code and reason this end received in CONNECTION_CLOSE, once closed by the peer. */
  closedWith: { code: number; reason: string } | null = null;

  constructor(readonly isServer: boolean) {
    this.nextBidi = isServer ? 1 : 0;
    this.nextUni = isServer ? 3 : 2;
  }

  later(fn: () => void): void {
    setImmediate(() => {
      if (!this.isClosed && !this.peer.isClosed) fn();
    });
  }

  openUni(): QuicStream {
    return this.open(false);
  }
  openBidi(): QuicStream {
    return this.open(true);
  }

  private open(bidi: boolean): MemStream {
    const id = bidi ? this.nextBidi : this.nextUni;
    if (bidi) this.nextBidi += 4;
    else this.nextUni += 4;
    const mine = new MemStream(this, id, bidi, false);
    mine.announced = true; // our own stream: never announced to ourselves
    const theirs = new MemStream(this.peer, id, bidi, true);
    mine.peer = theirs;
    theirs.peer = mine;
    // Replay what arrived before the app attached its listener.
    let fn: ((c: Uint8Array, f: boolean) => void) | null = null;
    Object.defineProperty(theirs, 'onData', {
      get: () => fn,
      set: (v) => {
        fn = v;
        if (v) theirs.drain();
      },
    });
    return mine;
  }

  close(errorCode: number, reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const peer = this.peer;
    setImmediate(() => {
      if (peer.isClosed) return;
      peer.isClosed = true;
      peer.closedWith = { code: errorCode, reason };
      peer.onClose?.(errorCode, reason);
    });
    this.onClose?.(errorCode, reason);
  }
}

/** A connected pair: `client` opens streams that `server` receives, and back. */
export function memoryQuicPair(): { client: MemConnection; server: MemConnection } {
  const client = new MemConnection(false);
  const server = new MemConnection(true);
  client.peer = server;
  server.peer = client;
  return { client, server };
}
