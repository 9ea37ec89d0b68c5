import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Embedder from "../../src/archive/index/Embedder.js"

const norm = (vector: Embedder.Vector) => Math.sqrt(Array.from(vector).reduce((sum, x) => sum + x * x, 0))

const embedAll = (texts: ReadonlyArray<string>, options: Embedder.Options = {}) =>
  Effect.flatMap(Embedder.make(options), (embedder) => embedder.embed(texts))

describe("Embedder (local hashing)", () => {
  it.effect("is deterministic: the same text gives the same vector, in one batch or alone, in any instance", () =>
    Effect.gen(function*() {
      const texts = ["single-cell RNA-seq of mouse hippocampus", "ChIP-seq of yeast chromatin", "liver"]
      const batch = yield* embedAll(texts)
      const again = yield* embedAll([...texts].reverse())
      assert.strictEqual(batch.length, 3)
      for (let i = 0; i < texts.length; i++) {
        assert.deepStrictEqual(Array.from(batch[i]!), Array.from(again[texts.length - 1 - i]!))
        const [alone] = yield* embedAll([texts[i]!])
        assert.deepStrictEqual(Array.from(batch[i]!), Array.from(alone!))
      }
      // Pinned: vectors stored earlier must stay comparable with new ones, so the hashing must not drift.
      const pinned = Array.from(Embedder.embedOne("mouse hippocampus"))
        .flatMap((x, i) => x === 0 ? [] : [[i, Math.round(x * 1e4) / 1e4]])
      assert.strictEqual(pinned.length, 19)
      assert.deepStrictEqual(pinned.slice(0, 6), [
        [6, 0.1364],
        [14, 0.1364],
        [21, -0.1364],
        [44, 0.5455],
        [59, -0.1364],
        [81, 0.5455]
      ])
    }))

  it.effect("returns L2-normalised vectors of the configured length; no words gives zeros", () =>
    Effect.gen(function*() {
      const embedder = yield* Embedder.make()
      assert.strictEqual(embedder.dimensions, 384)
      const [a, empty, stop] = yield* embedder.embed(["Hippocampal neurons in mice", "", "of the and"])
      assert.strictEqual(a!.length, 384)
      assert.closeTo(norm(a!), 1, 1e-6)
      assert.strictEqual(norm(empty!), 0)
      assert.strictEqual(norm(stop!), 0)
      const [small] = yield* embedAll(["mouse"], { dimensions: 64 })
      assert.strictEqual(small!.length, 64)
      assert.closeTo(norm(small!), 1, 1e-6)
      assert.deepStrictEqual(yield* embedAll([], {}), [])
    }))

  it.effect("ranks related texts closer than unrelated ones", () =>
    Effect.gen(function*() {
      const [scMouse, hippocampal, yeast, histone, liver] = yield* embedAll([
        "single-cell RNA-seq of mouse hippocampus",
        "hippocampal neurons in mice, scRNA",
        "ChIP-seq of yeast chromatin",
        "Histone modifications in Saccharomyces cerevisiae chromatin by ChIP-seq",
        "Transcriptome of human liver tumours"
      ])
      const related = Embedder.cosine(scMouse!, hippocampal!)
      assert.isAbove(related, 0.4)
      assert.isAbove(related, Embedder.cosine(scMouse!, yeast!) + 0.2)
      assert.isAbove(related, Embedder.cosine(hippocampal!, yeast!) + 0.2)
      assert.isAbove(Embedder.cosine(yeast!, histone!), Embedder.cosine(yeast!, hippocampal!) + 0.2)
      assert.isAbove(Embedder.cosine(yeast!, histone!), Embedder.cosine(yeast!, liver!) + 0.2)
      assert.closeTo(Embedder.cosine(scMouse!, scMouse!), 1, 1e-6)
    }))

  it("normalises words: case, accents, stop words, stems, irregular plurals and abbreviations", () => {
    assert.deepStrictEqual(Embedder.words("The Hippocampus of MICE, café"), ["hippocampus", "mice", "cafe"])
    assert.deepStrictEqual(Embedder.words("scRNA-seq"), ["scrna", "seq", "scrnaseq"])
    assert.strictEqual(Embedder.stem("hippocampus"), Embedder.stem("hippocampal"))
    assert.strictEqual(Embedder.stem("neurons"), "neuron")
    assert.strictEqual(Embedder.stem("studies"), "study")
    assert.isAbove(Embedder.cosine(Embedder.embedOne("mice"), Embedder.embedOne("mouse")), 0.5)
    assert.isAbove(
      Embedder.cosine(Embedder.embedOne("scRNA-seq"), Embedder.embedOne("single cell RNA sequencing")),
      0.5
    )
  })

  it.effect("rejects a bad vector length at construction", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Embedder.make({ dimensions: 0 }))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Embedder.make({ dimensions: 2.5 }))
      assert.strictEqual(error._tag, "InvalidConfig")
      assert.strictEqual(error.field, "dimensions")
    }))
})
