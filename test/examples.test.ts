/**
 * `npm run example` (examples/main.ts) against the test database: a first run places the orders
 * and drains the pipeline; a second run finds every order already placed and emits
 * nothing new (dedup keys), then stops cleanly on SIGINT, as after Ctrl-C.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { exec, expectSuccess } from "./support/Command.js"
import * as TestDatabase from "./support/TestDatabase.js"

const summary =
  /^summary: 1000 orders, 1000 payments captured, 1000 receipts sent, 1000 shipments \(eu 666, us 334\), 0 dead-lettered; drained in \d+\.\ds$/m

const countEvents = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ type: string; n: number }>`SELECT type, count(*)::int AS n FROM sluice.events GROUP BY type ORDER BY type`
)

it.live(
  "examples/main.ts drains the example pipeline; a second run adds nothing and stops on SIGINT",
  () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase.TestDatabase
      const env = { DATABASE_URL: url }

      const first = yield* exec("npm", ["run", "example", "--", "--exit-when-drained"], { env })
      expectSuccess("npm run example -- --exit-when-drained", first)
      expect(first.stdout).toContain("placed 1000 new orders (0 were already there)")
      expect(first.stdout).toMatch(/^\[\d+\.\ds\] pending\/delivered: payments \d+\/\d+ · receipts \d+\/\d+ · /m)
      expect(first.stdout).toMatch(summary)
      const events = yield* countEvents
      expect(events).toEqual([
        { type: "example.OrderPlaced", n: 1000 },
        { type: "example.PaymentCaptured", n: 1000 },
        { type: "example.ShipmentScheduled", n: 1000 }
      ])

      // Without the flag it keeps running after the summary, until Ctrl-C.
      const second = yield* exec(process.execPath, ["--import", "tsx", "examples/main.ts"], {
        env,
        interruptWhen: /^running; press Ctrl-C to stop$/m
      })
      expectSuccess("examples/main.ts, then SIGINT", second)
      expect(second.stdout).toContain("placed 0 new orders (1000 were already there)")
      expect(second.stdout).toMatch(summary)
      expect(second.stdout).toMatch(/^stopping: /m)
      expect(yield* countEvents).toEqual(events)

      const sql = yield* SqlClient.SqlClient
      const open = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM sluice.deliveries WHERE status NOT IN ('delivered', 'skipped')`
      expect(open[0]!.n).toBe(0)
    }).pipe(Effect.provide(TestDatabase.layer)),
  180_000
)
