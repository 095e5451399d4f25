// A daemon with one component image imported and a raw data-plane client for
// it: the common set-up of the CRI tests that also call the component.
//
//   const n = await startComponentNode({ component: 'x.example:s.Svc@1.0.0', proto: PROTO });
//   ... n.cri.runtime.RunPodSandbox(...), n.image, await n.call('/s.Svc/Echo', body) ...
//   await n.close();
import * as grpc from '@grpc/grpc-js';
import { parseComponentName } from '../../src/pods/names.js';
import { criClient, importImage, type CriClient } from './cri-client.js';
import { startDaemon, type DaemonOptions, type TestDaemon } from './daemon.js';
import { guest } from './guests.js';
import { buildTestImage, type TestImage } from './images.js';

export interface ComponentNode {
  readonly d: TestDaemon;
  readonly cri: CriClient;
  /** The imported image's ID. */
  readonly image: string;
  /** A unary call on the data plane (plaintext) with raw message bytes; resolves with its status (never rejects). */
  call(path: string, body: Buffer): Promise<{ code: number; details: string }>;
  close(): Promise<void>;
}

export async function startComponentNode(o: { component: string; proto: string; tags?: string[]; daemon?: DaemonOptions }): Promise<ComponentNode> {
  const d = await startDaemon({ ...o.daemon, args: ['--plaintext', ...(o.daemon?.args ?? [])] });
  const cri = criClient(d.criSocket);
  let img: TestImage | undefined;
  let dp: grpc.Client | undefined;
  const close = async () => {
    dp?.close();
    cri.close();
    await d.stop();
    await img?.cleanup();
  };
  try {
    img = await buildTestImage({ component: o.component, wasm: await guest('kitchen'), proto: o.proto });
    const image = await importImage(cri, img.dir, o.tags);
    const authority = parseComponentName(o.component).domain;
    const client = (dp = new grpc.Client(`127.0.0.1:${d.ready.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority }));
    const call = (path: string, body: Buffer) =>
      new Promise<{ code: number; details: string }>((resolve) =>
        client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, (err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' })),
      );
    return { d, cri, image, call, close };
  } catch (err) {
    await close();
    throw err;
  }
}
