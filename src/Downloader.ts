/**
 * The Downloader composes Gateway, Storage, Hasher, DownloadStore and
 * RetryPolicy into downloads that resume where they stopped and publish only
 * verified files. It owns the state machine; the edges are thin adapters over it.
 */
import * as NodePath from "node:path"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Either,
  Fiber,
  FiberMap,
  Layer,
  Option,
  PubSub,
  Queue,
  Schedule,
  Schema,
  type Scope,
  Stream,
  Take
} from "effect"
import * as ContentId from "./ContentId.js"
import { type Download, type Event, Status } from "./Download.js"
import { DownloadStore } from "./DownloadStore.js"
import { Gateway, type InvalidGateway, parseOrigins } from "./Gateway.js"
import { type Algorithm, DigestMismatch, type Digests, Hasher, InvalidHash, parseExpected } from "./Hasher.js"
import { RetryPolicy } from "./RetryPolicy.js"
import * as Settings from "./Settings.js"
import { Storage } from "./Storage.js"

// ---------------------------------------------------------------------------
// Requests and errors
// ---------------------------------------------------------------------------

/** What to download. */
export interface DownloadRequest {
  /** The CID, in any multibase. */
  readonly cid: string
  /** Where to write the file, chosen by the local user; relative paths resolve against the working directory. */
  readonly output?: string | undefined
  /** A plain file name inside the downloads folder, for names that come from remote callers. */
  readonly filename?: string | undefined
  /** The expected digest: hex (the algorithm told by its length) or `<algorithm>:<hex>`. */
  readonly expectedHash?: string | undefined
  /** Gateway origins for this download, instead of the configured ones. */
  readonly gateways?: ReadonlyArray<string> | undefined
}

/** Options of a run of an existing download. */
export interface RunOptions {
  /** Gateway origins for this run, instead of the configured ones. */
  readonly gateways?: ReadonlyArray<string> | undefined
}

/** A file name that is not a plain name inside the downloads folder. */
export class InvalidPath extends Schema.TaggedError<InvalidPath>()("InvalidPath", {
  input: Schema.String,
  reason: Schema.String
}) {
  /** The request field at fault, for callers that report it. */
  readonly field = "filename"
  override get message() {
    return `"${this.input}" is not an acceptable file name: ${this.reason}`
  }
}

/** A request that cannot be carried out as given. Nothing is recorded for it. */
export type InvalidRequest = ContentId.InvalidCid | InvalidHash | InvalidGateway | InvalidPath

/** No download has this id. */
export class DownloadNotFound extends Schema.TaggedError<DownloadNotFound>()("DownloadNotFound", {
  downloadId: Schema.String
}) {
  override get message() {
    return `No download has the id "${this.downloadId}"`
  }
}

/** The download's status does not allow the action. */
export class InvalidState extends Schema.TaggedError<InvalidState>()("InvalidState", {
  downloadId: Schema.String,
  status: Status,
  action: Schema.Literal("resume", "cancel"),
  /** The process (`host:pid`) running the download, when that is why. */
  owner: Schema.optional(Schema.String)
}) {
  override get message() {
    const why = this.owner !== undefined
      ? `it is running in another process (${this.owner})`
      : `it is ${this.status === "success" ? "already complete" : this.status}`
    return `Cannot ${this.action} download ${this.downloadId}: ${why}`
  }
}

/** The download stopped with its partial file kept; `resume` continues it. */
export class DownloadPaused extends Schema.TaggedError<DownloadPaused>()("DownloadPaused", {
  downloadId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Download ${this.downloadId} is paused: ${this.reason}`
  }
}

/** The download cannot complete under the retry policy. */
export class DownloadFailed extends Schema.TaggedError<DownloadFailed>()("DownloadFailed", {
  downloadId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Download ${this.downloadId} failed: ${this.reason}`
  }
}

/** The download was cancelled, here or by another process. */
export class DownloadCancelled extends Schema.TaggedError<DownloadCancelled>()("DownloadCancelled", {
  downloadId: Schema.String
}) {
  override get message() {
    return `Download ${this.downloadId} was cancelled`
  }
}

/** How a run of a download can end other than in success. */
export type DownloadError = DownloadPaused | DownloadFailed | DownloadCancelled

/** The message stored for a cancelled download. */
export const cancelledMessage = "cancelled"

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/** Downloads content by CID from IPFS gateways. */
export class Downloader extends Context.Tag("ipfs-downloader/Downloader")<Downloader, {
  /**
   * Validates and records a download (status `pending`) without running it.
   * For a CID and path that already have an unfinished download, answers that
   * one; for a finished one whose file is still there, answers it as it is.
   */
  readonly create: (request: DownloadRequest) => Effect.Effect<Download, InvalidRequest>
  /** Creates the download and runs it to its end: the verified record, or why it stopped. */
  readonly download: (request: DownloadRequest) => Effect.Effect<Download, InvalidRequest | DownloadError>
  /** Runs a recorded download in the background and answers at once. Running it twice is running it once. */
  readonly start: (
    id: string,
    options?: RunOptions
  ) => Effect.Effect<Download, DownloadNotFound | InvalidState | InvalidGateway>
  /** Runs a recorded download (paused, failed, interrupted or pending) to its end. */
  readonly resume: (
    id: string,
    options?: RunOptions
  ) => Effect.Effect<Download, DownloadNotFound | InvalidState | InvalidGateway | DownloadError>
  /** Stops a download for good and deletes its partial file. */
  readonly cancel: (id: string) => Effect.Effect<Download, DownloadNotFound | InvalidState>
  /** The stored record. */
  readonly status: (id: string) => Effect.Effect<Download, DownloadNotFound>
  /** Every download, or those in one status, newest first. */
  readonly list: (status?: Status) => Effect.Effect<ReadonlyArray<Download>>
  /** Whether this process is running the download now. */
  readonly isRunning: (id: string) => Effect.Effect<boolean>
  /** Events of every download run by this process, from the moment the stream is run. */
  readonly events: Stream.Stream<Event>
  /** A subscription to the events that starts now, before any stream is run. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Event>, never, Scope.Scope>
}>() {}

/** What a finished transfer hands to verification. */
interface Transferred {
  readonly digests: Digests
  readonly size: number
}

/** What the bytes are checked against, if anything. */
interface Target {
  readonly algorithm: Algorithm
  readonly hex: string
  readonly source: "expected-hash" | "cid"
}

/** Which gateways may still be asked, and why the others may not. */
class Rotation {
  private readonly networkFailures: Array<number>
  private readonly spent: Array<boolean>
  private readonly notFound: Array<boolean>
  /** Gateways that answer ranged requests with the whole content. */
  readonly ignoresRanges = new Set<string>()
  index = 0

  constructor(readonly gateways: ReadonlyArray<string>, private readonly maxNetworkFailures: number) {
    this.networkFailures = gateways.map(() => 0)
    this.spent = gateways.map(() => false)
    this.notFound = gateways.map(() => false)
  }

  get current(): string {
    return this.gateways[this.index]!
  }

  private usable(index: number): boolean {
    return !this.spent[index] && this.networkFailures[index]! < this.maxNetworkFailures
  }

  /** Counts a failure of the current gateway: a network error, or an answer that rules it out. */
  record(kind: "network" | "spent" | "notFound"): void {
    if (kind === "network") this.networkFailures[this.index]! += 1
    else this.spent[this.index] = true
    if (kind === "notFound") this.notFound[this.index] = true
  }

  /** Whether every gateway answered 404. */
  get notFoundEverywhere(): boolean {
    return this.notFound.every(Boolean)
  }

  get canSwitch(): boolean {
    return this.gateways.some((_, index) => this.usable(index))
  }

  /** Moves to the next usable gateway after the current one (the current one itself when it is the only one). */
  advance(): void {
    for (let step = 1; step <= this.gateways.length; step++) {
      const candidate = (this.index + step) % this.gateways.length
      if (this.usable(candidate)) {
        this.index = candidate
        return
      }
    }
  }
}

/** Drops the first `count` bytes of a byte stream. */
const dropBytes = (count: number) => <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E, R> =>
  count === 0 ? self : Stream.suspend(() => {
    let left = count
    return Stream.filterMap(self, (bytes) => {
      if (left === 0) return Option.some(bytes)
      if (bytes.byteLength <= left) {
        left -= bytes.byteLength
        return Option.none()
      }
      const rest = bytes.subarray(left)
      left = 0
      return Option.some(rest)
    })
  })

/** Chunks that may wait between the network and the disk (each at most the socket's read size, 64 KiB). */
const readAhead = 64

/** Bytes gathered before one write: fewer, larger writes keep the disk from pacing the network. */
const writeSize = 1024 * 1024

/**
 * Runs a byte stream with the network ahead of the disk: up to `readAhead`
 * chunks wait in a queue while earlier bytes are hashed and written, and they
 * reach `sink` in buffers of up to about `writeSize`, or sooner when no more
 * bytes are waiting. Bytes that arrived before a
 * failure still reach `sink` before the failure is raised, so none is lost.
 */
const drainInBatches = <E, R, E2, R2>(
  stream: Stream.Stream<Uint8Array, E, R>,
  sink: (bytes: Uint8Array) => Effect.Effect<void, E2, R2>
): Effect.Effect<void, E | E2, R | R2> =>
  Effect.scoped(Effect.gen(function*() {
    const takes = yield* Stream.toQueue(stream, { capacity: readAhead })
    let pending: Array<Uint8Array> = []
    let pendingBytes = 0
    while (true) {
      let stop: Effect.Effect<void, E> | undefined
      for (const take of yield* Queue.takeBetween(takes, 1, readAhead)) {
        Take.match(take, {
          onEnd: () => void (stop ??= Effect.void),
          onFailure: (cause) => void (stop ??= Effect.failCause(cause)),
          onSuccess: (chunk) => {
            if (stop !== undefined) return
            for (const bytes of chunk) {
              pending.push(bytes)
              pendingBytes += bytes.byteLength
            }
          }
        })
      }
      // Write when enough has gathered, or when nothing more is waiting: a slow gateway's bytes go to disk at once.
      const waiting = yield* Queue.size(takes)
      if (pendingBytes > 0 && (pendingBytes >= writeSize || stop !== undefined || waiting === 0)) {
        yield* sink(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes))
        pending = []
        pendingBytes = 0
      }
      if (stop !== undefined) return yield* stop
    }
  }))

const plainName = (input: string): Effect.Effect<string, InvalidPath> => {
  const fail = (reason: string) => Effect.fail(new InvalidPath({ input, reason }))
  if (input.length === 0) return fail("it is empty")
  if (input.includes("\0")) return fail("it contains a NUL character")
  if (input.includes("/") || input.includes("\\")) return fail("it must be a plain name, without folders")
  if (input === "." || input === "..") return fail("it names a folder")
  if (Buffer.byteLength(input) > 255) return fail("it is longer than 255 bytes")
  return Effect.succeed(input)
}

/** Creates the Downloader; its running downloads are interrupted (and paused) when the scope closes. */
export const make = (settings: Settings.DownloaderSettings) =>
  Effect.gen(function*() {
    const gateway = yield* Gateway
    const storage = yield* Storage
    const hasher = yield* Hasher
    const store = yield* DownloadStore
    const policy = yield* RetryPolicy
    const running = yield* FiberMap.make<string, Download, DownloadError>()
    const pubsub = yield* PubSub.sliding<Event>(4096)
    const cancelling = new Set<string>()
    const emit = (event: Event) => PubSub.publish(pubsub, event)

    const status = (id: string) =>
      store.getDownload(id).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new DownloadNotFound({ downloadId: id })),
          onSome: Effect.succeed
        }))
      )

    const resolvePath = (request: DownloadRequest, cid: string) => {
      if (request.filename !== undefined) {
        return plainName(request.filename).pipe(Effect.map((name) => NodePath.join(settings.downloadsDir, name)))
      }
      if (request.output !== undefined) {
        if (request.output.trim() === "" || request.output.includes("\0")) {
          return Effect.fail(new InvalidPath({ input: request.output, reason: "it is not a usable path" }))
        }
        return Effect.succeed(NodePath.resolve(request.output))
      }
      return Effect.succeed(NodePath.join(settings.downloadsDir, cid))
    }

    const create = Effect.fn("Downloader.create")(function*(request: DownloadRequest) {
      const cid = yield* ContentId.parse(request.cid)
      const expected = request.expectedHash === undefined ? undefined : yield* parseExpected(request.expectedHash)
      if (expected !== undefined && expected.algorithm === "sha256" && Option.isSome(cid.sha256)) {
        if (cid.sha256.value !== expected.hex) {
          return yield* new InvalidHash({ input: request.expectedHash!, reason: `the CID ${cid.text} has sha256 ${cid.sha256.value}` })
        }
      }
      yield* parseOrigins(request.gateways ?? settings.gateways)
      const downloadPath = yield* resolvePath(request, cid.text)
      const expectedHash = expected === undefined ? null : `${expected.algorithm}:${expected.hex}`
      const existing = yield* store.findByCidAndPath(cid.text, downloadPath)
      if (Option.isSome(existing)) {
        const found = existing.value
        if (found.status !== "success") {
          // The check asked for now is the one the continued download must pass.
          if (expectedHash === null || expectedHash === found.expectedHash) return found
          yield* store.setExpectedHash(found.id, expectedHash)
          return yield* status(found.id).pipe(Effect.orDie)
        }
        const stillThere = yield* storage.exists(downloadPath).pipe(Effect.orElseSucceed(() => false))
        if (stillThere) return found
      }
      const owner = yield* store.findUnfinishedAtPath(downloadPath)
      if (Option.isSome(owner)) {
        return yield* new InvalidPath({
          input: request.filename ?? request.output ?? downloadPath,
          reason: `download ${owner.value.id} of ${owner.value.cid} is writing to it; cancel it or choose another name`
        })
      }
      // A partial file that no download owns is left from something else: never the start of this one.
      yield* storage.remove(`${downloadPath}.part`).pipe(Effect.ignore)
      return yield* store.create({ cid: cid.text, downloadPath, expectedHash })
    })

    /** The check a finished file must pass: the caller's digest, else the CID's own, else none. */
    const targetOf = (record: Download, cid: ContentId.ContentId): Effect.Effect<Option.Option<Target>> =>
      record.expectedHash !== null
        ? parseExpected(record.expectedHash).pipe(
          Effect.map((expected) => Option.some<Target>({ ...expected, source: "expected-hash" })),
          Effect.orDie
        )
        : Effect.succeed(Option.map(cid.sha256, (hex): Target => ({ algorithm: "sha256", hex, source: "cid" })))

    /** Runs a download until it succeeds, pauses or fails. Every decision is stored before it is carried out. */
    const execute = (initial: Download, gateways: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const id = initial.id
        const cid = yield* ContentId.parse(initial.cid).pipe(Effect.orDie)
        const target = yield* targetOf(initial, cid)
        const algorithms: ReadonlyArray<Algorithm> = Option.match(target, {
          onNone: () => ["sha256"],
          onSome: (t) => ["sha256", t.algorithm]
        })
        const partialPath = initial.partialPath
        const rotation = new Rotation(gateways, policy.settings.maxRetryAttempts)
        let backoff = yield* Schedule.driver(policy.backoff)
        let totalBytes = initial.totalBytes
        let resumeAttempts = 0
        let corruptionRestarts = 0
        let attemptStatus: "in_progress" | "resuming" = "in_progress"
        /** Digests of the bytes on disk, carried from one attempt to the next so that the file is read only once. */
        let carried: Digests | undefined

        const pause = (reason: string) =>
          storage.size(partialPath).pipe(
            Effect.orElseSucceed(() => undefined),
            Effect.flatMap((bytesOnDisk) => store.markDownloadPaused(id, reason, bytesOnDisk)),
            Effect.zipRight(emit({ type: "download_paused", downloadId: id, error: reason })),
            Effect.zipRight(Effect.fail(new DownloadPaused({ downloadId: id, reason })))
          )
        const fail = (reason: string) =>
          store.markFailed(id, reason).pipe(
            Effect.zipRight(store.recordOutcome(cid.text, "failure")),
            Effect.zipRight(emit({ type: "download_failed", downloadId: id, error: reason })),
            Effect.zipRight(Effect.fail(new DownloadFailed({ downloadId: id, reason })))
          )

        /** One request: from the bytes on disk to the end of the body, or a typed failure. */
        const transfer = (from: string) =>
          Effect.gen(function*() {
            let offset = yield* storage.size(partialPath)
            if (totalBytes !== null && offset > totalBytes) {
              yield* storage.remove(partialPath)
              offset = 0
            }
            if (offset > 0) attemptStatus = "resuming"
            const digests = carried !== undefined && carried.bytes() === offset
              ? carried
              : offset > 0
              ? yield* hasher.resume(algorithms, storage.read(partialPath, offset))
              : yield* hasher.make(algorithms)
            carried = digests
            if (totalBytes !== null && offset === totalBytes) return { digests, size: offset }

            const skip = rotation.ignoresRanges.has(from) ? offset : 0
            const response = yield* gateway.open({ gateway: from, cid: cid.text, offset: offset - skip, knownSize: totalBytes })
            totalBytes = Option.getOrElse(response.totalSize, () => totalBytes)
            const claimed = yield* store.markAttempt(id, {
              status: attemptStatus,
              currentSize: offset,
              totalBytes,
              gatewayUrl: from
            })
            if (!claimed) return yield* new DownloadCancelled({ downloadId: id })
            yield* emit({ type: "download_started", downloadId: id, cid: cid.text, gateway: from, offset, totalBytes })

            const file = yield* storage.open(partialPath)
            let position = offset
            let lastTick = yield* Clock.currentTimeMillis
            let lastTickBytes = offset
            const progressMs = Duration.toMillis(settings.progressInterval)
            yield* drainInBatches(response.body.pipe(dropBytes(skip)), (bytes) =>
              Effect.gen(function*() {
                yield* file.write(position, bytes)
                // Hashed once written, so that the digests always match the bytes on disk.
                digests.update(bytes)
                position += bytes.byteLength
                const now = yield* Clock.currentTimeMillis
                if (now - lastTick < progressMs) return
                const stillRunning = yield* store.checkpoint(id, position)
                if (!stillRunning) return yield* new DownloadCancelled({ downloadId: id })
                yield* emit({
                  type: "download_progress",
                  downloadId: id,
                  gateway: from,
                  bytes: position,
                  totalBytes,
                  bytesPerSecond: Math.round((position - lastTickBytes) * 1000 / Math.max(1, now - lastTick))
                })
                lastTick = now
                lastTickBytes = position
              }))
            yield* file.flush
            return { digests, size: position }
          }).pipe(Effect.scoped)

        /** Checks the digest and publishes the file. */
        const verifyAndPublish = ({ digests, size }: Transferred) =>
          Effect.gen(function*() {
            carried = undefined // digest() ends the computation
            const computed = digests.digest()
            const sha256 = computed.sha256!
            if (Option.isSome(target)) {
              const actual = computed[target.value.algorithm]!
              if (actual !== target.value.hex) {
                return yield* new DigestMismatch({
                  algorithm: target.value.algorithm,
                  expected: target.value.hex,
                  actual,
                  source: target.value.source
                })
              }
            }
            // Cancelled meanwhile (here or by another process): publish nothing.
            if (!(yield* store.checkpoint(id, size))) return yield* new DownloadCancelled({ downloadId: id })
            yield* storage.publish(partialPath, initial.downloadPath)
            yield* store.markSuccess(id, { hash: sha256, bytes: size })
            yield* store.recordOutcome(cid.text, "success")
            yield* emit({
              type: "download_complete",
              downloadId: id,
              filepath: initial.downloadPath,
              sha256,
              verified: Option.isSome(target)
            })
            return yield* status(id).pipe(Effect.orDie)
          })

        const countResume = store.markDownloadResuming(id).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new DownloadCancelled({ downloadId: id })),
            onSome: (attempts) =>
              Effect.sync(() => {
                resumeAttempts = attempts
                attemptStatus = "resuming"
              })
          }))
        )

        const cancelled = storage.remove(partialPath).pipe(
          Effect.ignore,
          Effect.zipRight(Effect.fail(new DownloadCancelled({ downloadId: id })))
        )

        while (true) {
          const failedGateway = rotation.current
          const bytesBefore = yield* storage.size(partialPath).pipe(Effect.orElseSucceed(() => 0))
          const outcome = yield* transfer(rotation.current).pipe(
            Effect.flatMap(verifyAndPublish),
            Effect.either
          )
          if (Either.isRight(outcome)) return outcome.right
          const failure = outcome.left
          if (failure._tag === "DownloadCancelled") return yield* cancelled
          const retrying = (action: "backoff" | "switch_gateway" | "resume" | "restart", delayMs = 0) =>
            emit({ type: "download_retrying", downloadId: id, gateway: failedGateway, error: failure.message, action, delayMs })
          const bytesOnDisk = yield* storage.size(partialPath).pipe(Effect.orElseSucceed(() => 0))
          if (bytesOnDisk > bytesBefore) backoff = yield* Schedule.driver(policy.backoff)
          if (failure._tag === "GatewayNetworkError") rotation.record("network")
          if (failure._tag === "GatewayHttpError") rotation.record(failure.status === 404 ? "notFound" : "spent")
          const decision = policy.decide(failure, {
            bytesOnDisk,
            totalBytes,
            resumeAttempts,
            corruptionRestarts,
            canSwitchGateway: rotation.canSwitch,
            notFoundEverywhere: rotation.notFoundEverywhere
          })
          yield* Effect.annotateCurrentSpan({ failure: failure._tag, decision: decision._tag })

          switch (decision._tag) {
            case "Backoff": {
              if (!(yield* store.noteRetry(id, failure.message))) return yield* cancelled
              const start = yield* Clock.currentTimeMillis
              const waited = yield* backoff.next(failure).pipe(
                Effect.as(true),
                Effect.orElseSucceed(() => false)
              )
              if (!waited) {
                rotation.record("spent")
                if (!rotation.canSwitch) {
                  return yield* fail(`gave up after ${policy.settings.maxRetryAttempts} retries; last error: ${failure.message}`)
                }
                rotation.advance()
                backoff = yield* Schedule.driver(policy.backoff)
                yield* retrying("switch_gateway")
              } else {
                yield* retrying("backoff", (yield* Clock.currentTimeMillis) - start)
              }
              break
            }
            case "SwitchGateway":
              if (!(yield* store.noteRetry(id, failure.message))) return yield* cancelled
              rotation.advance()
              backoff = yield* Schedule.driver(policy.backoff)
              yield* retrying("switch_gateway")
              break
            case "Resume":
              yield* countResume.pipe(Effect.catchAll(() => cancelled))
              yield* retrying("resume")
              break
            case "ResumeBySkipping":
              rotation.ignoresRanges.add(rotation.current)
              yield* countResume.pipe(Effect.catchAll(() => cancelled))
              yield* retrying("resume")
              break
            case "Restart":
              yield* storage.remove(partialPath).pipe(Effect.catchAll((error) => pause(error.message)))
              if (decision.countsAsResume) {
                yield* countResume.pipe(Effect.catchAll(() => cancelled))
              } else {
                corruptionRestarts += 1
                attemptStatus = "resuming"
                const applied = yield* store.updateDownloadResume(id, {
                  currentSize: 0,
                  attempts: resumeAttempts,
                  lastAttempt: yield* Clock.currentTimeMillis,
                  status: "resuming"
                })
                if (!applied) return yield* cancelled
              }
              if (decision.switchGateway) rotation.advance()
              yield* retrying("restart")
              break
            case "Verify":
              totalBytes = bytesOnDisk
              break
            case "Pause":
              return yield* pause(failure.message)
            case "Fail":
              if (failure._tag === "DigestMismatch" || failure._tag === "ResponseTooLarge") {
                yield* storage.remove(partialPath).pipe(Effect.ignore)
              }
              return yield* fail(decision.reason)
          }
        }
      }).pipe(
        // Typed failures were stored where they were decided; interruption and defects are stored here.
        Effect.onError((cause) => {
          const reason = Cause.isInterruptedOnly(cause)
            ? cancelling.has(initial.id) ? undefined : "interrupted"
            : Cause.isDie(cause)
            ? `unexpected error: ${Cause.pretty(cause).split("\n")[0]}`
            : undefined
          return reason === undefined ? Effect.void : store.markDownloadPaused(initial.id, reason).pipe(
            Effect.zipRight(emit({ type: "download_paused", downloadId: initial.id, error: reason }))
          )
        }),
        Effect.withSpan("Downloader.execute", { attributes: { downloadId: initial.id, cid: initial.cid } })
      )

    /** The fiber running a download, started if it is not running yet. */
    const fiberOf = (id: string, options?: RunOptions) =>
      Effect.gen(function*() {
        const current = yield* FiberMap.get(running, id).pipe(Effect.option)
        if (Option.isSome(current)) return { fiber: current.value, record: yield* status(id) }
        const record = yield* status(id)
        if (record.status === "success") {
          return yield* new InvalidState({ downloadId: id, status: record.status, action: "resume" })
        }
        const gateways = yield* parseOrigins(options?.gateways ?? settings.gateways)
        const owner = yield* store.beginRun(id)
        if (Option.isSome(owner)) {
          return yield* new InvalidState({ downloadId: id, status: record.status, action: "resume", owner: owner.value })
        }
        const fiber = yield* FiberMap.run(running, id, execute(record, gateways), { onlyIfMissing: true })
        return { fiber, record }
      })

    const start = (id: string, options?: RunOptions) => fiberOf(id, options).pipe(Effect.map(({ record }) => record))

    const resume = (id: string, options?: RunOptions) =>
      fiberOf(id, options).pipe(
        Effect.flatMap(({ fiber }) =>
          Fiber.join(fiber).pipe(
            Effect.onInterrupt(() => Fiber.interrupt(fiber)),
            Effect.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause) && cancelling.has(id)
                ? Effect.fail(new DownloadCancelled({ downloadId: id }))
                : Effect.failCause(cause)
            )
          )
        ),
        Effect.withSpan("Downloader.resume", { attributes: { downloadId: id } })
      )

    const download = (request: DownloadRequest) =>
      create(request).pipe(
        Effect.flatMap((record) =>
          record.status === "success" ? Effect.succeed(record) : resume(record.id, { gateways: request.gateways })
        ),
        Effect.catchTag("InvalidState", "DownloadNotFound", (error) => Effect.die(error)),
        Effect.withSpan("Downloader.download")
      )

    const cancel = (id: string) =>
      Effect.gen(function*() {
        const record = yield* status(id)
        if (record.status === "success" || record.status === "failed") {
          return yield* new InvalidState({ downloadId: id, status: record.status, action: "cancel" })
        }
        cancelling.add(id)
        yield* FiberMap.remove(running, id)
        if (!(yield* store.markFailed(id, cancelledMessage))) {
          // It ended meanwhile, here or in another process.
          const ended = yield* status(id)
          return yield* new InvalidState({ downloadId: id, status: ended.status, action: "cancel" })
        }
        yield* storage.remove(record.partialPath).pipe(Effect.ignore)
        yield* emit({ type: "download_failed", downloadId: id, error: cancelledMessage })
        return yield* status(id)
      }).pipe(
        Effect.ensuring(Effect.sync(() => cancelling.delete(id))),
        Effect.withSpan("Downloader.cancel", { attributes: { downloadId: id } })
      )

    return Downloader.of({
      create,
      download,
      start,
      resume,
      cancel,
      status,
      list: (filter) => store.getDownloadsByStatus(filter),
      isRunning: (id) => FiberMap.has(running, id),
      events: Stream.fromPubSub(pubsub),
      subscribe: PubSub.subscribe(pubsub)
    })
  })

type Requirements = Gateway | Storage | Hasher | DownloadStore | RetryPolicy

/** The Downloader with the given settings, over the services in context. */
export const layer = (settings: Settings.DownloaderSettings): Layer.Layer<Downloader, never, Requirements> =>
  Layer.scoped(Downloader, make(settings))

/** The Downloader with settings from `IPFS_DL_*`. */
export const layerConfig: Layer.Layer<Downloader, import("effect/ConfigError").ConfigError, Requirements> = Layer
  .scoped(Downloader, Effect.flatMap(Settings.downloader, make))
