// A DevTools protocol session on a daemon started with `--inspect=127.0.0.1:0`
// (node prints the session's address on stderr): the soak asks it for full
// collections and reads the main heap.
//
//   const insp = await Inspector.connect(d.logs());
//   await insp.call('HeapProfiler.collectGarbage');
//   const { usedSize, totalSize } = await insp.call('Runtime.getHeapUsage');
import WebSocket from 'ws';

export const INSPECT_ARG = '--inspect=127.0.0.1:0';

export class Inspector {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: Record<string, number>) => void; reject: (e: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id?: number; result?: Record<string, number>; error?: { message: string } };
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.error) w.reject(new Error(`inspector: ${m.error.message}`));
      else w.resolve(m.result ?? {});
    });
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

  call(method: string, params: Record<string, unknown> = {}): Promise<Record<string, number>> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}
