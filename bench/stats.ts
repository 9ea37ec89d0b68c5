/**
 * Small statistics over samples. A missing value (`null`: e.g. a latency percentile that
 * fell on an event never handled) sorts above every number.
 */

/** A value, or null for "never" / "not measurable". */
export type Value = number | null

const ascending = (a: Value, b: Value) => a === null ? (b === null ? 0 : 1) : b === null ? -1 : a - b

/** The p-th percentile (0–100) by the nearest-rank method. */
export const percentile = (values: ReadonlyArray<Value>, p: number): Value => {
  if (values.length === 0) return null
  const sorted = [...values].sort(ascending)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1]!
}

export interface Summary {
  readonly median: Value
  readonly min: Value
  readonly max: Value
}

/** Median (the lower middle of an even count), min and max. */
export const summarize = (values: ReadonlyArray<Value>): Summary => {
  const sorted = [...values].sort(ascending)
  return {
    median: sorted.length === 0 ? null : sorted[Math.floor((sorted.length - 1) / 2)]!,
    min: sorted[0] ?? null,
    max: sorted.at(-1) ?? null
  }
}
