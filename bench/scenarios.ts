/**
 * What a run measures: the contenders' profiles and the cells of each scenario, for the
 * full run and for `--quick`.
 */
import type { ContenderName, Profile } from "./contender.js"

/** One contender in one profile. */
export interface Subject {
  readonly contender: ContenderName
  readonly profile: Profile
}

/** sluice and raw have one profile but for their drains (`tuned`, and raw's `effect` floor). */
export const hasOneProfile = (subject: Subject): boolean =>
  subject.contender === "sluice" || subject.contender === "raw"

/** How reports and logs name a subject: `sluice`, `raw tuned`, `graphile-worker default`. */
export const subjectName = (subject: Subject): string =>
  hasOneProfile(subject) && subject.profile === "default"
    ? subject.contender
    : `${subject.contender} ${subject.profile}`

export const sluice: Subject = { contender: "sluice", profile: "default" }
/** sluice with a retention of zero: the acknowledgement deletes the delivery. */
export const sluiceTuned: Subject = { contender: "sluice", profile: "tuned" }
/** sluice tuned, bundled into one file and run with a small young generation (see `Profile`). */
export const sluiceLean: Subject = { contender: "sluice", profile: "lean" }
export const raw: Subject = { contender: "raw", profile: "default" }
/** raw deleting at acknowledgement, like sluice tuned. */
export const rawTuned: Subject = { contender: "raw", profile: "tuned" }
/** raw's tuned statements run from an Effect program: what the stack costs before sluice's bookkeeping. */
export const rawEffect: Subject = { contender: "raw", profile: "effect" }
export const graphileDefault: Subject = { contender: "graphile-worker", profile: "default" }
export const graphileTuned: Subject = { contender: "graphile-worker", profile: "tuned" }
export const bossDefault: Subject = { contender: "pg-boss", profile: "default" }
export const bossTuned: Subject = { contender: "pg-boss", profile: "tuned" }

export const subjects: ReadonlyArray<Subject> = [
  sluice,
  raw,
  graphileDefault,
  graphileTuned,
  bossDefault,
  bossTuned
]

/** The peers whose profile changes what is installed or emitted (pg-boss: the queue's `notify`). */
export const producerSubjects: ReadonlyArray<Subject> = [sluice, raw, graphileDefault, bossDefault, bossTuned]

/** A drain cell: N pre-filled events through one group. */
export interface DrainCell {
  readonly subject: Subject
  /** Fetch size: sluice's `batchSize`, raw's LIMIT, graphile-worker's local queue, pg-boss's `batchSize`. */
  readonly batch: number
  /** Claim loops per process: fibers (sluice), connections (raw), `concurrentJobs`, `localConcurrency`. */
  readonly concurrency: number
  readonly processes: number
}

/** The settings each tuned peer uses whatever the cell (see its file). */
const tunedShape = {
  "graphile-worker": { batch: 500, concurrency: 24 },
  "pg-boss": { batch: 500, concurrency: 2 }
} as const

const drain = (subject: Subject, batch: number, concurrency: number, processes = 1): DrainCell =>
  subject.profile === "tuned" && subject.contender !== "sluice" && subject.contender !== "raw"
    ? { subject, ...tunedShape[subject.contender], processes }
    : { subject, batch, concurrency, processes }

export const drainName = (cell: DrainCell): string => `drain.b${cell.batch}.c${cell.concurrency}.p${cell.processes}`

export interface Plan {
  readonly quick: boolean
  readonly repetitions: number
  /** Events pre-filled for drains, and emitted in one call. */
  readonly events: number
  /** A drain that has not finished by then is stopped and its rate taken over this time. */
  readonly drainCapMs: number
  readonly drains: ReadonlyArray<DrainCell>
  /** Events emitted one per transaction, back to back. */
  readonly emitEach: number
  /**
   * Events the producer emits one per transaction before `emit.each` is timed (the same
   * for every contender), so that it measures the steady state, not the JIT warming up;
   * `emit.each.cold` times the first `emitEach` of a fresh process.
   */
  readonly emitWarmup: number
  readonly latency: {
    readonly subjects: ReadonlyArray<Subject>
    readonly rate: number
    readonly seconds: number
    /** How long to wait for the last events after the producer finished. */
    readonly graceMs: number
  }
  /** Fan-out to 3 groups: sluice and raw (the peers have no consumer groups). */
  readonly fanout: ReadonlyArray<Subject>
  readonly bloat: { readonly subjects: ReadonlyArray<Subject>; readonly events: number; readonly chunk: number }
  readonly idle: { readonly handlers: number; readonly seconds: number; readonly settleMs: number }
}

// Batch 500 is the peers' tuned claim size; sluice and raw are measured at it too, so that
// "best settings of each" compares like with like.
const fullDrains: ReadonlyArray<DrainCell> = [
  ...[1, 100].flatMap((batch) => [1, 2, 4, 8].map((concurrency) => drain(sluice, batch, concurrency))),
  drain(sluice, 1, 4, 2),
  drain(sluice, 100, 2, 2),
  drain(sluice, 100, 4, 2),
  ...[1, 2, 4].map((concurrency) => drain(sluice, 500, concurrency)),
  drain(sluice, 500, 2, 2),
  drain(sluiceTuned, 100, 2),
  ...[1, 2, 4].map((concurrency) => drain(sluiceTuned, 500, concurrency)),
  drain(sluiceTuned, 500, 2, 2),
  drain(sluiceLean, 1, 2),
  drain(sluiceLean, 500, 2),
  drain(raw, 1, 2),
  drain(raw, 100, 2),
  drain(raw, 100, 8),
  drain(raw, 100, 2, 2),
  drain(raw, 500, 2),
  drain(raw, 500, 8),
  drain(raw, 500, 2, 2),
  drain(rawTuned, 100, 8),
  drain(rawTuned, 500, 2),
  drain(rawEffect, 100, 2),
  drain(rawEffect, 500, 2),
  drain(graphileDefault, 1, 1),
  drain(graphileDefault, 1, 8),
  drain(graphileTuned, 0, 0),
  drain(graphileTuned, 0, 0, 2),
  drain(bossDefault, 1, 1),
  drain(bossDefault, 1, 8),
  drain(bossTuned, 0, 0),
  drain(bossTuned, 0, 0, 2)
]

const quickDrains: ReadonlyArray<DrainCell> = [
  drain(sluice, 100, 2),
  drain(sluice, 100, 8),
  drain(sluice, 1, 2),
  drain(sluice, 100, 2, 2),
  drain(sluice, 500, 2),
  drain(sluiceTuned, 500, 2),
  drain(sluiceLean, 500, 2),
  drain(raw, 100, 2),
  drain(raw, 100, 8),
  drain(raw, 500, 2),
  drain(rawTuned, 500, 2),
  drain(rawEffect, 500, 2),
  drain(graphileDefault, 1, 8),
  drain(graphileTuned, 0, 0),
  drain(bossDefault, 1, 8),
  drain(bossTuned, 0, 0)
]

/**
 * The best drain of each contender: batched cells, the peers tuned (the steady-state check's
 * cells; at N = 100,000 a batch-1 drain would run for a minute).
 */
const isBatched = (cell: DrainCell) =>
  cell.batch > 1 && (cell.subject.profile === "tuned" || cell.subject.contender === "sluice" ||
    cell.subject.contender === "raw")

/**
 * `events` overrides N (the N is 20,000) and keeps only the batched drains: a longer
 * drain shows the steady state past the first fraction of a second of a fresh process, whose
 * code is still being compiled.
 */
export const plan = (quick: boolean, repetitions: number, events?: number): Plan => ({
  quick,
  repetitions,
  events: events ?? (quick ? 10_000 : 20_000),
  drainCapMs: (quick ? 1_000 : 10_000) * Math.max(1, (events ?? 0) / 20_000),
  drains: events === undefined ? (quick ? quickDrains : fullDrains) : fullDrains.filter(isBatched),
  emitEach: quick ? 500 : 2_000,
  emitWarmup: quick ? 500 : 2_000,
  latency: {
    // Quick: the baseline and the fastest peer only (each cell takes `seconds` × repetitions).
    subjects: quick ? [sluice, raw, graphileTuned] : subjects,
    rate: 200,
    seconds: quick ? 3 : 10,
    graceMs: 2_000
  },
  fanout: [sluice, raw],
  bloat: { subjects: [sluice, raw], events: quick ? 50_000 : 1_000_000, chunk: 10_000 },
  idle: { handlers: 8, seconds: quick ? 6 : 30, settleMs: 1_000 }
})

/**
 * Whether `--subjects` (comma-separated) names a subject: by its report name (`raw effect`,
 * `sluice tuned`) or by its contender (`raw`: every profile of raw).
 */
export const namedBy = (names: ReadonlyArray<string>) => (subject: Subject): boolean =>
  names.includes(subjectName(subject)) || names.includes(subject.contender)

/** The plan with only the subjects `keep` accepts; every contender's emit is kept, as the drains' templates. */
export const restrict = (plan: Plan, keep: (subject: Subject) => boolean): Plan => ({
  ...plan,
  drains: plan.drains.filter((cell) => keep(cell.subject)),
  latency: { ...plan.latency, subjects: plan.latency.subjects.filter(keep) },
  fanout: plan.fanout.filter(keep),
  bloat: { ...plan.bloat, subjects: plan.bloat.subjects.filter(keep) }
})
