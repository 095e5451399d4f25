// `grpc-timeout`: 1 to 8 ASCII digits and a unit (H, M, S, m, u, n).
import { Code, WorkdError } from '../../errors.js';

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The timeout in milliseconds; INTERNAL (as other gRPC servers answer) when malformed. */
export function parseTimeout(value: string): number {
  const len = value.length;
  if (len >= 2 && len <= 9) {
    const perUnit = UNIT_MS[value[len - 1]!];
    if (perUnit !== undefined) {
      let n = 0;
      for (let i = 0; i < len - 1; i++) {
        const c = value.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        n = n * 10 + c;
        if (i === len - 2) return n * perUnit;
      }
    }
  }
  throw new WorkdError(Code.INTERNAL, `malformed grpc-timeout ${JSON.stringify(value)}: expected 1-8 digits and a unit of H, M, S, m, u or n`);
}

/** Formats a timeout for a request (clients: workd call, tests). */
export function formatTimeout(ms: number): string {
  if (ms <= 0) return '0n';
  // Pick the finest unit that fits in 8 digits, rounding up so the deadline is never shortened.
  const candidates: Array<[string, number]> = [['n', 1e-6], ['u', 1e-3], ['m', 1], ['S', 1000], ['M', 60_000], ['H', 3_600_000]];
  for (const [unit, size] of candidates) {
    const n = Math.ceil(ms / size);
    if (n < 1e8) return `${n}${unit}`;
  }
  return '99999999H';
}
