// The server name (SNI) a client asks for, read from its first Initial
// packet before quiche sees it, so a new connection can be given the
// certificate of that name (quiche 0.18 takes its certificate from the config
// passed to accept(), and has no per-connection SNI callback).
//
// Initial packets are encrypted with keys anyone can derive from the
// client's destination connection ID (RFC 9001 §5.2): remove the header
// protection (§5.4), decrypt with AES-128-GCM, gather the CRYPTO frames from
// offset 0 and read the ClientHello's server_name extension (RFC 8446 §4.1.2,
// RFC 6066 §3). QUIC version 1 only. Undefined when the packet carries no
// SNI, or when the ClientHello's part in this packet ends before it (a
// ClientHello larger than one packet, e.g. with a post-quantum key share).
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';

const QUIC_V1 = 0x00000001;
/** RFC 9001 §5.2. */
const INITIAL_SALT_V1 = Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex');

/** HKDF-Expand-Label (RFC 8446 §7.1) for outputs of at most one SHA-256 block. */
function expandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

export interface InitialKeys {
  readonly key: Buffer;
  readonly iv: Buffer;
  readonly hp: Buffer;
}

/** The client's Initial keys for a destination connection ID (RFC 9001 §5.2). */
export function clientInitialKeys(dcid: Uint8Array): InitialKeys {
  const initial = createHmac('sha256', INITIAL_SALT_V1).update(dcid).digest();
  const client = expandLabel(initial, 'client in', 32);
  return { key: expandLabel(client, 'quic key', 16), iv: expandLabel(client, 'quic iv', 12), hp: expandLabel(client, 'quic hp', 16) };
}

class Reader {
  constructor(
    readonly b: Buffer,
    public at = 0,
  ) {}
  get left(): number {
    return this.b.length - this.at;
  }
  u8(): number {
    if (this.at >= this.b.length) throw RangeError('short');
    return this.b[this.at++]!;
  }
  bytes(n: number): Buffer {
    if (n < 0 || this.at + n > this.b.length) throw RangeError('short');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.u8();
    return v;
  }
  /** RFC 9000 §16 variable-length integer (up to 2^53). */
  varint(): number {
    const first = this.u8();
    const len = 1 << (first >> 6);
    let v = first & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + this.u8();
    return v;
  }
}

/** The first packet of a datagram, decrypted: its frames' bytes; undefined if it is not a v1 Initial that decrypts. */
function decryptInitial(datagram: Buffer): Buffer | undefined {
  const r = new Reader(datagram);
  const first = r.u8();
  // Long header, fixed bit, type Initial (0b00).
  if ((first & 0xf0) !== 0xc0) return undefined;
  if (r.uint(4) !== QUIC_V1) return undefined;
  const dcid = r.bytes(r.u8());
  r.bytes(r.u8()); // scid
  r.bytes(r.varint()); // token
  const length = r.varint();
  const pnOffset = r.at;
  if (length < 20 || pnOffset + length > datagram.length) return undefined;
  const keys = clientInitialKeys(dcid);
  // Header protection: a mask from a 16-byte sample taken 4 bytes after the packet number's start.
  const sample = datagram.subarray(pnOffset + 4, pnOffset + 20);
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
  ecb.setAutoPadding(false);
  const mask = ecb.update(sample);
  const header = Buffer.from(datagram.subarray(0, pnOffset + 4));
  header[0] = first ^ (mask[0]! & 0x0f);
  const pnLen = (header[0]! & 0x03) + 1;
  let pn = 0;
  for (let i = 0; i < pnLen; i++) {
    header[pnOffset + i] = datagram[pnOffset + i]! ^ mask[1 + i]!;
    pn = pn * 256 + header[pnOffset + i]!;
  }
  const nonce = Buffer.from(keys.iv);
  for (let i = 0; i < 6; i++) nonce[11 - i]! ^= Math.floor(pn / 2 ** (8 * i)) & 0xff;
  const body = datagram.subarray(pnOffset + pnLen, pnOffset + length);
  const gcm = createDecipheriv('aes-128-gcm', keys.key, nonce);
  gcm.setAAD(header.subarray(0, pnOffset + pnLen));
  gcm.setAuthTag(body.subarray(body.length - 16));
  try {
    return Buffer.concat([gcm.update(body.subarray(0, body.length - 16)), gcm.final()]);
  } catch {
    return undefined;
  }
}

/** The CRYPTO stream's bytes from offset 0, as far as this packet has them contiguously. */
function cryptoPrefix(frames: Buffer): Buffer {
  const r = new Reader(frames);
  const parts: Array<[number, Buffer]> = [];
  try {
    while (r.left > 0) {
      const type = r.varint();
      if (type === 0x00 || type === 0x01) continue; // PADDING, PING
      if (type === 0x02 || type === 0x03) {
        // ACK: largest, delay, range count, first range, then gap/length pairs (and ECN counts for 0x03).
        r.varint();
        r.varint();
        const ranges = r.varint();
        r.varint();
        for (let i = 0; i < ranges * 2; i++) r.varint();
        if (type === 0x03) for (let i = 0; i < 3; i++) r.varint();
        continue;
      }
      if (type === 0x06) {
        const offset = r.varint();
        parts.push([offset, r.bytes(r.varint())]);
        continue;
      }
      break; // CONNECTION_CLOSE or anything an Initial may not carry
    }
  } catch {
    // A truncated frame: keep what came before it.
  }
  parts.sort((a, b) => a[0] - b[0]);
  const out: Buffer[] = [];
  let next = 0;
  for (const [offset, data] of parts) {
    if (offset > next) break;
    if (offset + data.length <= next) continue;
    out.push(data.subarray(next - offset));
    next = offset + data.length;
  }
  return Buffer.concat(out);
}

/** The host_name of a ClientHello's server_name extension, if it lies within `hello`. */
function serverNameOf(hello: Buffer): string | undefined {
  const r = new Reader(hello);
  try {
    if (r.u8() !== 1) return undefined; // not a ClientHello
    r.uint(3); // length (the message may go on past this packet)
    r.bytes(2 + 32); // legacy_version, random
    r.bytes(r.u8()); // legacy_session_id
    r.bytes(r.uint(2)); // cipher_suites
    r.bytes(r.u8()); // legacy_compression_methods
    const end = Math.min(hello.length, r.at + 2 + r.uint(2));
    while (r.at + 4 <= end) {
      const type = r.uint(2);
      const len = r.uint(2);
      if (type !== 0) {
        r.bytes(len);
        continue;
      }
      const ext = new Reader(r.bytes(len));
      const listEnd = 2 + ext.uint(2);
      while (ext.at < listEnd) {
        const nameType = ext.u8();
        const name = ext.bytes(ext.uint(2));
        if (nameType === 0) return name.toString('ascii').toLowerCase();
      }
      return undefined;
    }
  } catch {
    // Cut short: the extension is not in this packet.
  }
  return undefined;
}

/** The SNI of the ClientHello that starts in this datagram's first (Initial) packet, if it is there. */
export function serverNameOfInitial(datagram: Buffer): string | undefined {
  try {
    const frames = decryptInitial(datagram);
    return frames === undefined ? undefined : serverNameOf(cryptoPrefix(frames));
  } catch {
    return undefined;
  }
}
