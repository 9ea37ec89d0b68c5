/**
 * The claim loop: one fiber per handler instance. It claims a batch (one statement),
 * decodes it, runs the handler with a heartbeat extending the lease, and settles the
 * outcomes (one statement, fenced by the claim token) in the same transaction as the
 * handler's own SQL and emits. It waits only when it found nothing, until a NOTIFY or the
 * pool's poll wakes it; a database outage makes it back off and resume, never die.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Tracer from "effect/Tracer"
import { randomUUID } from "node:crypto"
import * as Event from "./Event.js"
import type { Delivery, EventMetadata, Handler, Outcome } from "./Handler.js"
import { CurrentDelivery, deliveryId, isBatchOutcomes, isPermanent, isSkip } from "./Handler.js"
import * as Tracing from "./internal/tracing.js"
import * as Metrics from "./Metrics.js"
import { Notifier } from "./Notifier.js"
import * as Outbox from "./Outbox.js"
import type { Poller } from "./Poller.js"
import * as Session from "./Session.js"
import type { Acknowledgement, ClaimedRow, EventRow, Settlement } from "./Store.js"
import { Store } from "./Store.js"

/** The settlement write matched fewer rows than it should: another worker owns the lease now. */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{
  readonly group: string
  readonly expected: number
  readonly settled: number
}> {}

/** What a loop reports of one batch. */
export interface BatchSummary {
  readonly claimed: number
  readonly delivered: number
  readonly skipped: number
  readonly retried: number
  readonly deadLettered: number
}

const outageBackoff = Schedule.exponential(Duration.millis(50), 2).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(5)))
)

const maxErrorLength = 8_000

/** Renders a handler's failure for `last_error`. */
export const describeError = (error: unknown): string => {
  const text = Cause.isCause(error)
    ? Cause.pretty(error)
    : error instanceof Error
    ? `${"_tag" in error && typeof error._tag === "string" ? `${error._tag}: ` : ""}${error.message}`
    : typeof error === "object" && error !== null
    ? safeJson(error)
    : String(error)
  return text.length > maxErrorLength ? `${text.slice(0, maxErrorLength)}…` : text
}

const safeJson = (value: unknown) => {
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

/**
 * The delay before the retry following attempt `attempt` (1-based), per the schedule;
 * `None` when the schedule has ended (the delivery is then dead-lettered).
 */
export const retryDelay = (
  schedule: Schedule.Schedule<unknown, unknown>,
  attempt: number,
  now: number
): Effect.Effect<Option.Option<Duration.Duration>> =>
  Effect.gen(function*() {
    let state: unknown = schedule.initial
    let time = now
    let delay = Duration.zero
    for (let step = 0; step < attempt; step++) {
      const [next, , decision] = yield* schedule.step(time, undefined, state)
      if (ScheduleDecision.isDone(decision)) return Option.none()
      const at = Math.max(time, ScheduleIntervals.start(decision.intervals))
      delay = Duration.millis(at - time)
      state = next
      time = at
    }
    return Option.some(delay)
  })

const succeeded: Outcome = { _tag: "Succeeded" }

/** A claimed batch whose lease the loop's heartbeat extends while its handler runs. */
interface Lease {
  readonly token: string
  readonly eventIds: ReadonlyArray<string>
  /** When it was claimed (ms): the first heartbeat is due one interval later. */
  readonly since: number
}

/** A batch whose handler succeeded without SQL: acknowledged by the loop's next claim. */
interface Unacknowledged {
  readonly token: string
  readonly eventIds: ReadonlyArray<string>
  readonly summary: BatchSummary
}

interface Invocation {
  readonly outcomes: ReadonlyArray<Outcome>
  readonly emitted: ReadonlyArray<EventRow>
}

/** A claimed row the handler cannot take (foreign or undecodable), and why. */
interface Rejected {
  readonly row: ClaimedRow
  readonly message: string
}

const metadataOf = (row: ClaimedRow): EventMetadata => (row.metadata ?? {}) as EventMetadata

/** The delivery a claimed row makes for the handler, or why it cannot make one. */
const prepare = (handler: Handler<unknown>, row: ClaimedRow, token: string): Delivery<unknown> | string => {
  const { eventType, name } = handler.settings
  if (row.type !== eventType) {
    return `unknown event type ${JSON.stringify(row.type)} for handler ${JSON.stringify(name)} ` +
      `(it consumes ${JSON.stringify(eventType)}), event ${row.event_id}`
  }
  const decoded = handler.decode(row.payload)
  if (Either.isLeft(decoded)) {
    return `cannot decode ${row.type} event ${row.event_id}: ${Event.formatError(decoded.left)}`
  }
  return {
    id: deliveryId(name, row.event_id),
    eventId: row.event_id,
    event: decoded.right,
    attempt: row.attempts,
    routingKey: row.routing_key,
    metadata: metadataOf(row),
    createdAt: row.created_at,
    claimToken: token
  }
}

const outcomeOfError = (error: unknown): Outcome =>
  isSkip(error)
    ? { _tag: "Skipped", reason: error.reason }
    : { _tag: "Failed", error, permanent: isPermanent(error) }

const outcomeOfCause = (cause: Cause.Cause<unknown>): Outcome =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => ({ _tag: "Failed", error: cause, permanent: false }),
    onSome: outcomeOfError
  })

const spanLinks = (rows: ReadonlyArray<ClaimedRow>): Array<Tracer.SpanLink> => {
  const links: Array<Tracer.SpanLink> = []
  for (const row of rows) {
    const metadata = metadataOf(row)
    if (typeof metadata.traceId === "string" && typeof metadata.spanId === "string") {
      links.push({
        _tag: "SpanLink",
        span: Tracer.externalSpan({ traceId: metadata.traceId, spanId: metadata.spanId }),
        attributes: { "sluice.event_id": row.event_id }
      })
      if (links.length >= 32) break
    }
  }
  return links
}

/** Options the pool gives each loop. */
export interface LoopOptions {
  /** Completed when the pool stops: the loop finishes its batch and exits. */
  readonly stopping: Deferred.Deferred<void>
  /** The pool's fallback poll for this handler's poll interval. */
  readonly poller: Poller
  /** What acknowledging does with a delivery: the pool deletes at once with a retention of zero. Default `"mark"`. */
  readonly acknowledgement?: Acknowledgement | undefined
}

/**
 * Runs one claim loop for a handler until `stopping` completes. Interrupting it
 * mid-batch releases the unsettled deliveries without counting an attempt.
 */
export const run = <R>(
  handler: Handler<R>,
  options: LoopOptions
): Effect.Effect<void, never, R | Store | Notifier | SqlClient.SqlClient> =>
  Effect.scoped(Effect.gen(function*() {
    const settings = handler.settings
    const group = settings.name
    const store = yield* Store
    const sql = yield* SqlClient.SqlClient
    const wakeups = yield* (yield* Notifier).subscribe(group)
    const metrics = Metrics.forGroup(group)
    const backoff = yield* Schedule.driver(outageBackoff)
    const mode = options.acknowledgement ?? "mark"

    let unacknowledged: Unacknowledged | undefined

    const count = (summary: BatchSummary) =>
      Effect.sync(() => {
        const add = (counter: Metric.Metric.Counter<number>, n: number) => {
          if (n > 0) counter.unsafeUpdate(n, [])
        }
        add(metrics.delivered, summary.delivered)
        add(metrics.skipped, summary.skipped)
        add(metrics.retried, summary.retried)
        add(metrics.failed, summary.retried + summary.deadLettered)
        add(metrics.deadLettered, summary.deadLettered)
      })

    const confirm = (batch: Unacknowledged, acknowledged: number) =>
      acknowledged === batch.eventIds.length
        ? count(batch.summary)
        : Effect.zipRight(
          Effect.logWarning("lease lost: another worker took handled deliveries before their acknowledgement").pipe(
            Effect.annotateLogs({ expected: batch.eventIds.length, settled: acknowledged })
          ),
          count({ ...batch.summary, delivered: acknowledged })
        )

    /** Acknowledges a batch still waiting for the next claim (when the loop stops). */
    const flush = Effect.suspend(() => {
      const batch = unacknowledged
      if (batch === undefined) return Effect.void
      return Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => store.acknowledge(group, batch.token, batch.eventIds, new Date(now), mode)),
        Effect.flatMap((acknowledged) => {
          unacknowledged = undefined
          return confirm(batch, acknowledged)
        }),
        Effect.catchAll((error) =>
          Effect.logWarning(
            `acknowledgement failed, the reaper will return ${batch.eventIds.length} deliveries: ${error.message}`
          )
        )
      )
    })
    yield* Effect.addFinalizer(() => flush)

    const settlementOf = (
      row: ClaimedRow,
      outcome: Outcome,
      now: number
    ): Effect.Effect<Settlement> => {
      switch (outcome._tag) {
        case "Succeeded":
          return Effect.succeed({
            event_id: row.event_id,
            status: "delivered",
            available_at: null,
            last_error: null,
            release: false
          })
        case "Skipped":
          return Effect.succeed({
            event_id: row.event_id,
            status: "skipped",
            available_at: null,
            last_error: outcome.reason,
            release: false
          })
        case "Failed": {
          const message = describeError(outcome.error)
          const deadLetter = (why: string): Settlement => ({
            event_id: row.event_id,
            status: "failed",
            available_at: null,
            last_error: `${message}${why}`,
            release: false
          })
          if (outcome.permanent) return Effect.succeed(deadLetter(""))
          if (row.attempts >= settings.maxAttempts) {
            return Effect.succeed(deadLetter(` (gave up after ${row.attempts} of ${settings.maxAttempts} attempts)`))
          }
          return Effect.map(retryDelay(settings.retry, row.attempts, now), (delay) =>
            Option.match(delay, {
              onNone: () => deadLetter(` (retry schedule ended after attempt ${row.attempts})`),
              onSome: (d): Settlement => ({
                event_id: row.event_id,
                status: "pending",
                available_at: new Date(now + Duration.toMillis(d)),
                last_error: message,
                release: false
              })
            }))
        }
      }
    }

    /** The common case: every delivery of the batch succeeded; one statement, fenced by the token. */
    const acknowledgeAll = (token: string, rows: ReadonlyArray<ClaimedRow>, now: number) =>
      rows.length === 0 ? Effect.void : Effect.flatMap(
        store.acknowledge(group, token, rows.map((row) => row.event_id), new Date(now), mode),
        (settled) =>
          settled === rows.length ? Effect.void : Effect.fail(new LeaseLost({ group, expected: rows.length, settled }))
      )

    const record = (
      token: string,
      settlements: ReadonlyArray<Settlement>,
      now: number
    ) =>
      settlements.length === 0 ? Effect.void : Effect.flatMap(
        store.settle(group, token, settlements, new Date(now), mode),
        (settled) =>
          settled === settlements.length
            ? Effect.void
            : Effect.fail(new LeaseLost({ group, expected: settlements.length, settled }))
      )

    const transact = settings.transaction === "handler"

    /**
     * Runs the handler over the ready deliveries: one outcome per delivery, and the
     * events they emitted when the outbox is buffered ("ack" mode). A single-event
     * handler's deliveries are isolated from each other: each in a savepoint inside the
     * acknowledging transaction, or with its own emit buffer. A lone delivery is not
     * isolated: its failure fails the whole transaction.
     */
    const invoke = (
      ready: ReadonlyArray<Delivery<unknown>>,
      isolate: boolean
    ): Effect.Effect<Invocation, unknown, R | SqlClient.SqlClient> => {
      const handle = handler.run
      if (handle._tag === "batch") {
        const buffer = transact ? undefined : Outbox.makeBuffer()
        const batch: Effect.Effect<unknown, unknown, R> = ready.length === 1
          ? Effect.provideService(handle.handleBatch(ready), CurrentDelivery, ready[0]!)
          : handle.handleBatch(ready)
        const withOutbox: Effect.Effect<unknown, unknown, R> = buffer === undefined
          ? batch
          : Effect.provideService(batch, Outbox.Outbox, buffer.service)
        return Effect.flatMap(withOutbox, (result) => {
          if (!isBatchOutcomes(result)) {
            return Effect.succeed<Invocation>({ outcomes: ready.map(() => succeeded), emitted: buffer?.take() ?? [] })
          }
          return result.outcomes.length === ready.length
            ? Effect.succeed<Invocation>({ outcomes: result.outcomes, emitted: buffer?.take() ?? [] })
            : Effect.fail(
              new Error(`handleBatch returned ${result.outcomes.length} outcomes for ${ready.length} deliveries`)
            )
        })
      }
      if (transact && !isolate) {
        const all: Invocation = { outcomes: ready.map(() => succeeded), emitted: [] }
        return Effect.as(
          Effect.forEach(
            ready,
            (delivery) => Effect.provideService(handle.handle(delivery), CurrentDelivery, delivery),
            {
              discard: true
            }
          ),
          all
        )
      }
      return Effect.map(
        Effect.forEach(ready, (delivery) => {
          const buffer = transact ? undefined : Outbox.makeBuffer()
          const once: Effect.Effect<void, unknown, R> = Effect.provideService(
            handle.handle(delivery),
            CurrentDelivery,
            delivery
          )
          const isolated: Effect.Effect<void, unknown, R | SqlClient.SqlClient> = buffer === undefined
            ? sql.withTransaction(once)
            : Effect.provideService(once, Outbox.Outbox, buffer.service)
          return Effect.matchCause(isolated, {
            onFailure: (cause): Invocation => ({ outcomes: [outcomeOfCause(cause)], emitted: [] }),
            onSuccess: (): Invocation => ({ outcomes: [succeeded], emitted: buffer?.take() ?? [] })
          })
        }),
        (results): Invocation => ({
          outcomes: results.flatMap((result) => result.outcomes),
          emitted: results.flatMap((result) => result.emitted)
        })
      )
    }

    const settleAll = (
      rows: ReadonlyArray<ClaimedRow>,
      outcomes: ReadonlyArray<Outcome>,
      now: number
    ) => Effect.forEach(rows, (row, i) => settlementOf(row, outcomes[i]!, now))

    const handleBatch = (lease: Lease, rows: ReadonlyArray<ClaimedRow>, session: Session.Session | undefined) =>
      Effect.gen(function*() {
        const { token } = lease
        const readyRows: Array<ClaimedRow> = []
        const deliveries: Array<Delivery<unknown>> = []
        const rejected: Array<Rejected> = []
        for (const row of rows) {
          const prepared = prepare(handler as Handler<unknown>, row, token)
          if (typeof prepared === "string") {
            rejected.push({ row, message: prepared })
          } else {
            readyRows.push(row)
            deliveries.push(prepared)
          }
        }
        for (const r of rejected) {
          yield* Effect.logWarning(r.message).pipe(Effect.annotateLogs("eventId", r.row.event_id))
        }
        const rejectedOutcomes = rejected.map((r): Outcome => ({
          _tag: "Failed",
          error: r.message,
          permanent: true
        }))
        const started = yield* Clock.currentTimeMillis
        yield* Effect.sync(() => {
          for (const row of readyRows) metrics.lag.unsafeUpdate(started - row.created_at.getTime(), [])
        })

        const delivered = readyRows.map((): Settlement["status"] => "delivered")

        /**
         * Records the outcomes. A batch that all succeeded with no transaction open and
         * nothing to emit is acknowledged by the next claim instead (one statement for both).
         */
        const commit = ({ emitted, outcomes }: Invocation) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const allSucceeded = rejected.length === 0 && outcomes.every((outcome) => outcome._tag === "Succeeded")
            const open = session === undefined ? false : yield* session.inTransaction
            if (allSucceeded && emitted.length === 0 && !open) {
              return { outcomes, statuses: delivered, deferred: true }
            }
            const writes = Effect.gen(function*() {
              if (emitted.length > 0) yield* store.emit(emitted, new Date(now))
              if (allSucceeded) {
                yield* acknowledgeAll(token, readyRows, now)
                return delivered
              }
              const settlements = yield* settleAll(
                [...readyRows, ...rejected.map((r) => r.row)],
                [...outcomes, ...rejectedOutcomes],
                now
              )
              yield* record(token, settlements, now)
              return settlements.map((settlement) => settlement.status)
            })
            const transactional = open || emitted.length > 0
            const statuses = session === undefined
              ? yield* (transactional ? sql.withTransaction(writes) : writes)
              : transactional
              ? yield* Effect.zipLeft(session.transactional(writes), session.commit)
              : yield* session.autocommit(writes)
            return { outcomes, statuses, deferred: false }
          })

        const attemptWith = (isolate: boolean) =>
          session === undefined
            ? Effect.flatMap(invoke(deliveries, isolate), commit)
            : Effect.flatMap(session.transactional(invoke(deliveries, isolate)), commit).pipe(
              Effect.onError(() => Effect.ignore(session.rollback))
            )
        // A single-event handler over a batch first runs every event in one transaction
        // (no savepoints: the common, all-succeed case); only when one fails is the batch
        // run again with each event isolated in its own savepoint.
        const optimistic = session !== undefined && handler.run._tag === "single" && deliveries.length > 1
        const attempt = optimistic
          ? attemptWith(false).pipe(
            Effect.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause) ||
                Option.exists(Cause.failureOption(cause), (error) => error instanceof LeaseLost)
                ? Effect.failCause(cause)
                : attemptWith(true)
            )
          )
          : attemptWith(deliveries.length > 1)

        const exit = yield* Effect.exit(attempt)
        const finished = yield* Clock.currentTimeMillis
        yield* Metric.update(metrics.handlerDuration, finished - started)

        let outcomes: ReadonlyArray<Outcome>
        let statuses: ReadonlyArray<Settlement["status"]>
        let deferred = false
        if (Exit.isSuccess(exit)) {
          outcomes = [...exit.value.outcomes, ...rejectedOutcomes]
          statuses = exit.value.statuses
          deferred = exit.value.deferred
        } else {
          const failure = Cause.failureOption(exit.cause)
          if (Option.isSome(failure) && failure.value instanceof LeaseLost) {
            yield* Effect.logWarning("lease lost: another worker took these deliveries; this attempt was rolled back")
              .pipe(Effect.annotateLogs({ expected: failure.value.expected, settled: failure.value.settled }))
            return { claimed: rows.length, delivered: 0, skipped: 0, retried: 0, deadLettered: 0 }
          }
          if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
          const outcome = outcomeOfCause(exit.cause)
          outcomes = [...deliveries.map(() => outcome), ...rejectedOutcomes]
          const now = yield* Clock.currentTimeMillis
          const settlements = yield* settleAll([...readyRows, ...rejected.map((r) => r.row)], outcomes, now)
          yield* record(token, settlements, now).pipe(
            Effect.catchTag("LeaseLost", () => Effect.logWarning("lease lost before the failure could be recorded"))
          )
          statuses = settlements.map((settlement) => settlement.status)
        }
        const settledRows = readyRows.concat(rejected.map((r) => r.row))
        const summary = summarize(rows.length, statuses)
        if (yield* logs(LogLevel.Debug)) {
          for (let i = 0; i < settledRows.length; i++) {
            const row = settledRows[i]!
            yield* Effect.logDebug(`event ${outcomes[i]?._tag.toLowerCase() ?? "unsettled"}`).pipe(
              Effect.annotateLogs({ eventId: row.event_id, eventType: row.type, attempt: row.attempts })
            )
          }
        }
        if (deferred) {
          const eventIds = rejected.length === 0 ? lease.eventIds : readyRows.map((row) => row.event_id)
          unacknowledged = { token, eventIds, summary }
        } else yield* count(summary)
        return summary
      })

    /** The batch in hand, whose lease the loop's heartbeat extends. */
    let leased: Lease | undefined
    /** Open while the loop is handling batches: the heartbeat has no timer while it is closed. */
    const busy = yield* Effect.makeLatch(false)
    const heartbeatMillis = Duration.toMillis(settings.heartbeatInterval)

    const beat = (lease: Lease) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const held = yield* store.heartbeat(group, lease.token, lease.eventIds, new Date(now))
        if (held < lease.eventIds.length && leased === lease) {
          yield* Effect.logWarning(`lease partly lost: holding ${held} of ${lease.eventIds.length} deliveries`)
        }
      }).pipe(Effect.catchAll((error) => Effect.logWarning(`heartbeat failed: ${error.message}`)))

    /**
     * One fiber per loop, which the loop never signals per batch: while the loop is busy it
     * sleeps until the batch in hand is due a heartbeat (one interval after its claim or its
     * last heartbeat), then beats it if it is still in hand. Short batches come and go
     * between its wake-ups; an idle loop closes `busy`, and the fiber then has no timer.
     */
    const heartbeats = Effect.gen(function*() {
      let beaten: Lease | undefined
      let beatAt = 0
      for (;;) {
        yield* busy.await
        const lease = leased
        const now = yield* Clock.currentTimeMillis
        const due = lease === undefined
          ? now + heartbeatMillis
          : (lease === beaten ? beatAt : lease.since) + heartbeatMillis
        if (lease === undefined || now < due) {
          yield* Effect.sleep(Duration.millis(due - now))
        } else {
          yield* beat(lease)
          beaten = lease
          beatAt = yield* Clock.currentTimeMillis
        }
      }
    })
    yield* Effect.forkScoped(Tracing.untraced(heartbeats))

    const release = (token: string, rows: ReadonlyArray<ClaimedRow>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const settled = yield* store.settle(
          group,
          token,
          rows.map((row) => ({
            event_id: row.event_id,
            status: "pending",
            available_at: new Date(now),
            last_error: null,
            release: true
          })),
          new Date(now)
        )
        yield* Metric.incrementBy(metrics.released, settled)
        if (settled > 0) yield* Effect.logInfo(`released ${settled} unfinished deliveries`)
      }).pipe(
        Effect.catchAll((error) => Effect.logWarning(`release failed, the reaper will return them: ${error.message}`))
      )

    /**
     * Claims and handles one batch; returns how many deliveries it claimed. A handler in
     * "handler" mode runs in its session's transaction, begun (on a connection reserved
     * then) by its first statement.
     */
    const stepWith = (session: Session.Session | undefined) =>
      Effect.gen(function*() {
        const token = randomUUID()
        const now = yield* Clock.currentTimeMillis
        const options = {
          group,
          limit: settings.batchSize,
          token,
          now: new Date(now),
          fair: settings.interleaveRoutingKeys
        }
        const previous = unacknowledged
        const claimNext = previous === undefined
          ? Effect.map(store.claim(options), (rows) => ({ rows, acknowledged: 0 }))
          : store.claimAndAcknowledge({
            ...options,
            acknowledge: { token: previous.token, eventIds: previous.eventIds, mode }
          })
        const { acknowledged, rows } = yield* Tracing.untraced(
          session === undefined ? claimNext : session.autocommit(claimNext)
        )
        if (previous !== undefined) {
          unacknowledged = undefined
          yield* confirm(previous, acknowledged)
        }
        if (rows.length === 0) return 0
        yield* Metric.incrementBy(metrics.claimed, rows.length)
        const lease: Lease = { token, eventIds: rows.map((row) => row.event_id), since: now }
        leased = lease
        busy.unsafeOpen()
        const summary = yield* handleBatch(lease, rows, session).pipe(
          Effect.ensuring(Effect.sync(() => {
            leased = undefined
          })),
          Effect.onInterrupt(() =>
            Effect.zipRight(session === undefined ? Effect.void : Effect.ignore(session.rollback), release(token, rows))
          ),
          Tracing.withSpan("sluice.batch", () => ({
            captureStackTrace: false,
            attributes: { "sluice.consumer_group": group, "sluice.batch_size": rows.length },
            links: spanLinks(rows)
          }))
        )
        if (yield* logs(LogLevel.Info)) yield* Effect.logInfo("batch handled").pipe(Effect.annotateLogs({ ...summary }))
        return rows.length
      })

    /** One batch; a handler that runs in a transaction has the loop's session, released after each batch. */
    const session = transact ? yield* Session.make : undefined
    const step = session === undefined ? stepWith(undefined) : Effect.ensuring(stepWith(session), session.release)

    // Stopping wakes an idle loop like a notification does: the loop then sees it is stopping.
    yield* Deferred.await(options.stopping).pipe(
      Effect.zipRight(Queue.offer(wakeups, undefined)),
      Effect.forkScoped
    )
    const idle = options.poller.idle(Queue.take(wakeups))

    const stopped = Deferred.isDone(options.stopping)

    while (!(yield* stopped)) {
      const claimed = yield* step.pipe(
        Effect.tap(() => backoff.reset),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("claim loop failed; backing off", cause).pipe(
              Effect.zipRight(Effect.raceFirst(
                Effect.orElse(backoff.next(undefined), () => Effect.void),
                Deferred.await(options.stopping)
              )),
              Effect.as(-1)
            )
        )
      )
      if (claimed <= 0) busy.unsafeClose()
      if (claimed === 0) yield* idle
    }
  })).pipe(
    Effect.annotateLogs({ handler: handler.settings.name, consumerGroup: handler.settings.name })
  )

/** Whether a log line at `level` would be written (so the hot path skips building it otherwise). */
const logs = (level: LogLevel.LogLevel) =>
  Effect.map(FiberRef.get(FiberRef.currentMinimumLogLevel), LogLevel.lessThanEqual(level))

const summarize = (claimed: number, statuses: ReadonlyArray<Settlement["status"]>): BatchSummary => {
  let delivered = 0
  let skipped = 0
  let retried = 0
  let deadLettered = 0
  for (const status of statuses) {
    if (status === "delivered") delivered++
    else if (status === "skipped") skipped++
    else if (status === "failed") deadLettered++
    else retried++
  }
  return { claimed, delivered, skipped, retried, deadLettered }
}
