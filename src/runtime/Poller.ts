/**
 * The pool's fallback poll. Claim loops that found nothing wait for a wake-up; NOTIFY
 * brings most of them, and this poll brings the rest: deliveries that became due later
 * (delays, retries, reaped leases) and notifications that were lost. One poller serves
 * every group with the same poll interval: one statement per interval finds the groups
 * with due deliveries and wakes their loops, instead of one claim per loop. It sleeps only
 * while some loop is idle, so a busy pool runs no poll and an idle pool no claims.
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Tracing from "./internal/tracing.js"
import { Notifier } from "./Notifier.js"
import { Store } from "./Store.js"

export interface Poller {
  /** Runs `wait`, an idle loop's wait for a wake-up, counting the loop idle meanwhile. */
  readonly idle: <A, E, R>(wait: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * Starts a poller for `groups` in the scope: while a loop is idle, every `interval` it
 * wakes the groups with due deliveries. When the poll fails it wakes them all: their loops
 * claim, and report and back off from the outage on their own.
 */
export const make = (
  groups: ReadonlyArray<string>,
  interval: Duration.Duration
): Effect.Effect<Poller, never, Store | Notifier | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* Store
    const notifier = yield* Notifier
    const someIdle = yield* Effect.makeLatch(false)
    let idleLoops = 0

    const wake = (due: ReadonlyArray<string>) =>
      Effect.sync(() => {
        for (const group of due) notifier.wake(group)
      })

    const poll = Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => store.dueGroups(groups, new Date(now))),
      Effect.catchAllCause((cause) => Effect.as(Effect.logDebug("poll failed; waking every group", cause), groups)),
      Effect.flatMap(wake)
    )

    yield* someIdle.await.pipe(
      Effect.zipRight(Effect.sleep(interval)),
      Effect.zipRight(Effect.suspend(() => idleLoops > 0 ? poll : Effect.void)),
      Effect.forever,
      Tracing.untraced,
      Effect.forkScoped
    )

    return {
      idle: (wait) =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            if (idleLoops++ === 0) someIdle.unsafeOpen()
          }),
          () => wait,
          () =>
            Effect.sync(() => {
              if (--idleLoops === 0) someIdle.unsafeClose()
            })
        )
    }
  })
