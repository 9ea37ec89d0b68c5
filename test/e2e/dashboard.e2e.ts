/**
 * The dashboard in a real browser (Chromium through playwright-core). The app runs in
 * this process on the test database: the archive pipeline over the shipped sample set,
 * the HTTP server, and one extra consumer group (`e2e.Audit`, taking `RecordPublished`)
 * that fails the first record it sees permanently until it is healed.
 *
 * The page loads before the pipeline starts; the groups' figures then move without a
 * reload; the audit group's dead letter appears, is opened (error and payload), retried
 * with the button, and ends delivered; a search lists results. Screenshots of each step
 * go to `test-output/e2e/`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Archive from "../../src/archive/Archive.js"
import * as ArchiveConfig from "../../src/archive/ArchiveConfig.js"
import { RecordPublished, ServerStarted } from "../../src/archive/Events.js"
import * as Server from "../../src/http/Server.js"
import * as Handler from "../../src/runtime/Handler.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import * as Sluice from "../../src/runtime/Sluice.js"
import * as WorkerPool from "../../src/runtime/WorkerPool.js"
import * as TestDatabase from "../support/TestDatabase.js"

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const screenshots = join(process.cwd(), "test-output", "e2e")

const settings: ArchiveConfig.Settings = {
  ...ArchiveConfig.defaults,
  schema: "archive_e2e",
  indexes: [{ name: "keyword", kind: "keyword" }],
  // Small pages, so the run takes long enough to watch.
  initialRuns: [{ source: "sample", since: "2000-01-01", limit: 1_200, chunkSize: 20 }]
}

const audit = { poisoned: undefined as string | undefined, healed: false, handled: 0 }
const auditGroup = "e2e.Audit"

/** Takes every published record, slowly; fails the first one permanently until healed. */
const Audit = Handler.make({
  name: auditGroup,
  event: RecordPublished,
  handle: (event): Effect.Effect<void, Handler.Permanent> =>
    Effect.gen(function*() {
      audit.poisoned ??= event.record
      if (event.record === audit.poisoned && !audit.healed) {
        return yield* new Handler.Permanent({ message: `audit refused ${event.record}: checksum mismatch` })
      }
      audit.handled++
      yield* Effect.sleep("10 millis")
    })
})

/** The status of the audit group's delivery of the record it refused. */
const poisonedStatus = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ status: string }>`
    SELECT d.status FROM sluice.deliveries d JOIN sluice.events e ON e.id = d.event_id
    WHERE d.consumer_group = ${auditGroup} AND e.payload->>'record' = ${audit.poisoned ?? ""}`
  return rows[0]?.status
})

const Database = Sluice.layer({ migrate: false }).pipe(Layer.provideMerge(TestDatabase.layer))
const App = Layer.mergeAll(
  Server.serve.pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))),
  Archive.pool(settings, { depthSampler: { interval: "1 second" } }),
  WorkerPool.layer([Audit])
).pipe(
  Layer.provideMerge(Archive.layer(settings)),
  Layer.provideMerge(Layer.effectDiscard(Archive.migrate(settings))),
  Layer.provideMerge(Database)
)

let app: ManagedRuntime.ManagedRuntime<Layer.Layer.Success<typeof App>, Layer.Layer.Error<typeof App>> | undefined
let browser: BrowserContext | undefined
let profile: string | undefined
let base = ""

const run = <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<typeof App>>) => app!.runPromise(effect)

const shot = (page: Page, name: string) => page.screenshot({ path: join(screenshots, name), fullPage: true })

/** The text of a metric in a group's card. */
const metricOf = (page: Page, group: string, metric: string) =>
  page.locator(`[data-group="${group}"] [data-metric="${metric}"]`).innerText()

beforeAll(async () => {
  mkdirSync(screenshots, { recursive: true })
  app = ManagedRuntime.make(App)
  const address = await app.runPromise(HttpServer.addressWith(Effect.succeed))
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  base = `http://127.0.0.1:${address.port}`
  profile = mkdtempSync(join(tmpdir(), "sluice-e2e-chromium-"))
  // A fresh profile per run (playwright takes it as `userDataDir`, passed as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    viewport: { width: 2400, height: 1100 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
})

afterAll(async () => {
  await browser?.close()
  await app?.dispose()
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true })
})

describe("dashboard in Chromium", () => {
  it("shows the pipeline live, retries a dead letter with the button, and searches", async () => {
    const page = await browser!.newPage()
    const problems: Array<string> = []
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`)
    })
    let reloads = 0
    page.on("load", () => reloads++)

    await page.goto(base)
    // The graph from the subscriptions, before anything ran: the archive's groups and the audit group.
    await page.locator(`[data-group="archive.PullFromSource"]`).waitFor()
    await page.locator(`[data-group="${auditGroup}"]`).waitFor()
    await page.waitForFunction(() => document.querySelector("#summary")?.textContent?.includes("updated") === true)
    await shot(page, "01-loaded.png")
    expect(await metricOf(page, "archive.ValidateDeposition", "spark-label")).toBe("0 settled in 5 min")

    await run(Outbox.emit(new ServerStarted({ instance: "e2e", startedAt: new Date() }), { dedupKey: "start:e2e" }))

    // Counts move without a reload: the validator's settled count grows, then grows again.
    const settled = async () =>
      Number((await metricOf(page, "archive.ValidateDeposition", "spark-label")).split(" ")[0])
    await expect.poll(settled, { timeout: 60_000, interval: 250 }).toBeGreaterThan(0)
    const first = await settled()
    await expect.poll(settled, { timeout: 60_000, interval: 250 }).toBeGreaterThan(first)
    // The graph reads left to right along the chain once handlers have emitted (group → type edges from causation).
    const chain = [
      "[data-type=\"archive.ServerStarted\"]",
      "[data-group=\"archive.TriggerInitialSourceRun\"]",
      "[data-type=\"archive.SourceRequested\"]",
      "[data-group=\"archive.PullFromSource\"]",
      "[data-type=\"archive.DepositionSubmitted\"]",
      "[data-group=\"archive.ValidateDeposition\"]",
      "[data-type=\"archive.ValidationCompleted\"]",
      "[data-group=\"archive.AutoApproveCuration\"]",
      "[data-type=\"archive.DepositionApproved\"]",
      "[data-group=\"archive.ConvertDepositionToRecord\"]",
      "[data-type=\"archive.RecordPublished\"]",
      "[data-group=\"archive.FanOutToIndexBackends\"]",
      "[data-type=\"archive.IndexRecord\"]",
      "[data-group=\"archive.Index.keyword\"]"
    ]
    const inOrder = () =>
      page.evaluate((selectors) => {
        const xs = selectors.map((selector) => document.querySelector(selector)?.getBoundingClientRect().left ?? NaN)
        return xs.every((x, i) => i === 0 || x > xs[i - 1]!)
      }, chain)
    await expect.poll(inOrder, { timeout: 30_000, interval: 250 }).toBe(true)
    await shot(page, "02-running.png")

    // The dead letter appears on the audit group's card; open it.
    const failures = page.locator(`[data-group="${auditGroup}"] button.failures`)
    await expect.poll(() => failures.innerText(), { timeout: 60_000, interval: 250 }).toBe("1 failed")
    await failures.click()
    const rows = page.locator("#dead-letter-rows tr[data-event-id]")
    await expect.poll(() => rows.count(), { timeout: 10_000, interval: 100 }).toBe(1)
    const row = rows.first()
    expect(await row.locator(".error-text").innerText()).toContain("checksum mismatch")
    await row.getByRole("button", { name: "Details" }).click()
    const payload = page.locator("#dead-letter-rows pre.payload")
    await payload.waitFor()
    expect(await payload.innerText()).toContain(audit.poisoned!)
    await shot(page, "03-dead-letter.png")

    // Heal the handler, press Retry, and see it delivered.
    audit.healed = true
    await row.getByRole("button", { name: "Retry" }).click()
    await expect.poll(() => page.locator("#announcer").innerText(), { timeout: 10_000 }).toBe("Requeued 1 delivery")
    await expect.poll(() => failures.innerText(), { timeout: 30_000, interval: 250 }).toBe("0 failed")
    await expect.poll(() => page.locator("#dead-letter-rows").innerText(), { timeout: 10_000 }).toBe(
      "No dead letters."
    )
    // Its delivery is pending again (behind the queue) and then delivered on the retry.
    await expect.poll(() => run(poisonedStatus), { timeout: 60_000, interval: 250 }).toBe("delivered")
    await shot(page, "04-retried.png")

    // Search the keyword index.
    await page.getByLabel("Query").fill("hippocampus")
    await page.getByRole("button", { name: "Search" }).click()
    await expect.poll(() => page.locator("#search-status").innerText(), { timeout: 10_000 }).toMatch(
      /^\d+ results in keyword$/
    )
    expect(await page.locator("#search-results li").count()).toBeGreaterThan(0)
    expect((await page.locator("#search-results li").first().innerText()).toLowerCase()).toContain("urn:osa:")
    await shot(page, "05-search.png")

    expect(reloads).toBe(1)
    expect(problems).toEqual([])
  })
})
