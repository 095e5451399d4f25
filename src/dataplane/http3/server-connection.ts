// The server side of HTTP/3 on one QUIC connection (RFC 9114): our control
// stream, the peer's control and QPACK streams (control.ts), and one
// RequestStream (request-stream.ts) per client-initiated bidirectional
// stream, each handed to the shared gRPC layer.
//
// Errors: H3Error with scope 'stream' resets the one stream; scope
// 'connection' closes the connection with the code (RFC 9114 §8).
import type { Logger } from '../../observability/log.js';
import { AbortReason, type TlsPeer, type UniversalHandler } from '../universal.js';
import { openLocalStreams, PeerStreams, sendGoaway } from './control.js';
import { connectionError, H3Code, H3Error, h3CodeName } from './error-codes.js';
import { Setting } from './frames.js';
import { RequestStream } from './request-stream.js';
import type { QuicConnection, QuicStream } from '../quic/transport.js';
import { IdMap } from '../../util/id-map.js';
import { DEFAULT_LIMITS, type Limits } from '../../limits.js';

/** The limits one HTTP/3 connection enforces (src/limits.ts). */
export type Http3Limits = Pick<Limits, 'http3MaxFieldSectionSize' | 'http3MaxConcurrentRequests' | 'http3MaxControlFrameBytes' | 'http3ResponseBufferBytes'>;

export interface Http3ConnectionOptions {
  readonly handler: UniversalHandler;
  readonly limits?: Http3Limits;
  readonly log?: Logger;
}

export class Http3ServerConnection {
  readonly handler: UniversalHandler;
  readonly log: Logger | undefined;
  /** The connection's TLS facts, handed to every request (per-domain client certificates). */
  readonly tls: TlsPeer;
  readonly maxFieldSectionSize: number;
  /** A response backlog (bytes QUIC has not taken yet) past which sendData() asks the writer to wait for onDrain. */
  readonly responseBufferBytes: number;
  private readonly maxRequests: number;
  /** By stream ID (an IdMap, not a Set: see util/id-map.ts). */
  private readonly requests = new IdMap<RequestStream>();
  private readonly control: QuicStream;
  private readonly peer: PeerStreams;
  /** Client bidi streams with IDs at or above this are refused (after our GOAWAY). */
  private goawayId = Infinity;
  private nextStreamId = 0;
  private closedFlag = false;
  private drained: (() => void) | null = null;
  private peerClosed: (() => void) | null = null;
  /** The peer's SETTINGS, once received. */
  peerSettings: Map<number, number> | null = null;
  /** Called once when the connection is gone, whatever the cause. */
  onClosed: (() => void) | null = null;

  constructor(
    readonly quic: QuicConnection,
    opts: Http3ConnectionOptions,
  ) {
    this.handler = opts.handler;
    this.log = opts.log;
    // With a client CA quiche refuses the handshake of a client without a valid certificate, so one presented was verified.
    this.tls = { serverName: quic.serverName, clientVerified: quic.peerCertified, clientError: quic.peerCertified ? undefined : 'the client presented no certificate' };
    const limits = opts.limits ?? DEFAULT_LIMITS;
    this.maxFieldSectionSize = limits.http3MaxFieldSectionSize;
    this.maxRequests = limits.http3MaxConcurrentRequests;
    this.responseBufferBytes = limits.http3ResponseBufferBytes;
    this.peer = new PeerStreams('server', {
      settings: (s) => {
        this.peerSettings = s;
      },
      goaway: () => {
        // A client's GOAWAY limits pushes; we never push.
      },
      error: (e) => this.fail(e),
    }, limits.http3MaxControlFrameBytes);
    quic.onStream = (s) => this.onStream(s);
    quic.onClose = (code, reason) => this.onQuicClose(code, reason);
    this.control = openLocalStreams(quic, this.maxFieldSectionSize);
  }

  get activeRequests(): number {
    return this.requests.size;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The largest field section the peer takes, if it said (we keep our responses small regardless). */
  get peerMaxFieldSectionSize(): number {
    return this.peerSettings?.get(Setting.MAX_FIELD_SECTION_SIZE) ?? Infinity;
  }

  private onStream(stream: QuicStream): void {
    if (this.closedFlag) return;
    if (!stream.bidirectional) {
      this.peer.accept(stream);
      return;
    }
    if (!stream.peerInitiated || stream.id % 4 !== 0) {
      // Servers never receive server-initiated bidi streams; HTTP/3 has no use for them either way.
      this.fail(connectionError(H3Code.H3_STREAM_CREATION_ERROR, `unexpected bidirectional stream ${stream.id}`));
      return;
    }
    if (stream.id >= this.nextStreamId) this.nextStreamId = stream.id + 4;
    if (stream.id >= this.goawayId || this.requests.size >= this.maxRequests) {
      // Not processed at all, so the client may retry it elsewhere (RFC 9114 §4.1.1).
      stream.onData = null;
      stream.onReset = null;
      stream.reset(H3Code.H3_REQUEST_REJECTED);
      stream.stopSending(H3Code.H3_REQUEST_REJECTED);
      return;
    }
    this.requests.set(stream.id, new RequestStream(this, stream));
  }

  /** The request side finished (FIN) or was abandoned; `gone` when nothing more will be sent either. */
  requestDone(r: RequestStream, gone: boolean): void {
    if (gone || r.finished) this.forget(r);
  }

  /** The answer is complete: the request side no longer matters for accounting or shutdown. */
  responseDone(r: RequestStream): void {
    this.forget(r);
  }

  private forget(r: RequestStream): void {
    const id = r.stream.id;
    if (this.requests.get(id) !== r) return;
    this.requests.delete(id);
    if (this.requests.size === 0 && this.drained) this.drained();
  }

  /** An error while handling one request stream. */
  streamFailed(r: RequestStream, e: unknown): void {
    if (e instanceof H3Error && e.scope === 'stream') {
      this.log?.debug({ stream: r.stream.id, code: h3CodeName(e.code), err: e.message }, 'http3 stream error');
      r.failStream(e.code);
      return;
    }
    if (e instanceof H3Error) return this.fail(e);
    // A bug of ours, not the peer's fault: lose only this stream.
    this.log?.error({ stream: r.stream.id, err: e }, 'http3 request stream failed');
    r.failStream(H3Code.H3_INTERNAL_ERROR);
  }

  /**
   * Something threw outside the QUIC loop's own guard (a response flushed from
   * a microtask): a bug of ours, not the peer's fault, but it ends this
   * connection only.
   */
  contain(e: unknown): void {
    this.log?.error({ remote: this.quic.remoteAddress, err: e }, 'http3: a request stream callback threw; closing its connection');
    this.close(H3Code.H3_INTERNAL_ERROR, 'internal error');
  }

  /** Connection error: close with the code, stop every call. */
  fail(e: H3Error): void {
    if (this.closedFlag) return;
    this.log?.debug({ remote: this.quic.remoteAddress, code: h3CodeName(e.code), err: e.message }, 'http3 connection error');
    this.close(e.code, e.message);
  }

  /** Closes now with `code`; calls in flight are aborted. */
  close(code: number, reason: string): void {
    if (this.closedFlag) return;
    this.teardown(AbortReason.ConnectionClosed);
    this.quic.close(code, reason.slice(0, 200));
  }

  /**
   * Graceful shutdown: GOAWAY (no new requests), let the calls in flight
   * finish for up to graceMs, then close with H3_NO_ERROR. Answers the
   * transport still holds (flow control) would be lost by an immediate
   * CONNECTION_CLOSE, so after the last answer we wait for the client to
   * close (RFC 9114 §5.2: it may once its requests are done) until the grace
   * period ends.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.closedFlag) return;
    const deadline = Date.now() + graceMs;
    if (this.goawayId === Infinity) {
      this.goawayId = this.nextStreamId;
      sendGoaway(this.control, this.goawayId);
    }
    if (this.requests.size > 0) await this.until((wake) => (this.drained = wake), deadline);
    this.drained = null;
    if (this.closedFlag) return;
    await this.until((wake) => (this.peerClosed = wake), deadline);
    this.peerClosed = null;
    if (this.closedFlag) return;
    this.teardown(AbortReason.Shutdown);
    this.quic.close(H3Code.H3_NO_ERROR, 'server shutting down');
  }

  /** Resolves when `arm`'s callback is called or at `deadline`. */
  private until(arm: (wake: () => void) => void, deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      arm(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private onQuicClose(code: number, reason: string): void {
    this.log?.debug({ remote: this.quic.remoteAddress, code: h3CodeName(code), reason }, 'http3 connection closed');
    this.teardown(AbortReason.ConnectionClosed);
  }

  private teardown(reason: AbortReason): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const open = this.requests.values();
    this.requests.clear();
    for (const r of open) r.abortForConnection(reason);
    this.drained?.();
    this.peerClosed?.();
    this.onClosed?.();
  }
}
