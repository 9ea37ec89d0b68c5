/**
 * Time-dependent behaviour under `TestClock`: the runtime takes every timestamp from
 * Effect's Clock, so these tests move time by hand against the real database.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Reaper from "../../src/runtime/Reaper.js"
import { Store, type StoreService } from "../../src/runtime/Store.js"
import * as Worker from "../../src/runtime/Worker.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Ping extends Event.Class<Ping>()("test.Ping", { n: Schema.Number }) {}
class Pong extends Event.Class<Pong>()("test.Pong", { n: Schema.Number }) {}

const only = (group: string) =>
  Effect.map(Runtime.deliveries(group), (rows) => {
    assert.strictEqual(rows.length, 1)
    return rows[0]!
  })

const registerGroup = (name: string, claimTimeoutMs: number, maxAttempts: number) =>
  Runtime.registerGroup({ name, eventType: "test.Ping", claimTimeoutMs, maxAttempts })

const claimAll = (group: string, now: number) =>
  Effect.flatMap(
    Store,
    (store) => store.claim({ group, limit: 100, token: crypto.randomUUID(), now: new Date(now), fair: false })
  )

describe("Timing", () => {
  it.effect("retryDelay: the n-th delay of the schedule, none once it has ended", () =>
    Effect.gen(function*() {
      const schedule = Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(3)))
      const delays = yield* Effect.forEach([1, 2, 3, 4], (attempt) => Worker.retryDelay(schedule, attempt, 0))
      assert.deepStrictEqual(
        delays.map((delay) => delay._tag === "Some" ? Duration.toMillis(delay.value) : "none"),
        [1000, 2000, 4000, "none"]
      )
    }))

  it.layer(Runtime.layer)((it) => {
    it.scoped("retry delays follow the handler's schedule exactly", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Runtime.startPool([
          Handler.make({
            name: "flaky",
            event: Ping,
            maxAttempts: 4,
            retry: Schedule.exponential("1 second"),
            pollInterval: "100 millis",
            handle: () => Effect.fail("still failing")
          })
        ])
        yield* Outbox.emit(new Ping({ n: 1 }))
        const sql = yield* SqlClient.SqlClient
        const state = Effect.map(
          sql<{ attempts: number; status: string; delay: number }>`
            SELECT attempts, status, (extract(epoch FROM available_at - updated_at) * 1000)::int AS delay
            FROM sluice.deliveries WHERE consumer_group = 'flaky'`,
          (rows) => rows[0]
        )
        const delays: Array<number> = []
        for (const attempt of [1, 2, 3]) {
          // Move time on in poll-sized steps until the loop has made this attempt.
          const row = yield* Runtime.waitUntil(
            `attempt ${attempt} to be recorded`,
            Effect.zipLeft(state, TestClock.adjust("100 millis")),
            (row) => row !== undefined && row.attempts === attempt && row.status === "pending"
          )
          delays.push(row!.delay)
        }
        assert.deepStrictEqual(delays, [1_000, 2_000, 4_000])
        const last = yield* Runtime.waitUntil(
          "the dead letter",
          Effect.zipLeft(only("flaky"), TestClock.adjust("100 millis")),
          (row) => row.status === "failed"
        )
        assert.strictEqual(last.attempts, 4)
        assert.include(last.last_error, "gave up after 4 of 4 attempts")
      }))

    it.effect("the reaper resets a lease exactly when its handler's claimTimeout has passed", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const t0 = yield* Clock.currentTimeMillis
        yield* registerGroup("slow", 30_000, 5)
        yield* registerGroup("fast", 1_000, 5)
        yield* Outbox.emit(new Ping({ n: 1 }))
        yield* claimAll("slow", t0)
        yield* claimAll("fast", t0)
        yield* TestClock.setTime(t0 + 999)
        assert.strictEqual(yield* Reaper.reapOnce, 0)
        yield* TestClock.setTime(t0 + 1_000)
        assert.strictEqual(yield* Reaper.reapOnce, 1)
        assert.strictEqual((yield* only("fast")).status, "pending")
        assert.strictEqual((yield* only("slow")).status, "claimed")
        yield* TestClock.setTime(t0 + 29_999)
        assert.strictEqual(yield* Reaper.reapOnce, 0)
        yield* TestClock.setTime(t0 + 30_000)
        assert.strictEqual(yield* Reaper.reapOnce, 1)
        const slow = yield* only("slow")
        assert.deepStrictEqual([slow.status, slow.attempts], ["pending", 1])
        assert.include(slow.last_error, "lease expired")
      }))

    it.effect("a delivery whose process keeps dying is dead-lettered by the reaper after maxAttempts", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const t0 = yield* Clock.currentTimeMillis
        yield* registerGroup("poison", 1_000, 2)
        yield* Outbox.emit(new Ping({ n: 1 }))
        assert.strictEqual((yield* claimAll("poison", t0)).length, 1)
        yield* TestClock.setTime(t0 + 1_000)
        assert.strictEqual(yield* Reaper.reapOnce, 1)
        assert.strictEqual((yield* claimAll("poison", t0 + 1_000)).length, 1)
        yield* TestClock.setTime(t0 + 2_000)
        assert.strictEqual(yield* Reaper.reapOnce, 1)
        const row = yield* only("poison")
        assert.deepStrictEqual([row.status, row.attempts], ["failed", 2])
        assert.include(row.last_error, "attempt 2 of 2")
      }))

    it.scoped("heartbeats keep a long handler's lease alive past its claimTimeout, right after short batches too", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const t0 = yield* Clock.currentTimeMillis
        const finish = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const firstHeld = yield* Deferred.make<void>()
        const beatMs = 1_100
        yield* Runtime.startPool([
          Handler.make({
            name: "long",
            event: Ping,
            claimTimeout: "3 seconds",
            heartbeatInterval: Duration.millis(beatMs),
            // The first event is held until the heartbeat fiber waits for its first beat, the
            // second is handled at once; the third is claimed while the heartbeat still waits
            // on the first, and runs long.
            handle: (ping) =>
              ping.n === 1
                ? Deferred.await(firstHeld)
                : ping.n === 2
                ? Effect.void
                : Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(finish))
          })
        ], { reapInterval: "500 millis" })
        yield* Outbox.emitAll([1, 2, 3].map((n) => new Ping({ n })))
        yield* Runtime.waitUntil(
          "the heartbeat waiting on the first batch",
          TestClock.sleeps(),
          (sleeps) => Chunk.some(sleeps, (at) => at === t0 + beatMs)
        )
        yield* Deferred.succeed(firstHeld, undefined)
        yield* Deferred.await(started)
        const sql = yield* SqlClient.SqlClient
        const claimedAt = Effect.map(
          sql<{ t: Date | null }>`
            SELECT d.claimed_at AS t FROM sluice.deliveries d JOIN sluice.events e ON e.id = d.event_id
            WHERE d.consumer_group = 'long' AND e.payload->>'n' = '3'`,
          (rows) => rows[0]?.t?.getTime()
        )
        for (let beat = 1; beat <= 10; beat++) {
          yield* TestClock.setTime(t0 + beat * beatMs)
          yield* Runtime.waitUntil(`heartbeat ${beat}`, claimedAt, (t) => t === t0 + beat * beatMs)
        }
        const [, , long] = yield* Runtime.deliveries("long")
        assert.deepStrictEqual([long!.status, long!.attempts], ["claimed", 1])
        yield* Deferred.succeed(finish, undefined)
        const rows = yield* Runtime.waitUntil(
          "all delivered",
          Runtime.deliveries("long"),
          (rows) => rows.every((row) => row.status === "delivered")
        )
        assert.deepStrictEqual(rows.map((row) => row.attempts), [1, 1, 1])
      }))

    it.scoped("an idle pool polls once per interval for all its loops, and wakes only the groups with due work", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const claims = new Map<string, number>()
        let polls = 0
        const claimsOf = (group: string) => claims.get(group) ?? 0
        const counted = (group: string) => Effect.sync(() => claims.set(group, claimsOf(group) + 1))
        const counting = (store: StoreService): StoreService => ({
          ...store,
          claim: (options) => Effect.zipRight(counted(options.group), store.claim(options)),
          claimAndAcknowledge: (options) => Effect.zipRight(counted(options.group), store.claimAndAcknowledge(options)),
          dueGroups: (groups, now) => Effect.tap(store.dueGroups(groups, now), () => Effect.sync(() => polls++))
        })
        const handled = yield* Deferred.make<void>()
        yield* Runtime.freshPollTime
        yield* Runtime.startPool([
          ...["idle-a", "idle-b"].map((name) =>
            Handler.make({ name, event: Ping, concurrency: 2, pollInterval: "7 seconds", handle: () => Effect.void })
          ),
          Handler.make({
            name: "idle-c",
            event: Pong,
            concurrency: 2,
            pollInterval: "7 seconds",
            handle: () => Deferred.succeed(handled, undefined)
          })
        ], { notifications: { mode: "poll" } }).pipe(Effect.updateService(Store, counting))
        const total = Effect.sync(() => claimsOf("idle-a") + claimsOf("idle-b") + claimsOf("idle-c"))
        yield* Runtime.waitUntil("each loop's first claim", total, (n) => n === 6)
        for (let poll = 1; poll <= 3; poll++) {
          yield* Runtime.waitForIdleLoop("7 seconds")
          yield* TestClock.adjust("7 seconds")
          yield* Runtime.waitUntil(`poll ${poll}`, Effect.sync(() => polls), (n) => n === poll)
        }
        assert.strictEqual(yield* total, 6, "idle loops claimed on their own")

        yield* Outbox.emit(new Pong({ n: 1 }))
        yield* Runtime.waitForIdleLoop("7 seconds")
        yield* TestClock.adjust("7 seconds")
        yield* Deferred.await(handled)
        // Both idle-c loops were woken: the one that got the event claims once more, the other found nothing.
        yield* Runtime.waitUntil("idle-c's claims", Effect.sync(() => claimsOf("idle-c")), (n) => n === 5)
        assert.deepStrictEqual([claimsOf("idle-a"), claimsOf("idle-b"), polls], [2, 2, 4])
      }))

    it.scoped("polling: with notifications off, an event waits for the next poll", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const handled = yield* Deferred.make<void>()
        yield* Runtime.freshPollTime
        yield* Runtime.startPool([
          Handler.make({
            name: "polled",
            event: Ping,
            // Not 5 s: the reaper sleeps 5 s too, and the idle loop is found by its sleep.
            pollInterval: "7 seconds",
            handle: () => Deferred.succeed(handled, undefined)
          })
        ], { notifications: { mode: "poll" } })
        yield* Runtime.waitForIdleLoop("7 seconds")
        yield* Outbox.emit(new Ping({ n: 1 }))
        yield* TestClock.adjust("6999 millis")
        yield* Runtime.liveSleep("200 millis")
        assert.isFalse(yield* Deferred.isDone(handled), "handled before the poll interval")
        yield* TestClock.adjust("1 millis")
        yield* Deferred.await(handled)
      }))

    it.scoped("NOTIFY wakes an idle loop at once, long before its poll interval", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const handled = yield* Deferred.make<void>()
        yield* Runtime.startPool([
          Handler.make({
            name: "woken",
            event: Ping,
            pollInterval: "1 hour",
            handle: () => Deferred.succeed(handled, undefined)
          })
        ])
        yield* Outbox.emit(new Ping({ n: 1 }))
        yield* Deferred.await(handled)
      }))

    it.scoped("shutdown of an idle pool: a waiting loop wakes and stops at once, not at the deadline", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const handled = yield* Deferred.make<void>()
        const scope = yield* Scope.make()
        yield* Runtime.freshPollTime
        yield* Runtime.startPool([
          Handler.make({
            name: "idle-stop",
            event: Ping,
            pollInterval: "1 hour",
            handle: () => Deferred.succeed(handled, undefined)
          })
        ], { shutdownTimeout: "1 hour" }).pipe(Scope.extend(scope))
        yield* Outbox.emit(new Ping({ n: 1 }))
        yield* Deferred.await(handled)
        yield* Runtime.waitForIdleLoop("1 hour")
        // The clock stays put: only a wake-up on stopping ends the loop's wait before the deadline.
        yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("10 seconds"), TestServices.provideLive)
        const row = yield* only("idle-stop")
        assert.deepStrictEqual([row.status, row.attempts], ["delivered", 1])
      }))

    it.scoped("graceful shutdown: an in-flight batch may finish within the deadline", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const started = yield* Deferred.make<void>()
        const finish = yield* Deferred.make<void>()
        const scope = yield* Scope.make()
        yield* Runtime.startPool([
          Handler.make({
            name: "graceful",
            event: Ping,
            handle: () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(finish))
          })
        ], { shutdownTimeout: "5 seconds" }).pipe(Scope.extend(scope))
        yield* Outbox.emit(new Ping({ n: 1 }))
        yield* Deferred.await(started)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* Deferred.succeed(finish, undefined)
        yield* Fiber.join(closing)
        const row = yield* only("graceful")
        assert.deepStrictEqual([row.status, row.attempts], ["delivered", 1])
      }))

    it.scoped("graceful shutdown: past the deadline, unfinished deliveries are released without an attempt", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const started = yield* Deferred.make<void>()
        const scope = yield* Scope.make()
        yield* Runtime.startPool([
          Handler.make({
            name: "stuck",
            event: Ping,
            batchSize: 5,
            handle: () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)
          })
        ], { shutdownTimeout: "5 seconds" }).pipe(Scope.extend(scope))
        yield* Outbox.emitAll([1, 2, 3].map((n) => new Ping({ n })))
        yield* Deferred.await(started)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* Runtime.liveSleep("100 millis")
        yield* TestClock.adjust("4999 millis")
        yield* Runtime.liveSleep("100 millis")
        assert.isNull(closing.unsafePoll(), "stopped before the deadline")
        yield* TestClock.adjust("1 millis")
        yield* Fiber.join(closing)
        const rows = yield* Runtime.deliveries("stuck")
        assert.deepStrictEqual(rows.map((row) => [row.status, row.attempts]), [["pending", 0], ["pending", 0], [
          "pending",
          0
        ]])
      }))
  })
})
