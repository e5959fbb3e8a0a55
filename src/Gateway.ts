/**
 * One IPFS HTTP gateway: opens `/ipfs/<cid>` at a byte offset and yields the
 * bytes as a Stream, turning every way a response can go wrong into a typed
 * error. It never retries and never picks a gateway: that is policy.
 */
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import type { HttpClientError } from "@effect/platform/HttpClientError"
import { Chunk, Clock, Context, Duration, Effect, Layer, Option, Schema, type Scope, Stream } from "effect"
import * as Settings from "./Settings.js"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const where = { gateway: Schema.String, cid: Schema.String, offset: Schema.Number }

/** No response headers, or no body bytes, for the idle timeout. */
export class GatewayTimeout extends Schema.TaggedError<GatewayTimeout>()("GatewayTimeout", {
  ...where,
  phase: Schema.Literal("headers", "body"),
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `${this.gateway} sent no ${this.phase === "headers" ? "response" : "data"} for ${this.timeoutMs} ms`
  }
}

/** The connection failed before a response: refused, reset, DNS, TLS. */
export class GatewayNetworkError extends Schema.TaggedError<GatewayNetworkError>()("GatewayNetworkError", {
  ...where,
  code: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `Cannot reach ${this.gateway}: ${this.detail}`
  }
}

/** The body stopped (closed or reset) before all the bytes announced had come. */
export class StreamEndedEarly extends Schema.TaggedError<StreamEndedEarly>()("StreamEndedEarly", {
  ...where,
  received: Schema.Number,
  expected: Schema.NullOr(Schema.Number)
}) {
  override get message() {
    return `${this.gateway} stopped sending after ${this.received} of ${this.expected ?? "?"} bytes`
  }
}

/** 416: the gateway cannot serve the range asked for. */
export class RangeNotSatisfiable extends Schema.TaggedError<RangeNotSatisfiable>()("RangeNotSatisfiable", {
  ...where,
  totalSize: Schema.NullOr(Schema.Number)
}) {
  override get message() {
    return `${this.gateway} cannot serve bytes from ${this.offset} (416)`
  }
}

/** A ranged request was answered with the whole content (200), or a range starting elsewhere. */
export class RangeIgnored extends Schema.TaggedError<RangeIgnored>()("RangeIgnored", {
  ...where,
  status: Schema.Number
}) {
  override get message() {
    return `${this.gateway} ignored the request for bytes from ${this.offset} (answered ${this.status})`
  }
}

/** 429 or 502/503/504: the gateway is busy; `retryAfterMs` is its `Retry-After`, when it gave one. */
export class GatewayBusy extends Schema.TaggedError<GatewayBusy>()("GatewayBusy", {
  ...where,
  status: Schema.Number,
  retryAfterMs: Schema.NullOr(Schema.Number)
}) {
  override get message() {
    const wait = this.retryAfterMs === null ? "" : `, retry after ${Math.ceil(this.retryAfterMs / 1000)} s`
    return `${this.gateway} is busy (${this.status}${wait})`
  }
}

/** Any other answer that is not content: 404, 403, 500, a refused redirect… */
export class GatewayHttpError extends Schema.TaggedError<GatewayHttpError>()("GatewayHttpError", {
  ...where,
  status: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `${this.gateway} answered ${this.status}: ${this.detail}`
  }
}

/** The gateway sent more bytes than the size it announced. */
export class ResponseTooLarge extends Schema.TaggedError<ResponseTooLarge>()("ResponseTooLarge", {
  ...where,
  expected: Schema.Number
}) {
  override get message() {
    return `${this.gateway} sent more than the ${this.expected} bytes it announced`
  }
}

/** Every way a gateway request can fail. */
export type GatewayError =
  | GatewayTimeout
  | GatewayNetworkError
  | StreamEndedEarly
  | RangeNotSatisfiable
  | RangeIgnored
  | GatewayBusy
  | GatewayHttpError
  | ResponseTooLarge

/** A gateway address that is not an http(s) origin. */
export class InvalidGateway extends Schema.TaggedError<InvalidGateway>()("InvalidGateway", {
  input: Schema.String,
  reason: Schema.String
}) {
  /** The request field at fault, for callers that report it. */
  readonly field = "gateways"
  override get message() {
    return this.input === "" ? `No gateway: ${this.reason}` : `"${this.input}" is not a gateway: ${this.reason}`
  }
}

/**
 * Normalises a gateway to its origin: `https://ipfs.io/ipfs/` and
 * `https://ipfs.io/` both become `https://ipfs.io`.
 */
export const parseOrigin = (input: string): Effect.Effect<string, InvalidGateway> =>
  Effect.suspend(() => {
    const fail = (reason: string) => Effect.fail(new InvalidGateway({ input, reason }))
    if (!URL.canParse(input.trim())) return fail("it is not a URL such as https://ipfs.io")
    const url = new URL(input.trim())
    if (url.protocol !== "http:" && url.protocol !== "https:") return fail("only http and https are supported")
    if (url.search !== "" || url.hash !== "") return fail("a gateway is an origin, without query or fragment")
    const path = url.pathname.replace(/\/+$/, "")
    if (path !== "" && path !== "/ipfs") return fail("a gateway is an origin such as https://ipfs.io")
    return Effect.succeed(url.origin)
  })

/** Normalises a list of gateways; an empty list is an error. */
export const parseOrigins = (inputs: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>, InvalidGateway> =>
  inputs.length === 0
    ? Effect.fail(new InvalidGateway({ input: "", reason: "the list of gateways is empty" }))
    : Effect.forEach(inputs, parseOrigin).pipe(Effect.map((origins) => [...new Set(origins)]))

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/** What to open. */
export interface OpenRequest {
  /** Gateway origin, e.g. `https://ipfs.io`. */
  readonly gateway: string
  /** CID in canonical text form. */
  readonly cid: string
  /** First byte wanted; 0 for the whole content. */
  readonly offset: number
  /** Size of the content when an earlier response told it: a body that runs past it fails. */
  readonly knownSize?: number | null | undefined
}

/** An open response whose body starts at the byte offset asked for. */
export interface GatewayResponse {
  /** The origin the request was made to. */
  readonly gateway: string
  /** The URL that answered, after redirects. */
  readonly url: string
  /** 200 for a whole body, 206 for a range. */
  readonly status: number
  /** Size of the whole content, when the response told it. */
  readonly totalSize: Option.Option<number>
  /** The body from `offset`; fails with a typed error when it stalls, stops early or overflows. */
  readonly body: Stream.Stream<Uint8Array, GatewayError>
}

/** Opens content on IPFS HTTP gateways. */
export class Gateway extends Context.Tag("ipfs-downloader/Gateway")<Gateway, {
  /** Opens `/ipfs/<cid>` at `offset`; the connection lives as long as the scope. */
  readonly open: (request: OpenRequest) => Effect.Effect<GatewayResponse, GatewayError, Scope.Scope>
}>() {}

const redirectStatuses = new Set([301, 302, 303, 307, 308])
const busyStatuses = new Set([429, 502, 503, 504])

/** Parses `Retry-After`: delay-seconds or an HTTP date. */
const retryAfterMs = (header: string | undefined, now: number): number | null => {
  if (header === undefined) return null
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? null : Math.max(0, date - now)
}

/** Parses `Content-Range`: `bytes start-end/total`, or `bytes *\/total` on a 416. */
const parseContentRange = (header: string | undefined) => {
  const match = header?.match(/^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i)
  if (!match) return undefined
  return {
    start: match[1] === undefined ? null : Number(match[1]),
    total: match[3] === undefined || match[3] === "*" ? null : Number(match[3])
  }
}

const nodeErrorCode = (error: unknown): string | undefined => {
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 4; depth++) {
    if (typeof current !== "object" || current === null) return undefined
    if ("code" in current && typeof current.code === "string") return current.code
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

/** Creates a Gateway over `@effect/platform`'s HttpClient. */
export const make = (settings: Settings.GatewaySettings) =>
  Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withScope)
    const timeoutMs = Duration.toMillis(settings.timeout)

    const open = ({ cid, gateway, knownSize, offset }: OpenRequest) => {
      const at = { gateway, cid, offset }

      const transportError = (error: HttpClientError) =>
        new GatewayNetworkError({
          ...at,
          code: nodeErrorCode(error.cause) ?? "UNKNOWN",
          detail: nodeErrorCode(error.cause) ?? (error.cause instanceof Error ? error.cause.message : error.message)
        })

      /** Sends one request and follows redirects, never from https down to http. */
      const send = (url: string, redirects: number): Effect.Effect<
        HttpClientResponse.HttpClientResponse,
        GatewayError,
        Scope.Scope
      > =>
        Effect.gen(function*() {
          let request = HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("accept-encoding", "identity"))
          if (offset > 0) request = HttpClientRequest.setHeader(request, "range", `bytes=${offset}-`)
          const response = yield* client.execute(request).pipe(Effect.mapError(transportError))
          if (!redirectStatuses.has(response.status)) return response
          const location = response.headers["location"]
          const refuse = (detail: string) => Effect.fail(new GatewayHttpError({ ...at, status: response.status, detail }))
          if (location === undefined) return yield* refuse("a redirect without a Location")
          if (redirects >= settings.maxRedirects) return yield* refuse(`more than ${settings.maxRedirects} redirects`)
          const next = new URL(location, url)
          if (new URL(url).protocol === "https:" && next.protocol !== "https:") {
            return yield* refuse(`a redirect from https down to ${next.protocol.slice(0, -1)} (${next.origin})`)
          }
          return yield* send(next.href, redirects + 1)
        })

      return Effect.gen(function*() {
        const url = `${gateway}/ipfs/${cid}`
        const response = yield* send(url, 0).pipe(
          Effect.timeoutFail({
            duration: settings.timeout,
            onTimeout: () => new GatewayTimeout({ ...at, phase: "headers", timeoutMs })
          })
        )
        const status = response.status
        const headers = response.headers
        if (status === 416) {
          const range = parseContentRange(headers["content-range"])
          return yield* new RangeNotSatisfiable({ ...at, totalSize: range?.total ?? null })
        }
        if (busyStatuses.has(status)) {
          const now = yield* Clock.currentTimeMillis
          return yield* new GatewayBusy({ ...at, status, retryAfterMs: retryAfterMs(headers["retry-after"], now) })
        }
        if (status !== 200 && status !== 206) {
          return yield* new GatewayHttpError({ ...at, status, detail: status === 404 ? "not found" : "not content" })
        }
        const contentLength = headers["content-length"] === undefined ? null : Number(headers["content-length"])
        let totalSize: number | null
        if (status === 206) {
          const range = parseContentRange(headers["content-range"])
          if (range === undefined || range.start !== offset) return yield* new RangeIgnored({ ...at, status })
          totalSize = range.total
        } else {
          if (offset > 0) return yield* new RangeIgnored({ ...at, status })
          totalSize = contentLength
        }
        const size = totalSize ?? knownSize ?? null
        const expected = size === null ? null : size - offset
        return {
          gateway,
          url: response.request.url,
          status,
          totalSize: Option.fromNullable(totalSize),
          body: guardBody(response.stream, at, expected, timeoutMs)
        }
      })
    }

    return Gateway.of({ open })
  })

/**
 * The body as the Downloader may trust it: an idle timeout between chunks,
 * a failure when it stops short, and never a byte beyond the announced size.
 */
const guardBody = (
  stream: Stream.Stream<Uint8Array, unknown>,
  at: { gateway: string; cid: string; offset: number },
  expected: number | null,
  timeoutMs: number
): Stream.Stream<Uint8Array, GatewayError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    let received = 0
    const endedEarly = () => new StreamEndedEarly({ ...at, received, expected })
    // One watchdog for the whole body rather than a timer per chunk: it wakes when the
    // timeout would expire and fails the stream only if no bytes came since.
    const clock = yield* Effect.clock
    let lastBytesAt = clock.unsafeCurrentTimeMillis()
    const watchdog: Effect.Effect<never, GatewayTimeout> = Effect.suspend(() => {
      const idle = clock.unsafeCurrentTimeMillis() - lastBytesAt
      return idle >= timeoutMs
        ? Effect.fail(new GatewayTimeout({ ...at, phase: "body", timeoutMs }))
        : Effect.sleep(Duration.millis(timeoutMs - idle)).pipe(Effect.zipRight(watchdog))
    })
    return stream.pipe(
      Stream.mapError(endedEarly),
      Stream.interruptWhen(watchdog),
      Stream.mapChunksEffect((chunk) => {
        lastBytesAt = clock.unsafeCurrentTimeMillis()
        received += Chunk.reduce(chunk, 0, (sum, bytes) => sum + bytes.byteLength)
        return expected !== null && received > expected
          ? Effect.fail(new ResponseTooLarge({ ...at, expected: expected + at.offset }))
          : Effect.succeed(chunk)
      }),
      Stream.concat(Stream.suspend(() => expected !== null && received < expected ? Stream.fail(endedEarly()) : Stream.empty))
    )
  }))

/** A Gateway configured from `IPFS_DL_TIMEOUT_MS` and `IPFS_DL_MAX_REDIRECTS`. */
export const layerConfig: Layer.Layer<Gateway, import("effect/ConfigError").ConfigError, HttpClient.HttpClient> = Layer
  .effect(Gateway, Effect.flatMap(Settings.gateway, make))

/** A Gateway with the given settings. */
export const layer = (settings: Settings.GatewaySettings): Layer.Layer<Gateway, never, HttpClient.HttpClient> =>
  Layer.effect(Gateway, make(settings))
