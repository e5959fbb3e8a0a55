/**
 * The HTTP API of `ipfs-dl serve`, described with Schema: the routes, their
 * bodies and answers, and the errors each may give. The OpenAPI document is
 * derived from it.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Status, View } from "../Download.js"

/** 400: the request cannot be carried out as given; `field` names what is wrong. */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { field: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** 404: no download has this id. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** 409: the download's status does not allow this action. */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String, status: Status },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** The body of `POST /api/downloads`. */
export const StartDownload = Schema.Struct({
  cid: Schema.String.annotations({ description: "The CID of the content" }),
  filename: Schema.optional(Schema.String.annotations({
    description: "A plain file name inside the downloads folder; the CID when absent"
  })),
  sha256: Schema.optional(Schema.String.annotations({ description: "The expected sha256, in hex" }))
})

const id = HttpApiSchema.param("id", Schema.String)

/** The downloads, and the actions on them. */
export class DownloadsGroup extends HttpApiGroup.make("downloads")
  .add(
    HttpApiEndpoint.get("list", "/api/downloads")
      .setUrlParams(Schema.Struct({ status: Schema.optional(Status) }))
      .addSuccess(Schema.Array(View))
      .annotate(OpenApi.Summary, "Every download, or those in one status, newest first")
  )
  .add(
    HttpApiEndpoint.get("get")`/api/downloads/${id}`
      .addSuccess(View)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One download")
  )
  .add(
    HttpApiEndpoint.post("start", "/api/downloads")
      .setPayload(StartDownload)
      .addSuccess(View, { status: 202 })
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Record a download and run it in the background")
  )
  .add(
    HttpApiEndpoint.post("resume")`/api/downloads/${id}/resume`
      .addSuccess(View, { status: 202 })
      .addError(NotFound)
      .addError(Conflict)
      .annotate(OpenApi.Summary, "Continue a paused, failed or interrupted download in the background")
  )
  .add(
    HttpApiEndpoint.post("cancel")`/api/downloads/${id}/cancel`
      .addSuccess(View)
      .addError(NotFound)
      .addError(Conflict)
      .annotate(OpenApi.Summary, "Stop a download for good and delete its partial file")
  )
{}

/** The whole API. */
export class Api extends HttpApi.make("ipfs-dl")
  .add(DownloadsGroup)
  .annotate(OpenApi.Title, "ipfs-dl")
  .annotate(
    OpenApi.Description,
    "Resumable, verified downloads of IPFS content by CID. Live events: GET /api/events (Server-Sent Events) and GET /ws (WebSocket)."
  )
{}
