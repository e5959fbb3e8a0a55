/**
 * A Storage that behaves like a disk with little room: the real file system,
 * except that writes past a byte budget fail with ENOSPC, as a full disk's would.
 */
import { SystemError } from "@effect/platform/Error"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import * as Storage from "../../src/Storage.js"

export interface FullDisk {
  /** Bytes that may still be written before the disk is full. */
  room: number
}

/** The real Storage with `disk.room` bytes of room for writes. */
export const layer = (disk: FullDisk): Layer.Layer<Storage.Storage> =>
  Layer.effect(
    Storage.Storage,
    Effect.map(Storage.make, (real) =>
      Storage.Storage.of({
        ...real,
        open: (path) =>
          Effect.map(real.open(path), (file) => ({
            ...file,
            write: (position, bytes) =>
              Effect.suspend(() => {
                if (bytes.byteLength > disk.room) {
                  const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
                  const error = new SystemError({
                    reason: "Unknown",
                    module: "FileSystem",
                    method: "write",
                    pathOrDescriptor: path,
                    cause: enospc
                  })
                  return Effect.fail(Storage.fromPlatformError(path, "write to")(error))
                }
                disk.room -= bytes.byteLength
                return file.write(position, bytes)
              })
          }))
      }))
  ).pipe(Layer.provide(NodeContext.layer))
