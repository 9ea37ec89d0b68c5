/**
 * Spans only when they go somewhere. Effect's built-in tracer keeps spans in memory and
 * exports nothing; building a span with links for every batch costs a seventh of a
 * one-event batch's CPU, and stamping its ids into every emitted event's metadata costs
 * storage. With any other tracer installed (OpenTelemetry, a test recorder), both happen.
 */
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Tracer from "effect/Tracer"

const builtIn = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/** Whether `fiber` would export the spans it makes: its tracer is not the built-in one, and is enabled. */
export const exportsSpans = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  fiber.currentTracer !== builtIn && fiber.getFiberRef(FiberRef.currentTracerEnabled)

/** `Effect.withSpan` when the current tracer exports spans; the effect unchanged otherwise. */
export const withSpan =
  (name: string, options: () => Tracer.SpanOptions) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.tracerWith((tracer) => tracer === builtIn ? self : Effect.withSpan(self, name, options()))

/**
 * Runs `self` without spans: for the runtime's background statements (claims, heartbeats,
 * the pool's poll), which would otherwise export a `sql.execute` span per poll. Only when
 * the current tracer exports spans: with the built-in one, setting the fiber-local flag
 * costs more than the spans it avoids.
 */
export const untraced = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) => tracer === builtIn ? self : Effect.withTracerEnabled(self, false))
