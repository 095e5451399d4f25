// Builds the server's answer to a connection it will not take: one QUIC v1
// Initial packet carrying CONNECTION_CLOSE (RFC 9000 §10.2.3, §17.2.2),
// protected with the Initial keys both sides derive from the client's first
// destination connection ID (RFC 9001 §5.2-5.4).
//
// quiche cannot do this: it only closes after processing the ClientHello, and
// then sends its whole handshake flight first, so the client completes the
// handshake and only then sees the close. Building the packet ourselves also
// spares a refused client the TLS work (key share, certificate signature).
import { createCipheriv, createHmac, randomFillSync } from 'node:crypto';

const INITIAL_SALT_V1 = Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex');
const FRAME_CONNECTION_CLOSE = 0x1c;

function hkdfExpandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  // HkdfLabel: uint16 length, opaque label<7..255>, opaque context<0..255> (empty).
  const info = Buffer.concat([Buffer.of(length >> 8, length & 0xff, full.length), full, Buffer.of(0), Buffer.of(1)]);
  // One HMAC block suffices for every length used here (<= 32).
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

interface InitialKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

export function serverInitialKeys(clientDcid: Uint8Array): InitialKeys {
  const initialSecret = createHmac('sha256', INITIAL_SALT_V1).update(clientDcid).digest();
  const secret = hkdfExpandLabel(initialSecret, 'server in', 32);
  return { key: hkdfExpandLabel(secret, 'quic key', 16), iv: hkdfExpandLabel(secret, 'quic iv', 12), hp: hkdfExpandLabel(secret, 'quic hp', 16) };
}

function varint(n: number): Buffer {
  if (n < 0x40) return Buffer.of(n);
  if (n < 0x4000) return Buffer.of(0x40 | (n >> 8), n & 0xff);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((0x80000000 | n) >>> 0);
  return b;
}

/**
 * The whole datagram: a v1 Initial from us (a fresh random SCID) to the
 * client (its SCID as our DCID), packet number 0, with CONNECTION_CLOSE of
 * transport error `errorCode`.
 */
export function initialClose(clientDcid: Uint8Array, clientScid: Uint8Array, errorCode: number, reason: string): Buffer {
  const keys = serverInitialKeys(clientDcid);
  const why = Buffer.from(reason, 'utf8').subarray(0, 100);
  const payload = Buffer.concat([Buffer.of(FRAME_CONNECTION_CLOSE), varint(errorCode), varint(0), varint(why.length), why]);
  const pnLen = 1;
  const scid = randomFillSync(Buffer.alloc(8));
  const length = pnLen + payload.length + 16;
  const header = Buffer.concat([
    Buffer.of(0xc0 | (pnLen - 1), 0, 0, 0, 1),
    Buffer.of(clientScid.length),
    clientScid,
    Buffer.of(scid.length),
    scid,
    varint(0), // token length: servers send none
    Buffer.of(0x40 | (length >> 8), length & 0xff), // always 2 bytes
    Buffer.of(0), // packet number 0
  ]);
  const pnOffset = header.length - pnLen;
  // Nonce = IV xor packet number (0).
  const aead = createCipheriv('aes-128-gcm', keys.key, keys.iv);
  aead.setAAD(header);
  const sealed = Buffer.concat([aead.update(payload), aead.final(), aead.getAuthTag()]);
  const packet = Buffer.concat([header, sealed]);
  // Header protection: mask from a 16-byte sample 4 bytes past the packet number start.
  const sample = packet.subarray(pnOffset + 4, pnOffset + 4 + 16);
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
  const mask = ecb.update(sample);
  packet[0] ^= mask[0] & 0x0f;
  for (let i = 0; i < pnLen; i++) packet[pnOffset + i] ^= mask[1 + i];
  return packet;
}
