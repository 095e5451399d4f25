// HTTP/3 (RFC 9114 §8.1) and QPACK (RFC 9204 §6) error codes, and the one
// error type the HTTP/3 layers throw. `scope` says whether the peer's mistake
// ends the whole connection (CONNECTION_CLOSE) or only one request stream
// (RESET_STREAM / STOP_SENDING).

export const H3Code = {
  H3_NO_ERROR: 0x100,
  H3_GENERAL_PROTOCOL_ERROR: 0x101,
  H3_INTERNAL_ERROR: 0x102,
  H3_STREAM_CREATION_ERROR: 0x103,
  H3_CLOSED_CRITICAL_STREAM: 0x104,
  H3_FRAME_UNEXPECTED: 0x105,
  H3_FRAME_ERROR: 0x106,
  H3_EXCESSIVE_LOAD: 0x107,
  H3_ID_ERROR: 0x108,
  H3_SETTINGS_ERROR: 0x109,
  H3_MISSING_SETTINGS: 0x10a,
  H3_REQUEST_REJECTED: 0x10b,
  H3_REQUEST_CANCELLED: 0x10c,
  H3_REQUEST_INCOMPLETE: 0x10d,
  H3_MESSAGE_ERROR: 0x10e,
  H3_CONNECT_ERROR: 0x10f,
  H3_VERSION_FALLBACK: 0x110,
  QPACK_DECOMPRESSION_FAILED: 0x200,
  QPACK_ENCODER_STREAM_ERROR: 0x201,
  QPACK_DECODER_STREAM_ERROR: 0x202,
} as const;
export type H3Code = (typeof H3Code)[keyof typeof H3Code];

const names = new Map<number, string>(Object.entries(H3Code).map(([k, v]) => [v, k]));

/** `H3_FRAME_UNEXPECTED (0x105)`, or the hex number for codes we do not name. */
export function h3CodeName(code: number): string {
  const n = names.get(code);
  return n ? `${n} (0x${code.toString(16)})` : `0x${code.toString(16)}`;
}

export type H3ErrorScope = 'connection' | 'stream';

export class H3Error extends Error {
  override readonly name = 'H3Error';
  readonly code: H3Code;
  readonly scope: H3ErrorScope;
  constructor(code: H3Code, message: string, scope: H3ErrorScope = 'connection') {
    super(message);
    this.code = code;
    this.scope = scope;
  }
}

/** A connection error: the whole connection is closed with `code`. */
export const connectionError = (code: H3Code, message: string) => new H3Error(code, message, 'connection');
/** A stream error: only the offending request stream is reset with `code`. */
export const streamError = (code: H3Code, message: string) => new H3Error(code, message, 'stream');
