// The one gRPC handler both transports attach to. It checks the request the
// way the gRPC PROTOCOL-HTTP2 document asks (POST, content-type, grpc-timeout,
// grpc-encoding), decodes length-prefixed messages, and answers each call
// from a running guest (unary) or a built-in service (any shape).
import { Code, WorkdError } from '../../errors.js';
import type { Logger } from '../../observability/log.js';
import type { GuestResult, MetadataEntry } from '../../wasm/api.js';
import type { Router } from '../router.js';
import { OTHER_METHOD, UNKNOWN, type CallStats } from '../call-stats.js';
import { FailedCallLog, type FinishedCall } from '../failed-calls.js';
import type { UniversalHandler, UniversalHeaders, UniversalRequest, UniversalRequestBody, UniversalResponse } from '../universal.js';
import type { BuiltinMethods, BuiltinStream } from './builtin.js';
import { ByteBudget } from './budget.js';
import { accepts, compress, decompress, parseEncoding, type Encoding } from './compression.js';
import { ACCEPT_ENCODING, CONTENT_TYPE, HDR_CONTENT_TYPE, TEXT_PLAIN, HDR_ACCEPT_ENCODING, HDR_ENCODING, HDR_TIMEOUT, HDR_VERSION, HTTP_METHOD_NOT_ALLOWED, HTTP_OK, HTTP_UNSUPPORTED_MEDIA_TYPE, PREFIX_BYTES } from './constants.js';
import { encodeMessage, MessageDecoder, type MessageSink } from './framing.js';
import { requestMetadata } from './metadata.js';
import { ResponseFields, ServerCall, type CallEnv } from './server-call.js';
import { parseTimeout } from './timeout.js';
import type { Limits } from '../../limits.js';

export interface GrpcHandlerOptions {
  readonly router: Router;
  /** maxMessageBytes, maxBufferedRequestBytes, builtinMaxHeldRequests, failedCallLogsPerSecond (src/limits.ts). */
  readonly limits: Pick<Limits, 'maxMessageBytes' | 'maxBufferedRequestBytes' | 'builtinMaxHeldRequests' | 'failedCallLogsPerSecond'>;
  readonly log: Logger;
  readonly builtins?: BuiltinMethods;
  /** Where finished guest calls are counted (by domain, service, method, code). */
  readonly stats?: CallStats;
  /** Told of every finished guest call (`workd dev` prints them); failed ones are logged in any case. */
  readonly onCallFinished?: (call: FinishedCall) => void;
  /** Refuses a call to a domain before it is routed (per-domain client certificates: certs/store.ts). */
  readonly authorize?: (domain: string, req: UniversalRequest) => WorkdError | undefined;
}

export interface GrpcHandler extends UniversalHandler {
  /** Adds (or with undefined removes) a field on every response's headers, e.g. `alt-svc`. */
  setResponseField(name: string, value: string | undefined): void;
  /**
   * This handler (limits, request-data budget, counters, response fields)
   * routing with another router and built-ins: what a pod's own listener serves.
   */
  scoped(router: Router, builtins: BuiltinMethods): UniversalHandler;
}

// Below this size (de)compression runs inline: the zlib thread pool costs more than it saves.
const INLINE_ZLIB_BYTES = 64 * 1024;

const IGNORE_BODY: UniversalRequestBody = { data() {}, end() {}, abort() {} };

function header(headers: UniversalHeaders, name: string): string | undefined {
  const v = headers[name];
  return v === undefined || typeof v === 'string' ? v : v.join(',');
}

export function createGrpcHandler(opts: GrpcHandlerOptions): GrpcHandler {
  const fields = new ResponseFields();
  let active = 0;
  const failures = new FailedCallLog(opts.log, opts.limits.failedCallLogsPerSecond);
  const onFinished = (c: FinishedCall) => {
    failures.note(c);
    opts.onCallFinished?.(c);
  };
  const env: CallEnv = {
    fields,
    maxMessageBytes: opts.limits.maxMessageBytes,
    maxHeldRequests: opts.limits.builtinMaxHeldRequests,
    budget: new ByteBudget(opts.limits.maxBufferedRequestBytes),
    onFinished: () => {
      active--;
    },
  };

  function refuse(res: UniversalResponse, err: WorkdError, extra?: Record<string, string>): UniversalRequestBody {
    const f = fields.trailersOnly(err.code, err.message);
    if (extra !== undefined) Object.assign(f, extra);
    res.sendTrailersOnly(HTTP_OK, f);
    return IGNORE_BODY;
  }

  function plainHttpError(res: UniversalResponse, status: number, text: string, extra?: Record<string, string>): UniversalRequestBody {
    res.sendHeaders(status, { [HDR_CONTENT_TYPE]: TEXT_PLAIN, ...extra });
    res.sendData(Buffer.from(text + '\n'));
    res.sendTrailers({});
    return IGNORE_BODY;
  }

  function opener(gopts: GrpcHandlerOptions): UniversalHandler['open'] {
    const builtins: BuiltinMethods = gopts.builtins ?? new Map();
    return (req: UniversalRequest, res: UniversalResponse): UniversalRequestBody => {
      const h = req.headers;
      if (req.method !== 'POST') {
        return plainHttpError(res, HTTP_METHOD_NOT_ALLOWED, `gRPC requires POST, not ${req.method}`, { allow: 'POST' });
      }
      const ct = header(h, HDR_CONTENT_TYPE);
      if (ct === undefined || !ct.startsWith(CONTENT_TYPE)) {
        return plainHttpError(res, HTTP_UNSUPPORTED_MEDIA_TYPE, `content-type ${ct === undefined ? '(none)' : JSON.stringify(ct)} is not application/grpc`);
      }
      if (ct.length > 16 && ct !== 'application/grpc+proto' && ct.charCodeAt(16) !== 59 /* ';' */) {
        return refuse(res, new WorkdError(Code.UNIMPLEMENTED, `content-type ${ct} is not supported: this server speaks application/grpc+proto`));
      }
      const path = req.path;
      const slash = path.indexOf('/', 1);
      if (path.charCodeAt(0) !== 47 || slash < 2 || slash === path.length - 1 || path.indexOf('/', slash + 1) >= 0) {
        return refuse(res, new WorkdError(Code.UNIMPLEMENTED, `malformed path ${JSON.stringify(path)}: expected /package.Service/Method`));
      }
      const encoding = parseEncoding(header(h, HDR_ENCODING));
      if (encoding === undefined) {
        return refuse(res, new WorkdError(Code.UNIMPLEMENTED, `grpc-encoding ${header(h, HDR_ENCODING)} is not supported (supported: ${ACCEPT_ENCODING})`));
      }
      let timeoutMs = -1;
      const t = header(h, HDR_TIMEOUT);
      if (t !== undefined) {
        try {
          timeoutMs = parseTimeout(t);
        } catch (err) {
          return refuse(res, err as WorkdError);
        }
      }
      const domain = gopts.router.domainOf(req.authority);
      if (gopts.authorize !== undefined) {
        const denied = gopts.authorize(domain, req);
        if (denied !== undefined) return refuse(res, denied);
      }
      // Respond in the request's encoding when the client takes it back (grpc-go does the same).
      const respEncoding: Encoding = encoding !== 'identity' && accepts(header(h, HDR_ACCEPT_ENCODING), encoding) ? encoding : 'identity';
      active++;
      const builtin = builtins.get(path);
      let call: GuestCall | BuiltinCall;
      if (builtin !== undefined) {
        call = new BuiltinCall(res, env, encoding, domain, requestMetadata(req.fields));
        call.attach(builtin.start(call));
      } else {
        const version = header(h, HDR_VERSION);
        call = new GuestCall(res, env, gopts, onFinished, encoding, respEncoding, domain, path.slice(1, slash), path.slice(slash + 1), req.fields, version);
      }
      if (timeoutMs >= 0) call.startDeadline(timeoutMs);
      return call;
    };
  }

  return {
    get active() {
      return active;
    },
    setResponseField(name, value) {
      fields.setExtra(name, value);
    },
    open: opener(opts),
    scoped(router, builtins) {
      return {
        get active() {
          return active;
        },
        open: opener({ ...opts, router, builtins }),
      };
    },
  };
}

/** Shared request-side plumbing: framing, decompression, body events. */
abstract class RequestCall extends ServerCall implements UniversalRequestBody, MessageSink {
  /** Created by the first chunk that is not exactly one whole message (a unary request almost always is: none then). */
  private decoder: MessageDecoder | null = null;

  constructor(
    res: UniversalResponse,
    env: CallEnv,
    protected readonly encoding: Encoding,
  ) {
    super(res, env);
  }

  protected override onSettled(): void {
    this.decoder?.dispose();
  }

  data(chunk: Uint8Array): void {
    if (this.done) return;
    let d = this.decoder;
    if (d === null) {
      // Fast path: the chunk is one whole message (flag 0 or 1, size within the limit); what the decoder would
      // hand over, without creating it. Anything else (split, several, malformed) goes through the decoder.
      const len = chunk.length;
      if (len >= PREFIX_BYTES) {
        const flag = chunk[0]!;
        const size = ((chunk[1]! << 24) >>> 0) + (chunk[2]! << 16) + (chunk[3]! << 8) + chunk[4]!;
        if (flag <= 1 && len - PREFIX_BYTES === size && size <= this.env.maxMessageBytes) {
          this.onMessage(flag === 1, chunk.subarray(PREFIX_BYTES));
          return;
        }
      }
      d = this.decoder = new MessageDecoder(this, this.env.maxMessageBytes, this.env.budget);
    }
    d.push(chunk);
  }

  end(): void {
    if (this.done) return;
    if (this.decoder !== null && !this.decoder.end()) return;
    this.halfClosed();
  }

  onFrameError(error: WorkdError): void {
    this.fail(error);
  }

  onMessage(compressed: boolean, message: Uint8Array): void {
    if (this.done) return;
    if (!compressed) return this.received(message);
    if (this.encoding === 'identity') {
      return this.fail(new WorkdError(Code.INTERNAL, 'request message has the compressed flag set but no grpc-encoding was given'));
    }
    this.inflate(message);
  }

  protected inflate(message: Uint8Array): void {
    decompress(this.encoding, message, this.env.maxMessageBytes, message.length <= INLINE_ZLIB_BYTES, (err, out) => {
      if (this.done) return;
      if (err !== null) return this.fail(err);
      this.received(out!);
    });
  }

  protected abstract received(message: Uint8Array): void;
  protected abstract halfClosed(): void;
}

/** A unary call answered by a running guest. */
class GuestCall extends RequestCall {
  private request: Uint8Array | null = null;
  private heldRequest = 0;
  private gotMessage = false;
  private halfClosedSeen = false;
  private routed = false;
  /** The container the call was routed to (its per-container counters). */
  private containerId: string | undefined;
  private requestBytes = 0;
  private responseBytes = 0;
  private readonly startedAt = performance.now();

  constructor(
    res: UniversalResponse,
    env: CallEnv,
    private readonly opts: GrpcHandlerOptions,
    private readonly onFinished: (call: FinishedCall) => void,
    encoding: Encoding,
    private readonly respEncoding: Encoding,
    private readonly domain: string,
    private readonly service: string,
    private readonly method: string,
    private readonly fields: readonly string[],
    private readonly versionPin: string | undefined,
  ) {
    super(res, env, encoding);
  }

  override onMessage(compressed: boolean, message: Uint8Array): void {
    if (this.done) return;
    if (this.gotMessage) {
      return this.fail(new WorkdError(Code.INTERNAL, `unary method ${this.method} received more than one request message`));
    }
    this.gotMessage = true;
    // Bytes as on the wire (compressed when the client compressed), as responseBytes.
    this.requestBytes = message.length;
    super.onMessage(compressed, message);
  }

  protected received(message: Uint8Array): void {
    if (this.halfClosedSeen) {
      this.request = message;
      return this.dispatch();
    }
    // Held until the client half-closes: count it, so idle streams cannot pile up messages.
    if (!this.env.budget.reserve(message.length)) {
      return this.fail(new WorkdError(Code.RESOURCE_EXHAUSTED, `the node holds too much unfinished request data (limit ${this.env.budget.limit} bytes); retry later`));
    }
    this.heldRequest = message.length;
    this.request = message;
  }

  protected override onSettled(): void {
    super.onSettled();
    this.releaseRequest();
  }

  private releaseRequest(): void {
    if (this.heldRequest > 0) {
      this.env.budget.release(this.heldRequest);
      this.heldRequest = 0;
    }
  }

  protected halfClosed(): void {
    this.halfClosedSeen = true;
    if (!this.gotMessage) return this.fail(new WorkdError(Code.INTERNAL, `unary method ${this.method} received no request message`));
    // Otherwise the message is still being decompressed; received() dispatches.
    if (this.request !== null) this.dispatch();
  }

  private dispatch(): void {
    let container;
    try {
      container = this.opts.router.route(this.domain, this.service, this.method, this.versionPin);
    } catch (err) {
      if (err instanceof WorkdError) return this.fail(err);
      throw err;
    }
    this.routed = true;
    this.containerId = container.id;
    const request = this.request!;
    this.request = null;
    this.releaseRequest();
    container.runtime
      .call({
        method: this.method,
        request,
        metadata: requestMetadata(this.fields),
        deadline: this.deadline,
        signal: this.signal,
      })
      .then(
        (result) => this.answer(result),
        // ContainerRuntime.call never rejects by contract; if one does, the caller still gets a status.
        (err: unknown) => {
          this.opts.log.error({ err, container: container.id, method: this.method }, 'container runtime rejected a call (it must answer a GuestResult)');
          this.fail(new WorkdError(Code.INTERNAL, `guest call failed: ${(err as Error)?.message ?? String(err)}`));
        },
      );
  }

  private answer(result: GuestResult): void {
    if (this.done) return;
    if (result.status !== 0) return this.finish(result.status, result.message, result.trailers);
    const response = result.response ?? EMPTY;
    if (response.length > this.env.maxMessageBytes) {
      return this.finish(Code.RESOURCE_EXHAUSTED, `response message of ${response.length} bytes is larger than the limit of ${this.env.maxMessageBytes} bytes`);
    }
    const enc = this.respEncoding;
    if (enc === 'identity') return this.reply(encodeMessage(response, false), 'identity', result.trailers, result.message);
    compress(enc, response, response.length <= INLINE_ZLIB_BYTES, (err, out) => {
      if (this.done) return;
      if (err !== null) return this.reply(encodeMessage(response, false), 'identity', result.trailers, result.message);
      this.reply(encodeMessage(out, true), enc, result.trailers, result.message);
    });
  }

  override finish(code: number, message: string, metadata?: readonly MetadataEntry[]): void {
    if (!this.done) this.ended(code, message);
    super.finish(code, message, metadata);
  }

  override abort(): void {
    if (!this.done) this.ended(Code.CANCELLED, 'the client cancelled the call');
    super.abort();
  }

  private ended(code: number, message: string): void {
    const ms = performance.now() - this.startedAt;
    this.count(code, ms / 1000);
    // Only failures are logged: a call that succeeded with nobody listening needs no record.
    if (code === 0 && this.opts.onCallFinished === undefined) return;
    const { domain, service, method, containerId: container } = this;
    this.onFinished({ domain, service, method, container, code, message, ms });
  }

  /** Counts the call once, under names bounded by what the node runs (see call-stats.ts). */
  private count(code: number, seconds: number): void {
    const stats = this.opts.stats;
    if (stats === undefined) return;
    let { domain, service, method } = this;
    if (!this.routed) {
      if (this.opts.router.routes.lookup(domain, service) === undefined) domain = service = method = UNKNOWN;
      else method = OTHER_METHOD;
    }
    stats.entry(domain, service, method).record(code, this.requestBytes, this.responseBytes, seconds);
    if (this.containerId !== undefined) stats.containerEntry(this.containerId).record(code, this.requestBytes, this.responseBytes);
  }

  private reply(frame: Uint8Array, enc: Encoding, trailers: readonly MetadataEntry[], message: string): void {
    this.responseBytes = frame.length - 5;
    this.sendHeadersOnce(enc);
    this.res.sendData(frame);
    this.finish(0, message, trailers);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A call answered by a built-in service; messages in order, any streaming shape.
 * A client that keeps sending (reflection requests) without reading the answers
 * would make the node buffer answers without end: once the transport says the
 * answers back up (sendData false), requests wait, up to env.maxHeldRequests and
 * the node's request budget, and then the call fails with RESOURCE_EXHAUSTED.
 */
class BuiltinCall extends RequestCall {
  private stream: BuiltinStream | null = null;
  private blocked = false;
  private readonly held: Uint8Array[] = [];
  private heldBytes = 0;
  private halfClosePending = false;

  constructor(
    res: UniversalResponse,
    env: CallEnv,
    encoding: Encoding,
    readonly domain: string,
    readonly metadata: readonly MetadataEntry[],
  ) {
    super(res, env, encoding);
  }

  attach(stream: BuiltinStream): void {
    this.stream = stream;
  }

  // Built-in messages are small; inline decompression keeps them in order.
  protected override inflate(message: Uint8Array): void {
    decompress(this.encoding, message, this.env.maxMessageBytes, true, (err, out) => {
      if (this.done) return;
      if (err !== null) return this.fail(err);
      this.received(out!);
    });
  }

  send(message: Uint8Array): void {
    if (this.done) return;
    this.sendHeadersOnce('identity');
    if (!this.res.sendData(encodeMessage(message, false)) && !this.blocked) {
      this.blocked = true;
      this.res.onDrain = () => this.drained();
    }
  }

  protected received(message: Uint8Array): void {
    if (!this.blocked && this.held.length === 0) return this.stream?.message(message);
    if (this.held.length >= this.env.maxHeldRequests) {
      return this.fail(new WorkdError(Code.RESOURCE_EXHAUSTED, `the client sent ${this.env.maxHeldRequests} more requests without reading the answers`));
    }
    if (!this.env.budget.reserve(message.length)) {
      return this.fail(new WorkdError(Code.RESOURCE_EXHAUSTED, `the node holds too much unfinished request data (limit ${this.env.budget.limit} bytes); read the answers, or retry later`));
    }
    this.heldBytes += message.length;
    this.held.push(message);
  }

  protected halfClosed(): void {
    if (this.blocked || this.held.length > 0) this.halfClosePending = true;
    else this.stream?.halfClose();
  }

  private drained(): void {
    this.blocked = false;
    while (!this.blocked && !this.done && this.held.length > 0) {
      const m = this.held.shift()!;
      this.heldBytes -= m.length;
      this.env.budget.release(m.length);
      this.stream?.message(m);
    }
    if (!this.blocked && !this.done && this.held.length === 0 && this.halfClosePending) {
      this.halfClosePending = false;
      this.stream?.halfClose();
    }
  }

  protected override onSettled(): void {
    super.onSettled();
    this.env.budget.release(this.heldBytes);
    this.heldBytes = 0;
    this.held.length = 0;
  }
}
