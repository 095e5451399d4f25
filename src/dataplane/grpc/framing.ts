// Length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length,
// then the message. The decoder is a small state machine fed arbitrary chunks;
// it never buffers more than one message, refuses a length above the limit
// before reading its bytes, and holds only the bytes that actually arrived
// (counted against a node-wide budget), so a hostile prefix cannot make us allocate.
import { Code, WorkdError } from '../../errors.js';
import { UNLIMITED, type ByteBudget } from './budget.js';
import { PREFIX_BYTES } from './constants.js';

const enum State {
  Prefix = 0,
  Body = 1,
  Failed = 2,
}

export interface MessageSink {
  /** A whole message (still compressed when `compressed`). The bytes may alias the input chunk. */
  onMessage(compressed: boolean, message: Uint8Array): void;
  /** The stream is malformed or over the limit; no further messages follow. */
  onFrameError(error: WorkdError): void;
}

export class MessageDecoder {
  private state = State.Prefix;
  // Only needed when a prefix is split across chunks (rare): allocated then.
  private prefix: Uint8Array | null = null;
  private prefixFill = 0;
  private compressed = false;
  /** Declared size of the message being collected. */
  private size = 0;
  // Created only for a message split across chunks (the fast path needs none).
  private parts: Uint8Array[] | null = null;
  private bodyFill = 0;
  /** Bytes of a partial message reserved from the budget. */
  private held = 0;

  constructor(
    private readonly sink: MessageSink,
    private readonly maxMessageBytes: number,
    private readonly budget: ByteBudget = UNLIMITED,
  ) {}

  /** Gives back what a partial message holds (the call ended). */
  dispose(): void {
    this.parts = null;
    if (this.held > 0) {
      this.budget.release(this.held);
      this.held = 0;
    }
    if (this.state !== State.Failed) this.state = State.Failed;
  }

  push(chunk: Uint8Array): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.state === State.Failed) return;
      if (this.state === State.Prefix) {
        // Fast path: a whole prefix and a whole message in this chunk, no copy.
        if (this.prefixFill === 0 && len - pos >= PREFIX_BYTES) {
          const flag = chunk[pos]!;
          const size = ((chunk[pos + 1]! << 24) >>> 0) + (chunk[pos + 2]! << 16) + (chunk[pos + 3]! << 8) + chunk[pos + 4]!;
          if (!this.begin(flag, size)) return;
          pos += PREFIX_BYTES;
          if (len - pos >= size) {
            this.state = State.Prefix;
            this.sink.onMessage(this.compressed, chunk.subarray(pos, pos + size));
            pos += size;
            continue;
          }
          this.startBody(size);
          continue;
        }
        const n = Math.min(PREFIX_BYTES - this.prefixFill, len - pos);
        this.prefix ??= new Uint8Array(PREFIX_BYTES);
        this.prefix.set(chunk.subarray(pos, pos + n), this.prefixFill);
        this.prefixFill += n;
        pos += n;
        if (this.prefixFill < PREFIX_BYTES) return;
        this.prefixFill = 0;
        const p = this.prefix!;
        const size = ((p[1]! << 24) >>> 0) + (p[2]! << 16) + (p[3]! << 8) + p[4]!;
        if (!this.begin(p[0]!, size)) return;
        if (size === 0) {
          this.sink.onMessage(this.compressed, new Uint8Array(0));
          continue;
        }
        this.startBody(size);
        continue;
      }
      // State.Body: keep a view of what arrived; copy once when the message is whole.
      const n = Math.min(this.size - this.bodyFill, len - pos);
      if (!this.budget.reserve(n)) {
        this.fail(Code.RESOURCE_EXHAUSTED, `the node holds too much unfinished request data (limit ${this.budget.limit} bytes); retry later`);
        return;
      }
      this.held += n;
      (this.parts ??= []).push(chunk.subarray(pos, pos + n));
      this.bodyFill += n;
      pos += n;
      if (this.bodyFill === this.size) {
        const parts = this.parts!;
        const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.size);
        this.parts = null;
        this.budget.release(this.held);
        this.held = 0;
        this.state = State.Prefix;
        this.sink.onMessage(this.compressed, body);
      }
    }
  }

  private startBody(size: number): void {
    this.size = size;
    this.bodyFill = 0;
    this.state = State.Body;
  }

  /** The body ended: a partial prefix or message is a truncated stream. */
  end(): boolean {
    if (this.state === State.Failed) return false;
    if (this.state === State.Body) {
      this.fail(Code.INTERNAL, `truncated message: received ${this.bodyFill} of ${this.size} bytes before the end of the stream`);
      return false;
    }
    if (this.prefixFill !== 0) {
      this.fail(Code.INTERNAL, `truncated length prefix: received ${this.prefixFill} of ${PREFIX_BYTES} bytes before the end of the stream`);
      return false;
    }
    return true;
  }

  private begin(flag: number, size: number): boolean {
    if (flag > 1) {
      this.fail(Code.INTERNAL, `malformed length prefix: compressed flag is 0x${flag.toString(16).padStart(2, '0')}, expected 0 or 1`);
      return false;
    }
    if (size > this.maxMessageBytes) {
      this.fail(Code.RESOURCE_EXHAUSTED, `request message of ${size} bytes is larger than the limit of ${this.maxMessageBytes} bytes`);
      return false;
    }
    this.compressed = flag === 1;
    return true;
  }

  private fail(code: Code, message: string): void {
    this.dispose();
    this.sink.onFrameError(new WorkdError(code, message));
  }
}

/** Frames one message: prefix and bytes in a single buffer (one write on the wire). */
export function encodeMessage(message: Uint8Array, compressed = false): Uint8Array {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX_BYTES);
  return out;
}
