/**
 * The operations endpoints, `/metrics` and the dashboard's routes, served on a free port
 * against the real database with a worker pool running: live group figures, the graph
 * (subscriptions and observed emits, in columns), dead letters listed, detailed, retried
 * (then delivered) and skipped, and the bad requests naming their field.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as ArchiveConfig from "../../src/archive/ArchiveConfig.js"
import * as ArchiveStore from "../../src/archive/ArchiveStore.js"
import * as Embedder from "../../src/archive/index/Embedder.js"
import * as KeywordIndex from "../../src/archive/index/KeywordIndex.js"
import * as VectorIndex from "../../src/archive/index/VectorIndex.js"
import * as Search from "../../src/archive/search/Search.js"
import * as Server from "../../src/http/Server.js"
import type * as Errors from "../../src/runtime/Errors.js"
import * as Event from "../../src/runtime/Event.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as ArchiveDatabase from "../support/ArchiveDatabase.js"
import * as Runtime from "../support/Runtime.js"

const indexes = [{ name: "keyword", kind: "keyword" }] as const

const Services = Layer.mergeAll(ArchiveStore.layer, Search.layer(indexes)).pipe(
  Layer.provideMerge(
    Layer.mergeAll(KeywordIndex.layer(), VectorIndex.layer().pipe(Layer.provide(Embedder.layer())))
  ),
  Layer.provideMerge(ArchiveConfig.layer({ indexes })),
  Layer.provideMerge(ArchiveDatabase.layer)
)

const Http = Layer.provideMerge(Server.serve, NodeHttpServer.layerTest)

const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const response = yield* (yield* HttpClient.HttpClient).execute(request)
    const text = yield* response.text
    const contentType = response.headers["content-type"] ?? ""
    return {
      status: response.status,
      contentType,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      body: (contentType.includes("json") && text.length > 0 ? JSON.parse(text) : text) as any
    }
  })
const get = (url: string) => send(HttpClientRequest.get(url))
const post = (url: string, body: unknown) =>
  send(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUnsafeJson(body)))

class Job extends Event.Class<Job>()("ops.Job", { n: Schema.Number }) {}
class JobDone extends Event.Class<JobDone>()("ops.JobDone", { n: Schema.Number }) {}

const failing = new Set<number>()
const worker = "ops.Work"
const Work = Handler.make({
  name: worker,
  event: Job,
  maxAttempts: 1,
  handle: (job): Effect.Effect<void, Handler.Permanent | Errors.EmitFailed, Outbox.Outbox> =>
    failing.has(job.n)
      ? Effect.fail(new Handler.Permanent({ message: `job ${job.n} is broken` }))
      : Outbox.emit(new JobDone({ n: job.n }))
})
const Record = Handler.make({ name: "ops.Record", event: JobDone, handle: () => Effect.void })

describe("operations over HTTP", () => {
  it.layer(Http.pipe(Layer.provideMerge(Services)))((it) => {
    it.scoped("groups, graph, dead letters with retry and skip, /metrics and the dashboard", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        yield* TestClock.setTime(Date.parse("2024-06-01T12:00:00Z"))
        failing.add(2)
        failing.add(3)
        yield* Runtime.startPool([Work, Record])
        yield* Outbox.emitAll([1, 2, 3, 4].map((n) => new Job({ n })))
        yield* Runtime.waitUntil(
          "two delivered, two dead letters",
          Runtime.statusCounts(worker),
          (counts) => counts.delivered === 2 && counts.failed === 2
        )
        yield* Runtime.waitUntil(
          "both follow-ups recorded",
          Runtime.statusCounts("ops.Record"),
          (c) => c.delivered === 2
        )

        const groups = yield* get("/api/v1/ops/groups")
        assert.strictEqual(groups.status, 200)
        assert.strictEqual(groups.body.bucketSeconds, 10)
        assert.strictEqual(groups.body.windowSeconds, 300)
        const work = groups.body.groups.find((group: { group: string }) => group.group === worker)
        assert.strictEqual(work.failed, 2)
        assert.strictEqual(work.pending, 0)
        assert.strictEqual(work.settledPerBucket.length, 30)
        assert.strictEqual(work.settledPerBucket.reduce((a: number, b: number) => a + b, 0), 2)
        assert.isAtLeast(work.p95LatencyMs, 0)

        const topology = yield* get("/api/v1/ops/topology")
        assert.strictEqual(topology.status, 200)
        assert.deepStrictEqual(
          topology.body.nodes.map((node: { id: string; column: number }) => [node.id, node.column]),
          [["type:ops.Job", 0], ["group:ops.Work", 1], ["type:ops.JobDone", 2], ["group:ops.Record", 3]]
        )
        assert.sameDeepMembers(topology.body.edges, [
          { from: "type:ops.Job", to: "group:ops.Work", routingKey: null },
          { from: "type:ops.JobDone", to: "group:ops.Record", routingKey: null },
          { from: "group:ops.Work", to: "type:ops.JobDone", routingKey: null }
        ])

        const letters = yield* get(`/api/v1/ops/dead-letters?group=${worker}`)
        assert.strictEqual(letters.status, 200)
        assert.sameMembers(letters.body.map((letter: { eventId: string }) => letter.eventId), ["2", "3"])
        const [letter] = letters.body.filter((entry: { eventId: string }) => entry.eventId === "2")
        assert.strictEqual(letter.type, "ops.Job")
        assert.strictEqual(letter.attempts, 1)
        assert.include(letter.lastError, "job 2 is broken")

        const detail = yield* get(`/api/v1/ops/dead-letters/2?group=${worker}`)
        assert.strictEqual(detail.status, 200)
        assert.deepStrictEqual(detail.body[0].payload, { _tag: "ops.Job", n: 2 })
        assert.strictEqual(detail.body[0].errors.length, 1)
        assert.include(detail.body[0].errors[0].error, "job 2 is broken")
        assert.deepStrictEqual((yield* get(`/api/v1/ops/dead-letters/4`)).body, [])

        failing.delete(2)
        const retried = yield* post("/api/v1/ops/dead-letters/retry", { deliveries: [{ eventId: "2", group: worker }] })
        assert.deepStrictEqual(retried.body, { count: 1 })
        const skipped = yield* post("/api/v1/ops/dead-letters/skip", { deliveries: [{ eventId: "3", group: worker }] })
        assert.deepStrictEqual(skipped.body, { count: 1 })
        yield* Runtime.waitUntil(
          "the retried one delivered",
          Runtime.deliveries(worker),
          (rows) => rows.find((row) => row.event_id === "2")?.status === "delivered"
        )
        assert.deepStrictEqual(yield* Runtime.statusCounts(worker), { delivered: 3, skipped: 1 })
        assert.deepStrictEqual((yield* get(`/api/v1/ops/dead-letters?group=${worker}`)).body, [])

        const bad = yield* post("/api/v1/ops/dead-letters/retry", { deliveries: [{ eventId: "x1", group: worker }] })
        assert.strictEqual(bad.status, 400)
        assert.include(bad.body.message, "eventId")
        const empty = yield* post("/api/v1/ops/dead-letters/skip", { deliveries: [] })
        assert.strictEqual(empty.status, 400)
        assert.include(empty.body.message, "deliveries")
        assert.strictEqual((yield* get("/api/v1/ops/dead-letters/0")).status, 400)

        const metrics = yield* get("/metrics")
        assert.strictEqual(metrics.status, 200)
        assert.strictEqual(metrics.contentType, "text/plain; version=0.0.4; charset=utf-8")
        assert.include(metrics.body, "# TYPE sluice_deliveries_delivered_total counter\n")
        assert.match(metrics.body, /^sluice_deliveries_dead_lettered_total\{consumer_group="ops\.Work"\} 2$/m)
        assert.match(metrics.body, /^sluice_handler_duration_ms_bucket\{consumer_group="ops\.Work",le="\+Inf"\} \d+$/m)

        const page = yield* get("/")
        assert.strictEqual(page.status, 200)
        assert.include(page.contentType, "text/html")
        assert.include(page.body, "<script type=\"module\" src=\"/dashboard/dashboard.js\"></script>")
        const script = yield* get("/dashboard/dashboard.js")
        assert.include(script.contentType, "text/javascript")
        assert.include(script.body, "/api/v1/ops/groups")
        const styles = yield* get("/dashboard/dashboard.css")
        assert.include(styles.contentType, "text/css")
        assert.include(styles.body, ".graph")
        assert.deepStrictEqual((yield* get("/api/v1/search")).body, [{ name: "keyword", kind: "keyword" }])
        assert.strictEqual((yield* get("/docs")).status, 200)
        assert.strictEqual(
          (yield* get("/openapi.json")).body.paths["/api/v1/ops/dead-letters/retry"].post !== undefined,
          true
        )
      }))
  })
})
