// The CRI socket's listener. gRPC speaks HTTP/2 with prior knowledge, so every
// connection of a gRPC client opens with the HTTP/2 client preface. Anything
// else is an operator's probe (`curl --unix-socket … localhost`) or a
// misdirected client: it gets an HTTP/1.1 404 naming workd, as CRI-O answers,
// instead of HTTP/2 frames that curl cannot read.
import { createServer, type Server, type Socket } from 'node:net';

/** The first bytes of every HTTP/2 connection (RFC 9113 §3.4). */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Enough of the preface to tell it from any HTTP/1 method ("PRI" is not one). */
const PREFACE_SNIFF_BYTES = 4;

/** limits.criProbeMaxHeadBytes and limits.criProbeIdleMs (src/limits.ts). */
export interface ProbeLimits {
  readonly maxHeadBytes: number;
  readonly idleMs: number;
}

const REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/1\.[01]\r?\n/;

export const PROBE_BODY =
  '404 page not found: this is the CRI socket of workd, which serves runtime.v1 gRPC over HTTP/2 only\n';

function reply(socket: Socket, head: Buffer): void {
  const http1 = REQUEST_LINE.test(head.toString('latin1', 0, Math.min(head.length, 1024)));
  const status = http1 ? '404 Not Found' : '400 Bad Request';
  const body = http1 ? PROBE_BODY : 'this is the CRI socket of workd: speak gRPC (HTTP/2) or HTTP/1.1\n';
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Server: workd\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Waits for the first bytes of a connection: the HTTP/2 preface hands it to
 * `grpc` with nothing consumed; anything else is answered as HTTP/1.1.
 */
function sniff(socket: Socket, grpc: (socket: Socket) => void, limits: ProbeLimits): void {
  let seen = Buffer.alloc(0);
  socket.setTimeout(limits.idleMs, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE_SNIFF_BYTES);
    if (seen.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
      if (seen.length < PREFACE_SNIFF_BYTES) return;
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      socket.unshift(seen);
      grpc(socket);
      return;
    }
    // An HTTP/1 request: answer once its head is complete (or too long to wait for).
    if (seen.includes('\r\n\r\n') || seen.includes('\n\n') || seen.length >= limits.maxHeadBytes) {
      socket.off('data', onData);
      reply(socket, seen);
      socket.resume();
    }
  };
  socket.on('data', onData);
}

/** A unix-socket listener that serves gRPC connections through `grpc` and answers HTTP/1 probes itself. */
export function listenSniffing(path: string, grpc: (socket: Socket) => void, limits: ProbeLimits): Promise<Server> {
  const server = createServer({ pauseOnConnect: false }, (socket) => sniff(socket, grpc, limits));
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(path, () => {
      server.off('error', fail);
      ok(server);
    });
  });
}
