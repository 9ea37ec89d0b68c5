/**
 * The sources the pipeline can pull from, by name. The app builds the registry from
 * whichever source layers it is given; `PullFromSource` looks sources up here.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { Source } from "./Source.js"

export interface Registry {
  readonly get: (name: string) => Source | undefined
  readonly names: ReadonlyArray<string>
}

export class Sources extends Context.Tag("archive/Sources")<Sources, Registry>() {}

/** A registry of the given sources. */
export const make = (sources: ReadonlyArray<Source>): Registry => {
  const byName = new Map(sources.map((source) => [source.name, source]))
  return { get: (name) => byName.get(name), names: [...byName.keys()] }
}

export const layer = (sources: ReadonlyArray<Source>) => Layer.succeed(Sources, make(sources))
