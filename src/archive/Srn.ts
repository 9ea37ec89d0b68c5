/**
 * SRNs: the archive's identifiers, `urn:osa:{domain}:{type}:{id}[@version]`.
 *
 * - `domain`: a DNS name (`osa.example.org`), lower case.
 * - `type`: what it names: `rec` (record), `dep` (deposition), `val` (validation),
 *   `evt` (event), `src` (source run).
 * - `id`: `[a-z0-9-]{3,64}`.
 * - `version`: an integer ≥ 1, records only.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

export const types = ["rec", "dep", "val", "evt", "src"] as const
export type SrnType = typeof types[number]

/** The parts of an SRN. */
export class Parts extends Schema.Class<Parts>("archive/SrnParts")({
  domain: Schema.String.pipe(
    Schema.pattern(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/, {
      message: () => "domain must be a lower-case DNS name with at least one dot, e.g. osa.example.org"
    })
  ),
  type: Schema.Literal(...types),
  id: Schema.String.pipe(
    Schema.pattern(/^[a-z0-9-]{3,64}$/, { message: () => "id must be 3 to 64 of a-z, 0-9 and -" })
  ),
  version: Schema.optional(
    Schema.Int.pipe(Schema.greaterThanOrEqualTo(1, { message: () => "version must be an integer ≥ 1" }))
  )
}) {}

const shape = /^urn:osa:([^:]+):([^:]+):([^:@]+)(?:@(.+))?$/

/** Formats parts as an SRN string. */
export const format = (parts: Parts): string =>
  `urn:osa:${parts.domain}:${parts.type}:${parts.id}${parts.version === undefined ? "" : `@${parts.version}`}`

/** An SRN, validated: decodes a string to itself, checking every part. */
export const Srn = Schema.String.pipe(
  Schema.transformOrFail(Parts, {
    strict: true,
    decode: (text, _, ast) => {
      const match = shape.exec(text)
      if (match === null) {
        return ParseResult.fail(
          new ParseResult.Type(ast, text, "expected urn:osa:{domain}:{type}:{id}[@version]")
        )
      }
      const [, domain, type, id, version] = match
      if (version !== undefined && !/^\d+$/.test(version)) {
        return ParseResult.fail(new ParseResult.Type(ast, text, "version must be an integer ≥ 1"))
      }
      return ParseResult.succeed({
        domain: domain!,
        type: type as SrnType,
        id: id!,
        version: version === undefined ? undefined : Number(version)
      })
    },
    encode: (parts) => ParseResult.succeed(format(parts as Parts))
  }),
  Schema.annotations({ identifier: "Srn", description: "urn:osa:{domain}:{type}:{id}[@version]" })
)

/** An SRN as a checked string (stays a string in the type). */
export const SrnString = Schema.String.pipe(
  Schema.filter((text) => Either.isRight(Schema.decodeEither(Srn)(text)) || "not a valid SRN"),
  Schema.brand("Srn"),
  Schema.annotations({ identifier: "SrnString" })
)
export type SrnString = typeof SrnString.Type

/** Parses an SRN string into its parts. */
export const parse = Schema.decodeUnknownEither(Srn)

/** Makes a checked SRN string from parts (throws on invalid parts: for constants and tests). */
export const make = (parts: {
  readonly domain: string
  readonly type: SrnType
  readonly id: string
  readonly version?: number | undefined
}): SrnString => Schema.decodeSync(SrnString)(format(new Parts(parts)))

/** A stable SRN id from any text: lower-cased, non [a-z0-9] runs turned into `-`, trimmed to 64. */
export const idFrom = (text: string): string => {
  const slug = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64)
  return slug.length >= 3 ? slug : slug.padEnd(3, "0")
}
