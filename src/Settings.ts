/**
 * Every setting of ipfs-downloader, described once as `Config`: read from the
 * environment as `IPFS_DL_<KEY>`, or given by a library caller as values.
 */
import * as Os from "node:os"
import * as NodePath from "node:path"
import { Config, ConfigProvider, Duration, Layer } from "effect"

/** Gateways used when neither `--gateway` nor `IPFS_DL_GATEWAYS` names any. */
export const defaultGateways: ReadonlyArray<string> = [
  // The IPFS Foundation's path gateway.
  "https://ipfs.io",
  // The IPFS Foundation's subdomain gateway; path requests are redirected to it.
  "https://dweb.link"
]

/** The failure policy's numbers (ARCHITECTURE.md, "Failure policy"). */
export interface RetrySettings {
  /** Automatic resumes of one download before it fails. */
  readonly maxResumeAttempts: number
  /** Retries after timeouts or busy answers, and network errors allowed per gateway. */
  readonly maxRetryAttempts: number
  /** First backoff delay after a timeout. */
  readonly initialBackoff: Duration.Duration
  /** Growth of the backoff delay at each retry. */
  readonly backoffMultiplier: number
  /** Fraction of the file that must be on disk for a reset stream to resume rather than restart. */
  readonly resumeThreshold: number
  /** Restarts from byte 0 on another gateway after a digest mismatch, before failing. */
  readonly maxCorruptionRestarts: number
  /** Longest `Retry-After` that is honoured; longer answers are capped to it. */
  readonly maxRetryAfter: Duration.Duration
}

/** How one gateway request behaves. */
export interface GatewaySettings {
  /** Idle timeout: no response headers, or no body bytes, for this long. */
  readonly timeout: Duration.Duration
  /** Redirects followed for one request (never from https down to http). */
  readonly maxRedirects: number
}

/** Where files and the database live, and which gateways are asked. */
export interface DownloaderSettings {
  /** Data directory: holds the database and, by default, the downloads. */
  readonly home: string
  /** Folder for downloads that are not given an explicit output path. */
  readonly downloadsDir: string
  /** Gateway origins, tried in this order. */
  readonly gateways: ReadonlyArray<string>
  /** Shortest time between two progress events (and progress writes to the store) of one download. */
  readonly progressInterval: Duration.Duration
}

const milliseconds = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a whole number of milliseconds, 0 or more", validation: (n) => n >= 0 }),
    Config.withDefault(fallback),
    Config.map(Duration.millis)
  )

const positiveInteger = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a whole number, 0 or more", validation: (n) => n >= 0 }),
    Config.withDefault(fallback)
  )

/** The retry settings, from `IPFS_DL_*` keys with the seed's defaults. */
export const retry: Config.Config<RetrySettings> = Config.all({
  maxResumeAttempts: positiveInteger("MAX_RESUME_ATTEMPTS", 3),
  maxRetryAttempts: positiveInteger("MAX_RETRY_ATTEMPTS", 3),
  initialBackoff: milliseconds("INITIAL_BACKOFF_MS", 1000),
  backoffMultiplier: Config.number("BACKOFF_MULTIPLIER").pipe(
    Config.validate({ message: "must be 1 or more", validation: (n) => n >= 1 }),
    Config.withDefault(2)
  ),
  resumeThreshold: Config.number("RESUME_THRESHOLD").pipe(
    Config.validate({ message: "must be between 0 and 1", validation: (n) => n >= 0 && n <= 1 }),
    Config.withDefault(0.5)
  ),
  maxCorruptionRestarts: positiveInteger("MAX_CORRUPTION_RESTARTS", 2),
  maxRetryAfter: milliseconds("MAX_RETRY_AFTER_MS", 60_000)
}).pipe(Config.nested("IPFS_DL"))

/** The gateway request settings. */
export const gateway: Config.Config<GatewaySettings> = Config.all({
  timeout: milliseconds("TIMEOUT_MS", 30_000),
  maxRedirects: positiveInteger("MAX_REDIRECTS", 5)
}).pipe(Config.nested("IPFS_DL"))

/** The data directory, downloads folder, gateway list and progress rate. */
export const downloader: Config.Config<DownloaderSettings> = Config.all({
  home: Config.string("HOME").pipe(Config.withDefault(NodePath.join(Os.homedir(), ".ipfs-dl"))),
  downloadsDir: Config.option(Config.string("DOWNLOADS_DIR")),
  // An empty IPFS_DL_GATEWAYS counts as unset, as an empty variable does for most tools.
  gateways: Config.array(Config.string(), "GATEWAYS").pipe(
    Config.map((list) => list.map((entry) => entry.trim()).filter((entry) => entry.length > 0)),
    Config.withDefault(defaultGateways),
    Config.map((list) => list.length === 0 ? defaultGateways : list)
  ),
  progressInterval: milliseconds("PROGRESS_INTERVAL_MS", 250)
}).pipe(
  Config.map(({ downloadsDir, home, ...rest }) => ({
    ...rest,
    home: NodePath.resolve(home),
    downloadsDir: NodePath.resolve(downloadsDir._tag === "Some" ? downloadsDir.value : NodePath.join(home, "downloads"))
  })),
  Config.nested("IPFS_DL")
)

/**
 * Reads settings from a plain object of `IPFS_DL_*` keys instead of the
 * process environment, e.g. `fromRecord({ IPFS_DL_TIMEOUT_MS: "500" })`.
 */
export const fromRecord = (values: Record<string, string>): Layer.Layer<never> =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values)), { pathDelim: "_", seqDelim: "," }))
