// Container logs in the CRI format that kubelet, `crictl logs` and
// `kubectl logs` read: `<RFC 3339 nano time> <stdout|stderr> <F|P> <text>\n`.
// `F` ends a line; `P` is a part of a longer line that continues in the next
// entry. Calls never wait for the disk: entries are queued and appended in
// order by one writer per file; a queue that grows past its bound drops output
// and says so in the log. Each batch is appended by path (open, write, close),
// so 20,000 quiet containers hold no file descriptors and a rotated file is
// never written to after ReopenContainerLog. Every open goes through LogFile,
// which keeps the file inside the pod's log directory (log-path.ts).
import { LogFile } from './log-path.js';
import { fixedLimit } from '../limits.js';

export type Stream = 'stdout' | 'stderr';

export const MAX_LINE = fixedLimit('executorLogMaxLineBytes');
export const MAX_QUEUED = fixedLimit('executorLogMaxQueuedBytes');

const NL = 0x0a;

/** RFC 3339 with nanoseconds (sub-millisecond digits from the high-resolution clock). */
export function rfc3339Nano(epochMs = performance.timeOrigin + performance.now()): string {
  const whole = Math.floor(epochMs);
  const iso = new Date(whole).toISOString(); // 2026-01-02T03:04:05.678Z
  const subMs = Math.floor((epochMs - whole) * 1e6)
    .toString()
    .padStart(6, '0');
  return `${iso.slice(0, 23)}${subMs}Z`;
}

/** Formats one chunk of a stream's output as CRI log entries. A trailing piece without a newline is partial. */
export function formatEntries(stream: Stream, data: Uint8Array, time = rfc3339Nano()): Buffer {
  const parts: Buffer[] = [];
  const head = (tag: 'F' | 'P') => Buffer.from(`${time} ${stream} ${tag} `);
  let start = 0;
  while (start < data.length) {
    const nl = data.indexOf(NL, start);
    const end = nl === -1 ? data.length : nl;
    let s = start;
    while (end - s > MAX_LINE) {
      parts.push(head('P'), Buffer.from(data.buffer, data.byteOffset + s, MAX_LINE), Buffer.from([NL]));
      s += MAX_LINE;
    }
    parts.push(head(nl === -1 ? 'P' : 'F'), Buffer.from(data.buffer, data.byteOffset + s, end - s), Buffer.from([NL]));
    start = nl === -1 ? data.length : nl + 1;
  }
  return Buffer.concat(parts);
}

/** Called with each chunk of a container's output as it is written (CRI Attach). */
export type OutputListener = (stream: Stream, data: Uint8Array) => void;

/** Listeners of one container's live output; a listener that throws is dropped, never the container's call. */
export class OutputTap {
  private readonly listeners = new Set<OutputListener>();

  subscribe(fn: OutputListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(stream: Stream, data: Uint8Array): void {
    for (const fn of this.listeners) {
      try {
        fn(stream, data);
      } catch {
        this.listeners.delete(fn);
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}

export class ContainerLog {
  private queue: Buffer[] = [];
  private queued = 0;
  private dropped = 0;
  private writing?: Promise<void>;
  private closed = false;
  /** The last error writing the file (for diagnostics); writing goes on with later output. */
  lastError?: Error;

  private readonly file: LogFile;

  /** `directory`: the pod's log directory, the boundary the file must stay inside (default: the file's own directory). */
  constructor(readonly path: string, directory?: string) {
    this.file = new LogFile(path, directory);
  }

  write(stream: Stream, data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    this.enqueue(formatEntries(stream, data));
  }

  /** Notes output the executor had to drop (past a per-call cap). */
  noteDropped(stream: Stream, bytes: number): void {
    if (this.closed || bytes <= 0) return;
    this.enqueue(Buffer.from(`${rfc3339Nano()} ${stream} F [workd: ${bytes} bytes of output dropped: a call may write at most ${fixedLimit('executorOutputBytesPerCall')} bytes per stream]\n`));
  }

  private enqueue(entry: Buffer): void {
    if (this.queued + entry.length > MAX_QUEUED) {
      this.dropped += entry.length;
      return;
    }
    this.queue.push(entry);
    this.queued += entry.length;
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.dropped > 0) {
        if (this.dropped > 0) {
          this.queue.push(Buffer.from(`${rfc3339Nano()} stderr F [workd: ${this.dropped} bytes of output dropped: the log could not keep up]\n`));
          this.dropped = 0;
        }
        const batch = Buffer.concat(this.queue);
        this.queue = [];
        this.queued = 0;
        try {
          await this.file.append(batch);
        } catch (err) {
          this.lastError = err as Error;
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** Creates the file (and its directories), as a container runtime does at start, so readers find it before any output. */
  async create(): Promise<void> {
    await this.file.create();
  }

  /** Waits until everything queued so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** CRI ReopenContainerLog: after the file was rotated away, output goes to a new file at the path. */
  async reopen(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    await this.create();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
