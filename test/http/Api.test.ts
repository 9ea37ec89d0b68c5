/**
 * The HTTP API against the real database: every endpoint served on a free port and called
 * over HTTP, with its errors (400s naming the field, 404s, 409, 503) and the changefeed
 * cursor. Data is seeded through the archive's store, the indexes and the outbox.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as ArchiveConfig from "../../src/archive/ArchiveConfig.js"
import * as ArchiveMigrations from "../../src/archive/ArchiveMigrations.js"
import * as ArchiveStore from "../../src/archive/ArchiveStore.js"
import { RecordPublished } from "../../src/archive/Events.js"
import * as Embedder from "../../src/archive/index/Embedder.js"
import * as KeywordIndex from "../../src/archive/index/KeywordIndex.js"
import * as VectorIndex from "../../src/archive/index/VectorIndex.js"
import { depositionSrn, recordSrn } from "../../src/archive/Pipeline.js"
import * as Search from "../../src/archive/search/Search.js"
import { UpstreamRecord } from "../../src/archive/source/UpstreamRecord.js"
import * as Srn from "../../src/archive/Srn.js"
import * as Rules from "../../src/archive/validation/Rules.js"
import * as Server from "../../src/http/Server.js"
import * as Database from "../../src/runtime/Database.js"
import * as EmbeddedPostgres from "../../src/runtime/EmbeddedPostgres.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import { Store } from "../../src/runtime/Store.js"
import * as ArchiveDatabase from "../support/ArchiveDatabase.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

const domain = "osa.example.org"
const indexes = [{ name: "vector", kind: "vector" }, { name: "keyword", kind: "keyword" }] as const

/** The archive's services on this file's database. */
const Services = Layer.mergeAll(ArchiveStore.layer, Search.layer(indexes)).pipe(
  Layer.provideMerge(
    Layer.mergeAll(KeywordIndex.layer(), VectorIndex.layer().pipe(Layer.provide(Embedder.layer())))
  ),
  Layer.provideMerge(ArchiveConfig.layer({ domain, indexes, curation: "manual" })),
  Layer.provideMerge(ArchiveDatabase.layer)
)

/** The API on a free port, and an `HttpClient` pointed at it. */
const Http = Layer.provideMerge(Server.serve, NodeHttpServer.layerTest)

interface Reply {
  readonly status: number
  readonly contentType: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any
}

const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const text = yield* response.text
    const contentType = response.headers["content-type"] ?? ""
    return {
      status: response.status,
      contentType,
      body: contentType.includes("json") && text.length > 0 ? JSON.parse(text) : text
    } satisfies Reply
  })

const get = (url: string) => send(HttpClientRequest.get(url))
const post = (url: string, body: unknown) =>
  send(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUnsafeJson(body)))

/**
 * Reads the changefeed until it shows at least `count` events. An event becomes visible
 * once every older transaction *of the server* (any database: transaction ids are
 * cluster-wide) has ended, so with other test files running it can take a moment.
 */
const events = (query: string, count: number) =>
  Runtime.waitUntil(
    `${count} events from /api/v1/events?${query}`,
    get(`/api/v1/events?${query}`),
    (reply) => reply.status !== 200 || reply.body.events.length >= count
  )

/** Asserts a 400 whose issues name `field` (and, if given, whose message mentions `text`). */
const assertBadRequest = (reply: Reply, field: string, text?: string) => {
  assert.strictEqual(reply.status, 400, JSON.stringify(reply.body))
  assert.strictEqual(reply.body._tag, "HttpApiDecodeError")
  const issue = reply.body.issues.find((issue: { path: Array<unknown> }) => issue.path[0] === field)
  assert.isDefined(issue, `an issue about ${field}: ${JSON.stringify(reply.body)}`)
  if (text !== undefined) assert.include(issue.message, text)
  assert.include(reply.body.message, `${field}: `, "the message names the field")
}

const upstream = (accession: string, overrides: Partial<UpstreamRecord> = {}) =>
  new UpstreamRecord({
    accession,
    title: "Single-cell atlas of the mouse hippocampus",
    summary: "Transcriptomes of hippocampal neurons across development.",
    organism: "Mus musculus",
    platform: "GPL24247",
    sampleCount: 12,
    publicationDate: "2023/05/04",
    type: "Expression profiling by high throughput sequencing",
    ...overrides
  })

/** Writes a deposition through the store, validated with the real rules. */
const deposit = (source: string, record: UpstreamRecord, now: Date) =>
  Effect.gen(function*() {
    const store = yield* ArchiveStore.ArchiveStore
    const srn = depositionSrn(domain, source, record.accession)
    yield* store.insertDeposition({ srn, source, upstreamId: record.accession, payload: record, now })
    const results = Rules.validate(record, now)
    const passed = Rules.status(results) === "passed"
    yield* store.setValidation(srn, results, passed ? "awaiting_curation" : "rejected", now)
    return srn
  })

/** Deposits, approves and publishes a record, and indexes it in both backends. */
const publish = (source: string, record: UpstreamRecord, now: Date) =>
  Effect.gen(function*() {
    const store = yield* ArchiveStore.ArchiveStore
    const deposition = yield* deposit(source, record, now)
    yield* store.curate(deposition, "approved", "auto", now)
    const srn = recordSrn(domain, source, record.accession)
    yield* store.publish({
      srn,
      recordId: Srn.idFrom(`${source}-${record.accession}`),
      version: 1,
      depositionSrn: deposition,
      source,
      upstreamId: record.accession,
      title: record.title,
      metadata: record,
      now
    })
    yield* (yield* KeywordIndex.KeywordIndex).index(
      "keyword",
      [{ srn, title: record.title, body: record.summary }],
      now
    )
    yield* (yield* VectorIndex.VectorIndex).index("vector", [{
      srn,
      title: record.title,
      text: `${record.title}. ${record.summary}`
    }], now)
    return { deposition, srn }
  })

/** Sets the test clock (shared by the block) to a fixed day plus `minutes`. */
const at = (minutes: number) =>
  Effect.gen(function*() {
    const time = Date.parse("2024-06-01T12:00:00Z") + minutes * 60_000
    yield* TestClock.setTime(time)
    return new Date(time)
  })

describe("HTTP API", () => {
  it.layer(Http.pipe(Layer.provideMerge(Services)))((it) => {
    it.effect("health, readiness, the OpenAPI document and the docs page", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual((yield* get("/health")).body, { status: "ok" })
        const ready = yield* get("/ready")
        assert.strictEqual(ready.status, 200)
        assert.deepStrictEqual(ready.body, { status: "ready" })

        const openapi = yield* get("/openapi.json")
        assert.strictEqual(openapi.status, 200)
        assert.strictEqual(openapi.body.openapi, "3.1.0")
        assert.includeMembers(Object.keys(openapi.body.paths), [
          "/api/v1/search/{index}",
          "/api/v1/records/{srn}",
          "/api/v1/depositions",
          "/api/v1/depositions/{srn}",
          "/api/v1/depositions/{srn}/approve",
          "/api/v1/depositions/{srn}/reject",
          "/api/v1/events",
          "/api/v1/pipeline",
          "/health",
          "/ready"
        ])
        for (const name of Object.keys(openapi.body.components.schemas)) {
          assert.match(name, /^[A-Za-z0-9._-]+$/, "component names must be valid OpenAPI keys")
        }

        const docs = yield* get("/docs")
        assert.strictEqual(docs.status, 200)
        assert.include(docs.contentType, "text/html")
        assert.include(docs.body, "SwaggerUIBundle")
        assert.notMatch(docs.body, /<script[^>]+src=/, "no external scripts")
      }))

    it.effect("search: results, paging, unknown index, and parameters naming the field", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const now = yield* at(0)
        const first = yield* publish("sample", upstream("GSE100001"), now)
        yield* publish(
          "sample",
          upstream("GSE100002", { title: "Hippocampus ageing in rats", organism: "Rattus norvegicus" }),
          now
        )
        yield* publish(
          "sample",
          upstream("GSE100003", { title: "Yeast heat shock", summary: "Heat stress in yeast." }),
          now
        )

        const keyword = yield* get("/api/v1/search/keyword?q=hippocampus")
        assert.strictEqual(keyword.status, 200, JSON.stringify(keyword.body))
        assert.strictEqual(keyword.body.query, "hippocampus")
        assert.strictEqual(keyword.body.index, "keyword")
        assert.strictEqual(keyword.body.total, 2)
        assert.strictEqual(keyword.body.limit, 10)
        assert.strictEqual(keyword.body.offset, 0)
        assert.includeMembers(keyword.body.results.map((hit: { srn: string }) => hit.srn), [first.srn])
        for (const hit of keyword.body.results) {
          assert.typeOf(hit.score, "number")
          assert.typeOf(hit.title, "string")
        }

        const paged = yield* get("/api/v1/search/keyword?q=hippocampus&limit=1&offset=1")
        assert.strictEqual(paged.status, 200)
        assert.strictEqual(paged.body.total, 2)
        assert.strictEqual(paged.body.results.length, 1)
        assert.notStrictEqual(paged.body.results[0].srn, keyword.body.results[0].srn)

        const vector = yield* get(`/api/v1/search/vector?q=${encodeURIComponent("mouse hippocampus neurons")}&limit=3`)
        assert.strictEqual(vector.status, 200, JSON.stringify(vector.body))
        assert.strictEqual(vector.body.index, "vector")
        assert.strictEqual(vector.body.results.length, 3)
        assert.strictEqual(vector.body.results[0].srn, first.srn)

        const unknown = yield* get("/api/v1/search/nope?q=x")
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(unknown.body._tag, "NotFound")
        assert.strictEqual(unknown.body.resource, "index")
        assert.strictEqual(unknown.body.id, "nope")
        assert.deepStrictEqual(unknown.body.known, ["vector", "keyword"])
        assert.include(unknown.body.message, "\"nope\"")
        assert.include(unknown.body.message, "\"keyword\"")

        assertBadRequest(yield* get("/api/v1/search/keyword"), "q", "is missing")
        assertBadRequest(yield* get("/api/v1/search/keyword?q=%20%20"), "q", "must not be empty")
        assertBadRequest(yield* get("/api/v1/search/keyword?q=x&limit=0"), "limit", "from 1 to 100")
        assertBadRequest(yield* get("/api/v1/search/keyword?q=x&limit=101"), "limit", "from 1 to 100")
        assertBadRequest(yield* get("/api/v1/search/keyword?q=x&limit=ten"), "limit")
        assertBadRequest(yield* get("/api/v1/search/keyword?q=x&offset=-1"), "offset", "from 0 to 10000")
      }))

    it.effect("records: by SRN (raw or percent-encoded), 400 with the parse error, 404", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const now = yield* at(10)
        const record = upstream("GSE200001")
        const { deposition, srn } = yield* publish("sample", record, now)

        const found = yield* get(`/api/v1/records/${srn}`)
        assert.strictEqual(found.status, 200, JSON.stringify(found.body))
        assert.deepStrictEqual(found.body, {
          srn,
          version: 1,
          title: record.title,
          source: "sample",
          upstreamId: "GSE200001",
          metadata: { ...record },
          publishedAt: now.toISOString(),
          deposition
        })
        assert.deepStrictEqual((yield* get(`/api/v1/records/${encodeURIComponent(srn)}`)).body, found.body)

        assertBadRequest(yield* get("/api/v1/records/urn:osa:bad"), "srn", "not a valid SRN")
        assertBadRequest(yield* get(`/api/v1/records/urn:osa:${domain}:rec:x`), "srn", "id must be 3 to 64")
        assertBadRequest(yield* get(`/api/v1/records/${deposition}`), "srn", "expected a record SRN (type rec)")

        const missing = yield* get(`/api/v1/records/urn:osa:${domain}:rec:sample-gse999999@1`)
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.body._tag, "NotFound")
        assert.strictEqual(missing.body.resource, "record")
        const unversioned = yield* get(`/api/v1/records/${srn.replace(/@1$/, "")}`)
        assert.strictEqual(unversioned.status, 404)
        assert.include(unversioned.body.message, "carry a version")
      }))

    it.effect("depositions: submit by hand (deduplicated), 400s naming the field, state", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        yield* at(20)
        const body = { ...upstream("GSE300001") }
        const submitted = yield* post("/api/v1/depositions", body)
        assert.strictEqual(submitted.status, 202, JSON.stringify(submitted.body))
        const srn = depositionSrn(domain, "manual", "GSE300001")
        assert.deepStrictEqual(submitted.body, { deposition: srn, source: "manual", upstreamId: "GSE300001" })
        // Submitting it again is accepted and makes no second event (the next one is GSE300002's).
        assert.strictEqual((yield* post("/api/v1/depositions", { ...body, accession: " GSE300001 " })).status, 202)
        assert.strictEqual((yield* post("/api/v1/depositions", { ...body, accession: "GSE300002" })).status, 202)
        const feed = yield* events("types=archive.DepositionSubmitted", 2)
        assert.deepStrictEqual(
          feed.body.events.map((event: { payload: { upstreamId: string } }) => event.payload.upstreamId),
          ["GSE300001", "GSE300002"]
        )
        const [event] = feed.body.events
        assert.strictEqual(event.type, "archive.DepositionSubmitted")
        assert.strictEqual(event.payload.deposition, srn)
        assert.strictEqual(event.payload.source, "manual")
        assert.deepStrictEqual(event.payload.record, body)

        const { title: _title, ...untitled } = body
        assertBadRequest(yield* post("/api/v1/depositions", untitled), "title", "is missing")
        assertBadRequest(yield* post("/api/v1/depositions", { ...body, sampleCount: "many" }), "sampleCount")
        assertBadRequest(
          yield* post("/api/v1/depositions", { ...body, accession: "  " }),
          "accession",
          "must not be empty"
        )
        const notJson = yield* send(
          HttpClientRequest.post("/api/v1/depositions").pipe(
            HttpClientRequest.bodyText("{\"accession\":", "application/json")
          )
        )
        assert.strictEqual(notJson.status, 400)
        assert.strictEqual(notJson.body._tag, "HttpApiDecodeError")
        assert.include(notJson.body.message, "not valid JSON")

        // The pipeline's validation stage writes the deposition; here, the store does.
        const now = yield* at(21)
        const waiting = yield* deposit("manual", upstream("GSE300001"), now)
        const state = yield* get(`/api/v1/depositions/${waiting}`)
        assert.strictEqual(state.status, 200, JSON.stringify(state.body))
        assert.strictEqual(state.body.srn, srn)
        assert.strictEqual(state.body.state, "awaiting_curation")
        assert.strictEqual(state.body.validation.status, "passed")
        assert.deepStrictEqual(
          state.body.validation.results.map((result: { rule: string }) => result.rule),
          [...Rules.ruleNames]
        )
        assert.strictEqual(state.body.record, null)
        assert.strictEqual(state.body.curatedBy, null)
        assert.strictEqual(state.body.submittedAt, now.toISOString())

        const rejected = yield* deposit("manual", upstream("GSE300002", { organism: "Unicornis fantastica" }), now)
        const failed = yield* get(`/api/v1/depositions/${rejected}`)
        assert.strictEqual(failed.body.state, "rejected")
        assert.strictEqual(failed.body.validation.status, "failed")
        const organism = failed.body.validation.results.find((r: { rule: string }) => r.rule === "known-organism")
        assert.strictEqual(organism.passed, false)

        const missing = yield* get(`/api/v1/depositions/urn:osa:${domain}:dep:manual-nothing`)
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.body.resource, "deposition")
        assertBadRequest(yield* get("/api/v1/depositions/GSE300001"), "srn", "not a valid SRN")
      }))

    it.effect("curation: approve emits DepositionApproved, reject, 409 when not awaiting, 404, 400", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const now = yield* at(30)
        const first = yield* deposit("sample", upstream("GSE400001"), now)
        const second = yield* deposit("sample", upstream("GSE400002"), now)
        const invalid = yield* deposit("sample", upstream("GSE400003", { sampleCount: 0 }), now)

        const approved = yield* post(`/api/v1/depositions/${first}/approve`, { curator: "ada" })
        assert.strictEqual(approved.status, 200, JSON.stringify(approved.body))
        assert.strictEqual(approved.body.state, "approved")
        assert.strictEqual(approved.body.curatedBy, "ada")
        const approvals = yield* events("types=archive.DepositionApproved", 1)
        assert.deepStrictEqual(approvals.body.events.map((event: { payload: unknown }) => event.payload), [
          { _tag: "archive.DepositionApproved", deposition: first, approvedBy: "ada" }
        ])

        const again = yield* post(`/api/v1/depositions/${first}/reject`, { curator: "bob" })
        assert.strictEqual(again.status, 409)
        assert.deepStrictEqual(again.body, {
          _tag: "Conflict",
          deposition: first,
          state: "approved",
          message: `deposition ${first} is approved, not awaiting curation`
        })

        const rejected = yield* post(`/api/v1/depositions/${second}/reject`, { curator: "bob" })
        assert.strictEqual(rejected.status, 200)
        assert.strictEqual(rejected.body.state, "rejected")
        assert.strictEqual(rejected.body.curatedBy, "bob")
        assert.strictEqual((yield* get("/api/v1/events?types=archive.DepositionApproved")).body.events.length, 1)

        const notValid = yield* post(`/api/v1/depositions/${invalid}/approve`, { curator: "ada" })
        assert.strictEqual(notValid.status, 409)
        assert.strictEqual(notValid.body.state, "rejected")

        const unknown = yield* post(`/api/v1/depositions/urn:osa:${domain}:dep:nothing/approve`, { curator: "ada" })
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(unknown.body._tag, "NotFound")

        assertBadRequest(yield* post(`/api/v1/depositions/${second}/approve`, { curator: "" }), "curator")
        assertBadRequest(yield* post(`/api/v1/depositions/${second}/approve`, {}), "curator", "is missing")

        // Once the pipeline published the record, the deposition names it.
        const store = yield* ArchiveStore.ArchiveStore
        const record = recordSrn(domain, "sample", "GSE400001")
        yield* store.publish({
          srn: record,
          recordId: Srn.idFrom("sample-GSE400001"),
          version: 1,
          depositionSrn: first,
          source: "sample",
          upstreamId: "GSE400001",
          title: "t",
          metadata: {},
          now
        })
        const published = yield* get(`/api/v1/depositions/${first}`)
        assert.strictEqual(published.body.state, "published")
        assert.strictEqual(published.body.record, record)
      }))

    it.effect("changefeed: pages by cursor, filters by type, rejects bad cursors and limits", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const now = yield* at(40)
        for (let i = 1; i <= 5; i++) {
          yield* Outbox.emit(
            new RecordPublished({
              record: Srn.make({ domain, type: "rec", id: `rec-${i}`, version: 1 }),
              deposition: Srn.make({ domain, type: "dep", id: `dep-${i}` })
            }),
            i % 2 === 0 ? { routingKey: "even" } : undefined
          )
        }
        assert.strictEqual((yield* events("limit=1000", 5)).body.events.length, 5)
        const first = yield* get("/api/v1/events?limit=2")
        assert.strictEqual(first.status, 200, JSON.stringify(first.body))
        assert.strictEqual(first.body.events.length, 2)
        const [event] = first.body.events
        assert.strictEqual(event.type, "archive.RecordPublished")
        assert.strictEqual(event.routingKey, null)
        assert.strictEqual(event.payload.record, `urn:osa:${domain}:rec:rec-1@1`)
        assert.strictEqual(event.createdAt, now.toISOString())
        assert.typeOf(event.metadata, "object")
        assert.match(first.body.next, /^\d+-\d+$/)
        assert.strictEqual(first.body.next.split("-")[1], first.body.events[1].id)

        const seen: Array<string> = first.body.events.map((e: { payload: { record: string } }) => e.payload.record)
        let next: string = first.body.next
        for (;;) {
          const page = yield* get(`/api/v1/events?limit=2&after=${next}`)
          assert.strictEqual(page.status, 200)
          if (page.body.events.length === 0) {
            assert.strictEqual(page.body.next, next, "an empty page keeps the cursor")
            break
          }
          seen.push(...page.body.events.map((e: { payload: { record: string } }) => e.payload.record))
          next = page.body.next
        }
        assert.deepStrictEqual(seen, [1, 2, 3, 4, 5].map((i) => `urn:osa:${domain}:rec:rec-${i}@1`))

        // A later event shows up after the cursor the reader kept.
        yield* Outbox.emit(
          new RecordPublished({
            record: Srn.make({ domain, type: "rec", id: "rec-6", version: 1 }),
            deposition: Srn.make({ domain, type: "dep", id: "dep-6" })
          })
        )
        const later = yield* events(`after=${next}`, 1)
        assert.deepStrictEqual(later.body.events.map((e: { payload: { record: string } }) => e.payload.record), [
          `urn:osa:${domain}:rec:rec-6@1`
        ])

        const none = yield* get("/api/v1/events?types=archive.IndexRecord,archive.DepositionApproved")
        assert.deepStrictEqual(none.body, { events: [], next: "0-0" })
        const some = yield* get("/api/v1/events?types=archive.IndexRecord,%20archive.RecordPublished&limit=1000")
        assert.strictEqual(some.body.events.length, 6)
        const routingKeys = Object.fromEntries(
          some.body.events.map((e: { payload: { record: string }; routingKey: string | null }) => [
            e.payload.record,
            e.routingKey
          ])
        )
        assert.strictEqual(routingKeys[`urn:osa:${domain}:rec:rec-2@1`], "even")
        assert.strictEqual(routingKeys[`urn:osa:${domain}:rec:rec-3@1`], null)

        assertBadRequest(yield* get("/api/v1/events?after=abc"), "after", "not a changefeed cursor")
        assertBadRequest(yield* get("/api/v1/events?after=1-99999999999999999999"), "after", "not a changefeed cursor")
        assertBadRequest(yield* get("/api/v1/events?after=-1-2"), "after")
        assertBadRequest(yield* get("/api/v1/events?limit=0"), "limit", "from 1 to 1000")
        assertBadRequest(yield* get("/api/v1/events?limit=1001"), "limit", "from 1 to 1000")
        assertBadRequest(yield* get("/api/v1/events?types=,"), "types", "at least one event type")
      }))

    it.effect("pipeline: per-group queues, oldest pending age and throughput from the clock, archive progress", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const store = yield* Store
        const start = yield* at(60)
        yield* store.registerGroup({
          name: "archive.Index.keyword",
          claimTimeoutMs: 30_000,
          maxAttempts: 5,
          interleave: false,
          subscriptions: [{ eventType: "archive.RecordPublished", routingKey: null }]
        }, start)
        yield* store.registerGroup({
          name: "idle",
          claimTimeoutMs: 30_000,
          maxAttempts: 5,
          interleave: false,
          subscriptions: [{ eventType: "test.Nothing", routingKey: null }]
        }, start)
        for (let i = 1; i <= 4; i++) {
          yield* Outbox.emit(
            new RecordPublished({
              record: Srn.make({ domain, type: "rec", id: `rec-${i}`, version: 1 }),
              deposition: Srn.make({ domain, type: "dep", id: `dep-${i}` })
            })
          )
        }
        // 90 seconds on: claim two, settle one (delivered) now; one more is scheduled later.
        const now = yield* at(61.5)
        const claimToken = crypto.randomUUID()
        const claimed = yield* store.claim({
          group: "archive.Index.keyword",
          limit: 2,
          token: claimToken,
          now,
          fair: false
        })
        assert.strictEqual(claimed.length, 2)
        yield* store.settle("archive.Index.keyword", claimToken, [{
          event_id: claimed[0]!.event_id,
          status: "delivered",
          available_at: null,
          last_error: null,
          release: false
        }], now)
        yield* Outbox.emit(
          new RecordPublished({
            record: Srn.make({ domain, type: "rec", id: "rec-later", version: 1 }),
            deposition: Srn.make({ domain, type: "dep", id: "dep-later" })
          }),
          { deliverAfter: "1 hour" }
        )
        yield* publish("sample", upstream("GSE500001"), now)

        const state = yield* get("/api/v1/pipeline")
        assert.strictEqual(state.status, 200, JSON.stringify(state.body))
        assert.strictEqual(state.body.at, now.toISOString())
        assert.deepStrictEqual(state.body.groups, [
          {
            group: "archive.Index.keyword",
            pending: 3,
            due: 2,
            claimed: 1,
            failed: 0,
            delivered: 1,
            skipped: 0,
            oldestPendingAgeSeconds: 90,
            throughputPerSecond: 1 / 60
          },
          {
            group: "idle",
            pending: 0,
            due: 0,
            claimed: 0,
            failed: 0,
            delivered: 0,
            skipped: 0,
            oldestPendingAgeSeconds: null,
            throughputPerSecond: 0
          }
        ])
        assert.deepStrictEqual(state.body.archive, {
          pulled: 0,
          runsRunning: 0,
          runsCompleted: 0,
          depositions: 1,
          rejected: 0,
          awaitingCuration: 0,
          published: 1,
          indexed: [{ backend: "keyword", count: 1 }, { backend: "vector", count: 1 }]
        })

        // Two minutes later the settlement is out of the window.
        yield* at(63.5)
        const quiet = yield* get("/api/v1/pipeline")
        assert.strictEqual(quiet.body.groups[0].throughputPerSecond, 0)
        assert.strictEqual(quiet.body.groups[0].oldestPendingAgeSeconds, 210)
      }))

    it.effect("ready: 503 when the database does not answer", () =>
      Effect.scoped(Effect.gen(function*() {
        // A second server whose SQL client, store and archive store point at a database that is then dropped.
        const name = `${TestDatabase.namePrefix}${process.pid}_doomed_${Math.random().toString(36).slice(2, 8)}`
        const server = TestDatabase.serverUrl()
        yield* EmbeddedPostgres.createDatabase(server, name, TestDatabase.templateName)
        yield* Effect.addFinalizer(() => Effect.orDie(EmbeddedPostgres.dropDatabase(server, name)))
        const doomed = Layer.mergeAll(
          ArchiveStore.layer,
          Sluice.layer({ schema: TestDatabase.schema, migrate: false }),
          Layer.effectDiscard(ArchiveMigrations.migrate())
        ).pipe(Layer.provideMerge(Database.layer({ url: TestDatabase.databaseUrl(server, name), maxConnections: 1 })))
        const context = yield* Layer.build(Http.pipe(Layer.provide(doomed)))
        const viaDoomed = <A, E, R>(request: Effect.Effect<A, E, R>) =>
          Effect.provideService(request, HttpClient.HttpClient, Context.get(context, HttpClient.HttpClient))
        const ready = viaDoomed(get("/ready"))
        assert.strictEqual((yield* ready).status, 200)
        assert.strictEqual((yield* viaDoomed(get("/api/v1/pipeline"))).status, 200)
        yield* EmbeddedPostgres.dropDatabase(server, name)
        const down = yield* Runtime.waitUntil("a 503 from /ready", ready, (reply) => reply.status === 503)
        assert.deepStrictEqual(down.body, { _tag: "NotReady", message: "the database is not reachable" })
        // The process itself is still up; what needs the database answers a logged 500 saying what failed.
        assert.strictEqual((yield* viaDoomed(get("/health"))).status, 200)
        const pipeline = yield* viaDoomed(get("/api/v1/pipeline"))
        assert.strictEqual(pipeline.status, 500)
        assert.deepStrictEqual(pipeline.body, {
          _tag: "ServerError",
          message: "reading the consumer groups' statistics failed"
        })
      })))
  })
})
