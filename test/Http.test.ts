/** `ipfs-dl serve` over real HTTP on loopback: every route, every error status, live events. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import WebSocket from "ws"
import * as Server from "../src/http/Server.js"
import * as TestGateway from "../src/testing/LoopbackGateway.js"
import { post, request, serve } from "./support/Serve.js"
import { eventually } from "./support/Stack.js"

const content = TestGateway.generate(200_000, 61)

/** Polls until the download is in `status`. */
const until = (origin: string, id: string, status: string) =>
  eventually(
    request(`${origin}/api/downloads/${id}`).pipe(
      Effect.map((r) => r.body.status === status ? Option.some(r.body) : Option.none())
    ),
    `download ${id} to be ${status}`
  )

/** Reads Server-Sent Events until `count` frames have come. */
const readSse = (url: string, count: number) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const response = await fetch(url, { signal: controller.signal })
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    const frames: Array<{ event: string; data: any }> = []
    let buffer = ""
    while (frames.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += value
      let end: number
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = frame.match(/^event: (.*)$/m)?.[1]
        const data = frame.match(/^data: (.*)$/m)?.[1]
        if (event !== undefined && data !== undefined) frames.push({ event, data: JSON.parse(data) })
      }
    }
    controller.abort()
    return { frames, contentType: response.headers.get("content-type") }
  })

describe("HTTP API", () => {
  it.scopedLive("POST /api/downloads answers 202 at once; the download runs in the background to success", () =>
    Effect.gen(function*() {
      const { gateway, origin } = yield* serve()
      gateway.add(content)
      const started = yield* post(`${origin}/api/downloads`, { cid: content.cid, filename: "a.bin", sha256: content.sha256 })
      expect(started.status).toBe(202)
      expect(started.body).toMatchObject({ cid: content.cid, expectedHash: `sha256:${content.sha256}` })
      expect(started.body.path.endsWith("/downloads/a.bin")).toBe(true)
      const done = yield* until(origin, started.body.id, "success")
      expect(done).toMatchObject({ sha256: content.sha256, bytes: content.bytes.length })

      const list = yield* request(`${origin}/api/downloads?status=success`)
      expect(list.body.map((d: { id: string }) => d.id)).toEqual([started.body.id])
      const none = yield* request(`${origin}/api/downloads?status=paused`)
      expect(none.body).toEqual([])
    }))

  it.scopedLive("answers 404 for an unknown id on every route that takes one", () =>
    Effect.gen(function*() {
      const { origin } = yield* serve()
      for (const attempt of [
        request(`${origin}/api/downloads/nope`),
        post(`${origin}/api/downloads/nope/resume`),
        post(`${origin}/api/downloads/nope/cancel`)
      ]) {
        const response = yield* attempt
        expect(response.status).toBe(404)
        expect(response.body).toEqual({ _tag: "NotFound", message: `No download has the id "nope"` })
      }
    }))

  it.scopedLive("answers 400 naming the field for invalid bodies, and records nothing", () =>
    Effect.gen(function*() {
      const { origin } = yield* serve()
      const missing = yield* post(`${origin}/api/downloads`, { filename: "x" })
      expect(missing.status).toBe(400)
      expect(missing.body.issues[0].path).toEqual(["cid"])
      const notJson = yield* request(`${origin}/api/downloads`, { method: "POST", body: "{", headers: { "content-type": "application/json" } })
      expect(notJson.status).toBe(400)
      const badCid = yield* post(`${origin}/api/downloads`, { cid: "nope" })
      expect(badCid).toMatchObject({ status: 400, body: { _tag: "BadRequest", field: "cid" } })
      const badHash = yield* post(`${origin}/api/downloads`, { cid: content.cid, sha256: "abc" })
      expect(badHash).toMatchObject({ status: 400, body: { _tag: "BadRequest", field: "sha256" } })
      expect((yield* request(`${origin}/api/downloads`)).body).toEqual([])
    }))

  it.scopedLive("refuses file names that could leave the downloads folder", () =>
    Effect.gen(function*() {
      const { origin } = yield* serve()
      const attempts = ["../escape", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "..", ".", "nul\0x", "x".repeat(300)]
      for (const filename of attempts) {
        const response = yield* post(`${origin}/api/downloads`, { cid: content.cid, filename })
        expect(response.status, filename).toBe(400)
        expect(response.body).toMatchObject({ _tag: "BadRequest", field: "filename" })
      }
      expect((yield* request(`${origin}/api/downloads`)).body).toEqual([])
    }))

  it.scopedLive("answers 409 when the state does not allow resume or cancel", () =>
    Effect.gen(function*() {
      const { gateway, origin } = yield* serve()
      gateway.add(content)
      const started = yield* post(`${origin}/api/downloads`, { cid: content.cid })
      yield* until(origin, started.body.id, "success")
      const resume = yield* post(`${origin}/api/downloads/${started.body.id}/resume`)
      expect(resume.status).toBe(409)
      expect(resume.body).toMatchObject({ _tag: "Conflict", status: "success" })
      const cancel = yield* post(`${origin}/api/downloads/${started.body.id}/cancel`)
      expect(cancel.status).toBe(409)
      expect(cancel.body.message).toContain("already complete")
    }))

  it.scopedLive("cancels a running download and resumes it again", () =>
    Effect.gen(function*() {
      const { gateway, origin } = yield* serve()
      gateway.add(content)
      gateway.script({ kind: "stall", afterBytes: 50_000 })
      const started = yield* post(`${origin}/api/downloads`, { cid: content.cid })
      yield* until(origin, started.body.id, "in_progress")
      const running = yield* post(`${origin}/api/downloads/${started.body.id}/resume`)
      expect(running.status).toBe(409)
      const cancelled = yield* post(`${origin}/api/downloads/${started.body.id}/cancel`)
      expect(cancelled).toMatchObject({ status: 200, body: { status: "failed", error: "cancelled" } })
      const resumed = yield* post(`${origin}/api/downloads/${started.body.id}/resume`)
      expect(resumed.status).toBe(202)
      yield* until(origin, started.body.id, "success")
    }))

  it.scopedLive("a late SSE client gets the current state first, then live events", () =>
    Effect.gen(function*() {
      const { gateway, origin } = yield* serve()
      gateway.add(content)
      const first = yield* post(`${origin}/api/downloads`, { cid: content.cid })
      yield* until(origin, first.body.id, "success")

      const other = TestGateway.generate(100_000, 62)
      gateway.add(other)
      const [sse] = yield* Effect.all([
        readSse(`${origin}/api/events`, 4),
        Effect.sleep("200 millis").pipe(Effect.zipRight(post(`${origin}/api/downloads`, { cid: other.cid })))
      ], { concurrency: 2 })
      expect(sse.contentType).toBe("text/event-stream")
      expect(sse.frames[0]).toMatchObject({
        event: "download_state",
        data: { download: { id: first.body.id, status: "success" } }
      })
      expect(sse.frames.slice(1).map((f) => f.event)).toContain("download_started")
    }))

  it.scopedLive("delivers download_complete over the WebSocket", () =>
    Effect.gen(function*() {
      const { gateway, origin } = yield* serve()
      gateway.add(content)
      const socket = yield* Effect.acquireRelease(
        Effect.async<WebSocket>((resume) => {
          const ws = new WebSocket(`${origin.replace("http", "ws")}/ws`)
          ws.on("open", () => resume(Effect.succeed(ws)))
        }),
        (ws) => Effect.sync(() => ws.close())
      )
      const complete = Effect.async<any>((resume) => {
        socket.on("message", (data) => {
          const message = JSON.parse(String(data))
          if (message.type === "download_complete") resume(Effect.succeed(message))
        })
      })
      const started = yield* post(`${origin}/api/downloads`, { cid: content.cid, filename: "ws.bin" })
      const message = yield* complete.pipe(Effect.timeout("10 seconds"))
      expect(message).toMatchObject({ type: "download_complete", downloadId: started.body.id, filepath: started.body.path })
    }))

  it.scopedLive("takes 20 concurrent POSTs, each its own download", () =>
    Effect.gen(function*() {
      const { gateway, origin } = yield* serve()
      const contents = Array.from({ length: 20 }, (_, i) => TestGateway.generate(30_000 + i, 100 + i))
      contents.forEach(gateway.add)
      const responses = yield* Effect.all(
        contents.map((c) => post(`${origin}/api/downloads`, { cid: c.cid })),
        { concurrency: "unbounded" }
      )
      expect(responses.map((r) => r.status)).toEqual(contents.map(() => 202))
      expect(new Set(responses.map((r) => r.body.id)).size).toBe(20)
      const done = yield* eventually(
        request(`${origin}/api/downloads?status=success`).pipe(
          Effect.map((r) => r.body.length === 20 ? Option.some(r.body) : Option.none())
        ),
        "20 downloads to succeed"
      )
      const byCid = new Map(done.map((d: { cid: string; sha256: string }) => [d.cid, d.sha256]))
      expect(contents.every((c) => byCid.get(c.cid) === c.sha256)).toBe(true)
    }))

  it.scopedLive("answers an unexpected fault with 500 and a JSON error, and keeps serving", () =>
    Effect.gen(function*() {
      const { origin } = yield* serve({
        downloader: (real) => ({ ...real, list: () => Effect.dieMessage("the disk caught fire") })
      })
      const broken = yield* request(`${origin}/api/downloads`)
      expect(broken.status).toBe(500)
      expect(typeof broken.body).toBe("object")
      expect(JSON.stringify(broken.body)).not.toContain("fire")
      expect(JSON.stringify(broken.body)).not.toContain("    at ")
      const still = yield* request(`${origin}/api/downloads/nope`)
      expect(still.status).toBe(404)
    }))

  it.scopedLive("serves its OpenAPI description and the page", () =>
    Effect.gen(function*() {
      const { origin } = yield* serve()
      const openapi = yield* request(`${origin}/api/openapi.json`)
      expect(openapi.status).toBe(200)
      expect(Object.keys(openapi.body.paths).sort()).toEqual([
        "/api/downloads",
        "/api/downloads/{id}",
        "/api/downloads/{id}/cancel",
        "/api/downloads/{id}/resume"
      ])
      const page = yield* request(`${origin}/`)
      expect(page.headers.get("content-type")).toContain("text/html")
      expect(page.body).toContain("new EventSource")
    }))

  it.scopedLive("with a token, checks it on every request and on the SSE and WebSocket handshakes", () =>
    Effect.gen(function*() {
      const { origin } = yield* serve({ token: "s3cret" })
      expect((yield* request(`${origin}/api/downloads`)).status).toBe(401)
      expect((yield* request(`${origin}/api/downloads`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
      expect((yield* request(`${origin}/api/downloads`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200)
      expect((yield* request(`${origin}/?token=s3cret`)).status).toBe(200)
      expect((yield* request(`${origin}/api/events`)).status).toBe(401)
      const refused = yield* Effect.async<number>((resume) => {
        const ws = new WebSocket(`${origin.replace("http", "ws")}/ws`)
        ws.on("unexpected-response", (_, response) => resume(Effect.succeed(response.statusCode ?? 0)))
        ws.on("open", () => resume(Effect.succeed(101)))
      })
      expect(refused).toBe(401)
      const sse = yield* readSse(`${origin}/api/events?token=s3cret`, 0)
      expect(sse.contentType).toBe("text/event-stream")
    }))

  it.effect("refuses to listen beyond this machine without a token", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Server.checkExposure({ host: "0.0.0.0", port: 0, token: Option.none() }))
      expect(error).toMatchObject({ _tag: "TokenRequired", host: "0.0.0.0" })
      expect(error.message).toContain("set IPFS_DL_TOKEN")
      yield* Server.checkExposure({ host: "0.0.0.0", port: 0, token: Option.some(Redacted.make("t")) })
      const empty = yield* Effect.flip(Server.checkExposure({ host: "0.0.0.0", port: 0, token: Option.some(Redacted.make("")) }))
      expect(empty._tag).toBe("TokenRequired")
      expect(Server.isLoopback("127.0.0.1")).toBe(true)
      expect(Server.isLoopback("::1")).toBe(true)
      expect(Server.isLoopback("192.168.1.2")).toBe(false)
    }))
})
