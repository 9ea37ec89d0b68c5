/**
 * The errors sluice reports. Errors that are stored or cross a process boundary are
 * `Schema.TaggedError`s, so they encode the same way everywhere.
 */
import * as Schema from "effect/Schema"

/** A configuration value broke a rule: names the field, the value and the rule. */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  subject: Schema.String,
  field: Schema.String,
  value: Schema.String,
  rule: Schema.String
}) {
  override get message() {
    return `${this.subject}: invalid ${this.field} = ${this.value}: ${this.rule}`
  }
}

/** Starting or reaching the database failed. */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** Applying the runtime's migrations failed. */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** Writing events failed: an event did not encode, or the statement failed. */
export class EmitFailed extends Schema.TaggedError<EmitFailed>()("EmitFailed", {
  eventType: Schema.String,
  reason: Schema.Literal("encode", "database"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** A store operation failed; `operation` says which. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}
