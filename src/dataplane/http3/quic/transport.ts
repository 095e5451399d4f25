// The QUIC transport seen by the HTTP/3 layer: callback style so the hot path
// allocates no promises or events per packet. Implemented over the native
// quiche binding that @matrixai/quic ships (see server.ts / client.ts).
import type { Logger } from '../../../observability/log.js';

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
  /** Abruptly ends our sending side (RESET_STREAM). */
  reset(errorCode: number): void;
  /** Abruptly ends our receiving side (STOP_SENDING). */
  stopSending(errorCode: number): void;
}

export interface QuicConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly alpn: string;
  /** Called for each new peer-initiated stream, before its first onData. */
  onStream: ((stream: QuicStream) => void) | null;
  onClose: ((errorCode: number, reason: string) => void) | null;
  openUni(): QuicStream;
  openBidi(): QuicStream;
  /** CONNECTION_CLOSE with an application error code (HTTP/3 codes like 0x100 H3_NO_ERROR). */
  close(errorCode: number, reason: string): void;
}

export interface QuicServer {
  readonly port: number;
  onConnection: ((conn: QuicConnection) => void) | null;
  /** Stops accepting; existing connections live until closed or idle. */
  close(): Promise<void>;
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
  /** New connections beyond it are refused. */
  maxConnections: number;
  maxStreamsBidi: number;
  maxStreamsUni: number;
  log?: Logger;
}

export interface QuicClientOptions {
  host: string;
  port: number;
  servername: string;
  alpn: string[];
  verifyPeer: boolean;
  caPem?: string | Buffer;
  idleTimeoutMs?: number;
}

export { listenQuic } from './server.js';
export { connectQuic } from './client.js';
