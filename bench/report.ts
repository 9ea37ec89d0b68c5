/**
 * The readable report of a run: one table per scenario, the ratios of sluice to each
 * peer (computed within the run), and the issue's targets.
 */
import type { Probe } from "./probe.js"
import type { JsonCell, Results } from "./results.js"
import * as S from "./scenarios.js"
import type { Subject } from "./scenarios.js"
import type { Value } from "./stats.js"

const number = (value: Value, digits?: number): string => {
  if (value === null) return "never"
  const places = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2)
  return value.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places })
}

const range = (cell: JsonCell | undefined, digits?: number) =>
  cell === undefined ? "" : `${number(cell.min, digits)}–${number(cell.max, digits)}`

const median = (cell: JsonCell | undefined, digits?: number) => cell === undefined ? "" : number(cell.median, digits)

/** A Markdown table (GitHub style), columns padded so it also reads as plain text. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join(" | ")} |`
  const rule = `|${widths.map((width, i) => i === 0 ? "-".repeat(width + 2) : `${"-".repeat(width + 1)}:`).join("|")}|`
  return [line(headers), rule, ...rows.map(line)].join("\n")
}

/** Rows of throughput cells (rate and its secondary measurements). */
const throughputRows = (results: Results, predicate: (cell: JsonCell) => boolean) =>
  results.cells()
    .filter((cell) => !cell.scenario.includes(":") && predicate(cell))
    .map((cell) => {
      const secondary = (suffix: string) => results.cell(cell.subject, `${cell.scenario}:${suffix}`)
      return [
        S.subjectName(cell.subject),
        cell.scenario,
        median(cell, 0),
        range(cell, 0),
        median(secondary("rss"), 0),
        median(secondary("cpu-worker"), 1),
        median(secondary("cpu-pg"), 1)
      ]
    })

const throughputHeaders = ["contender", "scenario", "median /s", "min–max", "RSS MB", "worker µs/ev", "PG µs/ev"]

/**
 * The best drain cell of a subject (highest median rate): of any profile for sluice and raw
 * ("best settings of each"; raw's `effect` floor is not one of raw's settings, and sluice's
 * `lean` deployment is not one the peers get), of the subject's own profile for the peers,
 * whose profiles are rows of their own.
 */
export const bestDrain = (results: Results, subject: Subject, anyProfile = S.hasOneProfile(subject)) =>
  results.cells()
    .filter((cell) =>
      cell.contender === subject.contender &&
      (cell.profile === subject.profile ||
        anyProfile && cell.profile !== S.rawEffect.profile && cell.profile !== S.sluiceLean.profile) &&
      cell.scenario.startsWith("drain.") && !cell.scenario.includes(":")
    )
    .reduce<(JsonCell & { readonly subject: Subject }) | undefined>(
      (best, cell) => best === undefined || (cell.median ?? 0) > (best.median ?? 0) ? cell : best,
      undefined
    )

/** The subject whose install `emit.*` was measured with (graphile-worker's profiles share one). */
const emitter = (subject: Subject): Subject => subject.contender === "graphile-worker" ? S.graphileDefault : subject

const ratioOf = (ours: JsonCell | undefined, theirs: JsonCell | undefined) => {
  if (ours?.median == null || theirs?.median == null || theirs.median === 0) return undefined
  const perRepetition = ours.samples.flatMap((value, i) => {
    const other = theirs.samples[i]
    return value === null || other === null || other === undefined || other === 0 ? [] : [value / other]
  })
  return {
    ratio: ours.median / theirs.median,
    min: Math.min(...perRepetition),
    max: Math.max(...perRepetition)
  }
}

const showRatio = (ratio: ReturnType<typeof ratioOf>) =>
  ratio === undefined
    ? ""
    : `${number(ratio.ratio, 2)}× (${number(ratio.min, 2)}–${number(ratio.max, 2)})`

/** The ratios of sluice to each peer, medians over medians (per-repetition range in brackets). */
const ratioRows = (results: Results) => {
  const ours = (scenario: string) => results.cell(S.sluice, scenario)
  return S.subjects.filter((subject) => subject.contender !== "sluice").map((peer) => [
    S.subjectName(peer),
    showRatio(ratioOf(bestDrain(results, S.sluice), bestDrain(results, peer))),
    showRatio(ratioOf(bestDrain(results, S.sluice, false), bestDrain(results, peer, false))),
    showRatio(ratioOf(ours("emit.batch"), results.cell(emitter(peer), "emit.batch"))),
    showRatio(ratioOf(ours("emit.each"), results.cell(emitter(peer), "emit.each"))),
    showRatio(ratioOf(ours("latency.p50"), results.cell(peer, "latency.p50"))),
    showRatio(ratioOf(ours("latency.p99"), results.cell(peer, "latency.p99")))
  ])
}

const targetRows = (results: Results) => {
  const drain = bestDrain(results, S.sluice)
  const drainRatio = (peer: Subject) => ratioOf(drain, bestDrain(results, peer))?.ratio
  const eachRatio = (scenario: string) => {
    const best = Math.max(
      ...[S.graphileDefault, S.bossDefault, S.bossTuned].map((peer) => results.cell(peer, scenario)?.median ?? 0)
    )
    const ours = results.cell(S.sluice, scenario)?.median
    return ours == null || best === 0 ? undefined : ours / best
  }
  const p50 = results.cell(S.sluice, "latency.p50")?.median
  const p99 = results.cell(S.sluice, "latency.p99")?.median
  const rssOf = (cell: ReturnType<typeof bestDrain>) =>
    cell === undefined ? undefined : results.cell(cell.subject, `${cell.scenario}:rss`)?.median
  const rss = rssOf(drain)
  const floor = bestDrain(results, S.rawEffect, false)
  const lean = results.cell(S.sluiceLean, "drain.b500.c2.p1:rss")?.median
  const bloat = results.cell(S.sluice, "bloat.ratio")?.median
  const idleQueries = results.cell(S.sluice, "idle.queries")?.median
  const idleCpu = results.cell(S.sluice, "idle:cpu-worker")?.median
  const check = (label: string, target: string, value: number | null | undefined, ok: (v: number) => boolean) => [
    label,
    target,
    value == null ? "not measured" : number(value, 2),
    value == null ? "" : ok(value) ? "yes" : "NO"
  ]
  return [
    check("drain vs graphile-worker tuned", "≥ 1.5×", drainRatio(S.graphileTuned), (v) => v >= 1.5),
    check("drain vs pg-boss tuned", "≥ 1.8×", drainRatio(S.bossTuned), (v) => v >= 1.8),
    check("drain vs raw (best)", "≥ 0.8×", drainRatio(S.raw), (v) => v >= 0.8),
    check(
      "… the stack's floor (raw effect) vs raw",
      "≥ 0.8×",
      ratioOf(floor, bestDrain(results, S.raw))?.ratio,
      (v) => v >= 0.8
    ),
    check("latency p50 (ms)", "≤ 1.5", p50, (v) => v <= 1.5),
    check("latency p99 (ms)", "≤ 5", p99, (v) => v <= 5),
    check(
      "emit batch vs graphile-worker",
      "≥ 1.2×",
      ratioOf(results.cell(S.sluice, "emit.batch"), results.cell(S.graphileDefault, "emit.batch"))?.ratio,
      (v) => v >= 1.2
    ),
    check("emit one per tx vs best peer", "≥ 1.5×", eachRatio("emit.each"), (v) => v >= 1.5),
    check("… its first events in a fresh process", "≥ 1.5×", eachRatio("emit.each.cold"), (v) => v >= 1.5),
    check("drain peak RSS (MB)", "≤ 90", rss, (v) => v <= 90),
    check("… the stack's floor (raw effect)", "≤ 90", rssOf(floor), (v) => v <= 90),
    check("… sluice lean (bundled, 1 MB semi-space), b500", "≤ 90", lean, (v) => v <= 90),
    check("drain after bloat vs fresh", "≥ 0.8×", bloat, (v) => v >= 0.8),
    check("idle queries/s (8 handlers, 1 s poll)", "≤ 8", idleQueries, (v) => v <= 8),
    check("idle worker CPU (% core)", "≈ 0", idleCpu, (v) => v < 0.5)
  ]
}

/** The whole report, as Markdown. */
export const render = (results: Results): string => {
  const cells = results.cells()
  const latencySubjects = S.subjects.filter((subject) => results.cell(subject, "latency.p50") !== undefined)
  const idleSubjects = S.subjects.filter((subject) => results.cell(subject, "idle.queries") !== undefined)
  const bloatSubjects = S.subjects.filter((subject) => results.cell(subject, "bloat.ratio") !== undefined)
  const sections: Array<string> = []
  const section = (title: string, body: string) => {
    if (body !== "") sections.push(`### ${title}\n\n${body}`)
  }
  const rowsOr = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
    rows.length === 0 ? "" : table(headers, rows)

  section(
    "Drain (pre-filled events, no-op handler; b = batch, c = loops per process, p = processes)",
    rowsOr(throughputHeaders, throughputRows(results, (cell) => cell.scenario.startsWith("drain.")))
  )
  section(
    "Emit (events/s: one call with N events; one event per transaction, back to back)",
    rowsOr(throughputHeaders, throughputRows(results, (cell) => cell.scenario.startsWith("emit.")))
  )
  section(
    "Latency at 200 events/s, one per transaction: commit → handler start (ms)",
    rowsOr(
      ["contender", "p50", "p95", "p99", "p50 min–max", "p99 min–max", "missed", "RSS MB", "worker µs/ev", "PG µs/ev"],
      latencySubjects.map((subject) => {
        const get = (scenario: string) => results.cell(subject, scenario)
        return [
          S.subjectName(subject),
          median(get("latency.p50")),
          median(get("latency.p95")),
          median(get("latency.p99")),
          range(get("latency.p50")),
          range(get("latency.p99")),
          median(get("latency:missed"), 0),
          median(get("latency:rss"), 0),
          median(get("latency:cpu-worker"), 1),
          median(get("latency:cpu-pg"), 1)
        ]
      })
    )
  )
  section(
    "Fan-out: each event to 3 consumer groups, deliveries/s (graphile-worker and pg-boss have no consumer groups: not measured)",
    rowsOr(throughputHeaders, throughputRows(results, (cell) => cell.scenario.startsWith("fanout")))
  )
  section(
    "Bloat: drain (b100 c2, pruning on) on fresh tables and after events passed through",
    rowsOr(
      [...throughputHeaders.slice(0, 4), "RSS MB", "worker µs/ev", "PG µs/ev"],
      throughputRows(results, (cell) => cell.scenario.startsWith("bloat.") && cell.unit === "deliveries/s")
    ) + (bloatSubjects.length === 0 ? "" : "\n\n" + table(
      ["contender", "after ÷ fresh", "min–max", "pass-through /s", "DB size after, MB"],
      bloatSubjects.map((subject) => {
        const scenarios = cells.filter((cell) => cell.contender === subject.contender).map((cell) => cell.scenario)
        const churn = scenarios.find((scenario) => scenario.startsWith("bloat.churn"))
        const size = scenarios.find((scenario) => scenario.endsWith(":db-size"))
        return [
          S.subjectName(subject),
          median(results.cell(subject, "bloat.ratio"), 2),
          range(results.cell(subject, "bloat.ratio"), 2),
          churn === undefined ? "" : median(results.cell(subject, churn), 0),
          size === undefined ? "" : median(results.cell(subject, size), 0)
        ]
      })
    ))
  )
  section(
    "Idle: a pool of 8 handlers with nothing to do",
    rowsOr(
      ["contender", "queries/s", "min–max", "worker % core", "PG % core", "RSS MB"],
      idleSubjects.map((subject) => {
        const get = (scenario: string) => results.cell(subject, scenario)
        return [
          S.subjectName(subject),
          median(get("idle.queries"), 1),
          range(get("idle.queries"), 1),
          median(get("idle:cpu-worker"), 2),
          median(get("idle:cpu-pg"), 2),
          median(get("idle:rss"), 0)
        ]
      })
    )
  )
  section(
    "sluice ÷ peer, same run (medians; per-repetition range in brackets; latency: lower is better)",
    table(
      [
        "peer",
        "drain (best of each)",
        "drain (default profiles)",
        "emit batch",
        "emit one/tx",
        "latency p50",
        "latency p99"
      ],
      ratioRows(results)
    )
  )
  section("Targets of issue 4", table(["target", "wanted", "measured", "met"], targetRows(results)))
  return sections.join("\n\n")
}

/** The machine's probes through the run: a phase far off the others was disturbed for every contender. */
export const renderProbes = (probes: ReadonlyArray<Probe>): string =>
  probes.length === 0 ? "" : `### The machine through the run (probed before each phase)

${
    table(
      ["before", "CPU loop ms", "commit ms", "commit p95 ms"],
      probes.map((p) => [p.phase, number(p.cpuMs, 1), number(p.commitMs, 2), number(p.commitP95Ms, 2)])
    )
  }`
