import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Embedder from "../../src/archive/index/Embedder.js"
import { KeywordIndex } from "../../src/archive/index/KeywordIndex.js"
import * as KeywordIndexModule from "../../src/archive/index/KeywordIndex.js"
import * as VectorIndexModule from "../../src/archive/index/VectorIndex.js"
import { VectorIndex } from "../../src/archive/index/VectorIndex.js"
import * as Search from "../../src/archive/search/Search.js"
import * as ArchiveDatabase from "../support/ArchiveDatabase.js"

const backends: ReadonlyArray<Search.Backend> = [
  { name: "keyword", kind: "keyword" },
  { name: "my-index", kind: "keyword" },
  { name: "vector", kind: "vector" },
  { name: "vector-b", kind: "vector" }
]

const Indexes = Layer.mergeAll(KeywordIndexModule.layer(), VectorIndexModule.layer()).pipe(
  Layer.provide(Embedder.layer())
)

const TestLayer = Search.layer(backends).pipe(
  Layer.provideMerge(Indexes),
  Layer.provideMerge(ArchiveDatabase.layer)
)

const srn = (id: string) => `urn:osa:osa.example.org:rec:${id}@1`
const t0 = new Date("2024-05-01T00:00:00Z")
const page = { limit: 10, offset: 0 }

const rowCount = (table: "keyword_index" | "vector_index", backend: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ n: number }>`SELECT count(*)::int AS n FROM archive.${sql(table)} WHERE backend = ${backend}`,
      (rows) => rows[0]!.n
    ))

const studies = [
  {
    id: "gse1001",
    title: "Single-cell RNA-seq of mouse hippocampus",
    text: "Transcriptomes of 20,000 cells from the adult mouse dentate gyrus and CA1."
  },
  {
    id: "gse1002",
    title: "Hippocampal neurons in mice, scRNA",
    text: "Neuronal subtypes of the murine hippocampal formation profiled by single-cell sequencing."
  },
  {
    id: "gse1003",
    title: "Adult mouse brain atlas",
    text: "Bulk RNA-seq across brain regions, including cortex, striatum, cerebellum and hippocampus."
  },
  {
    id: "gse1004",
    title: "ChIP-seq of yeast chromatin",
    text: "Histone H3K4me3 occupancy in Saccharomyces cerevisiae grown in rich medium."
  },
  {
    id: "gse1005",
    title: "Arabidopsis root responses to heat stress",
    text: "Time course of root transcriptomes of Arabidopsis thaliana seedlings at 38 degrees."
  }
] as const

const keywordDocs = studies.map((study) => ({ srn: srn(study.id), title: study.title, body: study.text }))
const vectorDocs = studies.map((study) => ({
  srn: srn(study.id),
  title: study.title,
  text: `${study.title}. ${study.text}`
}))

describe("KeywordIndex query parsing", () => {
  it("searches the last plain word as a prefix", () => {
    assert.deepStrictEqual(KeywordIndexModule.lastWord("mouse hippo"), { head: "mouse ", last: "hippo" })
    assert.deepStrictEqual(KeywordIndexModule.lastWord("hippo"), { head: "", last: "hippo" })
    assert.isUndefined(KeywordIndexModule.lastWord("mouse -hippo"))
    assert.isUndefined(KeywordIndexModule.lastWord("\"mouse hippo\""))
    assert.isUndefined(KeywordIndexModule.lastWord("mouse hi"))
  })

  it("takes the typo fallback's words without stop words, short words and punctuation", () => {
    assert.deepStrictEqual(KeywordIndexModule.fuzzyWords("Macrofages in the \"tuberculosis\" -Human -of"), {
      positive: ["macrofages", "tuberculosis"],
      excluded: ["human"]
    })
  })
})

describe("Search", () => {
  it.layer(TestLayer, { timeout: 120_000 })((it) => {
    it.effect("keyword: ranks a title match above a body match; the response names query and index", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const keyword = yield* KeywordIndex
        const search = yield* Search.Search
        yield* keyword.index("keyword", keywordDocs, t0)
        const response = yield* search.search({ index: "keyword", q: "  hippocampus ", limit: 10, offset: 0 })
        assert.strictEqual(response.query, "hippocampus")
        assert.strictEqual(response.index, "keyword")
        // gse1001 names it in its title, gse1003 only in its body ("hippocampal" is another English stem).
        assert.strictEqual(response.total, 2)
        assert.deepStrictEqual(response.results.map((hit) => hit.srn), [srn("gse1001"), srn("gse1003")])
        assert.isAbove(response.results[0]!.score, response.results[1]!.score)
        assert.strictEqual(response.results[1]!.title, "Adult mouse brain atlas")
        for (const hit of response.results) assert.isTrue(hit.score > 0 && hit.score < 1)

        // Web-search syntax: a phrase, and an excluded word.
        const phrase = yield* search.search({ index: "keyword", q: "\"dentate gyrus\"", ...page })
        assert.deepStrictEqual(phrase.results.map((hit) => hit.srn), [srn("gse1001")])
        const without = yield* search.search({ index: "keyword", q: "hippocampus -single", ...page })
        assert.deepStrictEqual(without.results.map((hit) => hit.srn), [srn("gse1003")])
      }))

    it.effect("keyword: the last word matches as a prefix, and stemming applies", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const keyword = yield* KeywordIndex
        yield* keyword.index("keyword", keywordDocs, t0)
        const hippo = yield* keyword.search("keyword", "hippo", page)
        assert.strictEqual(hippo.total, 3)
        const mouseHippo = yield* keyword.search("keyword", "adult mouse hippoc", page)
        assert.sameMembers(mouseHippo.results.map((hit) => hit.srn), [srn("gse1001"), srn("gse1003")])
        const arab = yield* keyword.search("keyword", "arab", page)
        assert.deepStrictEqual(arab.results.map((hit) => hit.srn), [srn("gse1005")])
        // Stemming: "neuron" finds "neurons".
        const neuron = yield* keyword.search("keyword", "neuron", page)
        assert.deepStrictEqual(neuron.results.map((hit) => hit.srn), [srn("gse1002")])
      }))

    it.effect("keyword: a typo falls back to trigram similarity on titles", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const keyword = yield* KeywordIndex
        yield* keyword.index("keyword", keywordDocs, t0)
        const typo = yield* keyword.search("keyword", "hipocampus", page)
        assert.strictEqual(typo.total, 2)
        // "hippocampus" is closer to "hipocampus" than "hippocampal" is.
        assert.deepStrictEqual(typo.results.map((hit) => hit.srn), [srn("gse1001"), srn("gse1002")])
        for (const hit of typo.results) assert.isTrue(hit.score >= 0.5 && hit.score <= 1)
        // Every word must be similar to a title word; excluded words still exclude.
        const words = yield* keyword.search("keyword", "hipocampus neurns", page)
        assert.deepStrictEqual(words.results.map((hit) => hit.srn), [srn("gse1002")])
        const excluded = yield* keyword.search("keyword", "hipocampus -dentate", page)
        assert.deepStrictEqual(excluded.results.map((hit) => hit.srn), [srn("gse1002")])
        // A word of the middle is not a prefix: no full-text match, but titles are similar.
        const middle = yield* keyword.search("keyword", "hippo mouse", page)
        assert.deepStrictEqual(middle.results.map((hit) => hit.srn), [srn("gse1001")])
        const twoWords = yield* keyword.search("keyword", "arabidopsis heat stres", page)
        assert.deepStrictEqual(twoWords.results.map((hit) => hit.srn), [srn("gse1005")])
        const misspelt = yield* keyword.search("keyword", "chromatn yeast", page)
        assert.deepStrictEqual(misspelt.results.map((hit) => hit.srn), [srn("gse1004")])
        const nothing = yield* keyword.search("keyword", "xylophone", page)
        assert.deepStrictEqual(nothing, { total: 0, results: [] })
        // Only stop words: no full-text query at all, and no similar title.
        const stop = yield* keyword.search("keyword", "the of", page)
        assert.strictEqual(stop.total, 0)
      }))

    it.effect("keyword: any query text is safe; database failures name the backend", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const keyword = yield* KeywordIndex
        yield* keyword.index("keyword", keywordDocs, t0)
        for (const q of ["'\"foo & bar | !baz:* (x", "!!!", "a:*", "hippocampus)", "-", "or", "\u0000mouse"]) {
          const result = yield* keyword.search("keyword", q, page)
          assert.isAtLeast(result.total, 0)
        }
        const mouse = yield* keyword.search("keyword", "\u0000mouse", page)
        assert.strictEqual(mouse.total, 2)

        const elsewhere = yield* KeywordIndexModule.make({ schema: "no_such_schema" })
        const error = yield* Effect.flip(elsewhere.search("my-index", "mouse", page))
        assert.strictEqual(error._tag, "KeywordIndexError")
        assert.strictEqual(error.backend, "my-index")
        assert.include(error.message, "my-index")
        const invalid = yield* Effect.flip(KeywordIndexModule.make({ schema: "Bad Name" }))
        assert.strictEqual(invalid._tag, "InvalidConfig")
      }))

    it.effect("keyword: pages are disjoint, stable and counted exactly", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const keyword = yield* KeywordIndex
        const search = yield* Search.Search
        const docs = Array.from({ length: 25 }, (_, i) => ({
          srn: srn(`liv${String(i).padStart(3, "0")}`),
          title: i % 5 === 0 ? "Liver regeneration after partial hepatectomy" : `Study ${i} of hepatocytes`,
          body: `Liver ${"tissue ".repeat(i % 4)}samples`
        }))
        yield* keyword.index("keyword", [...docs, ...keywordDocs], t0)
        const pages = yield* Effect.forEach(
          [0, 10, 20, 30],
          (offset) => search.search({ index: "keyword", q: "liver", limit: 10, offset })
        )
        assert.deepStrictEqual(pages.map((p) => p.total), [25, 25, 25, 25])
        assert.deepStrictEqual(pages.map((p) => p.results.length), [10, 10, 5, 0])
        const all = pages.flatMap((p) => p.results)
        assert.sameMembers(all.map((hit) => hit.srn), docs.map((doc) => doc.srn))
        // Scores never increase from one result to the next, across pages.
        for (let i = 1; i < all.length; i++) assert.isAtMost(all[i]!.score, all[i - 1]!.score)
        // The five with "Liver" in the title come first.
        assert.sameMembers(all.slice(0, 5).map((hit) => hit.title), Array(5).fill(docs[0]!.title))
        const again = yield* search.search({ index: "keyword", q: "liver", limit: 10, offset: 10 })
        assert.deepStrictEqual(again, pages[1])
      }))

    it.effect("keyword: re-indexing replaces rows (upsert), also for an SRN twice in one batch", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const keyword = yield* KeywordIndex
        const sql = yield* SqlClient.SqlClient
        yield* keyword.index("keyword", keywordDocs, t0)
        yield* keyword.index("keyword", keywordDocs, t0)
        assert.strictEqual(yield* rowCount("keyword_index", "keyword"), 5)
        const later = new Date(t0.getTime() + 60_000)
        yield* keyword.index("keyword", [
          { srn: srn("gse1004"), title: "ChIP-seq of fission yeast", body: "first version" },
          { srn: srn("gse1004"), title: "ChIP-seq of budding yeast chromatin", body: "Saccharomyces" }
        ], later)
        assert.strictEqual(yield* rowCount("keyword_index", "keyword"), 5)
        const budding = yield* keyword.search("keyword", "budding", page)
        assert.deepStrictEqual(budding.results.map((hit) => hit.title), ["ChIP-seq of budding yeast chromatin"])
        assert.strictEqual((yield* keyword.search("keyword", "fission", page)).total, 0)
        assert.strictEqual((yield* keyword.search("keyword", "H3K4me3", page)).total, 0)
        const [row] = yield* sql<{ indexed_at: Date }>`SELECT indexed_at FROM archive.keyword_index
          WHERE backend = 'keyword' AND record_srn = ${srn("gse1004")}`
        assert.strictEqual(row!.indexed_at.getTime(), later.getTime())
        yield* keyword.index("keyword", [], later)
      }))

    it.effect("two backends of one kind, with any names, are independent", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const keyword = yield* KeywordIndex
        const vector = yield* VectorIndex
        const search = yield* Search.Search
        yield* keyword.index("keyword", keywordDocs.slice(0, 2), t0)
        yield* keyword.index("my-index", keywordDocs.slice(2), t0)
        const inKeyword = yield* search.search({ index: "keyword", q: "adult", ...page })
        const inMine = yield* search.search({ index: "my-index", q: "adult", ...page })
        assert.deepStrictEqual(inKeyword.results.map((hit) => hit.srn), [srn("gse1001")])
        assert.deepStrictEqual(inMine.results.map((hit) => hit.srn), [srn("gse1003")])
        assert.strictEqual(inMine.index, "my-index")

        yield* vector.index("vector", vectorDocs.slice(0, 3), t0)
        yield* vector.index("vector-b", vectorDocs.slice(3), t0)
        const a = yield* search.search({ index: "vector", q: "yeast chromatin", ...page })
        const b = yield* search.search({ index: "vector-b", q: "yeast chromatin", ...page })
        assert.strictEqual(a.total, 3)
        assert.strictEqual(b.total, 2)
        assert.sameMembers(a.results.map((hit) => hit.srn), vectorDocs.slice(0, 3).map((doc) => doc.srn))
        assert.strictEqual(b.results[0]!.srn, srn("gse1004"))
      }))

    it.effect("vector: returns the nearest records first, by cosine similarity; total counts the backend", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const vector = yield* VectorIndex
        const search = yield* Search.Search
        yield* vector.index("vector", vectorDocs, t0)
        const response = yield* search.search({
          index: "vector",
          q: "hippocampal neurons of mice, single-cell RNA sequencing",
          limit: 10,
          offset: 0
        })
        assert.strictEqual(response.total, 5)
        const ids = response.results.map((hit) => hit.srn)
        assert.sameMembers(ids.slice(0, 2), [srn("gse1001"), srn("gse1002")])
        assert.strictEqual(ids[2], srn("gse1003"))
        const scores = response.results.map((hit) => hit.score)
        for (let i = 1; i < scores.length; i++) assert.isAtMost(scores[i]!, scores[i - 1]!)
        assert.isAbove(scores[0]!, scores[4]! + 0.2)

        // The score is the cosine similarity computed locally.
        const embedder = yield* Embedder.make()
        const [q, doc] = yield* embedder.embed([
          "hippocampal neurons of mice, single-cell RNA sequencing",
          vectorDocs.find((d) => d.srn === ids[0])!.text
        ])
        assert.closeTo(scores[0]!, Embedder.cosine(q!, doc!), 1e-5)

        // A record's own text is its nearest neighbour, at similarity 1.
        const self = yield* search.search({ index: "vector", q: vectorDocs[3]!.text, ...page })
        assert.strictEqual(self.results[0]!.srn, srn("gse1004"))
        assert.closeTo(self.results[0]!.score, 1, 1e-5)

        // A vector of another length (an earlier model) counts, but is left out of the results.
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO archive.vector_index (backend, record_srn, title, embedding, indexed_at)
          VALUES ('vector', ${srn("old001")}, 'Old model', '{1,0,0}', ${t0})`
        const withOld = yield* search.search({ index: "vector", q: "yeast chromatin", ...page })
        assert.strictEqual(withOld.total, 6)
        assert.strictEqual(withOld.results.length, 5)
        yield* sql`DELETE FROM archive.vector_index WHERE record_srn = ${srn("old001")}`

        const second = yield* search.search({ index: "vector", q: "yeast chromatin", limit: 2, offset: 4 })
        assert.strictEqual(second.total, 5)
        assert.strictEqual(second.results.length, 1)
        const empty = yield* search.search({ index: "vector", q: "yeast chromatin", limit: 2, offset: 6 })
        assert.deepStrictEqual({ total: empty.total, results: empty.results }, { total: 5, results: [] })
      }))

    it.effect("vector: a dense query vector (as a real model gives) uses the dense dot product", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        // Every component non-zero: a fake model adding a constant to the local vectors.
        const local = yield* Embedder.make({ dimensions: 32 })
        const dense = Embedder.Embedder.of({
          name: "dense",
          dimensions: 32,
          embed: (texts) =>
            Effect.map(local.embed(texts), (vectors) => vectors.map((v) => Array.from(v, (x) => x + 0.05)))
        })
        const index = yield* VectorIndexModule.make().pipe(Effect.provideService(Embedder.Embedder, dense))
        yield* index.index("vector", vectorDocs, t0)
        const result = yield* index.search("vector", "ChIP-seq of yeast chromatin histone", page)
        assert.strictEqual(result.results[0]!.srn, srn("gse1004"))
        const [q, doc] = yield* dense.embed(["ChIP-seq of yeast chromatin histone", vectorDocs[3]!.text])
        assert.closeTo(result.results[0]!.score, Embedder.cosine(q!, doc!), 1e-5)
      }))

    it.effect("vector: one embed call per batch, one row per record on re-indexing; bad embedder output fails", () =>
      Effect.gen(function*() {
        yield* ArchiveDatabase.truncate
        const local = yield* Embedder.make()
        const calls: Array<number> = []
        const counting = Embedder.Embedder.of({
          ...local,
          embed: (texts) => Effect.zipRight(Effect.sync(() => calls.push(texts.length)), local.embed(texts))
        })
        const index = yield* VectorIndexModule.make().pipe(Effect.provideService(Embedder.Embedder, counting))
        const docs = Array.from({ length: 100 }, (_, i) => ({
          srn: srn(`vec${String(i).padStart(3, "0")}`),
          title: `Study ${i}`,
          text: `Study ${i} of ${["mouse liver", "yeast chromatin", "human blood"][i % 3]}`
        }))
        yield* index.index("vector", docs, t0)
        assert.deepStrictEqual(calls, [100])
        yield* index.index("vector", [...docs.slice(0, 10), docs[0]!], t0)
        assert.deepStrictEqual(calls, [100, 10])
        yield* index.index("vector", [], t0)
        assert.deepStrictEqual(calls, [100, 10])
        assert.strictEqual(yield* rowCount("vector_index", "vector"), 100)

        const short = Embedder.Embedder.of({
          name: "short",
          dimensions: 384,
          embed: (texts) => Effect.succeed(texts.map(() => [1, 0, 0]))
        })
        const broken = yield* VectorIndexModule.make().pipe(Effect.provideService(Embedder.Embedder, short))
        const error = yield* Effect.flip(broken.index("vector", docs.slice(0, 2), t0))
        assert.strictEqual(error._tag, "EmbedderError")
        assert.include(error.message, "length 3, expected 384")
      }))

    it.effect("search errors: unknown index names the known ones; blank query and bad paging are invalid", () =>
      Effect.gen(function*() {
        const search = yield* Search.Search
        const unknown = yield* Effect.flip(search.search({ index: "nope", q: "mouse", ...page }))
        assert.strictEqual(unknown._tag, "UnknownIndex")
        if (unknown._tag === "UnknownIndex") {
          assert.strictEqual(unknown.index, "nope")
          assert.deepStrictEqual(unknown.known, ["keyword", "my-index", "vector", "vector-b"])
          assert.include(unknown.message, "\"nope\"")
          assert.include(unknown.message, "\"my-index\"")
        }
        const blank = yield* Effect.flip(search.search({ index: "keyword", q: "  ", ...page }))
        assert.strictEqual(blank._tag, "InvalidQuery")
        if (blank._tag === "InvalidQuery") assert.strictEqual(blank.field, "q")
        const limit = yield* Effect.flip(search.search({ index: "keyword", q: "mouse", limit: 0, offset: 0 }))
        assert.include(limit.message, "limit")
        const offset = yield* Effect.flip(search.search({ index: "vector", q: "mouse", limit: 10, offset: -1 }))
        assert.include(offset.message, "offset")
        const duplicate = yield* Effect.flip(Search.make([
          { name: "a", kind: "keyword" },
          { name: "a", kind: "vector" }
        ]))
        assert.strictEqual(duplicate._tag, "InvalidConfig")
      }))
  })
})
