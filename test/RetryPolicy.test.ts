/** The failure table of ARCHITECTURE.md, decision by decision. */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, TestClock } from "effect"
import { GatewayBusy, GatewayHttpError, GatewayNetworkError, GatewayTimeout, RangeIgnored, RangeNotSatisfiable, ResponseTooLarge, StreamEndedEarly } from "../src/Gateway.js"
import { DigestMismatch } from "../src/Hasher.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import { StorageError } from "../src/Storage.js"
import { seedRetry } from "./support/Stack.js"

const at = { gateway: "http://127.0.0.1:1", cid: "bafk", offset: 0 }
const policy = RetryPolicy.make(seedRetry)
const situation: RetryPolicy.Situation = {
  bytesOnDisk: 0,
  totalBytes: 1000,
  resumeAttempts: 0,
  corruptionRestarts: 0,
  canSwitchGateway: true,
  notFoundEverywhere: false
}
const timeout = new GatewayTimeout({ ...at, phase: "headers", timeoutMs: 30_000 })

/** The TestClock times at which a retried effect runs, failing each time with the next input. */
const retryTimes = (inputs: ReadonlyArray<RetryPolicy.Failure>) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    const attempt = Effect.gen(function*() {
      times.push(yield* Clock.currentTimeMillis)
      return yield* Effect.fail(inputs[times.length - 1] ?? inputs.at(-1)!)
    })
    const fiber = yield* Effect.fork(Effect.retry(attempt, policy.backoff))
    yield* TestClock.adjust("1 hour")
    const exit = yield* Fiber.await(fiber)
    expect(Exit.isFailure(exit)).toBe(true)
    return times
  })

describe("RetryPolicy", () => {
  it.effect("backs off 1 s, 2 s, 4 s after timeouts, and stops after the third retry", () =>
    Effect.gen(function*() {
      expect(yield* retryTimes([timeout])).toEqual([0, 1000, 3000, 7000])
    }))

  it.effect("waits a gateway's Retry-After instead, capped at the configured bound", () =>
    Effect.gen(function*() {
      const busy = (retryAfterMs: number | null) => new GatewayBusy({ ...at, status: 429, retryAfterMs })
      expect(yield* retryTimes([busy(5000), busy(null), busy(600_000), busy(1)])).toEqual([0, 5000, 7000, 67_000])
    }))

  it("switches gateway at once after a network error, and fails when none is left", () => {
    const refused = new GatewayNetworkError({ ...at, code: "ECONNREFUSED", detail: "ECONNREFUSED" })
    expect(policy.decide(refused, situation)).toEqual({ _tag: "SwitchGateway" })
    const spent = policy.decide(refused, { ...situation, canSwitchGateway: false })
    expect(spent._tag).toBe("Fail")
  })

  it("resumes a reset stream at or above the threshold, restarts below it, within the resume budget", () => {
    const reset = new StreamEndedEarly({ ...at, received: 10, expected: 1000 })
    expect(policy.decide(reset, { ...situation, bytesOnDisk: 500 })).toEqual({ _tag: "Resume" })
    expect(policy.decide(reset, { ...situation, bytesOnDisk: 499 })).toEqual({
      _tag: "Restart",
      switchGateway: false,
      countsAsResume: true
    })
    expect(policy.decide(reset, { ...situation, bytesOnDisk: 900, resumeAttempts: 3 })._tag).toBe("Fail")
  })

  it("restarts after a 416, unless the file on disk is already whole", () => {
    const refused = new RangeNotSatisfiable({ ...at, offset: 400, totalSize: 1000 })
    expect(policy.decide(refused, { ...situation, bytesOnDisk: 400 })._tag).toBe("Restart")
    const whole = new RangeNotSatisfiable({ ...at, offset: 1000, totalSize: 1000 })
    expect(policy.decide(whole, { ...situation, bytesOnDisk: 1000 })).toEqual({ _tag: "Verify" })
  })

  it("skips the bytes on disk when a gateway ignores ranges", () => {
    expect(policy.decide(new RangeIgnored({ ...at, status: 200 }), situation)).toEqual({ _tag: "ResumeBySkipping" })
  })

  it("restarts on another gateway after corruption, twice, then fails", () => {
    const mismatch = new DigestMismatch({ algorithm: "sha256", expected: "aa", actual: "bb", source: "cid" })
    const restart = { _tag: "Restart", switchGateway: true, countsAsResume: false }
    expect(policy.decide(mismatch, situation)).toEqual(restart)
    expect(policy.decide(mismatch, { ...situation, corruptionRestarts: 1 })).toEqual(restart)
    expect(policy.decide(mismatch, { ...situation, corruptionRestarts: 2 })._tag).toBe("Fail")
    expect(policy.decide(new ResponseTooLarge({ ...at, expected: 10 }), situation)).toEqual(restart)
  })

  it("pauses on a write error, and moves on from a gateway that says no", () => {
    const full = new StorageError({ path: "/x", operation: "write to", reason: "DiskFull", detail: "ENOSPC" })
    expect(policy.decide(full, situation)).toEqual({ _tag: "Pause" })
    const missing = new GatewayHttpError({ ...at, status: 404, detail: "not found" })
    expect(policy.decide(missing, situation)).toEqual({ _tag: "SwitchGateway" })
    expect(policy.decide(missing, { ...situation, canSwitchGateway: false, notFoundEverywhere: true })).toEqual({
      _tag: "Fail",
      reason: "the content was not found on any gateway"
    })
    const lastOfMany = policy.decide(missing, { ...situation, canSwitchGateway: false })
    expect(lastOfMany._tag === "Fail" && lastOfMany.reason).toContain("no gateway would serve the content")
  })
})
