// The one place that decides which runtime a pod belongs to. Today workd runs
// only component pods; a later issue hands the others to a downstream runtime,
// and will change this function and the verbs' `other` branches only.
import { invalidArgument } from '../../errors.js';
import { LABEL_DOMAIN, LABEL_SERVICE, LABEL_VERSION, hasComponentLabels } from '../../pods/names.js';

export type PodKind = 'component' | 'other';

export function podKind(config: { readonly labels: Readonly<Record<string, string>> }): PodKind {
  return hasComponentLabels(config.labels ?? {}) ? 'component' : 'other';
}

/** The answer for pods workd cannot run yet. */
export function otherPodsUnsupported(): Error {
  return invalidArgument(
    `pod has none of the labels ${LABEL_DOMAIN}, ${LABEL_SERVICE}, ${LABEL_VERSION}: workd runs only WebAssembly component pods for now`,
  );
}
