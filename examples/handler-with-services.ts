/**
 * A handler that depends on a service.
 *
 * A handler's requirements are part of its type (`Handler<Mailer>` here), and
 * `WorkerPool.layer` adds them to its own: the program does not compile until a Layer
 * provides them. Swap the layer (a fake mailer in tests, a real one in production)
 * without touching the handler.
 *
 * Run: `npx tsx examples/handler-with-services.ts`, stop with Ctrl-C.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Database, Event, Handler, Outbox, Sluice, WorkerPool } from "sluice"

class InvoiceIssued extends Event.Class<InvoiceIssued>()("billing.InvoiceIssued", {
  invoiceId: Schema.String,
  customerEmail: Schema.String,
  totalCents: Schema.Int
}) {}

class MailerError extends Schema.TaggedError<MailerError>()("MailerError", { message: Schema.String }) {}

/** Sends e-mail. `idempotencyKey` lets the provider drop a resend of the same message. */
class Mailer extends Effect.Service<Mailer>()("examples/Mailer", {
  succeed: {
    send: (message: { readonly to: string; readonly subject: string; readonly idempotencyKey: string }) =>
      message.to.endsWith(".invalid")
        ? Effect.fail(new MailerError({ message: `cannot deliver to ${message.to}` }))
        : Effect.log(`mail to ${message.to}: ${message.subject} [${message.idempotencyKey}]`)
  }
}) {}

const MailInvoice = Handler.make({
  name: "billing.MailInvoice",
  event: InvoiceIssued,
  // Slow external work: run outside a transaction (see examples/transaction-modes.ts).
  transaction: "ack",
  handle: (invoice, delivery) =>
    Effect.gen(function*() {
      const mailer = yield* Mailer
      yield* mailer.send({
        to: invoice.customerEmail,
        subject: `Invoice ${invoice.invoiceId}: ${(invoice.totalCents / 100).toFixed(2)} EUR`,
        // Stable across retries of this delivery: a retry after a crash sends no second mail.
        idempotencyKey: delivery.id
      })
    })
})

// Requires `Mailer`, besides what the runtime provides.
const Pool = WorkerPool.layer([MailInvoice]).pipe(Layer.provide(Mailer.Default))

const program = Effect.gen(function*() {
  yield* Layer.build(Pool)
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(
    Outbox.emit(new InvoiceIssued({ invoiceId: "INV-1001", customerEmail: "ada@example.com", totalCents: 12_500 }))
  )
  yield* Effect.never
})

const Runtime = Sluice.layerConfig.pipe(Layer.provideMerge(Database.layerConfig))

program.pipe(Effect.scoped, Effect.provide(Runtime), NodeRuntime.runMain)
