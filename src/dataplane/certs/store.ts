// The certificates the data plane serves, picked per connection by the TLS
// server name (SNI) the client asks for:
//
//   1. a certificate from `[dataplane.tls] cert_dir` naming that host (an
//      exact name before a `*.` wildcard; the first directory, by name, when
//      two name the same host);
//   2. with the generated certificate (no `tls_cert` given): one it issued for
//      that host, if the node serves it (tls.ts LocalIssuer);
//   3. the default certificate (`tls_cert`/`tls_key`, or the generated one),
//      which is also what a client that sends no server name gets.
//
// Each is reloaded when its files change: new handshakes get the new one,
// connections open keep theirs. `[dataplane.tls.client_ca]` names, per host
// pattern, a CA bundle whose certificates a client must present for calls to
// those hosts (mTLS); authorize() checks each call.
import { mkdir } from 'node:fs/promises';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { Code, WorkdError } from '../../errors.js';
import { fixedLimit } from '../../limits.js';
import type { Logger } from '../../observability/log.js';
import type { TlsPeer } from '../universal.js';
import type { Http2Tls } from '../http2/listener.js';
import type { QuicTls } from '../quic/transport.js';
import { LocalIssuer, type TlsIdentity } from '../tls.js';
import { CertDirectory } from './cert-dir.js';
import { isDnsName, NameTable, normalizeName } from './names.js';
import { fingerprint, loadCaBundle, loadPair, PairError, type TlsPair } from './pair.js';


/** A host pattern's client CA bundle (mTLS), reloaded in place when its file changes. */
interface ClientCaRule {
  readonly pattern: string;
  readonly path: string;
  pem: Buffer;
  stamp: string | undefined;
  /** Bumped on every reload, so contexts built with the old bundle are not reused. */
  version: number;
}

export interface CertStoreOptions {
  /** The default certificate: configured, or generated (then `issuer` signs per-domain ones with it). */
  readonly fallback: TlsIdentity;
  readonly certDir?: string;
  /** Host pattern → CA bundle path. */
  readonly clientCa?: Readonly<Record<string, string>>;
  /** Whether the node serves a host now (only those get an issued certificate). */
  readonly isServed?: (host: string) => boolean;
  readonly stateDir: string;
  readonly log: Logger;
  /** How often files are checked when no change event came (default 2 s). */
  readonly pollMs?: number;
}

interface Built {
  ctx?: SecureContext;
  quic?: QuicTls;
}

export class CertStore {
  private fallback: TlsPair;
  private readonly fallbackIsGenerated: boolean;
  private readonly dir: CertDirectory | undefined;
  private readonly issued: CertDirectory | undefined;
  private readonly issuer: LocalIssuer | undefined;
  private byName = new NameTable<TlsPair>();
  private readonly rules = new NameTable<ClientCaRule>();
  private readonly ruleList: ClientCaRule[] = [];
  private readonly built = new WeakMap<TlsPair, Map<string, Built>>();
  private readonly servers = new Set<{ setSecureContext(o: SecureContextOptions): void }>();
  private readonly timer: NodeJS.Timeout;
  private polling = false;
  /** Hosts an issue was refused for (not served, failed): not retried on every handshake. */
  private readonly notIssued = new Map<string, number>();

  private constructor(
    private readonly opts: CertStoreOptions,
    fallback: TlsPair,
  ) {
    this.fallback = fallback;
    this.fallbackIsGenerated = opts.fallback.selfSigned;
    const pollMs = opts.pollMs ?? 2000;
    const changed = () => this.rebuild();
    if (opts.certDir !== undefined) this.dir = new CertDirectory(opts.certDir, opts.log, changed, pollMs);
    if (opts.fallback.selfSigned) {
      this.issuer = new LocalIssuer(opts.fallback, opts.stateDir, opts.log);
      this.issued = new CertDirectory(this.issuer.dir, opts.log, changed, pollMs);
    }
    this.timer = setInterval(() => void this.poll(), pollMs);
    this.timer.unref();
  }

  static async open(opts: CertStoreOptions): Promise<CertStore> {
    const id = opts.fallback;
    const fallback: TlsPair = { certPath: id.certPath, keyPath: id.keyPath, cert: id.cert, key: id.key, names: [], notAfter: '', stamp: (await fingerprint(id.certPath, id.keyPath)) ?? '' };
    const store = new CertStore(opts, fallback);
    try {
      for (const [pattern, path] of Object.entries(opts.clientCa ?? {})) {
        const rule: ClientCaRule = { pattern: normalizeName(pattern), path, pem: await loadCaBundle(path), stamp: await fingerprint(path), version: 0 };
        store.rules.add(rule.pattern, rule);
        store.ruleList.push(rule);
      }
      await store.dir?.start();
      if (store.issued !== undefined) {
        await mkdir(store.issued.dir, { recursive: true, mode: 0o700 });
        await store.issued.start();
      }
    } catch (err) {
      store.close();
      if (err instanceof PairError) throw new WorkdError(Code.INVALID_ARGUMENT, `TLS: ${err.message}`);
      throw err;
    }
    store.rebuild();
    return store;
  }

  /** Whether some host needs client certificates: then every TLS handshake asks for one (a client may send none). */
  get requestsClientCerts(): boolean {
    return this.ruleList.length > 0;
  }

  /** The default certificate as node:tls options. */
  get defaultPair(): { cert: Buffer; key: Buffer } {
    return { cert: this.fallback.cert, key: this.fallback.key };
  }

  /** node:tls SNICallback: the context for a server name (issuing one first for a served host, with the generated certificate). */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const name = normalizeName(servername);
    const pair = this.pairFor(name);
    if (pair === this.fallback && this.mayIssue(name)) {
      this.issueFor(name).then(
        () => cb(null, this.context(this.pairFor(name), name)),
        () => cb(null, this.context(this.fallback, name)),
      );
      return;
    }
    cb(null, this.context(pair, name));
  };

  /**
   * The QUIC identity for a server name (undefined: none sent), or 'pending'
   * while a certificate for it is being issued (the caller drops the Initial;
   * the client sends it again).
   */
  readonly quic = (serverName: string | undefined): QuicTls | 'pending' => {
    const name = serverName === undefined ? undefined : normalizeName(serverName);
    const pair = name === undefined ? this.fallback : this.pairFor(name);
    if (name !== undefined && pair === this.fallback && this.mayIssue(name)) {
      void this.issueFor(name).catch(() => undefined);
      return 'pending';
    }
    const rule = name === undefined ? undefined : this.rules.get(name);
    const b = this.builtFor(pair, rule);
    // One object per choice: the QUIC layer builds one quiche config per object.
    b.quic ??= { certPem: pair.cert, keyPem: pair.key, ...(rule !== undefined ? { caPem: rule.pem } : {}) };
    return b.quic;
  };

  /** What the HTTP/2 listener is given. */
  http2(): Http2Tls {
    return { ...this.defaultPair, sniCallback: this.sniCallback, requestCert: this.requestsClientCerts, attach: (s) => this.attach(s) };
  }

  /** Registers a node:tls server to get the default certificate again when it changes; returns the undo. */
  attach(server: { setSecureContext(o: SecureContextOptions): void }): () => void {
    this.servers.add(server);
    return () => this.servers.delete(server);
  }

  /**
   * Undefined when the call may go on; otherwise UNAUTHENTICATED saying why.
   * A host under a client CA is served only on a connection opened for a
   * name under the same CA (the certificate was asked for and checked for
   * it), whose client presented a certificate that CA signed.
   */
  authorize(domain: string, tls: TlsPeer | undefined): WorkdError | undefined {
    if (this.ruleList.length === 0) return undefined;
    const rule = this.rules.get(domain);
    if (rule === undefined) return undefined;
    const need = `${domain} requires a client certificate (mTLS)`;
    if (tls === undefined) return new WorkdError(Code.UNAUTHENTICATED, `${need}; this connection is not TLS`);
    if (tls.serverName === undefined) {
      return new WorkdError(Code.UNAUTHENTICATED, `${need}; this connection sent no TLS server name (SNI), so none was asked for: connect with the server name ${domain}`);
    }
    if (this.rules.get(tls.serverName) !== rule) {
      return new WorkdError(Code.UNAUTHENTICATED, `${need}; this connection was opened for the server name ${tls.serverName}, whose certificates are not checked for ${domain}: connect with the server name ${domain}`);
    }
    if (!tls.clientVerified) return new WorkdError(Code.UNAUTHENTICATED, `${need} signed by the CA configured for ${rule.pattern}: ${tls.clientError ?? 'it was not accepted'}`);
    return undefined;
  }

  close(): void {
    clearInterval(this.timer);
    this.dir?.close();
    this.issued?.close();
    this.servers.clear();
  }

  private pairFor(name: string): TlsPair {
    return this.byName.get(name) ?? this.fallback;
  }

  private mayIssue(name: string): boolean {
    if (this.issuer === undefined || !isDnsName(name) || this.opts.isServed === undefined) return false;
    const until = this.notIssued.get(name);
    if (until !== undefined && until > Date.now()) return false;
    if (this.opts.isServed(name)) return true;
    if (this.notIssued.size >= fixedLimit('tlsRefusedNames')) this.notIssued.clear();
    this.notIssued.set(name, Date.now() + 10_000);
    return false;
  }

  private async issueFor(name: string): Promise<void> {
    try {
      await this.issuer!.issue(name);
      await this.issued!.scanNow();
    } catch (err) {
      this.notIssued.set(name, Date.now() + 60_000);
      throw err;
    }
  }

  private builtFor(pair: TlsPair, rule: ClientCaRule | undefined): Built {
    let m = this.built.get(pair);
    if (m === undefined) {
      m = new Map();
      this.built.set(pair, m);
    }
    const key = rule === undefined ? '' : `${rule.pattern}#${rule.version}`;
    let b = m.get(key);
    if (b === undefined) {
      b = {};
      m.set(key, b);
    }
    return b;
  }

  private context(pair: TlsPair, name: string): SecureContext {
    const rule = this.rules.get(name);
    const b = this.builtFor(pair, rule);
    b.ctx ??= createSecureContext({ cert: pair.cert, key: pair.key, ...(rule !== undefined ? { ca: rule.pem } : {}) });
    return b.ctx;
  }

  /** The name table from the directories' pairs: the configured directory first, then issued ones. */
  private rebuild(): void {
    const t = new NameTable<TlsPair>();
    for (const p of [...(this.dir?.pairs() ?? []), ...(this.issued?.pairs() ?? [])]) {
      for (const n of p.names) {
        if (!t.add(n, p)) this.opts.log.warn({ name: n, ignored: p.certPath }, 'tls: two certificates name the same host; the first directory (by name) serves it');
      }
    }
    this.byName = t;
  }

  /** Checks the default certificate's and the client CA bundles' files (the directories poll themselves). */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (!this.fallbackIsGenerated) await this.reloadFallback();
      for (const rule of this.ruleList) await this.reloadRule(rule);
    } finally {
      this.polling = false;
    }
  }

  private async reloadFallback(): Promise<void> {
    const f = this.fallback;
    const stamp = await fingerprint(f.certPath, f.keyPath);
    if (stamp === undefined || stamp === f.stamp) return;
    try {
      const pair = await loadPair(f.certPath, f.keyPath, false);
      this.fallback = pair;
      for (const s of this.servers) s.setSecureContext({ cert: pair.cert, key: pair.key });
      this.opts.log.info({ cert: f.certPath, notAfter: pair.notAfter }, 'tls: default certificate reloaded; new handshakes get it');
    } catch (err) {
      // Remember the files as seen, so a bad pair is logged once.
      this.fallback = { ...f, stamp };
      const e = err as PairError;
      this.opts.log.warn({ file: e.file, reason: e.reason }, `tls: new default certificate refused, the one loaded before stays in use: ${e.message}`);
    }
  }

  private async reloadRule(rule: ClientCaRule): Promise<void> {
    const stamp = await fingerprint(rule.path);
    if (stamp === undefined || stamp === rule.stamp) return;
    rule.stamp = stamp;
    try {
      rule.pem = await loadCaBundle(rule.path);
      rule.version++;
      this.opts.log.info({ pattern: rule.pattern, ca: rule.path }, 'tls: client CA bundle reloaded; new handshakes check against it');
    } catch (err) {
      const e = err as PairError;
      this.opts.log.warn({ file: e.file, reason: e.reason }, `tls: new client CA bundle refused, the one loaded before stays in use: ${e.message}`);
    }
  }
}
