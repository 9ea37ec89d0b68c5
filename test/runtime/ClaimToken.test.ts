/**
 * A handler sees the claim token its attempt holds (`Delivery.claimToken`, also on
 * `CurrentDelivery`): the token the delivery row is claimed under while the handler runs,
 * so a handler can key its own records on the lease (the chaos run checks settlements
 * against it). A delivery holds a token exactly while it is claimed, which is what lets the
 * acknowledgement fence on the token alone.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Ping extends Event.Class<Ping>()("test.ClaimToken.Ping", { n: Schema.Number }) {}

const group = "claim-token"

describe("Delivery.claimToken", () => {
  it.layer(Runtime.layer)((it) => {
    it.scoped("is the token the delivery is claimed under while its handler runs, the same on CurrentDelivery", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* TestDatabase.truncate
        yield* sql`CREATE TABLE IF NOT EXISTS seen_tokens (n int, given uuid, current uuid, in_row uuid)`
        yield* sql`TRUNCATE seen_tokens`
        yield* Runtime.startPool([
          Handler.make({
            name: group,
            event: Ping,
            batchSize: 3,
            handle: (event, delivery) =>
              Effect.gen(function*() {
                const current = yield* Effect.serviceOption(Handler.CurrentDelivery)
                yield* sql`
                  INSERT INTO seen_tokens (n, given, current, in_row)
                  SELECT ${event.n}, ${delivery.claimToken}::uuid,
                         ${Option.getOrNull(Option.map(current, (d) => d.claimToken))}::uuid, claim_token
                  FROM sluice.deliveries WHERE consumer_group = ${group} AND event_id = ${delivery.eventId}`
              })
          })
        ])
        yield* Outbox.emitAll(Array.from({ length: 6 }, (_, n) => new Ping({ n })))
        yield* Runtime.waitUntil(
          "6 delivered",
          Runtime.statusCounts(group),
          (counts) => counts.delivered === 6
        )
        const rows = yield* sql<{ n: number; given: string; current: string | null; in_row: string | null }>`
          SELECT n, given::text, current::text, in_row::text FROM seen_tokens ORDER BY n`
        assert.strictEqual(rows.length, 6)
        for (const row of rows) {
          assert.match(row.given, /^[0-9a-f-]{36}$/)
          assert.strictEqual(row.current, row.given)
          assert.strictEqual(row.in_row, row.given)
        }
        // A batch shares one lease: at most three deliveries per token.
        const perToken = new Map<string, number>()
        for (const row of rows) perToken.set(row.given, (perToken.get(row.given) ?? 0) + 1)
        assert.isTrue([...perToken.values()].every((count) => count <= 3))
      }))

    it.effect("exactly while the delivery is claimed: the table refuses a token without the claim, or a claim without one", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* TestDatabase.truncate
        yield* Runtime.registerGroup({ name: group, eventType: "test.ClaimToken.Ping" })
        yield* Outbox.emitAll([new Ping({ n: 1 })])
        const token = crypto.randomUUID()
        const deliveries = sql(`${TestDatabase.schema}.deliveries`)
        const violation = (update: Effect.Effect<unknown, unknown>) =>
          Effect.map(Effect.flip(update), (error) => String((error as { cause?: unknown }).cause ?? error))
        assert.include(
          yield* violation(sql`UPDATE ${deliveries} SET claim_token = ${token}::uuid`),
          "deliveries_token_while_claimed"
        )
        assert.include(
          yield* violation(sql`UPDATE ${deliveries} SET status = 'claimed'`),
          "deliveries_token_while_claimed"
        )
        yield* sql`UPDATE ${deliveries} SET status = 'claimed', claim_token = ${token}::uuid`
        assert.include(
          yield* violation(sql`UPDATE ${deliveries} SET status = 'delivered'`),
          "deliveries_token_while_claimed"
        )
        yield* sql`UPDATE ${deliveries} SET status = 'delivered', claim_token = NULL`
      }))
  })
})
