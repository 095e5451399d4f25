import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, encodeGoaway, encodeSettings, FrameReader, FrameType, isReservedType, parseSettings, parseSingleVarint, type FrameSink } from './frames.js';
import { H3Code, H3Error } from './error-codes.js';
import { encodeVarint } from './varint.js';

type Ev = ['start', number, number] | ['data', string] | ['frame', number, string];

function collect(opts: { refuse?: number } = {}): { sink: FrameSink; events: Ev[] } {
  const events: Ev[] = [];
  return {
    events,
    sink: {
      frameStart(type, length) {
        events.push(['start', type, length]);
        return opts.refuse !== type;
      },
      data(chunk) {
        events.push(['data', Buffer.from(chunk).toString('hex')]);
      },
      frame(type, payload) {
        events.push(['frame', type, Buffer.from(payload).toString('hex')]);
      },
    },
  };
}

const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
const h3code = (code: number) => (e: unknown) => e instanceof H3Error && e.code === code;

test('a HEADERS and a DATA frame in one chunk', () => {
  const { sink, events } = collect();
  const r = new FrameReader(sink);
  r.push(cat(encodeFrame(FrameType.HEADERS, Uint8Array.of(0, 0, 0xd1)), encodeFrame(FrameType.DATA, Uint8Array.of(1, 2, 3))));
  assert.deepEqual(events, [
    ['start', 1, 3],
    ['frame', 1, '0000d1'],
    ['start', 0, 3],
    ['data', '010203'],
  ]);
  assert.ok(r.atBoundary);
});

test('frames split at every byte boundary give the same frames', () => {
  const payload = new Uint8Array(300).map((_, i) => i & 0xff);
  const wire = cat(encodeFrame(FrameType.HEADERS, payload), encodeFrame(FrameType.DATA, payload), encodeGoaway(4));
  const whole = collect();
  new FrameReader(whole.sink).push(wire);
  for (const step of [1, 2, 3, 7, 64]) {
    const split = collect();
    const r = new FrameReader(split.sink);
    for (let i = 0; i < wire.length; i += step) {
      r.push(wire.subarray(i, i + step));
    }
    assert.ok(r.atBoundary);
    const joined = split.events.reduce<Ev[]>((acc, e) => {
      const last = acc[acc.length - 1];
      if (e[0] === 'data' && last && last[0] === 'data') last[1] += e[1];
      else acc.push([...e] as Ev);
      return acc;
    }, []);
    assert.deepEqual(joined, whole.events, `split every ${step} bytes`);
  }
});

test('a truncated frame leaves the reader off a boundary', () => {
  const { sink } = collect();
  const r = new FrameReader(sink);
  r.push(encodeFrame(FrameType.HEADERS, Uint8Array.of(1, 2, 3)).subarray(0, 3));
  assert.equal(r.atBoundary, false);
  const r2 = new FrameReader(sink);
  r2.push(Uint8Array.of(0x40));
  assert.equal(r2.atBoundary, false, 'inside the type varint');
});

test('reserved (grease) and unknown frame types are skipped unseen', () => {
  const { sink, events } = collect();
  const r = new FrameReader(sink);
  const grease = 0x1f * 3 + 0x21;
  assert.ok(isReservedType(grease) && isReservedType(0x21) && !isReservedType(0x22));
  r.push(cat(encodeVarint(grease), encodeVarint(4), Uint8Array.of(9, 9, 9, 9), encodeVarint(0x2f0), encodeVarint(1), Uint8Array.of(7), encodeFrame(0, Uint8Array.of(5))));
  // a huge reserved type (8-byte varint) too
  r.push(cat(Uint8Array.from(Buffer.from('c2197c5eff14e88c', 'hex')), encodeVarint(2), Uint8Array.of(1, 1)));
  assert.deepEqual(events, [
    ['start', 0, 1],
    ['data', '05'],
  ]);
  assert.ok(r.atBoundary);
});

test('HTTP/2-only frame types are H3_FRAME_UNEXPECTED', () => {
  for (const t of [0x2, 0x6, 0x8, 0x9]) {
    const r = new FrameReader(collect().sink);
    assert.throws(() => r.push(encodeFrame(t, Uint8Array.of(0))), h3code(H3Code.H3_FRAME_UNEXPECTED), `type ${t}`);
  }
});

test('a refused frame is skipped without being buffered', () => {
  const { sink, events } = collect({ refuse: FrameType.HEADERS });
  const r = new FrameReader(sink);
  r.push(cat(encodeFrame(FrameType.HEADERS, new Uint8Array(1000)), encodeFrame(FrameType.DATA, Uint8Array.of(1))));
  assert.deepEqual(events, [
    ['start', 1, 1000],
    ['start', 0, 1],
    ['data', '01'],
  ]);
});

test('SETTINGS round trip, duplicates and HTTP/2 settings refused', () => {
  const f = encodeSettings([
    [0x1, 0],
    [0x6, 16384],
    [0x7, 0],
    [0x21 + 0x1f, 5],
  ]);
  const { sink, events } = collect();
  new FrameReader(sink).push(f);
  const payload = Buffer.from((events[1] as ['frame', number, string])[2], 'hex');
  const s = parseSettings(payload);
  assert.equal(s.get(0x6), 16384);
  assert.equal(s.get(0x1), 0);
  assert.equal(s.size, 4);
  assert.throws(() => parseSettings(Uint8Array.of(0x6, 0x1, 0x6, 0x2)), h3code(H3Code.H3_SETTINGS_ERROR));
  for (const id of [2, 3, 4, 5]) assert.throws(() => parseSettings(Uint8Array.of(id, 0)), h3code(H3Code.H3_SETTINGS_ERROR));
  assert.throws(() => parseSettings(Uint8Array.of(0x6)), h3code(H3Code.H3_FRAME_ERROR));
  assert.throws(() => parseSettings(Uint8Array.of(0x6, 0x40)), h3code(H3Code.H3_FRAME_ERROR));
});

test('GOAWAY carries exactly one varint', () => {
  const { sink, events } = collect();
  new FrameReader(sink).push(encodeGoaway(1000));
  const payload = Buffer.from((events[1] as ['frame', number, string])[2], 'hex');
  assert.equal(parseSingleVarint(FrameType.GOAWAY, payload), 1000);
  assert.throws(() => parseSingleVarint(FrameType.GOAWAY, Uint8Array.of(1, 2)), h3code(H3Code.H3_FRAME_ERROR));
  assert.throws(() => parseSingleVarint(FrameType.GOAWAY, new Uint8Array(0)), h3code(H3Code.H3_FRAME_ERROR));
});
