/**
 * The fault injector's plan: a seeded random schedule of process and database faults,
 * so `--seed` replays the same sequence (kinds, targets, gaps, outage lengths).
 */

/** The faults the injector causes (handler failures are decided by the handlers themselves). */
export const kinds = [
  "sigkill",
  "sigterm",
  "sigstop",
  "db-restart",
  "terminate-backends",
  "terminate-listen"
] as const

export type Kind = (typeof kinds)[number]

/** What each kind does, for the report. */
export const descriptions: Record<Kind, string> = {
  "sigkill": "SIGKILL a worker process, restart it",
  "sigterm": "SIGTERM a worker process (graceful shutdown), restart it",
  "sigstop": "SIGSTOP a worker past its lease, then SIGCONT",
  "db-restart": "stop the PostgreSQL server, start it again",
  "terminate-backends": "pg_terminate_backend on a worker's (or the producer's) connections",
  "terminate-listen": "pg_terminate_backend on every LISTEN connection"
}

/** Relative frequency of each kind after the first round. */
const weights: Record<Kind, number> = {
  "sigkill": 3,
  "sigterm": 2,
  "sigstop": 2,
  "db-restart": 1,
  "terminate-backends": 3,
  "terminate-listen": 2
}

/** Mulberry32: a small seeded generator of numbers in [0, 1). */
export const random = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** One planned fault. */
export interface Planned {
  readonly kind: Kind
  /** Wait before it, in milliseconds, counted from the end of the previous fault. */
  readonly gapMs: number
  /** Which worker slot (process kinds, terminate-backends); `-1` for the producer's connections. */
  readonly slot: number
  /** How long the database stays down, or how long past the lease a stopped process stays stopped. */
  readonly holdMs: number
}

/**
 * The plan for `durationMs` of faults: first every kind once in a shuffled order, then kinds
 * drawn by weight. Gaps average `meanGapMs`; the plan ends when the gaps alone fill the duration.
 */
export const plan = (options: {
  readonly seed: number
  readonly durationMs: number
  readonly processes: number
  readonly meanGapMs: number
  readonly kinds: ReadonlyArray<Kind>
}): Array<Planned> => {
  const next = random(options.seed ^ 0x5eed)
  const pick = <A>(items: ReadonlyArray<A>) => items[Math.floor(next() * items.length)]!
  const firstRound = [...options.kinds]
  for (let i = firstRound.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[firstRound[i], firstRound[j]] = [firstRound[j]!, firstRound[i]!]
  }
  const total = options.kinds.reduce((sum, kind) => sum + weights[kind], 0)
  const weighted = (): Kind => {
    let x = next() * total
    for (const kind of options.kinds) {
      x -= weights[kind]
      if (x < 0) return kind
    }
    return options.kinds[options.kinds.length - 1]!
  }
  const planned: Array<Planned> = []
  let elapsed = 0
  while (true) {
    const gapMs = Math.round(options.meanGapMs * (0.5 + next()))
    if (elapsed + gapMs > options.durationMs && planned.length >= firstRound.length) break
    elapsed += gapMs
    const kind = planned.length < firstRound.length ? firstRound[planned.length]! : weighted()
    const slots = Array.from({ length: options.processes }, (_, i) => i)
    const slot = kind === "terminate-backends" && next() < 0.25 ? -1 : pick(slots)
    const holdMs = kind === "db-restart" ? 1_000 + Math.round(next() * 2_000) : Math.round(next() * 2_000)
    planned.push({ kind, gapMs, slot, holdMs })
  }
  return planned
}
