/**
 * ipfs-downloader: resumable, verified downloads of IPFS content by CID from
 * HTTP gateways, as Effect services.
 */
export * as ContentId from "./ContentId.js"
export * as Download from "./Download.js"
export * as Downloader from "./Downloader.js"
export * as DownloadStore from "./DownloadStore.js"
export * as Gateway from "./Gateway.js"
export * as Hasher from "./Hasher.js"
export * as Live from "./Live.js"
export * as RetryPolicy from "./RetryPolicy.js"
export * as Settings from "./Settings.js"
export * as Storage from "./Storage.js"
export * as Api from "./http/Api.js"
export * as Server from "./http/Server.js"
export * as LoopbackGateway from "./testing/LoopbackGateway.js"
