/**
 * The Prometheus exposition text, exactly: every metric kind, labels from tags (escaped),
 * names cleaned, families grouped and sorted, histogram buckets cumulative up to `+Inf`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Prometheus from "../../src/runtime/Prometheus.js"

/** The formatted families whose names start with `prefix` (the registry is process-wide). */
const scrapeOnly = (prefix: string) =>
  Effect.map(
    Metric.snapshot,
    (pairs) => Prometheus.format(pairs.filter((pair) => pair.metricKey.name.startsWith(prefix)))
  )

describe("Prometheus", () => {
  it.effect("counters and gauges, with labels from tags, grouped per name and sorted", () =>
    Effect.gen(function*() {
      const delivered = Metric.counter("t1_delivered_total", { description: "Delivered", incremental: true })
      yield* Metric.incrementBy(Metric.tagged(delivered, "consumer_group", "b"), 2)
      yield* Metric.incrementBy(Metric.tagged(delivered, "consumer_group", "a"), 5)
      const depth = Metric.gauge("t1_depth")
      yield* Metric.set(depth, 7.5)
      assert.strictEqual(
        yield* scrapeOnly("t1_"),
        [
          "# HELP t1_delivered_total Delivered",
          "# TYPE t1_delivered_total counter",
          "t1_delivered_total{consumer_group=\"a\"} 5",
          "t1_delivered_total{consumer_group=\"b\"} 2",
          "# TYPE t1_depth gauge",
          "t1_depth 7.5",
          ""
        ].join("\n")
      )
    }))

  it.effect("histograms: cumulative buckets, +Inf, _sum and _count", () =>
    Effect.gen(function*() {
      const latency = Metric.histogram(
        "t2_latency_ms",
        MetricBoundaries.fromIterable([1, 10, 100]),
        "Latency in ms"
      ).pipe(Metric.tagged("group", "g"))
      for (const value of [0.5, 5, 5, 50, 5000]) yield* Metric.update(latency, value)
      assert.strictEqual(
        yield* scrapeOnly("t2_"),
        [
          "# HELP t2_latency_ms Latency in ms",
          "# TYPE t2_latency_ms histogram",
          "t2_latency_ms_bucket{group=\"g\",le=\"1\"} 1",
          "t2_latency_ms_bucket{group=\"g\",le=\"10\"} 3",
          "t2_latency_ms_bucket{group=\"g\",le=\"100\"} 4",
          "t2_latency_ms_bucket{group=\"g\",le=\"+Inf\"} 5",
          "t2_latency_ms_sum{group=\"g\"} 5060.5",
          "t2_latency_ms_count{group=\"g\"} 5",
          ""
        ].join("\n")
      )
    }))

  it.effect("summaries: quantiles (NaN before any value), _sum and _count", () =>
    Effect.gen(function*() {
      const summary = (name: string) =>
        Metric.summary({ name, maxAge: "1 hour", maxSize: 100, error: 0, quantiles: [0.5, 1] })
      const sizes = summary("t3_sizes")
      for (const value of [2, 2, 2]) yield* Metric.update(sizes, value)
      const empty = summary("t3_unused")
      yield* Metric.value(empty)
      assert.strictEqual(
        yield* scrapeOnly("t3_"),
        [
          "# TYPE t3_sizes summary",
          "t3_sizes{quantile=\"0.5\"} 2",
          "t3_sizes{quantile=\"1\"} 2",
          "t3_sizes_sum 6",
          "t3_sizes_count 3",
          "# TYPE t3_unused summary",
          "t3_unused{quantile=\"0.5\"} NaN",
          "t3_unused{quantile=\"1\"} NaN",
          "t3_unused_sum 0",
          "t3_unused_count 0",
          ""
        ].join("\n")
      )
    }))

  it.effect("frequencies: one counter series per value, in the label `key`", () =>
    Effect.gen(function*() {
      const outcomes = Metric.frequency("t4_outcomes", { description: "Outcomes" })
      for (const value of ["ok", "retry", "ok"]) yield* Metric.update(outcomes, value)
      assert.strictEqual(
        yield* scrapeOnly("t4_"),
        [
          "# HELP t4_outcomes Outcomes",
          "# TYPE t4_outcomes counter",
          "t4_outcomes{key=\"ok\"} 2",
          "t4_outcomes{key=\"retry\"} 1",
          ""
        ].join("\n")
      )
    }))

  it.effect("escapes label values and help text, cleans names, writes bigints and infinities", () =>
    Effect.gen(function*() {
      const odd = Metric.gauge("t5.odd-name", { description: "line one\nback\\slash" }).pipe(
        Metric.tagged("9 label", "say \"hi\"\\\nbye")
      )
      yield* Metric.set(odd, -Infinity)
      const big = Metric.counter("t5_big", { bigint: true })
      yield* Metric.incrementBy(big, 12345678901234567890n)
      assert.strictEqual(
        yield* scrapeOnly("t5"),
        [
          "# TYPE t5_big counter",
          "t5_big 12345678901234567890",
          "# HELP t5_odd_name line one\\nback\\\\slash",
          "# TYPE t5_odd_name gauge",
          "t5_odd_name{_9_label=\"say \\\"hi\\\"\\\\\\nbye\"} -Inf",
          ""
        ].join("\n")
      )
    }))

  it("an empty registry is an empty text; the helpers follow the format's rules", () => {
    assert.strictEqual(Prometheus.format([]), "")
    assert.strictEqual(Prometheus.metricName("0abc:x-y"), "_0abc:x_y")
    assert.strictEqual(Prometheus.labelName("a:b"), "a_b")
    assert.strictEqual(Prometheus.sampleValue(NaN), "NaN")
    assert.strictEqual(Prometheus.sampleValue(Infinity), "+Inf")
    assert.strictEqual(Prometheus.sampleValue(0.25), "0.25")
  })
})
