/**
 * The `ipfs-dl` commands: thin adapters from arguments to the Downloader,
 * and from its outcomes to output and exit codes.
 */
import { Args, Command, Options } from "@effect/cli"
import { HttpServer } from "@effect/platform"
import { Config, Console, Context, Data, Effect, Fiber, Layer, Option, Redacted } from "effect"
import type { ConfigError } from "effect/ConfigError"
import { type Download, Status, toView } from "../Download.js"
import { Downloader, type DownloadError } from "../Downloader.js"
import type * as DownloaderModule from "../Downloader.js"
import * as Live from "../Live.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"

/** How a command ends when it does not succeed: the exit code and one sentence. */
export class CliExit extends Data.TaggedError("CliExit")<{
  readonly code: 1 | 2
  readonly message: string
}> {}

/** Exit codes of the contract. */
export const exitCodes = { success: 0, incomplete: 1, invalid: 2, interrupted: 130 } as const

type Invalid =
  | DownloaderModule.InvalidRequest
  | DownloaderModule.DownloadNotFound
  | DownloaderModule.InvalidState

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

/** Exit 2: the input was wrong, nothing was recorded. */
const invalid = (json: boolean) => (error: Invalid | ConfigError | Live.DataDirectoryError) => {
  const message = error._tag === "ConfigError"
    ? `Invalid setting: ${String(error).replace(/^\(|\)$/g, "").replaceAll("IPFS_DL.", "IPFS_DL_")}`
    : error.message
  return (json ? printJson({ error: { type: error._tag, message } }) : Effect.void).pipe(
    Effect.zipRight(Effect.fail(new CliExit({ code: exitCodes.invalid, message })))
  )
}

/** Exit 1: the download did not complete; its state is kept and the sentence says what to run next. */
const incomplete = (json: boolean) => (error: DownloadError) =>
  Effect.gen(function*() {
    const downloader = yield* Downloader
    if (json) yield* downloader.status(error.downloadId).pipe(Effect.flatMap((d) => printJson(toView(d))), Effect.ignore)
    const next = error._tag === "DownloadCancelled"
      ? ""
      : ` Run \`ipfs-dl resume ${error.downloadId}\` to ${error._tag === "DownloadPaused" ? "continue" : "try again"}.`
    return yield* new CliExit({ code: exitCodes.incomplete, message: `${error.message}.${next}` })
  })

/** Runs a command's work with the live stack, mapping its failures to exits. */
const withDownloader = <A>(
  json: boolean,
  work: Effect.Effect<A, Invalid | DownloadError | CliExit, Downloader>
): Effect.Effect<A, CliExit> =>
  work.pipe(
    Effect.catchAll((error): Effect.Effect<never, CliExit, Downloader> => {
      switch (error._tag) {
        case "CliExit":
          return Effect.fail(error)
        case "DownloadPaused":
        case "DownloadFailed":
        case "DownloadCancelled":
          return incomplete(json)(error)
        default:
          return invalid(json)(error)
      }
    }),
    Effect.provide(Live.layer),
    Effect.catchTags({ ConfigError: invalid(json), DataDirectoryError: invalid(json) })
  )

/** Runs a recorded download in the foreground, with progress on stderr and the result on stdout. */
const runInForeground = (record: Download, json: boolean, gateways: ReadonlyArray<string> | undefined) =>
  Effect.gen(function*() {
    const downloader = yield* Downloader
    const events = yield* downloader.subscribe
    const renderer = Progress.make(record.id, Progress.modeFor(process.stderr))
    const follower = yield* Effect.fork(Progress.follow(events, renderer))
    const done = yield* downloader.resume(record.id, { gateways }).pipe(
      Effect.ensuring(Fiber.interrupt(follower).pipe(Effect.zipRight(Progress.drain(events, renderer)))),
      Effect.onInterrupt(() =>
        Effect.gen(function*() {
          const paused = yield* downloader.status(record.id).pipe(Effect.orDie)
          if (json) yield* printJson(toView(paused))
          yield* Console.error(`Paused download ${record.id}. Run \`ipfs-dl resume ${record.id}\` to continue.`)
        })
      )
    )
    yield* json ? printJson(toView(done)) : Console.log(Output.completed(done))
  }).pipe(Effect.scoped)

const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print one JSON value on stdout and nothing else"))
const idArg = Args.text({ name: "id" }).pipe(Args.withDescription("The download id, as printed by get"))

const get = Command.make("get", {
  cid: Args.text({ name: "cid" }).pipe(Args.withDescription("The CID of the content")),
  output: Options.text("output").pipe(
    Options.withAlias("o"),
    Options.withDescription("Where to write the file (default: the downloads folder, under the CID)"),
    Options.optional
  ),
  sha256: Options.text("sha256").pipe(Options.withDescription("The expected sha256, in hex"), Options.optional),
  gateway: Options.text("gateway").pipe(
    Options.withDescription("A gateway origin such as https://ipfs.io; repeat for several"),
    Options.repeated
  ),
  json: jsonOption
}, ({ cid, gateway, json, output, sha256 }) =>
  withDownloader(
    json,
    Effect.gen(function*() {
      const downloader = yield* Downloader
      const gateways = gateway.length > 0 ? gateway : undefined
      const record = yield* downloader.create({
        cid,
        output: Option.getOrUndefined(output),
        expectedHash: Option.getOrUndefined(Option.map(sha256, (hex) => `sha256:${hex}`)),
        gateways
      })
      if (record.status === "success") {
        return yield* json ? printJson(toView(record)) : Console.log(Output.completed(record))
      }
      yield* Console.error(`Download ${record.id}: ${record.cid} -> ${record.downloadPath}`)
      yield* runInForeground(record, json, gateways)
    })
  )).pipe(Command.withDescription("Download content by CID, continuing an unfinished download of the same CID and path"))

const resume = Command.make("resume", { id: idArg, json: jsonOption }, ({ id, json }) =>
  withDownloader(
    json,
    Effect.gen(function*() {
      const record = yield* (yield* Downloader).status(id)
      yield* runInForeground(record, json, undefined)
    })
  )).pipe(Command.withDescription("Continue a paused, failed or interrupted download"))

const status = Command.make("status", { id: idArg, json: jsonOption }, ({ id, json }) =>
  withDownloader(
    json,
    Effect.gen(function*() {
      const record = yield* (yield* Downloader).status(id)
      yield* json ? printJson(toView(record)) : Console.log(Output.details(record))
    })
  )).pipe(Command.withDescription("Show one download"))

const list = Command.make("list", {
  status: Options.choice("status", Status.literals).pipe(
    Options.withDescription("Only downloads in this status"),
    Options.optional
  ),
  json: jsonOption
}, ({ json, status }) =>
  withDownloader(
    json,
    Effect.gen(function*() {
      const records = yield* (yield* Downloader).list(Option.getOrUndefined(status))
      yield* json ? printJson(records.map(toView)) : Console.log(Output.table(records))
    })
  )).pipe(Command.withDescription("List downloads, newest first"))

const cancel = Command.make("cancel", { id: idArg }, ({ id }) =>
  withDownloader(
    false,
    Effect.gen(function*() {
      const record = yield* (yield* Downloader).cancel(id)
      yield* Console.log(`Cancelled download ${record.id}; its partial file is deleted.`)
    })
  )).pipe(Command.withDescription("Stop a download for good and delete its partial file"))

const serve = Command.make("serve", {
  host: Options.text("host").pipe(Options.withDescription("Address to listen on"), Options.withDefault("127.0.0.1")),
  port: Options.integer("port").pipe(Options.withDescription("Port to listen on"), Options.withDefault(8080))
}, ({ host, port }) =>
  withDownloader(
    false,
    Effect.gen(function*() {
      // An empty IPFS_DL_TOKEN is no token: it must not let every request through.
      const token = yield* Config.option(Config.redacted("IPFS_DL_TOKEN")).pipe(
        Effect.map(Option.filter((secret) => Redacted.value(secret).length > 0)),
        Effect.orDie
      )
      // Loaded here, so that the other commands start without the HTTP server's modules.
      const Server = yield* Effect.promise(() => import("../http/Server.js"))
      const context = yield* Layer.build(Server.layer({ host, port, token }).pipe(
        Layer.provide(Layer.succeed(Downloader, yield* Downloader))
      )).pipe(
        Effect.catchTags({
          TokenRequired: (error) => Effect.fail(new CliExit({ code: exitCodes.invalid, message: error.message })),
          ServeError: (error) =>
            Effect.fail(
              new CliExit({ code: exitCodes.incomplete, message: `Cannot listen on ${host}:${port}: ${String(error.cause)}` })
            )
        })
      )
      const address = Context.get(context, HttpServer.HttpServer).address
      const origin = address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : address.path
      yield* Console.error(`Serving on ${origin}: the page at /, the API at /api, its description at /api/openapi.json`)
      return yield* Effect.never
    }).pipe(Effect.scoped)
  )).pipe(Command.withDescription("Serve the HTTP API, live events and the page"))

/** `ipfs-dl` and its subcommands. */
export const command = Command.make("ipfs-dl").pipe(
  Command.withDescription("Resumable, verified downloads of IPFS content by CID from HTTP gateways"),
  Command.withSubcommands([get, resume, status, list, cancel, serve])
)

/** Runs the command line on `argv` (as `process.argv`). */
export const run = Command.run(command, { name: "ipfs-dl", version: "0.1.0" })
