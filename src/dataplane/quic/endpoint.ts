// The event loop shared by server and client: one UDP socket, a ring of
// reusable send buffers, a batch of "dirty" connections fed to quiche once
// per turn of the Node loop (after the poll phase has read every queued
// datagram) and sent from once the app has answered, and a single timer for
// all connections re-armed from the earliest quiche timeout. Nothing here
// allocates per packet beyond what node:dgram and the binding themselves do.
import dgram from 'node:dgram';
import type { Logger } from '../../observability/log.js';
import type { Connection } from './quic-connection.js';

const SOCKET_BUFFER = 4 * 1024 * 1024;
/** Bytes of send buffers per endpoint: a ring of slots, each as large as the largest datagram it sends. */
const SEND_RING_BYTES = 4 * 1024 * 1024;
/** At most this many datagrams in the kernel's hands at once; then flushing waits. */
const MAX_SEND_SLOTS = 1024;
/** Longest we hold an ACK for an answer the app has not written yet (timer resolution: 1 ms). */
const ACK_DELAY_MS = 1;
/** Largest stream read per binding call. */
const RECV_SCRATCH = 64 * 1024;

export abstract class Endpoint {
  readonly log: Logger | undefined;
  readonly socket: dgram.Socket;
  readonly conns = new Set<Connection>();
  /** Reused for every streamRecv; chunks are copied out of it. */
  readonly recvScratch = Buffer.allocUnsafeSlow(RECV_SCRATCH);

  private readonly slots: Buffer[] = [];
  private slotHead = 0;
  private inFlight = 0;
  private readonly waiting: Connection[] = [];
  private readonly dirty: Connection[] = [];
  /** Connections ingested since the last send pass. */
  private readonly sending: Connection[] = [];
  private scheduled = false;
  private sendScheduled = false;
  /** Work marked now waits for the check phase (a datagram or a timer: see markDirty). */
  private afterPoll = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;
  private connected = false;
  private closedP: Promise<void> | null = null;
  private socketClosed: (() => void) | null = null;

  /** Size of each send slot: the largest datagram this endpoint sends. */
  readonly slotSize: number;
  private readonly slotCount: number;

  /**
   * `type` picks the socket to create; an `adopted` socket (already bound,
   * e.g. opened inside a pod's network namespace and passed to us) is used
   * instead and closed with the endpoint.
   */
  constructor(type: 'udp4' | 'udp6', log: Logger | undefined, slotSize: number, adopted?: dgram.Socket) {
    this.log = log;
    this.slotSize = slotSize;
    this.slotCount = Math.min(MAX_SEND_SLOTS, Math.floor(SEND_RING_BYTES / slotSize));
    // Pages of the slab are touched only as slots are first used.
    const slab = Buffer.allocUnsafeSlow(this.slotCount * slotSize);
    for (let i = 0; i < this.slotCount; i++) this.slots.push(slab.subarray(i * slotSize, (i + 1) * slotSize));
    const family = type === 'udp6' ? 6 : 4;
    this.socket = adopted ?? dgram.createSocket({
      type,
      // A udp6 socket on '::' also serves IPv4 peers.
      ipv6Only: false,
      recvBufferSize: SOCKET_BUFFER,
      sendBufferSize: SOCKET_BUFFER,
      // Every address we bind or send to is an IP literal (a datagram's
      // source, or resolved before connecting): node:dgram's default
      // dns.lookup would defer each send by a tick and allocate for it.
      lookup: (host, _options, callback) => callback(null, host, family),
    });
    if (adopted !== undefined) {
      // Its creator chose the options; the buffers matter for bursts (checkBuffers).
      try {
        adopted.setRecvBufferSize(SOCKET_BUFFER);
        adopted.setSendBufferSize(SOCKET_BUFFER);
      } catch {
        // not bound yet, or the kernel refused: checkBuffers() reports what it got
      }
    }
    this.socket.on('message', this.onMessage);
    this.socket.on('error', (err) => this.log?.error({ err: err.message }, 'quic: socket error'));
  }

  bind(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.bind({ address: host, port, exclusive: true }, () => {
        this.socket.off('error', onError);
        resolve();
      });
    });
  }

  /**
   * Linux silently caps socket buffers at net.core.rmem_max / wmem_max (and
   * reports twice what it keeps); a small receive buffer drops bursts of
   * datagrams (UDP RcvbufErrors), which QUIC then has to retransmit. Servers
   * check (a client's one call would only be noisier for it).
   */
  protected checkBuffers(): void {
    if (!this.log) return;
    const recv = this.socket.getRecvBufferSize();
    const send = this.socket.getSendBufferSize();
    if (recv >= SOCKET_BUFFER && send >= SOCKET_BUFFER) {
      this.log.debug({ recvBufferBytes: recv, sendBufferBytes: send }, 'quic: socket buffers');
      return;
    }
    this.log.warn(
      { recvBufferBytes: recv, sendBufferBytes: send, wanted: SOCKET_BUFFER },
      `quic: the kernel granted smaller UDP socket buffers than the ${SOCKET_BUFFER} bytes asked for; bursts of datagrams may be dropped (raise them with: sysctl -w net.core.rmem_max=${SOCKET_BUFFER} net.core.wmem_max=${SOCKET_BUFFER})`,
    );
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  protected abstract packet(buf: Buffer, address: string, port: number): void;
  abstract remove(conn: Connection): void;
  /** The connection is draining: no more application data either way. */
  closing(_conn: Connection): void {}

  private readonly onMessage = (buf: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.afterPoll = true;
    try {
      this.packet(buf, rinfo.address, rinfo.port);
    } finally {
      this.afterPoll = false;
    }
  };

  markDirty(conn: Connection): void {
    if (!conn.enqueue()) return;
    this.dirty.push(conn);
    if (this.scheduled) return;
    this.scheduled = true;
    // Datagrams and timeouts wait for the end of the poll phase, so one pass
    // takes every datagram already queued in the socket (and a busy peer is
    // not mistaken for an idle one). An app's write runs once the current
    // callback's microtasks are done.
    if (this.afterPoll) setImmediate(this.run);
    else queueMicrotask(this.runAfterMicrotasks);
  }

  /**
   * A nextTick queued from a microtask runs only once the whole microtask
   * queue has drained, including promise chains that continue meanwhile.
   */
  private readonly runAfterMicrotasks = (): void => {
    process.nextTick(this.run);
  };

  /**
   * Feeds every connection touched since the last pass to quiche and the
   * app, then sends once the app's answers (promise chains started by the
   * data just delivered) have been written: a unary answer then leaves in
   * the same packet as the ACK of its request instead of a packet after it.
   */
  readonly run = (): void => {
    this.scheduled = false;
    this.ingestDirty();
    if (this.sending.length > 0 && !this.sendScheduled) {
      this.sendScheduled = true;
      queueMicrotask(this.sendAfterMicrotasks);
    }
  };

  private readonly sendAfterMicrotasks = (): void => {
    process.nextTick(this.sendPass);
  };

  private readonly sendPass = (): void => {
    this.sendScheduled = false;
    // Connections the app wrote to since the last ingest go out now too.
    this.ingestDirty();
    const s = this.sending;
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      c.sending();
      if (c.mayDelayAck()) {
        // A request arrived and its answer is not written yet (it runs in
        // the executor): hold the ACK so the answer carries it, for at most
        // ACK_DELAY_MS (RFC 9000 §13.2.1; quiche itself acks at once).
        this.arm(c.holdAck(performance.now() + ACK_DELAY_MS));
        continue;
      }
      try {
        c.egress();
      } catch (err) {
        c.fail(err);
      }
    }
    s.length = 0;
  };

  private ingestDirty(): void {
    const d = this.dirty;
    const s = this.sending;
    // Connections touched while this runs are appended and handled too.
    for (let i = 0; i < d.length; i++) {
      const c = d[i];
      try {
        c.ingest();
      } catch (err) {
        c.dropFromBatch();
        c.fail(err);
        continue;
      }
      if (c.dequeue()) s.push(c);
    }
    d.length = 0;
  }

  /** Makes sure the timer fires no later than `deadline` (performance.now() ms). */
  arm(deadline: number): void {
    if (deadline >= this.timerAt || this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(0, deadline - performance.now()));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    this.afterPoll = true;
    for (const c of this.conns) {
      if (c.expire(now)) this.markDirty(c);
      const at = c.wakeAt;
      if (at < next) next = at;
    }
    this.afterPoll = false;
    if (next !== Infinity) this.arm(next);
  };

  stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /** A free send buffer, or null while every slot is still in the kernel's hands. */
  sendSlot(): Buffer | null {
    return this.inFlight < this.slotCount ? this.slots[this.slotHead] : null;
  }

  commitSend(slot: Buffer, len: number, port: number, host: string): void {
    if (this.closed) return;
    this.slotHead = this.slotHead + 1 === this.slotCount ? 0 : this.slotHead + 1;
    this.inFlight++;
    // Completions arrive in send order, so the ring frees slots in order.
    if (this.connected) this.socket.send(slot, 0, len, this.onSent);
    else this.socket.send(slot, 0, len, port, host, this.onSent);
  }

  /**
   * A client talks to one peer: a connected socket skips node:dgram's
   * per-datagram address lookup and only receives from that peer.
   */
  connectTo(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.connect(port, host, () => {
        this.socket.off('error', onError);
        this.connected = true;
        resolve();
      });
    });
  }

  /**
   * Sends a datagram in a buffer of its own, not a ring slot (version
   * negotiation, refusals, a close while the ring is full).
   */
  sendOwned(data: Buffer, len: number, port: number, host: string): void {
    if (this.closed) return;
    // Counted like a ring slot (conservatively) so closeSocket waits for it too.
    this.inFlight++;
    if (this.connected) this.socket.send(data, 0, len, this.onSent);
    else this.socket.send(data, 0, len, port, host, this.onSent);
  }

  waitForSlots(conn: Connection): void {
    this.waiting.push(conn);
  }

  private readonly onSent = (err: Error | null): void => {
    this.inFlight--;
    if (this.closed) {
      if (this.inFlight === 0) this.socketClosed?.();
      return;
    }
    if (err !== null) this.log?.debug({ err: err.message }, 'quic: datagram not sent');
    if (this.waiting.length > 0 && this.inFlight <= this.slotCount / 2) {
      for (const c of this.waiting) if (!c.removed) this.markDirty(c);
      this.waiting.length = 0;
    }
  };

  /** Closes the socket once the datagrams already handed to it (a last CONNECTION_CLOSE) are out. */
  closeSocket(): Promise<void> {
    this.stopTimer();
    if (this.closedP !== null) return this.closedP;
    this.closed = true;
    this.closedP = new Promise((resolve) => {
      this.socketClosed = () => this.socket.close(() => resolve());
    });
    if (this.inFlight === 0) this.socketClosed?.();
    return this.closedP;
  }
}
