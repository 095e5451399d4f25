// The WebSocket channel protocols (k8s.io/apimachinery wsstream): every
// message starts with its channel number (a byte, or an ASCII digit with the
// rest base64 in the base64 variants). remotecommand uses channels 0-4
// (stdin, stdout, stderr, error, resize); v5 adds [255, n] to half-close a
// channel. Port forwarding uses two channels per port, data 2i and error
// 2i+1, each opened with the port number as two little-endian bytes.
import { Duplex, PassThrough, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { CHANNEL_CLOSE, Channel, StreamProtocol, WS_BASE64_V1, WS_BASE64_V4, hasResize, jsonStatus } from './protocols.js';
import { ResizeDecoder, encodeStatus, type CommandRunner, type StreamOptions } from './remotecommand.js';

export const WS_REMOTECOMMAND_PROTOCOLS: readonly string[] = [
  StreamProtocol.V5,
  StreamProtocol.V4,
  WS_BASE64_V4,
  StreamProtocol.V3,
  StreamProtocol.V2,
  StreamProtocol.V1,
  WS_BASE64_V1,
];
export const WS_PORTFORWARD_PROTOCOLS: readonly string[] = [StreamProtocol.V4, WS_BASE64_V4];

/** Frames and unframes channel messages of one connection. */
class Channels {
  readonly base64: boolean;

  constructor(
    private readonly ws: WebSocket,
    protocol: string,
  ) {
    this.base64 = protocol === WS_BASE64_V1 || protocol === WS_BASE64_V4;
  }

  send(channel: number, data: Uint8Array, done?: (err?: Error) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      done?.(new Error('WebSocket closed'));
      return;
    }
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + Buffer.from(data).toString('base64'), done);
    else this.ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, done);
  }

  /** Calls `on(channel, data)` for each message; malformed ones are dropped, as wsstream does. */
  listen(on: (channel: number, data: Buffer) => void): void {
    this.ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const msg = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
      if (msg.length === 0) return;
      if (this.base64 && !isBinary) {
        const channel = msg[0]! - 48;
        on(channel, Buffer.from(msg.subarray(1).toString('latin1'), 'base64'));
      } else {
        on(msg[0]!, msg.subarray(1));
      }
    });
  }

  writable(channel: number): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, done) => this.send(channel, chunk, (err) => done(err ?? null)),
    });
  }
}

/** Runs an exec or attach session on an accepted WebSocket; resolves when it is closed. */
export async function serveWsRemoteCommand(ws: WebSocket, protocol: string, opts: StreamOptions, run: CommandRunner): Promise<void> {
  const ch = new Channels(ws, protocol);
  const abort = new AbortController();
  const stdin = opts.stdin ? new PassThrough() : undefined;
  const resize = new ResizeDecoder((size) => io.onResize?.(size));
  const io = {
    stdin,
    stdout: opts.stdout ? ch.writable(Channel.STDOUT) : undefined,
    stderr: opts.stderr && !opts.tty ? ch.writable(Channel.STDERR) : undefined,
    tty: opts.tty,
    signal: abort.signal,
    onResize: undefined as ((size: { width: number; height: number }) => void) | undefined,
  };
  ch.listen((channel, data) => {
    if (channel === CHANNEL_CLOSE && protocol === StreamProtocol.V5) {
      if (data[0] === Channel.STDIN) stdin?.end();
    } else if (channel === Channel.STDIN) {
      stdin?.write(data);
    } else if (channel === Channel.RESIZE && hasResize(protocol)) {
      resize.push(data);
    }
  });
  const closed = new Promise<void>((done) => ws.once('close', () => done()));
  void closed.then(() => {
    stdin?.end();
    abort.abort();
  });
  // Tells the client the session is established (wsstream's convention).
  ch.send(opts.stdout ? Channel.STDOUT : opts.stderr ? Channel.STDERR : Channel.ERROR, new Uint8Array(0));

  const result = await run(io);
  const flushed = [io.stdout, io.stderr].map((w) => (w ? new Promise<void>((done) => w.end(() => done())) : undefined));
  await Promise.all(flushed);
  const status = encodeStatus(result, jsonStatus(protocol));
  if (status.length > 0) await new Promise<void>((done) => ch.send(Channel.ERROR, status, () => done()));
  ws.close(1000);
  await closed;
}

/** A Duplex whose writes go out on one channel and whose reads are what the client sent on it. */
function channelDuplex(ch: Channels, channel: number): Duplex & { deliver(data: Buffer): void } {
  const d = new Duplex({
    allowHalfOpen: true,
    read() {},
    write(chunk: Buffer, _enc, done) {
      ch.send(channel, chunk, (err) => done(err ?? null));
    },
  }) as Duplex & { deliver(data: Buffer): void };
  d.deliver = (data) => d.push(data);
  return d;
}

/** Forwards one port's stream (resolve when the tunnelled connection is finished; reject with a message for the client). */
export type PortForwarder = (port: number, stream: Duplex, signal: AbortSignal) => Promise<void>;

/** Runs port forwarding for `ports` on an accepted WebSocket (one tunnelled connection per port). */
export async function serveWsPortForward(ws: WebSocket, protocol: string, ports: readonly number[], forward: PortForwarder): Promise<void> {
  const ch = new Channels(ws, protocol);
  const abort = new AbortController();
  const pipes = ports.map((_, i) => channelDuplex(ch, 2 * i));
  ch.listen((channel, data) => {
    if (channel % 2 === 0) pipes[channel / 2]?.deliver(data);
  });
  const closed = new Promise<void>((done) => ws.once('close', () => done()));
  void closed.then(() => {
    abort.abort();
    for (const p of pipes) p.push(null);
  });
  const prefix = (port: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(port);
    return b;
  };
  ports.forEach((port, i) => {
    ch.send(2 * i, prefix(port));
    ch.send(2 * i + 1, prefix(port));
  });
  await Promise.all(
    ports.map(async (port, i) => {
      try {
        await forward(port, pipes[i]!, abort.signal);
      } catch (err) {
        ch.send(2 * i + 1, Buffer.from(`error forwarding port ${port}: ${(err as Error).message}`));
      }
    }),
  );
  ws.close(1000);
  await closed;
}
