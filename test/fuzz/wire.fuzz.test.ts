// Fuzzing the parsers that face the network: gRPC message framing, timeouts
// and metadata encoding; HTTP/3 frames, varints, SETTINGS; QPACK field
// sections and Huffman. Each property feeds random (and randomly split)
// bytes and asserts no untyped error, no hang, and round trips where an
// encoder exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, encodeMessage } from '../../src/dataplane/grpc/framing.js';
import { formatTimeout, parseTimeout } from '../../src/dataplane/grpc/timeout.js';
import { invalidEntry, percentDecode, percentEncode } from '../../src/dataplane/grpc/metadata.js';
import { FrameReader, encodeFrame, parseSettings, parseSingleVarint, encodeSettings } from '../../src/dataplane/http3/frames.js';
import { H3Error } from '../../src/dataplane/http3/error-codes.js';
import { encodeVarint, readVarint, VARINT_MAX } from '../../src/dataplane/http3/varint.js';
import { decodeFieldSection, EncoderStreamReader, DecoderStreamReader } from '../../src/dataplane/http3/qpack/decoder.js';
import { encodeFieldSection } from '../../src/dataplane/http3/qpack/encoder.js';
import { huffmanDecode, huffmanEncode } from '../../src/dataplane/http3/qpack/huffman.js';
import { WorkdError } from '../../src/errors.js';
import { RetryTokens } from '../../src/dataplane/quic/retry-token.js';
import { check, chunked, fc, onlyTyped } from './fuzz.js';

const bytes = (max = 512) => fc.uint8Array({ maxLength: max });

test('gRPC framing: random bytes in random chunks give messages or one typed frame error, never more than was sent', () =>
  check(
    fc.property(chunked(bytes(2048)), fc.integer({ min: 1, max: 4096 }), ({ bytes: all, chunks }, max) => {
      let got = 0;
      let errors = 0;
      const d = new MessageDecoder({ onMessage: (_c, m) => void (got += m.length), onFrameError: (e) => { assert.ok(e instanceof WorkdError); errors++; } }, max);
      for (const c of chunks) d.push(c);
      d.dispose();
      assert.ok(errors <= 1);
      assert.ok(got <= all.length);
    }),
  ));

test('gRPC framing: encoded messages split anywhere come back whole and in order', () =>
  check(
    fc.property(fc.array(bytes(300), { maxLength: 8 }), fc.array(fc.nat(40), { maxLength: 30 }), (messages, cuts) => {
      const wire = Buffer.concat(messages.map((m) => encodeMessage(m)));
      const out: Uint8Array[] = [];
      const d = new MessageDecoder({ onMessage: (_c, m) => out.push(Uint8Array.from(m)), onFrameError: (e) => assert.fail(e.message) }, 1 << 20);
      let pos = 0;
      for (const c of cuts) {
        d.push(wire.subarray(pos, pos + c));
        pos = Math.min(wire.length, pos + c);
      }
      d.push(wire.subarray(pos));
      assert.deepEqual(out.map((m) => Buffer.from(m).toString('hex')), messages.map((m) => Buffer.from(m).toString('hex')));
    }),
  ));

test('grpc-timeout and metadata: random text parses or is refused with a typed error; percent-encoding round-trips', () =>
  check(
    fc.property(fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 40 }), fc.nat(), (t, msg, key, n) => {
      const ms = onlyTyped(() => parseTimeout(t));
      if (ms !== undefined) assert.ok(Number.isFinite(ms) && ms >= 0, `${t} → ${ms}`);
      onlyTyped(() => parseTimeout(formatTimeout(n)));
      assert.equal(percentDecode(percentEncode(msg)), msg);
      onlyTyped(() => invalidEntry(key, msg));
      onlyTyped(() => percentDecode(msg));
    }),
  ));

test('HTTP/3 frames: random bytes in random chunks throw only H3Error; frames split anywhere come back whole', () =>
  check(
    fc.property(chunked(bytes(1024)), fc.array(fc.tuple(fc.constantFrom(0, 1, 4, 7, 0x21, 0x1f * 7 + 0x21), bytes(100)), { maxLength: 6 }), ({ chunks }, frames) => {
      const random = new FrameReader({ frameStart: (_t, len) => len < 4096, data: () => {}, frame: (type, p) => { if (type === 4) onlyTyped(() => parseSettings(p), H3Error); if (type === 7) onlyTyped(() => parseSingleVarint(type, p), H3Error); } });
      onlyTyped(() => { for (const c of chunks) random.push(c); }, H3Error);

      const seen: string[] = [];
      let data: Buffer[] = [];
      const r = new FrameReader({
        frameStart: () => true,
        data: (c) => void data.push(Buffer.from(c)),
        frame: (type, p) => void seen.push(`${type}:${Buffer.from(p).toString('hex')}`),
      });
      const wire = Buffer.concat(frames.map(([t, p]) => encodeFrame(t, p)));
      for (let i = 0; i < wire.length; i += 7) r.push(wire.subarray(i, i + 7));
      assert.ok(r.atBoundary);
      const known = frames.filter(([t]) => t !== 0 && [1, 4, 7].includes(t));
      assert.deepEqual(seen, known.map(([t, p]) => `${t}:${Buffer.from(p).toString('hex')}`));
      const dataBytes = Buffer.concat(frames.filter(([t]) => t === 0).map(([, p]) => Buffer.from(p)));
      assert.equal(Buffer.concat(data).toString('hex'), dataBytes.toString('hex'));
      data = [];
    }),
  ));

test('HTTP/3 varints and SETTINGS round-trip', () =>
  check(
    fc.property(fc.bigInt({ min: 0n, max: VARINT_MAX }), fc.array(fc.tuple(fc.integer({ min: 0x21, max: 0xffff }), fc.nat()), { maxLength: 8 }), (v, settings) => {
      const n = Number(v);
      if (Number.isSafeInteger(n)) assert.equal(readVarint(encodeVarint(n), 0), n);
      const uniq = [...new Map(settings).entries()];
      const frame = encodeSettings(uniq);
      const m = new Map<number, number>();
      const r = new FrameReader({ frameStart: () => true, data: () => {}, frame: (_t, p) => { for (const [k, val] of parseSettings(p)) m.set(k, val); } });
      r.push(frame);
      for (const [k, val] of uniq) assert.equal(m.get(k), val);
    }),
  ));

test('QPACK: random field sections and instruction streams throw only H3Error; encoded fields decode to themselves', () =>
  check(
    fc.property(bytes(400), chunked(bytes(200)), fc.array(fc.tuple(fc.string({ unit: 'binary-ascii', maxLength: 30 }), fc.string({ unit: 'binary-ascii', maxLength: 60 })), { maxLength: 10 }), (section, stream, fields) => {
      const decoded = onlyTyped(() => decodeFieldSection(section, 16 * 1024), H3Error);
      if (decoded) assert.equal(decoded.length % 2, 0);
      const enc = new EncoderStreamReader();
      const dec = new DecoderStreamReader();
      onlyTyped(() => { for (const c of stream.chunks) enc.push(c); }, H3Error);
      onlyTyped(() => { for (const c of stream.chunks) dec.push(c); }, H3Error);
      const lower = fields.map(([n, v]) => [n.toLowerCase(), v] as const);
      const flat = lower.flatMap(([n, v]) => [n, v]);
      assert.deepEqual(decodeFieldSection(encodeFieldSection(flat), 1 << 20), flat);
    }),
  ));

test('Huffman: random bytes decode or throw H3Error; any latin1 text round-trips', () =>
  check(
    fc.property(bytes(200), fc.string({ unit: 'binary', maxLength: 200 }), (b, s) => {
      onlyTyped(() => huffmanDecode(b, 0, b.length), H3Error);
      const latin1 = Buffer.from(s, 'latin1').toString('latin1');
      const e = huffmanEncode(latin1);
      assert.equal(huffmanDecode(e, 0, e.length), latin1);
    }),
  ));

// QUIC Retry tokens come back from the network in any client's Initial.
const tokens = new RetryTokens(5000, Buffer.alloc(32, 1));
const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 60 }));

test('QUIC Retry tokens: random bytes are refused (null), never thrown on', () =>
  check(
    fc.property(bytes(120), address, bytes(20), (token, addr, dcid) => {
      assert.equal(tokens.check(token, addr, dcid), null);
    }),
  ));

test('QUIC Retry tokens: a minted token checks out for its address and Retry ID only, and any changed byte refuses it', () =>
  check(
    fc.property(address, bytes(20), fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(255), (addr, odcid, scid, at, flip) => {
      const now = 1_700_000_000_000;
      const t = tokens.mint(addr, odcid, scid, now);
      assert.deepEqual(tokens.check(t, addr, scid, now + 1), Buffer.from(odcid));
      assert.equal(tokens.check(t, `${addr}x`, scid, now + 1), null);
      const bad = Buffer.from(t);
      bad[at % bad.length] ^= 1 + (flip % 255);
      assert.equal(tokens.check(bad, addr, scid, now + 1), null);
    }),
  ));
