/**
 * Serves the archive's API over HTTP with Node's server: the endpoints of `Api.ts`, the
 * OpenAPI document at `/openapi.json`, and Swagger UI at `/docs` (its script and styles
 * are inlined by `@effect/platform`: no CDN, so it works offline), the metrics at
 * `/metrics` (Prometheus text) and the dashboard at `/`.
 *
 * @example
 * ```ts
 * const Http = Server.layerConfig.pipe(Layer.provide(services)) // HTTP_PORT, HTTP_HOST
 * Layer.launch(Http).pipe(NodeRuntime.runMain)
 * ```
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
import * as Dashboard from "../dashboard/Dashboard.js"
import { Api } from "./Api.js"
import * as Handlers from "./Handlers.js"
import * as Metrics from "./Metrics.js"

/** Where to listen. */
export interface Options {
  /** TCP port; 0 picks a free one. Default 3000. */
  readonly port?: number | undefined
  /** Interface to bind. Default 127.0.0.1 (local only). */
  readonly host?: string | undefined
}

export const defaults = { port: 3000, host: "127.0.0.1" } as const

/** The options from the environment: `HTTP_PORT`, `HTTP_HOST`. */
export const config: Config.Config<Required<Options>> = Config.all({
  port: Config.port("HTTP_PORT").pipe(
    Config.withDefault(defaults.port),
    Config.withDescription("TCP port of the HTTP API (0 picks a free one)")
  ),
  host: Config.nonEmptyString("HTTP_HOST").pipe(
    Config.withDefault(defaults.host),
    Config.withDescription("interface the HTTP API binds to")
  )
})

/** A `RequestError` from reading a body that is not JSON, as the API's 400. */
const notJson = (defect: unknown): Option.Option<HttpApiDecodeError> => {
  if (!HttpServerError.isServerError(defect) || defect._tag !== "RequestError" || defect.reason !== "Decode") {
    return Option.none()
  }
  if (!(defect.cause instanceof SyntaxError)) return Option.none()
  const message = `the body is not valid JSON: ${defect.cause.message}`
  return Option.some(new HttpApiDecodeError({ message, issues: [{ _tag: "Type", path: [], message }] }))
}

/** One line naming each field and what is wrong with it: `limit: limit must be an integer from 1 to 100`. */
const summary = (issues: HttpApiDecodeError["issues"]): string =>
  issues.map((issue) => issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`)
    .join("; ")

/**
 * Bad requests, in one shape: a body that is not JSON (the platform dies with a
 * `RequestError`, which would answer an empty 400) becomes the API's 400, and every 400's
 * `message` is the one-line {@link summary} of its issues instead of the schema's tree.
 */
const badRequests = HttpApiBuilder.middleware(
  Api,
  (app) =>
    app.pipe(
      Effect.catchSomeDefect((defect) => Option.map(notJson(defect), Effect.fail)),
      Effect.catchIf(
        (error): error is HttpApiDecodeError => error instanceof HttpApiDecodeError,
        (error) => Effect.fail(new HttpApiDecodeError({ issues: error.issues, message: summary(error.issues) }))
      )
    )
)

/** The API with its handlers, the OpenAPI document and the docs page, as routes. */
export const routes = Layer.mergeAll(
  HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
  HttpApiSwagger.layer({ path: "/docs" }),
  badRequests,
  Metrics.layer,
  Dashboard.layer
).pipe(
  Layer.provideMerge(HttpApiBuilder.api(Api)),
  Layer.provide(Handlers.layer)
)

/** Serves {@link routes} on whatever `HttpServer` is provided (a Node listener, or `NodeHttpServer.layerTest`). */
export const serve = HttpApiBuilder.serve(HttpMiddleware.logger).pipe(
  Layer.provide(routes),
  HttpServer.withLogAddress
)

/** Serves the API on `host:port` with Node's HTTP server. */
export const layer = (options: Options = {}) =>
  serve.pipe(
    Layer.provide(NodeHttpServer.layer(createServer, {
      port: options.port ?? defaults.port,
      host: options.host ?? defaults.host
    }))
  )

/** {@link layer} with `HTTP_PORT` and `HTTP_HOST` from the environment. */
export const layerConfig = Layer.unwrapEffect(Effect.map(config, layer))
