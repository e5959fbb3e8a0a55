/**
 * The whole live stack in one Layer: HTTP gateways through Node's HTTP client,
 * the real file system, and SQLite in the data directory.
 */
import { FileSystem } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { ConfigError } from "effect/ConfigError"
import { Cause, Effect, Layer, Schema } from "effect"
import * as NodePath from "node:path"
import { Downloader } from "./Downloader.js"
import * as DownloaderModule from "./Downloader.js"
import { DownloadStore, layerSqlite } from "./DownloadStore.js"
import * as Gateway from "./Gateway.js"
import * as Hasher from "./Hasher.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as Settings from "./Settings.js"
import * as Storage from "./Storage.js"

/** The database file inside the data directory. */
export const databasePath = (home: string): string => NodePath.join(home, "ipfs-dl.db")

/** The data directory or its database cannot be created or opened. */
export class DataDirectoryError extends Schema.TaggedError<DataDirectoryError>()("DataDirectoryError", {
  home: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `Cannot use the data directory ${this.home} (IPFS_DL_HOME): ${this.detail}`
  }
}

/** The store on `<home>/ipfs-dl.db`, creating the data directory when missing. */
export const storeLayer = (home: string): Layer.Layer<DownloadStore, DataDirectoryError> =>
  layerSqlite(databasePath(home)).pipe(
    Layer.provide(Layer.effectDiscard(
      Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(home, { recursive: true })).pipe(Effect.orDie)
    )),
    Layer.provide(NodeContext.layer),
    Layer.catchAllCause((cause) => {
      const squashed = Cause.squash(cause)
      const detail = squashed instanceof Error ? squashed.message : String(squashed)
      return Layer.fail(new DataDirectoryError({ home, detail }))
    })
  )

/** Every service but the Downloader, live, with the given settings. */
export const servicesLayer = (settings: {
  readonly downloader: Settings.DownloaderSettings
  readonly gateway: Settings.GatewaySettings
  readonly retry: Settings.RetrySettings
}) =>
  Layer.mergeAll(
    storeLayer(settings.downloader.home),
    Gateway.layer(settings.gateway).pipe(Layer.provide(NodeHttpClient.layer)),
    Storage.layer.pipe(Layer.provide(NodeContext.layer)),
    Hasher.layer,
    RetryPolicy.layer(settings.retry)
  )

/**
 * The Downloader and its services, live, with settings from `IPFS_DL_*` (or
 * whatever ConfigProvider is in place).
 */
export const layer: Layer.Layer<Downloader | DownloadStore, ConfigError | DataDirectoryError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const settings = {
      downloader: yield* Settings.downloader,
      gateway: yield* Settings.gateway,
      retry: yield* Settings.retry
    }
    const services = servicesLayer(settings)
    return DownloaderModule.layer(settings.downloader).pipe(Layer.provideMerge(services))
  })
)
