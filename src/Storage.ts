/**
 * The partial file and the published file: positional writes, flush to disk,
 * atomic publish by rename. Write failures such as a full disk are typed.
 */
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Context, Effect, Layer, Schema, Scope, Stream } from "effect"

/** A file operation failed. `reason` says whether freeing space or fixing permissions would help. */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  path: Schema.String,
  operation: Schema.String,
  reason: Schema.Literal("DiskFull", "PermissionDenied", "NotFound", "Other"),
  detail: Schema.String
}) {
  override get message() {
    const what = {
      DiskFull: "the disk is full",
      PermissionDenied: "permission denied",
      NotFound: "no such file or directory",
      Other: this.detail
    }[this.reason]
    return `Cannot ${this.operation} ${this.path}: ${what}`
  }
}

/** A file open for writes at explicit offsets. */
export interface WritableFile {
  /** Writes all of `bytes` starting at byte `position`. */
  readonly write: (position: number, bytes: Uint8Array) => Effect.Effect<void, StorageError>
  /** Cuts the file to `length` bytes. */
  readonly truncate: (length: number) => Effect.Effect<void, StorageError>
  /** Forces written bytes to the disk (fsync). */
  readonly flush: Effect.Effect<void, StorageError>
}

/** Files on a disk. */
export class Storage extends Context.Tag("ipfs-downloader/Storage")<Storage, {
  /** Size of a file in bytes, 0 when it does not exist. */
  readonly size: (path: string) => Effect.Effect<number, StorageError>
  /** Opens a file for positional writes, creating it and its folder when missing; closed with the scope. */
  readonly open: (path: string) => Effect.Effect<WritableFile, StorageError, Scope.Scope>
  /** The first `bytes` bytes of a file. */
  readonly read: (path: string, bytes: number) => Stream.Stream<Uint8Array, StorageError>
  /** Moves a finished file to its final name in one step (rename), replacing what was there. */
  readonly publish: (from: string, to: string) => Effect.Effect<void, StorageError>
  /** Deletes a file; a missing file is not an error. */
  readonly remove: (path: string) => Effect.Effect<void, StorageError>
  /** Whether a file exists. */
  readonly exists: (path: string) => Effect.Effect<boolean, StorageError>
}>() {}

/** The `code` of the Node error beneath a platform error, such as `ENOSPC`. */
const errorCode = (error: PlatformError): string | undefined => {
  const cause = "cause" in error ? error.cause : undefined
  return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined
}

/** Turns a platform error into a StorageError. */
export const fromPlatformError = (path: string, operation: string) => (error: PlatformError): StorageError => {
  const code = errorCode(error)
  const reason = code === "ENOSPC" || code === "EDQUOT"
    ? "DiskFull"
    : code === "EACCES" || code === "EPERM" || code === "EROFS" || (error._tag === "SystemError" && error.reason === "PermissionDenied")
    ? "PermissionDenied"
    : error._tag === "SystemError" && error.reason === "NotFound"
    ? "NotFound"
    : "Other"
  return new StorageError({ path, operation, reason, detail: code ?? error.message })
}

/** Creates Storage over `@effect/platform`'s FileSystem. */
export const make = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const paths = yield* Path.Path

  const size = (path: string) =>
    fs.stat(path).pipe(
      Effect.map((info) => Number(info.size)),
      Effect.catchIf((error) => error._tag === "SystemError" && error.reason === "NotFound", () => Effect.succeed(0)),
      Effect.mapError(fromPlatformError(path, "read the size of"))
    )

  const open = (path: string) =>
    Effect.gen(function*() {
      yield* fs.makeDirectory(paths.dirname(path), { recursive: true })
      // "r+" keeps existing bytes (the default "w" would truncate); create the file first when missing.
      const exists = yield* fs.exists(path)
      if (!exists) yield* fs.writeFile(path, new Uint8Array(0))
      const file = yield* fs.open(path, { flag: "r+" })
      const writable: WritableFile = {
        write: (position, bytes) =>
          file.seek(position, "start").pipe(
            Effect.zipRight(file.writeAll(bytes)),
            Effect.mapError(fromPlatformError(path, "write to"))
          ),
        truncate: (length) => file.truncate(length).pipe(Effect.mapError(fromPlatformError(path, "truncate"))),
        flush: file.sync.pipe(Effect.mapError(fromPlatformError(path, "flush")))
      }
      return writable
    }).pipe(Effect.mapError(fromPlatformError(path, "open")))

  const read = (path: string, bytes: number) =>
    fs.stream(path, { bytesToRead: bytes, chunkSize: 1024 * 1024 }).pipe(
      Stream.mapError(fromPlatformError(path, "read"))
    )

  const publish = (from: string, to: string) =>
    fs.makeDirectory(paths.dirname(to), { recursive: true }).pipe(
      Effect.zipRight(fs.rename(from, to)),
      Effect.mapError(fromPlatformError(to, "publish"))
    )

  const remove = (path: string) =>
    fs.remove(path).pipe(
      Effect.catchIf((error) => error._tag === "SystemError" && error.reason === "NotFound", () => Effect.void),
      Effect.mapError(fromPlatformError(path, "remove"))
    )

  const exists = (path: string) => fs.exists(path).pipe(Effect.mapError(fromPlatformError(path, "check")))

  return Storage.of({ size, open, read, publish, remove, exists })
})

/** Storage on the real file system; needs a FileSystem and Path (e.g. `NodeContext.layer`). */
export const layer: Layer.Layer<Storage, never, FileSystem.FileSystem | Path.Path> = Layer.effect(Storage, make)
