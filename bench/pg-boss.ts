/**
 * pg-boss 12, one queue per group.
 *
 * - `default`: its defaults: `work()` fetches one job at a time (`localConcurrency` from the
 *   cell) and waits `pollingIntervalSeconds` (2 s) after every fetch, no LISTEN/NOTIFY;
 * - `tuned`: batch fetch (`batchSize: 500`, `localConcurrency: 2`, `burstWhenBatchFull`: keep
 *   fetching while batches come back full), and LISTEN/NOTIFY (`useListenNotify` on the
 *   instance, `notify` on the queue), `pollingIntervalSeconds: 0.5` as the fallback.
 *
 * Jobs are added with `insert` (one call) and `send`. The producer instance runs no
 * maintenance (`supervise`, `schedule` and `migrate` off): only the consumer does.
 */
import { PgBoss } from "pg-boss"
import { runChild } from "./child.js"
import type { Consumer, Contender, Producer } from "./contender.js"
import type { Payload } from "./protocol.js"

const tunedWork = { batchSize: 500, localConcurrency: 2, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }

const started = async (boss: PgBoss) => {
  boss.on("error", (error) => console.error("pg-boss:", error))
  await boss.start()
  return boss
}

export const pgBoss: Contender = {
  name: "pg-boss",
  install: async (url, profile, groups) => {
    const boss = await started(new PgBoss({ connectionString: url, supervise: false, schedule: false }))
    for (const group of groups) await boss.createQueue(group, { notify: profile === "tuned" })
    await boss.stop({ graceful: true, close: true })
  },
  producer: async (url, _profile, groups): Promise<Producer> => {
    const boss = await started(
      new PgBoss({ connectionString: url, supervise: false, schedule: false, migrate: false })
    )
    const queue = groups[0]!
    return {
      emitBatch: async (batch) => {
        await boss.insert(queue, batch.map((data) => ({ data })))
      },
      emitOne: async (payload) => {
        await boss.send(queue, payload)
      },
      close: () => boss.stop({ graceful: true, close: true })
    }
  },
  consumer: async (url, options): Promise<Consumer> => {
    const tuned = options.profile === "tuned"
    const boss = await started(new PgBoss({ connectionString: url, useListenNotify: tuned }))
    const settings = tuned ? tunedWork : { localConcurrency: options.concurrency }
    return {
      start: async () => {
        for (const group of options.groups) {
          await boss.work<Payload>(group, settings, async (jobs) => {
            options.onHandle(jobs.map((job) => job.data))
          })
        }
      },
      stop: () => boss.stop({ graceful: true, close: true, timeout: 10_000 })
    }
  }
}

await runChild(pgBoss)
