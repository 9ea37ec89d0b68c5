/**
 * Rules shared by the runtime's option checks and its `Config` readers, so an option given
 * in code and the same one read from a `SLUICE_*` variable fail with the same rule, and
 * every failure names the field (or variable), the value as given, and the rule.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/** Renders an option's value for a message: strings quoted, durations formatted, objects as JSON. */
export const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (Duration.isDuration(value)) return Duration.format(value)
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) {
    return String(value)
  }
  if (typeof value === "function") return "a function"
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

export const positiveDurationRule = "must be a positive, finite duration"
const nonNegativeDurationRule = "must be zero or a positive, finite duration"

/**
 * A finite duration of zero or more; a bare `"0"` is zero, though other texts need a unit. A
 * text with a minus sign is refused (`Duration.decode` would silently turn "-5 seconds" into
 * zero).
 */
const finiteDuration = (value: unknown): Duration.Duration | undefined => {
  if (typeof value === "string" && value.trim().startsWith("-")) return undefined
  if (typeof value === "string" && value.trim() === "0") return Duration.zero
  if (typeof value === "number" && !(value >= 0)) return undefined
  const decoded = Option.getOrUndefined(Duration.decodeUnknown(value))
  return decoded !== undefined && Duration.isFinite(decoded) ? decoded : undefined
}

/** A positive, finite duration, or the rule it broke. */
export const positiveDuration = (value: unknown): Either.Either<Duration.Duration, string> => {
  const decoded = finiteDuration(value)
  return decoded !== undefined && Duration.toMillis(decoded) > 0
    ? Either.right(decoded)
    : Either.left(positiveDurationRule)
}

/** Zero or a positive, finite duration, or the rule it broke. */
export const nonNegativeDuration = (value: unknown): Either.Either<Duration.Duration, string> => {
  const decoded = finiteDuration(value)
  return decoded !== undefined ? Either.right(decoded) : Either.left(nonNegativeDurationRule)
}

/** An integer within `[min, max]`, or the rule it broke. */
export const integerBetween = (min: number, max: number) => (value: unknown): Either.Either<number, string> =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
    ? Either.right(value)
    : Either.left(`must be an integer from ${min} to ${max}`)

/** Reads variable `name` as text and checks it with `rule`; a failure names the variable, the text and the rule. */
export const checked = <A>(name: string, rule: (text: string) => Either.Either<A, string>): Config.Config<A> =>
  Config.string(name).pipe(
    Config.mapOrFail((text) =>
      Either.mapLeft(
        rule(text),
        (broken) => ConfigError.InvalidData([name], `${name}=${JSON.stringify(text)}: ${broken}`)
      )
    )
  )

/** A `SLUICE_*` duration variable: positive and finite. */
export const durationVariable = (name: string): Config.Config<Duration.Duration> => checked(name, positiveDuration)

/** An integer variable within `[min, max]`. */
export const integerVariable = (name: string, min: number, max: number): Config.Config<number> =>
  checked(name, (text) => {
    const n = /^[+-]?\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN
    return integerBetween(min, max)(n)
  })

/** A boolean variable: `true`/`false`, `yes`/`no`, `on`/`off` or `1`/`0`, in any case. */
export const booleanVariable = (name: string): Config.Config<boolean> =>
  checked(name, (text) => {
    const word = text.trim().toLowerCase()
    if (["true", "yes", "on", "1"].includes(word)) return Either.right(true)
    if (["false", "no", "off", "0"].includes(word)) return Either.right(false)
    return Either.left("must be true or false")
  })
