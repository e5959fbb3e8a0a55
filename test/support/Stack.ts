/**
 * The live Downloader stack for tests: real HTTP over loopback, real files and
 * a real SQLite file in a temporary data directory, with settings a test can bend.
 */
import { FileSystem } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Chunk, Context, Duration, Effect, Layer, Option, Queue, type Scope, TestClock, TestServices } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { Event } from "../../src/Download.js"
import { Downloader, layer as downloaderLayer } from "../../src/Downloader.js"
import { DownloadStore } from "../../src/DownloadStore.js"
import * as Gateway from "../../src/Gateway.js"
import * as Hasher from "../../src/Hasher.js"
import * as Live from "../../src/Live.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import type * as Settings from "../../src/Settings.js"
import * as Storage from "../../src/Storage.js"

/** The seed's numbers. */
export const seedRetry: Settings.RetrySettings = {
  maxResumeAttempts: 3,
  maxRetryAttempts: 3,
  initialBackoff: Duration.seconds(1),
  backoffMultiplier: 2,
  resumeThreshold: 0.5,
  maxCorruptionRestarts: 2,
  maxRetryAfter: Duration.seconds(60)
}

export interface StackOptions {
  readonly home: string
  readonly gateways: ReadonlyArray<string>
  readonly retry?: Partial<Settings.RetrySettings>
  readonly timeout?: Duration.DurationInput
  /** Replaces the real Storage, for the tests whose point is the swap. */
  readonly storage?: Layer.Layer<Storage.Storage>
}

/** The Downloader and its store over loopback gateways, real files and SQLite in `home`. */
export const stack = (options: StackOptions) => {
  const storage = options.storage ?? Storage.layer.pipe(Layer.provide(NodeContext.layer))
  const services = Layer.mergeAll(
    Live.storeLayer(options.home),
    Gateway.layer({ timeout: Duration.decode(options.timeout ?? "30 seconds"), maxRedirects: 5 }).pipe(
      Layer.provide(NodeHttpClient.layer)
    ),
    storage,
    Hasher.layer,
    RetryPolicy.layer({ ...seedRetry, ...options.retry })
  )
  return downloaderLayer({
    home: options.home,
    downloadsDir: NodePath.join(options.home, "downloads"),
    gateways: options.gateways,
    // Every chunk reports progress: under TestClock no time passes between chunks.
    progressInterval: Duration.zero
  }).pipe(Layer.provideMerge(services))
}

/** Builds the stack in the current scope: it lives, and its downloads run, until the scope closes. */
export const build = (options: StackOptions) =>
  Layer.build(stack(options)).pipe(
    Effect.map((context) => ({
      downloader: Context.get(context, Downloader),
      store: Context.get(context, DownloadStore)
    }))
  )

/** A fresh data directory, removed with the scope. */
export const tempHome: Effect.Effect<string, never, Scope.Scope> = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.makeTempDirectoryScoped({ prefix: "ipfs-dl-test-" })
}).pipe(Effect.provide(NodeContext.layer), Effect.orDie)

/** Waits in real time (not TestClock time) for I/O to happen. */
export const realPause = (millis = 5) => TestServices.provideLive(Effect.sleep(Duration.millis(millis)))

/** Polls until `check` holds, waiting for real I/O between tries; dies after `tries`. */
export const eventually = <A>(
  check: Effect.Effect<Option.Option<A>>,
  what: string,
  tries = 2000
): Effect.Effect<A> =>
  Effect.gen(function*() {
    for (let i = 0; i < tries; i++) {
      const result = yield* check
      if (Option.isSome(result)) return result.value
      yield* realPause(5)
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

/** The next event from a subscription that satisfies `predicate`; earlier ones are dropped. */
export const nextEvent = <T extends Event["type"]>(
  queue: Queue.Dequeue<Event>,
  type: T,
  predicate: (event: Extract<Event, { type: T }>) => boolean = () => true
): Effect.Effect<Extract<Event, { type: T }>> =>
  Effect.gen(function*() {
    while (true) {
      const event = yield* Queue.take(queue)
      if (event.type === type && predicate(event as Extract<Event, { type: T }>)) {
        return event as Extract<Event, { type: T }>
      }
    }
  }).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`no ${type} event`) }),
    TestServices.provideLive,
    Effect.orDie
  )

/** Everything a subscription holds now. */
export const drain = (queue: Queue.Dequeue<Event>) => Queue.takeAll(queue).pipe(Effect.map(Chunk.toReadonlyArray))

/** Waits until some fiber sleeps on the TestClock until exactly `millis` from now (a backoff or a timeout). */
export const sleeping = (millis: Duration.DurationInput) =>
  Effect.gen(function*() {
    const wake = (yield* TestClock.currentTimeMillis) + Duration.toMillis(millis)
    return yield* eventually(
      TestClock.sleeps().pipe(Effect.map((sleeps) => Chunk.some(sleeps, (at) => at === wake) ? Option.some(wake) : Option.none())),
      `a fiber to sleep until ${wake}`
    )
  })

/** Moves the TestClock forward by `step` until `check` holds, letting real I/O run between steps. */
export const advanceUntil = <A>(check: Effect.Effect<Option.Option<A>>, step: Duration.DurationInput, what: string) =>
  eventually(
    Effect.tap(check, (result) => Option.isSome(result) ? Effect.void : TestClock.adjust(step)),
    what,
    200
  )

/** Writes the first `size` bytes of `bytes` as the partial file of `path`. */
export const writePartial = (path: string, bytes: Uint8Array, size: number) =>
  Effect.sync(() => {
    NodeFs.mkdirSync(NodePath.dirname(path), { recursive: true })
    NodeFs.writeFileSync(`${path}.part`, bytes.subarray(0, size))
  })

/** Size of a file, or `undefined` when it does not exist. */
export const fileSize = (path: string): number | undefined =>
  NodeFs.existsSync(path) ? NodeFs.statSync(path).size : undefined

export { Downloader, DownloadStore }
