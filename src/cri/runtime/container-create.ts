// CreateContainer: binds the pod to an image from the node's image store. The
// image must hold the pod's own component; it stays in use until RemoveContainer.
import type { UnaryHandler } from '../handler.js';
import type { CreateContainerRequest__Output } from '../../gen/cri/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../../gen/cri/runtime/v1/CreateContainerResponse.js';
import type { ContainerConfig__Output } from '../../gen/cri/runtime/v1/ContainerConfig.js';
import { WorkdError, invalidArgument, notFound } from '../../errors.js';
import type { ImageRecord } from '../../images/api.js';
import { nowNanos, type ContainerSpec, type Pod } from '../../pods/pod.js';
import { checkAbiVersion } from '../../wasm/guest-abi.js';
import { containerLogFile } from '../../wasm/log-path.js';
import { onPod, requireId, type RuntimeDeps } from './deps.js';

function containerSpec(pod: Pod, config: ContainerConfig__Output, image: ImageRecord): ContainerSpec {
  const env: Record<string, string> = {};
  for (const kv of config.envs) env[kv.key] = Buffer.from(kv.value).toString('utf8');
  const memory = Number(config.linux?.resources?.memory_limit_in_bytes ?? 0);
  const logFile = containerLogFile(pod.spec.logDirectory, config.log_path);
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
    logFile,
    mounts: config.mounts.map((m) => ({
      containerPath: m.container_path,
      hostPath: m.host_path,
      readonly: m.readonly,
      selinuxRelabel: m.selinux_relabel,
      propagation: m.propagation,
    })),
    memoryLimitBytes: memory > 0 ? memory : undefined,
    resources: config.linux?.resources ?? undefined,
    createdAt: nowNanos(),
  };
}

export function createContainer(d: RuntimeDeps): UnaryHandler<CreateContainerRequest__Output, CreateContainerResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'CreateContainer: pod_sandbox_id');
    const config = req.config;
    if (!config) throw invalidArgument('CreateContainer: config is missing');
    if (!config.metadata || config.metadata.name === '') throw invalidArgument('CreateContainer: config.metadata.name is missing');
    const ref = config.image?.image ?? '';
    if (ref === '') throw invalidArgument('CreateContainer: config.image.image is missing');
    const pod = await onPod(d, 'CreateContainer', 'pod sandbox', id, async (pod, p) => {
      const image = d.store.resolve(ref);
      if (!image) throw notFound(`CreateContainer: image ${JSON.stringify(ref)} is not in the image store (pull it first, or import it with \`workd image import\`)`);
      if (image.component.name !== pod.component.name) {
        throw invalidArgument(
          `CreateContainer: image ${JSON.stringify(ref)} holds component ${image.component.name} but pod ${pod.id} runs ${pod.component.name}`,
        );
      }
      // Refused here rather than at StartContainer so the kubelet sees the image is unusable before a container exists.
      try {
        checkAbiVersion(image.abiVersion);
      } catch (err) {
        if (err instanceof WorkdError) throw new WorkdError(err.code, `CreateContainer: image ${JSON.stringify(ref)}: ${err.message}`);
        throw err;
      }
      const spec = containerSpec(pod, config, image);
      d.store.acquire(image.id, pod.id);
      pod.moveTo(p.to, { container: spec, startedAt: undefined, finishedAt: undefined, exitCode: 0, reason: '', message: '' });
    });
    return { container_id: pod!.id };
  };
}
