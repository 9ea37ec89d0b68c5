/**
 * The chaos run's verdict catches what it claims to: deliveries written here by hand, the
 * way a correct runtime and a broken one would leave them, on a real database with the
 * chaos tables and their audit trigger.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"
import * as Scenario from "./Scenario.js"
import * as Verify from "./Verify.js"

const [single, savepoints, outcomes] = Scenario.groups.map((group) => group.name) as [string, string, string]
const events = 4

const setUp = Effect.gen(function*() {
  const store = yield* Store
  yield* TestDatabase.truncate
  yield* Scenario.install("sluice")
  for (const group of Scenario.groups) {
    yield* store.registerGroup({
      name: group.name,
      claimTimeoutMs: 3_000,
      maxAttempts: 5,
      interleave: false,
      subscriptions: [{ eventType: Scenario.Tick._tag, routingKey: null }]
    }, new Date(0))
  }
  yield* Outbox.emitAll(
    Array.from(
      { length: events },
      (_, i) => ({ event: new Scenario.Tick({ n: i + 1 }), options: { dedupKey: `${i + 1}` } })
    )
  )
})

const eventId = (n: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly id: string }>`SELECT id::text AS id FROM sluice.events WHERE dedup_key = ${String(n)}`,
      (rows) => rows[0]!.id
    ))

const claim = (group: string, n: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const token = randomUUID()
    yield* sql`UPDATE sluice.deliveries SET status = 'claimed', claim_token = ${token}, attempts = attempts + 1
      WHERE consumer_group = ${group} AND event_id = ${yield* eventId(n)}`
    return token
  })

const reap = (group: string, n: number) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      Effect.flatMap(eventId(n), (id) =>
        sql`UPDATE sluice.deliveries SET status = 'pending', claim_token = NULL,
        last_error = 'lease expired: not settled within the claim timeout of 3000 ms'
        WHERE consumer_group = ${group} AND event_id = ${id}`)
  )

/** The handler's effect and the acknowledgement in one transaction; `fenced` checks the token like the runtime. */
const acknowledge = (group: string, n: number, token: string, fenced = true) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const id = yield* eventId(n)
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO chaos.effects (consumer_group, n, event_id, claim_token, attempt, pid)
        VALUES (${group}, ${n}, ${id}, ${token}, 1, 1)`
      yield* sql`UPDATE sluice.deliveries SET status = 'delivered', claim_token = NULL
        WHERE consumer_group = ${group} AND event_id = ${id} AND status = 'claimed'
          ${fenced ? sql`AND claim_token = ${token}` : sql``}`
    }))
  })

const external = (group: string, n: number, token: string): Scenario.ExternalLine => ({
  kind: "done",
  group,
  n,
  eventId: "0",
  attempt: 1,
  token,
  pid: 1,
  at: 0
})

const handleAll = Effect.gen(function*() {
  const lines: Array<Scenario.ExternalLine> = []
  for (const group of [single, savepoints, outcomes]) {
    for (let n = 1; n <= events; n++) {
      const token = yield* claim(group, n)
      lines.push(external(group, n, token))
      yield* acknowledge(group, n, token)
    }
  }
  return lines
})

const verify = (external: ReadonlyArray<Scenario.ExternalLine>) =>
  Verify.verify({ events, faults: [], external, seed: 1, leaseMs: 3_000 })

describe("chaos verdict", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("a clean run: nothing lost, nothing duplicated, no violation", () =>
      Effect.gen(function*() {
        yield* setUp
        const verdict = yield* verify(yield* handleAll)
        assert.deepStrictEqual(verdict.violations, [])
        assert.strictEqual(verdict.lost, 0)
        assert.strictEqual(verdict.duplicated, 0)
      }))

    it.scoped("catches a stale acknowledgement, a duplicate effect, a delivery left claimed and a missing external effect", () =>
      Effect.gen(function*() {
        yield* setUp
        const lines: Array<Scenario.ExternalLine> = []
        // Event 1: handled correctly everywhere, but its external effect in `single` went missing.
        for (const group of [savepoints, outcomes]) {
          const token = yield* claim(group, 1)
          lines.push(external(group, 1, token))
          yield* acknowledge(group, 1, token)
        }
        yield* acknowledge(single, 1, yield* claim(single, 1))
        // Event 2 in `single`: the lease was reaped and taken over, and the old owner acknowledged anyway.
        const old = yield* claim(single, 2)
        yield* reap(single, 2)
        yield* claim(single, 2)
        lines.push(external(single, 2, old))
        yield* acknowledge(single, 2, old, false)
        // Event 3 in `savepoints`: its effect committed twice.
        const twice = yield* claim(savepoints, 3)
        lines.push(external(savepoints, 3, twice))
        yield* acknowledge(savepoints, 3, twice)
        yield* acknowledge(savepoints, 3, twice)
        // Event 4 in `outcomes`: left claimed.
        yield* claim(outcomes, 4)
        for (
          const [group, n] of [[outcomes, 2], [outcomes, 3], [single, 3], [single, 4], [savepoints, 2], [
            savepoints,
            4
          ]] as const
        ) {
          const token = yield* claim(group, n)
          lines.push(external(group, n, token))
          yield* acknowledge(group, n, token)
        }

        const verdict = yield* verify(lines)
        assert.strictEqual(verdict.lost, 1)
        assert.strictEqual(verdict.duplicated, 1)
        const violations = verdict.violations.join("\n")
        assert.include(violations, `event 4 is claimed in ${outcomes}`)
        assert.include(violations, "1 deliveries left claimed")
        assert.include(violations, "1 duplicate in-transaction effects")
        // The stale acknowledgement, and the second effect of event 3 (its transaction settled nothing).
        assert.include(violations, "2 effects not committed by the settling transaction")
        assert.include(violations, "1 delivered deliveries without an external effect")
      }))
  })
})
