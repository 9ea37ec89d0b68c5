/**
 * The dashboard's routes: the page at `/`, and its script and styles at
 * `/dashboard/dashboard.js` and `/dashboard/dashboard.css`. The browser code in
 * `client/` is bundled by esbuild in memory when the routes are built (a few tens of
 * milliseconds at server start; no build step, nothing written to disk, no CDN), so the
 * page works offline and always matches the source.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"

/** Bundling the dashboard failed at start. */
export class DashboardBuildFailed extends Data.TaggedError("DashboardBuildFailed")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const client = (file: string) => fileURLToPath(new URL(`./client/${file}`, import.meta.url))

/** The page, script and styles, ready to serve. */
export interface Assets {
  readonly html: string
  readonly javascript: string
  readonly css: string
}

/** Bundles the client code (minified, with an inline source map off) and reads the page. */
export const bundle: Effect.Effect<Assets, DashboardBuildFailed> = Effect.tryPromise({
  try: async () => {
    const esbuild = await import("esbuild")
    const result = await esbuild.build({
      entryPoints: [client("main.ts"), client("dashboard.css")],
      bundle: true,
      write: false,
      minify: true,
      format: "esm",
      target: "es2022",
      outdir: "/dashboard",
      logLevel: "silent"
    })
    const output = (extension: string) => {
      const file = result.outputFiles.find((entry) => entry.path.endsWith(extension))
      if (file === undefined) throw new Error(`esbuild produced no ${extension} file`)
      return file.text
    }
    return { html: await readFile(client("index.html"), "utf8"), javascript: output(".js"), css: output(".css") }
  },
  catch: (cause) =>
    new DashboardBuildFailed({
      message: `bundling the dashboard failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      cause
    })
}).pipe(Effect.withSpan("Dashboard.bundle"))

/** The routes, for the API's router. */
export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const assets = yield* bundle
    const headers = { "cache-control": "no-cache" }
    yield* router.get(
      "/",
      Effect.succeed(HttpServerResponse.html(assets.html).pipe(HttpServerResponse.setHeaders(headers)))
    )
    yield* router.get(
      "/dashboard/dashboard.js",
      Effect.succeed(
        HttpServerResponse.text(assets.javascript, { contentType: "text/javascript; charset=utf-8", headers })
      )
    )
    yield* router.get(
      "/dashboard/dashboard.css",
      Effect.succeed(HttpServerResponse.text(assets.css, { contentType: "text/css; charset=utf-8", headers }))
    )
  })
)
