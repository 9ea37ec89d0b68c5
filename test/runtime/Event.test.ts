/**
 * Decoding a stored payload: for a class `Event.Class` made, the runtime decodes its fields
 * and calls the class's constructor itself, which is what the class's own schema does. It
 * must give exactly what `Schema.decodeUnknownEither(theClass)` gives, for every payload:
 * the same instance on success, the same error on failure.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"

class Place extends Schema.Class<Place>("test.Place")({ name: Schema.String, lat: Schema.Number }) {}

class Observed extends Event.Class<Observed>()("test.Observed", {
  station: Schema.String.pipe(Schema.minLength(1)),
  at: Schema.Date,
  count: Schema.NumberFromString,
  place: Place,
  tags: Schema.Array(Schema.String),
  note: Schema.optional(Schema.String),
  quality: Schema.optionalWith(Schema.Literal("raw", "checked"), { default: () => "raw" })
}) {
  get label() {
    return `${this.station}@${this.place.name}`
  }
}

/** A subclass of a subclass: the runtime still recognises the class `Event.Class` made. */
class Reobserved extends Observed {}

/** What the class's own schema makes of a payload. */
const viaSchema = (schema: Schema.Schema.AnyNoContext, payload: unknown) =>
  Schema.decodeUnknownEither(schema, { errors: "all" })(payload)

/** The runtime's decoder, as the worker gets it from a handler's event class. */
const viaRuntime = (schema: Schema.Schema.AnyNoContext, payload: unknown) =>
  Event.decode(schema as Schema.Schema<unknown, unknown, never>, payload)

const same = (
  actual: Either.Either<unknown, ParseResult.ParseError>,
  expected: Either.Either<unknown, ParseResult.ParseError>
) => {
  if (Either.isLeft(expected)) {
    assert.isTrue(Either.isLeft(actual), "the payload must fail to decode")
    if (Either.isLeft(actual)) {
      assert.strictEqual(Event.formatError(actual.left), Event.formatError(expected.left))
    }
    return
  }
  assert.isTrue(Either.isRight(actual), "the payload must decode")
  if (Either.isRight(actual)) {
    assert.strictEqual(Object.getPrototypeOf(actual.right), Object.getPrototypeOf(expected.right))
    assert.deepStrictEqual(Object.keys(actual.right as object), Object.keys(expected.right as object))
    assert.deepStrictEqual(actual.right, expected.right)
  }
}

const encode = Schema.encodeSync(Observed)

describe("Event.decode", () => {
  it("decodes what the class encodes into the instance its schema decodes", () => {
    FastCheck.assert(
      FastCheck.property(Arbitrary.make(Observed), (event) => {
        const payload = JSON.parse(JSON.stringify(encode(event)))
        same(viaRuntime(Observed, payload), viaSchema(Observed, payload))
        const decoded = viaRuntime(Observed, payload)
        if (Either.isRight(decoded)) assert.strictEqual((decoded.right as Observed).label, event.label)
      }),
      { numRuns: 200 }
    )
  })

  it("decodes into the subclass the handler names", () => {
    const payload = JSON.parse(JSON.stringify(encode(new Observed(sample))))
    const decoded = viaRuntime(Reobserved, payload)
    same(decoded, viaSchema(Reobserved, payload))
    assert.isTrue(Either.isRight(decoded) && decoded.right instanceof Reobserved)
  })

  const sample = {
    station: "HB-7",
    at: new Date("2026-01-02T03:04:05.000Z"),
    count: 3,
    place: new Place({ name: "Ridge", lat: 46.5 }),
    tags: ["a"]
  }
  const good = JSON.parse(JSON.stringify(encode(new Observed(sample)))) as Record<string, unknown>

  const payloads: Record<string, unknown> = {
    "a whole payload": good,
    "a payload without its optional and defaulted fields": { ...good, note: undefined, quality: undefined },
    "a payload with fields the class does not have": { ...good, extra: 1 },
    "another type's tag": { ...good, _tag: "test.Other" },
    "no tag": { ...good, _tag: undefined },
    "a field that does not decode": { ...good, count: "three" },
    "a field its filter rejects": { ...good, station: "" },
    "a nested class's bad field": { ...good, place: { name: "Ridge", lat: "north" } },
    "two bad fields": { ...good, at: "yesterday", tags: [1] },
    "a missing field": { ...good, station: undefined },
    "null": null,
    "an array": [good],
    "a string": "test.Observed"
  }

  for (const [name, payload] of Object.entries(payloads)) {
    it(`gives what the class's schema gives for ${name}`, () => {
      const stored = payload === null || typeof payload !== "object" || Array.isArray(payload)
        ? payload
        : JSON.parse(JSON.stringify(payload))
      same(viaRuntime(Observed, stored), viaSchema(Observed, stored))
    })
  }

  it("decodes a class Schema made from an event class through that class's schema", () => {
    class Checked extends Observed.extend<Checked>("test.Checked")(
      Schema.Struct({ limit: Schema.Number }).pipe(
        Schema.filter((value) => value.limit > 0 || "limit must be positive")
      )
    ) {}
    class Doubled extends Observed.transformOrFail<Doubled>("test.Doubled")(
      { extra: Schema.Number },
      {
        decode: (value) => ParseResult.succeed({ ...value, count: value.count * 2, extra: 0 }),
        encode: (value) => ParseResult.succeed(value)
      }
    ) {}
    const rejected = { ...good, limit: -1 }
    same(viaRuntime(Checked, rejected), viaSchema(Checked, rejected))
    assert.isTrue(Either.isLeft(viaRuntime(Checked, rejected)))
    const transformed = Doubled as unknown as Schema.Schema.AnyNoContext
    same(viaRuntime(transformed, good), viaSchema(transformed, good))
    const decoded = viaRuntime(transformed, good)
    assert.isTrue(Either.isRight(decoded) && (decoded.right as Doubled).count === 6)
  })

  it("decodes classes Event.Class did not make through their own schema", () => {
    class Plain extends Schema.TaggedClass<Plain>()("test.Plain", {
      n: Schema.Number
    }) {}
    const checked = Schema.Struct({ n: Schema.Number }).pipe(
      Schema.filter((value) => value.n > 0 || "n must be positive")
    )
    class Filtered extends Schema.TaggedClass<Filtered>()("test.Filtered", checked) {}
    same(viaRuntime(Plain, { _tag: "test.Plain", n: 1 }), viaSchema(Plain, { _tag: "test.Plain", n: 1 }))
    const rejected = { _tag: "test.Filtered", n: -1 }
    same(viaRuntime(Filtered, rejected), viaSchema(Filtered, rejected))
    assert.isTrue(Either.isLeft(viaRuntime(Filtered, rejected)))
  })
})
