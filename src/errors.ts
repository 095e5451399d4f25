// One error type for the whole daemon. Handlers throw WorkdError with a Code;
// the CRI interceptor and the data plane map the code to a gRPC status in one
// place each. The numbers are the gRPC status codes (they are a wire fact), but
// nothing here imports a gRPC library.

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
