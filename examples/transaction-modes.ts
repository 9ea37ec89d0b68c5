/**
 * Transaction modes, and the options of `emit`.
 *
 * - `transaction: "handler"` (the default): the handler runs inside the transaction that
 *   acknowledges its deliveries. Its SQL, its follow-up emits and the acknowledgement
 *   commit together: exactly-once effects inside the database. For short handlers.
 * - `transaction: "ack"`: the handler runs outside any transaction. Its emits are
 *   buffered and written with the acknowledgement in one short transaction at the end,
 *   so slow external work never holds a transaction open. Make the external call
 *   idempotent (key it on `delivery.id`): a crash after it and before the
 *   acknowledgement runs it again.
 *
 * Emit options: `dedupKey` (a second emit of the same type and key is a no-op),
 * `deliverAfter` / `deliverAt` (a delay), `routingKey` (only subscriptions for that key,
 * or without a key filter, receive it).
 *
 * Run: `npx tsx examples/transaction-modes.ts`, stop with Ctrl-C.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Database, Event, Handler, Outbox, Sluice, WorkerPool } from "sluice"

class OrderPlaced extends Event.Class<OrderPlaced>()("shop.OrderPlaced", {
  orderId: Schema.String,
  sku: Schema.String,
  quantity: Schema.Int,
  region: Schema.Literal("eu", "us")
}) {}

class StockReserved extends Event.Class<StockReserved>()("shop.StockReserved", {
  orderId: Schema.String,
  sku: Schema.String
}) {}

class PaymentCaptured extends Event.Class<PaymentCaptured>()("shop.PaymentCaptured", {
  orderId: Schema.String,
  chargeId: Schema.String
}) {}

class PaymentReminder extends Event.Class<PaymentReminder>()("shop.PaymentReminder", {
  orderId: Schema.String
}) {}

// "handler" mode: the UPDATE, the emit and the acknowledgement commit together, or not at all.
const ReserveStock = Handler.make({
  name: "shop.ReserveStock",
  event: OrderPlaced,
  transaction: "handler",
  handle: (order) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE shop_stock SET reserved = reserved + ${order.quantity} WHERE sku = ${order.sku}`
      yield* Outbox.emit(new StockReserved({ orderId: order.orderId, sku: order.sku }))
    })
})

/** A slow payment provider (stands in for an HTTP call). */
const charge = (orderId: string, idempotencyKey: string) =>
  Effect.as(Effect.sleep("500 millis"), `charge ${orderId} [${idempotencyKey}]`)

// "ack" mode: no transaction is open during the slow call; the emit is buffered and
// written with the acknowledgement. Takes only orders routed to "eu".
const ChargeEuCards = Handler.make({
  name: "shop.ChargeEuCards",
  event: OrderPlaced,
  routingKey: "eu",
  transaction: "ack",
  claimTimeout: "2 minutes",
  handle: (order, delivery) =>
    Effect.gen(function*() {
      const chargeId = yield* charge(order.orderId, delivery.id)
      yield* Outbox.emit(new PaymentCaptured({ orderId: order.orderId, chargeId }))
    })
})

const SendReminder = Handler.make({
  name: "shop.SendReminder",
  event: PaymentReminder,
  handle: (reminder) => Effect.log(`reminder: order ${reminder.orderId} is still unpaid`)
})

const LogFollowUps = Handler.make({
  name: "shop.LogPayments",
  event: PaymentCaptured,
  handle: (payment, delivery) =>
    Effect.log(`payment ${payment.chargeId} for ${payment.orderId} (caused by event ${delivery.metadata.causationId})`)
})

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS shop_stock (sku text PRIMARY KEY, reserved int NOT NULL DEFAULT 0)`
  yield* sql`INSERT INTO shop_stock (sku) VALUES ('tea'), ('cup') ON CONFLICT DO NOTHING`
  yield* Layer.build(WorkerPool.layer([ReserveStock, ChargeEuCards, SendReminder, LogFollowUps]))

  const place = (orderId: string, sku: string, region: "eu" | "us") =>
    Outbox.emit(new OrderPlaced({ orderId, sku, quantity: 1, region }), { dedupKey: orderId, routingKey: region })

  yield* sql.withTransaction(Effect.gen(function*() {
    yield* place("o-1", "tea", "eu") // ReserveStock and ChargeEuCards
    yield* place("o-2", "cup", "us") // ReserveStock only
    yield* Outbox.emit(new PaymentReminder({ orderId: "o-2" }), { deliverAfter: "5 seconds" })
  }))
  // Same type and dedup key as an event still in the log: a no-op.
  yield* sql.withTransaction(place("o-1", "tea", "eu"))
  yield* Effect.never
})

const Runtime = Sluice.layerConfig.pipe(Layer.provideMerge(Database.layerConfig))

program.pipe(Effect.scoped, Effect.provide(Runtime), NodeRuntime.runMain)
