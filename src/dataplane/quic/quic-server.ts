// The QUIC server: routes each datagram to its connection by destination
// connection ID, accepts new ones from Initial packets, refuses those beyond
// maxConnections with CONNECTION_CLOSE(CONNECTION_REFUSED), answers unknown
// versions with Version Negotiation.
//
// Initial floods (RFC 9000 §8.1, §21.1.1): a connection is half-open until
// its handshake completes, and is dropped silently once it has been so for
// halfOpenTimeoutMs. Past retryThreshold half-open connections, an Initial
// without a token gets a stateless Retry (a few dozen bytes, no state, no
// TLS work) and only a client that echoes the token from the address we sent
// it to gets a connection. Before its address is validated (a Retry token, or
// its first Handshake packet) quiche sends a connection at most 3x the bytes
// it received; our own stateless answers (Retry, Version Negotiation,
// refusals) are each smaller than the >= 1200-byte Initial they answer.
import { randomFillSync, X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { Code, invalidArgument, WorkdError } from '../../errors.js';
import type { QuicConnection, QuicServer, QuicServerOptions, QuicServerStats, QuicTls } from './transport.js';
import { serverNameOfInitial } from './initial-sni.js';
import { Endpoint } from './endpoint.js';
import { Connection } from './quic-connection.js';
import { initialClose } from './refuse.js';
import { RetryTokens } from './retry-token.js';
import { quiche, buildConfig, isLoopback, CID_LEN, TYPE_INITIAL, CONNECTION_REFUSED, INVALID_TOKEN, MAX_SEND_PAYLOAD, LOOPBACK_SEND_PAYLOAD, type QuicheConfig, type ConfigInput, errorMessage } from './native.js';

/** RFC 9000 §14.1: a client's Initial datagram is at least this long. */
const MIN_INITIAL = 1200;

class Server extends Endpoint implements QuicServer {
  onConnection: ((conn: QuicConnection) => void) | null = null;
  port = 0;

  private readonly config: QuicheConfig;
  /** The same, with loopback-sized datagrams (peers on this host). */
  private readonly loopbackConfig: QuicheConfig;
  private readonly opts: QuicServerOptions;
  private readonly local: { host: string; port: number };
  /** Our 20-byte SCIDs keyed by their first 6 bytes (a double), checked in full on lookup. */
  private readonly byPrefix = new Map<number, Connection>();
  /** The client's original DCID (hex), for Initials sent before it learned our SCID. */
  private readonly byOdcid = new Map<string, Connection>();
  /** Connections per peer address, and each connection's address, for maxConnectionsPerPeer. */
  private readonly perPeer = new Map<string, number>();
  private readonly peerOf = new Map<Connection, string>();
  private readonly tokens: RetryTokens;
  /** Connections accepted whose handshake has not completed. */
  private halfOpen = 0;
  private readonly counters = { retriesSent: 0, invalidTokens: 0, halfOpenExpired: 0 };
  private isClosing = false;
  private closeDone: (() => void) | null = null;
  private closePromise: Promise<void> | null = null;

  constructor(opts: QuicServerOptions, config: QuicheConfig, loopbackConfig: QuicheConfig) {
    super(socketType(opts), opts.log, LOOPBACK_SEND_PAYLOAD, opts.socket);
    this.opts = opts;
    this.config = config;
    this.loopbackConfig = loopbackConfig;
    this.local = { host: opts.host, port: 0 };
    this.tokens = new RetryTokens(opts.halfOpenTimeoutMs);
  }

  async listen(): Promise<void> {
    if (this.opts.socket === undefined) await this.bind(this.opts.host, this.opts.port);
    this.checkBuffers();
    this.port = this.localPort;
    this.local.port = this.port;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  get stats(): QuicServerStats {
    return { halfOpen: this.halfOpen, ...this.counters };
  }

  protected packet(buf: Buffer, address: string, port: number): void {
    const len = buf.length;
    if (len === 0) return;
    let conn: Connection | undefined;
    if ((buf[0] & 0x80) === 0) {
      // Short header: our SCID follows the first byte.
      if (len < 1 + CID_LEN) return;
      conn = this.lookup(buf, 1);
    } else {
      if (len < 7) return;
      const dlen = buf[5];
      if (dlen > CID_LEN || len < 6 + dlen) return;
      if (dlen === CID_LEN) conn = this.lookup(buf, 6);
      if (conn === undefined) conn = this.byOdcid.get(buf.toString('hex', 6, 6 + dlen));
      if (conn === undefined) {
        this.accept(buf, address, port);
        return;
      }
    }
    // Unknown short-header packets are dropped (no stateless reset).
    if (conn !== undefined) conn.receive(buf, address, port);
  }

  private lookup(buf: Buffer, off: number): Connection | undefined {
    const c = this.byPrefix.get(buf.readUIntBE(off, 6));
    return c !== undefined && buf.compare(c.scid, 0, CID_LEN, off, off + CID_LEN) === 0 ? c : undefined;
  }

  private accept(buf: Buffer, address: string, port: number): void {
    let hdr: ReturnType<typeof quiche.Header.fromSlice>;
    try {
      hdr = quiche.Header.fromSlice(buf, CID_LEN);
    } catch {
      return; // not a QUIC packet
    }
    if (!quiche.versionIsSupported(hdr.version)) {
      if (buf.length < MIN_INITIAL) return;
      // A buffer per reply: the socket reads it only when the send happens,
      // after this tick, so one shared buffer would send the last reply twice.
      const vn = Buffer.allocUnsafe(MAX_SEND_PAYLOAD);
      const n = quiche.negotiateVersion(hdr.scid, hdr.dcid, vn);
      this.sendOwned(vn, n, port, address);
      return;
    }
    if (hdr.ty !== TYPE_INITIAL || buf.length < MIN_INITIAL) return;
    const fromPeer = this.perPeer.get(address) ?? 0;
    const peerFull = fromPeer >= (this.opts.maxConnectionsPerPeer ?? Infinity);
    if (this.isClosing || this.conns.size >= this.opts.maxConnections || peerFull) {
      // Refused before any TLS work, with nothing registered; each Initial
      // the client retransmits gets the same answer.
      const reason = this.isClosing ? 'server closing' : peerFull ? 'too many connections from this address' : 'too many connections';
      const pkt = initialClose(hdr.dcid, hdr.scid, CONNECTION_REFUSED, reason);
      this.sendOwned(pkt, pkt.length, port, address);
      this.log?.info({ remote: address, limit: this.opts.maxConnections, closing: this.isClosing }, 'quic: connection refused');
      return;
    }
    let scid: Buffer;
    let odcid: Buffer | null = null;
    const token = hdr.token;
    if (token === undefined || token.length === 0) {
      if (this.halfOpen >= this.opts.retryThreshold) {
        this.retry(hdr, address, port);
        return;
      }
      scid = this.newScid();
    } else {
      // quiche sends no NEW_TOKEN frames: every token we accept is a Retry's,
      // and its connection keeps the Retry's source ID (our new Initial's DCID).
      odcid = hdr.dcid.length === CID_LEN ? this.tokens.check(token, address, hdr.dcid) : null;
      if (odcid === null || this.byPrefix.has(Buffer.from(hdr.dcid).readUIntBE(0, 6))) {
        // RFC 9000 §8.1.2: an invalid Retry token closes with INVALID_TOKEN.
        this.counters.invalidTokens++;
        const pkt = initialClose(hdr.dcid, hdr.scid, INVALID_TOKEN, 'invalid address validation token');
        this.sendOwned(pkt, pkt.length, port, address);
        return;
      }
      scid = Buffer.from(hdr.dcid);
    }
    const remote = { host: address, port };
    let config = isLoopback(address) ? this.loopbackConfig : this.config;
    if (this.opts.tlsFor !== undefined) {
      const tls = this.opts.tlsFor(serverNameOfInitial(buf));
      if (tls === 'pending') return;
      config = this.configFor(tls, isLoopback(address)) ?? config;
    }
    let q;
    try {
      q = quiche.Connection.accept(scid, odcid, this.local, remote, config);
    } catch (err) {
      this.log?.warn({ err: errorMessage(err), remote: address }, 'quic: accept failed');
      return;
    }
    const conn = new Connection(this, q, true, scid, remote, this.local, this.established, (odcid ?? Buffer.from(hdr.dcid)).toString('hex'));
    this.byPrefix.set(scid.readUIntBE(0, 6), conn);
    this.byOdcid.set(conn.odcidKey, conn);
    this.conns.add(conn);
    this.perPeer.set(address, fromPeer + 1);
    this.peerOf.set(conn, address);
    this.halfOpen++;
    conn.limitHandshake(this.opts.halfOpenTimeoutMs);
    conn.receive(buf, address, port);
  }

  /** A stateless Retry (RFC 9000 §17.2.5): a new source ID of ours and a token binding it to the client's address. */
  private retry(hdr: ReturnType<typeof quiche.Header.fromSlice>, address: string, port: number): void {
    const scid = this.newScid();
    const token = this.tokens.mint(address, hdr.dcid, scid);
    const out = Buffer.allocUnsafe(MAX_SEND_PAYLOAD);
    let n: number;
    try {
      n = quiche.retry(hdr.scid, hdr.dcid, scid, token, hdr.version, out);
    } catch (err) {
      this.log?.debug({ err: errorMessage(err), remote: address }, 'quic: cannot build a Retry');
      return;
    }
    this.counters.retriesSent++;
    this.sendOwned(out, n, port, address);
  }

  /** quiche configs per certificate choice (tlsFor), built once each; undefined (and logged) if quiche refuses it. */
  private readonly tlsConfigs = new WeakMap<QuicTls, [QuicheConfig | undefined, QuicheConfig | undefined]>();
  private configFor(tls: QuicTls, loopback: boolean): QuicheConfig | undefined {
    let pair = this.tlsConfigs.get(tls);
    if (pair === undefined) {
      pair = [undefined, undefined];
      this.tlsConfigs.set(tls, pair);
    }
    const i = loopback ? 1 : 0;
    if (pair[i] === undefined) {
      try {
        const input = { ...configInput(this.opts), certPem: tls.certPem, keyPem: tls.keyPem, caPem: tls.caPem, verifyPeer: tls.caPem !== undefined };
        pair[i] = buildConfig(loopback ? { ...input, maxSendPayload: LOOPBACK_SEND_PAYLOAD } : input);
      } catch (err) {
        this.log?.warn({ err: errorMessage(err) }, 'quic: TLS certificate refused for a connection; it gets the default one');
      }
    }
    return pair[i];
  }

  private newScid(): Buffer {
    const scid = Buffer.allocUnsafe(CID_LEN);
    do randomFillSync(scid);
    while (this.byPrefix.has(scid.readUIntBE(0, 6)));
    return scid;
  }

  private readonly established = (conn: Connection): void => {
    this.halfOpen--;
    // byOdcid keeps the client's first DCID for the connection's lifetime: a
    // late retransmitted Initial must not start a second, phantom connection.
    if (this.onConnection === null) {
      conn.closeWith(false, CONNECTION_REFUSED, 'not accepting connections');
      return;
    }
    this.log?.debug({ remote: conn.remoteAddress, port: conn.remotePort, alpn: conn.alpn }, 'quic: connection established');
    this.onConnection(conn);
  };

  remove(conn: Connection): void {
    if (!conn.detach()) return;
    if (!conn.established) {
      this.halfOpen--;
      if (conn.handshakeTimedOut) this.counters.halfOpenExpired++;
    }
    const peer = this.peerOf.get(conn);
    if (peer !== undefined) {
      this.peerOf.delete(conn);
      const n = this.perPeer.get(peer) ?? 1;
      if (n <= 1) this.perPeer.delete(peer);
      else this.perPeer.set(peer, n - 1);
    }
    const prefix = conn.scid.readUIntBE(0, 6);
    if (this.byPrefix.get(prefix) === conn) this.byPrefix.delete(prefix);
    if (this.byOdcid.get(conn.odcidKey) === conn) this.byOdcid.delete(conn.odcidKey);
    this.conns.delete(conn);
    if (this.isClosing && this.conns.size === 0) this.finishClose();
  }

  override closing(_conn: Connection): void {
    if (this.closeDone !== null) this.maybeFinishClose();
  }

  /** A closing server need not sit out its connections' draining periods (3 PTOs each). */
  private maybeFinishClose(): void {
    for (const c of this.conns) if (!c.closeNotified) return;
    for (const c of [...this.conns]) this.remove(c);
  }

  close(): Promise<void> {
    if (this.closePromise !== null) return this.closePromise;
    this.isClosing = true;
    this.closePromise = new Promise((resolve) => {
      this.closeDone = resolve;
    });
    this.maybeFinishClose();
    if (this.conns.size === 0) this.finishClose();
    return this.closePromise;
  }

  private finishClose(): void {
    const done = this.closeDone;
    this.closeDone = null;
    if (done !== null) void this.closeSocket().then(done);
  }
}

function socketType(opts: QuicServerOptions): 'udp4' | 'udp6' {
  if (opts.socket !== undefined) return opts.socket.address().family === 'IPv6' ? 'udp6' : 'udp4';
  return opts.host.includes(':') ? 'udp6' : 'udp4';
}

/**
 * quiche's BoringSSL context silently accepts an unparsable certificate and a
 * key that does not match it (handshakes then fail); check both up front.
 */
function checkCertAndKey(certPem: string | Buffer, keyPem: string | Buffer): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw invalidArgument(`QUIC server: TLS certificate rejected: ${errorMessage(err)}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw invalidArgument(`QUIC server: TLS key rejected: ${errorMessage(err)}`);
  }
  if (!cert.checkPrivateKey(key)) throw invalidArgument('QUIC server: the TLS key does not match the certificate');
}

function configInput(opts: QuicServerOptions): ConfigInput {
  return {
    verifyPeer: false,
    certPem: opts.certPem,
    keyPem: opts.keyPem,
    alpn: opts.alpn,
    idleTimeoutMs: opts.idleTimeoutMs,
    maxStreamsBidi: opts.maxStreamsBidi,
    maxStreamsUni: opts.maxStreamsUni,
    windows: opts.windows,
  };
}

export async function listenQuic(opts: QuicServerOptions): Promise<QuicServer> {
  if (opts.alpn.length === 0) throw invalidArgument('QUIC server: at least one ALPN protocol is required');
  if (!(opts.maxConnections > 0)) throw invalidArgument('QUIC server: maxConnections must be positive');
  checkCertAndKey(opts.certPem, opts.keyPem);
  const input = configInput(opts);
  let config: QuicheConfig;
  let loopbackConfig: QuicheConfig;
  try {
    config = buildConfig(input);
    loopbackConfig = buildConfig({ ...input, maxSendPayload: LOOPBACK_SEND_PAYLOAD });
  } catch (err) {
    throw invalidArgument(`QUIC server: TLS certificate or key rejected: ${errorMessage(err)}`);
  }
  const server = new Server(opts, config, loopbackConfig);
  try {
    await server.listen();
  } catch (err) {
    await server.closeSocket();
    throw new WorkdError(Code.UNAVAILABLE, `QUIC server: cannot listen on UDP ${opts.host} port ${opts.port}: ${errorMessage(err)}`, { cause: err });
  }
  return server;
}
