/**
 * The samples of a run, by contender, profile and scenario, and their summaries.
 *
 * A cell's scenario is a primary measurement (`drain.b100.c2.p1`, `latency.p99`, …) or a
 * secondary one recorded with it, after a colon (`drain.b100.c2.p1:rss`).
 */
import type { ContenderName, Profile } from "./contender.js"
import type { Subject } from "./scenarios.js"
import { summarize, type Value } from "./stats.js"

/** A cell as written by `--json`. */
export interface JsonCell {
  readonly contender: ContenderName
  readonly profile: Profile
  readonly scenario: string
  readonly median: Value
  readonly min: Value
  readonly max: Value
  readonly unit: string
  /** Every sample, by repetition (null: not measurable, e.g. never caught up). */
  readonly samples: ReadonlyArray<Value>
}

interface Entry {
  readonly subject: Subject
  readonly scenario: string
  readonly unit: string
  /** By repetition (0-based); a hole where that repetition failed. */
  readonly samples: Array<Value | undefined>
}

/** The units of the cells. */
export const units = {
  events: "events/s",
  deliveries: "deliveries/s",
  ms: "ms",
  mb: "MB",
  cpu: "µs/event",
  share: "% core",
  queries: "queries/s",
  ratio: "×"
} as const

export class Results {
  private readonly entries = new Map<string, Entry>()

  record(subject: Subject, scenario: string, unit: string, value: Value, repetition: number): void {
    const key = Results.key(subject, scenario)
    const entry = this.entries.get(key) ?? { subject, scenario, unit, samples: [] }
    entry.samples[repetition] = value
    this.entries.set(key, entry)
  }

  /** The samples of one cell by repetition (undefined: not measured). */
  samples(subject: Subject, scenario: string): ReadonlyArray<Value | undefined> | undefined {
    return this.entries.get(Results.key(subject, scenario))?.samples
  }

  /** The summary of one cell, if it was measured. */
  cell(subject: Subject, scenario: string): (JsonCell & { readonly subject: Subject }) | undefined {
    const entry = this.entries.get(Results.key(subject, scenario))
    return entry === undefined ? undefined : Results.toCell(entry)
  }

  /** Every cell, in the order first recorded. */
  cells(): ReadonlyArray<JsonCell & { readonly subject: Subject }> {
    return [...this.entries.values()].map(Results.toCell)
  }

  private static key(subject: Subject, scenario: string) {
    return `${subject.contender}\u0000${subject.profile}\u0000${scenario}`
  }

  private static toCell(entry: Entry): JsonCell & { readonly subject: Subject } {
    const samples = entry.samples.filter((value): value is Value => value !== undefined)
    return {
      subject: entry.subject,
      contender: entry.subject.contender,
      profile: entry.subject.profile,
      scenario: entry.scenario,
      ...summarize(samples),
      unit: entry.unit,
      samples
    }
  }
}
