// One daemon per state dir. The mutex is an abstract unix socket named after the
// state dir's device and inode: binding it is atomic, and the kernel releases it
// the moment its holder dies, kill -9 included, so there is no stale lock to judge.
// The LOCK file beside the state only says who holds it, for the error message.
// (Abstract sockets belong to a network namespace: two daemons in different
// namespaces are not refused by this; workd runs in the host's.)
import { createServer, type Server } from 'node:net';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, WorkdError } from '../errors.js';

export interface StateLock {
  readonly path: string;
  release(): Promise<void>;
}

export const LOCK_FILE = 'LOCK';

function holderOf(dir: string): string {
  try {
    const info = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid?: number; since?: string };
    return `workd pid ${info.pid ?? '?'} (holding it since ${info.since ?? '?'})`;
  } catch {
    return 'another workd';
  }
}

/** Takes the state dir's lock, or fails with FAILED_PRECONDITION naming the daemon that holds it. */
export async function lockStateDir(dir: string): Promise<StateLock> {
  const st = statSync(dir);
  const name = `\0workd-state:${st.dev}:${st.ino}`;
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new WorkdError(
            Code.FAILED_PRECONDITION,
            `state dir ${dir} is in use by ${holderOf(dir)}; one daemon per state dir (stop it, or give this one another --state-dir)`,
          ),
        );
      } else reject(err);
    });
    server.listen({ path: name, exclusive: true }, () => resolve());
  });
  // Holding the lock must not keep the process alive by itself.
  server.unref();
  const path = join(dir, LOCK_FILE);
  writeFileSync(path, `${JSON.stringify({ pid: process.pid, since: new Date().toISOString() })}\n`);
  let released: Promise<void> | undefined;
  return {
    path,
    release: () => (released ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}
