/** Every setting comes from `IPFS_DL_*`, with the seed's defaults. */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import * as NodePath from "node:path"
import * as Settings from "../src/Settings.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_", seqDelim: "," }))

describe("Settings", () => {
  it.effect("defaults to the seed's values", () =>
    Effect.gen(function*() {
      const retry = yield* Settings.retry.pipe(withEnv({}))
      expect(retry.maxResumeAttempts).toBe(3)
      expect(retry.maxRetryAttempts).toBe(3)
      expect(Duration.toMillis(retry.initialBackoff)).toBe(1000)
      expect(retry.backoffMultiplier).toBe(2)
      expect(retry.resumeThreshold).toBe(0.5)
      const gateway = yield* Settings.gateway.pipe(withEnv({}))
      expect(Duration.toMillis(gateway.timeout)).toBe(30_000)
      const downloader = yield* Settings.downloader.pipe(withEnv({ IPFS_DL_HOME: "/data/ipfs-dl" }))
      expect(downloader.downloadsDir).toBe("/data/ipfs-dl/downloads")
      expect(downloader.gateways).toEqual(Settings.defaultGateways)
    }))

  it.effect("reads IPFS_DL_* keys", () =>
    Effect.gen(function*() {
      const env = withEnv({
        IPFS_DL_MAX_RESUME_ATTEMPTS: "5",
        IPFS_DL_TIMEOUT_MS: "1500",
        IPFS_DL_BACKOFF_MULTIPLIER: "3",
        IPFS_DL_RESUME_THRESHOLD: "0",
        IPFS_DL_DOWNLOADS_DIR: "relative/dir",
        IPFS_DL_GATEWAYS: "http://127.0.0.1:1, http://127.0.0.1:2"
      })
      expect((yield* Settings.retry.pipe(env)).maxResumeAttempts).toBe(5)
      expect((yield* Settings.retry.pipe(env)).backoffMultiplier).toBe(3)
      expect((yield* Settings.retry.pipe(env)).resumeThreshold).toBe(0)
      expect(Duration.toMillis((yield* Settings.gateway.pipe(env)).timeout)).toBe(1500)
      const downloader = yield* Settings.downloader.pipe(env)
      expect(downloader.downloadsDir).toBe(NodePath.resolve("relative/dir"))
      expect(downloader.gateways).toEqual(["http://127.0.0.1:1", "http://127.0.0.1:2"])
    }))

  it.effect("refuses values out of range with the key's name", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Settings.retry.pipe(withEnv({ IPFS_DL_RESUME_THRESHOLD: "1.5" })))
      expect(String(error)).toContain("RESUME_THRESHOLD")
      expect(String(error)).toContain("must be between 0 and 1")
      const notNumber = yield* Effect.flip(Settings.gateway.pipe(withEnv({ IPFS_DL_TIMEOUT_MS: "soon" })))
      expect(String(notNumber)).toContain("TIMEOUT_MS")
    }))
})
