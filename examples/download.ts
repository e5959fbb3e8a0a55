import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { Downloader, Live } from "ipfs-downloader"

const program = Effect.gen(function*() {
  const downloader = yield* Downloader.Downloader
  const done = yield* downloader.download({ cid: process.argv[2] ?? "", output: "hello.txt" })
  yield* Effect.log(`${done.downloadPath} verified, sha256 ${done.hash}`)
}).pipe(Effect.catchTags({
  InvalidCid: (error) => Effect.logError(error.message),
  DownloadPaused: (error) => Effect.logWarning(`${error.message}; resume ${error.downloadId} later`),
  DownloadFailed: (error) => Effect.logError(error.message)
}))

NodeRuntime.runMain(program.pipe(Effect.provide(Live.layer)))
