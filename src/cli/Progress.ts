/**
 * What the entry points show while the pipeline works: a progress line per interval
 * (records pulled, validated, published, indexed per backend, queue depth), and the
 * condition "drained" (every delivery settled and no source run still running).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Progress } from "../archive/ArchiveStore.js"
import { ArchiveStore } from "../archive/ArchiveStore.js"
import { Store } from "../runtime/index.js"

export interface Snapshot {
  readonly archive: Progress
  /** Deliveries pending or claimed, over every consumer group. */
  readonly open: number
  readonly failed: number
  readonly settled: number
}

/** The pipeline's state now; deliveries counted only for consumer groups whose name starts with `groupPrefix`. */
export const snapshot = (groupPrefix: string) =>
  Effect.gen(function*() {
    const archive = yield* (yield* ArchiveStore).progress
    const now = new Date(yield* Clock.currentTimeMillis)
    const groups = (yield* (yield* Store.Store).groupStats(now, now)).filter((group) =>
      group.consumer_group.startsWith(groupPrefix)
    )
    let open = 0
    let failed = 0
    let settled = 0
    for (const group of groups) {
      open += group.pending + group.claimed
      failed += group.failed
      settled += group.delivered + group.skipped + group.failed
    }
    return { archive, open, failed, settled } satisfies Snapshot
  })

/** Drained: nothing pending or claimed, and no source run still running. */
export const isDrained = (s: Snapshot) => s.open === 0 && s.archive.runsRunning === 0

const indexed = (progress: Progress, backend: string) =>
  progress.indexed.find((entry) => entry.backend === backend)?.count ?? 0

/** One line of progress. */
export const line = (s: Snapshot, backends: ReadonlyArray<string>) => {
  const a = s.archive
  const validated = a.depositions
  const parts = [
    `pulled ${a.pulled}`,
    `validated ${validated} (rejected ${a.rejected})`,
    `published ${a.published}`,
    ...backends.map((backend) => `${backend} ${indexed(a, backend)}`),
    `queue ${s.open}`
  ]
  if (s.failed > 0) parts.push(`dead letters ${s.failed}`)
  return parts.join(" · ")
}

export { indexed }
