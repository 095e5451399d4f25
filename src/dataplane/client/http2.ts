// The HTTP/2 client transport (TLS with ALPN h2, or h2c).
import http2 from 'node:http2';
import { isIP } from 'node:net';
import { Code, WorkdError } from '../../errors.js';
import { ACCEPT_ENCODING, CONTENT_TYPE, HDR_ACCEPT_ENCODING, HDR_CONTENT_TYPE, HDR_TE, HDR_TIMEOUT, TE_TRAILERS } from '../grpc/constants.js';
import { encodeMessage } from '../grpc/framing.js';
import { formatTimeout } from '../grpc/timeout.js';
import { ResponseReader } from './validate-response.js';
import { hostOf } from '../authority.js';
import type { ClientCallOptions, ClientCallResult, GrpcTransport, TransportTarget } from './transport.js';

export async function connectHttp2(target: TransportTarget): Promise<GrpcTransport> {
  const scheme = target.plaintext ? 'http' : 'https';
  const authority = target.authority ?? target.address;
  const sniHost = target.servername ?? hostOf(authority);
  const session = http2.connect(`${scheme}://${target.address}`, {
    rejectUnauthorized: !target.insecure,
    ca: target.ca,
    servername: isIP(sniHost) === 0 ? sniHost : undefined,
    ALPNProtocols: ['h2'],
  });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', (err) => reject(new WorkdError(Code.UNAVAILABLE, `cannot connect to ${target.address}: ${err.message}`)));
  });
  session.on('error', () => {});

  return {
    call(path: string, requests: readonly Uint8Array[], opts: ClientCallOptions = {}): Promise<ClientCallResult> {
      return new Promise((resolve, reject) => {
        const headers: http2.OutgoingHttpHeaders = {
          ':method': 'POST',
          ':path': path,
          ':authority': authority,
          [HDR_CONTENT_TYPE]: CONTENT_TYPE,
          [HDR_TE]: TE_TRAILERS,
          [HDR_ACCEPT_ENCODING]: ACCEPT_ENCODING,
          'user-agent': 'workd-call',
        };
        if (opts.timeoutMs !== undefined) headers[HDR_TIMEOUT] = formatTimeout(opts.timeoutMs);
        for (const [k, v] of opts.metadata ?? []) {
          const text = typeof v === 'string' ? v : Buffer.from(v).toString('base64');
          const prev = headers[k];
          headers[k] = prev === undefined ? text : [...(Array.isArray(prev) ? prev : [String(prev)]), text];
        }
        const req = session.request(headers);
        let resHeaders: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        const reader = new ResponseReader();
        let timer: NodeJS.Timeout | undefined;
        if (opts.timeoutMs !== undefined) {
          // A little slack so the server's DEADLINE_EXCEEDED, with its message, usually arrives first.
          timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), opts.timeoutMs + 1000);
        }
        const onAbort = () => req.close(http2.constants.NGHTTP2_CANCEL);
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        req.on('response', (h) => {
          resHeaders = h;
          reader.head(Number(h[':status'] ?? 0), h);
        });
        req.on('trailers', (t) => (trailers = t));
        req.on('data', (c: Buffer) => reader.data(c));
        req.on('error', (err) => {
          clearTimeout(timer);
          reject(new WorkdError(Code.UNAVAILABLE, `call ${path} failed: ${err.message}`));
        });
        req.on('close', () => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          const timedOut = req.rstCode === http2.constants.NGHTTP2_CANCEL && opts.timeoutMs !== undefined;
          const r = reader.finish(
            trailers,
            timedOut
              ? { code: Code.DEADLINE_EXCEEDED, message: `no answer within ${opts.timeoutMs} ms` }
              : { code: Code.INTERNAL, message: `stream closed without a gRPC status (RST_STREAM code ${req.rstCode})` },
          );
          resolve({ status: r.code, message: r.message, headers: resHeaders, trailers, messages: r.messages });
        });
        for (const r of requests) req.write(encodeMessage(r));
        req.end();
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        if (session.closed || session.destroyed) return resolve();
        session.close(() => resolve());
      });
    },
  };
}
