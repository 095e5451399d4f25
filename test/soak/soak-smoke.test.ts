// The soak's short version (npm run soak is the 5-minute one): ~25 s of pod cycles beside HTTP/2 and HTTP/3
// calls, with the same invariants but the RSS slope (too short to fit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport, runSoak } from './soak.js';

test('soak smoke: pods cycle under HTTP/2 and HTTP/3 calls with no failed call and no leaked fd, worker or timer', { timeout: 180_000 }, async (t) => {
  const r = await runSoak({ minMs: 20_000, minCycles: 20, components: 3, podsPerComponent: 4, cyclers: 2, callsPerSecond: 40, concurrency: 4, sampleMs: 2000, warmupMs: Infinity });
  const text = formatReport(r);
  t.diagnostic(text);
  assert.deepEqual(r.violations, [], text);
  assert.ok(r.calls.http2.served > 100 && r.calls.http3.served > 100, text);
  assert.ok(r.volatileCycles > 0, text);
});
