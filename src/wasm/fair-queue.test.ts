// Which of a container's methods are long-running (their calls wait in the
// lane's long queue, one to a worker): learned from thread CPU per call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lane, LONG_RUNNING_CPU_MS } from './fair-queue.js';

const ms = (x: number) => x * 1e6;

test("one costly first call does not make a short method long-running: a young worker's warm-up is not the method's cost", () => {
  const lane = new Lane<number>();
  lane.measured('Echo', ms(5));
  assert.equal(lane.known('Echo'), true);
  assert.equal(lane.isLong('Echo'), false);
  for (let i = 0; i < 20; i++) {
    lane.measured('Echo', ms(0.01));
    assert.equal(lane.isLong('Echo'), false, `after ${i + 2} calls`);
  }
  assert.equal(lane.fifo('Echo'), lane.short);
});

test('a method whose calls keep costing more than the threshold turns long-running at its fourth call', () => {
  const lane = new Lane<number>();
  const cost = ms(LONG_RUNNING_CPU_MS * 1.5);
  for (let i = 1; i <= 3; i++) {
    lane.measured('Hash', cost);
    assert.equal(lane.isLong('Hash'), false, `after ${i} calls`);
  }
  lane.measured('Hash', cost);
  assert.equal(lane.isLong('Hash'), true);
  assert.equal(lane.fifo('Hash'), lane.long);
  // Methods are apart: the container's other method stays short.
  lane.measured('Echo', ms(0.01));
  assert.equal(lane.isLong('Echo'), false);
});

test('a call seen running long makes its method long-running at once, until short calls bring its average down', () => {
  const lane = new Lane<number>();
  lane.ranLong('Loop', 10);
  assert.equal(lane.isLong('Loop'), true);
  let calls = 0;
  while (lane.isLong('Loop') && calls < 100) {
    lane.measured('Loop', ms(0.01));
    calls++;
  }
  assert.ok(calls > 3 && calls < 100, `short again after ${calls} short calls`);
});
