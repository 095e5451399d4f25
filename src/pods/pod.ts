// A pod sandbox and its containers as the pool holds them: the durable record
// (src/pods/records.ts), replaced as a whole on every change, plus what lives
// only in this process (the lock, the running guest, its data-plane route).
// Records change only through the runner (src/pods/runner.ts), which checks
// each move against the state table.
import type { ContainerRuntime } from '../wasm/api.js';
import type { ComponentName } from './names.js';
import { ContainerState, isLive } from './pod-state.js';
import type { ContainerRecord, SandboxRecord, UnixNanos } from './records.js';
import type { RoutableContainer } from './routing.js';

const wallAtStart = BigInt(Date.now()) * 1_000_000n;
const hrAtStart = process.hrtime.bigint();
/** Wall-clock nanoseconds with monotonic resolution (Date.now() alone has milliseconds). */
export function nowNanos(): UnixNanos {
  return (wallAtStart + (process.hrtime.bigint() - hrAtStart)).toString();
}

/** Serialises async work: each run starts after the previous one settles. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export class Sandbox {
  /** Serialises the verbs acting on this sandbox and on its containers. */
  readonly lock = new Mutex();
  /** Its containers in creation order (EXITED ones included until RemoveContainer). */
  readonly containers: Container[] = [];

  constructor(
    public record: SandboxRecord,
    readonly component: ComponentName,
  ) {}

  get id(): string {
    return this.record.id;
  }

  get state(): SandboxRecord['state'] {
    return this.record.state;
  }

  /** The container that has not exited, if any (at most one: admitContainer). */
  live(): Container | undefined {
    return this.containers.find((c) => isLive(c.state));
  }

  /** The running container, if any. */
  running(): Container | undefined {
    return this.containers.find((c) => c.state === ContainerState.Running);
  }
}

export class Container {
  /** Set while RUNNING and STOPPING. */
  runtime: ContainerRuntime | undefined;
  /** The entry published in the component map while RUNNING. */
  route: RoutableContainer | undefined;

  constructor(
    public record: ContainerRecord,
    readonly sandbox: Sandbox,
  ) {}

  get id(): string {
    return this.record.id;
  }

  get state(): ContainerState {
    return this.record.state;
  }
}
