// CreateContainer: a new container, with a new ID, bound to an image from the
// node's image store. The image must hold the sandbox's own component; it stays
// in use until RemoveContainer. The sandbox may still list exited containers
// (the kubelet's restarts keep the last one for garbage collection).
import type { UnaryHandler } from '../handler.js';
import type { CreateContainerRequest__Output } from '../../gen/cri/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../../gen/cri/runtime/v1/CreateContainerResponse.js';
import type { ContainerConfig__Output } from '../../gen/cri/runtime/v1/ContainerConfig.js';
import { WorkdError, internal, invalidArgument, notFound } from '../../errors.js';
import type { ImageRecord } from '../../images/api.js';
import { nowNanos, type Container, type Sandbox } from '../../pods/pod.js';
import type { NewContainer } from '../../pods/pod-pool.js';
import { checkAbiVersion } from '../../wasm/guest-abi.js';
import { containerLogFile } from '../../wasm/log-path.js';
import { checkContainerConfig } from './container-config-check.js';
import { onSandbox, requireId, type RuntimeDeps } from './deps.js';
import { limitsFromResources } from './resources.js';
import { checkLabelsAndAnnotations, checkMetadata } from '../metadata.js';

function containerFields(d: RuntimeDeps, sandbox: Sandbox, config: ContainerConfig__Output, image: ImageRecord): Omit<NewContainer, 'state'> {
  const env: Record<string, string> = {};
  for (const kv of config.envs) env[kv.key] = Buffer.from(kv.value).toString('utf8');
  const logPath = containerLogFile(sandbox.record.logDirectory, config.log_path) ?? '';
  const resources = config.linux?.resources ?? null;
  return {
    metadata: { name: config.metadata!.name, attempt: config.metadata!.attempt },
    imageRequested: config.image!.image,
    userSpecifiedImage: config.image!.user_specified_image,
    imageId: image.id,
    imageName: image.repoTags[0] ?? image.id,
    imageRef: image.repoDigests[0] ?? image.id,
    labels: config.labels,
    annotations: config.annotations,
    env,
    args: [...config.command, ...config.args],
    logPath,
    mounts: config.mounts.map((m) => ({
      containerPath: m.container_path,
      hostPath: m.host_path,
      readonly: m.readonly,
      selinuxRelabel: m.selinux_relabel,
      propagation: m.propagation,
    })),
    resources,
    ...limitsFromResources(resources, d.config.executor.cpuMsPerCall),
    createdAt: nowNanos(),
    startedAt: '0',
    finishedAt: '0',
    exitCode: 0,
    reason: '',
    message: '',
  };
}

export function createContainer(d: RuntimeDeps): UnaryHandler<CreateContainerRequest__Output, CreateContainerResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'CreateContainer: pod_sandbox_id');
    const config = req.config;
    if (!config) throw invalidArgument('CreateContainer: config is missing');
    if (!config.metadata || config.metadata.name === '') throw invalidArgument('CreateContainer: config.metadata.name is missing');
    checkMetadata(config.metadata, 'CreateContainer: config', d.config.limits);
    checkLabelsAndAnnotations(config, 'CreateContainer: config', d.config.limits);
    const ref = config.image?.image ?? '';
    if (ref === '') throw invalidArgument('CreateContainer: config.image.image is missing');
    checkContainerConfig(config);
    const container = await onSandbox(d, 'CreateContainer', id, async (tx, sandbox) => {
      let created: Container | undefined;
      await d.lifecycle.sandboxVerb(tx, 'CreateContainer', sandbox, async () => {
        const image = d.store.resolve(ref);
        if (!image) throw notFound(`CreateContainer: image ${JSON.stringify(ref)} is not in the image store (pull it first, or import it with \`workd image import\`)`);
        if (image.component.name !== sandbox.component.name) {
          throw invalidArgument(
            `CreateContainer: image ${JSON.stringify(ref)} holds component ${image.component.name} but pod sandbox ${sandbox.id} runs ${sandbox.component.name}`,
          );
        }
        // Refused here rather than at StartContainer so the kubelet sees the image is unusable before a container exists.
        try {
          checkAbiVersion(image.abiVersion);
        } catch (err) {
          if (err instanceof WorkdError) throw new WorkdError(err.code, `CreateContainer: image ${JSON.stringify(ref)}: ${err.message}`);
          throw err;
        }
        created = d.lifecycle.createContainer(tx, sandbox, containerFields(d, sandbox, config, image));
        d.store.acquire(image.id, created.id);
      });
      return created;
    });
    if (!container) throw internal('CreateContainer: the sandbox plan created no container');
    return { container_id: container.id };
  };
}
