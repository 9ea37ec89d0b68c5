/**
 * Effect `Metric`s in the Prometheus text exposition format (version 0.0.4), for a
 * `GET /metrics` endpoint. Effect ships no Prometheus exporter: this one reads
 * `Metric.snapshot` (every metric of the process's registry) and writes one family per
 * metric name, with its tags as labels.
 *
 * - counter → `counter`; gauge → `gauge`
 * - histogram → `histogram`: cumulative `_bucket{le="…"}` (always ending with `+Inf`), `_sum`, `_count`
 * - summary → `summary`: `{quantile="…"}`, `_sum`, `_count`
 * - frequency → `counter` with one series per observed value, in the label `key`
 *
 * @example
 * ```ts
 * const text = yield* Prometheus.scrape // "# HELP sluice_deliveries_delivered_total …"
 * ```
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/** The `Content-Type` of the exposition format. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** A metric name as Prometheus accepts it: `[a-zA-Z_:][a-zA-Z0-9_:]*`, other characters become `_`. */
export const metricName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`
}

/** A label name as Prometheus accepts it: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export const labelName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[a-zA-Z_]/.test(cleaned) ? cleaned : `_${cleaned}`
}

/** A label value inside double quotes: backslash, double quote and line feed escaped. */
export const labelValue = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

/** `# HELP` text: backslash and line feed escaped. */
export const helpText = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** A sample value: `+Inf`, `-Inf`, `NaN`, or the number in JavaScript's shortest form. */
export const sampleValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

type Labels = ReadonlyArray<readonly [string, string]>

const labelSet = (labels: Labels): string =>
  labels.length === 0
    ? ""
    : `{${labels.map(([name, value]) => `${labelName(name)}="${labelValue(value)}"`).join(",")}}`

const sample = (name: string, labels: Labels, value: number | bigint) =>
  `${name}${labelSet(labels)} ${sampleValue(value)}`

const tagsOf = (pair: MetricPair.MetricPair.Untyped): Labels =>
  pair.metricKey.tags.map((tag) => [tag.key, tag.value] as const)

type Kind = "counter" | "gauge" | "histogram" | "summary"

const kindOf = (state: MetricState.MetricState.Untyped): Kind | undefined => {
  if (MetricState.isCounterState(state) || MetricState.isFrequencyState(state)) return "counter"
  if (MetricState.isGaugeState(state)) return "gauge"
  if (MetricState.isHistogramState(state)) return "histogram"
  if (MetricState.isSummaryState(state)) return "summary"
  return undefined
}

const samples = (name: string, labels: Labels, state: MetricState.MetricState.Untyped): Array<string> => {
  if (MetricState.isCounterState(state)) return [sample(name, labels, state.count)]
  if (MetricState.isGaugeState(state)) return [sample(name, labels, state.value)]
  if (MetricState.isFrequencyState(state)) {
    return [...state.occurrences.entries()]
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([key, count]) => sample(name, [...labels, ["key", key]], count))
  }
  if (MetricState.isHistogramState(state)) {
    const buckets = state.buckets.filter(([boundary]) => boundary !== Infinity)
    return [
      ...buckets.map(([boundary, count]) =>
        sample(`${name}_bucket`, [...labels, ["le", sampleValue(boundary)]], count)
      ),
      sample(`${name}_bucket`, [...labels, ["le", "+Inf"]], state.count),
      sample(`${name}_sum`, labels, state.sum),
      sample(`${name}_count`, labels, state.count)
    ]
  }
  if (MetricState.isSummaryState(state)) {
    return [
      ...state.quantiles.map(([quantile, value]) =>
        sample(name, [...labels, ["quantile", sampleValue(quantile)]], Option.getOrElse(value, () => NaN))
      ),
      sample(`${name}_sum`, labels, state.sum),
      sample(`${name}_count`, labels, state.count)
    ]
  }
  return []
}

interface Family {
  readonly kind: Kind
  help: string | undefined
  readonly series: Array<{ readonly labels: Labels; readonly state: MetricState.MetricState.Untyped }>
}

/**
 * Formats metric pairs (from `Metric.snapshot`) as the exposition text: families sorted
 * by name, series by their labels, each family with `# HELP` (when the metric has a
 * description) and `# TYPE`. Series of one name with another kind than the first are
 * dropped, since a family has one type.
 */
export const format = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const kind = kindOf(pair.metricState)
    if (kind === undefined) continue
    const name = metricName(pair.metricKey.name)
    const family = families.get(name) ?? { kind, help: undefined, series: [] }
    if (family.kind !== kind) continue
    family.help ??= Option.getOrUndefined(pair.metricKey.description)
    family.series.push({ labels: tagsOf(pair), state: pair.metricState })
    families.set(name, family)
  }
  const lines: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!
    if (family.help !== undefined) lines.push(`# HELP ${name} ${helpText(family.help)}`)
    lines.push(`# TYPE ${name} ${family.kind}`)
    const series = family.series
      .map((entry) => ({ ...entry, sortKey: labelSet(entry.labels) }))
      .sort((a, b) => a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0)
    for (const entry of series) lines.push(...samples(name, entry.labels, entry.state))
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

/** Every metric of the process, formatted. */
export const scrape: Effect.Effect<string> = Effect.map(Metric.snapshot, format)
