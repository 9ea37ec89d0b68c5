/**
 * Handlers: what a consumer group does with the events it receives.
 *
 * A handler names its consumer group, the event class it consumes, its claim settings
 * and either `handle` (one event) or `handleBatch` (many, with per-event outcomes).
 * Its requirements travel in its Effect type and are provided by Layers, so a handler
 * can depend on any service.
 *
 * @example
 * ```ts
 * const IndexKeyword = Handler.make({
 *   name: "archive.KeywordIndex",
 *   event: IndexRecord,
 *   routingKey: "keyword",
 *   handle: (event) => Effect.flatMap(KeywordIndex, (index) => index.add(event))
 * })
 * ```
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { InvalidConfig } from "./Errors.js"
import * as Event from "./Event.js"
import { positiveDuration, show } from "./internal/configRules.js"

/** Fail a delivery with this to dead-letter it at once, without retries. */
export class Permanent extends Schema.TaggedError<Permanent>()("sluice/Permanent", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** Fail a delivery with this to mark it skipped: settled, not an error, not retried. */
export class Skip extends Schema.TaggedError<Skip>()("sluice/Skip", {
  reason: Schema.String
}) {}

/**
 * A handler ran longer than its `timeout`: the attempt fails with this (and is retried
 * per the handler's schedule) so a handler that never returns cannot hold its lease,
 * kept alive by the heartbeat, forever.
 */
export class Timeout extends Schema.TaggedError<Timeout>()("sluice/Timeout", {
  handler: Schema.String,
  timeout: Schema.String
}) {
  override get message() {
    return `handler ${JSON.stringify(this.handler)} did not finish within its timeout of ${this.timeout}`
  }
}

/** What became of one event of a batch. */
export type Outcome =
  | { readonly _tag: "Succeeded" }
  | { readonly _tag: "Skipped"; readonly reason: string }
  | { readonly _tag: "Failed"; readonly error: unknown; readonly permanent: boolean }

/** Constructors for the {@link Outcome}s of a batch: see {@link outcomes}. */
export const Outcome = {
  succeeded: { _tag: "Succeeded" } as Outcome,
  skipped: (reason: string): Outcome => ({ _tag: "Skipped", reason }),
  /** Retry later per the handler's schedule, counting an attempt. */
  retry: (error: unknown): Outcome => ({ _tag: "Failed", error, permanent: false }),
  /** Dead-letter now. */
  permanent: (error: unknown): Outcome => ({ _tag: "Failed", error, permanent: true })
} as const

/** Per-event outcomes of a batch, one per delivery, in the order received: made by {@link outcomes}. */
export interface BatchOutcomes {
  readonly _tag: "sluice/BatchOutcomes"
  readonly outcomes: ReadonlyArray<Outcome>
}

/**
 * What a batch handler returns to report per-event outcomes, one per delivery in order.
 * A batch handler that returns anything else has handled every delivery successfully.
 *
 * @example
 * ```ts
 * handleBatch: (deliveries) =>
 *   Effect.succeed(Handler.outcomes(deliveries.map((d) =>
 *     d.event.valid ? Handler.Outcome.succeeded : Handler.Outcome.permanent("invalid")
 *   )))
 * ```
 */
export const outcomes = (list: ReadonlyArray<Outcome>): BatchOutcomes => ({
  _tag: "sluice/BatchOutcomes",
  outcomes: list
})

/** Checks a batch handler's result for {@link BatchOutcomes}. */
export const isBatchOutcomes = (value: unknown): value is BatchOutcomes =>
  typeof value === "object" && value !== null && "_tag" in value && value._tag === "sluice/BatchOutcomes"

/** Correlation data carried with every event. */
export interface EventMetadata {
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly traceId?: string | undefined
  readonly spanId?: string | undefined
  readonly [key: string]: unknown
}

/** One claimed event as a handler sees it. */
export interface Delivery<A> {
  /** Stable across attempts: key external side effects on it. */
  readonly id: string
  readonly eventId: string
  readonly event: A
  /** 1 on the first attempt. */
  readonly attempt: number
  readonly routingKey: string | null
  readonly metadata: EventMetadata
  readonly createdAt: Date
  /**
   * The lease this attempt holds: the runtime records the outcome only while the delivery
   * is still claimed under this token, so a worker whose lease was taken over cannot settle it.
   */
  readonly claimToken: string
}

/**
 * How the handler's work meets the acknowledgement.
 * - `"handler"`: the handler's SQL and emits run inside the acknowledging transaction
 *   (exactly-once effects inside the database; best for short handlers).
 * - `"ack"`: the handler runs outside any transaction; its emits are buffered and
 *   written with the acknowledgement in one short transaction at the end, so slow
 *   external work never holds a transaction open. Its own SQL commits on its own.
 */
export type TransactionMode = "handler" | "ack"

/** The event schema a handler consumes: an {@link Event.Class}. */
export type EventSchema<A, I> = Schema.Schema<A, I, never> & { readonly _tag: string }

interface CommonOptions<A, I> {
  /** The consumer group: stable across deploys; every handler is its own group. */
  readonly name: string
  readonly event: EventSchema<A, I>
  /** Take only events with this routing key (or one of these). */
  readonly routingKey?: string | ReadonlyArray<string> | undefined
  /** Deliveries claimed at once. Default 1. */
  readonly batchSize?: number | undefined
  /**
   * How often the pool polls for due deliveries while this handler's loops are idle: one
   * statement for every group with the same interval (NOTIFY wakes earlier). Default 1 second.
   */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Attempts before a delivery is dead-lettered. Default 10. */
  readonly maxAttempts?: number | undefined
  /** A lease not extended for this long is taken back by the reaper. Default 60 seconds. */
  readonly claimTimeout?: Duration.DurationInput | undefined
  /** How often a running batch extends its lease. Default a third of `claimTimeout`. */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** Claim-loop fibers for this handler in this process. Default 1. */
  readonly concurrency?: number | undefined
  /** Delay before retry n is the n-th delay of this schedule; when it ends, the delivery is dead-lettered. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** See {@link TransactionMode}. Default `"handler"`. */
  readonly transaction?: TransactionMode | undefined
  /** Interleave routing keys in each claim so a flood on one key cannot starve another. Default false. */
  readonly interleaveRoutingKeys?: boolean | undefined
  /**
   * Bound on one run of `handle` (per event) or `handleBatch` (per batch); past it the
   * attempt fails with {@link Timeout} and is retried. Unset: no bound (the heartbeat
   * keeps the lease of a handler that never returns).
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/** Options of a handler that takes one event at a time. */
export interface SingleOptions<A, I, E, R> extends CommonOptions<A, I> {
  readonly handle: (event: A, delivery: Delivery<A>) => Effect.Effect<void, E, R>
}

/**
 * Options of a handler that takes a batch. To report per-event outcomes it returns
 * {@link outcomes}; any other result means every delivery succeeded.
 */
export interface BatchOptions<A, I, E, R> extends CommonOptions<A, I> {
  readonly handleBatch: (deliveries: ReadonlyArray<Delivery<A>>) => Effect.Effect<unknown, E, R>
}

/** The resolved settings of a handler. */
export interface Settings {
  readonly name: string
  readonly eventType: string
  readonly routingKeys: ReadonlyArray<string> | null
  readonly batchSize: number
  readonly pollInterval: Duration.Duration
  readonly maxAttempts: number
  readonly claimTimeout: Duration.Duration
  readonly heartbeatInterval: Duration.Duration
  readonly concurrency: number
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly transaction: TransactionMode
  readonly interleaveRoutingKeys: boolean
  readonly timeout: Duration.Duration | undefined
}

/** A handler, its event type erased: what the worker pool runs. */
export interface Handler<R = never> {
  readonly settings: Settings
  /** The first problem with its options, if any (the pool refuses to start with it). */
  readonly problem: Option.Option<InvalidConfig>
  readonly decode: (payload: unknown) => Either.Either<unknown, ParseResult.ParseError>
  readonly run:
    | {
      readonly _tag: "single"
      readonly handle: (delivery: Delivery<unknown>) => Effect.Effect<void, unknown, R>
    }
    | {
      readonly _tag: "batch"
      readonly handleBatch: (deliveries: ReadonlyArray<Delivery<unknown>>) => Effect.Effect<unknown, unknown, R>
    }
}

/** The defaults every unset option takes. */
export const defaults = {
  batchSize: 1,
  pollInterval: Duration.seconds(1),
  maxAttempts: 10,
  claimTimeout: Duration.seconds(60),
  concurrency: 1,
  retry: Schedule.exponential(Duration.seconds(1), 2).pipe(
    Schedule.union(Schedule.spaced(Duration.minutes(10))),
    Schedule.jittered
  ),
  transaction: "handler" as TransactionMode
}

/** Defines a handler. Options are checked when the worker pool starts. */
export function make<A, I, E, R>(options: SingleOptions<A, I, E, R>): Handler<R>
export function make<A, I, E, R>(options: BatchOptions<A, I, E, R>): Handler<R>
export function make<A, I, E, R>(options: SingleOptions<A, I, E, R> | BatchOptions<A, I, E, R>): Handler<R> {
  const [settings, problem] = resolve(options)
  const schema = options.event as unknown as Schema.Schema<unknown, unknown, never>
  const decode = Event.decoderOf(schema)
  const bounded = guard(settings)
  if ("handleBatch" in options) {
    const handleBatch = options.handleBatch as (
      deliveries: ReadonlyArray<Delivery<unknown>>
    ) => Effect.Effect<unknown, E, R>
    return {
      settings,
      problem,
      decode,
      run: { _tag: "batch", handleBatch: (deliveries) => bounded(() => handleBatch(deliveries)) }
    }
  }
  const handle = options.handle as (event: unknown, delivery: Delivery<unknown>) => Effect.Effect<void, E, R>
  return {
    settings,
    problem,
    decode,
    run: { _tag: "single", handle: (delivery) => bounded(() => handle(delivery.event, delivery)) }
  }
}

/**
 * Runs a handler's function so that a synchronous throw (before it returns an Effect) or
 * a self-interruption becomes a defect of that delivery's attempt rather than of the claim
 * loop, bounded by the handler's `timeout` when it has one.
 */
const guard = (settings: Settings) => {
  const timeout = settings.timeout
  const interrupted = () =>
    Effect.dieMessage(`handler ${JSON.stringify(settings.name)} was interrupted from inside (not by shutdown)`)
  // A handler that interrupts itself (or joins an interrupted fiber) must fail its delivery,
  // not end the claim loop as if the pool were stopping. Shutdown interrupts the loop's own
  // fiber, and then this recovery does not run.
  const selfInterruptIsFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.catchAllCause(effect, (cause) => Cause.isInterruptedOnly(cause) ? interrupted() : Effect.failCause(cause))
  if (timeout === undefined) {
    return <A, E, R>(run: () => Effect.Effect<A, E, R>) => selfInterruptIsFailure(Effect.suspend(run))
  }
  const onTimeout = () => new Timeout({ handler: settings.name, timeout: Duration.format(timeout) })
  return <A, E, R>(run: () => Effect.Effect<A, E, R>): Effect.Effect<A, E | Timeout, R> =>
    Effect.timeoutFail(selfInterruptIsFailure(Effect.suspend(run)), { duration: timeout, onTimeout })
}

/**
 * Bound on a subscription's type name and routing key: together with the group name they
 * form one btree index row, which PostgreSQL caps at about 2,700 bytes.
 */
const maxIdentifierLength = 200

const resolve = <A, I>(
  options: CommonOptions<A, I> & { readonly handle?: unknown; readonly handleBatch?: unknown }
): readonly [Settings, Option.Option<InvalidConfig>] => {
  const problems: Array<InvalidConfig> = []
  const subject = `handler ${JSON.stringify(options.name)}`
  const invalid = (field: string, value: unknown, rule: string) =>
    problems.push(new InvalidConfig({ subject, field, value: show(value), rule }))

  const integer = (field: string, value: number | undefined, fallback: number, min: number, max: number) => {
    if (value === undefined) return fallback
    if (!Number.isInteger(value) || value < min || value > max) {
      invalid(field, value, `must be an integer from ${min} to ${max}`)
      return fallback
    }
    return value
  }
  const duration = (field: string, value: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
    if (value === undefined) return fallback
    return Either.getOrElse(positiveDuration(value), (rule) => {
      invalid(field, value, rule)
      return fallback
    })
  }

  if (
    typeof options.name !== "string" || options.name.length === 0 || options.name.length > maxIdentifierLength ||
    options.name.includes("\0")
  ) {
    invalid(
      "name",
      options.name,
      `must be a non-empty string of at most ${maxIdentifierLength} characters, without NUL`
    )
  }
  const eventType = typeof options.event?._tag === "string" ? options.event._tag : ""
  if (eventType.length === 0) {
    invalid("event", options.event, "must be an event class (Event.Class) with a stable type name")
  } else if (eventType.length > maxIdentifierLength || eventType.includes("\0")) {
    invalid("event", eventType, `its type name must be at most ${maxIdentifierLength} characters, without NUL`)
  }
  const keys = options.routingKey === undefined
    ? null
    : typeof options.routingKey === "string"
    ? [options.routingKey]
    : [...options.routingKey]
  if (keys !== null && (keys.length === 0 || keys.some((key) => typeof key !== "string" || key.length === 0))) {
    invalid("routingKey", options.routingKey, "must be a non-empty string or a non-empty list of them")
  } else if (keys !== null && keys.some((key) => key.length > maxIdentifierLength || key.includes("\0"))) {
    invalid("routingKey", options.routingKey, `each key must be at most ${maxIdentifierLength} characters, without NUL`)
  }
  const claimTimeout = duration("claimTimeout", options.claimTimeout, defaults.claimTimeout)
  const heartbeatInterval = duration(
    "heartbeatInterval",
    options.heartbeatInterval,
    Duration.millis(Math.max(1, Math.floor(Duration.toMillis(claimTimeout) / 3)))
  )
  if (Duration.greaterThanOrEqualTo(heartbeatInterval, claimTimeout)) {
    invalid(
      "claimTimeout",
      options.claimTimeout ?? Duration.format(claimTimeout),
      `must be greater than the heartbeat interval (${Duration.format(heartbeatInterval)})`
    )
  }
  if (options.retry !== undefined && !Schedule.isSchedule(options.retry)) {
    invalid("retry", options.retry, "must be an Effect Schedule")
  }
  if (options.transaction !== undefined && options.transaction !== "handler" && options.transaction !== "ack") {
    invalid("transaction", options.transaction, `must be "handler" or "ack"`)
  }
  if (options.interleaveRoutingKeys !== undefined && typeof options.interleaveRoutingKeys !== "boolean") {
    invalid("interleaveRoutingKeys", options.interleaveRoutingKeys, "must be true or false")
  }
  if (
    (typeof options.handle !== "function" && typeof options.handleBatch !== "function") ||
    (options.handle !== undefined && options.handleBatch !== undefined)
  ) {
    invalid("handle", options.handle ?? options.handleBatch, "give exactly one of handle or handleBatch, a function")
  }
  const settings: Settings = {
    name: options.name,
    eventType,
    routingKeys: keys,
    batchSize: integer("batchSize", options.batchSize, defaults.batchSize, 1, 10_000),
    pollInterval: duration("pollInterval", options.pollInterval, defaults.pollInterval),
    maxAttempts: integer("maxAttempts", options.maxAttempts, defaults.maxAttempts, 1, 1_000_000),
    claimTimeout,
    heartbeatInterval,
    concurrency: integer("concurrency", options.concurrency, defaults.concurrency, 1, 1_000),
    retry: options.retry ?? defaults.retry,
    transaction: options.transaction ?? defaults.transaction,
    interleaveRoutingKeys: options.interleaveRoutingKeys ?? false,
    timeout: options.timeout === undefined ? undefined : duration("timeout", options.timeout, Duration.infinity)
  }
  return [settings, Option.fromNullable(problems[0])]
}

/** The stable id of a delivery: its consumer group and event id. */
export const deliveryId = (group: string, eventId: string) => `${group}/${eventId}`

/** Checks that an error is a {@link Permanent} failure. */
export const isPermanent = (error: unknown): error is Permanent =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "sluice/Permanent"

/** Checks that an error is a {@link Skip}. */
export const isSkip = (error: unknown): error is Skip =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "sluice/Skip"

/** The delivery being handled, in a handler's context: emits made there carry its ids as causation. */
export class CurrentDelivery extends Context.Tag("sluice/CurrentDelivery")<CurrentDelivery, Delivery<unknown>>() {}
