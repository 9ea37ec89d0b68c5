/**
 * Parsing the `sluice` tool's values: durations (`90s`, `15m`, `2h`, `7d`, `1w`, or
 * Effect's `"2 hours"`), points in time (an ISO date, or a duration meaning that long
 * ago) and event ids. Each returns `undefined` for input it does not accept, and the
 * caller names the option in its usage error.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const units: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}

const shortDuration = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/

/** Milliseconds of a duration such as `2h`, `30m`, `1.5d` or `"2 hours"`; undefined if it is none. */
export const durationMillis = (input: string): number | undefined => {
  const text = input.trim()
  const short = shortDuration.exec(text)
  if (short !== null) return Number(short[1]) * units[short[2]!]!
  const decoded = Option.getOrUndefined(Duration.decodeUnknown(text))
  if (decoded === undefined || !Duration.isFinite(decoded)) return undefined
  return Duration.toMillis(decoded)
}

const isoDate = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/

/**
 * A point in time: an ISO date (`2026-01-31`, `2026-01-31T12:00:00Z`; without a zone it
 * is UTC) or a duration meaning that long before `now`.
 */
export const pointInTime = (input: string, now: number): Date | undefined => {
  const text = input.trim()
  if (isoDate.test(text)) {
    const zoned = /T|\s/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? `${text.replace(" ", "T")}Z` : text
    const millis = Date.parse(zoned)
    return Number.isNaN(millis) ? undefined : new Date(millis)
  }
  const millis = durationMillis(text)
  return millis === undefined ? undefined : new Date(now - millis)
}

/** Whether `input` is an event id (a positive integer). */
export const isEventId = (input: string): boolean => /^[1-9]\d{0,18}$/.test(input)

/** A duration for people: `850 ms`, `42 s`, `3 m 20 s`, `2 h 5 m`, `3 d 4 h`. */
export const formatAge = (millis: number): string => {
  if (millis < 1_000) return `${Math.round(millis)} ms`
  const seconds = Math.floor(millis / 1_000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} m` : `${minutes} m ${seconds % 60} s`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} m`
  const days = Math.floor(hours / 24)
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`
}
