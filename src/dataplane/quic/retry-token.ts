// Address-validation tokens for stateless Retry (RFC 9000 §8.1.2-8.1.4):
// the server keeps nothing between sending a Retry and the client's second
// Initial; everything it needs comes back in the token, authenticated with a
// key only this server knows. A token proves the client received what we
// sent to its IP address (not its port: a NAT may rebind between the two
// Initials), and names the connection IDs the handshake must then carry as
// transport parameters (original_destination_connection_id, and the Retry's
// source ID as retry_source_connection_id).
//
//   token = 0x01 | issued (6 bytes, ms since the epoch) | odcid length | odcid | mac (16 bytes)
//   mac   = HMAC-SHA256(key, address | issued | odcid | retry scid), truncated
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const FORMAT = 0x01;
const MAC_LEN = 16;
/** QUIC v1 connection IDs are at most 20 bytes (RFC 9000 §17.2). */
const MAX_CID = 20;
/** A token issued this far in our future (a clock step) is still accepted. */
const CLOCK_SKEW_MS = 1000;

export class RetryTokens {
  private readonly key: Buffer;
  private readonly lifetimeMs: number;

  constructor(lifetimeMs: number, key: Buffer = randomBytes(32)) {
    this.key = key;
    this.lifetimeMs = lifetimeMs;
  }

  /** The token for a Retry to `address` of the client Initial sent to `odcid`, with `retryScid` as our new ID. */
  mint(address: string, odcid: Uint8Array, retryScid: Uint8Array, now = Date.now()): Buffer {
    const t = Buffer.allocUnsafe(8 + odcid.length + MAC_LEN);
    t[0] = FORMAT;
    t.writeUIntBE(now, 1, 6);
    t[7] = odcid.length;
    t.set(odcid, 8);
    this.mac(address, t.subarray(1, 7), odcid, retryScid).copy(t, 8 + odcid.length);
    return t;
  }

  /**
   * The original destination connection ID the token carries, or null when
   * it is not one of ours, was issued to another address or for another
   * Retry source ID (`dcid`, the destination of the client's new Initial),
   * or has expired.
   */
  check(token: Uint8Array, address: string, dcid: Uint8Array, now = Date.now()): Buffer | null {
    if (token.length < 8 + MAC_LEN || token[0] !== FORMAT) return null;
    const odcidLen = token[7];
    if (odcidLen > MAX_CID || token.length !== 8 + odcidLen + MAC_LEN) return null;
    const t = Buffer.from(token.buffer, token.byteOffset, token.length);
    const issued = t.readUIntBE(1, 6);
    if (issued > now + CLOCK_SKEW_MS || now - issued > this.lifetimeMs) return null;
    const odcid = t.subarray(8, 8 + odcidLen);
    const want = this.mac(address, t.subarray(1, 7), odcid, dcid);
    if (!timingSafeEqual(want, t.subarray(8 + odcidLen))) return null;
    return Buffer.from(odcid);
  }

  private mac(address: string, issued: Uint8Array, odcid: Uint8Array, retryScid: Uint8Array): Buffer {
    const h = createHmac('sha256', this.key);
    h.update(address, 'latin1');
    // Field lengths keep (address, odcid, scid) splits from colliding.
    h.update(Uint8Array.of(address.length, odcid.length, retryScid.length));
    h.update(issued);
    h.update(odcid);
    h.update(retryScid);
    return h.digest().subarray(0, MAC_LEN);
  }
}
