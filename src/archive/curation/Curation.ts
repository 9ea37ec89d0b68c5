/**
 * Manual curation: approve or reject a deposition that passed validation and waits for
 * a curator (`ARCHIVE_CURATION=manual`). Approval emits `DepositionApproved` in the same
 * transaction, so the record is published exactly when the decision commits.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Outbox } from "../../runtime/index.js"
import { ArchiveStore } from "../ArchiveStore.js"
import { DepositionApproved } from "../Events.js"
import type { SrnString } from "../Srn.js"

/** The deposition is unknown, or not waiting for a curator (already decided, rejected by validation, …). */
export class NotAwaitingCuration extends Schema.TaggedError<NotAwaitingCuration>()("NotAwaitingCuration", {
  deposition: Schema.String,
  state: Schema.NullOr(Schema.String)
}) {
  override get message() {
    return this.state === null
      ? `no deposition ${this.deposition}`
      : `deposition ${this.deposition} is ${this.state}, not awaiting curation`
  }
}

const decide = (deposition: SrnString, state: "approved" | "rejected", curator: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* ArchiveStore
    return yield* sql.withTransaction(Effect.gen(function*() {
      const now = new Date(yield* Clock.currentTimeMillis)
      const changed = yield* store.curate(deposition, state, curator, now)
      if (!changed) {
        const current = yield* store.deposition(deposition)
        return yield* new NotAwaitingCuration({ deposition, state: current?.state ?? null })
      }
      if (state === "approved") {
        yield* Outbox.emit(new DepositionApproved({ deposition, approvedBy: curator }))
      }
    }))
  })

/** Approves a deposition awaiting curation; its record is published by the pipeline. */
export const approve = (deposition: SrnString, curator: string) => decide(deposition, "approved", curator)

/** Rejects a deposition awaiting curation. */
export const reject = (deposition: SrnString, curator: string) => decide(deposition, "rejected", curator)
