/** A tracer for tests that keeps every span it makes. */
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"

/** Wraps the current tracer to keep every span it makes; install it with `Effect.withTracer`. */
export const recordingTracer = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })
  return { tracer, spans }
})
