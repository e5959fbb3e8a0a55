/**
 * Content identifiers: parsing a CID with `multiformats`, and what a CID
 * itself can verify about the bytes a gateway sends.
 */
import { type Effect, Either, Option, Schema } from "effect"
import { bases } from "multiformats/basics"
import type { MultibaseDecoder } from "multiformats/bases/interface"
import { CID } from "multiformats/cid"
import * as Raw from "multiformats/codecs/raw"
import * as Digest from "multiformats/hashes/digest"
import { sha256 } from "multiformats/hashes/sha2"

/** The given text is not a CID. */
export class InvalidCid extends Schema.TaggedError<InvalidCid>()("InvalidCid", {
  input: Schema.String,
  reason: Schema.String
}) {
  /** The request field at fault, for callers that report it. */
  readonly field = "cid"
  override get message() {
    return `"${this.input}" is not a valid CID: ${this.reason}`
  }
}

/** A parsed CID in its canonical text form. */
export interface ContentId {
  /** Canonical text: base58btc for CIDv0, base32 for CIDv1. */
  readonly text: string
  /**
   * The sha256 of the content, hex, when the CID alone proves it: a `raw`
   * codec CID with a sha2-256 multihash addresses the bytes themselves.
   */
  readonly sha256: Option.Option<string>
}

/** Decodes a CID string in any of the multibases `multiformats` ships, chosen by its prefix. */
const anyBase: MultibaseDecoder<string> = {
  decode: (text) => {
    const base = Object.values(bases).find((candidate) => text.startsWith(candidate.prefix))
    if (base === undefined) throw new Error(`unknown multibase prefix "${text.slice(0, 1)}"`)
    return base.decoder.decode(text)
  }
}

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/** Parses a CID in any multibase that `multiformats` knows. */
export const decode = (input: string): Either.Either<ContentId, InvalidCid> =>
  Either.try({
    try: () => {
      const trimmed = input.trim()
      const cid = trimmed.startsWith("Qm") ? CID.parse(trimmed) : CID.parse(trimmed, anyBase)
      return {
        text: cid.toString(),
        sha256: cid.code === Raw.code && cid.multihash.code === sha256.code
          ? Option.some(toHex(cid.multihash.digest))
          : Option.none()
      }
    },
    catch: (cause) =>
      new InvalidCid({
        input,
        reason: input.trim().length === 0 ? "it is empty" : cause instanceof Error ? cause.message : String(cause)
      })
  })

/** Parses a CID, as an Effect. */
export const parse = (input: string): Effect.Effect<ContentId, InvalidCid> => decode(input)

/** The CIDv1 (raw codec, sha2-256) of content whose sha256 is given in hex. */
export const rawFromSha256 = (hex: string): string =>
  CID.create(1, Raw.code, Digest.create(sha256.code, Buffer.from(hex, "hex"))).toString()
