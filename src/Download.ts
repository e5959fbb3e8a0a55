/**
 * The records of a download, as callers see them: status, progress, outcome,
 * and the events a running download publishes.
 */
import { Schema } from "effect"

/**
 * Where a download is in its life:
 * `pending → in_progress → (resuming) → success | paused | failed`.
 */
export const Status = Schema.Literal("pending", "in_progress", "resuming", "paused", "success", "failed")
export type Status = typeof Status.Type

/** One download as stored. Times are milliseconds since the epoch. */
export class Download extends Schema.Class<Download>("Download")({
  id: Schema.String,
  cid: Schema.String,
  /** Final path of the file; the partial file is this path with `.part` appended. */
  downloadPath: Schema.String,
  status: Status,
  /** Bytes on disk at the last checkpoint. */
  downloadedBytes: Schema.Number,
  totalBytes: Schema.NullOr(Schema.Number),
  errorMessage: Schema.NullOr(Schema.String),
  startedAt: Schema.Number,
  completedAt: Schema.NullOr(Schema.Number),
  /** Automatic resumes since the download was created or last resumed by hand. */
  attempts: Schema.Number,
  lastAttempt: Schema.NullOr(Schema.Number),
  currentSize: Schema.Number,
  /** sha256 (hex) of the published file. */
  hash: Schema.NullOr(Schema.String),
  /** The digest the caller expects, as `<algorithm>:<hex>`, if one was given. */
  expectedHash: Schema.NullOr(Schema.String),
  /** The gateway that served this CID last. */
  gatewayUrl: Schema.NullOr(Schema.String)
}) {
  /** The partial file's path. */
  get partialPath(): string {
    return `${this.downloadPath}.part`
  }
}

/**
 * A download as the edges show it (`ipfs-dl --json`, the HTTP API): stable
 * field names for scripts, times as ISO 8601.
 */
export const View = Schema.Struct({
  id: Schema.String,
  cid: Schema.String,
  path: Schema.String,
  status: Status,
  bytes: Schema.Number,
  totalBytes: Schema.NullOr(Schema.Number),
  sha256: Schema.NullOr(Schema.String),
  expectedHash: Schema.NullOr(Schema.String),
  attempts: Schema.Number,
  gateway: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  startedAt: Schema.String,
  completedAt: Schema.NullOr(Schema.String)
})
export type View = typeof View.Type

const isoTime = (millis: number) => new Date(millis).toISOString()

/** The view of a stored download. */
export const toView = (download: Download): View => ({
  id: download.id,
  cid: download.cid,
  path: download.downloadPath,
  status: download.status,
  bytes: download.currentSize,
  totalBytes: download.totalBytes,
  sha256: download.hash,
  expectedHash: download.expectedHash,
  attempts: download.attempts,
  gateway: download.gatewayUrl,
  error: download.errorMessage,
  startedAt: isoTime(download.startedAt),
  completedAt: download.completedAt === null ? null : isoTime(download.completedAt)
})

/** Something that happened to a download, as published on `Downloader.events`. */
export const Event = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("download_started"),
    downloadId: Schema.String,
    cid: Schema.String,
    gateway: Schema.String,
    offset: Schema.Number,
    totalBytes: Schema.NullOr(Schema.Number)
  }),
  Schema.Struct({
    type: Schema.Literal("download_progress"),
    downloadId: Schema.String,
    gateway: Schema.String,
    bytes: Schema.Number,
    totalBytes: Schema.NullOr(Schema.Number),
    bytesPerSecond: Schema.Number
  }),
  Schema.Struct({
    type: Schema.Literal("download_retrying"),
    downloadId: Schema.String,
    gateway: Schema.String,
    error: Schema.String,
    action: Schema.Literal("backoff", "switch_gateway", "resume", "restart"),
    delayMs: Schema.Number
  }),
  Schema.Struct({
    type: Schema.Literal("download_complete"),
    downloadId: Schema.String,
    filepath: Schema.String,
    sha256: Schema.String,
    verified: Schema.Boolean
  }),
  Schema.Struct({
    type: Schema.Literal("download_paused"),
    downloadId: Schema.String,
    error: Schema.String
  }),
  Schema.Struct({
    type: Schema.Literal("download_failed"),
    downloadId: Schema.String,
    error: Schema.String
  })
)
export type Event = typeof Event.Type
