/**
 * `npm start`: a small three-stage pipeline on the runtime, until the archive pipeline lands.
 *
 * ```
 * OrderPlaced ─▶ CapturePayment ─▶ PaymentCaptured ─┬─▶ SendReceipt ("ack" mode)
 *                                                   └─▶ ScheduleShipment ─▶ ShipmentScheduled ─┬─ "eu" ─▶ WarehouseEu
 *                                                                         routing key = region └─ "us" ─▶ WarehouseUs
 * ```
 *
 * Five consumer groups (`example.*`); the warehouses are batch handlers, one per routing key.
 *
 * It places 1,000 orders (a domain write and the `OrderPlaced` events in one transaction,
 * each event with a dedup key, so a second run adds none), prints the queues once a second
 * while they drain, prints a summary, and keeps running until Ctrl-C (graceful shutdown).
 * `--exit-when-drained` stops after the summary instead (for tests and CI).
 *
 * The database: `DATABASE_URL`, else an embedded PostgreSQL in `SLUICE_DATA_DIR` (default `.sluice/`).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { Database, Event, Handler, Outbox, Sluice, Store, WorkerPool } from "sluice"

const orderCount = 1_000
const exitWhenDrained = process.argv.includes("--exit-when-drained")

// ---------------------------------------------------------------------------
// Events

const Region = Schema.Literal("eu", "us")

class OrderPlaced extends Event.Class<OrderPlaced>()("example.OrderPlaced", {
  orderId: Schema.Int,
  region: Region,
  amountCents: Schema.Int
}) {}

class PaymentCaptured extends Event.Class<PaymentCaptured>()("example.PaymentCaptured", {
  orderId: Schema.Int,
  region: Region,
  amountCents: Schema.Int
}) {}

class ShipmentScheduled extends Event.Class<ShipmentScheduled>()("example.ShipmentScheduled", {
  orderId: Schema.Int
}) {}

// ---------------------------------------------------------------------------
// Handlers

/** Stage 1. Its UPDATE, its emit and the acknowledgement commit together ("handler" mode). */
const CapturePayment = Handler.make({
  name: "example.CapturePayment",
  event: OrderPlaced,
  batchSize: 50,
  handle: (order) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE example.orders SET paid_at = now() WHERE id = ${order.orderId}`
      yield* Outbox.emit(
        new PaymentCaptured({ orderId: order.orderId, region: order.region, amountCents: order.amountCents })
      )
    })
})

/** Stage 2, first group: a (simulated) e-mail, outside any transaction ("ack" mode). */
const SendReceipt = Handler.make({
  name: "example.SendReceipt",
  event: PaymentCaptured,
  batchSize: 20,
  concurrency: 2,
  transaction: "ack",
  handle: (payment) =>
    Effect.gen(function*() {
      yield* Effect.sleep("2 millis")
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE example.orders SET receipt_sent_at = now() WHERE id = ${payment.orderId}`
    })
})

/** Stage 2, second group (fan-out): routes each shipment to its region's warehouse. */
const ScheduleShipment = Handler.make({
  name: "example.ScheduleShipment",
  event: PaymentCaptured,
  batchSize: 50,
  handle: (payment) => Outbox.emit(new ShipmentScheduled({ orderId: payment.orderId }), { routingKey: payment.region })
})

/** Stage 3: one batch handler per routing key, one INSERT per batch. */
const warehouse = (name: string, region: typeof Region.Type) =>
  Handler.make({
    name,
    event: ShipmentScheduled,
    routingKey: region,
    batchSize: 100,
    handleBatch: (deliveries) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = deliveries.map(({ event }) => ({ order_id: event.orderId, warehouse: region }))
        yield* sql`INSERT INTO example.shipments ${sql.insert(rows)} ON CONFLICT (order_id) DO NOTHING`
      })
  })

const WarehouseEu = warehouse("example.WarehouseEu", "eu")
const WarehouseUs = warehouse("example.WarehouseUs", "us")

/** The groups in pipeline order, with the label the progress lines use. */
const stages = [
  ["payments", CapturePayment],
  ["receipts", SendReceipt],
  ["shipments", ScheduleShipment],
  ["warehouse-eu", WarehouseEu],
  ["warehouse-us", WarehouseUs]
] as const

// ---------------------------------------------------------------------------
// Program

const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS example`
  yield* sql`CREATE TABLE IF NOT EXISTS example.orders (
    id integer PRIMARY KEY,
    region text NOT NULL,
    amount_cents integer NOT NULL,
    paid_at timestamptz,
    receipt_sent_at timestamptz
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS example.shipments (
    order_id integer PRIMARY KEY,
    warehouse text NOT NULL
  )`
})

/** Places the orders: the rows and their events commit together. Returns how many were new. */
const placeOrders = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const orders = Array.from({ length: orderCount }, (_, i) => ({
    id: i + 1,
    region: i % 3 === 0 ? "us" as const : "eu" as const,
    amount_cents: 500 + (i * 7_919) % 20_000
  }))
  return yield* sql.withTransaction(Effect.gen(function*() {
    const rows = sql.insert(orders)
    const inserted = yield* sql`INSERT INTO example.orders ${rows} ON CONFLICT (id) DO NOTHING RETURNING id`
    // Emitted for every order, new or not: the dedup key makes a repeated emit a no-op.
    yield* Outbox.emitAllOf(
      OrderPlaced,
      orders.map((order) => ({ orderId: order.id, region: order.region, amountCents: order.amount_cents })),
      (placed) => ({ dedupKey: `order-${placed.orderId}` })
    )
    return inserted.length
  }))
})

interface Queue {
  readonly open: number
  readonly delivered: number
  readonly failed: number
}

/** Pending + claimed, delivered and dead-lettered deliveries per stage, from `Store.counts`. */
const queues = Effect.gen(function*() {
  const counts = yield* (yield* Store.Store).counts
  return stages.map(([label, handler]) => {
    const of = (...statuses: ReadonlyArray<Store.DeliveryStatus>) =>
      counts
        .filter((row) => row.consumer_group === handler.settings.name && statuses.includes(row.status))
        .reduce((sum, row) => sum + row.count, 0)
    const queue: Queue = { open: of("pending", "claimed"), delivered: of("delivered", "skipped"), failed: of("failed") }
    return [label, queue] as const
  })
})

const summary = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ orders: number; paid: number; receipts: number; eu: number; us: number }>`
    SELECT
      (SELECT count(*)::int FROM example.orders) AS orders,
      (SELECT count(*)::int FROM example.orders WHERE paid_at IS NOT NULL) AS paid,
      (SELECT count(*)::int FROM example.orders WHERE receipt_sent_at IS NOT NULL) AS receipts,
      (SELECT count(*)::int FROM example.shipments WHERE warehouse = 'eu') AS eu,
      (SELECT count(*)::int FROM example.shipments WHERE warehouse = 'us') AS us`
  return row!
})

const program = Effect.gen(function*() {
  yield* createTables
  // Start the handlers first: the pool registers their subscriptions, and an event is
  // delivered to the groups subscribed when it is emitted.
  yield* Layer.build(WorkerPool.layer(stages.map(([, handler]) => handler)))
  yield* Effect.addFinalizer(() => Console.log("stopping: in-flight batches finish, the rest is released"))

  const started = yield* Clock.currentTimeMillis
  const placed = yield* placeOrders
  yield* Console.log(`placed ${placed} new orders (${orderCount - placed} were already there)`)

  const elapsed = Effect.map(Clock.currentTimeMillis, (now) => `${((now - started) / 1000).toFixed(1)}s`)
  yield* Effect.gen(function*() {
    const current = yield* queues
    const line = current.map(([label, q]) =>
      `${label} ${q.open}/${q.delivered}${q.failed > 0 ? ` (${q.failed} failed)` : ""}`
    )
    yield* Console.log(`[${yield* elapsed}] pending/delivered: ${line.join(" · ")}`)
    return current
  }).pipe(
    Effect.repeat({
      schedule: Schedule.spaced("1 second"),
      until: (current) => current.every(([, q]) => q.open === 0)
    })
  )

  const totals = yield* summary
  const failed = (yield* queues).reduce((sum, [, q]) => sum + q.failed, 0)
  yield* Console.log(
    `summary: ${totals.orders} orders, ${totals.paid} payments captured, ${totals.receipts} receipts sent, ` +
      `${totals.eu + totals.us} shipments (eu ${totals.eu}, us ${totals.us}), ${failed} dead-lettered; ` +
      `drained in ${yield* elapsed}`
  )
  if (exitWhenDrained) return
  yield* Console.log("running; press Ctrl-C to stop")
  yield* Effect.never
})

const Runtime = Sluice.layerConfig.pipe(Layer.provideMerge(Database.layerConfig))

program.pipe(
  Effect.scoped,
  Effect.provide(Runtime),
  // The runtime logs every batch at Info: keep the console to the progress lines.
  Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
  NodeRuntime.runMain
)
