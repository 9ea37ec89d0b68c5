/**
 * OpenTelemetry export of the app's traces and metrics over OTLP/HTTP (JSON), through
 * `@effect/opentelemetry`'s `OtlpTracer` and `OtlpMetrics`: every Effect span (the
 * runtime's `sluice.batch` per handled batch, `Outbox.emit`, the HTTP server's) and every
 * Effect `Metric`. Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset: off | the collector's base URL; `/v1/traces` and `/v1/metrics` are appended |
 * | `OTEL_EXPORTER_OTLP_HEADERS` | none | `key=value,key=value` sent with every export (redacted) |
 * | `OTEL_SERVICE_NAME` | `sluice-archive` | the resource's `service.name` |
 * | `OTEL_BSP_SCHEDULE_DELAY` | 5000 | milliseconds between span exports |
 * | `OTEL_METRIC_EXPORT_INTERVAL` | 10000 | milliseconds between metric exports |
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(Telemetry.layerConfig), NodeRuntime.runMain)
 * ```
 */
import * as OtlpMetrics from "@effect/opentelemetry/OtlpMetrics"
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** Where and how to export. */
export interface Options {
  /** The collector's base URL, e.g. `http://127.0.0.1:4318`. */
  readonly endpoint: string
  readonly serviceName?: string | undefined
  readonly headers?: Record<string, string> | undefined
  readonly traceInterval?: Duration.DurationInput | undefined
  readonly metricInterval?: Duration.DurationInput | undefined
}

export const defaults = {
  serviceName: "sluice-archive",
  traceInterval: Duration.seconds(5),
  metricInterval: Duration.seconds(10),
  shutdownTimeout: Duration.seconds(3)
}

/** `key=value,key=value` into headers; blanks around names and values are dropped. */
export const parseHeaders = (text: string): Record<string, string> =>
  Object.fromEntries(
    text.split(",").map((pair) => pair.trim()).filter((pair) => pair.includes("=")).map((pair) => {
      const at = pair.indexOf("=")
      return [pair.slice(0, at).trim(), decodeURIComponent(pair.slice(at + 1).trim())]
    })
  )

const millis = (name: string, fallback: Duration.Duration, description: string) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive number of milliseconds", validation: (n) => n > 0 }),
    Config.map(Duration.millis),
    Config.withDefault(fallback),
    Config.withDescription(description)
  )

const endpointUrl = Config.string("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(
  Config.validate({
    message: "must be an http:// or https:// URL, e.g. http://127.0.0.1:4318",
    validation: (text) => {
      try {
        const url = new URL(text)
        return url.protocol === "http:" || url.protocol === "https:"
      } catch {
        return false
      }
    }
  }),
  Config.withDescription("OTLP/HTTP collector base URL; unset turns export off")
)

/** The options from the environment; `None` when no endpoint is configured. */
export const config: Config.Config<Option.Option<Options>> = Config.all({
  endpoint: Config.option(endpointUrl),
  serviceName: Config.string("OTEL_SERVICE_NAME").pipe(
    Config.withDefault(defaults.serviceName),
    Config.withDescription("service.name of the exported resource")
  ),
  headers: Config.option(Config.redacted("OTEL_EXPORTER_OTLP_HEADERS")).pipe(
    Config.map(Option.map((text) => parseHeaders(Redacted.value(text)))),
    Config.withDescription("key=value,key=value headers for the collector")
  ),
  traceInterval: millis("OTEL_BSP_SCHEDULE_DELAY", defaults.traceInterval, "milliseconds between span exports"),
  metricInterval: millis("OTEL_METRIC_EXPORT_INTERVAL", defaults.metricInterval, "milliseconds between metric exports")
}).pipe(
  Config.map(({ endpoint, headers, ...rest }) =>
    Option.map(endpoint, (url): Options => ({ endpoint: url, headers: Option.getOrUndefined(headers), ...rest }))
  )
)

/**
 * Installs the OTLP tracer and metrics exporter for everything the layer is provided to.
 * Pending spans and metrics are flushed when it closes.
 */
export const layer = (options: Options) => {
  const base = HttpClientRequest.get(options.endpoint)
  const url = (path: string) => HttpClientRequest.appendUrl(base, path).url
  const resource = { serviceName: options.serviceName ?? defaults.serviceName }
  return Layer.mergeAll(
    OtlpTracer.layer({
      url: url("/v1/traces"),
      resource,
      headers: options.headers,
      exportInterval: options.traceInterval ?? defaults.traceInterval,
      shutdownTimeout: defaults.shutdownTimeout
    }),
    OtlpMetrics.layer({
      url: url("/v1/metrics"),
      resource,
      headers: options.headers,
      exportInterval: options.metricInterval ?? defaults.metricInterval,
      shutdownTimeout: defaults.shutdownTimeout
    })
  ).pipe(Layer.provide(Layer.merge(OtlpSerialization.layerJson, NodeHttpClient.layerUndici)))
}

/** {@link layer} from {@link config}; nothing at all when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset. */
export const layerConfig = Layer.unwrapEffect(
  Effect.map(config, Option.match({ onNone: () => Layer.empty, onSome: layer }))
)
