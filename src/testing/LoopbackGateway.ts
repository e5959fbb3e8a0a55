/**
 * A real IPFS path gateway on 127.0.0.1 for tests and demos: serves generated content
 * under its raw CID with Range support, and misbehaves on cue.
 */
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer, type Scope } from "effect"
import * as ContentId from "../ContentId.js"

/** Generated content and the names it is known by. */
export interface Content {
  readonly bytes: Buffer
  readonly cid: string
  readonly sha256: string
}

/** Deterministic pseudo-random bytes (xorshift32), different for each seed. */
export const generate = (size: number, seed = 1): Content => {
  const bytes = Buffer.allocUnsafe(size)
  let state = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < size; i++) {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    bytes[i] = state & 0xff
  }
  const sha256 = Crypto.createHash("sha256").update(bytes).digest("hex")
  return { bytes, sha256, cid: ContentId.rawFromSha256(sha256) }
}

/** One way to misbehave, for one request. */
export type Fault =
  /** Close the connection after this many body bytes, short of the length announced. */
  | { readonly kind: "reset"; readonly afterBytes: number }
  /** Send this many body bytes, then nothing more, keeping the connection open. */
  | { readonly kind: "stall"; readonly afterBytes: number }
  /** Read the request and never answer. */
  | { readonly kind: "stallHeaders" }
  /** Flip the byte at this offset of the content. */
  | { readonly kind: "corrupt"; readonly at: number }
  /** Answer a ranged request with 200 and the whole content. */
  | { readonly kind: "ignoreRange" }
  /** Answer with this status (and Retry-After, when given) and no content. */
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string }
  /** Send the content and then `extra` more bytes, without a length. */
  | { readonly kind: "oversize"; readonly extra: number }


/** What the gateway saw of one request. */
export interface Seen {
  readonly path: string
  readonly range: string | undefined
  status: number
  /** Body bytes written to the socket. */
  bytesSent: number
}

export interface Server {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  /** Serves this content under its CID. */
  readonly add: (content: Content) => void
  /** Faults for the next requests, one per request, in order. */
  readonly script: (...faults: ReadonlyArray<Fault>) => void
  /** A fault for every request from now on, after the scripted ones. */
  readonly always: (fault: Fault | undefined) => void
  /** Every request so far. */
  readonly requests: ReadonlyArray<Seen>
  /** Body bytes sent in all. */
  readonly bytesSent: () => number
  /** Closes the connections of stalled responses, as a reset would. */
  readonly cutStalled: () => void
  /** Sends bodies at about this many bytes per second from now on; `undefined` for full speed. */
  readonly rate: (bytesPerSecond: number | undefined) => void
}

/** Starts a gateway on 127.0.0.1 and stops it with the scope. */
export const make: Effect.Effect<Server, never, Scope.Scope> = Effect.gen(function*() {
  const contents = new Map<string, Content>()
  const scripted: Array<Fault> = []
  let permanent: Fault | undefined
  let bytesPerSecond: number | undefined
  const requests: Array<Seen> = []
  const sockets = new Set<import("node:net").Socket>()
  const stalled = new Set<Http.ServerResponse>()

  const server = Http.createServer((request, response) => {
    const fault = scripted.shift() ?? permanent
    const path = request.url ?? "/"
    const seen: Seen = { path, range: request.headers.range, status: 0, bytesSent: 0 }
    requests.push(seen)
    const answer = (status: number, headers: Http.OutgoingHttpHeaders = {}, body?: Buffer) => {
      seen.status = status
      response.writeHead(status, headers)
      if (body !== undefined) seen.bytesSent += body.byteLength
      response.end(body)
    }

    if (fault?.kind === "stallHeaders") return
    if (fault?.kind === "status") {
      return answer(fault.status, fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter })
    }
    const match = path.match(/^\/ipfs\/([^/?#]+)$/)
    const content = match ? contents.get(match[1]!) : undefined
    if (content === undefined) return answer(404, { "content-type": "text/plain" }, Buffer.from("not found"))

    let bytes = content.bytes
    if (fault?.kind === "corrupt") {
      bytes = Buffer.from(bytes)
      bytes[fault.at] = bytes[fault.at]! ^ 0xff
    }
    const total = bytes.byteLength
    const ranged = request.headers.range?.match(/^bytes=(\d+)-$/)
    let start = 0
    let status = 200
    const headers: Http.OutgoingHttpHeaders = { "content-type": "application/octet-stream", "accept-ranges": "bytes" }
    if (ranged && fault?.kind !== "ignoreRange") {
      start = Number(ranged[1])
      if (start >= total) return answer(416, { "content-range": `bytes */${total}` })
      status = 206
      headers["content-range"] = `bytes ${start}-${total - 1}/${total}`
    }
    let body = bytes.subarray(start)
    if (fault?.kind === "oversize") {
      body = Buffer.concat([body, Buffer.alloc(fault.extra, 0x2a)])
    } else {
      headers["content-length"] = body.byteLength
    }
    seen.status = status
    response.writeHead(status, headers)
    const cut = fault?.kind === "reset" || fault?.kind === "stall"
    send(response, seen, cut ? body.subarray(0, fault.afterBytes) : body, () => {
      if (fault?.kind === "stall") stalled.add(response)
      // Node's client drops body bytes it holds unread when the connection closes under them;
      // closing a moment later lets every byte written reach the client's disk, so tests can count them.
      else if (fault?.kind === "reset") setTimeout(() => response.socket?.end(), 100)
      else response.end()
    })
  })

  /** Writes `body`, paced to the configured rate, then calls `done`. */
  const send = (response: Http.ServerResponse, seen: Seen, body: Buffer, done: () => void) => {
    if (bytesPerSecond === undefined) {
      seen.bytesSent += body.byteLength
      return void response.write(body, done)
    }
    const piece = 16 * 1024
    let sent = 0
    const timer = setInterval(() => {
      if (response.destroyed) return clearInterval(timer)
      const next = body.subarray(sent, sent + piece)
      sent += next.byteLength
      seen.bytesSent += next.byteLength
      if (sent < body.byteLength) return void response.write(next)
      clearInterval(timer)
      response.write(next, done)
    }, Math.max(1, Math.round(piece * 1000 / bytesPerSecond)))
    response.on("close", () => clearInterval(timer))
  }
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })

  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    }),
    () =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )
  const { port } = server.address() as AddressInfo

  return {
    origin: `http://127.0.0.1:${port}`,
    add: (content) => void contents.set(content.cid, content),
    script: (...faults) => void scripted.push(...faults),
    always: (fault) => void (permanent = fault),
    requests,
    bytesSent: () => requests.reduce((sum, seen) => sum + seen.bytesSent, 0),
    rate: (rate) => void (bytesPerSecond = rate),
    cutStalled: () => {
      for (const response of stalled) setTimeout(() => response.socket?.end(), 100)
      stalled.clear()
    }
  }
})

/** An origin on 127.0.0.1 where nothing listens: connections are refused. */
export const closedPort: Effect.Effect<string> = Effect.async<string>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(`http://127.0.0.1:${port}`)))
  })
})

/** The gateway as a service, for suites that share one. */
export class LoopbackGateway extends Context.Tag("ipfs-downloader/testing/LoopbackGateway")<LoopbackGateway, Server>() {}

/** A scoped layer: the gateway starts with the layer and stops with it. */
export const layer: Layer.Layer<LoopbackGateway> = Layer.scoped(LoopbackGateway, make)
