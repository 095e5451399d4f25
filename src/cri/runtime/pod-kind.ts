// The one place that decides which runtime a pod belongs to: a pod with the
// workd.dev component labels, or whose RuntimeClass handler is workd's, is a
// component pod; any other goes to the downstream runtime when one is
// configured (src/cri/downstream/router.ts) and is refused otherwise.
import { invalidArgument } from '../../errors.js';
import { LABEL_DOMAIN, LABEL_SERVICE, LABEL_VERSION, hasComponentLabels } from '../../pods/names.js';

export type PodKind = 'component' | 'other';

/** The RuntimeClass handler name that means workd unless `[downstream] workd_handler` says otherwise. */
export const DEFAULT_WORKD_HANDLER = 'workd';

export function podKind(
  config: { readonly labels: Readonly<Record<string, string>> },
  runtimeHandler?: string,
  workdHandler: string = DEFAULT_WORKD_HANDLER,
): PodKind {
  if (hasComponentLabels(config.labels ?? {})) return 'component';
  return runtimeHandler !== undefined && runtimeHandler === workdHandler ? 'component' : 'other';
}

/** The answer for pods workd cannot run yet. */
export function otherPodsUnsupported(): Error {
  return invalidArgument(
    `pod has none of the labels ${LABEL_DOMAIN}, ${LABEL_SERVICE}, ${LABEL_VERSION}: workd itself runs only WebAssembly component pods; ` +
      `to hand other pods to containerd, set [downstream] endpoint = "unix:///run/containerd/containerd.sock" in workd's config file`,
  );
}
