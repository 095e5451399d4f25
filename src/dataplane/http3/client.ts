// Our HTTP/3 client, on the same frame and QPACK modules as the server: plain
// requests (`request`) for tests and raw stream access (`quic`, `control`) to
// craft bad input, and unary gRPC calls (`unary`) with metadata, deadlines
// and trailers for `workd call --http3`, the integration tests and the bench.
import zlib from 'node:zlib';
import { Code } from '../../errors.js';
import type { MetadataEntry } from '../../wasm/api.js';
import type { Logger } from '../../observability/log.js';
import { ACCEPT_ENCODING, CONTENT_TYPE, HDR_ACCEPT_ENCODING, HDR_CONTENT_TYPE, HDR_ENCODING, HDR_TE, HDR_TIMEOUT, TE_TRAILERS } from '../grpc/constants.js';
import { encodeMessage } from '../grpc/framing.js';
import { formatTimeout } from '../grpc/timeout.js';
import { openLocalStreams, PeerStreams } from './control.js';
import { connectionError, H3Code, H3Error, h3CodeName } from './error-codes.js';
import { FrameReader, frameHeader, FrameType, type FrameSink } from './frames.js';
import { decodeFieldSection } from './qpack/decoder.js';
import { encodeFieldSection } from './qpack/encoder.js';
import { connectQuic, type QuicConnection, type QuicStream } from '../quic/transport.js';
import { IdMap } from '../../util/id-map.js';
import { ResponseReader } from '../client/validate-response.js';

export interface Http3ClientOptions {
  host: string;
  port: number;
  /** TLS server name (SNI) and default :authority; defaults to host. */
  servername?: string;
  verifyPeer?: boolean;
  caPem?: string | Buffer;
  idleTimeoutMs?: number;
  /** Our SETTINGS_MAX_FIELD_SECTION_SIZE for response headers and trailers. */
  maxFieldSectionSize?: number;
  /** Warnings of the QUIC loop (send errors, a connection stuck closing); none when omitted. */
  log?: Logger;
}

export interface H3Request {
  method?: string;
  scheme?: string;
  authority: string;
  path: string;
  /** Extra fields as a flat [name, value, …] list, lowercase names. */
  headers?: readonly string[];
  body?: Uint8Array;
  /** Reset the stream (H3_REQUEST_CANCELLED) when aborted. */
  signal?: AbortSignal;
}

export interface H3Response {
  status: number;
  /** Flat [name, value, …], in order. */
  headers: string[];
  body: Uint8Array;
  /** The trailing HEADERS frame's fields, or null when there was none. */
  trailers: string[] | null;
}

export type Fields = Record<string, string | string[]>;

export interface GrpcCallRequest {
  authority: string;
  /** `/package.Service/Method` */
  path: string;
  /** Serialized request messages (one for unary). */
  messages: readonly Uint8Array[];
  /** Custom metadata: an object (`-bin` values as base64 text) or entries (`-bin` values as bytes). */
  metadata?: Record<string, string | readonly string[]> | readonly MetadataEntry[];
  timeoutMs?: number;
  /** Compress the request messages (grpc-encoding); identity when absent. */
  compress?: 'gzip' | 'deflate';
}

export interface GrpcCallResult {
  /** grpc-status (or mapped from the HTTP status / transport failure, as gRPC clients do). */
  code: number;
  /** grpc-message, percent-decoded. */
  message: string;
  /** 0 when no response head arrived. */
  httpStatus: number;
  headers: Fields;
  trailers: Fields;
  /** Response messages, unframed and decompressed. */
  messages: Uint8Array[];
}

export interface GrpcUnaryRequest extends Omit<GrpcCallRequest, 'messages'> {
  /** The serialized request message. */
  message: Uint8Array;
}

export interface GrpcUnaryResult extends Omit<GrpcCallResult, 'messages'> {
  /** The response message, when one came. */
  response: Uint8Array | null;
}

const DEADLINE_GRACE_MS = 1000;

/** Folds a flat field list into an object (repeated names become arrays). */
export function toFields(flat: readonly string[]): Fields {
  const out: Fields = Object.create(null) as Fields;
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    const v = flat[i + 1]!;
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (typeof prev === 'string') out[k] = [prev, v];
    else prev.push(v);
  }
  return out;
}

const enum RS {
  Head,
  Body,
  Trailers,
  Done,
}

class ClientStream implements FrameSink {
  private state = RS.Head;
  private status = 0;
  private headers: string[] = [];
  private chunks: Uint8Array[] = [];
  private size = 0;
  private trailers: string[] | null = null;
  private readonly reader = new FrameReader(this);

  constructor(
    private readonly client: Http3Client,
    readonly stream: QuicStream,
    private readonly resolve: (r: H3Response) => void,
    readonly reject: (e: Error) => void,
  ) {
    stream.onData = (chunk, fin) => {
      if (this.state === RS.Done) return;
      try {
        if (chunk.length > 0) this.reader.push(chunk);
        if (fin) this.onFin();
      } catch (e) {
        this.failWith(e as Error);
      }
    };
    stream.onReset = (code) => {
      if (this.state === RS.Done) return;
      // STOP_SENDING(H3_NO_ERROR): the server has its answer and wants no more of the request
      // (RFC 9114 §4.1.2); the transport reports it like a reset, but the response still comes.
      // A STOP_SENDING whose code the transport lost (< 0) came with the ACK of our whole request: same case.
      if (code === H3Code.H3_NO_ERROR || code < 0) return;
      this.finish();
      this.reject(new H3Error(code as H3Code, `the server reset the stream with ${h3CodeName(code)}`, 'stream'));
    };
  }

  private failWith(e: Error): void {
    this.finish();
    if (e instanceof H3Error && e.scope === 'connection') this.client.fail(e);
    else {
      this.stream.reset(H3Code.H3_MESSAGE_ERROR);
      this.stream.stopSending(H3Code.H3_MESSAGE_ERROR);
    }
    this.reject(e);
  }

  private finish(): void {
    this.state = RS.Done;
    if (this.client.streams.get(this.stream.id) === this) this.client.streams.delete(this.stream.id);
    this.client.closeIfDrained();
  }

  cancel(): void {
    if (this.state === RS.Done) return;
    this.finish();
    this.stream.reset(H3Code.H3_REQUEST_CANCELLED);
    this.stream.stopSending(H3Code.H3_REQUEST_CANCELLED);
  }

  private onFin(): void {
    if (!this.reader.atBoundary) throw connectionError(H3Code.H3_FRAME_ERROR, 'response stream ended inside a frame');
    if (this.state === RS.Head) throw new H3Error(H3Code.H3_GENERAL_PROTOCOL_ERROR, 'response stream ended before its HEADERS frame', 'stream');
    this.finish();
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.resolve({ status: this.status, headers: this.headers, body, trailers: this.trailers });
  }

  frameStart(type: number, length: number): boolean {
    if (type === FrameType.DATA) {
      if (this.state !== RS.Body) throw connectionError(H3Code.H3_FRAME_UNEXPECTED, 'DATA outside a response body');
      return true;
    }
    if (type === FrameType.HEADERS) {
      if (this.state === RS.Trailers) throw connectionError(H3Code.H3_FRAME_UNEXPECTED, 'HEADERS after the trailers');
      if (length > this.client.maxFieldSectionSize) {
        throw new H3Error(H3Code.H3_EXCESSIVE_LOAD, `response field section of ${length} bytes is over our limit of ${this.client.maxFieldSectionSize}`, 'stream');
      }
      return true;
    }
    // PUSH_PROMISE included: we never allowed pushes (no MAX_PUSH_ID).
    throw connectionError(H3Code.H3_FRAME_UNEXPECTED, `frame type 0x${type.toString(16)} on a request stream`);
  }

  data(chunk: Uint8Array): void {
    // The transport hands over a fresh buffer per chunk (quic/quic-connection.ts copies out of quiche's scratch).
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  frame(type: number, payload: Uint8Array): void {
    if (type !== FrameType.HEADERS) return;
    const fields = decodeFieldSection(payload, this.client.maxFieldSectionSize);
    if (this.state === RS.Body) {
      this.trailers = fields;
      this.state = RS.Trailers;
      return;
    }
    if (fields[0] !== ':status') throw new H3Error(H3Code.H3_MESSAGE_ERROR, 'response HEADERS without :status first', 'stream');
    const status = Number(fields[1]);
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new H3Error(H3Code.H3_MESSAGE_ERROR, `bad :status ${fields[1]}`, 'stream');
    if (status < 200) return; // informational: the real head follows
    this.status = status;
    this.headers = fields.slice(2);
    this.state = RS.Body;
  }
}

interface WaitingRequest {
  start(): void;
  reject(e: unknown): void;
}

export class Http3Client {
  readonly maxFieldSectionSize: number;
  /** By stream ID (an IdMap, not a Set: see util/id-map.ts). */
  readonly streams = new IdMap<ClientStream>();
  /** Our control stream (tests write bad frames on it). */
  readonly control: QuicStream;
  peerSettings: Map<number, number> | null = null;
  /** Stream ID from the server's GOAWAY: requests at or above it will not be processed. */
  goawayId = Infinity;
  private closedError: H3Error | null = null;
  private readonly closeWaiters: Array<() => void> = [];
  /** Requests waiting for the server to allow another stream. */
  private readonly waiting: WaitingRequest[] = [];

  /** Connects over QUIC (ALPN h3) and sets up the HTTP/3 connection. */
  static async connect(opts: Http3ClientOptions): Promise<Http3Client> {
    const quic = await connectQuic({
      host: opts.host,
      port: opts.port,
      servername: opts.servername ?? opts.host,
      alpn: ['h3'],
      verifyPeer: opts.verifyPeer ?? false,
      caPem: opts.caPem,
      idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
      log: opts.log,
    });
    return new Http3Client(quic, opts.maxFieldSectionSize ?? 64 * 1024);
  }

  constructor(
    readonly quic: QuicConnection,
    maxFieldSectionSize = 64 * 1024,
  ) {
    this.maxFieldSectionSize = maxFieldSectionSize;
    const peer = new PeerStreams('client', {
      settings: (s) => {
        this.peerSettings = s;
      },
      goaway: (id) => {
        this.goawayId = id;
        this.closeIfDrained();
      },
      error: (e) => this.fail(e),
    });
    quic.onStream = (s) => {
      if (!s.bidirectional) return peer.accept(s);
      this.fail(connectionError(H3Code.H3_STREAM_CREATION_ERROR, 'the server opened a bidirectional stream'));
    };
    quic.onClose = (code, reason) => this.onQuicClose(code, reason);
    this.control = openLocalStreams(quic, maxFieldSectionSize);
  }

  /** Null while open; the error that closed the connection otherwise. */
  get closed(): H3Error | null {
    return this.closedError;
  }

  /** Resolves once the connection has closed (by either side). */
  whenClosed(): Promise<H3Error> {
    if (this.closedError) return Promise.resolve(this.closedError);
    return new Promise((r) => this.closeWaiters.push(() => r(this.closedError!)));
  }

  /**
   * One request; resolves with the whole response, rejects with an H3Error on
   * reset or close. When the server's stream limit is reached, the request
   * waits for the server to grant more streams (its MAX_STREAMS), as an HTTP/2
   * client waits under SETTINGS_MAX_CONCURRENT_STREAMS.
   */
  request(req: H3Request): Promise<H3Response> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<H3Response>((resolve, reject) => {
      if (this.waiting.length === 0 && this.quic.bidiStreamsLeft > 0) return this.start(req, resolve, reject);
      const w: WaitingRequest = { start: () => this.start(req, resolve, reject), reject };
      this.waiting.push(w);
      this.quic.onStreamCredit = this.startWaiting;
      req.signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiting.indexOf(w);
          if (i < 0) return;
          this.waiting.splice(i, 1);
          reject(new H3Error(H3Code.H3_REQUEST_CANCELLED, 'request aborted while waiting for a stream', 'stream'));
        },
        { once: true },
      );
    });
  }

  private readonly startWaiting = (): void => {
    while (this.waiting.length > 0 && this.quic.bidiStreamsLeft > 0 && !this.closedError) this.waiting.shift()!.start();
    if (this.waiting.length === 0) this.quic.onStreamCredit = null;
  };

  private start(req: H3Request, resolve: (r: H3Response) => void, reject: (e: unknown) => void): void {
    if (req.signal?.aborted) return reject(new H3Error(H3Code.H3_REQUEST_CANCELLED, 'request aborted', 'stream'));
    let stream: QuicStream;
    try {
      stream = this.quic.openBidi();
    } catch (err) {
      return reject(err);
    }
    if (stream.id >= this.goawayId) {
      stream.reset(H3Code.H3_REQUEST_CANCELLED);
      return reject(new H3Error(H3Code.H3_REQUEST_REJECTED, `the server sent GOAWAY ${this.goawayId}; not sending stream ${stream.id}`, 'stream'));
    }
    const cs = new ClientStream(this, stream, resolve, reject);
    this.streams.set(stream.id, cs);
    const fields = [':method', req.method ?? 'POST', ':scheme', req.scheme ?? 'https', ':authority', req.authority, ':path', req.path];
    if (req.headers) fields.push(...req.headers);
    const block = encodeFieldSection(fields);
    const head = frameHeader(FrameType.HEADERS, block.length);
    const body = req.body;
    if (body && body.length > 0) {
      const dh = frameHeader(FrameType.DATA, body.length);
      if (body.length < 16 * 1024) {
        stream.write(Buffer.concat([head, block, dh, body]), true);
      } else {
        stream.write(Buffer.concat([head, block, dh]));
        stream.write(body, true);
      }
    } else {
      stream.write(Buffer.concat([head, block]), true);
    }
    if (req.signal) {
      const onAbort = () => {
        cs.cancel();
        reject(new H3Error(H3Code.H3_REQUEST_CANCELLED, 'request aborted', 'stream'));
      };
      req.signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  /** A gRPC call: sends the messages, half-closes, collects the answer. Never rejects: failures are statuses. */
  async grpcCall(call: GrpcCallRequest): Promise<GrpcCallResult> {
    const headers = [HDR_CONTENT_TYPE, CONTENT_TYPE, HDR_TE, TE_TRAILERS, HDR_ACCEPT_ENCODING, ACCEPT_ENCODING, 'user-agent', 'workd-h3'];
    if (call.timeoutMs !== undefined) headers.push(HDR_TIMEOUT, formatTimeout(call.timeoutMs));
    const md = call.metadata ?? {};
    const entries: ReadonlyArray<readonly [string, string | Uint8Array | readonly string[]]> = Array.isArray(md)
      ? (md as readonly MetadataEntry[])
      : Object.entries(md as Record<string, string | readonly string[]>);
    for (const [k, v] of entries) {
      const key = k.toLowerCase();
      if (typeof v === 'string') headers.push(key, v);
      else if (v instanceof Uint8Array) headers.push(key, Buffer.from(v).toString('base64'));
      else for (const one of v) headers.push(key, one);
    }
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // The server enforces grpc-timeout and answers DEADLINE_EXCEEDED with its own message; we give up
    // a little later (as the HTTP/2 client does) in case its answer never comes.
    if (call.timeoutMs !== undefined) timer = setTimeout(() => ac.abort(), call.timeoutMs + DEADLINE_GRACE_MS);
    if (call.compress) headers.push(HDR_ENCODING, call.compress);
    const frame = (m: Uint8Array) => (call.compress ? encodeMessage(call.compress === 'gzip' ? zlib.gzipSync(m) : zlib.deflateSync(m), true) : encodeMessage(m));
    const body = call.messages.length === 1 ? frame(call.messages[0]!) : Buffer.concat(call.messages.map(frame));
    let res: H3Response;
    try {
      res = await this.request({ authority: call.authority, path: call.path, headers, body, signal: ac.signal });
    } catch (e) {
      const deadline = ac.signal.aborted;
      return {
        code: deadline ? Code.DEADLINE_EXCEEDED : e instanceof H3Error && e.code === H3Code.H3_REQUEST_CANCELLED ? Code.CANCELLED : Code.UNAVAILABLE,
        message: deadline ? `deadline of ${call.timeoutMs} ms exceeded` : (e as Error).message,
        httpStatus: 0,
        headers: {},
        trailers: {},
        messages: [],
      };
    } finally {
      clearTimeout(timer);
    }
    return grpcResult(res);
  }

  /** A unary gRPC call. */
  async unary(call: GrpcUnaryRequest): Promise<GrpcUnaryResult> {
    const { message, ...rest } = call;
    const { messages, ...result } = await this.grpcCall({ ...rest, messages: [message] });
    if (result.code === Code.OK && messages.length !== 1) {
      return { ...result, code: Code.UNIMPLEMENTED, message: `unary call got ${messages.length} response messages`, response: null };
    }
    return { ...result, response: messages[0] ?? null };
  }

  /** Closes the connection (H3_NO_ERROR by default). */
  close(code: number = H3Code.H3_NO_ERROR, reason = ''): void {
    if (this.closedError) return;
    this.quic.close(code, reason);
    this.onQuicClose(code, reason || 'closed by us');
  }

  /** After the server's GOAWAY, close once our last request is answered (RFC 9114 §5.2), so it need not wait. */
  closeIfDrained(): void {
    if (this.goawayId !== Infinity && this.streams.size === 0 && this.waiting.length === 0 && !this.closedError) {
      queueMicrotask(() => {
        if (this.streams.size === 0 && this.waiting.length === 0) this.close(H3Code.H3_NO_ERROR, 'GOAWAY received and no requests left');
      });
    }
  }

  fail(e: H3Error): void {
    if (this.closedError) return;
    this.quic.close(e.code, e.message.slice(0, 200));
    this.onQuicClose(e.code, e.message);
  }

  private onQuicClose(code: number, reason: string): void {
    if (this.closedError) return;
    this.closedError = new H3Error(code as H3Code, `connection closed with ${h3CodeName(code)}${reason ? `: ${reason}` : ''}`);
    for (const s of this.streams.values()) s.reject(this.closedError);
    this.streams.clear();
    for (const w of this.waiting.splice(0)) w.reject(this.closedError);
    this.quic.onStreamCredit = null;
    for (const w of this.closeWaiters.splice(0)) w();
  }
}

/** Reads a gRPC answer (headers + messages + trailers, or trailers only) the way a gRPC client does. */
export function grpcResult(res: H3Response): GrpcCallResult {
  // A trailers-only answer's fields are its headers (as node:http2 and grpc-js report them).
  const headers = toFields(res.headers);
  const trailers = res.trailers === null ? null : toFields(res.trailers);
  const reader = new ResponseReader();
  reader.head(res.status, headers);
  reader.data(res.body);
  const r = reader.finish(trailers);
  return { code: r.code, message: r.message, httpStatus: res.status, headers, trailers: trailers ?? {}, messages: r.messages };
}
