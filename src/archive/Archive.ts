/**
 * The archive application, assembled: its services as one Layer, its handlers as one
 * worker pool, and its schema's migrations.
 *
 * @example
 * ```ts
 * const settings = yield* ArchiveConfig.config
 * yield* Archive.migrate(settings)
 * yield* Layer.build(Archive.pool(settings).pipe(Layer.provide(Archive.layer(settings))))
 * ```
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Topology from "../dashboard/Topology.js"
import { WorkerPool } from "../runtime/index.js"
import * as ArchiveConfig from "./ArchiveConfig.js"
import * as ArchiveMigrations from "./ArchiveMigrations.js"
import * as ArchiveStore from "./ArchiveStore.js"
import * as Embedder from "./index/Embedder.js"
import * as KeywordIndex from "./index/KeywordIndex.js"
import * as VectorIndex from "./index/VectorIndex.js"
import * as Pipeline from "./Pipeline.js"
import * as Search from "./search/Search.js"
import * as FileSource from "./source/FileSource.js"
import * as Geo from "./source/Geo.js"
import * as Sources from "./source/Sources.js"

/** Every source the archive knows: the shipped sample file and GEO (used only when configured). */
const sources = Layer.effect(
  Sources.Sources,
  Effect.gen(function*() {
    const file = yield* FileSource.FileSource
    const geo = yield* Geo.GeoSource
    return Sources.make([file, geo])
  })
).pipe(
  Layer.provide(Layer.merge(FileSource.layerConfig, Geo.layerConfig)),
  Layer.provide(Layer.merge(NodeFileSystem.layer, NodeHttpClient.layerUndici))
)

/** What each stage emits, for the dashboard's graph (the fan-out is a batch handler, whose emits carry no causation). */
const declaredEmits = Layer.succeed(Topology.DeclaredEmits, [
  { group: "archive.TriggerInitialSourceRun", type: "archive.SourceRequested" },
  { group: "archive.PullFromSource", type: "archive.DepositionSubmitted" },
  { group: "archive.PullFromSource", type: "archive.SourceRequested" },
  { group: "archive.PullFromSource", type: "archive.SourceRunCompleted" },
  { group: "archive.ValidateDeposition", type: "archive.ValidationCompleted" },
  { group: "archive.AutoApproveCuration", type: "archive.DepositionApproved" },
  { group: "archive.ConvertDepositionToRecord", type: "archive.RecordPublished" },
  { group: "archive.FanOutToIndexBackends", type: "archive.IndexRecord" }
])

/** Replacements for the archive's pluggable services (a real embedding model, test doubles). */
export interface Overrides {
  readonly embedder?: Layer.Layer<Embedder.Embedder, unknown> | undefined
  readonly sources?: Layer.Layer<Sources.Sources, unknown> | undefined
}

/** The archive's services for the given settings (the runtime's come from `Sluice.layer`). */
export const layer = (settings: ArchiveConfig.Settings, overrides: Overrides = {}) => {
  const indexes = Layer.merge(
    KeywordIndex.layer({ schema: settings.schema }),
    VectorIndex.layer({ schema: settings.schema })
  ).pipe(Layer.provideMerge(overrides.embedder ?? Embedder.layerConfig))
  return Layer.mergeAll(
    declaredEmits,
    ArchiveStore.layer,
    overrides.sources ?? sources,
    indexes,
    Search.layer(settings.indexes).pipe(Layer.provide(indexes))
  ).pipe(Layer.provideMerge(ArchiveConfig.layer(settings)))
}

/** The pipeline's handlers as a worker pool. */
export const pool = (
  settings: ArchiveConfig.Settings,
  options: WorkerPool.Options = {},
  tuning: Pipeline.Tuning = {}
) => WorkerPool.layer(Pipeline.handlers(settings, tuning), options)

/** Applies the archive's migrations (safe from several processes at once). */
export const migrate = (settings: ArchiveConfig.Settings) => ArchiveMigrations.migrate(settings.schema)
