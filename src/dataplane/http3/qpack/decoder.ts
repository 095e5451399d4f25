// QPACK field section decoding (RFC 9204 §4.5) for a decoder that advertised
// SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0: every field line must come from the
// static table or be a literal. A Required Insert Count above 0, or any
// reference to the dynamic table, is QPACK_DECOMPRESSION_FAILED (§2.2.3,
// §4.5.1.1), since no such entry can exist.
//
// The peer's encoder and decoder streams are checked here too: with no
// dynamic table the only legal encoder instruction is "Set Dynamic Table
// Capacity 0", and the only legal decoder instruction is "Stream Cancellation".
import { H3Code, H3Error } from '../error-codes.js';
import { decompressionFailed, QpackReader } from './primitives.js';
import { STATIC_TABLE } from './static-table.js';
import { hashBytes, RepeatCache, sameBytes } from '../../../util/repeat-cache.js';

/** The decoded field section exceeded the size we accept (RFC 9114 §4.2.2). Answer 431, not a protocol error. */
export class FieldSectionTooLargeError extends H3Error {
  constructor(readonly limit: number) {
    super(H3Code.H3_EXCESSIVE_LOAD, `field section is larger than ${limit} bytes`, 'stream');
  }
}

/** Per RFC 9114 §4.2.2: each field counts its name and value length plus 32. */
export const FIELD_OVERHEAD = 32;

/**
 * Decodes one encoded field section into a flat [name, value, name, value, …]
 * list (latin1 strings, order kept). `maxSize` bounds the decoded size.
 */
export function decodeFieldSection(buf: Uint8Array, maxSize: number): string[] {
  return decode(buf, maxSize).fields;
}

/** The fields and their decoded size (RFC 9114 §4.2.2). */
function decode(buf: Uint8Array, maxSize: number): { fields: string[]; size: number } {
  const r = new QpackReader(buf, 0, buf.length);
  const requiredInsertCount = r.int(8);
  if (requiredInsertCount !== 0) {
    throw decompressionFailed(`field section needs ${requiredInsertCount} dynamic table insertions, but our dynamic table capacity is 0`);
  }
  r.int(7); // Sign bit and Delta Base: meaningless without dynamic references.
  const out: string[] = [];
  let size = 0;
  while (!r.done) {
    const b = r.peek();
    let name: string;
    let value: string;
    if (b & 0x80) {
      // Indexed field line: 1 T index(6)
      if (!(b & 0x40)) throw dynamicRef('indexed field line');
      const e = staticEntry(r.int(6));
      name = e[0];
      value = e[1];
    } else if (b & 0x40) {
      // Literal with name reference: 01 N T index(4), value
      if (!(b & 0x10)) throw dynamicRef('literal field line with name reference');
      name = staticEntry(r.int(4))[0];
      value = r.string(7, maxSize);
    } else if (b & 0x20) {
      // Literal with literal name: 001 N H len(3) name, value
      name = r.string(3, maxSize);
      value = r.string(7, maxSize);
    } else if (b & 0x10) {
      throw dynamicRef('indexed field line with post-base index');
    } else {
      throw dynamicRef('literal field line with post-base name reference');
    }
    size += name.length + value.length + FIELD_OVERHEAD;
    if (size > maxSize) throw new FieldSectionTooLargeError(maxSize);
    out.push(name, value);
  }
  return { fields: out, size };
}

/** Field sections up to this many bytes are remembered (clients repeat theirs call after call). */
const CACHE_MAX_SECTION = 512;
const sections = new RepeatCache<Uint8Array, { readonly fields: readonly string[]; readonly size: number }>(512, sameBytes);

/**
 * decodeFieldSection for callers that only read the result. With no
 * dynamic table, the same bytes always decode to the same fields, and a
 * client sends the same few sections (path, authority, content-type) call
 * after call: comparing the bytes costs less than the Huffman decoding and
 * the strings. Bounded in slots and in section size; sections that never
 * repeat (a per-call grpc-timeout) are not kept (util/repeat-cache.ts).
 */
export function decodeFieldSectionShared(buf: Uint8Array, maxSize: number): readonly string[] {
  if (buf.length > CACHE_MAX_SECTION) return decodeFieldSection(buf, maxSize);
  const h = hashBytes(buf);
  const hit = sections.get(buf, h);
  if (hit !== undefined) {
    if (hit.size > maxSize) throw new FieldSectionTooLargeError(maxSize);
    return hit.fields;
  }
  const { fields, size } = decode(buf, maxSize);
  if (sections.admits(h)) sections.set(Uint8Array.from(buf), h, { fields: Object.freeze(fields), size });
  return fields;
}

function staticEntry(index: number): readonly [string, string] {
  const e = STATIC_TABLE[index];
  if (!e) throw decompressionFailed(`static table index ${index} does not exist (the table has ${STATIC_TABLE.length} entries)`);
  return e;
}

function dynamicRef(form: string): H3Error {
  return decompressionFailed(`${form} refers to the dynamic table, but our dynamic table capacity is 0`);
}

/** An integer instruction longer than this is not cut short but too large (62-bit values take at most 10 bytes). */
const MAX_INSTRUCTION_BYTES = 11;

/**
 * A reader of one of the peer's QPACK instruction streams, where every valid
 * instruction is a single prefixed integer. Chunks may split instructions
 * anywhere, so an incomplete tail is kept for the next chunk.
 */
abstract class InstructionStreamReader {
  private pending: Uint8Array | null = null;

  constructor(private readonly failCode: H3Code) {}

  /** The integer prefix of the instruction starting with byte `first`; throws if that instruction is refused. */
  protected abstract prefix(first: number): number;
  /** Checks the instruction's integer. */
  protected abstract accept(value: number): void;

  push(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.pending) {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
      this.pending = null;
    }
    let pos = 0;
    while (pos < buf.length) {
      const prefix = this.prefix(buf[pos]!);
      const r = new QpackReader(buf, pos, buf.length, this.failCode);
      let value: number;
      try {
        value = r.int(prefix);
      } catch (e) {
        if (buf.length - pos >= MAX_INSTRUCTION_BYTES) throw e; // not cut short: too large
        this.pending = buf.slice(pos);
        return;
      }
      this.accept(value);
      pos = r.pos;
    }
  }
}

/** Reads the peer's QPACK encoder stream (type 0x02): only "Set Dynamic Table Capacity 0" can be valid. */
export class EncoderStreamReader extends InstructionStreamReader {
  constructor() {
    super(H3Code.QPACK_ENCODER_STREAM_ERROR);
  }

  protected prefix(b: number): number {
    if ((b & 0xe0) !== 0x20) {
      throw new H3Error(H3Code.QPACK_ENCODER_STREAM_ERROR, `encoder stream instruction 0x${b.toString(16)} inserts into a dynamic table whose capacity is 0`);
    }
    return 5; // Set Dynamic Table Capacity: 001 capacity(5)
  }

  protected accept(capacity: number): void {
    if (capacity !== 0) {
      throw new H3Error(H3Code.QPACK_ENCODER_STREAM_ERROR, `Set Dynamic Table Capacity ${capacity} exceeds our maximum of 0`);
    }
  }
}

/** Reads the peer's QPACK decoder stream (type 0x03): only Stream Cancellation can be valid, as we never insert. */
export class DecoderStreamReader extends InstructionStreamReader {
  constructor() {
    super(H3Code.QPACK_DECODER_STREAM_ERROR);
  }

  protected prefix(b: number): number {
    if ((b & 0xc0) !== 0x40) {
      const what = b & 0x80 ? 'Section Acknowledgment' : 'Insert Count Increment';
      throw new H3Error(H3Code.QPACK_DECODER_STREAM_ERROR, `${what} on the decoder stream, but we never reference the dynamic table`);
    }
    return 6; // Stream Cancellation: 01 stream id(6)
  }

  protected accept(): void {
    // Cancelling a stream frees no dynamic table references, as we make none.
  }
}
