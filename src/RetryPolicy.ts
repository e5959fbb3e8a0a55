/**
 * What to do after each kind of failure (ARCHITECTURE.md, "Failure policy"):
 * the backoff as a `Schedule`, every other answer as a decision over the
 * error's tag. Supplied by a Layer so that tests and callers can swap it.
 */
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import type { GatewayError } from "./Gateway.js"
import type { DigestMismatch } from "./Hasher.js"
import * as Settings from "./Settings.js"
import type { StorageError } from "./Storage.js"

/** A failure of one attempt that the policy decides about. */
export type Failure = GatewayError | StorageError | DigestMismatch

/** What the Downloader does next. */
export type Decision =
  /** Wait for the backoff schedule's next delay, then ask the same gateway again. */
  | { readonly _tag: "Backoff" }
  /** Ask the next gateway at once, from the same offset. */
  | { readonly _tag: "SwitchGateway" }
  /** Ask the same gateway again from the bytes on disk; counts as a resume. */
  | { readonly _tag: "Resume" }
  /** Ask for the whole content again, skipping the bytes on disk as they arrive; counts as a resume. */
  | { readonly _tag: "ResumeBySkipping" }
  /** Delete the partial file and start from byte 0. */
  | { readonly _tag: "Restart"; readonly switchGateway: boolean; readonly countsAsResume: boolean }
  /** The bytes on disk are the whole content: go straight to verification. */
  | { readonly _tag: "Verify" }
  /** Stop, keep the partial file, and let a later `resume` continue. */
  | { readonly _tag: "Pause" }
  /** Stop for good. */
  | { readonly _tag: "Fail"; readonly reason: string }

/** What the Downloader knows when it asks. */
export interface Situation {
  /** Bytes of the partial file on disk. */
  readonly bytesOnDisk: number
  /** Size of the content, when known. */
  readonly totalBytes: number | null
  /** Automatic resumes already counted. */
  readonly resumeAttempts: number
  /** Restarts after a digest mismatch already made. */
  readonly corruptionRestarts: number
  /** Whether another gateway can still be asked for this kind of failure. */
  readonly canSwitchGateway: boolean
  /** Whether every gateway has answered 404. */
  readonly notFoundEverywhere: boolean
}

/** The retry policy. */
export class RetryPolicy extends Context.Tag("ipfs-downloader/RetryPolicy")<RetryPolicy, {
  /** The numbers the policy runs on. */
  readonly settings: Settings.RetrySettings
  /**
   * Delays between retries on one gateway after timeouts and busy answers:
   * exponential, capped in count, and stretched to a gateway's `Retry-After`.
   */
  readonly backoff: Schedule.Schedule<unknown, Failure>
  /** The next step after a failure. */
  readonly decide: (failure: Failure, situation: Situation) => Decision
}>() {}

const backoff = (settings: Settings.RetrySettings): Schedule.Schedule<unknown, Failure> =>
  Schedule.identity<Failure>().pipe(
    Schedule.intersect(Schedule.exponential(settings.initialBackoff, settings.backoffMultiplier)),
    Schedule.intersect(Schedule.recurs(settings.maxRetryAttempts)),
    Schedule.modifyDelay(([[failure]], delay) =>
      failure._tag === "GatewayBusy" && failure.retryAfterMs !== null
        ? Duration.min(Duration.millis(failure.retryAfterMs), settings.maxRetryAfter)
        : delay
    )
  )

/** The decisions of ARCHITECTURE.md's failure table. */
export const decide = (settings: Settings.RetrySettings) => (failure: Failure, situation: Situation): Decision => {
  const canResume = situation.resumeAttempts < settings.maxResumeAttempts
  const resumeLimit: Decision = {
    _tag: "Fail",
    reason: `gave up after ${settings.maxResumeAttempts} resume attempts; last error: ${failure.message}`
  }
  const switchOrFail = (why: string): Decision =>
    situation.canSwitchGateway ? { _tag: "SwitchGateway" } : { _tag: "Fail", reason: why }

  switch (failure._tag) {
    case "GatewayTimeout":
    case "GatewayBusy":
      return { _tag: "Backoff" }
    case "GatewayNetworkError":
      return switchOrFail(`no gateway could be reached (${settings.maxRetryAttempts} tries each); last error: ${failure.message}`)
    case "GatewayHttpError":
      return switchOrFail(
        situation.notFoundEverywhere
          ? "the content was not found on any gateway"
          : `no gateway would serve the content; last error: ${failure.message}`
      )
    case "StreamEndedEarly": {
      if (!canResume) return resumeLimit
      const enoughOnDisk = situation.totalBytes === null || situation.totalBytes === 0 ||
        situation.bytesOnDisk / situation.totalBytes >= settings.resumeThreshold
      return enoughOnDisk ? { _tag: "Resume" } : { _tag: "Restart", switchGateway: false, countsAsResume: true }
    }
    case "RangeNotSatisfiable":
      if (failure.totalSize !== null && failure.totalSize === situation.bytesOnDisk) return { _tag: "Verify" }
      return canResume ? { _tag: "Restart", switchGateway: false, countsAsResume: true } : resumeLimit
    case "RangeIgnored":
      return canResume ? { _tag: "ResumeBySkipping" } : resumeLimit
    case "ResponseTooLarge":
    case "DigestMismatch":
      return situation.corruptionRestarts < settings.maxCorruptionRestarts
        ? { _tag: "Restart", switchGateway: true, countsAsResume: false }
        : {
          _tag: "Fail",
          reason: `the content was corrupt ${settings.maxCorruptionRestarts + 1} times; last error: ${failure.message}`
        }
    case "StorageError":
      return { _tag: "Pause" }
  }
}

/** Creates the policy from its settings. */
export const make = (settings: Settings.RetrySettings): Context.Tag.Service<RetryPolicy> => ({
  settings,
  backoff: backoff(settings),
  decide: decide(settings)
})

/** The policy with the given settings. */
export const layer = (settings: Settings.RetrySettings): Layer.Layer<RetryPolicy> =>
  Layer.succeed(RetryPolicy, make(settings))

/** The policy from `IPFS_DL_*` settings, with the seed's defaults. */
export const layerConfig: Layer.Layer<RetryPolicy, import("effect/ConfigError").ConfigError> = Layer.effect(
  RetryPolicy,
  Effect.map(Settings.retry, make)
)
