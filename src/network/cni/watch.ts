// The node's network configuration as it is now: the config directory is
// watched, and each change reloads the first valid list. NetworkReady follows
// whether a usable list exists (valid, and every plugin binary found), as
// containerd's CRI plugin reports it.
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { loadConfigDir } from './conflist.js';
import { CniClient } from './client.js';
import { CniError } from './errors.js';
import { findPlugin, type ExecOptions } from './exec.js';
import type { NetworkConfigList } from './spec.js';

export interface NetworkCondition {
  readonly ready: boolean;
  /** containerd's reason when not ready. */
  readonly reason: string;
  readonly message: string;
}

/** How often a missing config directory is looked for (it cannot be watched until it exists). */
const DIR_POLL_MS = 1000;
/** Editors and installers write in steps: a reload waits this long after the last event. */
const DEBOUNCE_MS = 50;

export class CniConfigWatcher {
  private client: CniClient | undefined;
  private skipped: readonly string[] = [];
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly confDir: string,
    private readonly exec: ExecOptions,
    private readonly onChange: (c: NetworkCondition) => void = () => undefined,
  ) {
    this.reload();
    this.arm();
  }

  /** (Re)reads the directory now. */
  reload(): void {
    const { list, skipped } = loadConfigDir(this.confDir);
    this.skipped = skipped;
    if (!list) this.client = undefined;
    // Same bytes: keep the client (and the plugin versions it has asked for).
    else if (this.client?.list.bytes !== list.bytes || this.client.list.file !== list.file) this.client = new CniClient(list, this.exec);
    this.onChange(this.condition());
  }

  private arm(): void {
    if (this.closed) return;
    if (!existsSync(this.confDir)) {
      this.poll ??= setInterval(() => {
        if (!existsSync(this.confDir)) return;
        clearInterval(this.poll);
        this.poll = undefined;
        this.reload();
        this.arm();
      }, DIR_POLL_MS).unref();
      return;
    }
    try {
      this.watcher = watch(this.confDir, { persistent: false }, () => {
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => {
          this.reload();
          // The directory itself was removed or replaced: watch it again once it is back.
          if (!existsSync(this.confDir)) {
            this.watcher?.close();
            this.watcher = undefined;
            this.arm();
          }
        }, DEBOUNCE_MS).unref();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
        this.reload();
        this.arm();
      });
    } catch {
      this.arm();
    }
  }

  /** The list loaded now (usable or not). */
  current(): NetworkConfigList | undefined {
    return this.client?.list;
  }

  /** The list in use and its client, or a CniError saying why there is none. */
  usable(): CniClient {
    const c = this.client;
    if (!c) {
      const why = this.skipped.length > 0 ? this.skipped.join('; ') : `no .conf, .conflist or .json file in ${this.confDir}`;
      throw new CniError('no-config', `no usable CNI network configuration: ${why}`);
    }
    // Plugins are installed beside configs by DaemonSets, sometimes after them: looked up on every ask.
    const missing = c.list.plugins.map((p) => p.type).filter((t) => !findPlugin(t, this.exec.binDirs));
    if (missing.length > 0) {
      throw new CniError('missing-plugin', `CNI network ${JSON.stringify(c.list.name)} (${c.list.file}) needs plugin(s) ${missing.join(', ')}, not found in ${this.exec.binDirs.join(', ')}`);
    }
    return c;
  }

  condition(): NetworkCondition {
    try {
      this.usable();
      return { ready: true, reason: '', message: '' };
    } catch (err) {
      return { ready: false, reason: 'NetworkPluginNotReady', message: `Network plugin returns error: ${(err as Error).message}` };
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }
}
