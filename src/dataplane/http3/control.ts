// The unidirectional streams of an HTTP/3 connection, for either side
// (RFC 9114 §6.2, RFC 9204 §4.2): ours (control with SETTINGS first, and the
// QPACK encoder and decoder streams, which stay empty because we use no
// dynamic table) and the peer's, identified by their leading stream-type varint.
//
// Each critical stream may exist once and must never close; the peer's control
// stream starts with SETTINGS and carries no request frames. Unknown and
// reserved stream types are refused with STOP_SENDING and otherwise ignored.
import { connectionError, H3Code, H3Error } from './error-codes.js';
import { encodeGoaway, encodeSettings, FrameReader, FrameType, parseSettings, parseSingleVarint, Setting, type FrameSink } from './frames.js';
import { DecoderStreamReader, EncoderStreamReader } from './qpack/decoder.js';
import type { QuicConnection, QuicStream } from '../quic/transport.js';
import { readVarint, varintSize } from './varint.js';
import { DEFAULT_LIMITS } from '../../limits.js';

export const StreamType = { CONTROL: 0x00, PUSH: 0x01, QPACK_ENCODER: 0x02, QPACK_DECODER: 0x03 } as const;

export interface PeerControlEvents {
  /** The peer's SETTINGS (always the first frame on its control stream). */
  settings(s: Map<number, number>): void;
  /** GOAWAY from the peer: a stream ID (from a server) or push ID (from a client). */
  goaway(id: number): void;
  /** A connection error the peer caused on one of these streams. */
  error(e: H3Error): void;
}

/** Opens our control stream (SETTINGS first) and empty QPACK streams. Returns the control stream. */
export function openLocalStreams(conn: QuicConnection, maxFieldSectionSize: number): QuicStream {
  const control = conn.openUni();
  const settings = encodeSettings([
    [Setting.QPACK_MAX_TABLE_CAPACITY, 0],
    [Setting.QPACK_BLOCKED_STREAMS, 0],
    [Setting.MAX_FIELD_SECTION_SIZE, maxFieldSectionSize],
  ]);
  const first = new Uint8Array(1 + settings.length);
  first[0] = StreamType.CONTROL;
  first.set(settings, 1);
  control.write(first);
  // The QPACK streams stay empty (no dynamic table); a peer short of stream credit just does without them.
  try {
    conn.openUni().write(Uint8Array.of(StreamType.QPACK_ENCODER));
    conn.openUni().write(Uint8Array.of(StreamType.QPACK_DECODER));
  } catch {
    // RFC 9114 §6.2 asks peers to allow at least 3 unidirectional streams; not our failure if it did not.
  }
  return control;
}

/** Writes a GOAWAY frame on our control stream. */
export function sendGoaway(control: QuicStream, id: number): void {
  control.write(encodeGoaway(id));
}

/** The peer's control stream: SETTINGS first, then only control frames. */
class ControlSink implements FrameSink {
  private gotSettings = false;
  private lastGoaway = Infinity;
  constructor(
    private readonly role: 'server' | 'client',
    private readonly ev: PeerControlEvents,
    private readonly maxFrame: number,
  ) {}

  frameStart(type: number, length: number): boolean {
    if (length > this.maxFrame) {
      // Control frames are a few bytes; a large one is only a way to make us buffer (RFC 9114 §10.5).
      throw connectionError(H3Code.H3_EXCESSIVE_LOAD, `control frame type 0x${type.toString(16)} of ${length} bytes (limit ${this.maxFrame})`);
    }
    if (!this.gotSettings && type !== FrameType.SETTINGS) {
      throw connectionError(H3Code.H3_MISSING_SETTINGS, `the peer's control stream starts with frame type 0x${type.toString(16)}, not SETTINGS`);
    }
    switch (type) {
      case FrameType.DATA:
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE:
        throw connectionError(H3Code.H3_FRAME_UNEXPECTED, `frame type 0x${type.toString(16)} is not allowed on the control stream`);
      case FrameType.SETTINGS:
        if (this.gotSettings) throw connectionError(H3Code.H3_FRAME_UNEXPECTED, 'a second SETTINGS frame on the control stream');
        return true;
      case FrameType.MAX_PUSH_ID:
        if (this.role === 'client') throw connectionError(H3Code.H3_FRAME_UNEXPECTED, 'MAX_PUSH_ID from a server');
        return true;
      default:
        return true;
    }
  }

  data(): void {}

  frame(type: number, payload: Uint8Array): void {
    switch (type) {
      case FrameType.SETTINGS:
        this.gotSettings = true;
        this.ev.settings(parseSettings(payload));
        return;
      case FrameType.GOAWAY: {
        const id = parseSingleVarint(type, payload);
        if (this.role === 'client' && id % 4 !== 0) throw connectionError(H3Code.H3_ID_ERROR, `GOAWAY names stream ${id}, not a client-initiated bidirectional stream`);
        if (id > this.lastGoaway) throw connectionError(H3Code.H3_ID_ERROR, `GOAWAY ID rose from ${this.lastGoaway} to ${id}`);
        this.lastGoaway = id;
        this.ev.goaway(id);
        return;
      }
      case FrameType.CANCEL_PUSH:
      case FrameType.MAX_PUSH_ID:
        // We never push, and never allow pushes: nothing to cancel or grant.
        parseSingleVarint(type, payload);
        return;
    }
  }
}

/** Accepts the peer's unidirectional streams for one connection. */
export class PeerStreams {
  /** Types of the critical streams the peer has opened: each may exist once. */
  private readonly opened = new Set<number>();

  constructor(
    private readonly role: 'server' | 'client',
    private readonly ev: PeerControlEvents,
    /** Largest frame on the peer's control stream (limits.http3MaxControlFrameBytes). */
    private readonly maxControlFrame: number = DEFAULT_LIMITS.http3MaxControlFrameBytes,
  ) {}

  accept(stream: QuicStream): void {
    let head: Uint8Array | null = null;
    stream.onReset = () => {}; // before we know the type, a reset costs nothing
    stream.onData = (chunk, fin) => {
      if (head !== null) {
        const joined = new Uint8Array(head.length + chunk.length);
        joined.set(head);
        joined.set(chunk, head.length);
        chunk = joined;
        head = null;
      }
      if (chunk.length === 0 || varintSize(chunk[0]!) > chunk.length) {
        if (fin) {
          stream.onData = null;
          return; // a stream closed before its type: nothing to do (RFC 9114 §6.2)
        }
        head = chunk.slice();
        return;
      }
      const type = readVarint(chunk, 0);
      const rest = chunk.subarray(varintSize(chunk[0]!));
      try {
        this.dispatch(stream, type);
      } catch (e) {
        stream.onData = null;
        this.ev.error(e as H3Error);
        return;
      }
      stream.onData?.(rest, fin);
    };
  }

  private dispatch(stream: QuicStream, type: number): void {
    const critical = (name: string) => {
      const closed = () => this.ev.error(connectionError(H3Code.H3_CLOSED_CRITICAL_STREAM, `the peer closed its ${name} stream`));
      stream.onReset = closed;
      return closed;
    };
    const guard = (push: (chunk: Uint8Array) => void, closed: () => void) => {
      stream.onData = (chunk, fin) => {
        try {
          if (chunk.length > 0) push(chunk);
        } catch (e) {
          stream.onData = null;
          this.ev.error(e instanceof H3Error ? e : connectionError(H3Code.H3_INTERNAL_ERROR, String(e)));
          return;
        }
        if (fin) {
          stream.onData = null;
          closed();
        }
      };
    };
    const once = (name: string, reader: { push(chunk: Uint8Array): void }) => {
      if (this.opened.has(type)) throw connectionError(H3Code.H3_STREAM_CREATION_ERROR, `a second ${name} stream`);
      this.opened.add(type);
      guard((c) => reader.push(c), critical(name));
    };
    switch (type) {
      case StreamType.CONTROL:
        return once('control', new FrameReader(new ControlSink(this.role, this.ev, this.maxControlFrame)));
      case StreamType.QPACK_ENCODER:
        return once('QPACK encoder', new EncoderStreamReader());
      case StreamType.QPACK_DECODER:
        return once('QPACK decoder', new DecoderStreamReader());
      case StreamType.PUSH:
        if (this.role === 'server') throw connectionError(H3Code.H3_STREAM_CREATION_ERROR, 'a client opened a push stream');
        // We never sent MAX_PUSH_ID, so any push ID is beyond the limit (RFC 9114 §4.6).
        throw connectionError(H3Code.H3_ID_ERROR, 'a push stream although no push was allowed');
      default:
        // Unknown or reserved type: ask the peer to stop, ignore what arrives meanwhile (§6.2).
        stream.onData = null;
        stream.onReset = null;
        stream.stopSending(H3Code.H3_STREAM_CREATION_ERROR);
    }
  }
}
