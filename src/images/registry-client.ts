// A client of the registry HTTP API v2 (the OCI distribution spec) on
// node:http (./http.ts): manifests and blobs for pull, uploads for push, with the
// `WWW-Authenticate: Bearer` token flow and basic auth. Every failure becomes a
// WorkdError whose code a kubelet (or a user) can act on.
import { Code, WorkdError } from '../errors.js';
import { sha256Digest } from './digest.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { apiHost, isLoopbackRegistry, type ImageReference } from './reference.js';
import type { BlobSource } from './content-store.js';
import { httpRequest, type HttpResponse } from './http.js';

/** Credentials as the CRI AuthConfig carries them. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64 of `username:password` (docker config style). */
  auth?: string;
  /** An OAuth2 refresh token, exchanged at the token server. */
  identityToken?: string;
  /** A bearer token sent to the registry as is. */
  registryToken?: string;
}

/** CRI `AuthConfig` (snake_case, empty strings for unset) → RegistryAuth; undefined when it carries nothing. */
export function authFromCri(a: { username?: string; password?: string; auth?: string; identity_token?: string; registry_token?: string } | null | undefined): RegistryAuth | undefined {
  if (!a) return undefined;
  const out: RegistryAuth = {};
  if (a.username) out.username = a.username;
  if (a.password) out.password = a.password;
  if (a.auth) out.auth = a.auth;
  if (a.identity_token) out.identityToken = a.identity_token;
  if (a.registry_token) out.registryToken = a.registry_token;
  return Object.keys(out).length ? out : undefined;
}

function basicCredentials(auth: RegistryAuth | undefined): string | undefined {
  if (!auth) return undefined;
  if (auth.username !== undefined || auth.password !== undefined) {
    return Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64');
  }
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    if (!decoded.includes(':')) throw new WorkdError(Code.INVALID_ARGUMENT, 'auth: the base64 `auth` field does not decode to username:password');
    return Buffer.from(decoded).toString('base64');
  }
  return undefined;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (one challenge; the first if several). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface RegistryClientOptions {
  /** Registries (host[:port]) reached over plain HTTP. Loopback registries always are. */
  insecureRegistries: readonly string[];
  /** registry host → mirror endpoints (`http(s)://host[:port]`) tried in order before the registry itself. */
  mirrors?: Readonly<Record<string, readonly string[]>>;
  userAgent?: string;
  /** Largest manifest or index accepted (limits.imagesMaxManifestBytes). Default 4 MiB. */
  maxManifestBytes?: number;
}

export interface ManifestResponse {
  bytes: Uint8Array;
  /** Computed from the bytes (and checked against Docker-Content-Digest and a digest reference). */
  digest: string;
  mediaType: string | undefined;
}

type Action = 'pull' | 'pull,push';

/** Turns a failed fetch (refused, reset, DNS) into UNAVAILABLE naming the registry. */
function networkError(err: unknown, what: string): WorkdError {
  if (err instanceof WorkdError) return err;
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const detail = [e.code, e.message].filter(Boolean).join(' ') || e.cause?.code || e.cause?.message || String(err);
  return new WorkdError(Code.UNAVAILABLE, `${what}: ${detail}`, { cause: err });
}

async function registryMessage(res: HttpResponse): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[]; details?: string; error?: string };
    if (body.errors?.length) return body.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    if (body.details) return body.details;
    if (body.error) return body.error;
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 300) || `HTTP ${res.status}`;
}

export class RegistryClient {
  private readonly insecure: Set<string>;
  private readonly userAgent: string;
  /** Bearer tokens by registry + scope + credentials, reused until they expire. */
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  private readonly mirrors: Readonly<Record<string, readonly string[]>>;

  /** @internal read by Repository.manifest */
  readonly maxManifestBytes: number;

  constructor(opts: RegistryClientOptions) {
    this.maxManifestBytes = opts.maxManifestBytes ?? 4 * 1024 * 1024;
    this.insecure = new Set(opts.insecureRegistries);
    this.mirrors = opts.mirrors ?? {};
    this.userAgent = opts.userAgent ?? 'workd';
  }

  baseUrl(registry: string): string {
    const plain = this.insecure.has(registry) || isLoopbackRegistry(registry);
    return `${plain ? 'http' : 'https'}://${apiHost(registry)}`;
  }

  repository(ref: ImageReference, auth: RegistryAuth | undefined, action: Action = 'pull'): Repository {
    return new Repository(this, ref.registry, ref.repository, auth, action);
  }

  /**
   * @internal
   * A pull goes to the registry's mirrors first, in order, as containerd's
   * `registry.mirrors` do: a mirror that is unreachable, lacks the content
   * (404) or fails (5xx) hands the request on to the next, the registry last.
   */
  async request(
    repo: Repository,
    method: string,
    pathOrUrl: string,
    init: { headers?: Record<string, string>; body?: Uint8Array; what: string },
  ): Promise<HttpResponse> {
    const absolute = pathOrUrl.startsWith('http://') || pathOrUrl.startsWith('https://');
    const mirrors = absolute || repo.action !== 'pull' ? [] : (this.mirrors[repo.registry] ?? []);
    for (const mirror of mirrors) {
      try {
        const res = await this.requestAt(mirror, repo, method, pathOrUrl, init);
        if (res.status !== 404 && res.status < 500) return res;
        res.discard();
      } catch (err) {
        if (!(err instanceof WorkdError) || err.code !== Code.UNAVAILABLE) throw err;
      }
    }
    return this.requestAt(absolute ? '' : this.baseUrl(repo.registry), repo, method, pathOrUrl, init);
  }

  private async requestAt(
    base: string,
    repo: Repository,
    method: string,
    pathOrUrl: string,
    init: { headers?: Record<string, string>; body?: Uint8Array; what: string },
  ): Promise<HttpResponse> {
    const url = `${base}${pathOrUrl}`;
    const scope = `repository:${repo.name}:${repo.action}`;
    const basic = basicCredentials(repo.auth);
    const tokenKey = `${base}|${repo.registry}|${scope}|${basic ?? ''}|${repo.auth?.identityToken ?? ''}`;
    const send = async (authorization: string | undefined): Promise<HttpResponse> => {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...init.headers };
      if (authorization) headers.authorization = authorization;
      try {
        return await httpRequest(url, { method, headers, body: init.body });
      } catch (err) {
        throw networkError(err, `${init.what}: registry ${repo.registry}${base && base !== this.baseUrl(repo.registry) ? ` (mirror ${base})` : ''} is unreachable`);
      }
    };
    let authorization: string | undefined;
    const cached = this.tokens.get(tokenKey);
    if (repo.auth?.registryToken) authorization = `Bearer ${repo.auth.registryToken}`;
    else if (cached && cached.expires > Date.now()) authorization = `Bearer ${cached.token}`;
    else if (repo.basicKnown && basic) authorization = `Basic ${basic}`;
    let res = await send(authorization);
    if (res.status !== 401) return res;
    const challenge = parseChallenge(res.header('www-authenticate') ?? '');
    if (!challenge || authorization?.startsWith('Bearer ') && repo.auth?.registryToken) return res;
    if (challenge.scheme === 'basic') {
      if (!basic || authorization) return res;
      res.discard();
      repo.basicKnown = true;
      res = await send(`Basic ${basic}`);
      return res;
    }
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return res;
    // A cached token may have expired or lack a scope this request needs: one fresh token is asked for.
    res.discard();
    const token = await this.fetchToken(repo, challenge.params, scope, basic, init.what);
    this.tokens.set(tokenKey, { token: token.token, expires: Date.now() + Math.max(10, token.expiresIn - 10) * 1000 });
    return send(`Bearer ${token.token}`);
  }

  private async fetchToken(
    repo: Repository,
    params: Record<string, string>,
    scope: string,
    basic: string | undefined,
    what: string,
  ): Promise<{ token: string; expiresIn: number }> {
    const realm = params.realm!;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new WorkdError(Code.UNAVAILABLE, `${what}: registry ${repo.registry} names a malformed token realm ${JSON.stringify(realm)}`);
    }
    // Our scope (pull, or pull+push) and whatever the registry asked for, so one token serves both.
    const scopes = [...new Set([scope, ...(params.scope ? params.scope.split(' ') : [])])];
    let res: HttpResponse;
    try {
      if (repo.auth?.identityToken) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: repo.auth.identityToken, client_id: this.userAgent, scope: scopes.join(' ') });
        if (params.service) form.set('service', params.service);
        res = await httpRequest(url.toString(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': this.userAgent }, body: Buffer.from(form.toString()) });
      } else {
        if (params.service) url.searchParams.set('service', params.service);
        for (const sc of scopes) url.searchParams.append('scope', sc);
        const headers: Record<string, string> = { 'user-agent': this.userAgent };
        if (basic) headers.authorization = `Basic ${basic}`;
        res = await httpRequest(url.toString(), { method: 'GET', headers });
      }
    } catch (err) {
      throw networkError(err, `${what}: token server ${url.origin} of registry ${repo.registry} is unreachable`);
    }
    if (res.status === 401) throw new WorkdError(Code.UNAUTHENTICATED, `${what}: token server of ${repo.registry} refused the credentials: ${await registryMessage(res)}`);
    if (res.status === 403) throw new WorkdError(Code.PERMISSION_DENIED, `${what}: token server of ${repo.registry} denied access: ${await registryMessage(res)}`);
    if (!res.ok) throw new WorkdError(Code.UNAVAILABLE, `${what}: token server of ${repo.registry} answered HTTP ${res.status}: ${await registryMessage(res)}`);
    let body: { token?: string; access_token?: string; expires_in?: number } = {};
    try {
      body = JSON.parse(await res.text()) as typeof body;
    } catch {
      /* no token below */
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new WorkdError(Code.UNAVAILABLE, `${what}: token server of ${repo.registry} returned no token`);
    return { token, expiresIn: typeof body.expires_in === 'number' ? body.expires_in : 60 };
  }
}

/** Maps a non-2xx registry answer to a WorkdError carrying the registry's own message. */
export async function statusError(res: HttpResponse, what: string, registry: string, sentCredentials: boolean): Promise<WorkdError> {
  const msg = await registryMessage(res);
  const challenge = parseChallenge(res.header('www-authenticate') ?? '');
  switch (res.status) {
    case 401:
      if (sentCredentials && challenge?.params.error === 'insufficient_scope') {
        return new WorkdError(Code.PERMISSION_DENIED, `${what}: registry ${registry} denied access: ${msg}`);
      }
      return new WorkdError(
        Code.UNAUTHENTICATED,
        `${what}: registry ${registry} requires authentication${sentCredentials ? ' and refused the credentials' : ' and none were given'}: ${msg}`,
      );
    case 403:
      return new WorkdError(Code.PERMISSION_DENIED, `${what}: registry ${registry} denied access: ${msg}`);
    case 404:
      return new WorkdError(Code.NOT_FOUND, `${what}: not found in registry ${registry}: ${msg}`);
    case 429:
      return new WorkdError(Code.UNAVAILABLE, `${what}: registry ${registry} is rate limiting: ${msg}`);
    default:
      if (res.status >= 500) return new WorkdError(Code.UNAVAILABLE, `${what}: registry ${registry} answered HTTP ${res.status}: ${msg}`);
      return new WorkdError(Code.UNKNOWN, `${what}: registry ${registry} answered HTTP ${res.status}: ${msg}`);
  }
}

/** One repository of one registry, with the caller's credentials. */
export class Repository {
  /** Set once the registry asked for basic auth, so later requests send it up front. */
  basicKnown = false;

  constructor(
    private readonly client: RegistryClient,
    readonly registry: string,
    readonly name: string,
    readonly auth: RegistryAuth | undefined,
    readonly action: Action,
  ) {}

  private get hasCredentials(): boolean {
    return this.auth !== undefined;
  }

  private async ok(res: HttpResponse, what: string): Promise<HttpResponse> {
    if (res.ok) return res;
    throw await statusError(res, what, this.registry, this.hasCredentials);
  }

  /** GET (or HEAD) a manifest or index by tag or digest, negotiating media types by Accept. */
  async manifest(reference: string): Promise<ManifestResponse> {
    const what = `manifest ${this.registry}/${this.name}:${reference}`.replace(':sha256:', '@sha256:');
    const res = await this.ok(
      await this.client.request(this, 'GET', `/v2/${this.name}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT }, what }),
      what,
    );
    let bytes: Uint8Array;
    try {
      bytes = await res.bytes(this.client.maxManifestBytes);
    } catch (err) {
      if (err instanceof RangeError) throw new WorkdError(Code.INVALID_ARGUMENT, `${what} is larger than ${this.client.maxManifestBytes} bytes ([images] max_manifest_bytes)`);
      throw networkError(err, `${what}: the download broke off`);
    }
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new WorkdError(Code.DATA_LOSS, `${what}: the registry served a manifest whose digest is ${digest}`);
    }
    return { bytes, digest, mediaType: res.header('content-type') };
  }

  /** The digest a tag points at now (HEAD; no body), or undefined when the registry does not say. */
  async manifestDigest(reference: string): Promise<string | undefined> {
    const what = `manifest ${this.registry}/${this.name}:${reference}`;
    const res = await this.ok(
      await this.client.request(this, 'HEAD', `/v2/${this.name}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT }, what }),
      what,
    );
    res.discard();
    return res.header('docker-content-digest');
  }

  /** Opens a blob download; the content store verifies size and digest while writing. */
  async blob(digest: string): Promise<BlobSource> {
    const what = `blob ${digest} of ${this.registry}/${this.name}`;
    const res = await this.ok(await this.client.request(this, 'GET', `/v2/${this.name}/blobs/${digest}`, { what }), what);
    const body = res.body;
    return {
      origin: `${this.registry}/${this.name}`,
      chunks: (async function* () {
        try {
          for await (const chunk of body) yield chunk;
        } catch (err) {
          throw networkError(err, `${what}: the download broke off`);
        }
      })(),
    };
  }

  async hasBlob(digest: string): Promise<boolean> {
    const what = `blob ${digest} of ${this.registry}/${this.name}`;
    const res = await this.client.request(this, 'HEAD', `/v2/${this.name}/blobs/${digest}`, { what });
    if (res.status === 404) {
      res.discard();
      return false;
    }
    (await this.ok(res, what)).discard();
    return true;
  }

  /**
   * Uploads a blob: one PUT when it is at most `chunkSize`, otherwise PATCH
   * chunks then the closing PUT. `read(offset, length)` supplies the bytes.
   */
  async pushBlob(
    digest: string,
    size: number,
    read: (offset: number, length: number) => Promise<Uint8Array>,
    opts: { chunkSize?: number; progress?: (done: number) => void } = {},
  ): Promise<void> {
    const what = `upload of blob ${digest} to ${this.registry}/${this.name}`;
    const chunkSize = opts.chunkSize ?? 16 * 1024 * 1024;
    const start = await this.ok(await this.client.request(this, 'POST', `/v2/${this.name}/blobs/uploads/`, { headers: { 'content-length': '0' }, what }), what);
    let location = this.resolveLocation(start, what);
    const withDigest = (loc: string) => {
      const u = new URL(loc);
      u.searchParams.set('digest', digest);
      return u.toString();
    };
    if (size <= chunkSize) {
      const body = await read(0, size);
      (
        await this.ok(
          await this.client.request(this, 'PUT', withDigest(location), { headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body, what }),
          what,
        )
      ).discard();
      opts.progress?.(size);
      return;
    }
    for (let offset = 0; offset < size; offset += chunkSize) {
      const len = Math.min(chunkSize, size - offset);
      const body = await read(offset, len);
      const res = await this.ok(
        await this.client.request(this, 'PATCH', location, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(len), 'content-range': `${offset}-${offset + len - 1}` },
          body,
          what,
        }),
        what,
      );
      location = this.resolveLocation(res, what);
      opts.progress?.(offset + len);
    }
    (await this.ok(await this.client.request(this, 'PUT', withDigest(location), { headers: { 'content-length': '0' }, what }), what)).discard();
  }

  private resolveLocation(res: HttpResponse, what: string): string {
    res.discard();
    const loc = res.header('location');
    if (!loc) throw new WorkdError(Code.UNAVAILABLE, `${what}: the registry gave no upload location`);
    return new URL(loc, this.client.baseUrl(this.registry)).toString();
  }

  async putManifest(reference: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    const what = `manifest upload to ${this.registry}/${this.name}:${reference}`;
    const res = await this.ok(
      await this.client.request(this, 'PUT', `/v2/${this.name}/manifests/${reference}`, { headers: { 'content-type': mediaType }, body: bytes, what }),
      what,
    );
    res.discard();
    return res.header('docker-content-digest') ?? sha256Digest(bytes);
  }
}
