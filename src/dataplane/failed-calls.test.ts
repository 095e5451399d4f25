import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../observability/log.js';
import { FailedCallLog } from './failed-calls.js';

function recorder(): { log: Logger; lines: Array<{ obj: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const log = { warn: (obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg }) } as unknown as Logger;
  return { log, lines };
}

const failed = (method: string, code = 13) => ({ domain: 'example.com', service: 'foo.Bar', method, container: 'c1', code, message: 'boom', ms: 1.234 });

test('failed calls are logged with container, method and status, at most N a second, then counted', () => {
  const { log, lines } = recorder();
  let now = 10_000;
  const f = new FailedCallLog(log, 3, () => now);
  f.note(failed('Ok', 0));
  for (let i = 0; i < 10; i++) f.note(failed(`M${i}`));
  assert.deepEqual(lines.map((l) => l.obj.method), ['M0', 'M1', 'M2'], 'OK calls are not logged; only 3 in the first second');
  assert.deepEqual(lines[0]!.obj, { container: 'c1', component: 'example.com:foo.Bar', method: 'M0', code: 13, status: 'INTERNAL', grpcMessage: 'boom', ms: 1.2 });
  now += 1000;
  f.note(failed('Next'));
  assert.equal(lines[3]!.msg, '7 more failed calls not logged (at most 3 a second)');
  assert.equal(lines[4]!.obj.method, 'Next');
});
