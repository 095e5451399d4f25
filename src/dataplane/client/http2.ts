// The HTTP/2 client transport (TLS with ALPN h2, or h2c).
import http2 from 'node:http2';
import { isIP } from 'node:net';
import zlib from 'node:zlib';
import { Code, WorkdError } from '../../errors.js';
import { ACCEPT_ENCODING } from '../grpc/constants.js';
import { encodeMessage, MessageDecoder } from '../grpc/framing.js';
import { percentDecode } from '../grpc/metadata.js';
import { formatTimeout } from '../grpc/timeout.js';
import { hostOf } from '../router.js';
import type { ClientCallOptions, ClientCallResult, GrpcTransport, TransportTarget } from './transport.js';

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** gRPC's mapping of HTTP statuses when a response carries no grpc-status. */
export function httpStatusToCode(status: number): number {
  switch (status) {
    case 400: return Code.INTERNAL;
    case 401: return Code.UNAUTHENTICATED;
    case 403: return Code.PERMISSION_DENIED;
    case 404: return Code.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return Code.UNAVAILABLE;
    default: return Code.UNKNOWN;
  }
}

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
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-accept-encoding': ACCEPT_ENCODING,
          'user-agent': 'workd-call',
        };
        if (opts.timeoutMs !== undefined) headers['grpc-timeout'] = formatTimeout(opts.timeoutMs);
        for (const [k, v] of opts.metadata ?? []) {
          const text = typeof v === 'string' ? v : Buffer.from(v).toString('base64');
          const prev = headers[k];
          headers[k] = prev === undefined ? text : [...(Array.isArray(prev) ? prev : [String(prev)]), text];
        }
        const req = session.request(headers);
        let resHeaders: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        const messages: Uint8Array[] = [];
        let frameError: WorkdError | undefined;
        let encoding = 'identity';
        const decoder = new MessageDecoder(
          {
            onMessage: (compressed, m) => {
              if (!compressed) return void messages.push(Uint8Array.from(m));
              try {
                messages.push(encoding === 'gzip' ? zlib.gunzipSync(m) : zlib.inflateSync(m));
              } catch (err) {
                frameError ??= new WorkdError(Code.INTERNAL, `cannot decompress a ${encoding} response message: ${(err as Error).message}`);
              }
            },
            onFrameError: (e) => (frameError ??= e),
          },
          MAX_RESPONSE_BYTES,
        );
        let timer: NodeJS.Timeout | undefined;
        if (opts.timeoutMs !== undefined) {
          // A little slack so the server's DEADLINE_EXCEEDED, with its message, usually arrives first.
          timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), opts.timeoutMs + 1000);
        }
        req.on('response', (h) => {
          resHeaders = h;
          encoding = String(h['grpc-encoding'] ?? 'identity');
        });
        req.on('trailers', (t) => (trailers = t));
        req.on('data', (c: Buffer) => decoder.push(c));
        req.on('error', (err) => {
          clearTimeout(timer);
          reject(new WorkdError(Code.UNAVAILABLE, `call ${path} failed: ${err.message}`));
        });
        req.on('close', () => {
          clearTimeout(timer);
          const src = trailers['grpc-status'] !== undefined ? trailers : resHeaders;
          let status: number;
          let message: string;
          if (src['grpc-status'] !== undefined) {
            status = Number(src['grpc-status']);
            message = percentDecode(String(src['grpc-message'] ?? ''));
          } else if (Number(resHeaders[':status'] ?? 200) !== 200) {
            status = httpStatusToCode(Number(resHeaders[':status']));
            message = `HTTP status ${resHeaders[':status']}`;
          } else if (req.rstCode === http2.constants.NGHTTP2_CANCEL && opts.timeoutMs !== undefined) {
            status = Code.DEADLINE_EXCEEDED;
            message = `no answer within ${opts.timeoutMs} ms`;
          } else {
            status = Code.INTERNAL;
            message = `stream closed without a gRPC status (RST_STREAM code ${req.rstCode})`;
          }
          if (status === 0 && frameError !== undefined) {
            status = frameError.code;
            message = frameError.message;
          }
          resolve({ status, message, headers: resHeaders, trailers, messages });
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
