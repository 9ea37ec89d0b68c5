/**
 * The transactional outbox: `emit` writes events into the caller's current SQL
 * transaction, so domain writes and the events they cause commit together or not at
 * all. Each call is one statement whatever the number of events: the event rows, one
 * delivery per subscribed consumer group (joined in SQL from the subscriptions), and a
 * `pg_notify` per group that wakes consumers at commit.
 *
 * @example
 * ```ts
 * yield* sql.withTransaction(Effect.gen(function*() {
 *   yield* sql`INSERT INTO records ${sql.insert(record)}`
 *   yield* Outbox.emit(new RecordPublished({ srn, title }), { dedupKey: srn })
 * }))
 * ```
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import { EmitFailed } from "./Errors.js"
import * as Event from "./Event.js"
import { CurrentDelivery } from "./Handler.js"
import * as Tracing from "./internal/tracing.js"
import type { EventRow } from "./Store.js"
import { Store } from "./Store.js"

/** Options of one emitted event. */
export interface EmitOptions {
  /** Routes the event to subscriptions filtered on this key (e.g. an index backend). */
  readonly routingKey?: string | undefined
  /** A second emit with the same type and key is a no-op. */
  readonly dedupKey?: string | undefined
  /** Deliver no earlier than this long after the emit. */
  readonly deliverAfter?: Duration.DurationInput | undefined
  /** Deliver no earlier than this time. */
  readonly deliverAt?: Date | undefined
  /** Extra metadata stored with the event (correlation and causation ids are filled in). */
  readonly metadata?: Record<string, unknown> | undefined
}

/** An event with its options, for {@link emitAll}. */
export interface Emission {
  readonly event: Event.EventInstance
  readonly options?: EmitOptions | undefined
}

/** The options of each item of {@link emitAllOf}, from the item and its index. */
export type OptionsOf<Fields> = (fields: Fields, index: number) => EmitOptions | undefined

export interface OutboxService {
  /** Writes events (one statement) into the current transaction. */
  readonly emitAll: (events: ReadonlyArray<Event.EventInstance | Emission>) => Effect.Effect<void, EmitFailed>
  /** Writes events of one class, from their fields (one statement), into the current transaction. */
  readonly emitAllOf: <Fields>(
    eventClass: Event.FieldsClass,
    items: ReadonlyArray<Fields>,
    options?: OptionsOf<Fields>
  ) => Effect.Effect<void, EmitFailed>
}

/** The outbox, as a service. */
export class Outbox extends Context.Tag("sluice/Outbox")<Outbox, OutboxService>() {}

/** Spans of the hot path skip the stack trace `Effect.fn` would capture on every call. */
const traced = () => ({ captureStackTrace: false })

/** Emits one event into the current transaction. */
export const emit = (event: Event.EventInstance, options?: EmitOptions): Effect.Effect<void, EmitFailed, Outbox> =>
  Effect.flatMap(Outbox, (outbox) => outbox.emitAll([options === undefined ? event : { event, options }])).pipe(
    Tracing.withSpan("Outbox.emit", traced)
  )

/** Emits many events in one statement, into the current transaction. */
export const emitAll = (
  events: ReadonlyArray<Event.EventInstance | Emission>
): Effect.Effect<void, EmitFailed, Outbox> =>
  Effect.flatMap(Outbox, (outbox) => outbox.emitAll(events)).pipe(Tracing.withSpan("Outbox.emitAll", traced))

/**
 * Emits many events of one class from the fields its constructor takes, in one
 * statement, into the current transaction. Each item is validated and stored as
 * `new eventClass(fields)` would be, without making the instances: the way to emit a
 * bulk of plain data (rows read from a file, a feed, a table). `options` gives each item
 * its own options.
 *
 * @example
 * ```ts
 * yield* Outbox.emitAllOf(
 *   RecordPublished,
 *   published.map((record) => ({ srn: record.srn, title: record.title })),
 *   (event) => ({ dedupKey: event.srn })
 * )
 * ```
 */
export const emitAllOf = <A extends Event.EventInstance, Fields>(
  eventClass: Event.FieldsClass & (new(fields: Fields) => A),
  items: ReadonlyArray<NoInfer<Fields>>,
  options?: OptionsOf<NoInfer<Fields>>
): Effect.Effect<void, EmitFailed, Outbox> =>
  Effect.flatMap(Outbox, (outbox) => outbox.emitAllOf(eventClass, items, options)).pipe(
    Tracing.withSpan("Outbox.emitAllOf", traced)
  )

const isEmission = (item: Event.EventInstance | Emission): item is Emission =>
  "event" in item && typeof item.event === "object" && item.event !== null &&
  !("_tag" in item && typeof item._tag === "string")

/** Encodes events into store rows, with the metadata they inherit. */
const toRows = (
  items: ReadonlyArray<Event.EventInstance | Emission>,
  now: number,
  inherited: Record<string, unknown>
): Either.Either<ReadonlyArray<EventRow>, EmitFailed> => {
  const rows: Array<EventRow> = new Array(items.length)
  // A batch is mostly of one class: its encoder is looked up once per run of that class.
  let lastClass: unknown = undefined
  let encode: Event.Encoder | undefined
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    const emission = isEmission(item)
    const event = emission ? item.event : item
    const options = emission ? item.options : undefined
    const eventClass: unknown = (event as object).constructor
    if (eventClass !== lastClass || encode === undefined) {
      const schema = Event.classOf(event)
      encode = schema === undefined ? undefined : Event.encoderOf(schema)
      lastClass = eventClass
    }
    if (encode === undefined || typeof event._tag !== "string") {
      return Either.left(
        new EmitFailed({
          eventType: String((event as { _tag?: unknown })._tag),
          reason: "encode",
          message: "not an event: emit takes instances of an Event.Class"
        })
      )
    }
    const encoded = encode(event)
    if (Either.isLeft(encoded)) return Either.left(cannotEncode(event._tag, "", encoded.left))
    rows[i] = row(event._tag, encoded.right, options, inherited, now)
  }
  return Either.right(rows)
}

/** Encodes items of one class from their fields into store rows, as {@link toRows} does instances. */
const fieldRows = <Fields>(
  eventClass: Event.FieldsClass,
  items: ReadonlyArray<Fields>,
  optionsOf: OptionsOf<Fields> | undefined,
  now: number,
  inherited: Record<string, unknown>
): Either.Either<ReadonlyArray<EventRow>, EmitFailed> => {
  const type = Event.typeName(eventClass)
  const encode = Event.fieldsEncoderOf(eventClass)
  const rows: Array<EventRow> = new Array(items.length)
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    const encoded = encode(item)
    if (Either.isLeft(encoded)) return Either.left(cannotEncode(type, ` (item ${i} of ${items.length})`, encoded.left))
    rows[i] = row(type, encoded.right, optionsOf?.(item, i), inherited, now)
  }
  return Either.right(rows)
}

/** Why an event of `type` (the item `which`, if any) cannot be stored, with the schema's error. */
const cannotEncode = (type: string, which: string, error: ParseResult.ParseError) =>
  new EmitFailed({
    eventType: type,
    reason: "encode",
    message: `cannot encode ${type}${which}: ${Event.formatError(error)}`,
    cause: error
  })

/** The metadata every event an emit writes inherits from its fiber: its cause (in a handler) and its trace. */
const inheritedOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Record<string, unknown> => {
  const inherited: Record<string, unknown> = {}
  const cause = Context.getOption(fiber.currentContext, CurrentDelivery)
  if (Option.isSome(cause)) {
    inherited.causationId = cause.value.eventId
    inherited.correlationId = cause.value.metadata.correlationId ?? cause.value.eventId
  }
  const span = fiber.currentSpan
  if (Tracing.exportsSpans(fiber) && span?._tag === "Span") {
    inherited.traceId = span.traceId
    inherited.spanId = span.spanId
  }
  return inherited
}

const row = (
  type: string,
  payload: unknown,
  options: EmitOptions | undefined,
  inherited: Record<string, unknown>,
  now: number
): EventRow => ({
  type,
  routing_key: options?.routingKey ?? null,
  payload,
  metadata: options?.metadata === undefined ? inherited : { ...inherited, ...options.metadata },
  dedup_key: options?.dedupKey ?? null,
  available_at: availableAt(options, now)
})

const availableAt = (options: EmitOptions | undefined, now: number): Date | null => {
  if (options?.deliverAt !== undefined) return options.deliverAt
  if (options?.deliverAfter !== undefined) return new Date(now + Duration.toMillis(options.deliverAfter))
  return null
}

/** An outbox whose emits encode their rows and hand them, with the emit time, to `write`. */
const writingTo = (
  write: (rows: ReadonlyArray<EventRow>, now: number) => Effect.Effect<void, EmitFailed>
): OutboxService => {
  // Encoding is synchronous: the time, the cause and the trace are read from the fiber at once.
  const emitting = (
    encode: (now: number, inherited: Record<string, unknown>) => Either.Either<ReadonlyArray<EventRow>, EmitFailed>
  ) =>
    Effect.withFiberRuntime<void, EmitFailed>((fiber) => {
      const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
      const rows = encode(now, inheritedOf(fiber))
      return Either.isLeft(rows) ? Effect.fail(rows.left) : write(rows.right, now)
    })
  return {
    emitAll: (items) => items.length === 0 ? Effect.void : emitting((now, inherited) => toRows(items, now, inherited)),
    emitAllOf: (eventClass, items, options) =>
      items.length === 0
        ? Effect.void
        : emitting((now, inherited) => fieldRows(eventClass, items, options, now, inherited))
  }
}

/** The outbox writing through the store into the caller's transaction. */
export const make: Effect.Effect<OutboxService, never, Store> = Effect.map(
  Store,
  (store) =>
    writingTo((rows, now) =>
      store.emit(rows, new Date(now)).pipe(
        Effect.asVoid,
        Effect.mapError((error) =>
          new EmitFailed({
            eventType: [...new Set(rows.map((row) => row.type))].join(", "),
            reason: "database",
            message: error.message,
            cause: error
          })
        )
      )
    )
)

/** The outbox as a layer. */
export const layer: Layer.Layer<Outbox, never, Store> = Layer.effect(Outbox, make)

/**
 * An outbox that only collects rows, for handlers in `"ack"` transaction mode: the
 * worker writes them with the acknowledgement.
 */
export const makeBuffer = (): { readonly service: OutboxService; readonly take: () => ReadonlyArray<EventRow> } => {
  let rows: Array<EventRow> = []
  return {
    service: writingTo((encoded) =>
      Effect.sync(() => {
        for (const row of encoded) rows.push(row)
      })
    ),
    take: () => {
      const taken = rows
      rows = []
      return taken
    }
  }
}
