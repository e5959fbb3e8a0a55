/**
 * Incremental digests of a download, started either empty or from the bytes
 * already on disk, so that a resumed file is verified over all of it in one pass.
 */
import * as Crypto from "node:crypto"
import { Context, Effect, Layer, Schema, Stream } from "effect"

/** The digests a download can be checked against. */
export const Algorithm = Schema.Literal("sha256", "sha1", "md5", "sha512")
export type Algorithm = typeof Algorithm.Type

/** Hex length of each algorithm's digest. */
const hexLength: Record<Algorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 }

/** An expected digest given by a caller. */
export interface ExpectedDigest {
  readonly algorithm: Algorithm
  /** Lower-case hex. */
  readonly hex: string
}

/** The given text is not a digest of a known algorithm. */
export class InvalidHash extends Schema.TaggedError<InvalidHash>()("InvalidHash", {
  input: Schema.String,
  reason: Schema.String
}) {
  /** The request field at fault, for callers that report it. */
  readonly field = "hash"
  override get message() {
    return `"${this.input}" is not a valid hash: ${this.reason}`
  }
}

/**
 * Parses an expected digest: `<algorithm>:<hex>` or bare hex, whose length
 * names the algorithm (32 md5, 40 sha1, 64 sha256, 128 sha512).
 */
export const parseExpected = (input: string, algorithm?: Algorithm): Effect.Effect<ExpectedDigest, InvalidHash> => {
  const fail = (reason: string) => Effect.fail(new InvalidHash({ input, reason }))
  const trimmed = input.trim()
  const colon = trimmed.indexOf(":")
  const named = colon === -1 ? algorithm : trimmed.slice(0, colon).toLowerCase()
  const hex = (colon === -1 ? trimmed : trimmed.slice(colon + 1)).toLowerCase()
  if (!/^[0-9a-f]*$/.test(hex)) return fail("it is not hexadecimal")
  if (named !== undefined) {
    if (!Schema.is(Algorithm)(named)) return fail(`unknown algorithm "${named}" (sha256, sha1, md5 or sha512)`)
    if (hex.length !== hexLength[named]) {
      return fail(`a ${named} digest has ${hexLength[named]} hex digits, this has ${hex.length}`)
    }
    return Effect.succeed({ algorithm: named, hex })
  }
  const byLength = Algorithm.literals.find((candidate) => hexLength[candidate] === hex.length)
  return byLength === undefined
    ? fail(`${hex.length} hex digits match no supported digest (64 for sha256)`)
    : Effect.succeed({ algorithm: byLength, hex })
}

/** Running digests over a stream of bytes. */
export interface Digests {
  /** Adds bytes; called in order, chunk by chunk. */
  readonly update: (chunk: Uint8Array) => void
  /** Bytes seen so far. */
  readonly bytes: () => number
  /** The hex digest of every algorithm asked for; ends the computation. */
  readonly digest: () => Readonly<Partial<Record<Algorithm, string>>>
}

/** Makes incremental digests. */
export class Hasher extends Context.Tag("ipfs-downloader/Hasher")<Hasher, {
  /** Empty digests over the given algorithms. */
  readonly make: (algorithms: ReadonlyArray<Algorithm>) => Effect.Effect<Digests>
  /** Digests that have already consumed `prefix`: the bytes of a partial file already on disk. */
  readonly resume: <E, R>(
    algorithms: ReadonlyArray<Algorithm>,
    prefix: Stream.Stream<Uint8Array, E, R>
  ) => Effect.Effect<Digests, E, R>
}>() {}

const makeDigests = (algorithms: ReadonlyArray<Algorithm>): Digests => {
  const hashes = [...new Set(algorithms)].map((algorithm) => [algorithm, Crypto.createHash(algorithm)] as const)
  let seen = 0
  return {
    update: (chunk) => {
      seen += chunk.byteLength
      for (const [, hash] of hashes) hash.update(chunk)
    },
    bytes: () => seen,
    digest: () => Object.fromEntries(hashes.map(([algorithm, hash]) => [algorithm, hash.digest("hex")]))
  }
}

/** Creates the Hasher over Node's crypto (OpenSSL, with the CPU's SHA instructions). */
export const make: Effect.Effect<Context.Tag.Service<Hasher>> = Effect.sync(() => ({
  make: (algorithms) => Effect.sync(() => makeDigests(algorithms)),
  resume: (algorithms, prefix) =>
    Effect.suspend(() => {
      const digests = makeDigests(algorithms)
      return Stream.runForEach(prefix, (chunk) => Effect.sync(() => digests.update(chunk))).pipe(Effect.as(digests))
    })
}))

/** The Hasher over Node's crypto. */
export const layer: Layer.Layer<Hasher> = Layer.effect(Hasher, make)

/** The finished file's digest is not the one expected: the bytes are corrupt. */
export class DigestMismatch extends Schema.TaggedError<DigestMismatch>()("DigestMismatch", {
  algorithm: Algorithm,
  expected: Schema.String,
  actual: Schema.String,
  /** Where the check came from: the caller's hash, or the CID itself. */
  source: Schema.Literal("expected-hash", "cid")
}) {
  override get message() {
    const against = this.source === "cid" ? "the CID" : "the expected hash"
    return `The ${this.algorithm} of the file is ${this.actual}, not ${this.expected} as ${against} requires`
  }
}
