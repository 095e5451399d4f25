// What the data plane reads from the pod pool on every call. The pod pool
// (src/pods/pod-pool.ts) keeps these structures up to date as containers start
// and stop, so a call does one Map lookup and walks only its own service's
// containers: no allocation, no scan of unrelated pods.
import type { ContainerRuntime } from '../wasm/api.js';

/** A running container as the router sees it. */
export interface RoutableContainer {
  readonly id: string;
  readonly version: string;
  readonly runtime: ContainerRuntime;
  /** The image's FileDescriptorSet (binary), for reflection and JSON conversion. */
  readonly descriptorSet: Uint8Array;
}

export interface VersionRoute {
  readonly version: string;
  /** Running containers of this version (stopping ones are already removed). */
  readonly containers: readonly RoutableContainer[];
  /** Round-robin cursor for the router's use. */
  cursor: number;
}

export interface ServiceRoute {
  /** `domain:package.Service` */
  readonly serviceKey: string;
  readonly domain: string;
  readonly service: string;
  /** Versions with at least one running container, highest semver first. */
  readonly versions: readonly VersionRoute[];
}

export interface RouteTable {
  /**
   * The service's routes, or undefined when the node has no pod of that service
   * and had none lately (the data plane answers UNIMPLEMENTED). A route with no
   * versions means no container of it runs now: its pods are not running, or
   * its last pod was removed (UNAVAILABLE).
   */
  lookup(domain: string, service: string): ServiceRoute | undefined;
  /** Every service with a running container (health, reflection). */
  runningServices(): Iterable<ServiceRoute>;
}
