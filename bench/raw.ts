/**
 * The practical limit: sluice's data model (events, subscriptions, one delivery per event and
 * consumer group) written by hand with node-postgres and prepared statements.
 *
 * - emit: one statement inserts the events, their deliveries (joined from subscriptions) and
 *   notifies the groups;
 * - claim: one statement locks a batch with `FOR UPDATE SKIP LOCKED`, leases it under a
 *   token and returns it with the payloads of its events, reaching both by key
 *   (`= ANY(ARRAY(…))`: the same shape as sluice's claim, whose joins made PostgreSQL scan
 *   both tables on every claim);
 * - acknowledge: one statement marks the batch delivered, fenced by the token (profile
 *   `tuned`: deletes it, as sluice does with a retention of zero).
 *
 * One connection per claim loop, one LISTEN connection per process, a 1 s poll as fallback.
 */
import { randomUUID } from "node:crypto"
import pg from "pg"
import { runChild } from "./child.js"
import type { Consumer, Contender, Producer } from "./contender.js"
import type { Payload } from "./protocol.js"
import {
  ackDeleteSql,
  ackSql,
  channel,
  claimSql,
  emitSql,
  eventType,
  pollMs,
  pruneDeliveriesSql,
  pruneEventsSql,
  pruneEveryMs,
  pruneLimit,
  schema
} from "./raw-sql.js"

const connect = async (url: string) => {
  const client = new pg.Client({ connectionString: url, application_name: "raw-bench" })
  await client.connect()
  return client
}

/** Wakes the loops of a group on NOTIFY, or after the poll interval. */
const wakeups = () => {
  const waiting = new Map<string, Set<() => void>>()
  return {
    wake: (group: string) => {
      for (const resolve of waiting.get(group) ?? []) resolve()
      waiting.delete(group)
    },
    wakeAll: () => {
      for (const set of waiting.values()) for (const resolve of set) resolve()
      waiting.clear()
    },
    wait: (group: string, ms: number) =>
      new Promise<void>((resolve) => {
        const set = waiting.get(group) ?? new Set()
        const done = () => {
          clearTimeout(timer)
          set.delete(done)
          resolve()
        }
        const timer = setTimeout(done, ms)
        set.add(done)
        waiting.set(group, set)
      })
  }
}

export const raw: Contender = {
  name: "raw",
  install: async (url, _profile, groups) => {
    const client = await connect(url)
    await client.query(schema)
    await client.query(
      "INSERT INTO subscriptions (consumer_group, event_type) SELECT g, $2 FROM unnest($1::text[]) AS g",
      [groups, eventType]
    )
    await client.end()
  },
  producer: async (url): Promise<Producer> => {
    const client = await connect(url)
    const emit = async (batch: ReadonlyArray<Payload>) => {
      await client.query({ ...emitSql, values: [eventType, JSON.stringify(batch), new Date()] })
    }
    return { emitBatch: emit, emitOne: (payload) => emit([payload]), close: () => client.end() }
  },
  consumer: async (url, options): Promise<Consumer> => {
    if (options.profile === "effect") {
      const { consumer } = await import("./raw-effect.js")
      return consumer(url, options)
    }
    const { batch, concurrency, groups, onHandle, profile, prune } = options
    const listener = await connect(url)
    const signals = wakeups()
    listener.on("notification", (message) => {
      if (message.payload !== undefined) signals.wake(message.payload)
    })
    await listener.query(`LISTEN ${channel}`)
    const loops = groups.flatMap((group) => Array.from({ length: concurrency }, () => group))
    const clients = await Promise.all(loops.map(() => connect(url)))
    const pruner = prune ? await connect(url) : undefined
    let stopping = false
    const running: Array<Promise<void>> = []

    const loop = async (client: pg.Client, group: string) => {
      while (!stopping) {
        const token = randomUUID()
        const claimed = await client.query<{ event_id: string; payload: Payload }>({
          ...claimSql,
          values: [group, new Date(), batch, token]
        })
        if (claimed.rows.length === 0) {
          await signals.wait(group, pollMs)
          continue
        }
        onHandle(claimed.rows.map((row) => row.payload))
        const ids = claimed.rows.map((row) => row.event_id)
        await client.query(
          profile === "tuned"
            ? { ...ackDeleteSql, values: [group, token, ids] }
            : { ...ackSql, values: [group, token, new Date(), ids] }
        )
      }
    }

    const pruneLoop = async (client: pg.Client) => {
      while (!stopping) {
        for (const statement of [pruneDeliveriesSql, pruneEventsSql]) {
          for (;;) {
            const result = await client.query({ ...statement, values: [new Date(Date.now() - 1), pruneLimit] })
            if ((result.rowCount ?? 0) < pruneLimit) break
          }
        }
        await signals.wait("", pruneEveryMs)
      }
    }

    return {
      start: async () => {
        loops.forEach((group, i) => running.push(loop(clients[i]!, group)))
        if (pruner !== undefined) running.push(pruneLoop(pruner))
      },
      stop: async () => {
        stopping = true
        signals.wakeAll()
        await Promise.all(running)
        await Promise.all([...clients, listener, ...(pruner === undefined ? [] : [pruner])].map((c) => c.end()))
      }
    }
  }
}

await runChild(raw)
