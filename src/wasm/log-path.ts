// Where a container's CRI log may be written: only inside its pod's log
// directory. The daemon runs as root and the paths come from CRI clients
// (log_directory from RunPodSandbox, log_path from CreateContainer), while the
// log directory itself may be writable by whatever else runs on the node, so:
//
// - log_directory is '' (no logs) or an absolute path with no `..` component;
//   it is normalised once at RunPodSandbox, and its symlinks (a node may keep
//   /var/log on another disk) are resolved once, at the first open;
// - log_path is relative to it (the kubelet sends `<container>/<restart>.log`);
//   an absolute path, a `..` component, or a path naming the directory itself
//   is INVALID_ARGUMENT;
// - every (re)open — the first, each appended batch, after ReopenContainerLog —
//   lstats the directory and each component below it (a symlink anywhere is
//   refused), creates missing subdirectories one at a time, opens the file with
//   O_NOFOLLOW | O_NONBLOCK (a planted FIFO cannot hang the writer), refuses
//   anything but a regular file with one link, and checks through
//   /proc/self/fd that the descriptor really is the expected file.
//
// docs/security.md ("Container logs") states the same rule.
import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { Code, WorkdError, invalidArgument } from '../errors.js';

const hasDotDot = (p: string) => p.split(/[\\/]+/).includes('..');

/** RunPodSandbox's log_directory, checked and normalised: '' (no logs) or an absolute path without `..`. */
export function podLogDirectory(dir: string, what = 'RunPodSandbox: config.log_directory'): string {
  if (dir === '') return '';
  if (dir.includes('\0')) throw invalidArgument(`${what} contains a NUL byte`);
  if (!isAbsolute(dir)) throw invalidArgument(`${what} ${JSON.stringify(dir)} is not an absolute path`);
  if (hasDotDot(dir)) throw invalidArgument(`${what} ${JSON.stringify(dir)} has a ".." component`);
  const n = normalize(dir);
  return n.length > 1 && n.endsWith(sep) ? n.slice(0, -1) : n;
}

/**
 * CreateContainer's log_path inside the pod's log directory: the file's full
 * path, or undefined when either is empty (no log, as containerd: a relative
 * path without a directory would land in the daemon's working directory).
 */
export function containerLogFile(logDirectory: string, logPath: string, what = 'CreateContainer: config.log_path'): string | undefined {
  if (logPath === '') return undefined;
  if (logPath.includes('\0')) throw invalidArgument(`${what} contains a NUL byte`);
  if (isAbsolute(logPath)) {
    throw invalidArgument(`${what} ${JSON.stringify(logPath)} is absolute; it must be relative to the pod's log_directory (as the kubelet sends <container>/<restart>.log)`);
  }
  if (hasDotDot(logPath)) throw invalidArgument(`${what} ${JSON.stringify(logPath)} has a ".." component; the log must stay inside the pod's log_directory`);
  const rel = normalize(logPath);
  if (rel === '.' || rel === `.${sep}` || rel.endsWith(sep)) throw invalidArgument(`${what} ${JSON.stringify(logPath)} names a directory, not a file`);
  if (logDirectory === '') return undefined;
  return join(podLogDirectory(logDirectory), rel);
}

function refused(path: string, why: string): WorkdError {
  return new WorkdError(Code.FAILED_PRECONDITION, `container log ${path}: ${why}; refusing to write outside the pod's log directory`);
}

const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * One container's log file under one directory. `directory` is the pod's log
 * directory; without one (tests, the executor used alone) the file's own
 * directory is the boundary.
 */
export class LogFile {
  readonly directory: string;
  private readonly rel: string[];
  private resolved?: string;

  constructor(readonly path: string, directory?: string) {
    if (!isAbsolute(path) || hasDotDot(path)) throw invalidArgument(`container log path ${JSON.stringify(path)} must be absolute without ".."`);
    this.directory = directory ? podLogDirectory(directory, 'the pod log directory') : dirname(normalize(path));
    const full = normalize(path);
    const prefix = this.directory.endsWith(sep) ? this.directory : this.directory + sep;
    if (!full.startsWith(prefix)) throw invalidArgument(`container log ${path} is not inside the pod's log directory ${this.directory}`);
    this.rel = full.slice(prefix.length).split(sep).filter((s) => s !== '' && s !== '.');
    if (this.rel.length === 0) throw invalidArgument(`container log ${path} names the log directory itself`);
  }

  /** The log directory with its symlinks resolved, once (created if missing, as the kubelet would have). */
  private async root(): Promise<string> {
    if (this.resolved !== undefined) return this.resolved;
    await mkdir(this.directory, { recursive: true, mode: 0o755 });
    this.resolved = await realpath(this.directory);
    return this.resolved;
  }

  /** Opens the file for appending (creating it, 0640, and missing subdirectories), with every check above. */
  async open(): Promise<FileHandle> {
    const root = await this.root();
    const rootStat = await lstat(root);
    if (!rootStat.isDirectory()) throw refused(this.path, `the log directory ${root} is no longer a directory`);
    let at = root;
    for (const part of this.rel.slice(0, -1)) {
      at = join(at, part);
      let st = await lstat(at).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        return undefined;
      });
      if (!st) {
        await mkdir(at, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        st = await lstat(at);
      }
      if (st.isSymbolicLink()) throw refused(this.path, `${at} is a symbolic link`);
      if (!st.isDirectory()) throw refused(this.path, `${at} is not a directory`);
    }
    const file = join(at, this.rel[this.rel.length - 1]!);
    let fh: FileHandle;
    try {
      fh = await open(file, OPEN_FLAGS, 0o640);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw refused(this.path, `${file} is a symbolic link`);
      if (code === 'ENXIO') throw refused(this.path, `${file} is a FIFO`);
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw refused(this.path, `${file} is not a regular file`);
      if (st.nlink > 1) throw refused(this.path, `${file} has ${st.nlink} hard links`);
      // A directory swapped for a symlink between the lstat above and the open
      // would have sent the open elsewhere: the descriptor says where it went.
      const where = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => file);
      if (where !== file) throw refused(this.path, `it was opened as ${where}, not ${file}`);
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Creates the file if missing (the kubelet and crictl read it as soon as the container runs). */
  async create(): Promise<void> {
    await (await this.open()).close();
  }

  /** Appends bytes through a fresh, checked descriptor. */
  async append(data: Uint8Array): Promise<void> {
    const fh = await this.open();
    try {
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
  }
}
