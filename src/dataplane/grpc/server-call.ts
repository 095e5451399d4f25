// One gRPC call on the server side, over any transport: the response half
// (headers once, messages, status in trailers or trailers-only) and the
// deadline. Subclasses decide what the request messages go to: a guest
// (unary) or a built-in service (any streaming shape).
import type { MetadataEntry } from '../../wasm/api.js';
import { boundedMessage, Code, WorkdError } from '../../errors.js';
import type { OutgoingFields, UniversalResponse } from '../universal.js';
import { ACCEPT_ENCODING, CONTENT_TYPE, HDR_ACCEPT_ENCODING, HDR_CONTENT_TYPE, HDR_ENCODING, HDR_MESSAGE, HDR_STATUS, HTTP_OK } from './constants.js';
import { addMetadata, percentEncode } from './metadata.js';
import type { Encoding } from './compression.js';
import type { ByteBudget } from './budget.js';

/** grpc-message: cut to the same bound as the CRI's (it often echoes what the client sent), then percent-encoded. */
function wireMessage(message: string): string {
  return percentEncode(boundedMessage(message));
}

/** Shared, never-mutated header objects (node:http2 copies what it is given). */
export class ResponseFields {
  identity: OutgoingFields = {};
  gzip: OutgoingFields = {};
  deflate: OutgoingFields = {};
  okTrailers: OutgoingFields = { [HDR_STATUS]: '0' };
  private extra: OutgoingFields = {};

  constructor() {
    this.rebuild();
  }

  /** Fields added to every response's headers (e.g. `alt-svc` once HTTP/3 listens). */
  setExtra(name: string, value: string | undefined): void {
    const next = { ...this.extra };
    if (value === undefined) delete next[name];
    else next[name] = value;
    this.extra = next;
    this.rebuild();
  }

  headersFor(encoding: Encoding): OutgoingFields {
    return encoding === 'identity' ? this.identity : encoding === 'gzip' ? this.gzip : this.deflate;
  }

  /** Trailers-only: HTTP headers and status in one HEADERS frame. */
  trailersOnly(code: number, message: string, metadata?: readonly MetadataEntry[]): OutgoingFields {
    const f: OutgoingFields = { ...this.extra, [HDR_CONTENT_TYPE]: CONTENT_TYPE, [HDR_ACCEPT_ENCODING]: ACCEPT_ENCODING };
    if (metadata !== undefined) addMetadata(f, metadata);
    f[HDR_STATUS] = String(code);
    if (message !== '') f[HDR_MESSAGE] = wireMessage(message);
    return f;
  }

  private rebuild(): void {
    const base = { ...this.extra, [HDR_CONTENT_TYPE]: CONTENT_TYPE, [HDR_ACCEPT_ENCODING]: ACCEPT_ENCODING };
    this.identity = Object.freeze({ ...base }) as OutgoingFields;
    this.gzip = Object.freeze({ ...base, [HDR_ENCODING]: 'gzip' }) as OutgoingFields;
    this.deflate = Object.freeze({ ...base, [HDR_ENCODING]: 'deflate' }) as OutgoingFields;
    this.okTrailers = Object.freeze({ [HDR_STATUS]: '0' }) as OutgoingFields;
  }
}

export interface CallEnv {
  readonly fields: ResponseFields;
  readonly maxMessageBytes: number;
  /** Requests a built-in streaming call holds while its client does not read the answers. */
  readonly maxHeldRequests: number;
  /** Node-wide cap on request bytes held by incomplete calls. */
  readonly budget: ByteBudget;
  /** Called exactly once when the call is over (answered or aborted). */
  readonly onFinished: () => void;
}

export abstract class ServerCall {
  /** True once the status went out or the stream is gone. */
  done = false;
  protected headersSent = false;
  private timer: NodeJS.Timeout | null = null;
  private controller: AbortController | null = null;

  constructor(
    protected readonly res: UniversalResponse,
    protected readonly env: CallEnv,
  ) {}

  /** Absolute deadline in performance.now() milliseconds, when the client set one. */
  deadline: number | undefined = undefined;

  /** Aborted on deadline, peer reset or shutdown. Created on first use. */
  get signal(): AbortSignal {
    this.controller ??= takeController();
    return this.controller.signal;
  }

  startDeadline(timeoutMs: number): void {
    // setTimeout clamps above 2^31-1 ms; such deadlines are effectively none.
    if (timeoutMs > 0x7fffffff) return;
    this.deadline = performance.now() + timeoutMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fail(new WorkdError(Code.DEADLINE_EXCEEDED, `deadline of ${formatMs(timeoutMs)} exceeded`));
    }, timeoutMs);
  }

  protected sendHeadersOnce(encoding: Encoding): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.res.sendHeaders(HTTP_OK, this.env.fields.headersFor(encoding));
  }

  /** Ends the call with a status; trailers-only when no headers went out yet. */
  finish(code: number, message: string, metadata?: readonly MetadataEntry[]): void {
    if (this.done) return;
    this.settle();
    if (!this.headersSent) {
      this.res.sendTrailersOnly(HTTP_OK, this.env.fields.trailersOnly(code, message, metadata));
      return;
    }
    if (code === 0 && message === '' && (metadata === undefined || metadata.length === 0)) {
      this.res.sendTrailers(this.env.fields.okTrailers);
      return;
    }
    const t: OutgoingFields = {};
    if (metadata !== undefined) addMetadata(t, metadata);
    t[HDR_STATUS] = String(code);
    if (message !== '') t[HDR_MESSAGE] = wireMessage(message);
    this.res.sendTrailers(t);
  }

  /** Ends the call with an error status and cancels any work still running for it. */
  fail(err: WorkdError): void {
    if (this.done) return;
    this.cancelWork();
    this.finish(err.code, err.message);
  }

  /** The transport lost the stream: stop the work, send nothing. */
  abort(): void {
    if (this.done) return;
    this.cancelWork();
    this.settle();
  }

  private cancelWork(): void {
    const c = this.controller;
    if (c !== null && !c.signal.aborted) c.abort();
  }

  /** Called once when the call ends, to give back what it holds. */
  protected onSettled(): void {}

  private settle(): void {
    this.done = true;
    this.onSettled();
    const c = this.controller;
    if (c !== null && !c.signal.aborted) {
      // Never aborted: reusable. Creating an AbortSignal is a large share of a call's cost.
      this.controller = null;
      giveController(c);
    }
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.env.onFinished();
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(3)}s` : `${Math.round(ms * 1000) / 1000}ms`;
}

// Free list of AbortControllers whose signal never fired. Whoever listened on a
// signal removes its listener when its call ends (the executor does), so a
// reused signal carries no stale listeners; a stale one would only see a
// spurious abort of work that already finished.
const FREE_MAX = 4096;
const free: AbortController[] = [];

function takeController(): AbortController {
  return free.pop() ?? new AbortController();
}

function giveController(c: AbortController): void {
  if (free.length < FREE_MAX) free.push(c);
}
