/**
 * Progress of one download on stderr: a live bar on a terminal, one line per
 * change of state otherwise. Never on stdout, which belongs to the result.
 */
import { Effect, Queue } from "effect"
import type { Event } from "../Download.js"
import * as Output from "./Output.js"

/** How progress is shown. */
export type Mode = "bar" | "lines"

/** A bar on a terminal, lines elsewhere. */
export const modeFor = (stream: NodeJS.WriteStream): Mode => stream.isTTY ? "bar" : "lines"

const shortGateway = (origin: string) => origin.replace(/^https?:\/\//, "")

/** Renders the events of one download. */
export interface Renderer {
  readonly handle: (event: Event) => Effect.Effect<void>
}

/** A renderer for the events of download `id`; events of other downloads are ignored. */
export const make = (id: string, mode: Mode, stream: NodeJS.WriteStream = process.stderr): Renderer => {
  const write = (text: string) => Effect.sync(() => void stream.write(text))
  let bytes = 0
  let total: number | null = null
  let speed = 0
  let gateway = ""
  let retries = 0
  let lastDraw = 0
  let drawn = false

  const bar = () => {
    const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 70))
    const fraction = total === null || total === 0 ? 0 : Math.min(1, bytes / total)
    const filled = Math.round(fraction * width)
    const eta = speed > 0 && total !== null ? Output.duration((total - bytes) / speed) : "?"
    const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${Output.bytes(bytes)}/${total === null ? "?" : Output.bytes(total)} ${Output.bytes(speed)}/s ETA ${eta} ` +
      `via ${shortGateway(gateway)}${retries > 0 ? ` retries ${retries}` : ""}`
    drawn = true
    return `\r\x1b[2K${line}`
  }
  /** In bar mode, a line of its own above the bar. */
  const say = (text: string) =>
    mode === "bar" ? write(`\r\x1b[2K${text}\n${drawn ? bar() : ""}`) : write(`${text}\n`)
  const endBar = () => mode === "bar" && drawn ? write(`${bar()}\n`) : Effect.void

  const handle = (event: Event): Effect.Effect<void> => {
    if (event.downloadId !== id) return Effect.void
    switch (event.type) {
      case "download_started":
        bytes = event.offset
        total = event.totalBytes
        gateway = event.gateway
        return say(
          event.offset > 0
            ? `Resuming at ${Output.bytes(event.offset)} of ${total === null ? "?" : Output.bytes(total)} from ${event.gateway}`
            : `Downloading ${total === null ? "" : `${Output.bytes(total)} `}from ${event.gateway}`
        )
      case "download_progress": {
        bytes = event.bytes
        total = event.totalBytes
        speed = speed === 0 ? event.bytesPerSecond : speed * 0.7 + event.bytesPerSecond * 0.3
        const now = Date.now()
        if (mode !== "bar" || now - lastDraw < 100) return Effect.void
        lastDraw = now
        return write(bar())
      }
      case "download_retrying":
        retries++
        return say(`${event.error}; ${
          {
            backoff: `retried after ${(event.delayMs / 1000).toFixed(1)} s`,
            switch_gateway: "trying the next gateway",
            resume: "resuming from the bytes on disk",
            restart: "starting over from byte 0"
          }[event.action]
        }`)
      case "download_complete":
        bytes = total ?? bytes
        return endBar().pipe(Effect.zipRight(
          mode === "lines" ? write(`Complete: ${event.filepath}\n`) : Effect.void
        ))
      case "download_paused":
        return endBar().pipe(Effect.zipRight(write(`Paused: ${event.error}\n`)))
      case "download_failed":
        return endBar().pipe(Effect.zipRight(write(`Failed: ${event.error}\n`)))
    }
  }

  return { handle }
}

/** Renders events as they come, until interrupted. */
export const follow = (events: Queue.Dequeue<Event>, renderer: Renderer): Effect.Effect<never> =>
  Queue.take(events).pipe(Effect.flatMap(renderer.handle), Effect.forever)

/** Renders the events still waiting in the queue. */
export const drain = (events: Queue.Dequeue<Event>, renderer: Renderer): Effect.Effect<void> =>
  Queue.takeAll(events).pipe(Effect.flatMap(Effect.forEach(renderer.handle, { discard: true })))
