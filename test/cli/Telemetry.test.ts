/**
 * OTLP export against a local receiver (a node:http server recording what is POSTed to
 * `/v1/traces` and `/v1/metrics`): spans of handled events and the runtime's metrics
 * arrive, in-process and from `npm run demo` configured by `OTEL_EXPORTER_OTLP_ENDPOINT`;
 * the configuration is off by default and rejects a bad endpoint naming it.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as Telemetry from "../../src/cli/Telemetry.js"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { exec, expectSuccess } from "../support/Command.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

interface OtlpSpan {
  readonly name: string
  readonly traceId: string
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

/** A receiver that keeps every JSON body POSTed to it, by path. */
const receiver = Effect.acquireRelease(
  Effect.async<{ readonly server: Server; readonly url: string; readonly bodies: Map<string, Array<unknown>> }>(
    (resume) => {
      const bodies = new Map<string, Array<unknown>>()
      const server = createServer((request, response) => {
        let text = ""
        request.on("data", (chunk) => text += chunk)
        request.on("end", () => {
          const list = bodies.get(request.url ?? "") ?? []
          list.push(JSON.parse(text))
          bodies.set(request.url ?? "", list)
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, bodies }))
      })
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const spansOf = (bodies: ReadonlyArray<unknown>): Array<OtlpSpan> =>
  (bodies as ReadonlyArray<{ resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }> }>)
    .flatMap((body) => body.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)))

const metricNamesOf = (bodies: ReadonlyArray<unknown>): Set<string> =>
  new Set(
    (bodies as ReadonlyArray<{ resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string }> }> }> }>)
      .flatMap((body) =>
        body.resourceMetrics.flatMap((resource) =>
          resource.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.name))
        )
      )
  )

const attribute = (span: OtlpSpan, key: string) => span.attributes.find((entry) => entry.key === key)?.value

class Traced extends Event.Class<Traced>()("otel.Traced", { n: Schema.Number }) {}

describe("Telemetry", () => {
  it.effect("off without OTEL_EXPORTER_OTLP_ENDPOINT; a bad endpoint is named", () =>
    Effect.gen(function*() {
      const off = yield* Effect.withConfigProvider(Telemetry.config, ConfigProvider.fromMap(new Map()))
      assert.isTrue(Option.isNone(off))
      const on = yield* Effect.withConfigProvider(
        Telemetry.config,
        ConfigProvider.fromMap(
          new Map([["OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"], [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "a=1, b = x%20y"
          ]])
        )
      )
      assert.deepStrictEqual(
        on,
        Option.some({
          endpoint: "http://collector:4318",
          headers: { a: "1", b: "x y" },
          serviceName: "sluice-archive",
          traceInterval: Telemetry.defaults.traceInterval,
          metricInterval: Telemetry.defaults.metricInterval
        })
      )
      const bad = yield* Effect.flip(
        Effect.withConfigProvider(
          Telemetry.config,
          ConfigProvider.fromMap(new Map([["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"]]))
        )
      )
      assert.include(String(bad), "OTEL_EXPORTER_OTLP_ENDPOINT")
      assert.include(String(bad), "must be an http:// or https:// URL")
    }))

  it.live("spans of handled events and the runtime's metrics reach the collector", () =>
    Effect.gen(function*() {
      const { bodies, url } = yield* receiver
      const group = "otel.Handle"
      yield* Effect.gen(function*() {
        yield* Runtime.startPool([Handler.make({ name: group, event: Traced, handle: () => Effect.void })])
        yield* Outbox.emitAll([new Traced({ n: 1 }), new Traced({ n: 2 })])
        yield* Runtime.waitUntil("both handled", Runtime.statusCounts(group), (counts) => counts.delivered === 2)
      }).pipe(
        Effect.scoped,
        Effect.provide(Telemetry.layer({ endpoint: url, traceInterval: "100 millis", metricInterval: "100 millis" }))
      )
      // The layer flushed on close.
      const batches = spansOf(bodies.get("/v1/traces") ?? []).filter((span) => span.name === "sluice.batch")
      assert.isAbove(batches.length, 0, "a sluice.batch span arrived")
      assert.deepStrictEqual(attribute(batches[0]!, "sluice.consumer_group"), { stringValue: group })
      assert.isTrue(metricNamesOf(bodies.get("/v1/metrics") ?? []).has("sluice_deliveries_delivered_total"))
    }).pipe(Effect.scoped, Effect.provide(Layer.fresh(Runtime.layer))))

  it.live("npm run demo exports its spans when OTEL_EXPORTER_OTLP_ENDPOINT is set", () =>
    Effect.gen(function*() {
      const { bodies, url } = yield* receiver
      const { url: databaseUrl } = yield* TestDatabase.TestDatabase
      const run = yield* exec(process.execPath, ["--import", "tsx", "src/cli/demo.ts"], {
        env: {
          DATABASE_URL: databaseUrl,
          SLUICE_SCHEMA: "sluice_otel",
          ARCHIVE_SCHEMA: "archive_otel",
          ARCHIVE_LIMIT: "20",
          OTEL_EXPORTER_OTLP_ENDPOINT: url,
          OTEL_SERVICE_NAME: "archive-under-test",
          OTEL_BSP_SCHEDULE_DELAY: "200",
          OTEL_METRIC_EXPORT_INTERVAL: "200"
        },
        timeoutMillis: 90_000
      })
      expectSuccess("demo with OTLP export", run)
      const groups = new Set(
        spansOf(bodies.get("/v1/traces") ?? [])
          .filter((span) => span.name === "sluice.batch")
          .map((span) => attribute(span, "sluice.consumer_group")?.stringValue)
      )
      expect([...groups]).toEqual(expect.arrayContaining([
        "archive.TriggerInitialSourceRun",
        "archive.PullFromSource",
        "archive.ValidateDeposition"
      ]))
      const resource = (bodies.get("/v1/traces")![0] as {
        resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> } }>
      }).resourceSpans[0]!.resource.attributes
      assert.strictEqual(
        resource.find((entry) => entry.key === "service.name")?.value.stringValue,
        "archive-under-test"
      )
      assert.isTrue(metricNamesOf(bodies.get("/v1/metrics") ?? []).has("sluice_deliveries_claimed_total"))
    }).pipe(Effect.scoped, Effect.provide(TestDatabase.layer)), 120_000)
})
