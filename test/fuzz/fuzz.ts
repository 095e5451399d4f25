// Shared settings of the fuzzers: seeded and reproducible, with a fixed number
// of runs per property. CI runs the short count; `npm run fuzz` the long one.
// A failure prints the seed and path; rerun with FUZZ_SEED=<seed> to replay it.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { WorkdError } from '../../src/errors.js';

export const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
/** Runs per property: short in CI, FUZZ_RUNS (e.g. 200000) on demand. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

export function check<T>(prop: fc.IProperty<T> | fc.IAsyncProperty<T>, runs = RUNS): void | Promise<void> {
  const params = { seed: SEED, numRuns: runs, endOnFailure: true };
  return fc.assert(prop as fc.IProperty<T>, params);
}

/** Runs `fn`, allowing only the typed errors a parser is meant to throw (a TypeError or RangeError is a finding). */
export function onlyTyped<T>(fn: () => T, ...allowed: Array<new (...a: never[]) => Error>): T | undefined {
  try {
    return fn();
  } catch (err) {
    const ok = [WorkdError, ...allowed].some((c) => err instanceof c);
    assert.ok(ok, `untyped error: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
    return undefined;
  }
}

/** Bytes, split into random chunks (how a network delivers them). */
export const chunked = (bytes: fc.Arbitrary<Uint8Array>) =>
  fc.tuple(bytes, fc.array(fc.nat(64), { maxLength: 16 })).map(([b, cuts]) => {
    const out: Uint8Array[] = [];
    let pos = 0;
    for (const c of cuts) {
      if (pos >= b.length) break;
      out.push(b.subarray(pos, pos + c + 1));
      pos += c + 1;
    }
    if (pos < b.length) out.push(b.subarray(pos));
    return { bytes: b, chunks: out };
  });

export { fc };
