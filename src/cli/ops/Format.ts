/**
 * How the `sluice` tool prints: plain-text tables for people, and the values of the
 * operations API as JSON for scripts.
 */
import type { DeadLetter, DeadLetterDetail, GroupStatus } from "../../ops/Operations.js"
import type { ChangeRow } from "../../runtime/Store.js"
import { formatAge } from "./Parse.js"

/** A table with a header row; the columns listed in `right` are right-aligned. */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  right: ReadonlyArray<number> = []
): string => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, column) => right.includes(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd()
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n")
}

const throughput = (perMinute: number) => perMinute === 0 ? "0" : perMinute.toFixed(perMinute < 10 ? 1 : 0)

/** `sluice status`: one row per consumer group. */
export const statusTable = (groups: ReadonlyArray<GroupStatus>): string =>
  groups.length === 0 ? "no consumer groups yet" : table(
    ["group", "pending", "due", "claimed", "failed", "skipped", "delivered 1h", "oldest pending", "per min (5m)"],
    groups.map((group) => [
      group.group,
      String(group.pending),
      String(group.due),
      String(group.claimed),
      String(group.failed),
      String(group.skipped),
      String(group.deliveredLastHour),
      group.oldestPendingAgeMs === null ? "-" : formatAge(group.oldestPendingAgeMs),
      throughput(group.throughputPerMinute)
    ]),
    [1, 2, 3, 4, 5, 6, 7, 8]
  )

const oneLine = (text: string | null, width: number) => {
  if (text === null) return ""
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat
}

/** `sluice failed`: one row per dead letter. */
export const failedTable = (letters: ReadonlyArray<DeadLetter>): string =>
  letters.length === 0 ? "no dead letters" : table(
    ["event", "group", "type", "attempts", "failed at", "last error"],
    letters.map((letter) => [
      letter.eventId,
      letter.group,
      letter.type,
      String(letter.attempts),
      letter.failedAt.toISOString(),
      oneLine(letter.lastError, 80)
    ]),
    [0, 3]
  )

const indent = (text: string, by = "  ") => text.split("\n").map((line) => `${by}${line}`).join("\n")

/** `sluice failed show`: one block per failed group of the event. */
export const detail = (letters: ReadonlyArray<DeadLetterDetail>): string =>
  letters.map((letter) =>
    [
      `event ${letter.eventId} · ${letter.type} · group ${letter.group}`,
      `  routing key  ${letter.routingKey ?? "-"}`,
      `  created      ${letter.createdAt.toISOString()}`,
      `  failed       ${letter.failedAt.toISOString()} after ${letter.attempts} attempt${
        letter.attempts === 1 ? "" : "s"
      }`,
      "  payload",
      indent(JSON.stringify(letter.payload, null, 2), "    "),
      "  metadata",
      indent(JSON.stringify(letter.metadata, null, 2), "    "),
      `  errors (${letter.errors.length})`,
      ...(letter.errors.length === 0
        ? [`    (none recorded; last error: ${letter.lastError ?? "-"})`]
        : letter.errors.map((error) =>
          `    #${error.attempt}  ${error.at.toISOString()}\n${indent(error.error.trimEnd(), "        ")}`
        ))
    ].join("\n")
  ).join("\n\n")

/** `sluice events tail`: one line per event. */
export const changeLine = (row: ChangeRow): string =>
  `${row.created_at.toISOString()}  #${row.id}  ${row.type}${
    row.routing_key === null ? "" : ` [${row.routing_key}]`
  }  ${oneLine(JSON.stringify(row.payload), 160)}`

/** An event of the changefeed as JSON. */
export const changeJson = (row: ChangeRow) => ({
  id: row.id,
  type: row.type,
  routingKey: row.routing_key,
  payload: row.payload,
  metadata: row.metadata,
  createdAt: row.created_at
})

/** A progress bar: `[#######.............]  35%  350/1000`. */
export const bar = (done: number, total: number, width = 30): string => {
  const fraction = total === 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(fraction * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
    String(Math.round(fraction * 100)).padStart(3)
  }%  ${done}/${total}`
}
