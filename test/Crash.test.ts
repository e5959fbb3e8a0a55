/**
 * A download whose process is killed (SIGKILL: no finalizer runs) resumes in
 * the next process from the bytes on disk.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as Readline from "node:readline"
import { build, fileSize, tempHome } from "./support/Stack.js"
import * as TestGateway from "../src/testing/LoopbackGateway.js"

const SIZE = 2 * 1024 * 1024
const content = TestGateway.generate(SIZE, 9)

/** Runs the fixture that downloads `cid` in a child process and kills it with SIGKILL once `bytes` are on disk. */
const killAfter = (cid: string, env: Record<string, string>, bytes: number) =>
  Effect.acquireUseRelease(
    Effect.sync(() =>
      ChildProcess.spawn(process.execPath, ["test/fixtures/download-child.mjs", cid], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "inherit"]
      })
    ),
    (child) =>
      Effect.async<{ id: string; bytes: number; signal: string | null }>((resume) => {
        let seen = { id: "", bytes: 0 }
        Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
          const event = JSON.parse(line)
          if (event.type !== "download_progress") return
          seen = { id: event.downloadId, bytes: event.bytes }
          if (event.bytes >= bytes) child.kill("SIGKILL")
        })
        child.on("exit", (_, signal) => resume(Effect.succeed({ ...seen, signal })))
      }),
    (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

describe("crash recovery", () => {
  it.scopedLive("resumes from the bytes on disk after the downloading process is killed with SIGKILL", () =>
    Effect.gen(function*() {
      const server = yield* TestGateway.make
      server.add(content)
      server.rate(2 * 1024 * 1024)
      const home = yield* tempHome

      const killed = yield* killAfter(content.cid, {
        IPFS_DL_HOME: home,
        IPFS_DL_GATEWAYS: server.origin,
        IPFS_DL_PROGRESS_INTERVAL_MS: "20"
      }, SIZE * 0.4)
      expect(killed.signal).toBe("SIGKILL")

      const { downloader } = yield* build({ home, gateways: [server.origin] })
      const orphan = yield* downloader.status(killed.id)
      // The killed process could not say goodbye: its row still says it is running.
      expect(["in_progress", "resuming"]).toContain(orphan.status)
      const onDisk = fileSize(orphan.partialPath)!
      expect(onDisk).toBeGreaterThanOrEqual(killed.bytes)
      expect(onDisk).toBeLessThan(SIZE)

      server.rate(undefined)
      const done = yield* downloader.resume(killed.id)
      expect(server.requests.at(-1)!.range).toBe(`bytes=${onDisk}-`)
      expect(done).toMatchObject({ status: "success", hash: content.sha256 })
      expect(NodeFs.readFileSync(done.downloadPath).equals(content.bytes)).toBe(true)
    }))
})
