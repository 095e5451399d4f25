// StartContainer: compiles (cached per image) and validates the module, then
// instantiates it once, so a broken module fails here with a reason instead of
// later on a request. On success the container joins the component map.
//
// A guest's start depends only on its image and start options (memory and CPU
// limits, env, args: startOptionsKey); nothing else reaches it. So once one
// container of an image has started with given options, the next container
// with the same image and options skips the probe (its first call instantiates
// as usual): the probe is a worker round trip and an instantiation, which
// proves nothing new there. The first of every image and options is probed.
import type { UnaryHandler } from '../handler.js';
import type { StartContainerRequest__Output } from '../../gen/cri/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../../gen/cri/runtime/v1/StartContainerResponse.js';
import { boundedMessage, failedPrecondition } from '../../errors.js';
import { nowNanos, type Container } from '../../pods/pod.js';
import type { ContainerPatch } from '../../pods/runner.js';
import { LogFile } from '../../wasm/log-path.js';
import type { ImageRecord } from '../../images/api.js';
import type { ContainerRecord } from '../../pods/records.js';
import { parseDescriptorSet } from '../../images/proto-compile.js';
import { serviceMismatches } from '../../wasm/validate.js';
import { imageKind } from '../../images/image-kind.js';
import { onContainer, requireId, type PreparedImage, type RuntimeDeps } from './deps.js';

/** Reads and compiles an image once; a failure is not cached, so a retry tries again. */
function prepare(d: RuntimeDeps, image: ImageRecord): Promise<PreparedImage> {
  let p = d.prepared.get(image.id);
  if (!p) {
    p = (async () => {
      const wasm = await d.store.readWasm(image);
      const descriptorSet = await d.store.readDescriptorSet(image);
      const service = image.component.service;
      // A component must export exactly its service's world: the executor refuses it otherwise, as `workd image build` does.
      const component = imageKind(wasm) === 'component';
      const module = await d.executor.prepare(image.id, wasm, image.abiVersion, component ? { descriptorSet, service } : undefined);
      const rpcs = parseDescriptorSet(descriptorSet).registry.getService(service)?.methods.map((m) => m.name) ?? [];
      // Not refused here: an rpc the module lacks answers UNIMPLEMENTED, as in any gRPC server, and images
      // from other tools may rely on that. `workd image build` refuses both with these words.
      const { missing, extra } = serviceMismatches(service, rpcs, [...module.methods]);
      if (missing.length + extra.length > 0) d.log.warn({ image: image.id, problems: [...missing, ...extra].join('; ') }, 'the module does not implement its service exactly');
      return { module, descriptorSet, proven: new Set<string>() };
    })();
    d.prepared.set(image.id, p);
    p.catch(() => d.prepared.delete(image.id));
  }
  return p;
}

/** A start failure with the CRI reason the container's status will carry. */
class StartFailure extends Error {
  constructor(
    readonly reason: string,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** What a guest's start depends on besides its image (see the header); the record's own values, defaults applied. */
export function startOptionsKey(d: RuntimeDeps, c: ContainerRecord): string {
  return JSON.stringify([c.memoryLimitBytes ?? d.config.executor.memoryLimitBytes, c.cpuMsPerCall ?? d.config.executor.cpuMsPerCall, c.env, c.args]);
}

/**
 * Starts a container's guest and publishes it in the component map. Used by
 * StartContainer, and by the state store to serve a recorded RUNNING container
 * again after a daemon restart. Throws StartFailure.
 */
export async function startGuest(d: RuntimeDeps, container: Container): Promise<void> {
  const c = container.record;
  let reason = 'StartError';
  try {
    const image = d.store.resolve(c.imageId);
    if (!image) throw failedPrecondition(`image ${c.imageId} is no longer in the image store`);
    reason = 'InvalidModule';
    const { module, descriptorSet, proven } = await prepare(d, image);
    reason = 'StartError';
    const key = startOptionsKey(d, c);
    if (c.logPath !== '') {
      // The kubelet and crictl read the log file as soon as the container runs, even before it wrote anything.
      await new LogFile(c.logPath, container.sandbox.record.logDirectory).create();
    }
    const runtime = await d.executor.start({
      containerId: container.id,
      module,
      env: c.env,
      args: c.args,
      limits: {
        memoryBytes: c.memoryLimitBytes ?? d.config.executor.memoryLimitBytes,
        cpuMsPerCall: c.cpuMsPerCall ?? d.config.executor.cpuMsPerCall,
        maxInFlight: d.config.executor.maxInFlight,
      },
      logPath: c.logPath === '' ? undefined : c.logPath,
      logDirectory: container.sandbox.record.logDirectory,
      restored: proven.has(key),
    });
    proven.add(key);
    container.runtime = runtime;
    d.pool.publish(container, runtime, descriptorSet);
    await d.podChanged?.(container.sandbox.id);
  } catch (err) {
    throw new StartFailure(reason, err);
  }
}

function failed(err: unknown): ContainerPatch {
  const reason = err instanceof StartFailure ? err.reason : 'StartError';
  return { finishedAt: nowNanos(), exitCode: 1, reason, message: boundedMessage(err instanceof Error ? err.message : String(err)) };
}

export function startContainer(d: RuntimeDeps): UnaryHandler<StartContainerRequest__Output, StartContainerResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'StartContainer: container_id');
    await onContainer(d, 'StartContainer', id, async (tx, container) => {
      try {
        await d.lifecycle.containerVerb(
          tx,
          'StartContainer',
          container,
          async () => {
            await startGuest(d, container);
            return { startedAt: nowNanos() };
          },
          failed,
        );
      } catch (err) {
        if (!(err instanceof StartFailure)) throw err;
        d.log.warn({ container: container.id, reason: err.reason, msg: err.message }, 'container failed to start');
        throw err.cause;
      }
    });
    return {};
  };
}
