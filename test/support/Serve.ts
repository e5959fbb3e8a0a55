/** The HTTP server over a test stack, on a free port on 127.0.0.1, stopped with the scope. */
import { HttpServer } from "@effect/platform"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { Downloader } from "../../src/Downloader.js"
import * as Server from "../../src/http/Server.js"
import * as LoopbackGateway from "../../src/testing/LoopbackGateway.js"
import { build, tempHome } from "./Stack.js"

export const serve = (options: {
  readonly token?: string
  /** Replaces the Downloader, for the tests whose point is the swap. */
  readonly downloader?: (real: Context.Tag.Service<Downloader>) => Context.Tag.Service<Downloader>
} = {}) =>
  Effect.gen(function*() {
    const gateway = yield* LoopbackGateway.make
    const home = yield* tempHome
    const { downloader, store } = yield* build({ home, gateways: [gateway.origin] })
    const served = options.downloader?.(downloader) ?? downloader
    const context = yield* Layer.build(
      Server.layer({
        host: "127.0.0.1",
        port: 0,
        token: Option.map(Option.fromNullable(options.token), Redacted.make)
      }).pipe(Layer.provide(Layer.succeed(Downloader, served)))
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
    return { origin: `http://127.0.0.1:${address.port}`, gateway, downloader, store, home }
  })

/** `fetch` as an Effect, answering the status and the parsed JSON body. */
export const request = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    const text = await response.text()
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
    return { status: response.status, body, headers: response.headers }
  })

/** `POST` of a JSON body. */
export const post = (url: string, body?: unknown, headers: Record<string, string> = {}) =>
  request(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
