/**
 * `ipfs-dl serve`: the HTTP API, live events over Server-Sent Events and
 * WebSocket, and the page — routes over the same Downloader as the library,
 * mountable in any `HttpLayerRouter` server.
 */
import {
  HttpApiBuilder,
  HttpLayerRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Chunk, Effect, Layer, Option, Redacted, Schedule, Schema, Stream } from "effect"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import { type Event, toView, type View } from "../Download.js"
import { Downloader } from "../Downloader.js"
import type * as DownloaderModule from "../Downloader.js"
import { Api, BadRequest, Conflict, NotFound } from "./Api.js"
import { page } from "./Page.js"

/** A message on the live channels: the events of the Downloader, and the state of a download. */
export type LiveMessage = Event | { readonly type: "download_state"; readonly download: View }

const badRequest = (error: DownloaderModule.InvalidRequest) =>
  new BadRequest({
    field: error._tag === "InvalidHash" ? "sha256" : error.field,
    message: error.message
  })

const notFound = (error: DownloaderModule.DownloadNotFound) => new NotFound({ message: error.message })

const conflict = (error: DownloaderModule.InvalidState) => new Conflict({ message: error.message, status: error.status })

/** The handlers of the downloads group. */
export const DownloadsLive = HttpApiBuilder.group(Api, "downloads", (handlers) =>
  Effect.gen(function*() {
    const downloader = yield* Downloader
    const conflictIfRunning = (id: string) =>
      Effect.flatMap(downloader.isRunning(id), (running) =>
        running
          ? Effect.fail(new Conflict({ message: `Download ${id} is already running`, status: "in_progress" }))
          : Effect.void)
    return handlers
      .handle("list", ({ urlParams }) => downloader.list(urlParams.status).pipe(Effect.map((all) => all.map(toView))))
      .handle("get", ({ path }) => downloader.status(path.id).pipe(Effect.map(toView), Effect.mapError(notFound)))
      .handle("start", ({ payload }) =>
        Effect.gen(function*() {
          const record = yield* downloader.create({
            cid: payload.cid,
            filename: payload.filename,
            expectedHash: payload.sha256 === undefined ? undefined : `sha256:${payload.sha256}`
          }).pipe(Effect.mapError(badRequest))
          if (record.status === "success" || (yield* downloader.isRunning(record.id))) return toView(record)
          return toView(yield* downloader.start(record.id).pipe(Effect.orDie))
        }))
      .handle("resume", ({ path }) =>
        Effect.gen(function*() {
          yield* downloader.status(path.id).pipe(Effect.mapError(notFound))
          yield* conflictIfRunning(path.id)
          const record = yield* downloader.start(path.id).pipe(
            Effect.catchTags({
              DownloadNotFound: (error) => Effect.fail(notFound(error)),
              InvalidState: (error) => Effect.fail(conflict(error)),
              InvalidGateway: Effect.die
            })
          )
          return toView(record)
        }))
      .handle("cancel", ({ path }) =>
        downloader.cancel(path.id).pipe(
          Effect.map(toView),
          Effect.catchTags({
            DownloadNotFound: (error) => Effect.fail(notFound(error)),
            InvalidState: (error) => Effect.fail(conflict(error))
          })
        ))
  }))

/**
 * Every download's current state, then live events as they happen. A state
 * message follows each change of status, so a client never has to poll.
 */
export const liveMessages: Stream.Stream<LiveMessage, never, Downloader> = Stream.unwrapScoped(
  Effect.gen(function*() {
    const downloader = yield* Downloader
    // Subscribe before taking the snapshot, so that nothing falls between the two.
    const subscription = yield* downloader.subscribe
    const snapshot = yield* downloader.list()
    const stateOf = (id: string) =>
      downloader.status(id).pipe(
        Effect.map((download): Array<LiveMessage> => [{ type: "download_state", download: toView(download) }]),
        Effect.orElseSucceed((): Array<LiveMessage> => [])
      )
    return Stream.fromIterable(
      snapshot.map((download): LiveMessage => ({ type: "download_state", download: toView(download) }))
    ).pipe(
      Stream.concat(
        Stream.fromQueue(subscription).pipe(
          Stream.mapEffect((event) =>
            event.type === "download_progress"
              ? Effect.succeed<Array<LiveMessage>>([event])
              : Effect.map(stateOf(event.downloadId), (state): Array<LiveMessage> => [event, ...state])
          ),
          Stream.flattenIterables
        )
      )
    )
  })
)

const sseFrame = (message: LiveMessage) => `event: ${message.type}\ndata: ${JSON.stringify(message)}\n\n`

/** `GET /api/events`: Server-Sent Events, with a comment every 15 s to keep proxies from closing the stream. */
export const EventsRoute = HttpLayerRouter.add(
  "GET",
  "/api/events",
  Effect.gen(function*() {
    const downloader = yield* Downloader
    const stream = liveMessages.pipe(
      Stream.map(sseFrame),
      // A first comment sends the headers at once, before there is anything to say.
      Stream.prepend(Chunk.of(": connected\n\n")),
      Stream.merge(Stream.schedule(Stream.repeatValue(": keep-alive\n\n"), Schedule.spaced("15 seconds")), {
        haltStrategy: "left"
      }),
      Stream.provideService(Downloader, downloader),
      Stream.encodeText
    )
    return HttpServerResponse.stream(stream, {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
    })
  })
)

/** `GET /ws`: the same messages over a WebSocket, one JSON text frame each. */
export const WebSocketRoute = HttpLayerRouter.add(
  "GET",
  "/ws",
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const socket = yield* request.upgrade
    const write = yield* socket.writer
    yield* liveMessages.pipe(
      Stream.runForEach((message) => write(JSON.stringify(message))),
      Effect.fork
    )
    // Read until the client goes away; what it sends is ignored.
    yield* socket.runRaw(() => {}).pipe(Effect.ignore)
    return HttpServerResponse.empty()
  }).pipe(Effect.scoped)
)

/** `GET /`: the page. */
export const PageRoute = HttpLayerRouter.add("GET", "/", HttpServerResponse.html(page))

/** Unexpected faults answer 500 with a JSON error and no stack trace; the server keeps serving. */
const JsonDefects = HttpLayerRouter.middleware((effect) =>
  effect.pipe(
    Effect.catchAllDefect((defect) =>
      isUnreadableBody(defect)
        ? Effect.succeed(HttpServerResponse.unsafeJson(
          { _tag: "BadRequest", field: "body", message: "The body is not valid JSON" },
          { status: 400 }
        ))
        : Effect.logError("Unexpected error while serving a request", defect).pipe(
          Effect.as(HttpServerResponse.unsafeJson(
            { _tag: "InternalServerError", message: "An unexpected error occurred; it has been logged" },
            { status: 500 }
          ))
        )
    )
  ), { global: true })

/** A body that could not be read or parsed: the client's fault, not the server's. */
const isUnreadableBody = (defect: unknown) =>
  defect instanceof HttpServerError.RequestError && defect.reason === "Decode"

const sameSecret = (given: string, expected: string) => {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return b.length > 0 && a.length === b.length && Crypto.timingSafeEqual(a, b)
}

/**
 * Every request, the WebSocket and SSE handshakes included, must carry the
 * token: `Authorization: Bearer <token>`, or `?token=<token>` where a browser
 * cannot set headers (EventSource, WebSocket, the page itself).
 */
const RequireToken = (token: Redacted.Redacted<string>) =>
  HttpLayerRouter.middleware((effect) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const header = request.headers["authorization"]
      const given = header?.startsWith("Bearer ")
        ? header.slice("Bearer ".length)
        : new URL(request.url, "http://localhost").searchParams.get("token") ?? ""
      if (!sameSecret(given, Redacted.value(token))) {
        return HttpServerResponse.unsafeJson(
          { _tag: "Unauthorized", message: "A valid token is required (Authorization: Bearer <token>, or ?token=)" },
          { status: 401 }
        )
      }
      return yield* effect
    }), { global: true })

/** Every route, for mounting in an `HttpLayerRouter` server; needs the Downloader. */
export const routes = Layer.mergeAll(
  HttpLayerRouter.addHttpApi(Api, { openapiPath: "/api/openapi.json" }).pipe(Layer.provide(DownloadsLive)),
  EventsRoute,
  WebSocketRoute,
  PageRoute,
  JsonDefects
)

/** Where and how to listen. */
export interface ServeOptions {
  readonly host: string
  readonly port: number
  /** Required unless `host` is a loopback address. */
  readonly token: Option.Option<Redacted.Redacted<string>>
}

/** Refuses to listen beyond this machine without a token. */
export class TokenRequired extends Schema.TaggedError<TokenRequired>()("TokenRequired", {
  host: Schema.String
}) {
  override get message() {
    return `Serving on ${this.host} reaches beyond this machine: set IPFS_DL_TOKEN to a secret that every request must carry`
  }
}

/** Whether a host name or address stays on this machine. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host)

/** Fails unless the server stays on this machine or has a token. */
export const checkExposure = (options: ServeOptions): Effect.Effect<void, TokenRequired> =>
  !isLoopback(options.host) && !Option.exists(options.token, (token) => Redacted.value(token).length > 0)
    ? Effect.fail(new TokenRequired({ host: options.host }))
    : Effect.void

/** The server, listening on `options.host:options.port` (0 for any free port); needs the Downloader. */
export const layer = (options: ServeOptions) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    yield* checkExposure(options)
    const guarded = Option.match(options.token, {
      onNone: () => routes,
      onSome: (token) => Layer.merge(routes, RequireToken(token))
    })
    return HttpLayerRouter.serve(guarded, { disableListenLog: true, disableLogger: true }).pipe(
      // The HttpServer stays in the output, so that callers can read the address it is bound to.
      Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { host: options.host, port: options.port }))
    )
  }))
