/**
 * The pool's fallback poll, on its own under `TestClock`: a store whose only statement is
 * the poll (counted, and answering which groups have due work) and a notifier that records
 * whom it wakes. The same behaviour through a real pool and database is in Timing.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { StoreError } from "../../src/runtime/Errors.js"
import { Notifier, type NotifierService } from "../../src/runtime/Notifier.js"
import * as Poller from "../../src/runtime/Poller.js"
import { Store, type StoreService } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"

const interval = Duration.seconds(7)

const setup = (due: (groups: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, StoreError>) =>
  Effect.gen(function*() {
    const polled: Array<ReadonlyArray<string>> = []
    const woken: Array<string> = []
    const store = {
      dueGroups: (groups: ReadonlyArray<string>) => Effect.zipRight(Effect.sync(() => polled.push(groups)), due(groups))
    } as Partial<StoreService> as StoreService
    const notifier: NotifierService = {
      subscribe: () => Effect.die("not used by the poller"),
      wake: (group) => {
        woken.push(group)
      }
    }
    const poller = yield* Poller.make(["a", "b"], interval).pipe(
      Effect.provideService(Store, store),
      Effect.provideService(Notifier, notifier)
    )
    return { poller, polled, woken }
  })

const pendingSleeps = Effect.map(TestClock.sleeps(), Chunk.size)

/** Waits until the poller sleeps (some loop is idle) or holds no timer (none is). */
const untilSleeps = (count: number) => Runtime.waitUntil(`${count} pending sleeps`, pendingSleeps, (n) => n === count)

describe("Poller", () => {
  it.scoped("polls only while a loop is idle, once per interval, and wakes the groups with due work", () =>
    Effect.gen(function*() {
      const { polled, poller, woken } = yield* setup(() => Effect.succeed(["b"]))
      yield* TestClock.adjust("21 seconds")
      assert.strictEqual(yield* pendingSleeps, 0, "a poller with no idle loop holds a timer")
      assert.deepStrictEqual(polled, [])

      const idle = yield* Effect.fork(poller.idle(Effect.never))
      yield* untilSleeps(1)
      yield* TestClock.adjust(interval)
      yield* untilSleeps(1)
      yield* TestClock.adjust(interval)
      yield* untilSleeps(1)
      assert.deepStrictEqual(polled, [["a", "b"], ["a", "b"]])
      assert.deepStrictEqual(woken, ["b", "b"])

      yield* Fiber.interrupt(idle)
      yield* TestClock.adjust(interval)
      yield* untilSleeps(0)
      yield* TestClock.adjust("21 seconds")
      assert.strictEqual(polled.length, 2, "polled while no loop was idle")
    }))

  it.scoped("a failed poll wakes every group, so that their loops claim and meet the outage", () =>
    Effect.gen(function*() {
      const { poller, woken } = yield* setup(() =>
        Effect.fail(new StoreError({ operation: "dueGroups", message: "the database is away" }))
      )
      yield* Effect.fork(poller.idle(Effect.never))
      yield* untilSleeps(1)
      yield* TestClock.adjust(interval)
      yield* untilSleeps(1)
      assert.deepStrictEqual(woken, ["a", "b"])
    }))
})
