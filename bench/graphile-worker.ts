/**
 * graphile-worker 0.18.
 *
 * - `default`: its defaults (`concurrentJobs` from the cell, pool of 10, poll 2 s, no local
 *   queue, one `complete_job` per job);
 * - `tuned`: the configuration of its performance page (worker.graphile.org/docs/performance):
 *   `concurrentJobs: 24`, `maxPoolSize: 25`, `localQueue: { size: 500 }`,
 *   `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`.
 *
 * Jobs are added with `addJobs` (one call) and `addJob`. Logging is silenced (it logs every
 * completed job at info by default).
 */
import { Logger, makeWorkerUtils, run, runMigrations, type Runner, type Task } from "graphile-worker"
import { runChild } from "./child.js"
import type { Consumer, Contender, Producer } from "./contender.js"
import type { Payload } from "./protocol.js"

const logger = new Logger(() => (level, message) => {
  if (level === "error") console.error(`graphile-worker: ${message}`)
})

/** Settings of the `tuned` profile, from the library's performance docs. */
const tuned = {
  concurrency: 24,
  maxPoolSize: 25,
  preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
} as const

export const graphileWorker: Contender = {
  name: "graphile-worker",
  install: (url) => runMigrations({ connectionString: url, logger }),
  producer: async (url, _profile, groups): Promise<Producer> => {
    const utils = await makeWorkerUtils({ connectionString: url, logger })
    const identifier = groups[0]!
    return {
      emitBatch: async (batch) => {
        await utils.addJobs(batch.map((payload) => ({ identifier, payload })))
      },
      emitOne: async (payload) => {
        await utils.addJob(identifier, payload)
      },
      close: async () => {
        await utils.release()
      }
    }
  },
  consumer: async (url, options): Promise<Consumer> => {
    // Migrations were installed: check them now so that start-up does the least.
    await runMigrations({ connectionString: url, logger })
    const task: Task = (payload) => {
      options.onHandle([payload as Payload])
    }
    const settings = options.profile === "tuned" ? tuned : { concurrency: options.concurrency * options.groups.length }
    let runner: Runner | undefined
    return {
      start: async () => {
        runner = await run({
          connectionString: url,
          logger,
          noHandleSignals: true,
          taskList: Object.fromEntries(options.groups.map((group) => [group, task])),
          ...settings
        })
      },
      stop: async () => {
        await runner?.stop()
      }
    }
  }
}

await runChild(graphileWorker)
