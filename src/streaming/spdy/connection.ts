// One SPDY/3.1 session over an upgraded connection, as Kubernetes uses it
// (k8s.io/apimachinery httpstream/spdy over moby/spdystream): the peer opens
// streams whose headers say what they are for (`streamtype`, `port`,
// `requestid`), each stream is a byte pipe in both directions, and a stream is
// half-closed with an empty DATA frame carrying FIN.
//
// Flow control: we send WINDOW_UPDATE for what we receive, but do not hold our
// own sends to the peer's window, because spdystream (the peer in every
// Kubernetes client and the kubelet) never sends WINDOW_UPDATE: a sender that
// waited for one would stall after 64 KiB. TCP's back-pressure bounds memory.
import { Duplex } from 'node:stream';
import {
  FrameParser,
  HeaderCompressor,
  HeaderDecompressor,
  RstStatus,
  decodeHeaderBlock,
  encodeData,
  encodeGoaway,
  encodeHeaderBlock,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  type Frame,
} from './frames.js';

export class SpdyStream extends Duplex {
  /** Set once the peer's SYN_REPLY arrived (streams we opened) or we replied (streams the peer opened). */
  replied = false;
  private remoteClosed = false;

  constructor(
    private readonly conn: SpdyConnection,
    readonly id: number,
    readonly headers: ReadonlyMap<string, readonly string[]>,
  ) {
    super({ allowHalfOpen: true });
  }

  /** The first value of a header (names are lowercase). */
  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  /** Accepts a stream the peer opened. */
  reply(headers: ReadonlyMap<string, readonly string[]> = new Map()): void {
    if (this.replied) return;
    this.replied = true;
    this.conn.sendReply(this.id, headers);
  }

  /** Aborts the stream both ways. */
  reset(status: number = RstStatus.CANCEL): void {
    this.conn.sendReset(this.id, status);
    this.onRemoteReset();
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.conn.sendData(this.id, chunk, false, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.conn.sendData(this.id, Buffer.alloc(0), true, done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.conn.forget(this.id);
    done(err);
  }

  /** @internal */
  onData(data: Buffer, fin: boolean): void {
    if (this.remoteClosed) return;
    if (data.length > 0) this.push(data);
    if (fin) this.onRemoteFin();
  }

  /** @internal */
  onRemoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
  }

  /** @internal */
  onRemoteReset(): void {
    this.onRemoteFin();
    this.destroy();
  }
}

export interface SpdyConnectionOptions {
  /** true on the side that accepted the upgrade (its own stream IDs are even). */
  readonly server: boolean;
  /** Called for each stream the peer opens; reply() to accept it or reset() to refuse. */
  readonly onStream?: (stream: SpdyStream) => void;
  /** Closed after this long without a frame either way (0 = never). */
  readonly idleTimeoutMs?: number;
  /** The largest frame the peer may send. */
  readonly maxFrameBytes?: number;
}

export class SpdyConnection {
  private readonly parser: FrameParser;
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private nextId: number;
  private lastPeerId = 0;
  private queue: Promise<void> = Promise.resolve();
  private idleTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;

  constructor(
    private readonly socket: Duplex,
    private readonly opts: SpdyConnectionOptions,
    initial?: Buffer,
  ) {
    this.nextId = opts.server ? 2 : 1;
    this.parser = new FrameParser(opts.maxFrameBytes);
    this.closedPromise = new Promise((done) => (this.markClosed = done));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // Frames already received are still being handled (header blocks inflate asynchronously): end after them.
    const afterFrames = () => void this.queue.then(() => this.destroy());
    socket.on('end', afterFrames);
    socket.on('close', afterFrames);
    socket.on('error', () => this.destroy());
    this.touch();
    if (initial && initial.length > 0) this.receive(initial);
  }

  /** Resolves when the connection is gone. */
  get done(): Promise<void> {
    return this.closedPromise;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Opens a stream with these headers (the client side of the protocol). */
  openStream(headers: ReadonlyMap<string, readonly string[]>): SpdyStream {
    const id = this.nextId;
    this.nextId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.streams.set(id, stream);
    this.write(encodeSynStream(id, this.compressor.compress(encodeHeaderBlock(headers))));
    return stream;
  }

  ping(id: number): void {
    this.write(encodePing(id));
  }

  /** Sends GOAWAY and closes the socket once what was written has been flushed. */
  close(): void {
    if (this.closed) return;
    this.write(encodeGoaway(this.lastPeerId));
    this.socket.end();
    this.destroy();
  }

  /** Drops the connection and every stream at once. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    // Readers see the end of their data; writes from now on are dropped (the peer is gone).
    for (const s of [...this.streams.values()]) s.onRemoteFin();
    this.streams.clear();
    this.decompressor.close();
    if (!this.socket.writableEnded) this.socket.end();
    this.markClosed();
  }

  /** @internal */
  sendReply(id: number, headers: ReadonlyMap<string, readonly string[]>): void {
    this.write(encodeSynReply(id, this.compressor.compress(encodeHeaderBlock(headers))));
  }

  /** @internal */
  sendReset(id: number, status: number): void {
    this.write(encodeRstStream(id, status));
  }

  /** @internal */
  sendData(id: number, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void {
    if (this.closed) return done();
    let ok = true;
    for (const piece of encodeData(id, data, fin)) ok = this.socket.write(piece);
    this.touch();
    if (ok) done();
    else this.socket.once('drain', () => done());
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  private write(frame: Buffer): void {
    if (this.closed) return;
    this.socket.write(frame);
    this.touch();
  }

  private touch(): void {
    if (!this.opts.idleTimeoutMs) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(), this.opts.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.touch();
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch {
      this.write(encodeGoaway(this.lastPeerId, 1));
      this.destroy();
      return;
    }
    // Header blocks inflate asynchronously; frames are handled strictly in order.
    for (const f of frames) {
      this.queue = this.queue.then(() => this.handle(f)).catch(() => {
        this.write(encodeGoaway(this.lastPeerId, 1));
        this.destroy();
      });
    }
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    switch (f.type) {
      case 'syn_stream': {
        const headers = decodeHeaderBlock(await this.decompressor.decompress(f.block));
        const peerParity = this.opts.server ? 1 : 0;
        if (f.streamId % 2 !== peerParity || f.streamId <= this.lastPeerId) {
          this.sendReset(f.streamId, RstStatus.PROTOCOL_ERROR);
          return;
        }
        this.lastPeerId = f.streamId;
        const stream = new SpdyStream(this, f.streamId, headers);
        this.streams.set(f.streamId, stream);
        if (f.fin) stream.onRemoteFin();
        if (this.opts.onStream) this.opts.onStream(stream);
        else stream.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      case 'syn_reply': {
        await this.decompressor.decompress(f.block);
        const s = this.streams.get(f.streamId);
        if (!s) return;
        s.replied = true;
        s.emit('reply');
        if (f.fin) s.onRemoteFin();
        return;
      }
      case 'headers': {
        await this.decompressor.decompress(f.block);
        if (f.fin) this.streams.get(f.streamId)?.onRemoteFin();
        return;
      }
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (f.data.length > 0) {
          this.write(encodeWindowUpdate(f.streamId, f.data.length));
          this.write(encodeWindowUpdate(0, f.data.length));
        }
        s?.onData(f.data, f.fin);
        return;
      }
      case 'rst_stream':
        this.streams.get(f.streamId)?.onRemoteReset();
        return;
      case 'ping':
        // Our own pings have our parity; the peer's are echoed.
        if (f.id % 2 !== (this.opts.server ? 0 : 1)) this.write(encodePing(f.id));
        return;
      case 'goaway':
        this.close();
        return;
      default:
        return;
    }
  }
}
