// HTTP/2 spoken frame by frame over a plain node:net or node:tls socket, with
// no HTTP/2 library: a client that is not ours and that sends what libraries
// never do (streams left holding half a message, a connection dropped mid-upload).
// HPACK: literal fields without indexing, no Huffman (RFC 7541 §6.2.2).
import net from 'node:net';
import tls from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FrameType = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7 } as const;
export const Flag = { END_STREAM: 0x1, END_HEADERS: 0x4, ACK: 0x1 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

/** A header block of literal fields without indexing (new name). */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    out.push(0x00);
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    out.push(...hpackInt(n.length, 7, 0), ...n, ...hpackInt(v.length, 7, 0), ...v);
  }
  return Buffer.from(out);
}

/** The request headers of a gRPC call. */
export function grpcRequestHeaders(authority: string, path: string, scheme: 'http' | 'https'): Buffer {
  return headerBlock([
    [':method', 'POST'],
    [':scheme', scheme],
    [':path', path],
    [':authority', authority],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ]);
}

/** RST_STREAM with an HTTP/2 error code (0 = NO_ERROR, 8 = CANCEL). */
export function rstStream(streamId: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

/** GOAWAY naming the last stream processed and an error code. */
export function goaway(lastStreamId: number, code: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  p.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

export interface RawH2Connection {
  /** The HTTP/2 byte stream (the TLS socket with `tls`). */
  readonly socket: net.Socket;
  /** The TCP socket underneath (the same as `socket` without TLS), e.g. for resetAndDestroy(). */
  readonly tcp: net.Socket;
  /** Everything received so far. */
  received(): Buffer;
  send(...frames: Buffer[]): void;
}

/**
 * Connects (TLS with ALPN h2 when `tls` is set, else h2c prior knowledge), sends the
 * preface and an empty SETTINGS, ACKs the server's SETTINGS, and resolves once connected.
 */
export function connectRawH2(port: number, host = '127.0.0.1', opts: { tls?: boolean; servername?: string } = {}): Promise<RawH2Connection> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect({ port, host });
    const socket: net.Socket = opts.tls ? tls.connect({ socket: tcp, ALPNProtocols: ['h2'], rejectUnauthorized: false, servername: opts.servername ?? 'localhost' }) : tcp;
    tcp.on('error', () => {});
    const chunks: Buffer[] = [];
    let acked = false;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // The server's first frame is its SETTINGS; ACK it once.
      if (!acked) {
        acked = true;
        socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
      }
    });
    socket.on('error', () => {});
    const conn: RawH2Connection = {
      socket,
      tcp,
      received: () => Buffer.concat(chunks),
      send: (...frames) => void socket.write(Buffer.concat(frames)),
    };
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      socket.off('error', reject);
      socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
      resolve(conn);
    });
    socket.once('error', reject);
  });
}
