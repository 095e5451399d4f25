// A DevTools protocol session on a daemon started with `--inspect=127.0.0.1:0`
// (node prints the session's address on stderr): the soak asks it for full
// collections and reads the main heap. Through the NodeWorker domain it holds
// a session on every worker thread too (attached as each starts), so a
// collection can cover every isolate.
//
//   const insp = await Inspector.connect(d.logs());
//   await insp.collectAll();
//   const { usedSize, totalSize } = await insp.call('Runtime.getHeapUsage');
import WebSocket from 'ws';

export const INSPECT_ARG = '--inspect=127.0.0.1:0';

export class Inspector {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: Record<string, number>) => void; reject: (e: Error) => void }>();
  /** Worker threads' sessions, by session id. */
  private readonly workers = new Set<string>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.receive(String(data)));
    ws.on('close', () => {
      for (const w of this.waiting.values()) w.reject(new Error('inspector: the session closed'));
      this.waiting.clear();
    });
  }

  /** Connects to the address node printed in `stderr` ("Debugger listening on ws://…"). */
  static async connect(stderr: string): Promise<Inspector> {
    const url = /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
    if (!url) throw new Error(`no inspector address in the daemon's stderr (started without ${INSPECT_ARG}?)`);
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  private receive(text: string): void {
    const m = JSON.parse(text) as { id?: number; method?: string; params?: { sessionId: string; message?: string }; result?: Record<string, number>; error?: { message: string } };
    if (m.method === 'NodeWorker.attachedToWorker') this.workers.add(m.params!.sessionId);
    else if (m.method === 'NodeWorker.detachedFromWorker') this.workers.delete(m.params!.sessionId);
    else if (m.method === 'NodeWorker.receivedMessageFromWorker') this.receive(m.params!.message!);
    const w = m.id === undefined ? undefined : this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id!);
    if (m.error) w.reject(new Error(`inspector: ${m.error.message}`));
    else w.resolve(m.result ?? {});
  }

  /** A method on the main thread, or on the worker of `session`. */
  call(method: string, params: Record<string, unknown> = {}, session?: string): Promise<Record<string, number>> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const message = JSON.stringify({ id, method, params });
      // A worker's answer comes back wrapped in receivedMessageFromWorker, under the same id (ids are ours).
      this.ws.send(session === undefined ? message : JSON.stringify({ id: ++this.seq, method: 'NodeWorker.sendMessageToWorker', params: { sessionId: session, message } }));
    });
  }

  /** Attaches to the worker threads running now and to each one started later. */
  async attachWorkers(): Promise<void> {
    await this.call('NodeWorker.enable', { waitForDebuggerOnStart: false });
  }

  /** A full collection in every isolate: the workers' first (a worker that exits meanwhile is skipped), then the main one. */
  async collectAll(): Promise<void> {
    await Promise.all([...this.workers].map((s) => withTimeout(this.call('HeapProfiler.collectGarbage', {}, s), 5000).catch(() => {})));
    await this.call('HeapProfiler.collectGarbage');
  }

  get workerSessions(): number {
    return this.workers.size;
  }

  close(): void {
    this.ws.close();
  }
}

/** Resolves as `p`, or rejects after `ms` (a worker terminated mid-call never answers). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error('inspector: no answer')), ms)))]).finally(() => clearTimeout(timer));
}
