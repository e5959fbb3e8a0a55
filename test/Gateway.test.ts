import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, Option, Stream, TestClock } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Gateway from "../src/Gateway.js"
import { advanceUntil, sleeping } from "./support/Stack.js"
import * as TestGateway from "../src/testing/LoopbackGateway.js"

const content = TestGateway.generate(100_000, 7)

const withGateway = Effect.gen(function*() {
  const server = yield* TestGateway.make
  server.add(content)
  const gateway = yield* Gateway.make({ timeout: Duration.seconds(30), maxRedirects: 2 }).pipe(
    Effect.provide(NodeHttpClient.layer)
  )
  return { server, gateway }
})

const readAll = (response: Gateway.GatewayResponse) =>
  Stream.runCollect(response.body).pipe(Effect.map((chunks) => Buffer.concat(Chunk.toReadonlyArray(chunks))))

describe("Gateway", () => {
  it.scoped("opens the whole content with a 200 and tells its size", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      const response = yield* gateway.open({ gateway: server.origin, cid: content.cid, offset: 0 })
      expect(response.status).toBe(200)
      expect(Option.getOrNull(response.totalSize)).toBe(100_000)
      expect((yield* readAll(response)).equals(content.bytes)).toBe(true)
      expect(server.requests[0]!.range).toBeUndefined()
    }))

  it.scoped("asks for a range at an offset and accepts a 206 that starts there", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      const response = yield* gateway.open({ gateway: server.origin, cid: content.cid, offset: 60_000 })
      expect(response.status).toBe(206)
      expect(server.requests[0]!.range).toBe("bytes=60000-")
      expect((yield* readAll(response)).equals(content.bytes.subarray(60_000))).toBe(true)
    }))

  it.scoped("reports a 200 answer to a ranged request as RangeIgnored, before any byte is read", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      server.script({ kind: "ignoreRange" })
      const error = yield* Effect.flip(gateway.open({ gateway: server.origin, cid: content.cid, offset: 10 }))
      expect(error._tag).toBe("RangeIgnored")
      expect(error).toMatchObject({ status: 200, offset: 10 })
    }))

  it.scoped("reports a 416 as RangeNotSatisfiable with the total the gateway gave", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      const error = yield* Effect.flip(gateway.open({ gateway: server.origin, cid: content.cid, offset: 100_000 }))
      expect(error).toMatchObject({ _tag: "RangeNotSatisfiable", totalSize: 100_000 })
    }))

  it.scoped("reports 429 and 503 as GatewayBusy with Retry-After in milliseconds", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      server.script({ kind: "status", status: 429, retryAfter: "7" }, { kind: "status", status: 503 })
      const first = yield* Effect.flip(gateway.open({ gateway: server.origin, cid: content.cid, offset: 0 }))
      const second = yield* Effect.flip(gateway.open({ gateway: server.origin, cid: content.cid, offset: 0 }))
      expect(first).toMatchObject({ _tag: "GatewayBusy", status: 429, retryAfterMs: 7000 })
      expect(second).toMatchObject({ _tag: "GatewayBusy", status: 503, retryAfterMs: null })
    }))

  it.scoped("reports a 404 as GatewayHttpError", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      const error = yield* Effect.flip(gateway.open({ gateway: server.origin, cid: "bafkqaaa", offset: 0 }))
      expect(error).toMatchObject({ _tag: "GatewayHttpError", status: 404 })
      expect(error.message).toContain("404")
    }))

  it.scoped("reports a refused connection as GatewayNetworkError with the system code", () =>
    Effect.gen(function*() {
      const { gateway } = yield* withGateway
      const origin = yield* TestGateway.closedPort
      const error = yield* Effect.flip(gateway.open({ gateway: origin, cid: content.cid, offset: 0 }))
      expect(error).toMatchObject({ _tag: "GatewayNetworkError", code: "ECONNREFUSED" })
    }))

  it.scoped("reports a body cut off after some bytes as StreamEndedEarly with the count", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      server.script({ kind: "reset", afterBytes: 30_000 })
      const response = yield* gateway.open({ gateway: server.origin, cid: content.cid, offset: 0 })
      const error = yield* Effect.flip(readAll(response))
      expect(error).toMatchObject({ _tag: "StreamEndedEarly", received: 30_000, expected: 100_000 })
    }))

  it.scoped("fails a body that runs past the known size instead of growing the file", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      server.script({ kind: "oversize", extra: 5000 })
      const response = yield* gateway.open({ gateway: server.origin, cid: content.cid, offset: 0, knownSize: 100_000 })
      const error = yield* Effect.flip(readAll(response))
      expect(error).toMatchObject({ _tag: "ResponseTooLarge", expected: 100_000 })
    }))

  it.scoped("fails with GatewayTimeout when no headers come within the timeout", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      server.script({ kind: "stallHeaders" })
      const fiber = yield* Effect.fork(gateway.open({ gateway: server.origin, cid: content.cid, offset: 0 }))
      yield* sleeping("30 seconds")
      yield* TestClock.adjust("29999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toMatchObject({ _tag: "GatewayTimeout", phase: "headers", timeoutMs: 30_000 })
    }))

  it.scoped("fails with GatewayTimeout when the body stalls, rather than ending quietly", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      server.script({ kind: "stall", afterBytes: 20_000 })
      const response = yield* gateway.open({ gateway: server.origin, cid: content.cid, offset: 0 })
      const fiber = yield* Effect.fork(readAll(response))
      // Each chunk starts a new idle timer; time moves until the one after the last chunk fires.
      const exit = yield* advanceUntil(Fiber.poll(fiber), "30 seconds", "the stalled body to time out")
      const error = yield* Effect.flip(exit)
      expect(error).toMatchObject({ _tag: "GatewayTimeout", phase: "body" })
    }))

  it.scoped("follows redirects up to the limit", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* withGateway
      const hops: Array<string> = []
      const redirector = Http.createServer((request, response) => {
        hops.push(request.url ?? "")
        const hop = Number(new URL(request.url ?? "/", "http://x").searchParams.get("hop") ?? "0")
        const next = hop < 1 ? `/ipfs/${content.cid}?hop=${hop + 1}` : `${server.origin}/ipfs/${content.cid}`
        response.writeHead(302, { location: next }).end()
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void redirector.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.async<void>((resume) => void redirector.close(() => resume(Effect.void)))
      )
      const origin = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`
      const response = yield* gateway.open({ gateway: origin, cid: content.cid, offset: 0 })
      expect((yield* readAll(response)).equals(content.bytes)).toBe(true)
      expect(hops).toHaveLength(2)

      const tight = yield* Gateway.make({ timeout: Duration.seconds(30), maxRedirects: 1 }).pipe(
        Effect.provide(NodeHttpClient.layer)
      )
      const error = yield* Effect.flip(tight.open({ gateway: origin, cid: content.cid, offset: 0 }))
      expect(error).toMatchObject({ _tag: "GatewayHttpError", status: 302 })
      expect(error.message).toContain("more than 1 redirects")
    }))

  it.effect("normalises gateway origins and refuses what is not one", () =>
    Effect.gen(function*() {
      expect(yield* Gateway.parseOrigin("https://ipfs.io/ipfs/")).toBe("https://ipfs.io")
      expect(yield* Gateway.parseOrigin("http://127.0.0.1:8080/")).toBe("http://127.0.0.1:8080")
      const bad = yield* Effect.either(Gateway.parseOrigin("ftp://example.org"))
      expect(Either.isLeft(bad) && bad.left.message).toContain("only http and https")
      const empty = yield* Effect.flip(Gateway.parseOrigins([]))
      expect(empty).toMatchObject({ _tag: "InvalidGateway", reason: "the list of gateways is empty" })
    }))
})
