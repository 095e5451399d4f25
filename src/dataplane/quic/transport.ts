// The QUIC transport seen by the HTTP/3 layer: callback style so the hot path
// allocates no promises or events per packet. Implemented over the native
// quiche binding that @matrixai/quic ships (quic-server.ts, quic-client.ts).
//
// Contract details the types cannot say:
// - Callbacks run inside the transport's loop; whatever they write, there or
//   in the promise chains they start, is sent in one pass once those chains
//   have run (one send pass per batch, not per write). close() sends at once.
// - onData chunks are fresh buffers owned by the receiver (copied out of quiche).
// - While a stream's onData is null, its bytes stay in quiche and QUIC flow
//   control holds the peer back; setting onData again resumes delivery (a
//   RESET_STREAM on such a paused stream is reported then too).
// - After onClose, write/reset/stopSending are no-ops.
// - write() keeps a reference to what quiche could not take yet: do not
//   mutate a chunk after writing it. Writes after the peer's STOP_SENDING are
//   dropped silently (onReset has told you); a write after FIN throws
//   FAILED_PRECONDITION, as does writing the peer's unidirectional stream.
// - onReset may fire twice on a bidirectional stream: once for the peer's
//   RESET_STREAM (receiving side), once for its STOP_SENDING (sending side).
//   For STOP_SENDING the code is STOP_SENDING_CODE_UNKNOWN when it came with
//   the ACK of our last bytes (quiche 0.18 then forgets the stream and its code).
// - A thrown exception in a callback closes only that connection (transport
//   INTERNAL_ERROR) and is logged.
import type dgram from 'node:dgram';
import type { Logger } from '../../observability/log.js';
import type { QuicWindows } from './native.js';

/** onReset's code (-1) for a STOP_SENDING whose code quiche did not keep (see above). */
export { STOP_SENDING_CODE_UNKNOWN } from './quic-stream.js';

export interface QuicStream {
  /** QUIC stream id (fits a double for our limits). */
  readonly id: number;
  readonly bidirectional: boolean;
  readonly peerInitiated: boolean;
  /** Data in order; fin=true once, with the last chunk (possibly empty). */
  onData: ((chunk: Uint8Array, fin: boolean) => void) | null;
  /** Peer reset its sending side (RESET_STREAM) or asked us to stop (STOP_SENDING). */
  onReset: ((errorCode: number) => void) | null;
  /** Queues bytes (flow control handled by the transport, buffering what does not fit yet). */
  write(chunk: Uint8Array, fin?: boolean): void;
  /** Bytes written that QUIC has not taken yet (the peer's flow control, congestion): a writer's backlog. */
  readonly bufferedBytes: number;
  /** Called each time a backlog (bufferedBytes > 0) has been handed to QUIC in full. */
  onWritable: (() => void) | null;
  /** Abruptly ends our sending side (RESET_STREAM). */
  reset(errorCode: number): void;
  /** Abruptly ends our receiving side (STOP_SENDING). */
  stopSending(errorCode: number): void;
}

export interface QuicConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly alpn: string;
  /** Server side: the server name (SNI) the client sent, lower-case; undefined when it sent none. */
  readonly serverName: string | undefined;
  /** Server side: the client presented a certificate, verified by quiche against the connection's client CA. */
  readonly peerCertified: boolean;
  /**
   * Called for each new peer-initiated stream, before its first onData. Set it
   * synchronously inside onConnection: the peer's first streams may come in
   * the flight that completes the handshake and are announced right after.
   */
  onStream: ((stream: QuicStream) => void) | null;
  /**
   * Called once, when the connection starts closing or draining: the error
   * code and reason of the CONNECTION_CLOSE (the peer's, else ours), or 0 and
   * 'idle timeout'. Nothing can be sent afterwards.
   */
  onClose: ((errorCode: number, reason: string) => void) | null;
  /** Throws RESOURCE_EXHAUSTED when the peer's stream limit is reached (it grows as streams finish). */
  openUni(): QuicStream;
  openBidi(): QuicStream;
  /** Bidirectional streams the peer lets us open now (what its MAX_STREAMS allows beyond those opened). */
  readonly bidiStreamsLeft: number;
  /** While set, called after each batch of incoming packets that leaves bidiStreamsLeft above 0. */
  onStreamCredit: (() => void) | null;
  /** CONNECTION_CLOSE with an application error code (HTTP/3 codes like 0x100 H3_NO_ERROR). */
  close(errorCode: number, reason: string): void;
}

export interface QuicServer {
  readonly port: number;
  /** Connections accepted and not yet closed (handshaking ones included). */
  readonly connectionCount: number;
  /** Address validation and half-open connections, for tests and metrics. */
  readonly stats: QuicServerStats;
  /** Called when a handshake completes (ALPN known). */
  onConnection: ((conn: QuicConnection) => void) | null;
  /**
   * Stops accepting (new clients get CONNECTION_CLOSE with CONNECTION_REFUSED);
   * existing connections live until closed or idle. Resolves once all of them
   * are closing and the last datagrams are sent, then the port is free.
   */
  close(): Promise<void>;
}

export interface QuicServerStats {
  /** Connections accepted whose handshake has not completed. */
  halfOpen: number;
  /** Retry packets sent since start. */
  retriesSent: number;
  /** Initials refused with INVALID_TOKEN (forged, expired, or for another address). */
  invalidTokens: number;
  /** Half-open connections dropped by the half-open timeout. */
  halfOpenExpired: number;
}

export interface QuicServerOptions {
  /** '::' dual-stack by default. */
  host: string;
  port: number;
  certPem: string | Buffer;
  keyPem: string | Buffer;
  /** e.g. ['h3'] */
  alpn: string[];
  idleTimeoutMs: number;
  /** New connections beyond it are refused with CONNECTION_CLOSE(CONNECTION_REFUSED), before any TLS work. */
  maxConnections: number;
  /** New connections from an address already holding this many are refused the same way. */
  maxConnectionsPerPeer?: number;
  /** Half-open connections (handshake not complete) beyond which a client without a token gets a stateless Retry; 0: always. */
  retryThreshold: number;
  /** A connection not established this long after its first Initial is dropped; also a Retry token's lifetime. */
  halfOpenTimeoutMs: number;
  maxStreamsBidi: number;
  maxStreamsUni: number;
  /** Flow-control windows granted to clients. */
  windows: QuicWindows;
  log?: Logger;
  /**
   * An already-bound UDP socket to serve instead of binding host:port (a
   * pod's socket opened inside its network namespace). `host` then only
   * names the local address quiche sees; the socket is closed with the server.
   */
  socket?: dgram.Socket;
  /**
   * Picks a new connection's certificate (and client CA) by the server name
   * in its first Initial (initial-sni.ts); 'pending': the Initial is dropped
   * (the client sends it again). Absent: certPem/keyPem for every connection.
   */
  tlsFor?: (serverName: string | undefined) => QuicTls | 'pending';
}

/** A certificate, its key and optionally a client CA (then the handshake requires a client certificate it signed). */
export interface QuicTls {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  readonly caPem?: Buffer;
}

export interface QuicClientOptions {
  host: string;
  port: number;
  servername: string;
  alpn: string[];
  verifyPeer: boolean;
  caPem?: string | Buffer;
  idleTimeoutMs?: number;
  /** Where the client's loop reports what the app never sees (send errors, a connection stuck closing). */
  log?: Logger;
}

export { listenQuic } from './quic-server.js';
export { connectQuic } from './quic-client.js';
