/**
 * Quickstart: the whole integration in one file.
 *
 * 1. Define an event type with `Event.Class` (its stable type name is written once).
 * 2. Define a handler: its consumer group, the event it takes, what it does.
 * 3. Start the worker pool, then emit the event inside the transaction of a domain write.
 *
 * Run: `npx tsx examples/quickstart.ts` (embedded PostgreSQL in `.sluice/`, or `DATABASE_URL`).
 * Stop with Ctrl-C.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Database, Event, Handler, Outbox, Sluice, WorkerPool } from "sluice"

// 1. An event: a Schema class. Payloads are encoded on emit and decoded on claim.
class UserSignedUp extends Event.Class<UserSignedUp>()("quickstart.UserSignedUp", {
  email: Schema.String,
  plan: Schema.Literal("free", "pro")
}) {}

// 2. A handler is a consumer group: every group gets each event once.
const SendWelcome = Handler.make({
  name: "quickstart.SendWelcome",
  event: UserSignedUp,
  handle: (event, delivery) =>
    // `event` is a decoded UserSignedUp; `delivery.id` is stable across retries (an idempotency key).
    Effect.log(`welcome, ${event.email} (${event.plan} plan); delivery ${delivery.id}, attempt ${delivery.attempt}`)
})

// 3. A domain write and the event it causes commit together, or not at all.
const signUp = (email: string, plan: "free" | "pro") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO quickstart_users ${sql.insert({ email, plan })} ON CONFLICT (email) DO NOTHING`
      yield* Outbox.emit(new UserSignedUp({ email, plan }), { dedupKey: email })
    }))
  })

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS quickstart_users (email text PRIMARY KEY, plan text NOT NULL)`
  // Start the pool first: it registers the group's subscription, so the emit below is delivered to it.
  yield* Layer.build(WorkerPool.layer([SendWelcome]))
  yield* signUp("ada@example.com", "pro")
  yield* Effect.log("running; press Ctrl-C to stop")
  yield* Effect.never
})

// Wiring, once, at the edge: the runtime (migrations, store, outbox) on the database
// (`DATABASE_URL`, else an embedded server in `SLUICE_DATA_DIR`, default `.sluice/`).
const Runtime = Sluice.layerConfig.pipe(Layer.provideMerge(Database.layerConfig))

program.pipe(Effect.scoped, Effect.provide(Runtime), NodeRuntime.runMain)
