import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Srn from "../../src/archive/Srn.js"

const parse = (text: string) => Srn.parse(text)

describe("SRN", () => {
  it("parses every part, with and without a version", () => {
    const record = parse("urn:osa:osa.example.org:rec:sample-gse12345@3")
    assert.isTrue(Either.isRight(record))
    if (Either.isRight(record)) {
      assert.deepStrictEqual(
        { domain: record.right.domain, type: record.right.type, id: record.right.id, version: record.right.version },
        { domain: "osa.example.org", type: "rec", id: "sample-gse12345", version: 3 }
      )
    }
    const deposition = parse("urn:osa:archive.lab.example:dep:abc")
    assert.isTrue(Either.isRight(deposition) && deposition.right.version === undefined)
  })

  it("formats back to the same text", () => {
    for (const text of ["urn:osa:osa.example.org:rec:x-1@1", "urn:osa:a.b:val:abc", "urn:osa:a.b:evt:0123456789"]) {
      const parsed = parse(text)
      assert.isTrue(Either.isRight(parsed))
      if (Either.isRight(parsed)) assert.strictEqual(Srn.format(parsed.right), text)
    }
  })

  it("rejects each broken part with a message saying what is wrong", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["urn:xyz:osa.example.org:rec:abc", "expected urn:osa:{domain}:{type}:{id}[@version]"],
      ["urn:osa:localhost:rec:abc", "domain must be a lower-case DNS name"],
      ["urn:osa:Osa.Example.org:rec:abc", "domain must be a lower-case DNS name"],
      ["urn:osa:osa.example.org:rcd:abc", "\"rec\""],
      ["urn:osa:osa.example.org:rec:ab", "id must be 3 to 64"],
      ["urn:osa:osa.example.org:rec:ABC", "id must be 3 to 64"],
      [`urn:osa:osa.example.org:rec:${"a".repeat(65)}`, "id must be 3 to 64"],
      ["urn:osa:osa.example.org:rec:abc@0", "version must be an integer ≥ 1"],
      ["urn:osa:osa.example.org:rec:abc@1.5", "version must be an integer ≥ 1"],
      ["urn:osa:osa.example.org:rec:abc@v2", "version must be an integer ≥ 1"]
    ]
    for (const [text, message] of cases) {
      const parsed = parse(text)
      assert.isTrue(Either.isLeft(parsed), text)
      if (Either.isLeft(parsed)) assert.include(String(parsed.left.message), message, text)
    }
  })

  it("SrnString keeps the text and refuses invalid ones; idFrom makes valid ids", () => {
    assert.strictEqual(Schema.decodeSync(Srn.SrnString)("urn:osa:a.b:rec:abc@1"), "urn:osa:a.b:rec:abc@1")
    assert.isTrue(Either.isLeft(Schema.decodeEither(Srn.SrnString)("urn:osa:a.b:rec:ab")))
    assert.strictEqual(Srn.idFrom("Sample / GSE12345"), "sample-gse12345")
    assert.strictEqual(Srn.idFrom("x"), "x00")
    assert.strictEqual(Srn.idFrom("y".repeat(100)).length, 64)
    assert.strictEqual(
      Srn.make({ domain: "osa.example.org", type: "dep", id: "sample-gse1" }),
      "urn:osa:osa.example.org:dep:sample-gse1"
    )
  })
})
