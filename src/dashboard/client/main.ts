/// <reference lib="dom" />
/**
 * The dashboard in the browser: the pipeline graph with live group figures (polling the
 * JSON API every 2 seconds, no page reload), a dead-letter view per group with Retry and
 * Skip, and search over the archive's indexes. Plain DOM, no framework; bundled by
 * esbuild when the server starts (see `../Dashboard.ts`).
 */
import type * as Api from "../../http/Api.js"
import { sparklinePoints } from "./sparkline.js"

// The JSON the server sends: the encoded side of the API's own schemas (types only; the
// bundle imports nothing from the server).
type GroupsLive = typeof Api.GroupsLive.Encoded
type Topology = typeof Api.TopologyView.Encoded
type TopologyNode = Topology["nodes"][number]
type DeadLetter = typeof Api.DeadLetterView.Encoded
type DeadLetterDetail = typeof Api.DeadLetterDetailView.Encoded
type IndexInfo = typeof Api.IndexInfo.Encoded
type SearchResults = typeof Api.SearchResults.Encoded

const groupsInterval = 2_000
const topologyInterval = 3_000

const byId = <E extends HTMLElement>(id: string) => document.getElementById(id) as E

/** Creates an element with attributes and children (strings become text, never HTML). */
const h = (
  tag: string,
  attributes: Record<string, string> = {},
  ...children: ReadonlyArray<Node | string>
): HTMLElement => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value)
  element.append(...children)
  return element
}

const svg = (tag: string, attributes: Record<string, string> = {}) => {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value)
  return element
}

class RequestFailed extends Error {}

const request = async <A>(url: string, init?: RequestInit): Promise<A> => {
  const response = await fetch(url, { ...init, headers: { accept: "application/json", ...init?.headers } })
  const text = await response.text()
  const body = text.length > 0 ? JSON.parse(text) : undefined
  if (!response.ok) {
    throw new RequestFailed(typeof body?.message === "string" ? body.message : `${response.status} ${url}`)
  }
  return body as A
}

const post = <A>(url: string, body: unknown) =>
  request<A>(url, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } })

const announce = (text: string) => {
  byId("announcer").textContent = text
}

const showError = (text: string | null) => {
  const banner = byId("error")
  banner.hidden = text === null
  banner.textContent = text ?? ""
}

const formatMillis = (ms: number | null) =>
  ms === null ?
    "–" :
    ms < 1_000 ?
    `${Math.round(ms)} ms` :
    ms < 60_000 ?
    `${(ms / 1000).toFixed(1)} s` :
    `${Math.round(ms / 60_000)} min`

// ---------------------------------------------------------------------------
// Graph
// ---------------------------------------------------------------------------

let topologyKey = ""
let latest: GroupsLive | undefined

const metric = (name: string, label: string) =>
  h("div", { class: "metric" }, h("dt", {}, label), h("dd", { "data-metric": name }, "–"))

/** A dotted name that may break after each dot (`archive.<wbr>IndexRecord`). */
const dotted = (name: string): Array<Node | string> =>
  name.split(".").flatMap((part, i, parts) => i < parts.length - 1 ? [`${part}.`, h("wbr")] : [part])

const groupCard = (node: TopologyNode) => {
  const failures = h("button", {
    type: "button",
    class: "failures",
    "data-action": "dead-letters",
    "aria-label": `dead letters of ${node.name}`
  }, "0 failed")
  failures.addEventListener("click", () => void openDeadLetters(node.name))
  const spark = svg("svg", {
    class: "spark",
    viewBox: "0 0 120 28",
    preserveAspectRatio: "none",
    "aria-hidden": "true"
  })
  spark.append(svg("polyline", { points: "" }))
  return h(
    "article",
    { class: "node group", id: node.id, "data-group": node.name },
    h("h3", {}, ...dotted(node.name)),
    h(
      "dl",
      {},
      metric("pending", "depth"),
      metric("claimed", "in flight"),
      metric("throughput", "per min"),
      metric("p95", "p95 lag"),
      metric("oldest", "oldest")
    ),
    spark,
    h("p", { class: "spark-label", "data-metric": "spark-label" }),
    failures
  )
}

const typeCard = (node: TopologyNode) =>
  h("article", { class: "node type", id: node.id, "data-type": node.name }, h("h3", {}, ...dotted(node.name)))

const renderTopology = (topology: Topology) => {
  const key = JSON.stringify(topology)
  if (key === topologyKey) return
  topologyKey = key
  const graph = byId("graph")
  const columns = Math.max(0, ...topology.nodes.map((node) => node.column)) + 1
  const lists = Array.from({ length: columns }, () => h("div", { class: "column", role: "list" }))
  for (const node of topology.nodes) {
    const card = node.kind === "group" ? groupCard(node) : typeCard(node)
    card.setAttribute("role", "listitem")
    const takes = topology.edges.filter((edge) => edge.to === node.id).map((edge) => edge.from.replace(/^\w+:/, ""))
    const feeds = topology.edges.filter((edge) => edge.from === node.id).map((edge) => edge.to.replace(/^\w+:/, ""))
    card.append(
      h(
        "p",
        { class: "visually-hidden" },
        `${node.kind === "group" ? "consumer group" : "event type"}; from: ${takes.join(", ") || "none"}; to: ${
          feeds.join(", ") || "none"
        }`
      )
    )
    lists[node.column]!.append(card)
  }
  const edges = svg("svg", { class: "edges", "aria-hidden": "true" })
  graph.replaceChildren(edges, ...lists)
  drawEdges(topology)
  if (latest !== undefined) renderGroups(latest)
}

const drawEdges = (topology: Topology) => {
  const graph = byId("graph")
  const layer = graph.querySelector("svg.edges")
  if (layer === null) return
  const origin = graph.getBoundingClientRect()
  layer.setAttribute("width", String(graph.scrollWidth))
  layer.setAttribute("height", String(graph.scrollHeight))
  layer.replaceChildren()
  for (const edge of topology.edges) {
    const from = document.getElementById(edge.from)?.getBoundingClientRect()
    const to = document.getElementById(edge.to)?.getBoundingClientRect()
    if (from === undefined || to === undefined) continue
    const x1 = from.right - origin.left + graph.scrollLeft
    const y1 = from.top + from.height / 2 - origin.top + graph.scrollTop
    const x2 = to.left - origin.left + graph.scrollLeft
    const y2 = to.top + to.height / 2 - origin.top + graph.scrollTop
    const back = x2 <= x1
    const bend = back ? 60 : Math.max(20, (x2 - x1) / 2)
    const path = back
      ? `M ${x1} ${y1} C ${x1 + bend} ${y1 - 50}, ${x2 - bend} ${y2 - 50}, ${x2} ${y2}`
      : `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`
    layer.append(svg("path", { d: path, class: back ? "edge back" : "edge" }))
    if (edge.routingKey !== null) {
      const label = svg("text", { x: String(x2 - 4), y: String(y2 - 5), class: "edge-label" })
      label.textContent = edge.routingKey
      layer.append(label)
    }
  }
}

const setText = (card: Element, name: string, text: string) => {
  const target = card.querySelector(`[data-metric="${name}"]`)
  if (target !== null && target.textContent !== text) target.textContent = text
}

const renderGroups = (live: GroupsLive) => {
  latest = live
  let failing = 0
  for (const group of live.groups) {
    const card = document.querySelector(`[data-group="${CSS.escape(group.group)}"]`)
    if (card === null) continue
    setText(card, "pending", String(group.pending))
    setText(card, "claimed", String(group.claimed))
    setText(card, "throughput", group.throughputPerMinute.toFixed(group.throughputPerMinute < 10 ? 1 : 0))
    setText(card, "p95", formatMillis(group.p95LatencyMs))
    setText(card, "oldest", formatMillis(group.oldestPendingAgeMs))
    const total = group.settledPerBucket.reduce((sum, n) => sum + n, 0)
    setText(card, "spark-label", `${total} settled in ${live.windowSeconds / 60} min`)
    card.querySelector("polyline")?.setAttribute("points", sparklinePoints(group.settledPerBucket, 120, 28))
    const failures = card.querySelector<HTMLButtonElement>("button.failures")!
    failures.textContent = `${group.failed} failed`
    failures.classList.toggle("has-failures", group.failed > 0)
    card.classList.toggle("failing", group.failed > 0)
    if (group.failed > 0) failing++
  }
  const totals = live.groups.reduce(
    (sum, group) => ({ pending: sum.pending + group.pending, failed: sum.failed + group.failed }),
    { pending: 0, failed: 0 }
  )
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
  byId("summary").textContent = `${
    plural(live.groups.length, "group")
  } · ${totals.pending} pending · ${totals.failed} failed${
    failing > 0 ? ` in ${plural(failing, "group")}` : ""
  } · updated ${new Date(live.at).toLocaleTimeString()}`
  if (openGroup !== undefined) {
    const group = live.groups.find((entry) => entry.group === openGroup)
    if (group !== undefined && group.failed !== shownFailed) void openDeadLetters(openGroup)
  }
}

// ---------------------------------------------------------------------------
// Dead letters
// ---------------------------------------------------------------------------

let openGroup: string | undefined
let shownFailed = -1

const act = async (action: "retry" | "skip", letter: DeadLetter) => {
  const { count } = await post<{ count: number }>(`/api/v1/ops/dead-letters/${action}`, {
    deliveries: [{ eventId: letter.eventId, group: letter.group }]
  })
  announce(`${action === "retry" ? "Requeued" : "Skipped"} ${count} ${count === 1 ? "delivery" : "deliveries"}`)
  await refreshGroups()
  if (openGroup !== undefined) await openDeadLetters(openGroup)
}

const detailRow = async (letter: DeadLetter, row: HTMLTableRowElement, button: HTMLButtonElement) => {
  const next = row.nextElementSibling
  if (next?.classList.contains("detail")) {
    next.remove()
    button.setAttribute("aria-expanded", "false")
    return
  }
  const details = await request<ReadonlyArray<DeadLetterDetail>>(
    `/api/v1/ops/dead-letters/${letter.eventId}?group=${encodeURIComponent(letter.group)}`
  )
  const detail = details[0]
  const cell = h("td", { colspan: "6" })
  if (detail === undefined) {
    cell.append("No longer a dead letter.")
  } else {
    cell.append(
      h("h4", {}, "Payload"),
      h("pre", { class: "payload" }, JSON.stringify(detail.payload, null, 2)),
      h("h4", {}, "Attempts"),
      h(
        "ol",
        { class: "attempts" },
        ...detail.errors.map((error) =>
          h("li", {}, `#${error.attempt} at ${new Date(error.at).toLocaleString()}: ${error.error}`)
        )
      )
    )
  }
  row.after(h("tr", { class: "detail" }, cell))
  button.setAttribute("aria-expanded", "true")
}

const openDeadLetters = async (group: string) => {
  const previous = openGroup
  openGroup = group
  const panel = byId("dead-letters")
  panel.hidden = false
  byId("dead-letters-title").textContent = `Dead letters of ${group}`
  const letters = await request<ReadonlyArray<DeadLetter>>(
    `/api/v1/ops/dead-letters?group=${encodeURIComponent(group)}&limit=100`
  )
  shownFailed = latest?.groups.find((entry) => entry.group === group)?.failed ?? letters.length
  const body = byId("dead-letter-rows")
  if (letters.length === 0) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "6" }, "No dead letters.")))
  } else {
    body.replaceChildren(...letters.map((letter) => {
      const details = h("button", { type: "button", "aria-expanded": "false" }, "Details") as HTMLButtonElement
      const retry = h("button", { type: "button", "data-action": "retry" }, "Retry")
      const skip = h("button", { type: "button", "data-action": "skip" }, "Skip")
      const row = h(
        "tr",
        { "data-event-id": letter.eventId },
        h("td", {}, letter.eventId),
        h("td", {}, letter.type + (letter.routingKey === null ? "" : ` [${letter.routingKey}]`)),
        h("td", { class: "number" }, String(letter.attempts)),
        h("td", { class: "error-text" }, letter.lastError ?? ""),
        h("td", {}, new Date(letter.failedAt).toLocaleString()),
        h("td", { class: "actions" }, details, retry, skip)
      ) as HTMLTableRowElement
      details.addEventListener("click", () => void detailRow(letter, row, details).catch(report))
      retry.addEventListener("click", () => void act("retry", letter).catch(report))
      skip.addEventListener("click", () => void act("skip", letter).catch(report))
      return row
    }))
  }
  if (previous !== group) byId("dead-letters-title").focus()
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

const search = async (event: SubmitEvent) => {
  event.preventDefault()
  const index = byId<HTMLSelectElement>("search-index").value
  const q = byId<HTMLInputElement>("search-q").value
  const list = byId("search-results")
  const status = byId("search-status")
  try {
    const found = await request<SearchResults>(
      `/api/v1/search/${encodeURIComponent(index)}?q=${encodeURIComponent(q)}&limit=10`
    )
    status.textContent = `${found.total} results in ${index}`
    list.replaceChildren(...found.results.map((result) =>
      h(
        "li",
        {},
        h("span", { class: "title" }, result.title),
        " ",
        h("code", {}, result.srn),
        " ",
        h("span", { class: "score" }, result.score.toFixed(3))
      )
    ))
  } catch (cause) {
    status.textContent = cause instanceof Error ? cause.message : String(cause)
    list.replaceChildren()
  }
}

// ---------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------

const report = (cause: unknown) => showError(cause instanceof Error ? cause.message : String(cause))

const refreshGroups = async () => {
  renderGroups(await request<GroupsLive>("/api/v1/ops/groups"))
  showError(null)
}

const refreshTopology = async () => renderTopology(await request<Topology>("/api/v1/ops/topology"))

const loadIndexes = async () => {
  const indexes = await request<ReadonlyArray<IndexInfo>>("/api/v1/search")
  byId<HTMLSelectElement>("search-index").replaceChildren(
    ...indexes.map((index) => h("option", { value: index.name }, `${index.name} (${index.kind})`))
  )
}

const every = (millis: number, task: () => Promise<void>) => {
  const run = () =>
    task().catch(report).finally(() => {
      setTimeout(run, millis)
    })
  void run()
}

const start = () => {
  byId<HTMLFormElement>("search").addEventListener("submit", (event) => void search(event))
  byId("dead-letters-close").addEventListener("click", () => {
    openGroup = undefined
    byId("dead-letters").hidden = true
  })
  window.addEventListener("resize", () => {
    if (topologyKey !== "") drawEdges(JSON.parse(topologyKey) as Topology)
  })
  void loadIndexes().catch(report)
  every(topologyInterval, refreshTopology)
  every(groupsInterval, refreshGroups)
}

start()
