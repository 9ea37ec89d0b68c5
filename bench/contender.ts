/**
 * What each contender implements, in the child process: install its schema, produce
 * events, consume them. The child ({@link ./child.ts}) turns these into measurements.
 */
import type { Payload } from "./protocol.js"

/** The contenders, as named in the results (each has its entry file, `bench/<name>.ts`). */
export const contenderNames = ["sluice", "graphile-worker", "pg-boss", "raw"] as const
export type ContenderName = typeof contenderNames[number]

/**
 * `default`: the library's defaults; `tuned`: the settings its performance docs recommend;
 * `effect` (raw only): raw's tuned statements run from an Effect program, the stack's floor;
 * `lean` (sluice only): `tuned` deployed as the README's "Deploying a worker" describes, bundled
 * into one file and run with a small young generation ({@link leanNodeFlags}).
 */
export type Profile = "default" | "tuned" | "effect" | "lean"

/** The Node flags of the `lean` profile's children. */
export const leanNodeFlags: ReadonlyArray<string> = ["--max-semi-space-size=1"]

/** Settings of a consumer. */
export interface ConsumerOptions {
  readonly profile: Profile
  /**
   * Consumer groups (sluice, raw), queues (pg-boss) or task identifiers (graphile-worker)
   * to consume, one handler each.
   */
  readonly groups: ReadonlyArray<string>
  /** Deliveries claimed at once (sluice, raw); peers take theirs from the profile. */
  readonly batch: number
  /** Claim loops (fibers, connections, workers) per group in this process. */
  readonly concurrency: number
  /** Prune delivered rows continuously (retention 1 ms, every second): the bloat scenario. */
  readonly prune: boolean
  /** Called at the start of the handler with the payloads it received. */
  readonly onHandle: (payloads: ReadonlyArray<Payload>) => void
}

export interface Consumer {
  /** Starts claiming. */
  readonly start: () => Promise<void>
  /** Stops claiming, lets in-flight work finish, closes every connection. */
  readonly stop: () => Promise<void>
}

export interface Producer {
  /** Emits all payloads in one call (one statement where the contender can). */
  readonly emitBatch: (payloads: ReadonlyArray<Payload>) => Promise<void>
  /** sluice: as `emitBatch`, from event instances made of the payloads in the timed call. */
  readonly emitInstances?: (payloads: ReadonlyArray<Payload>) => Promise<void>
  /** Emits one payload in its own transaction; resolves when it committed. */
  readonly emitOne: (payload: Payload) => Promise<void>
  readonly close: () => Promise<void>
}

export interface Contender {
  readonly name: ContenderName
  /** Creates the schema and the groups (queues) in an empty database. */
  readonly install: (url: string, profile: Profile, groups: ReadonlyArray<string>) => Promise<void>
  /** Connects a producer emitting to the first of `groups` (sluice, raw: to every subscribed group). */
  readonly producer: (url: string, profile: Profile, groups: ReadonlyArray<string>) => Promise<Producer>
  /** Connects a consumer, ready to start. */
  readonly consumer: (url: string, options: ConsumerOptions) => Promise<Consumer>
}
