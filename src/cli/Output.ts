/**
 * What the command line prints: the JSON shape scripts depend on, and short
 * summaries for people.
 */
import { Either, Option } from "effect"
import * as ContentId from "../ContentId.js"
import type { Download } from "../Download.js"

const units = ["B", "KiB", "MiB", "GiB", "TiB"]

/** `1536` → `1.5 KiB`. */
export const bytes = (count: number): string => {
  let value = count
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${count} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** `75` → `1m15s`. */
export const duration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`
}

const percent = (download: Download) =>
  download.totalBytes === null || download.totalBytes === 0
    ? ""
    : ` (${Math.floor(download.currentSize * 100 / download.totalBytes)}%)`

const verification = (download: Download) =>
  download.expectedHash !== null
    ? `verified against ${download.expectedHash.split(":")[0]} ${download.expectedHash.split(":")[1]?.slice(0, 12)}…`
    : Either.getOrUndefined(ContentId.decode(download.cid))?.sha256.pipe(Option.isSome)
    ? "verified against the CID"
    : "not verified: no expected hash was given and the CID does not address raw bytes"

/** The lines printed when a download has completed. */
export const completed = (download: Download): string =>
  `Saved ${download.downloadPath}\n  ${bytes(download.currentSize)}, sha256 ${download.hash}, ${verification(download)}`

/** Every stored field, one per line. */
export const details = (download: Download): string => {
  const rows: Array<[string, string]> = [
    ["id", download.id],
    ["cid", download.cid],
    ["path", download.downloadPath],
    ["status", download.errorMessage === null ? download.status : `${download.status}: ${download.errorMessage}`],
    ["progress", `${bytes(download.currentSize)} of ${download.totalBytes === null ? "?" : bytes(download.totalBytes)}${percent(download)}`],
    ["attempts", String(download.attempts)],
    ["gateway", download.gatewayUrl ?? "-"],
    ["sha256", download.hash ?? "-"],
    ["started", new Date(download.startedAt).toISOString()],
    ["completed", download.completedAt === null ? "-" : new Date(download.completedAt).toISOString()]
  ]
  return rows.map(([key, value]) => `${key.padEnd(10)}${value}`).join("\n")
}

/** A table of downloads, one per line. */
export const table = (downloads: ReadonlyArray<Download>): string => {
  if (downloads.length === 0) return "No downloads."
  const rows = downloads.map((d) => [
    d.id,
    d.status,
    `${bytes(d.currentSize)}${percent(d)}`,
    d.cid.length > 20 ? `${d.cid.slice(0, 8)}…${d.cid.slice(-8)}` : d.cid,
    d.downloadPath
  ])
  const header = ["ID", "STATUS", "PROGRESS", "CID", "PATH"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  return [header, ...rows].map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  "))
    .join("\n")
}
