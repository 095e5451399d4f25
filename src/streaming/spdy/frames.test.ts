import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';
import {
  FrameParser,
  HeaderCompressor,
  HeaderDecompressor,
  decodeHeaderBlock,
  encodeData,
  encodeHeaderBlock,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  type Frame,
} from './frames.js';

describe('SPDY/3 framing', () => {
  it('has the spec dictionary: 1423 bytes whose adler32 (zlib DICTID) is e3c6a7c2', () => {
    assert.equal(SPDY3_DICTIONARY.length, 1423);
    // A zlib stream with a preset dictionary carries its adler32 right after the 2-byte header.
    assert.equal(deflateSync(Buffer.from('x'), { dictionary: SPDY3_DICTIONARY }).subarray(2, 6).toString('hex'), 'e3c6a7c2');
  });

  it('reads a SYN_STREAM compressed by another implementation (a browser-style GET)', async () => {
    const hex = '800300010000002c0000000100000000000078f9e3c6a7c202e50e507ab442a45a77d7105006b32a4804974d8cfa00000000ffff';
    const [f] = new FrameParser().push(Buffer.from(hex, 'hex')) as [Extract<Frame, { type: 'syn_stream' }>];
    assert.equal(f.type, 'syn_stream');
    assert.equal(f.streamId, 1);
    assert.equal(f.fin, false);
    const headers = decodeHeaderBlock(await new HeaderDecompressor().decompress(f.block));
    assert.deepEqual(headers.get(':method'), ['GET']);
    assert.deepEqual(headers.get(':path'), ['/']);
  });

  it('lays out control frames as section 2.2 says: C=1, version 3, type, flags, 24-bit length', () => {
    const syn = encodeSynStream(5, Buffer.from('abc'), true);
    assert.equal(syn.readUInt16BE(0), 0x8003);
    assert.equal(syn.readUInt16BE(2), 1);
    assert.equal(syn[4], 0x01);
    assert.equal(syn.readUIntBE(5, 3), 10 + 3);
    assert.equal(syn.readUInt32BE(8), 5);
    assert.equal(syn.readUInt32BE(12), 0);
    assert.equal(syn.subarray(18).toString(), 'abc');
    assert.equal(encodeSynReply(7, Buffer.alloc(0)).toString('hex'), '80030002000000040000000' + '7');
    assert.equal(encodeRstStream(3, 5).toString('hex'), '800300030000000800000003' + '00000005');
  });

  it('lays out DATA frames (C=0, stream id, FIN flag, length) and splits large ones', () => {
    const [head, body] = encodeData(3, Buffer.from('hi'), true);
    assert.equal(head!.toString('hex'), '0000000301000002');
    assert.equal(body!.toString(), 'hi');
    const big = encodeData(1, Buffer.alloc(70_000), true);
    assert.equal(big.length, 6);
    assert.equal(big[4]![4], 0x01);
    assert.equal(big[0]![4], 0x00);
  });

  it('parses frames split at any byte boundary', () => {
    const wire = Buffer.concat([...encodeData(1, Buffer.from('hello'), false), encodeRstStream(1, 5)]);
    const p = new FrameParser();
    const frames = [...wire].flatMap((b) => p.push(Buffer.from([b])));
    assert.deepEqual(frames.map((f) => f.type), ['data', 'rst_stream']);
  });

  it('round-trips header blocks through one compression context per direction, values NUL-joined', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    for (let i = 0; i < 5; i++) {
      const h = new Map([['streamtype', ['data']], ['port', [String(8000 + i)]], ['requestid', [String(i)]], ['x', ['a', 'b']]]);
      const back = decodeHeaderBlock(await d.decompress(c.compress(encodeHeaderBlock(h))));
      assert.deepEqual(back, h);
    }
  });

  it('refuses truncated header blocks', () => {
    assert.throws(() => decodeHeaderBlock(Buffer.from('0000000100000005616263', 'hex')), /truncated/);
  });
});
