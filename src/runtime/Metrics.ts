/**
 * The runtime's metrics, as Effect `Metric`s tagged with the consumer group. Export
 * them with any Effect metrics exporter (Prometheus, OpenTelemetry).
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"

const millis = MetricBoundaries.exponential({ start: 0.25, factor: 2, count: 20 })

const counterKey = (name: string, description: string) => MetricKey.counter(name, { description, incremental: true })
const histogramKey = (name: string, description: string) => MetricKey.histogram(name, millis, description)

const keys = {
  claimed: counterKey("sluice_deliveries_claimed_total", "Deliveries claimed by claim loops"),
  delivered: counterKey("sluice_deliveries_delivered_total", "Deliveries acknowledged as handled"),
  skipped: counterKey("sluice_deliveries_skipped_total", "Deliveries a handler skipped"),
  retried: counterKey("sluice_deliveries_retried_total", "Failed attempts scheduled for a retry"),
  deadLettered: counterKey(
    "sluice_deliveries_dead_lettered_total",
    "Deliveries that ended failed (permanent error, undecodable, or out of attempts)"
  ),
  failed: counterKey("sluice_deliveries_failed_total", "Failed attempts, retried or dead-lettered"),
  reaped: counterKey("sluice_deliveries_reaped_total", "Deliveries taken back from expired leases"),
  released: counterKey("sluice_deliveries_released_total", "Deliveries given back unhandled at shutdown"),
  handlerDuration: histogramKey(
    "sluice_handler_duration_ms",
    "Time to run a handler over one batch, in milliseconds"
  ),
  lag: histogramKey(
    "sluice_delivery_lag_ms",
    "Time from an event's emit to the start of its handling, in milliseconds"
  )
}

export const claimed = Metric.fromMetricKey(keys.claimed)
export const delivered = Metric.fromMetricKey(keys.delivered)
export const skipped = Metric.fromMetricKey(keys.skipped)
export const retried = Metric.fromMetricKey(keys.retried)
export const deadLettered = Metric.fromMetricKey(keys.deadLettered)
export const failed = Metric.fromMetricKey(keys.failed)
export const reaped = Metric.fromMetricKey(keys.reaped)
export const released = Metric.fromMetricKey(keys.released)
export const handlerDuration = Metric.fromMetricKey(keys.handlerDuration)
export const lag = Metric.fromMetricKey(keys.lag)

/**
 * The metrics of one consumer group, tagged once: their keys carry the tag, so an update
 * finds its hook directly (`Metric.tagged` would rebuild and hash the key on every update).
 */
export const forGroup = (group: string) => {
  const tagged = <Type extends MetricKeyType.MetricKeyType<number, unknown>>(key: MetricKey.MetricKey<Type>) =>
    Metric.fromMetricKey(MetricKey.tagged(key, "consumer_group", group))
  const metrics = {
    claimed: tagged(keys.claimed),
    delivered: tagged(keys.delivered),
    skipped: tagged(keys.skipped),
    retried: tagged(keys.retried),
    deadLettered: tagged(keys.deadLettered),
    failed: tagged(keys.failed),
    released: tagged(keys.released),
    handlerDuration: tagged(keys.handlerDuration),
    lag: tagged(keys.lag)
  }
  // Registered at once, so exporters show a group's counters at zero before anything happens.
  for (const metric of Object.values(metrics)) metric.unsafeValue([])
  return metrics
}

export type GroupMetrics = ReturnType<typeof forGroup>
