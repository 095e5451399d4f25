// A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution
// 2.8) on a loopback port with its storage in a temp dir. Variants: no auth,
// htpasswd basic auth, and Bearer token auth through a token server written
// here (it signs ES256 JWTs the registry verifies against a self-signed cert).
// Plus a proxy in front of a registry that misbehaves on purpose.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export type RegistryAuthMode = 'none' | 'htpasswd' | 'token';

export interface RegistryOptions {
  auth?: RegistryAuthMode;
  /** username → password (htpasswd and token modes). Default { alice: 'wonderland' }. */
  users?: Record<string, string>;
  /**
   * Token mode: the actions a user (undefined = anonymous) may take on a
   * repository. Default: every known user may pull and push everything; anonymous nothing.
   */
  acl?: (user: string | undefined, repository: string) => string[];
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  readonly host: string;
  readonly dir: string;
  readonly users: Readonly<Record<string, string>>;
  /** Token mode: every token request the token server saw. */
  readonly tokenRequests: Array<{ user: string | undefined; scope: string | null }>;
  stop(): Promise<void>;
}

export function registryAvailable(): boolean {
  return existsSync(REGISTRY_BIN);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr()}`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not come up at ${url}: ${stderr()}`);
}

function htpasswdLine(user: string, password: string): string {
  // bcrypt is what distribution's htpasswd accepts; apache2-utils' htpasswd makes it.
  return execFileSync('htpasswd', ['-nbB', '-C', '4', user, password], { encoding: 'utf8' }).trim();
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const mode = opts.auth ?? 'none';
  const users = opts.users ?? { alice: 'wonderland' };
  const dir = await mkdtemp(join(tmpdir(), 'workd-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const tokenRequests: TestRegistry['tokenRequests'] = [];
  let tokenServer: http.Server | undefined;
  let authYaml = '';
  if (mode === 'htpasswd') {
    await writeFile(join(dir, 'htpasswd'), Object.entries(users).map(([u, p]) => htpasswdLine(u, p)).join('\n') + '\n');
    authYaml = `auth:\n  htpasswd:\n    realm: workd-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (mode === 'token') {
    const t = await startTokenServer(dir, users, opts.acl, tokenRequests);
    tokenServer = t.server;
    authYaml =
      `auth:\n  token:\n    realm: ${t.realm}\n    service: workd-test-registry\n    issuer: workd-test-issuer\n` +
      `    rootcertbundle: ${t.certPath}\n`;
  }
  const config =
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
    `  maintenance:\n    uploadpurging:\n      enabled: false\n` +
    `http:\n  addr: ${host}\n` +
    authYaml;
  await writeFile(join(dir, 'config.yml'), config);
  // Through a shell that kills the registry when our end of its stdin closes,
  // so a test process that dies (even by SIGKILL) leaves no registry behind.
  const child = spawn('/bin/sh', ['-c', '"$0" serve "$1" </dev/null & p=$!; read _; kill $p 2>/dev/null; wait $p', REGISTRY_BIN, join(dir, 'config.yml')], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-4000);
  });
  try {
    await waitReady(`http://${host}/v2/`, child, () => err);
  } catch (e) {
    child.stdin!.end();
    tokenServer?.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    host,
    dir,
    users,
    tokenRequests,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.stdin!.end();
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (tokenServer) await new Promise((r) => tokenServer!.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- the token server (docker's token authentication spec) ----

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

async function startTokenServer(
  dir: string,
  users: Record<string, string>,
  acl: RegistryOptions['acl'],
  log: TestRegistry['tokenRequests'],
): Promise<{ server: http.Server; realm: string; certPath: string }> {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-subj', '/CN=workd-test-token-issuer', '-days', '2',
  ], { stdio: 'ignore' });
  const key: KeyObject = createPrivateKey(await readFile(keyPath));
  const certDer = (await readFile(certPath, 'utf8')).replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const allowed = acl ?? ((user: string | undefined) => (user ? ['pull', 'push'] : []));
  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant (the CRI AuthConfig's identity_token): refresh tokens are `refresh-<user>`.
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const rt = form.get('refresh_token') ?? '';
        const user = form.get('grant_type') === 'refresh_token' && rt.startsWith('refresh-') && users[rt.slice(8)] !== undefined ? rt.slice(8) : undefined;
        const scope = form.get('scope');
        log.push({ user, scope });
        if (!user) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'invalid_grant', details: 'unknown refresh token' }));
          return;
        }
        issue(res, user, form.get('service') ?? '', scope ? scope.split(' ') : []);
      });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    let user: string | undefined;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (users[u!] === undefined || users[u!] !== rest.join(':')) {
        log.push({ user: u, scope: url.searchParams.get('scope') });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: `incorrect username or password for ${u}` }));
        return;
      }
      user = u;
    }
    const scope = url.searchParams.get('scope');
    log.push({ user, scope });
    issue(res, user, url.searchParams.get('service') ?? '', url.searchParams.getAll('scope'));
  });
  const issue = (res: http.ServerResponse, user: string | undefined, service: string, scopes: string[]) => {
    const access: Array<{ type: string; name: string; actions: string[] }> = [];
    for (const scope of scopes) {
      const [type, name, actions] = scope.split(':');
      if (type === 'repository' && name) {
        const ok = allowed(user, name);
        access.push({ type, name, actions: (actions ?? '').split(',').filter((a) => ok.includes(a)) });
      }
    }
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'ES256', typ: 'JWT', x5c: [certDer] };
    const claims = {
      iss: 'workd-test-issuer',
      sub: user ?? '',
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { server, realm: `http://127.0.0.1:${port}/token`, certPath };
}

// ---- a registry that misbehaves on purpose ----

export type Fault =
  | { kind: 'none' }
  /** Serves blobs with one byte flipped (same length). */
  | { kind: 'corrupt'; digest?: string }
  /** Serves half of a blob with an honest, shorter Content-Length. */
  | { kind: 'truncate'; digest?: string }
  /** Sends half of a blob, then drops the connection and stops listening (the registry "goes down"). */
  | { kind: 'die'; digest?: string }
  /** Answers blob GETs with a 307 to the same blob under /redirected/… (served normally). */
  | { kind: 'redirect'; digest?: string };

export interface FaultyProxy {
  /** `127.0.0.1:PORT` in front of the real registry. */
  readonly host: string;
  /** Every request seen: method and path. */
  readonly requests: Array<{ method: string; path: string }>;
  setFault(f: Fault): void;
  /** Listens again on the same port after a `die`. */
  revive(): Promise<void>;
  stop(): Promise<void>;
}

/** Counts GETs of one blob (downloads) among the requests the proxy saw. */
export function blobDownloads(proxy: FaultyProxy, digest: string): number {
  return proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`)).length;
}

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const requests: FaultyProxy['requests'] = [];
  let fault: Fault = { kind: 'none' };
  const sockets = new Set<net.Socket>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ method: req.method ?? 'GET', path });
    const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path)?.[1];
    const active = blob && req.method === 'GET' && fault.kind !== 'none' && (fault.digest === undefined || fault.digest === blob) ? fault : undefined;
    if (active?.kind === 'redirect' && !path.startsWith('/redirected/')) {
      res.writeHead(307, { location: `/redirected${req.url}` });
      res.end();
      return;
    }
    const upstreamPath = (req.url ?? '/').replace(/^\/redirected/, '');
    const damage = active?.kind === 'redirect' ? undefined : active;
    const [thost, tport] = target.split(':');
    const up = http.request({ host: thost, port: Number(tport), method: req.method, path: upstreamPath, headers: req.headers }, (ur) => {
      if (!damage || ur.statusCode !== 200) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        const body = Buffer.concat(chunks);
        const headers = { ...ur.headers };
        if (damage.kind === 'corrupt') {
          body[body.length >> 1] ^= 0xff;
          res.writeHead(200, headers);
          res.end(body);
        } else if (damage.kind === 'truncate') {
          const half = body.subarray(0, body.length >> 1);
          headers['content-length'] = String(half.length);
          res.writeHead(200, headers);
          res.end(half);
        } else {
          res.writeHead(200, headers);
          res.write(body.subarray(0, body.length >> 1), () => {
            server.close();
            for (const s of sockets) s.destroy();
          });
        }
      });
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  };
  let server = http.createServer(handler);
  const track = (s: http.Server) =>
    s.on('connection', (sock: net.Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
  track(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    setFault(f) {
      fault = f;
    },
    async revive() {
      fault = { kind: 'none' };
      if (server.listening) return;
      server = http.createServer(handler);
      track(server);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
    async stop() {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise((r) => server.close(r));
    },
  };
}
