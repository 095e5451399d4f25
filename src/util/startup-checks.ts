// Checks the daemon makes before it starts anything, so a configuration that
// cannot work stops the start with a message naming what is wrong instead of
// a stack trace, a hang or a spinning CPU later.
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Code, WorkdError } from '../errors.js';

/** Kernel file systems: files there are not storage (writing /proc files spins or fails in odd ways). */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

const under = (p: string, root: string) => p === root || p.startsWith(`${root}/`);

/** The nearest existing ancestor of `p`, with symlinks resolved, plus what is still to be made below it. */
async function existingAncestor(p: string): Promise<string> {
  for (let at = p; ; at = dirname(at)) {
    try {
      return await realpath(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || at === dirname(at)) throw err;
    }
  }
}

/**
 * The state directory: not under /proc, /sys or /dev (also through a symlink),
 * a directory (made if missing, 0750), and one we can create, sync and remove
 * a file in. Throws FAILED_PRECONDITION naming the directory and the reason.
 */
export async function checkStateDir(dir: string): Promise<void> {
  const what = `state dir ${dir}`;
  const fail = (why: string) => new WorkdError(Code.FAILED_PRECONDITION, `${what}: ${why} (set [state] dir or --state-dir)`);
  if (dir === '') throw fail('is empty');
  const abs = resolve(dir);
  for (const root of PSEUDO_ROOTS) if (under(abs, root)) throw fail(`is under ${root}, a kernel file system, not storage`);
  let real: string;
  try {
    real = await existingAncestor(abs);
  } catch (err) {
    throw fail(`cannot be resolved: ${(err as Error).message}`);
  }
  for (const root of PSEUDO_ROOTS) if (under(real, root)) throw fail(`resolves into ${root} (${real}), a kernel file system, not storage`);
  const existing = await lstat(abs).then((st) => (st.isSymbolicLink() ? realpath(abs).then((r) => lstat(r)) : st), () => undefined);
  if (existing && !existing.isDirectory()) throw fail('exists and is not a directory');
  try {
    await mkdir(abs, { recursive: true, mode: 0o750 });
    const probe = `${abs}/.workd-write-check-${process.pid}`;
    const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.write('ok');
      await fh.sync();
    } finally {
      await fh.close();
      await unlink(probe).catch(() => {});
    }
  } catch (err) {
    if (err instanceof WorkdError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw fail(`is not usable: ${e.code ?? ''} ${e.message}`.trim());
  }
}

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (another daemon, or another program on that port)',
  EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'the address is not one of this machine\'s',
};

/** Awaits a listener's start; a failure is rethrown naming the listener and the address. */
export async function listening<T>(what: string, address: string, start: Promise<T>): Promise<T> {
  try {
    return await start;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined || !(code in REASONS || code.startsWith('E'))) throw err;
    throw new WorkdError(Code.FAILED_PRECONDITION, `${what} cannot listen on ${address}: ${REASONS[code] ?? (err as Error).message} (${code})`, { cause: err });
  }
}
