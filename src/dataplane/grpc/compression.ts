// Message compression (`grpc-encoding`): identity, gzip and deflate (zlib
// format, as grpc-go and grpc-js send it). Decompression is bounded by the
// message limit so a small compressed message cannot inflate without limit.
import zlib from 'node:zlib';
import { Code, WorkdError } from '../../errors.js';

export type Encoding = 'identity' | 'gzip' | 'deflate';

export function parseEncoding(value: string | undefined): Encoding | undefined {
  if (value === undefined || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'deflate') return value;
  return undefined;
}

/** True when the comma-separated grpc-accept-encoding list names `encoding`. */
export function accepts(acceptList: string | undefined, encoding: Encoding): boolean {
  if (encoding === 'identity') return true;
  if (acceptList === undefined) return false;
  for (const item of acceptList.split(',')) if (item.trim() === encoding) return true;
  return false;
}

function tooLarge(err: Error): boolean {
  return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
}

/**
 * Decompresses one message, refusing output above maxBytes (RESOURCE_EXHAUSTED).
 * `inline` runs zlib synchronously (small messages; keeps streaming messages in order).
 */
export function decompress(encoding: Encoding, data: Uint8Array, maxBytes: number, inline: boolean, done: (err: WorkdError | null, out?: Uint8Array) => void): void {
  if (encoding === 'identity') return done(null, data);
  const opts = { maxOutputLength: Math.max(1, maxBytes) };
  const failed = (err: Error) =>
    tooLarge(err)
      ? new WorkdError(Code.RESOURCE_EXHAUSTED, `decompressed request message is larger than the limit of ${maxBytes} bytes`)
      : new WorkdError(Code.INTERNAL, `request message is not valid ${encoding} data: ${err.message}`);
  if (inline) {
    let out: Buffer;
    try {
      out = encoding === 'gzip' ? zlib.gunzipSync(data, opts) : zlib.inflateSync(data, opts);
    } catch (err) {
      return done(failed(err as Error));
    }
    return done(null, out);
  }
  const cb = (err: Error | null, out: Buffer) => (err === null ? done(null, out) : done(failed(err)));
  if (encoding === 'gzip') zlib.gunzip(data, opts, cb);
  else zlib.inflate(data, opts, cb);
}

export function compress(encoding: Encoding, data: Uint8Array, inline: boolean, done: (err: Error | null, out: Uint8Array) => void): void {
  if (encoding === 'identity') return done(null, data);
  if (inline) {
    let out: Buffer;
    try {
      out = encoding === 'gzip' ? zlib.gzipSync(data) : zlib.deflateSync(data);
    } catch (err) {
      return done(err as Error, data);
    }
    return done(null, out);
  }
  if (encoding === 'gzip') zlib.gzip(data, done);
  else zlib.deflate(data, done);
}
