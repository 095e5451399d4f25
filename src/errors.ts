// One error type for the whole daemon. Handlers throw WorkdError with a Code;
// the CRI interceptor and the data plane map the code to a gRPC status in one
// place each. The numbers are the gRPC status codes (they are a wire fact), but
// nothing here imports a gRPC library.
import { fixedLimit } from './limits.js';

export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

const codeNames = new Map<number, string>(Object.entries(Code).map(([k, v]) => [v, k]));
export function codeName(code: number): string {
  return codeNames.get(code) ?? `CODE_${code}`;
}

export class WorkdError extends Error {
  readonly code: Code;
  override readonly name = 'WorkdError';
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export const invalidArgument = (msg: string) => new WorkdError(Code.INVALID_ARGUMENT, msg);
export const notFound = (msg: string) => new WorkdError(Code.NOT_FOUND, msg);
export const failedPrecondition = (msg: string) => new WorkdError(Code.FAILED_PRECONDITION, msg);
export const unimplemented = (msg: string) => new WorkdError(Code.UNIMPLEMENTED, msg);
export const unavailable = (msg: string) => new WorkdError(Code.UNAVAILABLE, msg);
export const internal = (msg: string, cause?: unknown) => new WorkdError(Code.INTERNAL, msg, { cause });

/** The code of any thrown value: a WorkdError's own, otherwise INTERNAL. */
export function codeOf(err: unknown): Code {
  return err instanceof WorkdError ? err.code : Code.INTERNAL;
}

/** How much of the end of a long message is kept (the reason is often last). */
const TAIL_BYTES = 512;

/** Moves a cut point back to the start of a UTF-8 character. */
function charStart(b: Buffer, i: number): number {
  while (i > 0 && i < b.length && (b[i]! & 0xc0) === 0x80) i--;
  return i;
}

/**
 * `msg`, or its head and tail around a marker saying how much was cut, in at
 * most `max` UTF-8 bytes. Error messages echo what the client or an image sent
 * (IDs, references, import lists), so a 200,000-character ID cannot make a
 * trailer that stalls the connection. The CRI interceptor and the data plane
 * apply it to every error; stored status messages too. The bound is
 * `statusMessageBytes` in the table of limits (read at call time: limits.ts
 * imports this module).
 */
export function boundedMessage(msg: string, max: number = fixedLimit('statusMessageBytes')): string {
  if (msg.length * 3 <= max) return msg;
  const b = Buffer.from(msg, 'utf8');
  if (b.length <= max) return msg;
  const marker = (cut: number) => ` [… ${cut} bytes cut …] `;
  const room = max - Buffer.byteLength(marker(b.length));
  const tail = Math.min(TAIL_BYTES, room >> 2);
  const headEnd = charStart(b, room - tail);
  const tailStart = charStart(b, b.length - tail);
  return b.subarray(0, headEnd).toString('utf8') + marker(tailStart - headEnd) + b.subarray(tailStart).toString('utf8');
}
