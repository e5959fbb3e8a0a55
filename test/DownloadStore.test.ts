/** The seed's tables and query functions, on a real SQLite file. */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as NodePath from "node:path"
import { DownloadStore, layerSql } from "../src/DownloadStore.js"
import { tempHome } from "./support/Stack.js"

/** A store and a raw SQL client on one database file, living as long as the test's scope. */
const open = (filename: string) =>
  Layer.build(layerSql.pipe(Layer.provideMerge(SqliteClient.layer({ filename })))).pipe(
    Effect.map((context) => ({ store: Context.get(context, DownloadStore), sql: Context.get(context, SqlClient.SqlClient) })),
    Effect.orDie
  )

describe("DownloadStore", () => {
  it.scoped("creates the seed's tables, columns and index by migration, in WAL mode", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const { sql } = yield* open(NodePath.join(home, "db.sqlite"))
      const columns = (table: string) =>
        sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})`.pipe(Effect.map((rows) => rows.map((r) => r.name)))
      expect(yield* columns("ipfs_downloads")).toEqual([
        "id", "cidId", "downloadPath", "status", "downloaded_bytes", "total_bytes", "error_message", "started_at",
        "completed_at", "attempts", "lastAttempt", "currentSize", "hash", "expectedHash", "owner"
      ])
      expect(yield* columns("ipfs_cids")).toEqual([
        "id", "cid", "modelName", "modelType", "modelHash", "gatewayUrl", "cached_at", "last_accessed_at",
        "success_count", "failure_count"
      ])
      const indexes = yield* sql<{ name: string }>`SELECT name FROM pragma_index_list('ipfs_downloads')`
      expect(indexes.map((i) => i.name)).toContain("idx_ipfs_downloads_status")
      const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      expect(mode!.journal_mode).toBe("wal")
    }))

  it.scoped("implements the seed's query functions", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const { store } = yield* open(NodePath.join(home, "db.sqlite"))
      const created = yield* store.create({ cid: "bafkexample", downloadPath: "/tmp/x", expectedHash: null })
      expect(created).toMatchObject({ status: "pending", attempts: 0, currentSize: 0, hash: null })

      expect(yield* store.markDownloadResuming(created.id)).toEqual(Option.some(1))
      expect(yield* store.markDownloadResuming(created.id)).toEqual(Option.some(2))
      yield* store.markDownloadPaused(created.id, "disk full")
      const paused = Option.getOrThrow(yield* store.getDownload(created.id))
      expect(paused).toMatchObject({ status: "paused", errorMessage: "disk full", attempts: 2 })

      expect(yield* store.updateDownloadResume(created.id, { currentSize: 10, attempts: 2, lastAttempt: 5, status: "resuming" }))
        .toBe(true)
      yield* store.updateDownloadHash(created.id, "ab".repeat(32))
      const updated = Option.getOrThrow(yield* store.getDownload(created.id))
      expect(updated).toMatchObject({ status: "resuming", currentSize: 10, lastAttempt: 5, hash: "ab".repeat(32) })

      const other = yield* store.create({ cid: "bafkother", downloadPath: "/tmp/y", expectedHash: "sha1:" + "0".repeat(40) })
      expect((yield* store.getDownloadsByStatus("pending")).map((d) => d.id)).toEqual([other.id])
      expect((yield* store.getDownloadsByStatus("resuming")).map((d) => d.id)).toEqual([created.id])
      expect((yield* store.getDownloadsByStatus()).length).toBe(2)
      expect(Option.isNone(yield* store.getDownload("missing"))).toBe(true)
    }))

  it.scoped("never moves a finished download back: a cancel from another process holds", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const file = NodePath.join(home, "db.sqlite")
      const first = yield* open(file)
      const second = yield* open(file)
      const created = yield* first.store.create({ cid: "bafkshared", downloadPath: "/tmp/z", expectedHash: null })
      expect(yield* second.store.checkpoint(created.id, 100)).toBe(true)
      yield* first.store.markFailed(created.id, "cancelled")
      expect(yield* second.store.checkpoint(created.id, 200)).toBe(false)
      expect(yield* second.store.markDownloadResuming(created.id)).toEqual(Option.none())
      yield* second.store.markDownloadPaused(created.id, "interrupted")
      const final = Option.getOrThrow(yield* first.store.getDownload(created.id))
      expect(final).toMatchObject({ status: "failed", errorMessage: "cancelled", currentSize: 100 })
    }))
})
