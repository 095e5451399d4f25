// A raw node:http2 client for tests that need to send what gRPC libraries
// never send (bad prefixes, wrong content types) and to see exact headers.
import http2 from 'node:http2';

export interface RawResponse {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
}

export function rawRequest(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Uint8Array | Uint8Array[]): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (resHeaders = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ headers: resHeaders, body: Buffer.concat(chunks), trailers }));
    req.on('error', reject);
    for (const b of Array.isArray(body) ? body : [body]) req.write(b);
    req.end();
  });
}

/** The status of a response, trailers-only or not. */
export function grpcStatus(r: RawResponse): { code: number; message: string } {
  const src = r.trailers['grpc-status'] !== undefined ? r.trailers : r.headers;
  return { code: Number(src['grpc-status']), message: decodeURIComponent(String(src['grpc-message'] ?? '')) };
}
