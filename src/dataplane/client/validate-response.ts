// Reads a gRPC response the way a gRPC client does, for every client
// transport: HTTP status and content-type, grpc-status (from trailers, or the
// headers of a trailers-only answer), message framing with a size cap, and
// the response encoding. Transports push what they receive and ask for the
// result once the stream has ended.
import zlib from 'node:zlib';
import { Code, WorkdError } from '../../errors.js';
import { CONTENT_TYPE, HDR_CONTENT_TYPE, HDR_ENCODING, HDR_MESSAGE, HDR_STATUS, HTTP_OK } from '../grpc/constants.js';
import { MessageDecoder } from '../grpc/framing.js';
import { percentDecode } from '../grpc/metadata.js';
import { httpStatusToCode } from './http-status.js';
import { fixedLimit } from '../../limits.js';

export const MAX_RESPONSE_MESSAGE_BYTES = fixedLimit('clientMaxResponseMessageBytes');
/** How much of a non-gRPC (plain HTTP) body is quoted in the status message. */
const QUOTED_BODY_BYTES = 1024;

export type ResponseFields = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface ValidatedResponse {
  readonly code: number;
  readonly message: string;
  /** Response messages, unframed and decompressed (a failed streaming call may have sent some). */
  readonly messages: Uint8Array[];
}

function one(fields: ResponseFields | null, name: string): string | undefined {
  const v = fields?.[name];
  return v === undefined || typeof v === 'string' ? v : v[0];
}

export class ResponseReader {
  private httpStatus = 0;
  private headers: ResponseFields = {};
  private encoding = 'identity';
  private grpc = false;
  private readonly messages: Uint8Array[] = [];
  private readonly plain: Buffer[] = [];
  private plainBytes = 0;
  private frameError: WorkdError | null = null;
  private readonly decoder: MessageDecoder;

  constructor(maxMessageBytes = MAX_RESPONSE_MESSAGE_BYTES) {
    this.decoder = new MessageDecoder(
      {
        onMessage: (compressed, m) => this.onMessage(compressed, m),
        onFrameError: (e) => {
          this.frameError ??= e;
        },
      },
      maxMessageBytes,
    );
  }

  /** The response head: `:status` and the other header fields. */
  head(httpStatus: number, headers: ResponseFields): void {
    this.httpStatus = httpStatus;
    this.headers = headers;
    this.encoding = one(headers, HDR_ENCODING) ?? 'identity';
    // A missing content-type is tolerated; another one means this is not a gRPC answer.
    const ct = one(headers, HDR_CONTENT_TYPE);
    this.grpc = httpStatus === HTTP_OK && (ct === undefined || ct.startsWith(CONTENT_TYPE));
  }

  data(chunk: Uint8Array): void {
    if (this.grpc) return this.decoder.push(chunk);
    if (this.plainBytes < QUOTED_BODY_BYTES) {
      this.plain.push(Buffer.from(chunk));
      this.plainBytes += chunk.length;
    }
  }

  /**
   * The stream ended, with `trailers` or none (trailers-only or a broken
   * stream). `noStatus` says what went wrong when no grpc-status came at all
   * (a reset, a closed connection); without it that is UNKNOWN.
   */
  finish(trailers: ResponseFields | null, noStatus?: { code: number; message: string }): ValidatedResponse {
    const src = one(trailers, HDR_STATUS) !== undefined ? trailers : this.headers;
    const statusText = one(src, HDR_STATUS);
    if (statusText === undefined) {
      if (this.httpStatus !== 0 && this.httpStatus !== HTTP_OK) {
        const body = Buffer.concat(this.plain).subarray(0, QUOTED_BODY_BYTES).toString('utf8').trim();
        return { code: httpStatusToCode(this.httpStatus), message: `HTTP status ${this.httpStatus}${body ? `: ${body}` : ''}`, messages: [] };
      }
      return { ...(noStatus ?? { code: Code.UNKNOWN, message: 'response without grpc-status' }), messages: [] };
    }
    const code = Number(statusText);
    const m = one(src, HDR_MESSAGE);
    const message = m === undefined ? '' : percentDecode(m);
    if (!Number.isInteger(code) || code < 0) return { code: Code.UNKNOWN, message: `malformed grpc-status ${JSON.stringify(statusText)}`, messages: [] };
    if (code !== Code.OK) return { code, message, messages: this.messages };
    if (!this.grpc) {
      const ct = one(this.headers, HDR_CONTENT_TYPE);
      return { code: Code.UNKNOWN, message: `response content-type ${ct === undefined ? '(none)' : JSON.stringify(ct)} is not ${CONTENT_TYPE}`, messages: [] };
    }
    this.decoder.end(); // a truncated message reaches onFrameError
    const fe = this.frameError as WorkdError | null;
    if (fe !== null) return { code: fe.code, message: fe.message, messages: [] };
    return { code, message, messages: this.messages };
  }

  private onMessage(compressed: boolean, m: Uint8Array): void {
    if (!compressed) return void this.messages.push(Uint8Array.from(m));
    try {
      if (this.encoding === 'gzip') this.messages.push(zlib.gunzipSync(m));
      else if (this.encoding === 'deflate') this.messages.push(zlib.inflateSync(m));
      else this.frameError ??= new WorkdError(Code.INTERNAL, `compressed response message with grpc-encoding ${this.encoding}`);
    } catch (err) {
      this.frameError ??= new WorkdError(Code.INTERNAL, `cannot decompress a ${this.encoding} response message: ${(err as Error).message}`);
    }
  }
}
