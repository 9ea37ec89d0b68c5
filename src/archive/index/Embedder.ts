/**
 * Embedders: turn texts into fixed-length vectors for the vector index. The interface is
 * batched on purpose (`embed` takes many texts), because real embedding models and APIs
 * are much cheaper per text in batches; the vector handler embeds 100 records per call.
 *
 * The default, {@link make}, is a local deterministic embedder (no model can be
 * downloaded here): feature hashing of a text's words, word pairs and character
 * trigrams into {@link defaults.dimensions} signed buckets. Texts sharing words, stems or
 * word fragments land close together (`hippocampus` / `hippocampal`, `mice` / `mouse`,
 * `scRNA` / `single-cell RNA-seq`); it knows no synonyms beyond a short built-in list.
 *
 * Plugging in a real model: build an {@link EmbedderService} whose `embed` sends the whole
 * batch in one request (or one model call), map failures to {@link EmbedderError} (with
 * `retryable` for 429/5xx), and provide it under the {@link Embedder} tag. The vector
 * index checks the count and length of what comes back and L2-normalises it, so the
 * model need not normalise. Changing models changes `dimensions`: re-index every
 * record of the vector backends (vectors of two models cannot be compared).
 *
 * @example
 * ```ts
 * import * as HttpClient from "@effect/platform/HttpClient"
 * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
 *
 * const remote = Layer.effect(Embedder, Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   return Embedder.of({
 *     name: "remote-minilm",
 *     dimensions: 384,
 *     embed: (texts) =>
 *       HttpClientRequest.post("http://embeddings.internal/v1/embeddings").pipe(
 *         HttpClientRequest.bodyUnsafeJson({ input: texts }),
 *         client.execute,
 *         Effect.flatMap((response) => response.json),
 *         Effect.map((body) => (body as { data: Array<{ embedding: Array<number> }> }).data.map((d) => d.embedding)),
 *         Effect.mapError((cause) =>
 *           new EmbedderError({ embedder: "remote-minilm", message: String(cause), retryable: true, cause })
 *         )
 *       )
 *   })
 * }))
 * ```
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Errors } from "../../runtime/index.js"

/** One embedding: a vector of `dimensions` numbers. */
export type Vector = Float32Array | ReadonlyArray<number>

/** Embedding failed; `retryable` says whether trying the same batch later may help. */
export class EmbedderError extends Schema.TaggedError<EmbedderError>()("EmbedderError", {
  embedder: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect)
}) {}

/** What an embedder does. */
export interface EmbedderService {
  /** Names the model (logs, errors). */
  readonly name: string
  /** Length of every vector `embed` returns. */
  readonly dimensions: number
  /** Embeds a batch: one vector per text, in order. */
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Vector>, EmbedderError>
}

/** The embedder in use, as a service. */
export class Embedder extends Context.Tag("archive/Embedder")<Embedder, EmbedderService>() {}

/** Options of the local hashing embedder. */
export interface Options {
  /** Vector length. Default 384 (the size of common small sentence models). */
  readonly dimensions?: number | undefined
}

export const defaults = { dimensions: 384 } as const

// Weights of the feature kinds: whole words carry the meaning, word pairs the phrasing,
// character trigrams the spelling (stems, typos, fragments such as "scRNA" / "RNA").
const unigramWeight = 1
const bigramWeight = 0.6
const trigramWeight = 0.25

const stopWords = new Set(
  ("a about above after again all also among an and any are as at be been before being below between both but by " +
    "can could did do does doing during each few for from further had has have having here how however i if in " +
    "into is it its itself just may more most no nor not of off on once only or other our out over own same " +
    "several she should so some such than that the their them then there these they this those through to too " +
    "under until up upon using via very was we were what when where which while who whom why will with within " +
    "without would you")
    .split(" ")
)

// Irregular plurals and the field's common abbreviations, as the words they stand for.
const canonical: Record<string, ReadonlyArray<string>> = {
  mice: ["mouse"],
  murine: ["mouse"],
  men: ["man"],
  women: ["woman"],
  children: ["child"],
  teeth: ["tooth"],
  feet: ["foot"],
  leaves: ["leaf"],
  scrna: ["single", "cell", "rna"],
  scrnaseq: ["single", "cell", "rna", "seq"],
  snrna: ["single", "nucleus", "rna"],
  snrnaseq: ["single", "nucleus", "rna", "seq"],
  rnaseq: ["rna", "seq"],
  chipseq: ["chip", "seq"],
  atacseq: ["atac", "seq"],
  sequencing: ["seq"],
  transcriptome: ["transcriptom", "rna"],
  transcriptomic: ["transcriptom", "rna"],
  transcriptomics: ["transcriptom", "rna"]
}

const suffixes = [
  "ational",
  "ization",
  "fulness",
  "ousness",
  "iveness",
  "ations",
  "ation",
  "ments",
  "ment",
  "ness",
  "ings",
  "ing",
  "ies",
  "ied",
  "ed",
  "es",
  "ic",
  "al",
  "us",
  "um",
  "a",
  "s",
  "y",
  "e"
] as const

/** Stemming-lite: strips one common suffix, keeping a stem of at least three letters. */
export const stem = (word: string): string => {
  if (word.length <= 3 || /\d/.test(word)) return word
  for (const suffix of suffixes) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) {
      const base = word.slice(0, word.length - suffix.length)
      return suffix === "ies" || suffix === "ied" ? `${base}y` : base
    }
  }
  return word
}

/** Lower-cased words without accents or stop words, hyphenated words also joined ("rna-seq" → rna, seq, rnaseq). */
export const words = (text: string): ReadonlyArray<string> => {
  const result: Array<string> = []
  const plain = text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase()
  for (const chunk of plain.split(/[^\p{L}\p{N}-]+/u)) {
    const parts = chunk.split("-").filter((part) => part.length > 0)
    const joined = parts.length > 1 ? parts.join("") : undefined
    for (const part of parts) {
      if (!stopWords.has(part)) result.push(part)
    }
    if (joined !== undefined && canonical[joined] !== undefined) result.push(joined)
  }
  return result
}

/** FNV-1a over UTF-16 code units, finished with murmur3's mixer for good low bits. */
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The weighted features of a text: stems, stem pairs and character trigrams. */
export const features = (text: string): Map<string, number> => {
  const counts = new Map<string, number>()
  const add = (feature: string, weight: number) => counts.set(feature, (counts.get(feature) ?? 0) + weight)
  const stems: Array<string> = []
  for (const word of words(text)) {
    const expanded = canonical[word]
    for (const part of expanded ?? [word]) stems.push(stem(part))
    const padded = `#${word}#`
    for (let i = 0; i + 3 <= padded.length; i++) add(`c:${padded.slice(i, i + 3)}`, 1)
  }
  for (let i = 0; i < stems.length; i++) {
    add(`w:${stems[i]}`, 1)
    if (i + 1 < stems.length) add(`b:${stems[i]} ${stems[i + 1]}`, 1)
  }
  // Sublinear term frequency: a word said five times is not five times as important.
  const weighted = new Map<string, number>()
  for (const [feature, count] of counts) {
    const kind = feature[0] === "w" ? unigramWeight : feature[0] === "b" ? bigramWeight : trigramWeight
    weighted.set(feature, kind * (1 + Math.log(count)))
  }
  return weighted
}

/** Embeds one text by signed feature hashing; the result is L2-normalised (or all zeros). */
export const embedOne = (text: string, dimensions: number = defaults.dimensions): Float32Array => {
  const vector = new Float32Array(dimensions)
  for (const [feature, weight] of features(text)) {
    const h = hash(feature)
    // The top bit picks the sign (collisions then cancel out on average), the rest the bucket.
    vector[(h & 0x7fffffff) % dimensions]! += (h & 0x80000000) === 0 ? weight : -weight
  }
  let norm = 0
  for (const value of vector) norm += value * value
  if (norm > 0) {
    const scale = 1 / Math.sqrt(norm)
    for (let i = 0; i < dimensions; i++) vector[i]! *= scale
  }
  return vector
}

/** Cosine similarity of two vectors of equal length. */
export const cosine = (a: Vector, b: Vector): number => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

const validate = (options: Options): Effect.Effect<number, Errors.InvalidConfig> => {
  const dimensions = options.dimensions ?? defaults.dimensions
  return Number.isInteger(dimensions) && dimensions >= 8 && dimensions <= 16_384
    ? Effect.succeed(dimensions)
    : Effect.fail(
      new Errors.InvalidConfig({
        subject: "Embedder",
        field: "dimensions",
        value: String(dimensions),
        rule: "must be an integer from 8 to 16384"
      })
    )
}

/**
 * The local deterministic embedder: the same text gives the same vector in every process
 * and version of Node, so vectors stored earlier stay comparable.
 */
export const make = (options: Options = {}): Effect.Effect<EmbedderService, Errors.InvalidConfig> =>
  Effect.map(validate(options), (dimensions) => ({
    name: `local-hashing-${dimensions}`,
    dimensions,
    embed: (texts) => Effect.sync(() => texts.map((text) => embedOne(text, dimensions)))
  }))

/** The local embedder as a layer. */
export const layer = (options: Options = {}): Layer.Layer<Embedder, Errors.InvalidConfig> =>
  Layer.effect(Embedder, make(options))

/** The local embedder's options from configuration (`EMBEDDER_DIMENSIONS`). */
export const config: Config.Config<Options> = Config.all({
  dimensions: Config.integer("EMBEDDER_DIMENSIONS").pipe(
    Config.withDefault(defaults.dimensions),
    Config.withDescription("length of the local embedder's vectors")
  )
})

/** The local embedder, configured from the environment. */
export const layerConfig: Layer.Layer<Embedder, Errors.InvalidConfig | ConfigError.ConfigError> = Layer.effect(
  Embedder,
  Effect.flatMap(config, make)
)
