/** Bad input fails with a typed error and a clear sentence, and records nothing. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ContentId from "../src/ContentId.js"
import * as Hasher from "../src/Hasher.js"
import { build, tempHome } from "./support/Stack.js"
import * as TestGateway from "../src/testing/LoopbackGateway.js"

const content = TestGateway.generate(1000, 3)

const setup = Effect.gen(function*() {
  const server = yield* TestGateway.make
  server.add(content)
  const home = yield* tempHome
  return { ...(yield* build({ home, gateways: [server.origin] })), server }
})

describe("bad input", () => {
  it.scoped("an invalid CID is an InvalidCid, and nothing is recorded or fetched", () =>
    Effect.gen(function*() {
      const { downloader, server } = yield* setup
      const error = yield* Effect.flip(downloader.download({ cid: "not-a-cid" }))
      expect(error._tag).toBe("InvalidCid")
      expect(error.message).toMatch(/^"not-a-cid" is not a valid CID: /)
      expect(yield* downloader.list()).toEqual([])
      expect(server.requests).toEqual([])
    }))

  it.scoped("a hash that is not hex, or of no known length, is an InvalidHash", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup
      const notHex = yield* Effect.flip(downloader.download({ cid: content.cid, expectedHash: "xyz".repeat(21) + "x" }))
      expect(notHex).toMatchObject({ _tag: "InvalidHash", reason: "it is not hexadecimal" })
      const wrongLength = yield* Effect.flip(downloader.download({ cid: content.cid, expectedHash: "abcd" }))
      expect(wrongLength.message).toContain("4 hex digits match no supported digest")
      const conflicting = yield* Effect.flip(downloader.download({ cid: content.cid, expectedHash: "0".repeat(64) }))
      expect(conflicting.message).toContain(`has sha256 ${content.sha256}`)
      expect(yield* downloader.list()).toEqual([])
    }))

  it.scoped("an empty or malformed gateway list is an InvalidGateway", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup
      const empty = yield* Effect.flip(downloader.download({ cid: content.cid, gateways: [] }))
      expect(empty).toMatchObject({ _tag: "InvalidGateway", message: "No gateway: the list of gateways is empty" })
      const malformed = yield* Effect.flip(downloader.download({ cid: content.cid, gateways: ["ipfs.io"] }))
      expect(malformed._tag).toBe("InvalidGateway")
      expect(yield* downloader.list()).toEqual([])
    }))

  it.scoped("a file name that leaves the downloads folder is an InvalidPath", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup
      for (const filename of ["../escape", "/etc/passwd", "a/b", "..", "nul\0byte", "x".repeat(256), ""]) {
        const error = yield* Effect.flip(downloader.create({ cid: content.cid, filename }))
        expect(error._tag).toBe("InvalidPath")
      }
      expect(yield* downloader.list()).toEqual([])
    }))

  it.scoped("an unknown id is DownloadNotFound for status, resume and cancel", () =>
    Effect.gen(function*() {
      const { downloader } = yield* setup
      for (const attempt of [downloader.status("nope"), downloader.resume("nope"), downloader.cancel("nope")]) {
        const error = yield* Effect.flip(attempt)
        expect(error).toMatchObject({ _tag: "DownloadNotFound", message: `No download has the id "nope"` })
      }
    }))
})

describe("parsing", () => {
  it.effect("a CID in any multibase parses to its canonical form, and raw sha2-256 CIDs carry their digest", () =>
    Effect.gen(function*() {
      const raw = yield* ContentId.parse(content.cid)
      expect(raw.sha256._tag === "Some" && raw.sha256.value).toBe(content.sha256)
      const v0 = yield* ContentId.parse("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
      expect(v0.text).toBe("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
      expect(v0.sha256._tag).toBe("None")
      const base36 = "k2jmtxs2vf5jn1bzoofzqqz0o3gkvb6nxqt9gsd6ryjwyxmsxbl48nfv"
      expect((yield* Effect.either(ContentId.parse(base36)))._tag).toBe("Right")
    }))

  it.effect("expected hashes are read by length or by name", () =>
    Effect.gen(function*() {
      expect(yield* Hasher.parseExpected("A".repeat(64))).toEqual({ algorithm: "sha256", hex: "a".repeat(64) })
      expect((yield* Hasher.parseExpected("b".repeat(40))).algorithm).toBe("sha1")
      expect((yield* Hasher.parseExpected("c".repeat(32))).algorithm).toBe("md5")
      expect((yield* Hasher.parseExpected(`sha512:${"d".repeat(128)}`)).algorithm).toBe("sha512")
      const wrong = yield* Effect.flip(Hasher.parseExpected(`sha1:${"e".repeat(64)}`))
      expect(wrong.reason).toBe("a sha1 digest has 40 hex digits, this has 64")
    }))
})
