/**
 * `GET /metrics`: every Effect `Metric` of the process (the runtime's counters and
 * histograms, the depth sampler's gauges) in the Prometheus text format.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { Prometheus } from "../runtime/index.js"

/** The route, for the API's router. */
export const layer = HttpApiBuilder.Router.use((router) =>
  router.get(
    "/metrics",
    Effect.map(Prometheus.scrape, (text) => HttpServerResponse.text(text, { contentType: Prometheus.contentType }))
  )
)
