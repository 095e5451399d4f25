// Clients of the Kubernetes streaming protocols for tests: WebSocket through
// the `ws` library (a client we did not write), and SPDY/3.1 as client-go
// drives it (remotecommand's streamProtocolV4 and portforward), on our framer
// because npm has no SPDY client that speaks these stream semantics.
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { SpdyConnection, type SpdyStream } from '../../src/streaming/spdy/connection.js';

export interface ExecOutcome {
  stdout: string;
  stderr: string;
  /** What the error stream carried (JSON status from v4 on). */
  error: string;
  protocol: string;
}

/** Sends the HTTP/1.1 upgrade and resolves with the socket after the 101, or rejects with the status line and body. */
export function upgrade(url: string, headers: Record<string, string>): Promise<{ socket: Socket; head: Buffer; response: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const socket = connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ''));
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const response = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      socket.off('data', onData);
      if (!response.startsWith('HTTP/1.1 101')) {
        socket.on('data', (more: Buffer) => (buf = Buffer.concat([buf, more])));
        socket.on('close', () => fail(new Error(`${response.split('\r\n')[0]}: ${buf.subarray(end + 4).toString()}`)));
        return;
      }
      ok({ socket, head: rest, response });
    };
    socket.on('data', onData);
    socket.on('error', fail);
    const lines = Object.entries({ Host: u.host, Connection: 'Upgrade', Upgrade: 'SPDY/3.1', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.write(`POST ${u.pathname}${u.search} HTTP/1.1\r\n${lines.join('')}\r\n`);
  });
}

function collect(s: SpdyStream | undefined): Promise<string> {
  if (!s) return Promise.resolve('');
  return new Promise((done) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => done(Buffer.concat(parts).toString()));
    s.on('close', () => done(Buffer.concat(parts).toString()));
  });
}

export interface SpdyExecOptions {
  stdin?: string;
  stdout?: boolean;
  stderr?: boolean;
  tty?: boolean;
  protocols?: string[];
  /** For attach: close the session after this long. */
  closeAfterMs?: number;
  onStdout?: (text: string) => void;
}

/** exec/attach over SPDY the way client-go's streamProtocolV4 does it (error stream first). */
export async function spdyExec(url: string, o: SpdyExecOptions = {}): Promise<ExecOutcome> {
  const protocols = o.protocols ?? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
  const { socket, head, response } = await upgrade(url, { 'X-Stream-Protocol-Version': protocols.join(', ') });
  const protocol = /x-stream-protocol-version: *([^\r\n]*)/i.exec(response)?.[1] ?? '';
  const conn = new SpdyConnection(socket, { server: false }, head);
  const open = (type: string) => conn.openStream(new Map([['streamtype', [type]]]));
  const error = open('error');
  const stdin = o.stdin !== undefined ? open('stdin') : undefined;
  const stdout = o.stdout !== false ? open('stdout') : undefined;
  const stderr = o.stderr !== false && !o.tty ? open('stderr') : undefined;
  if (o.tty && protocol !== 'v2.channel.k8s.io' && protocol !== 'channel.k8s.io') open('resize').write(JSON.stringify({ Width: 80, Height: 24 }));
  if (stdin) stdin.end(o.stdin);
  if (o.onStdout) stdout?.on('data', (c: Buffer) => o.onStdout!(c.toString()));
  if (o.closeAfterMs !== undefined) setTimeout(() => conn.close(), o.closeAfterMs);
  const [out, err, status] = await Promise.all([collect(stdout), collect(stderr), collect(error)]);
  conn.close();
  return { stdout: out, stderr: err, error: status, protocol };
}

/** Opens one port-forward SPDY connection; `forward()` opens a data+error stream pair per tunnelled connection. */
export async function spdyPortForward(url: string): Promise<{ forward(port: number): { data: SpdyStream; error: Promise<string> }; close(): void }> {
  const { socket, head } = await upgrade(url, { 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
  const conn = new SpdyConnection(socket, { server: false }, head);
  let requestId = 0;
  return {
    forward(port) {
      const id = String(requestId++);
      const headers = (type: string) => new Map([['streamtype', [type]], ['port', [String(port)]], ['requestid', [id]]]);
      const error = conn.openStream(headers('error'));
      error.end();
      const data = conn.openStream(headers('data'));
      return { data, error: collect(error) };
    },
    close: () => conn.close(),
  };
}

export interface WsExecOptions {
  protocol?: string;
  stdin?: string;
  onStdout?: (text: string) => void;
  closeAfterMs?: number;
}

/** exec/attach over a WebSocket channel protocol (v5 by default: stdin is half-closed with [255, 0]). */
export function wsExec(url: string, o: WsExecOptions = {}): Promise<ExecOutcome> {
  const protocol = o.protocol ?? 'v5.channel.k8s.io';
  const base64 = protocol.includes('base64');
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocol === '' ? [] : [protocol]);
  const out = { stdout: '', stderr: '', error: '', protocol: '' };
  return new Promise((ok, fail) => {
    ws.on('open', () => {
      out.protocol = ws.protocol;
      const send = (ch: number, data: Buffer) => ws.send(base64 ? String.fromCharCode(48 + ch) + data.toString('base64') : Buffer.concat([Buffer.from([ch]), data]));
      if (o.stdin !== undefined) {
        send(0, Buffer.from(o.stdin));
        if (protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([255, 0]));
      }
      if (o.closeAfterMs !== undefined) setTimeout(() => ws.close(1000), o.closeAfterMs);
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      const ch = base64 && !isBinary ? raw[0]! - 48 : raw[0]!;
      const data = base64 && !isBinary ? Buffer.from(raw.subarray(1).toString(), 'base64') : raw.subarray(1);
      if (ch === 1) {
        out.stdout += data.toString();
        o.onStdout?.(data.toString());
      } else if (ch === 2) out.stderr += data.toString();
      else if (ch === 3) out.error += data.toString();
    });
    ws.on('close', () => ok(out));
    ws.on('error', fail);
  });
}
