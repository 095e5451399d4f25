// The proto -> WIT mapping's entry points (docs/components.md).
import type { Registry } from '@bufbuild/protobuf';
import { invalidArgument } from '../../errors.js';
import { mapService, servicesOf, type ServiceWorld } from './mapping.js';
import { witFile } from './print.js';

export { mapService, servicesOf, type ServiceWorld } from './mapping.js';
export { witFile } from './print.js';
export { readComponentWorld, worldMismatches, type ComponentWorld } from './check.js';

/**
 * The worlds of the named services, or of every service defined in a file
 * whose name ends with one of `files` (the .proto files an author named).
 */
export function worldsFor(registry: Registry, opts: { services?: readonly string[]; files?: readonly string[] }): ServiceWorld[] {
  let names = opts.services ?? [];
  if (names.length === 0) {
    const files = opts.files ?? [];
    names = servicesOf(registry)
      // DescFile.name is the file's import path without `.proto`.
      .filter((s) => files.length === 0 || files.map((f) => f.replace(/\.proto$/, '')).some((f) => f === s.file.name || f.endsWith(`/${s.file.name}`)))
      .map((s) => s.typeName);
    if (names.length === 0) throw invalidArgument(`no service is defined in ${files.join(', ') || 'the descriptor set'}`);
  }
  const worlds = names.map((n) => mapService(registry, n));
  const seen = new Map<string, string>();
  for (const w of worlds) {
    const prev = seen.get(w.worldName);
    if (prev) throw invalidArgument(`services ${prev} and ${w.service.typeName} both become the world ${w.worldName}; print them one at a time (--service)`);
    seen.set(w.worldName, w.service.typeName);
  }
  return worlds;
}

/** The WIT file of those worlds. */
export function witText(registry: Registry, opts: { services?: readonly string[]; files?: readonly string[] }): string {
  return witFile(worldsFor(registry, opts));
}
