/**
 * The archive's own schema, migrated like the runtime's (plain SQL files, its own
 * migrations table), from `src/archive/migrations/`.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { fileURLToPath } from "node:url"
import { Migrations } from "../runtime/index.js"

const directory = fileURLToPath(new URL("./migrations", import.meta.url))

/** Applies the archive's migrations into `schema` (default `archive`). */
export const migrate = (schema = "archive") =>
  Migrations.apply({ directory, schema, table: "migrations" }).pipe(
    Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )
