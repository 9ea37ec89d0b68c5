/**
 * The runtime's metrics, as Effect `Metric`s tagged with the consumer group. Export
 * them with any Effect metrics exporter (Prometheus, OpenTelemetry).
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

const millis = MetricBoundaries.exponential({ start: 0.25, factor: 2, count: 20 })

export const claimed = Metric.counter("sluice_deliveries_claimed_total", {
  description: "Deliveries claimed by claim loops",
  incremental: true
})
export const delivered = Metric.counter("sluice_deliveries_delivered_total", {
  description: "Deliveries acknowledged as handled",
  incremental: true
})
export const skipped = Metric.counter("sluice_deliveries_skipped_total", {
  description: "Deliveries a handler skipped",
  incremental: true
})
export const retried = Metric.counter("sluice_deliveries_retried_total", {
  description: "Failed attempts scheduled for a retry",
  incremental: true
})
export const deadLettered = Metric.counter("sluice_deliveries_dead_lettered_total", {
  description: "Deliveries that ended failed (permanent error, undecodable, or out of attempts)",
  incremental: true
})
export const failed = Metric.counter("sluice_deliveries_failed_total", {
  description: "Failed attempts, retried or dead-lettered",
  incremental: true
})
export const reaped = Metric.counter("sluice_deliveries_reaped_total", {
  description: "Deliveries taken back from expired leases",
  incremental: true
})
export const released = Metric.counter("sluice_deliveries_released_total", {
  description: "Deliveries given back unhandled at shutdown",
  incremental: true
})
export const handlerDuration = Metric.histogram(
  "sluice_handler_duration_ms",
  millis,
  "Time to run a handler over one batch, in milliseconds"
)
export const lag = Metric.histogram(
  "sluice_delivery_lag_ms",
  millis,
  "Time from an event's emit to the start of its handling, in milliseconds"
)

/** The metrics of one consumer group, tagged once. */
export const forGroup = (group: string) => {
  const counter = (metric: Metric.Metric.Counter<number>) => Metric.tagged(metric, "consumer_group", group)
  const histogram = (metric: Metric.Metric.Histogram<number>) => Metric.tagged(metric, "consumer_group", group)
  return {
    claimed: counter(claimed),
    delivered: counter(delivered),
    skipped: counter(skipped),
    retried: counter(retried),
    deadLettered: counter(deadLettered),
    failed: counter(failed),
    released: counter(released),
    handlerDuration: histogram(handlerDuration),
    lag: histogram(lag)
  }
}

export type GroupMetrics = ReturnType<typeof forGroup>
