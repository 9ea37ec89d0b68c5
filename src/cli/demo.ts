/**
 * `npm run demo`: the archive pipeline over the configured sources (by default the
 * shipped sample set) on the embedded database (or `DATABASE_URL`); exits when every
 * delivery has drained, with a summary. Its last line is machine-readable:
 *
 *   demo: published <N> records, rejected <M>, indexed <V> vector / <K> keyword
 *
 * A second run on the same data folder ingests nothing new: `published 0 records`.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Archive from "../archive/Archive.js"
import * as ArchiveConfig from "../archive/ArchiveConfig.js"
import * as Run from "./Run.js"

const countOf = (summary: Run.Summary, kind: "vector" | "keyword", settings: ArchiveConfig.Settings) =>
  summary.indexed
    .filter(({ backend }) => settings.indexes.find((index) => index.name === backend)?.kind === kind)
    .reduce((total, { count }) => total + count, 0)

const program = Effect.gen(function*() {
  const settings = yield* ArchiveConfig.config
  yield* Console.log(
    `demo: sources ${settings.initialRuns.map((run) => run.source).join(", ")}; indexes ${
      settings.indexes.map((index) => `${index.name} (${index.kind})`).join(", ")
    }`
  )
  const summary = yield* Run.startAndDrain(settings).pipe(Effect.provide(Archive.layer(settings)))
  yield* Console.log(Run.table(summary))
  yield* Console.log(
    `demo: published ${summary.published} records, rejected ${summary.rejected}, indexed ${
      countOf(summary, "vector", settings)
    } vector / ${countOf(summary, "keyword", settings)} keyword`
  )
})

Run.runMain(program)
