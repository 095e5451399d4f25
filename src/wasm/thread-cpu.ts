// Real CPU time of one thread, from Linux's schedstat (the first field is the
// nanoseconds the thread has spent on a CPU). Node 20 has no per-thread CPU
// clock, and process.cpuUsage() in a worker counts the whole process.
// The file stays open and is re-read with pread at offset 0 (the kernel
// regenerates it on each read): ~3-4 µs a read here, so workers read it once
// per batch part, not once per call (see worker.ts).
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';

export class ThreadCpuClock {
  private readonly buf = new Uint8Array(64);
  private constructor(private readonly fd: number) {}

  /** The clock of the calling thread, or null where schedstat is missing (not Linux, no CONFIG_SCHEDSTATS). */
  static self(): ThreadCpuClock | null {
    return ThreadCpuClock.open('/proc/thread-self/schedstat');
  }

  /** The clock of another thread of this process, by kernel thread id. */
  static ofThread(tid: number): ThreadCpuClock | null {
    return ThreadCpuClock.open(`/proc/self/task/${tid}/schedstat`);
  }

  private static open(path: string): ThreadCpuClock | null {
    try {
      const c = new ThreadCpuClock(openSync(path, 'r'));
      c.read();
      return c;
    } catch {
      return null;
    }
  }

  /** Nanoseconds on CPU so far (exact in a double for 104 days of CPU). */
  read(): number {
    const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    let v = 0;
    for (let i = 0; i < n; i++) {
      const d = this.buf[i]! - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    return v;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The kernel thread id of the calling thread (`/proc/thread-self` links to `<pid>/task/<tid>`), or 0. */
export function currentThreadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}
