// One QUIC stream as the HTTP/3 layer sees it. The stream keeps what quiche
// could not take yet (flow control, congestion window) and hands it over when
// quiche lists the stream as writable again; received bytes are pulled by the
// connection (quic-connection.ts) only while someone listens (`onData` set), so a
// stream nobody reads is back-pressured by QUIC flow control, not dropped.
import { failedPrecondition } from '../../errors.js';
import type { QuicStream } from './transport.js';
import type { Connection } from './quic-connection.js';

export class Stream implements QuicStream {
  readonly id: number;
  readonly bidirectional: boolean;
  readonly peerInitiated: boolean;
  onReset: ((errorCode: number) => void) | null = null;

  /** We may receive on it: bidirectional, or the peer's unidirectional. */
  readonly canRead: boolean;
  /** We may send on it: bidirectional, or our own unidirectional. */
  readonly canWrite: boolean;
  /** FIN or RESET_STREAM consumed, or we sent STOP_SENDING. */
  readDone = false;
  /** The app asked for FIN (it may still sit in `pending`). */
  writeEnded = false;
  /** FIN handed to quiche. */
  writeDone = false;
  /** We reset the stream, or the peer sent STOP_SENDING: further writes are dropped. */
  sendAborted = false;
  /** Bytes quiche did not accept yet, oldest first; `pendingHead` indexes the first live one. */
  pending: Uint8Array[] = [];
  pendingHead = 0;
  /** Bytes in `pending`. */
  private pendingBytes = 0;
  onWritable: (() => void) | null = null;

  private _onData: ((chunk: Uint8Array, fin: boolean) => void) | null = null;
  private readonly conn: Connection;

  constructor(conn: Connection, id: number, peerInitiated: boolean) {
    this.conn = conn;
    this.id = id;
    this.peerInitiated = peerInitiated;
    this.bidirectional = (id & 0x2) === 0;
    this.canRead = this.bidirectional || peerInitiated;
    this.canWrite = this.bidirectional || !peerInitiated;
    if (!this.canRead) this.readDone = true;
    if (!this.canWrite) this.writeDone = true;
  }

  get onData(): ((chunk: Uint8Array, fin: boolean) => void) | null {
    return this._onData;
  }
  /** Setting a listener resumes reading whatever quiche buffered meanwhile. */
  set onData(fn: ((chunk: Uint8Array, fin: boolean) => void) | null) {
    this._onData = fn;
    if (fn !== null && !this.readDone) this.conn.markDirty();
  }

  get hasPending(): boolean {
    return this.pendingHead < this.pending.length;
  }

  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Still owes quiche bytes or a FIN, or may yet learn of a STOP_SENDING. */
  get sendOpen(): boolean {
    return !this.writeDone && !this.sendAborted;
  }

  write(chunk: Uint8Array, fin = false): void {
    if (!this.canWrite) throw failedPrecondition(`QUIC stream ${this.id} is the peer's unidirectional stream: it cannot be written`);
    // The peer stopped the stream or we reset it (onReset told the app), or
    // the connection is closing (onClose told it): nothing can be sent.
    if (this.sendAborted || this.conn.closeNotified) return;
    if (this.writeEnded) throw failedPrecondition(`QUIC stream ${this.id}: write after FIN`);
    if (fin) this.writeEnded = true;
    if (!this.hasPending) {
      const n = this.conn.streamSend(this, chunk, fin);
      if (n < 0) return;
      if (n === chunk.length) {
        if (fin) this.writeDone = true;
        this.conn.afterWrite(this);
        return;
      }
      if (n > 0) chunk = chunk.subarray(n);
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.conn.afterWrite(this);
  }

  /** Hands queued bytes to quiche; called when quiche lists the stream writable. */
  flushPending(): void {
    const q = this.pending;
    while (this.pendingHead < q.length) {
      const chunk = q[this.pendingHead];
      const last = this.pendingHead === q.length - 1;
      const fin = last && this.writeEnded;
      const n = this.conn.streamSend(this, chunk, fin);
      if (n < 0) return;
      this.pendingBytes -= n;
      if (n < chunk.length) {
        q[this.pendingHead] = chunk.subarray(n);
        return;
      }
      q[this.pendingHead++] = EMPTY;
    }
    q.length = 0;
    this.pendingHead = 0;
    if (this.writeEnded) this.writeDone = true;
    this.onWritable?.();
  }

  dropPending(): void {
    this.pending.length = 0;
    this.pendingHead = 0;
    this.pendingBytes = 0;
  }

  reset(errorCode: number): void {
    if (!this.canWrite || this.sendAborted || this.conn.closeNotified) return;
    this.conn.shutdownWrite(this, errorCode);
  }

  stopSending(errorCode: number): void {
    if (!this.canRead || this.readDone || this.conn.closeNotified) return;
    this.conn.shutdownRead(this, errorCode);
  }
}

export const EMPTY = new Uint8Array(0);

/** onReset's code for a peer's STOP_SENDING whose code quiche 0.18 did not keep. */
export const STOP_SENDING_CODE_UNKNOWN = -1;
