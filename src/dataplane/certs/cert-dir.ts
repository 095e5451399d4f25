// A directory of per-domain certificates, laid out as Kubernetes mounts a
// Secret of type kubernetes.io/tls (what cert-manager writes):
//
//   <dir>/<any name>/tls.crt    the certificate, then its intermediates (PEM)
//   <dir>/<any name>/tls.key    its private key (PEM: PKCS#8, PKCS#1 or SEC1)
//
// One subdirectory per certificate; its name is only a label (the hosts are
// the certificate's DNS subjectAltNames, wildcards included). Entries whose
// name starts with a dot (a Secret volume's `..data`) and other files are
// skipped; symlinks are followed. The directory is re-read when it or a
// subdirectory changes (fs.watch) and every pollMs in any case; a pair whose
// files changed is read again and checked, and one that does not check out
// (half written, key of another certificate) is refused with a log line
// naming the file, the pair loaded before it staying in use.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../observability/log.js';
import { fingerprint, loadPair, PairError, type TlsPair } from './pair.js';

export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';

interface Slot {
  /** The pair in use (the last one that checked out). */
  pair: TlsPair | undefined;
  /** Fingerprint of files refused last, so a bad pair is logged once, not every poll. */
  refused: string | undefined;
  watcher: FSWatcher | undefined;
}

export class CertDirectory {
  private readonly slots = new Map<string, Slot>();
  private dirWatcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    /** Told after a scan that changed the pairs in use. */
    private readonly onChange: () => void,
    private readonly pollMs: number,
  ) {}

  /** Reads the directory once (it must exist), then watches it. */
  async start(): Promise<void> {
    const s = await stat(this.dir).catch(() => undefined);
    if (s === undefined || !s.isDirectory()) throw new PairError(this.dir, 'is not a directory');
    await this.scan();
    if (this.closed) return;
    this.dirWatcher = this.watchPath(this.dir);
    this.timer = setInterval(() => this.rescan(), this.pollMs);
    this.timer.unref();
  }

  /** The pairs in use, by subdirectory name order. */
  pairs(): TlsPair[] {
    return [...this.slots.keys()]
      .sort()
      .map((k) => this.slots.get(k)!.pair)
      .filter((p): p is TlsPair => p !== undefined);
  }

  /** Reads the directory again soon (several events in a row make one scan). */
  rescan(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.scanNow(), 50);
    this.debounce.unref();
  }

  /** Reads the directory now; resolves when done (another scan asked meanwhile runs after it). */
  scanNow(): Promise<void> {
    if (this.scanning !== undefined) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      try {
        do {
          this.again = false;
          await this.scan();
        } while (this.again && !this.closed);
      } finally {
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    this.dirWatcher?.close();
    for (const s of this.slots.values()) s.watcher?.close();
  }

  private watchPath(path: string): FSWatcher | undefined {
    try {
      const w = watch(path, { persistent: false }, () => this.rescan());
      w.on('error', () => w.close());
      return w;
    } catch {
      return undefined; // polling still sees changes
    }
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => !n.startsWith('.'));
    } catch (err) {
      this.log.warn({ dir: this.dir, err: (err as Error).message }, 'tls: cannot read the certificate directory; the certificates loaded before stay in use');
      return;
    }
    let changed = false;
    const seen = new Set<string>();
    for (const name of names) {
      const sub = join(this.dir, name);
      const st = await stat(sub).catch(() => undefined);
      if (st === undefined || !st.isDirectory()) continue;
      seen.add(name);
      let slot = this.slots.get(name);
      if (slot === undefined) {
        slot = { pair: undefined, refused: undefined, watcher: this.closed ? undefined : this.watchPath(sub) };
        this.slots.set(name, slot);
      }
      if (await this.refresh(sub, slot)) changed = true;
    }
    for (const [name, slot] of this.slots) {
      if (seen.has(name)) continue;
      slot.watcher?.close();
      this.slots.delete(name);
      if (slot.pair !== undefined) {
        this.log.info({ dir: join(this.dir, name), names: slot.pair.names }, 'tls: certificate directory removed; its hosts get the default certificate');
        changed = true;
      }
    }
    if (changed && !this.closed) this.onChange();
  }

  /** Loads the subdirectory's pair if its files changed; true when the pair in use changed. */
  private async refresh(sub: string, slot: Slot): Promise<boolean> {
    const certPath = join(sub, CERT_FILE);
    const keyPath = join(sub, KEY_FILE);
    const stamp = await fingerprint(certPath, keyPath);
    if (stamp !== undefined && (stamp === slot.pair?.stamp || stamp === slot.refused)) return false;
    try {
      const pair = await loadPair(certPath, keyPath, true);
      if (pair.stamp !== stamp) {
        // Written to while read: read again on the next event or poll.
        this.rescan();
        return false;
      }
      const first = slot.pair === undefined;
      slot.pair = pair;
      slot.refused = undefined;
      this.log.info({ cert: certPath, names: pair.names, notAfter: pair.notAfter }, first ? 'tls: certificate loaded' : 'tls: certificate reloaded; new handshakes get it');
      return true;
    } catch (err) {
      const e = err instanceof PairError ? err : new PairError(certPath, (err as Error).message);
      const key = stamp ?? `missing:${e.file}`;
      if (slot.refused === key) return false;
      slot.refused = key;
      this.log.warn(
        { file: e.file, reason: e.reason, keeping: slot.pair?.certPath },
        slot.pair === undefined ? `tls: certificate refused: ${e.message}` : `tls: new certificate refused, the one loaded before stays in use: ${e.message}`,
      );
      return false;
    }
  }
}
