// The only module that touches @matrixai/quic: we use its raw quiche binding
// (Cloudflare quiche 0.18 + BoringSSL, prebuilt) and none of its JavaScript
// QUICServer/QUICConnection layer, which allocates timers, events and errors
// per packet and crashes on streams that arrive with the handshake.
import type { Limits } from '../../limits.js';
// The binding's own entry point: the package's index also loads its JS layer (~160 ms of CPU at start).
import * as native from '@matrixai/quic/native/index.js';

export type QuicheConfig = native.Config;
export type QuicheConnection = native.Connection;
export const quiche = native.quiche;

/** Our source connection IDs are always this long (quiche's maximum). */
export const CID_LEN: number = quiche.MAX_CONN_ID_LEN;
/** Largest UDP payload we send: safe for real paths (no PMTU discovery in quiche 0.18). */
export const MAX_SEND_PAYLOAD: number = quiche.MAX_DATAGRAM_SIZE;
/**
 * Largest UDP payload we send to a loopback peer. Loopback's MTU is 64 KiB,
 * and quiche keeps packets under 16 KiB (a 2-byte length); a tenth of the
 * datagrams for bulk data is most of the cost saved. The peer's
 * max_udp_payload_size transport parameter still caps it.
 */
export const LOOPBACK_SEND_PAYLOAD = 16383;

/** 127.0.0.0/8, ::1, and IPv4 loopback as a dual-stack socket reports it. */
export function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');
}
/** Largest UDP payload we accept (loopback peers may send jumbo datagrams). */
export const MAX_RECV_PAYLOAD = 65527;

export const SHUTDOWN_READ: number = quiche.Shutdown.Read;
export const SHUTDOWN_WRITE: number = quiche.Shutdown.Write;
export const TYPE_INITIAL: number = quiche.Type.Initial;

/** QUIC transport error CONNECTION_REFUSED (RFC 9000 §20.1). */
export const CONNECTION_REFUSED = 0x2;
/** QUIC transport error INVALID_TOKEN (RFC 9000 §20.1). */
export const INVALID_TOKEN = 0xb;
/** QUIC transport error INTERNAL_ERROR (RFC 9000 §20.1). */
export const TRANSPORT_INTERNAL_ERROR = 0x1;

// ECDSA and RSA signature algorithms TLS 1.3 allows for certificates.
const SIGALGS = [
  'ecdsa_secp256r1_sha256',
  'ecdsa_secp384r1_sha384',
  'ecdsa_secp521r1_sha512',
  'ed25519',
  'rsa_pss_rsae_sha256',
  'rsa_pss_rsae_sha384',
  'rsa_pss_rsae_sha512',
  'rsa_pkcs1_sha256',
  'rsa_pkcs1_sha384',
  'rsa_pkcs1_sha512',
].join(':');

export interface ConfigInput {
  verifyPeer: boolean;
  caPem?: string | Buffer | undefined;
  certPem?: string | Buffer | undefined;
  keyPem?: string | Buffer | undefined;
  alpn: string[];
  idleTimeoutMs: number;
  maxStreamsBidi: number;
  maxStreamsUni: number;
  /** Largest UDP payload to send (default MAX_SEND_PAYLOAD). */
  maxSendPayload?: number;
  /** Flow-control windows we grant the peer (the `[dataplane.quic]` limits). */
  windows: QuicWindows;
}

export type QuicWindows = Pick<Limits, 'quicConnectionWindowBytes' | 'quicMaxConnectionWindowBytes' | 'quicStreamWindowBytes' | 'quicMaxStreamWindowBytes' | 'quicUniStreamWindowBytes'>;

const toBytes = (pem: string | Buffer): Uint8Array => (typeof pem === 'string' ? Buffer.from(pem, 'utf8') : pem);

/**
 * quiche's BoringSSL context takes PEM data directly (no temporary files):
 * the CA bundle as one buffer, and one key + one certificate chain.
 */
export function buildConfig(c: ConfigInput): QuicheConfig {
  const cfg = quiche.Config.withBoringSslCtx(
    c.verifyPeer,
    false,
    c.caPem === undefined ? null : toBytes(c.caPem),
    c.keyPem === undefined ? null : [toBytes(c.keyPem)],
    c.certPem === undefined ? null : [toBytes(c.certPem)],
    SIGALGS,
  );
  cfg.setApplicationProtos(c.alpn);
  cfg.setMaxIdleTimeout(c.idleTimeoutMs);
  cfg.setMaxRecvUdpPayloadSize(MAX_RECV_PAYLOAD);
  cfg.setMaxSendUdpPayloadSize(c.maxSendPayload ?? MAX_SEND_PAYLOAD);
  // The default windows start large enough for a 10 MiB body to flow without
  // waiting on MAX_DATA round trips; quiche auto-tunes up to the maxima.
  const w = c.windows;
  cfg.setInitialMaxData(w.quicConnectionWindowBytes);
  cfg.setInitialMaxStreamDataBidiLocal(w.quicStreamWindowBytes);
  cfg.setInitialMaxStreamDataBidiRemote(w.quicStreamWindowBytes);
  cfg.setInitialMaxStreamDataUni(w.quicUniStreamWindowBytes);
  cfg.setMaxConnectionWindow(Math.max(w.quicMaxConnectionWindowBytes, w.quicConnectionWindowBytes));
  cfg.setMaxStreamWindow(Math.max(w.quicMaxStreamWindowBytes, w.quicStreamWindowBytes));
  cfg.setInitialMaxStreamsBidi(c.maxStreamsBidi);
  cfg.setInitialMaxStreamsUni(c.maxStreamsUni);
  cfg.setDisableActiveMigration(true);
  // We send as soon as quiche hands us a packet; its pacing hints are unused.
  cfg.enablePacing(false);
  return cfg;
}

/**
 * quiche reports a peer's RESET_STREAM / STOP_SENDING only as a thrown
 * error whose message is `StreamReset(code)` / `StreamStopped(code)`; this
 * is the one place that reads those messages. Returns -1 for other errors.
 */
export function streamErrorCode(err: unknown, kind: 'StreamReset' | 'StreamStopped'): number {
  const msg = err instanceof Error ? err.message : '';
  if (!msg.startsWith(kind)) return -1;
  const open = kind.length;
  if (msg.charCodeAt(open) !== 40 /* ( */) return -1;
  const n = Number(msg.slice(open + 1, msg.length - 1));
  return Number.isFinite(n) ? n : -1;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
