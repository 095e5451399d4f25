import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lane, LONG_RUNNING_CPU_MS } from './fair-queue.js';

const ms = (n: number) => n * 1e6;

test('one slow first call does not make a method long-running; an average over several calls does', () => {
  const lane = new Lane<number>();
  const echo = lane.stats('Echo');
  lane.measured(echo, ms(LONG_RUNNING_CPU_MS * 10)); // a cold first call
  assert.equal(lane.fifo(echo), lane.short);
  for (let i = 0; i < 20; i++) lane.measured(echo, ms(0.01));
  assert.equal(lane.fifo(echo), lane.short);
  const slow = lane.stats('Slow');
  for (let i = 0; i < 3; i++) lane.measured(slow, ms(LONG_RUNNING_CPU_MS * 2));
  assert.equal(slow.long, false, 'three calls are not enough yet');
  lane.measured(slow, ms(LONG_RUNNING_CPU_MS * 2));
  assert.equal(lane.fifo(slow), lane.long);
  assert.equal(lane.stats('Slow'), slow, 'one stats object per method');
});

test('a call seen running long makes its method long-running at once, until its average says otherwise', () => {
  const lane = new Lane<number>();
  const loop = lane.stats('Loop');
  lane.ranLong(loop, 10);
  assert.equal(lane.fifo(loop), lane.long);
  for (let i = 0; i < 60; i++) lane.measured(loop, ms(0.01));
  assert.equal(lane.fifo(loop), lane.short);
});
