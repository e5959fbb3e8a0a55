/**
 * Persistence of downloads in the seed's tables (`ipfs_cids`, `ipfs_downloads`)
 * through `@effect/sql`, with migrations. SQLite is the default engine.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Migrator, SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as Os from "node:os"
import { Download, type Status } from "./Download.js"

/** Stores download records. Database failures are defects: no caller can act on them. */
export class DownloadStore extends Context.Tag("ipfs-downloader/DownloadStore")<DownloadStore, {
  /** Records a new download (and its CID, once per CID) in status `pending`. */
  readonly create: (input: {
    readonly cid: string
    readonly downloadPath: string
    readonly expectedHash: string | null
  }) => Effect.Effect<Download>
  /** The seed's `getDownload`. */
  readonly getDownload: (id: string) => Effect.Effect<Option.Option<Download>>
  /** The seed's `getDownloadsByStatus`; every download when no status is given, newest first. */
  readonly getDownloadsByStatus: (status?: Status) => Effect.Effect<ReadonlyArray<Download>>
  /** The newest download of a CID to a path. */
  readonly findByCidAndPath: (cid: string, downloadPath: string) => Effect.Effect<Option.Option<Download>>
  /** The newest unfinished download (pending, running or paused) that writes to a path, whatever its CID. */
  readonly findUnfinishedAtPath: (downloadPath: string) => Effect.Effect<Option.Option<Download>>
  /**
   * The seed's `updateDownloadResume`, unless the download has ended (success
   * or failed). Answers whether it applied.
   */
  readonly updateDownloadResume: (id: string, update: {
    readonly currentSize: number
    readonly attempts: number
    readonly lastAttempt: number
    readonly status: Status
  }) => Effect.Effect<boolean>
  /** The seed's `updateDownloadHash`. */
  readonly updateDownloadHash: (id: string, hash: string) => Effect.Effect<void>
  /**
   * The seed's `markDownloadResuming`: status `resuming`, one more attempt.
   * Answers the attempts now counted, or none when the download has ended
   * (another process cancelled it).
   */
  readonly markDownloadResuming: (id: string) => Effect.Effect<Option.Option<number>>
  /**
   * The seed's `markDownloadPaused`, unless the download has already ended
   * (success or failed); records the bytes on disk when they are given.
   */
  readonly markDownloadPaused: (id: string, errorMessage: string, bytesOnDisk?: number) => Effect.Effect<void>
  /** Sets the digest a download must match, as `<algorithm>:<hex>`. */
  readonly setExpectedHash: (id: string, expectedHash: string) => Effect.Effect<void>
  /** Records why a running download waits or switches gateway, before it does. */
  readonly noteRetry: (id: string, reason: string) => Effect.Effect<boolean>
  /**
   * Starts an attempt: status, the size on disk, the total when known, the
   * gateway asked. Answers `false` when the download has ended meanwhile.
   */
  readonly markAttempt: (id: string, update: {
    readonly status: "in_progress" | "resuming"
    readonly currentSize: number
    readonly totalBytes: number | null
    readonly gatewayUrl: string
  }) => Effect.Effect<boolean>
  /**
   * Records progress of a running download. Answers `false` when the row is no
   * longer running, i.e. another process cancelled it.
   */
  readonly checkpoint: (id: string, bytes: number) => Effect.Effect<boolean>
  /** Ends a download verified and published, unless it has already ended. Answers whether it applied. */
  readonly markSuccess: (id: string, result: { readonly hash: string; readonly bytes: number }) => Effect.Effect<boolean>
  /** Ends a download that cannot complete, unless it has already ended. Answers whether it applied. */
  readonly markFailed: (id: string, errorMessage: string) => Effect.Effect<boolean>
  /**
   * Begins a run asked for by a person: this process becomes the download's
   * owner, with a fresh budget of automatic resumes, and status `resuming` for
   * a download that had already started. Answers the owner that prevents it
   * when another process that is still alive is running the download.
   */
  readonly beginRun: (id: string) => Effect.Effect<Option.Option<string>>
  /** Counts a gateway's success or failure at serving a CID. */
  readonly recordOutcome: (cid: string, outcome: "success" | "failure") => Effect.Effect<void>
}>() {}

/** The schema, as migrations: the seed's base table, then its resume columns. */
export const migrations = Migrator.fromRecord({
  "0001_create_tables": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE ipfs_cids (
        id TEXT PRIMARY KEY,
        cid TEXT NOT NULL UNIQUE,
        modelName TEXT,
        modelType TEXT,
        modelHash TEXT,
        gatewayUrl TEXT,
        cached_at INTEGER NOT NULL,
        last_accessed_at INTEGER NOT NULL,
        success_count INTEGER NOT NULL DEFAULT 0,
        failure_count INTEGER NOT NULL DEFAULT 0
      )`,
      sql`CREATE TABLE ipfs_downloads (
        id TEXT PRIMARY KEY,
        cidId TEXT NOT NULL,
        downloadPath TEXT NOT NULL,
        status TEXT DEFAULT 'pending',
        downloaded_bytes INTEGER DEFAULT 0,
        total_bytes INTEGER,
        error_message TEXT,
        started_at INTEGER NOT NULL,
        completed_at INTEGER,
        FOREIGN KEY (cidId) REFERENCES ipfs_cids(id)
      )`,
      sql`CREATE INDEX idx_ipfs_downloads_status ON ipfs_downloads(status)`
    ], { discard: true })),
  "0002_resume_columns": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`ALTER TABLE ipfs_downloads ADD COLUMN attempts INTEGER DEFAULT 0`,
      sql`ALTER TABLE ipfs_downloads ADD COLUMN lastAttempt INTEGER`,
      sql`ALTER TABLE ipfs_downloads ADD COLUMN currentSize INTEGER DEFAULT 0`,
      sql`ALTER TABLE ipfs_downloads ADD COLUMN hash TEXT`,
      sql`CREATE INDEX idx_ipfs_downloads_cid_path ON ipfs_downloads(cidId, downloadPath)`
    ], { discard: true })),
  // The digest a caller expects belongs to its download: ipfs_cids.modelHash keeps the last one given, as metadata.
  // `owner` names the process running a download (`host:pid`), so that no two processes run it at once.
  "0003_expected_hash_and_owner": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`ALTER TABLE ipfs_downloads ADD COLUMN expectedHash TEXT`,
      sql`ALTER TABLE ipfs_downloads ADD COLUMN owner TEXT`,
      sql`UPDATE ipfs_downloads SET expectedHash = (SELECT modelHash FROM ipfs_cids WHERE ipfs_cids.id = cidId)`
    ], { discard: true }))
})

const decodeDownloads = Schema.decodeUnknown(Schema.Array(Download))

/**
 * Whether the process named by an owner (`host:pid`) may still be running the
 * download: on this host, whether the process exists; elsewhere, whether it
 * wrote to the row in the last minute.
 */
const isAlive = (owner: string, lastAttempt: number | null, now: number): boolean => {
  const separator = owner.lastIndexOf(":")
  const host = owner.slice(0, separator)
  const pid = Number(owner.slice(separator + 1))
  if (host !== Os.hostname()) return lastAttempt !== null && now - lastAttempt < 60_000
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Creates the store over any `@effect/sql` client whose schema is migrated. */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const select = sql`
    SELECT d.id, c.cid, d.downloadPath, d.status,
      d.downloaded_bytes AS downloadedBytes, d.total_bytes AS totalBytes,
      d.error_message AS errorMessage, d.started_at AS startedAt, d.completed_at AS completedAt,
      d.attempts, d.lastAttempt, d.currentSize, d.hash,
      d.expectedHash, c.gatewayUrl
    FROM ipfs_downloads d JOIN ipfs_cids c ON c.id = d.cidId`

  const rows = (query: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    query.pipe(Effect.flatMap(decodeDownloads), Effect.orDie)
  const first = (query: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    rows(query).pipe(Effect.map((found) => Option.fromNullable(found[0])))
  const run = (query: Effect.Effect<unknown, unknown>) => query.pipe(Effect.asVoid, Effect.orDie)
  /** Runs an `UPDATE … RETURNING`: whether any row was updated. */
  const applied = (query: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    query.pipe(Effect.map((updated) => updated.length > 0), Effect.orDie)
  const now = Clock.currentTimeMillis
  /** This process, as the owner of the downloads it runs. */
  const self = `${Os.hostname()}:${process.pid}`
  /** Only the owner's updates apply to a running download (or anyone's, before a first owner). */
  const mine = sql`(owner IS NULL OR owner = ${self})`

  const getDownload = (id: string) => first(sql`${select} WHERE d.id = ${id}`)

  const create: Context.Tag.Service<DownloadStore>["create"] = (input) =>
    Effect.gen(function*() {
      const at = yield* now
      const id = Crypto.randomBytes(8).toString("hex")
      yield* sql.withTransaction(Effect.all([
        sql`INSERT INTO ipfs_cids (id, cid, modelHash, cached_at, last_accessed_at)
          VALUES (${Crypto.randomUUID()}, ${input.cid}, ${input.expectedHash}, ${at}, ${at})
          ON CONFLICT (cid) DO UPDATE SET last_accessed_at = excluded.last_accessed_at,
            modelHash = COALESCE(excluded.modelHash, ipfs_cids.modelHash)`,
        sql`INSERT INTO ipfs_downloads (id, cidId, downloadPath, status, started_at, attempts, currentSize, expectedHash)
          SELECT ${id}, id, ${input.downloadPath}, 'pending', ${at}, 0, 0, ${input.expectedHash}
          FROM ipfs_cids WHERE cid = ${input.cid}`
      ])).pipe(Effect.orDie)
      return yield* getDownload(id).pipe(Effect.map(Option.getOrThrow))
    })

  const store: Context.Tag.Service<DownloadStore> = {
    create,
    getDownload,
    getDownloadsByStatus: (status) =>
      rows(
        status === undefined
          ? sql`${select} ORDER BY d.started_at DESC, d.rowid DESC`
          : sql`${select} WHERE d.status = ${status} ORDER BY d.started_at DESC, d.rowid DESC`
      ),
    findByCidAndPath: (cid, downloadPath) =>
      first(sql`${select} WHERE c.cid = ${cid} AND d.downloadPath = ${downloadPath}
        ORDER BY d.started_at DESC, d.rowid DESC LIMIT 1`),
    findUnfinishedAtPath: (downloadPath) =>
      first(sql`${select} WHERE d.downloadPath = ${downloadPath}
        AND d.status IN ('pending', 'in_progress', 'resuming', 'paused')
        ORDER BY d.started_at DESC, d.rowid DESC LIMIT 1`),
    updateDownloadResume: (id, update) =>
      applied(sql`UPDATE ipfs_downloads SET currentSize = ${update.currentSize}, attempts = ${update.attempts},
        lastAttempt = ${update.lastAttempt}, status = ${update.status}
        WHERE id = ${id} AND status NOT IN ('success', 'failed') RETURNING id`),
    updateDownloadHash: (id, hash) => run(sql`UPDATE ipfs_downloads SET hash = ${hash} WHERE id = ${id}`),
    markDownloadResuming: (id) =>
      Effect.flatMap(now, (at) =>
        sql<{ attempts: number }>`UPDATE ipfs_downloads SET status = 'resuming', attempts = attempts + 1,
          lastAttempt = ${at} WHERE id = ${id} AND status NOT IN ('success', 'failed') AND ${mine}
          RETURNING attempts`.pipe(
          Effect.map((updated) => Option.fromNullable(updated[0]?.attempts)),
          Effect.orDie
        )),
    markDownloadPaused: (id, errorMessage, bytesOnDisk) =>
      Effect.flatMap(now, (at) =>
        run(sql`UPDATE ipfs_downloads SET status = 'paused', error_message = ${errorMessage}, lastAttempt = ${at},
          currentSize = COALESCE(${bytesOnDisk ?? null}, currentSize),
          downloaded_bytes = COALESCE(${bytesOnDisk ?? null}, downloaded_bytes)
          WHERE id = ${id} AND status NOT IN ('success', 'failed')`)),
    setExpectedHash: (id, expectedHash) =>
      run(sql`UPDATE ipfs_downloads SET expectedHash = ${expectedHash} WHERE id = ${id}`),
    noteRetry: (id, reason) =>
      Effect.flatMap(now, (at) =>
        applied(sql`UPDATE ipfs_downloads SET error_message = ${reason}, lastAttempt = ${at}
          WHERE id = ${id} AND status NOT IN ('success', 'failed') AND ${mine} RETURNING id`)),
    markAttempt: (id, update) =>
      Effect.flatMap(now, (at) =>
        sql.withTransaction(Effect.all([
          sql`UPDATE ipfs_downloads SET status = ${update.status}, currentSize = ${update.currentSize},
            downloaded_bytes = ${update.currentSize}, total_bytes = COALESCE(${update.totalBytes}, total_bytes),
            error_message = NULL, lastAttempt = ${at}
            WHERE id = ${id} AND status NOT IN ('success', 'failed') AND ${mine} RETURNING id`,
          sql`UPDATE ipfs_cids SET gatewayUrl = ${update.gatewayUrl}, last_accessed_at = ${at}
            WHERE id = (SELECT cidId FROM ipfs_downloads WHERE id = ${id})`
        ])).pipe(Effect.map(([updated]) => updated.length > 0), Effect.orDie)),
    checkpoint: (id, bytes) =>
      Effect.flatMap(now, (at) =>
        applied(sql`UPDATE ipfs_downloads SET currentSize = ${bytes}, downloaded_bytes = ${bytes}, lastAttempt = ${at}
          WHERE id = ${id} AND status IN ('pending', 'in_progress', 'resuming') AND ${mine} RETURNING id`)),
    markSuccess: (id, result) =>
      Effect.flatMap(now, (at) =>
        applied(sql`UPDATE ipfs_downloads SET status = 'success', hash = ${result.hash}, currentSize = ${result.bytes},
          downloaded_bytes = ${result.bytes}, total_bytes = ${result.bytes}, completed_at = ${at},
          error_message = NULL, lastAttempt = ${at}
          WHERE id = ${id} AND status NOT IN ('success', 'failed') RETURNING id`)),
    markFailed: (id, errorMessage) =>
      Effect.flatMap(now, (at) =>
        applied(sql`UPDATE ipfs_downloads SET status = 'failed', error_message = ${errorMessage}, lastAttempt = ${at}
          WHERE id = ${id} AND status NOT IN ('success', 'failed') RETURNING id`)),
    beginRun: (id) =>
      Effect.gen(function*() {
        const at = yield* now
        const rows = yield* sql<{ status: string; owner: string | null; lastAttempt: number | null }>`
          SELECT status, owner, lastAttempt FROM ipfs_downloads WHERE id = ${id}`
        const row = rows[0]
        if (row === undefined) return Option.none()
        const running = row.status === "in_progress" || row.status === "resuming"
        if (running && row.owner !== null && row.owner !== self && isAlive(row.owner, row.lastAttempt, at)) {
          return Option.some(row.owner)
        }
        // Compare-and-set on the owner: of two processes that claim at once, one wins.
        const claimed = yield* sql`UPDATE ipfs_downloads SET owner = ${self}, attempts = 0, error_message = NULL,
          status = CASE WHEN status = 'pending' THEN 'pending' ELSE 'resuming' END
          WHERE id = ${id} AND owner IS ${row.owner} RETURNING id`
        return claimed.length > 0 ? Option.none() : Option.some("another process")
      }).pipe(Effect.orDie),
    recordOutcome: (cid, outcome) =>
      run(
        outcome === "success"
          ? sql`UPDATE ipfs_cids SET success_count = success_count + 1 WHERE cid = ${cid}`
          : sql`UPDATE ipfs_cids SET failure_count = failure_count + 1 WHERE cid = ${cid}`
      )
  }
  return DownloadStore.of(store)
})

/** Runs the migrations on the SqlClient in context. */
const migrate = SqliteMigrator.layer({ loader: migrations }).pipe(Layer.provide(NodeContext.layer))

/** The store over the SQLite client in context, after running the migrations. */
export const layerSql: Layer.Layer<
  DownloadStore,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient | SqliteClient.SqliteClient
> = Layer.effect(DownloadStore, make).pipe(Layer.provide(migrate))

/**
 * The store on a SQLite file: WAL mode and a busy timeout, so that several
 * processes can share it.
 */
export const layerSqlite = (filename: string): Layer.Layer<DownloadStore> => {
  const client = Layer.effectDiscard(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA busy_timeout = 5000`)
  ).pipe(Layer.provideMerge(SqliteClient.layer({ filename })))
  return layerSql.pipe(Layer.provide(client), Layer.orDie)
}
