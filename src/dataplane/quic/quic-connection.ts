// One quiche connection driven by an Endpoint (endpoint.ts). Everything that
// happens to it funnels into two passes: ingest() announces the handshake,
// pulls readable streams and pushes buffered writes; egress(), once the app
// has answered, drains quiche's packets into the socket and re-arms the
// endpoint's timer from quiche's timeout().
import { WorkdError, Code, failedPrecondition, unavailable } from '../../errors.js';
import type { QuicConnection, QuicStream } from './transport.js';
import { Stream, EMPTY, STOP_SENDING_CODE_UNKNOWN } from './quic-stream.js';
import {
  type QuicheConnection,
  SHUTDOWN_READ,
  SHUTDOWN_WRITE,
  TRANSPORT_INTERNAL_ERROR,
  streamErrorCode,
  errorMessage,
} from './native.js';
import type { Endpoint } from './endpoint.js';
import { IdMap } from '../../util/id-map.js';

interface HostPort {
  host: string;
  port: number;
}

/**
 * A closing connection sends at most a CONNECTION_CLOSE plus what was already
 * due (ACKs, probes): a flush of this many datagrams without quiche draining
 * means it is stuck (see flush()).
 */
const CLOSING_FLUSH_LIMIT = 64;

/** Up to this many streams, readable ones are found by asking about each (see readStreams). */
const PROBE_LIMIT = 64;

export class Connection implements QuicConnection {
  remoteAddress: string;
  remotePort: number;
  alpn = '';
  get serverName(): string | undefined {
    const n = this.quic.serverName();
    return n === null || n === '' ? undefined : n.toLowerCase();
  }
  get peerCertified(): boolean {
    return this.quic.peerCertChain() !== null;
  }
  onStream: ((stream: QuicStream) => void) | null = null;
  onClose: ((errorCode: number, reason: string) => void) | null = null;

  readonly quic: QuicheConnection;
  readonly isServer: boolean;
  /** Our source connection ID (server: the routing key). */
  readonly scid: Buffer;
  /** The client's first destination ID, hex (server side: routes its Initials for the connection's lifetime). */
  readonly odcidKey: string;

  // State the endpoint reads; only this class's methods change it.
  private _established = false;
  private _closeNotified = false;
  private _removed = false;
  private failed = false;
  /** In the endpoint's batch of connections to ingest. */
  private dirty = false;
  /** Queued for the endpoint's next send pass. */
  private sendDue = false;
  // Since the last egress (what decides whether an ACK may wait for the app's answer):
  /** Datagrams fed to quiche. */
  private datagramsIn = 0;
  /** A peer stream delivered its FIN: a request is complete and its answer may follow shortly. */
  private requestEnded = false;
  /** We wrote, reset, opened or closed something, or quiche's timer ran. */
  private mustSend = false;
  /** performance.now() until which an ACK is held for the app (Infinity: none held). */
  private ackAt = Infinity;
  /** The held ACK's time is up. */
  private ackDue = false;
  /** The endpoint's timer found our deadline passed; onTimeout() runs in the next ingest(). */
  private timeoutDue = false;
  /** close() was called: stop delivering data. */
  private closeRequested = false;
  /** performance.now() at which quiche wants onTimeout(); Infinity when none. */
  private deadline = Infinity;
  /** performance.now() by which the handshake must be complete, else the connection is dropped (server: half-open timeout). */
  private handshakeBy = Infinity;
  /** handshakeBy passed before the handshake completed: ingest() drops the connection. */
  private handshakeExpired = false;
  /** Dropped because its handshake did not complete in time. */
  handshakeTimedOut = false;
  /** Called once when the handshake completes (server accept, client connect). */
  private readonly establishedHook: (c: Connection) => void;
  onStreamCredit: (() => void) | null = null;


  get established(): boolean {
    return this._established;
  }
  /** onClose has run: nothing can be sent or received any more. */
  get closeNotified(): boolean {
    return this._closeNotified;
  }
  /** The endpoint no longer routes datagrams to it. */
  get removed(): boolean {
    return this._removed;
  }

  // ── the endpoint's scheduling, as methods (endpoint.ts) ──

  /** Joins the endpoint's next ingest batch; false when already in it. */
  enqueue(): boolean {
    if (this.dirty) return false;
    this.dirty = true;
    return true;
  }

  /** Leaves the ingest batch; true when it must join the send pass (not already queued there). */
  dequeue(): boolean {
    this.dirty = false;
    if (this.sendDue) return false;
    this.sendDue = true;
    return true;
  }

  /** Leaves the ingest batch without joining the send pass (its ingest failed). */
  dropFromBatch(): void {
    this.dirty = false;
  }

  /** Leaves the send pass. */
  sending(): void {
    this.sendDue = false;
  }

  /** Holds the ACK for the app's answer until `until` (performance.now() ms); returns it for the timer. */
  holdAck(until: number): number {
    this.ackAt = until;
    return until;
  }

  /**
   * The endpoint's timer at `now`: marks quiche's timeout or a held ACK due
   * (they run in the next ingest). Returns whether anything became due.
   */
  expire(now: number): boolean {
    let due = false;
    if (this.handshakeBy <= now) {
      this.handshakeBy = Infinity;
      this.handshakeExpired = true;
      due = true;
    }
    if (this.deadline <= now) {
      this.deadline = Infinity;
      // quiche's onTimeout() runs in ingest(), after the poll phase: if the loop
      // stalled, datagrams waiting in the socket are fed to quiche first, so a
      // busy peer is not mistaken for an idle one.
      this.timeoutDue = true;
      due = true;
    }
    if (this.ackAt <= now) {
      this.ackAt = Infinity;
      this.ackDue = true;
      due = true;
    }
    return due;
  }

  /** The earliest time the endpoint's timer must wake for this connection (Infinity: none). */
  get wakeAt(): number {
    const t = this.deadline < this.ackAt ? this.deadline : this.ackAt;
    return t < this.handshakeBy ? t : this.handshakeBy;
  }

  /**
   * The handshake must complete within `ms`, or the connection is dropped
   * without a word: a peer that never answered our handshake flight has not
   * shown it can receive at its address, and anything more we sent would
   * only amplify a spoofed flood.
   */
  limitHandshake(ms: number): void {
    this.handshakeBy = performance.now() + ms;
    this.endpoint.arm(this.handshakeBy);
  }

  /** The endpoint forgets it; false when it already had. */
  detach(): boolean {
    if (this._removed) return false;
    this._removed = true;
    return true;
  }

  private readonly endpoint: Endpoint;
  private readonly recvInfo: { from: HostPort; to: HostPort };
  private readonly streams = new IdMap<Stream>();
  /** Streams that still owe quiche data or a FIN (for the writable pass). */
  private sendOpenCount = 0;
  private nextBidi: number;
  private nextUni: number;
  /** Lowest ids above every stream of the peer's we have seen, per kind. */
  private nextPeerBidi: number;
  private nextPeerUni: number;

  constructor(
    endpoint: Endpoint,
    quic: QuicheConnection,
    isServer: boolean,
    scid: Buffer,
    remote: HostPort,
    local: HostPort,
    onEstablished: (c: Connection) => void,
    odcidKey = '',
  ) {
    this.endpoint = endpoint;
    this.establishedHook = onEstablished;
    this.odcidKey = odcidKey;
    this.quic = quic;
    this.isServer = isServer;
    this.scid = scid;
    this.remoteAddress = unmapV4(remote.host);
    this.remotePort = remote.port;
    this.recvInfo = { from: { host: remote.host, port: remote.port }, to: local };
    this.nextBidi = isServer ? 1 : 0;
    this.nextUni = isServer ? 3 : 2;
    this.nextPeerBidi = isServer ? 0 : 1;
    this.nextPeerUni = isServer ? 2 : 3;
  }

  /** One datagram from the socket; the work it causes runs in ingest(). */
  receive(buf: Buffer, address: string, port: number): void {
    const from = this.recvInfo.from;
    if (from.port !== port || from.host !== address) {
      from.host = address;
      from.port = port;
      this.remoteAddress = unmapV4(address);
      this.remotePort = port;
    }
    this.datagramsIn++;
    try {
      this.quic.recv(buf, this.recvInfo);
    } catch {
      // quiche dropped the packet (undecryptable, duplicate, malformed) or
      // closed the connection; in the latter case egress() sees it closing.
    }
    this.markDirty();
  }

  markDirty(): void {
    if (!this._removed) this.endpoint.markDirty(this);
  }

  /** Feeds quiche's timeout and the streams' data in both directions; sending waits for egress(). */
  ingest(): void {
    const q = this.quic;
    if (this.handshakeExpired) {
      this.handshakeExpired = false;
      if (!this._established) {
        this.handshakeTimedOut = true;
        this.abandon();
        return;
      }
    }
    if (this.timeoutDue) {
      this.timeoutDue = false;
      this.mustSend = true;
      q.onTimeout();
    }
    // A handshake that completes in the same flight as a CONNECTION_CLOSE
    // (a refusing server) is never announced.
    if (!this._established && q.isEstablished() && !q.isDraining() && !q.isClosed()) {
      this._established = true;
      this.handshakeBy = Infinity;
      this.alpn = Buffer.from(q.applicationProto()).toString('latin1');
      // The flight that completes the handshake (the client's Finished, the
      // server's HANDSHAKE_DONE) is not held back for the app: an app that
      // drops the connection at once must still leave the peer established.
      this.flush();
      // Announce before reading: the handshake-completing flight may carry
      // the peer's first streams (HTTP/3 control and QPACK streams), which
      // must reach onStream of the connection the app has just been given.
      this.establishedHook(this);
    }
    if (this._established && !this._closeNotified && !this.closeRequested) {
      this.readStreams();
      if (this.sendOpenCount > 0 && !this.closeRequested) this.writeStreams();
      // The peer's MAX_STREAMS may have come in: whoever waits for a stream can open it now.
      if (this.onStreamCredit !== null && this.bidiStreamsLeft > 0) this.onStreamCredit();
    }
  }

  get bidiStreamsLeft(): number {
    return this._established && !this._closeNotified && !this.closeRequested ? this.quic.peerStreamsLeftBidi() : 0;
  }

  /**
   * True when sending now would mostly ACK the one datagram that completed
   * a request whose answer the app has not written yet. We ack at least
   * every second datagram, never hold what the app wrote or what quiche's
   * timer produced, and whatever else quiche would send in that pass (data
   * the datagram's ACK unblocked) waits no longer than the ACK.
   */
  mayDelayAck(): boolean {
    return this.requestEnded && !this.mustSend && !this.ackDue && this.datagramsIn === 1 && this._established && !this.closeRequested && !this._closeNotified;
  }

  /** Sends what quiche has, notices the close, re-arms the timer. */
  egress(): void {
    if (this._removed) return;
    this.datagramsIn = 0;
    this.requestEnded = false;
    this.mustSend = false;
    this.ackAt = Infinity;
    this.ackDue = false;
    const q = this.quic;
    this.flush();
    if (!this._closeNotified && (q.isDraining() || q.isClosed())) this.notifyClose();
    if (q.isClosed()) {
      this.deadline = Infinity;
      this.endpoint.remove(this);
      return;
    }
    const t = q.timeout();
    // quiche truncates to whole milliseconds; +1 avoids waking up just early.
    this.deadline = t === null ? Infinity : performance.now() + (t === 0 ? 0 : t + 1);
    this.endpoint.arm(this.wakeAt);
  }

  /**
   * Drains quiche's outgoing packets into the socket until Done or the send
   * ring is full; `urgent` (closing) does not wait for the ring.
   */
  flush(urgent = false): void {
    const ep = this.endpoint;
    const q = this.quic;
    let n = 0;
    for (;;) {
      let slot = ep.sendSlot();
      let owned = false;
      if (slot === null) {
        if (!urgent) {
          ep.waitForSlots(this);
          return;
        }
        slot = Buffer.allocUnsafe(ep.slotSize);
        owned = true;
      }
      let r: ReturnType<QuicheConnection['send']>;
      try {
        r = q.send(slot);
      } catch (err) {
        ep.log?.warn({ err: errorMessage(err) }, 'quic: send failed');
        return;
      }
      if (r === null) return;
      const to = r[1].to;
      if (owned) ep.sendOwned(slot, r[0], to.port, to.host);
      else ep.commitSend(slot, r[0], to.port, to.host);
      if (++n === CLOSING_FLUSH_LIMIT && this.stuckClosing()) return;
    }
  }

  /**
   * quiche 0.18 sends an application close only in a 1-RTT packet. If a
   * client whose handshake is not yet confirmed (no HANDSHAKE_DONE yet) runs
   * onTimeout() for a Handshake PTO between close() and the send of the
   * close, every later send() returns an ACK-only Handshake packet (the
   * probe is never counted as sent) and never the close, until the idle
   * timeout: a flood that starves the peer's socket. closeWith() sends the
   * close before any timer can reach quiche; this is the last resort if
   * quiche gets stuck anyway: stop sending and forget the connection (the
   * peer learns of it only by its idle timeout).
   */
  private stuckClosing(): boolean {
    const q = this.quic;
    if (q.localError() === null || q.isDraining() || q.isClosed()) return false;
    this.endpoint.log?.warn({ remote: this.remoteAddress }, 'quic: closing connection sends without end (quiche defect); dropped without CONNECTION_CLOSE');
    this.notifyClose();
    this.deadline = Infinity;
    this.endpoint.remove(this);
    return true;
  }

  private readStreams(): void {
    const q = this.quic;
    if (!q.isReadable()) return;
    // quiche's readable() costs ~15 us (the binding builds an iterator
    // object); asking about one stream costs ~0.15 us. So ask about the
    // streams that can be readable: open ones we read, and the peer's next
    // new ones in order. Whatever that misses (a stream that arrived out of
    // order, leftovers of a stream we forgot, a paused one) keeps
    // isReadable() true and is found by readable() below.
    if (this.streams.size <= PROBE_LIMIT) {
      this.streams.forEach(this.probeStream);
      // A callback closed the connection: the rest is moot.
      if (this.closeRequested) return;
      this.readNewPeerStreams(true);
      this.readNewPeerStreams(false);
      if (this.closeRequested || !q.isReadable()) return;
    }
    for (const id of q.readable()) {
      // A callback closed the connection: the rest is moot.
      if (this.closeRequested) return;
      let s = this.streams.get(id);
      if (s === undefined) {
        s = this.peerStream(id);
        if (s === undefined) {
          // A stream we already finished with: quiche still has bytes for it.
          this.discard(id);
          continue;
        }
      }
      this.readStream(s);
    }
  }

  /** The peer's streams of one kind that are readable from the next unseen id on, in order. */
  private readNewPeerStreams(bidi: boolean): void {
    const q = this.quic;
    for (;;) {
      if (this.closeRequested) return;
      const id = bidi ? this.nextPeerBidi : this.nextPeerUni;
      if (!q.streamReadable(id)) return;
      const s = this.peerStream(id);
      if (s === undefined) return;
      this.readStream(s);
    }
  }

  /** Delivers what quiche holds for `s` while someone listens. */
  private readStream(s: Stream): void {
    const q = this.quic;
    const scratch = this.endpoint.recvScratch;
    while (!s.readDone && !this.closeRequested) {
      const onData = s.onData;
      if (onData === null) return;
      let r: [number, boolean] | null;
      try {
        r = q.streamRecv(s.id, scratch);
      } catch (err) {
        this.recvFailed(s, err);
        return;
      }
      if (r === null) return;
      const n = r[0];
      const fin = r[1];
      const chunk = Buffer.allocUnsafe(n);
      scratch.copy(chunk, 0, 0, n);
      if (fin) {
        s.readDone = true;
        if (s.peerInitiated) this.requestEnded = true;
      }
      onData(chunk, fin);
      if (fin) this.maybeForget(s);
    }
  }

  /** A readable stream not in our map: the peer's new stream, or a stale id. */
  private peerStream(id: number): Stream | undefined {
    // Peer streams may arrive out of order (4 after 8), so any peer id not in
    // the map is new: we forget a stream only once quiche no longer lists it
    // readable (FIN or reset consumed, or STOP_SENDING sent).
    const peerBit = this.isServer ? 0 : 1;
    if ((id & 1) !== peerBit) return undefined;
    if ((id & 2) === 0) this.nextPeerBidi = Math.max(this.nextPeerBidi, id + 4);
    else this.nextPeerUni = Math.max(this.nextPeerUni, id + 4);
    const s = new Stream(this, id, true);
    this.streams.set(id, s);
    if (s.canWrite) this.sendOpenCount++;
    this.onStream?.(s);
    return s;
  }

  private discard(id: number): void {
    const scratch = this.endpoint.recvScratch;
    try {
      while (this.quic.streamRecv(id, scratch) !== null);
    } catch {
      // reset or finished: nothing left to drain
    }
  }

  private recvFailed(s: Stream, err: unknown): void {
    s.readDone = true;
    const code = streamErrorCode(err, 'StreamReset');
    if (code >= 0) s.onReset?.(code);
    else this.endpoint.log?.warn({ stream: s.id, err: errorMessage(err) }, 'quic: stream read failed');
    this.maybeForget(s);
  }

  /**
   * Flushes buffered writes and notices peers' STOP_SENDING. We walk our own
   * open sending streams rather than quiche's writable(): when STOP_SENDING
   * comes in the same packet as the ACK of our last bytes, quiche completes
   * and forgets the stream at once, so it never shows up as writable and
   * later writes vanish; only asking quiche about the stream reveals it.
   */
  private writeStreams(): void {
    this.streams.forEach(this.writeStream);
  }

  private readonly writeStream = (s: Stream): void => {
    if (!s.sendOpen) return;
    let cap: number;
    try {
      cap = this.quic.streamCapacity(s.id);
    } catch (err) {
      this.sendGone(s, err);
      return;
    }
    if (cap > 0 && s.hasPending) {
      s.flushPending();
      if (!s.sendOpen) this.sendClosed(s);
    }
  };

  /** Reads `s` if quiche holds data for it; stops the iteration once the connection is closing. */
  private readonly probeStream = (s: Stream): boolean => {
    if (this.closeRequested) return true;
    if (!s.readDone && s.onData !== null && this.quic.streamReadable(s.id)) this.readStream(s);
    return false;
  };

  /** quiche refused to say how much the stream takes: stopped by the peer, or already forgotten. */
  private sendGone(s: Stream, err: unknown): void {
    s.sendAborted = true;
    s.dropPending();
    this.sendClosed(s);
    let code = streamErrorCode(err, 'StreamStopped');
    // Forgotten by quiche (InvalidStreamState): only a peer's STOP_SENDING
    // ends our sending side without our FIN or reset, but its code is lost.
    if (code < 0) code = STOP_SENDING_CODE_UNKNOWN;
    s.onReset?.(code);
  }

  /** streamSend that turns STOP_SENDING into onReset; -1 when the stream can take no more. */
  streamSend(s: Stream, chunk: Uint8Array, fin: boolean): number {
    let n: number | null;
    try {
      n = this.quic.streamSend(s.id, chunk, fin);
    } catch (err) {
      const wasOpen = s.sendOpen;
      s.sendAborted = true;
      s.dropPending();
      if (wasOpen) this.sendClosed(s);
      const code = streamErrorCode(err, 'StreamStopped');
      if (code >= 0) s.onReset?.(code);
      else this.endpoint.log?.warn({ stream: s.id, err: errorMessage(err) }, 'quic: stream write failed');
      return -1;
    }
    return n ?? 0;
  }

  /** Bookkeeping after Stream.write: the send loop runs once per batch, not per write. */
  afterWrite(s: Stream): void {
    this.mustSend = true;
    if (s.writeDone) this.sendClosed(s);
    this.markDirty();
  }

  shutdownWrite(s: Stream, errorCode: number): void {
    this.mustSend = true;
    const wasOpen = s.sendOpen;
    s.sendAborted = true;
    s.dropPending();
    try {
      this.quic.streamShutdown(s.id, SHUTDOWN_WRITE, errorCode);
    } catch (err) {
      this.endpoint.log?.debug({ stream: s.id, err: errorMessage(err) }, 'quic: reset on a finished stream');
    }
    if (wasOpen) this.sendClosed(s);
    else this.maybeForget(s);
    this.markDirty();
  }

  shutdownRead(s: Stream, errorCode: number): void {
    this.mustSend = true;
    s.readDone = true;
    try {
      this.quic.streamShutdown(s.id, SHUTDOWN_READ, errorCode);
    } catch (err) {
      this.endpoint.log?.debug({ stream: s.id, err: errorMessage(err) }, 'quic: stop-sending on a finished stream');
    }
    this.maybeForget(s);
    this.markDirty();
  }

  private sendClosed(s: Stream): void {
    this.sendOpenCount--;
    this.maybeForget(s);
  }

  private maybeForget(s: Stream): void {
    if (s.readDone && !s.sendOpen && this.streams.get(s.id) === s) this.streams.delete(s.id);
  }

  openUni(): QuicStream {
    return this.open(false);
  }

  openBidi(): QuicStream {
    return this.open(true);
  }

  private open(bidi: boolean): Stream {
    if (!this._established) throw failedPrecondition('QUIC connection: handshake not complete');
    if (this._closeNotified) throw unavailable('QUIC connection is closed');
    const id = bidi ? this.nextBidi : this.nextUni;
    try {
      // An empty write makes quiche create the stream now, so the peer's
      // stream limit is checked here rather than at the first real write.
      this.quic.streamSend(id, EMPTY, false);
    } catch (err) {
      throw new WorkdError(Code.RESOURCE_EXHAUSTED, `QUIC: cannot open a ${bidi ? 'bidirectional' : 'unidirectional'} stream: ${errorMessage(err)}`);
    }
    if (bidi) this.nextBidi += 4;
    else this.nextUni += 4;
    const s = new Stream(this, id, false);
    this.streams.set(id, s);
    this.sendOpenCount++;
    return s;
  }

  close(errorCode: number, reason: string): void {
    this.closeWith(true, errorCode, reason);
  }

  closeWith(app: boolean, errorCode: number, reason: string): void {
    if (this._removed) return;
    this.closeRequested = true;
    this.mustSend = true;
    // Sending waits for the app's microtasks (endpoint.ts), so what quiche
    // already holds (the client's handshake Finished, data written in this
    // tick) goes out first: quiche sends nothing but CONNECTION_CLOSE once
    // closing, and a server that never saw our Finished would not see the
    // close either and would keep the connection until its idle timeout.
    if (!this._closeNotified) this.flush(true);
    try {
      this.quic.close(app, errorCode, Buffer.from(reason, 'utf8'));
    } catch (err) {
      this.endpoint.log?.debug({ err: errorMessage(err) }, 'quic: close on a closing connection');
    }
    // The CONNECTION_CLOSE leaves now, not in the send pass: a timer that
    // reaches quiche first can keep it from ever being sent (stuckClosing()).
    if (!this._closeNotified && !this._removed) this.flush(true);
    this.markDirty();
  }

  /**
   * Forgets the connection without a CONNECTION_CLOSE, as a peer that
   * vanished would (tests of abandoned connections; a client's last resort).
   */
  abandon(): void {
    if (this._removed) return;
    this._closeNotified = true;
    this.streams.clear();
    this.endpoint.remove(this);
  }

  /** A callback of ours or the app's threw while processing: end this connection only. */
  fail(err: unknown): void {
    this.endpoint.log?.error({ err: errorMessage(err), remote: this.remoteAddress }, 'quic: connection failed');
    if (this.failed) {
      this.notifyClose();
      this.endpoint.remove(this);
      return;
    }
    this.failed = true;
    this.closeWith(false, TRANSPORT_INTERNAL_ERROR, 'internal error');
  }

  private notifyClose(): void {
    if (this._closeNotified) return;
    this._closeNotified = true;
    const q = this.quic;
    let code = 0;
    let reason = '';
    const e = q.peerError() ?? q.localError();
    if (e !== null) {
      code = e.errorCode;
      reason = Buffer.from(e.reason).toString('utf8');
    } else if (q.isTimedOut()) {
      reason = 'idle timeout';
    }
    this.closeInfo = { errorCode: code, reason, isApp: e?.isApp ?? false, byPeer: q.peerError() !== null };
    this.streams.clear();
    this.sendOpenCount = 0;
    this.onClose?.(code, reason);
    this.endpoint.closing(this);
  }

  /** Why the connection ended, once it has (for the client's handshake failure). */
  closeInfo: { errorCode: number; reason: string; isApp: boolean; byPeer: boolean } | null = null;
}

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; show them plainly. */
function unmapV4(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}
