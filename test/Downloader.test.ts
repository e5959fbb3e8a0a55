/**
 * The seed's fifteen scenarios, and the promises around them, against a real
 * gateway on loopback, real files and a real SQLite file.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import * as Crypto from "node:crypto"
import * as NodeFs from "node:fs"
import Database from "better-sqlite3"
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { build, drain, eventually, fileSize, nextEvent, sleeping, tempHome, writePartial } from "./support/Stack.js"
import * as TestGateway from "../src/testing/LoopbackGateway.js"

const SIZE = 400_000
const content = TestGateway.generate(SIZE, 42)

/** A gateway serving `content`, a data directory, and the stack over them. */
const setup = (options: { readonly gateways?: number; readonly retry?: Parameters<typeof build>[0]["retry"] } = {}) =>
  Effect.gen(function*() {
    const servers = []
    for (let i = 0; i < (options.gateways ?? 1); i++) {
      const server = yield* TestGateway.make
      server.add(content)
      servers.push(server)
    }
    const home = yield* tempHome
    const stack = yield* build({ home, gateways: servers.map((s) => s.origin), retry: options.retry ?? {} })
    const events = yield* stack.downloader.subscribe
    return { ...stack, servers, server: servers[0]!, home, events }
  })

const readFile = (path: string) => NodeFs.readFileSync(path)

describe("Downloader: the seed's scenarios", () => {
  it.scoped("1. detects a partial download by its size and asks only for the rest", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      const record = yield* downloader.create({ cid: content.cid })
      yield* writePartial(record.downloadPath, content.bytes, 123_456)
      const done = yield* downloader.resume(record.id)
      expect(server.requests.map((r) => r.range)).toEqual(["bytes=123456-"])
      expect(server.bytesSent()).toBe(SIZE - 123_456)
      expect(done.status).toBe("success")
      expect(readFile(done.downloadPath).equals(content.bytes)).toBe(true)
    }))

  for (const fraction of [0.25, 0.5, 0.75]) {
    it.scoped(`${fraction === 0.25 ? 2 : fraction === 0.5 ? 3 : 4}. resumes from ${fraction * 100}% at that offset`, () =>
      Effect.gen(function*() {
        const { downloader, server } = yield* setup()
        const record = yield* downloader.create({ cid: content.cid })
        const offset = SIZE * fraction
        yield* writePartial(record.downloadPath, content.bytes, offset)
        const done = yield* downloader.resume(record.id)
        expect(server.requests).toHaveLength(1)
        expect(server.requests[0]).toMatchObject({ range: `bytes=${offset}-`, status: 206, bytesSent: SIZE - offset })
        expect(done).toMatchObject({ status: "success", hash: content.sha256, currentSize: SIZE, totalBytes: SIZE })
        expect(fileSize(record.partialPath)).toBeUndefined()
      }))
  }

  it.scoped("5. verifies a resumed file over all of its bytes, prefix included", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup()
      const sha512 = Crypto.createHash("sha512").update(content.bytes).digest("hex")
      const record = yield* downloader.create({ cid: content.cid, expectedHash: sha512 })
      yield* writePartial(record.downloadPath, content.bytes, 250_000)
      const done = yield* downloader.resume(record.id)
      expect(done.expectedHash).toBe(`sha512:${sha512}`)
      // The stored sha256 is of the whole file, though only 150 000 bytes came over the network.
      expect(done.hash).toBe(content.sha256)
    }))

  it.scoped("5b. checks md5, sha1 and sha512 on request, and fails a file that does not match", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup({ retry: { maxCorruptionRestarts: 0 } })
      for (const algorithm of ["md5", "sha1", "sha512"] as const) {
        const hex = Crypto.createHash(algorithm).update(content.bytes).digest("hex")
        const done = yield* downloader.download({ cid: content.cid, filename: algorithm, expectedHash: hex })
        expect(done.expectedHash).toBe(`${algorithm}:${hex}`)
      }
      const wrong = Crypto.createHash("md5").update("something else").digest("hex")
      const error = yield* Effect.flip(downloader.download({ cid: content.cid, filename: "wrong", expectedHash: wrong }))
      expect(error.message).toContain(`The md5 of the file is`)
    }))

  it.scoped("6. detects a corrupt partial file on resume and starts over from byte 0", () =>
    Effect.gen(function*() {
      const { downloader, events, server } = yield* setup()
      const record = yield* downloader.create({ cid: content.cid })
      const corrupt = Buffer.from(content.bytes.subarray(0, 200_000))
      corrupt[1000] = corrupt[1000]! ^ 0x01
      yield* writePartial(record.downloadPath, corrupt, 200_000)
      const done = yield* downloader.resume(record.id)
      const restart = yield* nextEvent(events, "download_retrying")
      expect(restart.action).toBe("restart")
      expect(restart.error).toContain("sha256")
      expect(server.requests.map((r) => r.range)).toEqual(["bytes=200000-", undefined])
      expect(readFile(done.downloadPath).equals(content.bytes)).toBe(true)
    }))

  it.scoped("7. deletes the partial file when the content is corrupt and no restart is left", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup({ retry: { maxCorruptionRestarts: 0 } })
      server.always({ kind: "corrupt", at: 5 })
      const record = yield* downloader.create({ cid: content.cid })
      const error = yield* Effect.flip(downloader.resume(record.id))
      expect(error._tag).toBe("DownloadFailed")
      expect(error.message).toContain("corrupt")
      expect(fileSize(record.partialPath)).toBeUndefined()
      expect(fileSize(record.downloadPath)).toBeUndefined()
      expect((yield* downloader.status(record.id)).status).toBe("failed")
    }))

  it.scoped("8. counts each automatic resume in the database", () =>
    Effect.gen(function*() {
      const { downloader, server, store } = yield* setup()
      server.script({ kind: "reset", afterBytes: 300_000 }, { kind: "reset", afterBytes: 50_000 })
      const record = yield* downloader.create({ cid: content.cid })
      const done = yield* downloader.resume(record.id)
      expect(server.requests.map((r) => r.range)).toEqual([undefined, "bytes=300000-", "bytes=350000-"])
      expect(done.attempts).toBe(2)
      expect(done.lastAttempt).not.toBeNull()
      const stored = yield* store.getDownload(record.id)
      expect(Option.map(stored, (d) => d.attempts)).toEqual(Option.some(2))
    }))

  it.scoped("9. falls back to the next gateway when one cannot be reached", () =>
    Effect.gen(function*() {
      const server = yield* TestGateway.make
      server.add(content)
      const refused = yield* TestGateway.closedPort
      const home = yield* tempHome
      const { downloader } = yield* build({ home, gateways: [refused, server.origin] })
      const events = yield* downloader.subscribe
      const done = yield* downloader.download({ cid: content.cid })
      const switched = yield* nextEvent(events, "download_retrying")
      expect(switched).toMatchObject({ action: "switch_gateway", gateway: refused })
      expect(done).toMatchObject({ status: "success", gatewayUrl: server.origin })
    }))

  it.scoped("9b. resumes on the next gateway from the same offset when one goes away mid-download", () =>
    Effect.gen(function*() {
      const { downloader, servers } = yield* setup({ gateways: 2 })
      servers[0]!.script({ kind: "reset", afterBytes: 300_000 }, { kind: "status", status: 502 })
      servers[0]!.always({ kind: "status", status: 500 })
      const done = yield* downloader.download({ cid: content.cid })
      expect(done.status).toBe("success")
      expect(servers[1]!.requests.map((r) => r.range)).toEqual(["bytes=300000-"])
    }).pipe(Effect.fork, Effect.flatMap((fiber) =>
      // The 502 is a busy answer: let the one-second backoff pass.
      sleeping("1 second").pipe(Effect.zipRight(TestClock.adjust("1 second")), Effect.zipRight(Fiber.join(fiber)))
    )))

  it.scoped("10. backs off 1 s, 2 s, 4 s after timeouts, then fails", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      server.always({ kind: "stallHeaders" })
      const record = yield* downloader.create({ cid: content.cid })
      const fiber = yield* Effect.fork(downloader.resume(record.id))
      for (const [attempt, delay] of [[1, 1000], [2, 2000], [3, 4000]] as const) {
        yield* eventually(Effect.sync(() => server.requests.length === attempt ? Option.some(true) : Option.none()), `request ${attempt}`)
        yield* sleeping("30 seconds")
        yield* TestClock.adjust("30 seconds") // the request times out
        yield* sleeping(delay)
        yield* TestClock.adjust(delay - 1)
        yield* eventually(Effect.succeed(Option.some(true)), "a moment", 1)
        expect(server.requests.length).toBe(attempt)
        yield* TestClock.adjust(1)
      }
      yield* eventually(Effect.sync(() => server.requests.length === 4 ? Option.some(true) : Option.none()), "request 4")
      yield* sleeping("30 seconds")
      yield* TestClock.adjust("30 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("DownloadFailed")
      expect(error.message).toContain("gave up after 3 retries")
      expect(server.requests).toHaveLength(4)
    }))

  it.scoped("11. fails once the resume attempts are spent, keeping the partial file", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      server.script(
        { kind: "reset", afterBytes: 250_000 },
        { kind: "reset", afterBytes: 10_000 },
        { kind: "reset", afterBytes: 10_000 },
        { kind: "reset", afterBytes: 10_000 }
      )
      const record = yield* downloader.create({ cid: content.cid })
      const error = yield* Effect.flip(downloader.resume(record.id))
      expect(error._tag).toBe("DownloadFailed")
      expect(error.message).toContain("3 resume attempts")
      expect(server.requests).toHaveLength(4)
      const failed = yield* downloader.status(record.id)
      expect(failed).toMatchObject({ status: "failed", attempts: 3 })
      expect(fileSize(record.partialPath)).toBe(280_000)
    }))

  it.scoped("12. tells a 206 from a 200 and a 416, and uses each rightly", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      // 416 with the file already whole on disk: nothing to fetch, only to verify.
      const whole = yield* downloader.create({ cid: content.cid, filename: "whole" })
      yield* writePartial(whole.downloadPath, content.bytes, SIZE)
      const wholeDone = yield* downloader.resume(whole.id)
      expect(wholeDone).toMatchObject({ status: "success", attempts: 0 })
      expect(server.requests.map((r) => [r.range, r.status, r.bytesSent])).toEqual([[`bytes=${SIZE}-`, 416, 0]])

      // 416 for a partial file: start over.
      const refused = yield* downloader.create({ cid: content.cid, filename: "refused" })
      yield* writePartial(refused.downloadPath, content.bytes, 1000)
      server.script({ kind: "status", status: 416 })
      const refusedDone = yield* downloader.resume(refused.id)
      expect(refusedDone).toMatchObject({ status: "success", hash: content.sha256, attempts: 1 })
      expect(server.requests.slice(-2).map((r) => [r.range, r.status])).toEqual([["bytes=1000-", 416], [undefined, 200]])
    }))

  it.scoped("13. after a reset, restarts below 50% on disk and resumes at or above it", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      server.script({ kind: "reset", afterBytes: 150_000 })
      const below = yield* downloader.download({ cid: content.cid, filename: "below" })
      expect(below.status).toBe("success")
      expect(server.requests.map((r) => r.range)).toEqual([undefined, undefined])

      server.script({ kind: "reset", afterBytes: 200_000 })
      yield* downloader.download({ cid: content.cid, filename: "at-half" })
      expect(server.requests.slice(2).map((r) => r.range)).toEqual([undefined, "bytes=200000-"])
    }))

  it.scoped("15. moves through pending, in_progress, resuming and success", () =>
    Effect.gen(function*() {
      const { downloader, events, server, store } = yield* setup()
      const statusOf = (id: string) => store.getDownload(id).pipe(Effect.map((d) => Option.getOrThrow(d).status))
      server.script({ kind: "stall", afterBytes: 300_000 }, { kind: "stall", afterBytes: 50_000 })
      const record = yield* downloader.create({ cid: content.cid })
      expect(record.status).toBe("pending")
      const fiber = yield* Effect.fork(downloader.resume(record.id))
      yield* nextEvent(events, "download_progress", (e) => e.bytes === 300_000)
      expect(yield* statusOf(record.id)).toBe("in_progress")
      server.cutStalled()
      yield* nextEvent(events, "download_started", (e) => e.offset === 300_000)
      expect(yield* statusOf(record.id)).toBe("resuming")
      yield* nextEvent(events, "download_progress", (e) => e.bytes === 350_000)
      server.cutStalled()
      const done = yield* Fiber.join(fiber)
      expect(done.status).toBe("success")
      expect(done.completedAt).not.toBeNull()
    }))
})

describe("Downloader: what it must never do", () => {
  it.scoped("never appends a body that ignored the range: skips what is on disk instead", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      server.always({ kind: "ignoreRange" })
      const record = yield* downloader.create({ cid: content.cid })
      yield* writePartial(record.downloadPath, content.bytes, 100_000)
      const done = yield* downloader.resume(record.id)
      expect(server.requests.map((r) => [r.range, r.status])).toEqual([["bytes=100000-", 200], [undefined, 200]])
      expect(readFile(done.downloadPath).equals(content.bytes)).toBe(true)
    }))

  it.scoped("resumes from the bytes on disk after its fiber is interrupted mid-way", () =>
    Effect.gen(function*() {
      const { downloader, events, server } = yield* setup()
      server.script({ kind: "stall", afterBytes: 220_000 })
      const record = yield* downloader.create({ cid: content.cid })
      const fiber = yield* Effect.fork(downloader.resume(record.id))
      yield* nextEvent(events, "download_progress", (e) => e.bytes === 220_000)
      yield* Fiber.interrupt(fiber)
      const paused = yield* downloader.status(record.id)
      expect(paused).toMatchObject({ status: "paused", errorMessage: "interrupted" })
      expect(fileSize(record.partialPath)).toBe(220_000)

      const done = yield* downloader.resume(record.id)
      expect(server.requests[1]!.range).toBe("bytes=220000-")
      expect(server.bytesSent()).toBe(SIZE)
      expect(readFile(done.downloadPath).equals(content.bytes)).toBe(true)
    }))

  it.scoped("fails a body longer than the known size and fetches it again elsewhere", () =>
    Effect.gen(function*() {
      const { downloader, servers } = yield* setup({ gateways: 2 })
      servers[0]!.script({ kind: "reset", afterBytes: 300_000 }, { kind: "oversize", extra: 10 })
      servers[1]!.always({ kind: "oversize", extra: 0 })
      const done = yield* downloader.download({ cid: content.cid })
      expect(done.hash).toBe(content.sha256)
      expect(servers[0]!.requests.map((r) => r.status)).toEqual([200, 206])
    }))

  it.scoped("fails with a clear message when no gateway has the content", () =>
    Effect.gen(function*() {
      const { downloader, servers } = yield* setup({ gateways: 2 })
      const missing = TestGateway.generate(10, 99)
      const error = yield* Effect.flip(downloader.download({ cid: missing.cid }))
      expect(error).toMatchObject({ _tag: "DownloadFailed", reason: "the content was not found on any gateway" })
      expect(servers.map((s) => s.requests.length)).toEqual([1, 1])
    }))

  it.scoped("waits as long as Retry-After says, within its bound", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      server.script({ kind: "status", status: 429, retryAfter: "20" })
      const fiber = yield* Effect.fork(downloader.download({ cid: content.cid }))
      yield* sleeping("20 seconds")
      yield* TestClock.adjust("19999 millis")
      expect(server.requests).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      const done = yield* Fiber.join(fiber)
      expect(done.status).toBe("success")
      expect(server.requests).toHaveLength(2)
    }))

  it.scoped("runs several downloads at once with independent state", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      const others = [1, 2, 3].map((seed) => TestGateway.generate(150_000 + seed * 1000, seed))
      others.forEach(server.add)
      server.script({ kind: "reset", afterBytes: 120_000 })
      const results = yield* Effect.all(others.map((c) => downloader.download({ cid: c.cid })), { concurrency: "unbounded" })
      expect(results.map((r) => r.hash)).toEqual(others.map((c) => c.sha256))
      expect(results.map((r) => r.status)).toEqual(["success", "success", "success"])
      expect(results.map((r) => r.attempts).sort()).toEqual([0, 0, 1])
    }))

  it.scoped("cancels a running download, deleting its partial file", () =>
    Effect.gen(function*() {
      const { downloader, events, server } = yield* setup()
      server.script({ kind: "stall", afterBytes: 100_000 })
      const record = yield* downloader.create({ cid: content.cid })
      const fiber = yield* Effect.fork(downloader.resume(record.id))
      yield* nextEvent(events, "download_progress", (e) => e.bytes === 100_000)
      const cancelled = yield* downloader.cancel(record.id)
      expect(cancelled).toMatchObject({ status: "failed", errorMessage: "cancelled" })
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("DownloadCancelled")
      expect(fileSize(record.partialPath)).toBeUndefined()
      const again = yield* Effect.flip(downloader.cancel(record.id))
      expect(again._tag).toBe("InvalidState")
    }))

  it.scoped("stops when another process cancels the download in the shared database", () =>
    Effect.gen(function*() {
      const { downloader, events, server, store } = yield* setup()
      server.script({ kind: "stall", afterBytes: 100_000 })
      const record = yield* downloader.create({ cid: content.cid })
      const fiber = yield* Effect.fork(downloader.resume(record.id))
      yield* nextEvent(events, "download_progress", (e) => e.bytes === 100_000)
      yield* store.markFailed(record.id, "cancelled")
      // The stream breaks; the next step of the download sees the row is no longer running.
      server.cutStalled()
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("DownloadCancelled")
      expect(fileSize(record.partialPath)).toBeUndefined()
    }))

  it.scoped("continues an unfinished download of the same CID and path instead of starting over", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      const first = yield* downloader.create({ cid: content.cid })
      yield* writePartial(first.downloadPath, content.bytes, 300_000)
      const done = yield* downloader.download({ cid: content.cid })
      expect(done.id).toBe(first.id)
      expect(server.requests.map((r) => r.range)).toEqual(["bytes=300000-"])
      const again = yield* downloader.download({ cid: content.cid })
      expect(again.id).toBe(first.id)
      expect(server.requests).toHaveLength(1)
      expect((yield* downloader.list()).length).toBe(1)
    }))

  it.scoped("never starts a new download from a partial file that no download owns", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup()
      const path = NodePath.join(NodeFs.mkdtempSync("/tmp/ipfs-dl-stale-"), "x")
      NodeFs.writeFileSync(`${path}.part`, Buffer.alloc(600, 0x41))
      const done = yield* downloader.download({ cid: content.cid, output: path })
      expect(server.requests.map((r) => r.range)).toEqual([undefined])
      expect(readFile(done.downloadPath).equals(content.bytes)).toBe(true)
    }))

  it.scoped("refuses a second CID at a path another unfinished download writes to", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup()
      const first = yield* downloader.create({ cid: content.cid, filename: "shared" })
      const other = TestGateway.generate(10, 5)
      const error = yield* Effect.flip(downloader.create({ cid: other.cid, filename: "shared" }))
      expect(error._tag).toBe("InvalidPath")
      expect(error.message).toContain(`download ${first.id} of ${content.cid} is writing to it`)
    }))

  it.scoped("keeps the expected hash with its download, and takes a new one when the download is continued", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup()
      const sha1 = Crypto.createHash("sha1").update(content.bytes).digest("hex")
      const a = yield* downloader.create({ cid: content.cid, filename: "a", expectedHash: sha1 })
      const b = yield* downloader.create({ cid: content.cid, filename: "b" })
      expect(a.expectedHash).toBe(`sha1:${sha1}`)
      expect(b.expectedHash).toBeNull()
      const continued = yield* downloader.create({ cid: content.cid, filename: "b", expectedHash: content.sha256 })
      expect(continued).toMatchObject({ id: b.id, expectedHash: `sha256:${content.sha256}` })
    }))

  it.scoped("refuses to run a download that another live process is running, and takes over from a dead one", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup()
      const record = yield* downloader.create({ cid: content.cid })
      const other = yield* Effect.acquireRelease(
        Effect.sync(() => ChildProcess.spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"])),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const owner = `${Os.hostname()}:${other.pid}`
      const db = new Database(NodePath.join(NodePath.dirname(NodePath.dirname(record.downloadPath)), "ipfs-dl.db"))
      db.prepare("UPDATE ipfs_downloads SET status = 'in_progress', owner = ? WHERE id = ?").run(owner, record.id)
      const error = yield* Effect.flip(downloader.resume(record.id))
      expect(error).toMatchObject({ _tag: "InvalidState", owner })
      expect(error.message).toContain("running in another process")

      other.kill("SIGKILL")
      yield* Effect.promise(() => new Promise((resolve) => other.on("exit", resolve)))
      const done = yield* downloader.resume(record.id)
      expect(done.status).toBe("success")
      db.close()
    }))

  it.scoped("says the content was not found only when every gateway said 404", () =>
    Effect.gen(function*() {
      const { downloader, servers } = yield* setup({ gateways: 2 })
      const missing = TestGateway.generate(10, 98)
      servers[0]!.add(missing)
      servers[0]!.always({ kind: "status", status: 403 })
      const error = yield* Effect.flip(downloader.download({ cid: missing.cid }))
      expect(error.message).toContain("no gateway would serve the content")
    }))

  it.scoped("publishes events a UI can follow: started, progress, complete", () =>
    Effect.gen(function*() {
      const { downloader, events } = yield* setup()
      const done = yield* downloader.download({ cid: content.cid, filename: "events.bin" })
      const seen = yield* drain(events)
      expect(seen[0]).toMatchObject({ type: "download_started", offset: 0, totalBytes: SIZE })
      const progress = seen.filter((e) => e.type === "download_progress")
      expect(progress.length).toBeGreaterThan(0)
      expect(progress.at(-1)).toMatchObject({ bytes: SIZE })
      expect(seen.at(-1)).toEqual({
        type: "download_complete",
        downloadId: done.id,
        filepath: NodePath.join(NodePath.dirname(done.downloadPath), "events.bin"),
        sha256: content.sha256,
        verified: true
      })
    }))
})
