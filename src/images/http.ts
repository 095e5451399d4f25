// The registry client's HTTP transport: node:http/https with keep-alive
// agents. Not fetch: fetch's web streams cost about twice the CPU per byte on
// a blob download, and pull throughput is measured (bench/images).
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { fixedLimit } from '../limits.js';

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

const IDLE_TIMEOUT_MS = fixedLimit('imagesIdleTimeoutMs');
const MAX_REDIRECTS = fixedLimit('imagesMaxRedirects');

export interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  /** The URL that answered (after redirects). */
  readonly url: string;
  header(name: string): string | undefined;
  /** The body as chunks; iterating it throws when the connection breaks. */
  readonly body: AsyncIterable<Uint8Array>;
  bytes(limit?: number): Promise<Buffer>;
  text(): Promise<string>;
  /** Drops the body (the connection goes back to the pool when possible). */
  discard(): void;
}

class NodeResponse implements HttpResponse {
  constructor(
    private readonly res: IncomingMessage,
    readonly url: string,
  ) {
    // A reader of the body sees errors through its iterator; without one, a reset must not crash the process.
    res.on('error', () => {});
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  header(name: string): string | undefined {
    const v = this.res.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  get body(): AsyncIterable<Uint8Array> {
    return this.res;
  }

  async bytes(limit = Infinity): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of this.res as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > limit) {
        this.res.destroy();
        throw new RangeError(`body larger than ${limit} bytes`);
      }
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }

  async text(): Promise<string> {
    return (await this.bytes(1 << 20)).toString('utf8');
  }

  discard(): void {
    this.res.resume();
  }
}

/** Errors carry node's `code` (ECONNREFUSED, ECONNRESET, ETIMEDOUT, …). */
export function httpRequest(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: Uint8Array },
  redirects = MAX_REDIRECTS,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const agent = agents[u.protocol as keyof typeof agents];
    if (!agent) {
      reject(Object.assign(new Error(`unsupported URL scheme ${u.protocol}`), { code: 'ERR_INVALID_URL' }));
      return;
    }
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = String(init.body.length);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method: init.method, headers, agent }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (location && [301, 302, 303, 307, 308].includes(status)) {
        res.resume();
        if (redirects <= 0) {
          reject(Object.assign(new Error(`too many redirects from ${url}`), { code: 'ERR_TOO_MANY_REDIRECTS' }));
          return;
        }
        const next = new URL(location, u);
        const h = { ...init.headers };
        // Credentials for the registry are not handed to wherever it redirects (e.g. a storage bucket).
        if (next.origin !== u.origin) delete h.authorization;
        const keepBody = status === 307 || status === 308;
        const method = keepBody || init.method === 'HEAD' ? init.method : 'GET';
        httpRequest(next.toString(), { method, headers: h, body: keepBody ? init.body : undefined }, redirects - 1).then(resolve, reject);
        return;
      }
      resolve(new NodeResponse(res, url));
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(init.body);
  });
}
