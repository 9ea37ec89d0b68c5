import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Job extends Event.Class<Job>()("test.Job", { n: Schema.Number }) {}

/**
 * PostgreSQL decides whether a commit waits for the WAL flush by the `synchronous_commit` in
 * effect when it commits. Each statement below runs on one reserved connection: a claim, then
 * `SHOW`, inside one transaction, and `SHOW` again after it.
 */
describe("Durability", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("a claim commits without the flush, an acknowledgement with it, and neither changes the session", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const sql = yield* SqlClient.SqlClient
        const store = yield* Store
        yield* Runtime.registerGroup({ name: "durable", eventType: "test.Job" })
        yield* Outbox.emitAll([new Job({ n: 1 }), new Job({ n: 2 })])
        const connection = yield* sql.reserve
        const onConnection = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.provideService(effect, SqlClient.TransactionConnection, [connection, 0])
        const setting = sql<{ readonly synchronous_commit: string }>`SHOW synchronous_commit`.pipe(
          Effect.map((rows) => rows[0]?.synchronous_commit)
        )
        const inTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          onConnection(
            Effect.all([sql`BEGIN`, effect, setting, sql`COMMIT`]).pipe(Effect.map(([, a, s]) => [a, s] as const))
          )
        const now = new Date(yield* Clock.currentTimeMillis)
        const options = { group: "durable", limit: 1, now, fair: false }

        const claimToken = crypto.randomUUID()
        const [claimed, inClaim] = yield* inTransaction(store.claim({ ...options, token: claimToken }))
        assert.strictEqual(claimed.length, 1)
        assert.strictEqual(inClaim, "off")
        assert.strictEqual(yield* onConnection(setting), "on")

        const [next, inAcknowledgement] = yield* inTransaction(store.claimAndAcknowledge({
          ...options,
          token: crypto.randomUUID(),
          acknowledge: { token: claimToken, eventIds: claimed.map((row) => row.event_id), mode: "mark" }
        }))
        assert.deepStrictEqual([next.acknowledged, next.rows.length], [1, 1])
        assert.strictEqual(inAcknowledgement, "on")
        assert.strictEqual(yield* onConnection(setting), "on")
      }))
  })
})
