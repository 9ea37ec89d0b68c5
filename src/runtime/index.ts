/**
 * sluice: a pull-based, PostgreSQL-backed event pipeline runtime for Effect.
 */
export * as Database from "./Database.js"
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
export * as Errors from "./Errors.js"
export * as Event from "./Event.js"
export * as Handler from "./Handler.js"
export * as Metrics from "./Metrics.js"
export * as Migrations from "./Migrations.js"
export * as Notifier from "./Notifier.js"
export * as Outbox from "./Outbox.js"
export * as Reaper from "./Reaper.js"
export * as Retention from "./Retention.js"
export * as RuntimeConfig from "./RuntimeConfig.js"
export * as Sluice from "./Sluice.js"
export * as Store from "./Store.js"
export * as Worker from "./Worker.js"
export * as WorkerPool from "./WorkerPool.js"
