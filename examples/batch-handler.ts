/**
 * A batch handler with per-event outcomes.
 *
 * `handleBatch` receives up to `batchSize` deliveries and returns `Handler.outcomes([...])`,
 * one `Handler.Outcome` per delivery, in order, so one bad event settles on its own and
 * never fails its neighbours:
 * - `succeeded`: delivered.
 * - `skipped(reason)`: settled without an error, not retried.
 * - `retry(error)`: tried again after the delay the handler's `retry` schedule gives.
 * - `permanent(error)`: dead-lettered now (status `failed`, with the error kept).
 * Returning anything else means every delivery succeeded; failing the effect retries
 * the whole batch.
 *
 * Run: `npx tsx examples/batch-handler.ts`, stop with Ctrl-C.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { Database, Event, Handler, Outbox, Sluice, WorkerPool } from "sluice"

class ReadingTaken extends Event.Class<ReadingTaken>()("sensors.ReadingTaken", {
  sensor: Schema.String,
  celsius: Schema.Number
}) {}

/** Sensors whose calibration is not loaded yet: their readings wait and are tried again. */
const calibrating = new Set(["s-7"])

const StoreReadings = Handler.make({
  name: "sensors.StoreReadings",
  event: ReadingTaken,
  batchSize: 100,
  maxAttempts: 5,
  retry: Schedule.exponential("200 millis"),
  handleBatch: (deliveries) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outcomes = deliveries.map(({ event }) =>
        event.celsius < -273.15
          ? Handler.Outcome.permanent(`impossible temperature: ${event.celsius} °C`)
          : event.sensor.startsWith("test-")
          ? Handler.Outcome.skipped("test sensor")
          : calibrating.has(event.sensor)
          ? Handler.Outcome.retry(`sensor ${event.sensor} is not calibrated yet`)
          : Handler.Outcome.succeeded
      )
      // One statement for the whole batch. In the default "handler" transaction mode it
      // commits with the acknowledgement of these deliveries, or not at all.
      const rows = deliveries
        .filter((_, i) => outcomes[i]!._tag === "Succeeded")
        .map(({ eventId, event }) => ({ event_id: eventId, sensor: event.sensor, celsius: event.celsius }))
      if (rows.length > 0) yield* sql`INSERT INTO sensor_readings ${sql.insert(rows)}`
      yield* Effect.log(`batch of ${deliveries.length}: stored ${rows.length}`)
      return Handler.outcomes(outcomes)
    })
})

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS sensor_readings (
    event_id bigint PRIMARY KEY, sensor text NOT NULL, celsius double precision NOT NULL)`
  yield* Layer.build(WorkerPool.layer([StoreReadings]))
  yield* sql.withTransaction(Outbox.emitAll([
    new ReadingTaken({ sensor: "s-1", celsius: 21.5 }),
    new ReadingTaken({ sensor: "s-2", celsius: -300 }), // dead-lettered at once
    new ReadingTaken({ sensor: "test-9", celsius: 20 }), // skipped
    new ReadingTaken({ sensor: "s-7", celsius: 19 }), // retried, then dead-lettered after 5 attempts
    new ReadingTaken({ sensor: "s-3", celsius: 22.25 })
  ]))
  yield* Effect.never
})

const Runtime = Sluice.layerConfig.pipe(Layer.provideMerge(Database.layerConfig))

program.pipe(Effect.scoped, Effect.provide(Runtime), NodeRuntime.runMain)
