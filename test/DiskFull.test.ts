/**
 * Scenario 14: the disk fills up during a download. The Storage layer is
 * swapped for one with little room; everything else is real.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as FullDisk from "./support/FullDisk.js"
import { build, fileSize, tempHome, writePartial } from "./support/Stack.js"
import * as TestGateway from "../src/testing/LoopbackGateway.js"

const content = TestGateway.generate(500_000, 14)

describe("Downloader on a full disk", () => {
  it.scoped("14. pauses with the message stored and the partial intact, and a later resume completes", () =>
    Effect.gen(function*() {
      const server = yield* TestGateway.make
      server.add(content)
      const home = yield* tempHome
      const disk: FullDisk.FullDisk = { room: 150_000 }
      const { downloader, store } = yield* build({ home, gateways: [server.origin], storage: FullDisk.layer(disk) })

      const record = yield* downloader.create({ cid: content.cid })
      yield* writePartial(record.downloadPath, content.bytes, 100_000)
      const error = yield* Effect.flip(downloader.resume(record.id))
      expect(error._tag).toBe("DownloadPaused")

      const paused = yield* downloader.status(record.id)
      expect(paused.status).toBe("paused")
      expect(paused.errorMessage).toBe(`Cannot write to ${record.partialPath}: the disk is full`)
      const kept = fileSize(record.partialPath)!
      expect(kept).toBeGreaterThanOrEqual(100_000)
      expect(kept).toBeLessThanOrEqual(250_000)
      expect(NodeFs.readFileSync(record.partialPath).equals(content.bytes.subarray(0, kept))).toBe(true)
      expect((yield* store.getDownloadsByStatus("paused")).map((d) => d.id)).toEqual([record.id])

      disk.room = Number.MAX_SAFE_INTEGER // space was freed
      const done = yield* downloader.resume(record.id)
      expect(done.status).toBe("success")
      expect(server.requests.at(-1)!.range).toBe(`bytes=${kept}-`)
      expect(NodeFs.readFileSync(done.downloadPath).equals(content.bytes)).toBe(true)
    }))
})
