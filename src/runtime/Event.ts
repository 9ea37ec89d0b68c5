/**
 * Event types: Effect Schema classes with a stable type name chosen by their author.
 *
 * The type name is what the event log stores and what subscriptions match on, so it
 * never comes from a class name at run time: it is the class's `_tag`, written once.
 *
 * @example
 * ```ts
 * class RecordPublished extends Event.Class<RecordPublished>()("archive.RecordPublished", {
 *   srn: Schema.String,
 *   title: Schema.String
 * }) {}
 * ```
 */
import type * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** Any event class: a context-free schema whose static `_tag` is the stable type name. */
export interface EventClass<A = unknown> extends Schema.Schema<A, unknown, never> {
  readonly _tag: string
}

/** The instances an {@link EventClass} makes: they carry their type name as `_tag`. */
export interface EventInstance {
  readonly _tag: string
}

/**
 * Defines an event type. Same shape as `Schema.TaggedClass`, with the identifier and
 * the tag both set to the stable type name.
 */
export const Class = <Self = never>() =>
<Tag extends string, Fields extends Schema.Struct.Fields>(
  type: Tag,
  fields: Fields
) => Schema.TaggedClass<Self>(type)(type, fields)

/** The stable type name of an event class. */
export const typeName = (eventClass: { readonly _tag: string }): string => eventClass._tag

interface Codec {
  readonly encode: (value: unknown) => Either.Either<unknown, ParseResult.ParseError>
  readonly decode: (value: unknown) => Either.Either<unknown, ParseResult.ParseError>
}

const codecs = new WeakMap<object, Codec>()

const codecOf = (schema: Schema.Schema.AnyNoContext): Codec => {
  let codec = codecs.get(schema)
  if (codec === undefined) {
    codec = {
      encode: Schema.encodeUnknownEither(schema),
      // Every problem of a stored payload, not just the first: it is what an operator reads.
      decode: Schema.decodeUnknownEither(schema, { errors: "all" })
    }
    codecs.set(schema, codec)
  }
  return codec
}

/** Finds the schema class an event instance was made by. */
export const classOf = (event: EventInstance): Schema.Schema.AnyNoContext | undefined => {
  const ctor: unknown = (event as object).constructor
  return Schema.isSchema(ctor) ? (ctor as Schema.Schema.AnyNoContext) : undefined
}

/** Encodes an event with its class's schema (cached per class). */
export const encode = (schema: Schema.Schema.AnyNoContext, event: unknown) => codecOf(schema).encode(event)

/** Decodes a stored payload with a class's schema (cached per class). */
export const decode = <A>(schema: Schema.Schema<A, unknown, never>, payload: unknown) =>
  codecOf(schema as Schema.Schema.AnyNoContext).decode(payload) as Either.Either<A, ParseResult.ParseError>

/** Renders a parse error as a compact, readable message. */
export const formatError = (error: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(error)
