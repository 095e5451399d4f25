// Pod networks being set up: a file per sandbox key under <state>/cni-pending,
// written before the pod's namespace is made and ADD runs, removed once the
// sandbox's durable record (which then holds the network) is written, or once a
// failed setup has been undone. A daemon killed in between leaves the file; the
// next start runs DEL for every key no record holds and removes the namespace
// (restore.ts), as containerd finds such a pod through the sandbox it recorded
// before its ADD.
//
// The file is written without fsync: it is there for a crash of the daemon,
// whose writes the kernel keeps. A crash of the machine also empties /run/netns
// and the pod's veth; only an IPAM lease the plugin wrote to disk can outlive
// that (documented in docs/networking.md).
import { mkdirSync } from 'node:fs';
import { readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxNetwork } from '../pods/records.js';

/** What DEL of a pod whose setup never finished needs: its attachment, as ADD got it. */
export type PendingNetwork = Omit<SandboxNetwork, 'ips' | 'result'>;

const KEY = /^[0-9a-f]{64}$/;

export class PendingNetworks {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private file(key: string): string {
    return join(this.dir, key);
  }

  async add(key: string, net: PendingNetwork): Promise<void> {
    await writeFile(this.file(key), JSON.stringify(net), { mode: 0o600 });
  }

  /** Done with `key` (recorded, or undone); one already gone is fine. */
  async done(key: string): Promise<void> {
    await unlink(this.file(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Every key left behind, with what its file holds (undefined when it cannot be read: written only in part). */
  async list(): Promise<Array<{ key: string; net: PendingNetwork | undefined }>> {
    const out: Array<{ key: string; net: PendingNetwork | undefined }> = [];
    for (const key of (await readdir(this.dir)).filter((f) => KEY.test(f)).sort()) {
      let net: PendingNetwork | undefined;
      try {
        net = JSON.parse(await readFile(this.file(key), 'utf8')) as PendingNetwork;
      } catch {
        net = undefined;
      }
      out.push({ key, net });
    }
    return out;
  }
}
