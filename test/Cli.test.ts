/**
 * The built `ipfs-dl` as a child process against the loopback gateway: the
 * contract that scripts depend on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as TestGateway from "../src/testing/LoopbackGateway.js"
import { eventually, fileSize, tempHome } from "./support/Stack.js"

const MiB = 1024 * 1024
const small = TestGateway.generate(300_000, 31)
const large = TestGateway.generate(4 * MiB, 32)
const bin = NodePath.resolve("dist/cli/ipfs-dl.js")

interface Run {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

/** Starts `ipfs-dl` with `args`; the process is killed with the scope if still running. */
const spawn = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = ChildProcess.spawn(process.execPath, [bin, ...args], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const output = { stdout: "", stderr: "" }
      child.stdout.on("data", (chunk) => output.stdout += chunk)
      child.stderr.on("data", (chunk) => output.stderr += chunk)
      const exited = new Promise<Run>((resolve) =>
        child.on("close", (code, signal) => resolve({ code, signal, ...output }))
      )
      return { child, output, exited }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** Runs `ipfs-dl` with `args` to its end. */
const run = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  spawn(args, env).pipe(Effect.flatMap(({ exited }) => Effect.promise(() => exited)))

const setup = Effect.gen(function*() {
  const server = yield* TestGateway.make
  server.add(small)
  server.add(large)
  const home = yield* tempHome
  const env = { IPFS_DL_HOME: home, IPFS_DL_GATEWAYS: server.origin, IPFS_DL_PROGRESS_INTERVAL_MS: "50" }
  return { server, home, env }
})

const waitForFile = (path: string, atLeast: number) =>
  eventually(Effect.sync(() => (fileSize(path) ?? 0) >= atLeast ? Option.some(true) : Option.none()), `${path} to grow`)

const idFrom = (stderr: string) => stderr.match(/Download ([0-9a-f]+):/)?.[1]

describe("ipfs-dl", () => {
  it.scopedLive("get: exit 0, the file in the downloads folder under its CID, a summary on stdout", () =>
    Effect.gen(function*() {
      const { env, home } = yield* setup
      const result = yield* run(["get", small.cid], env)
      expect(result.code).toBe(0)
      const path = NodePath.join(home, "downloads", small.cid)
      expect(NodeFs.readFileSync(path).equals(small.bytes)).toBe(true)
      expect(result.stdout).toBe(`Saved ${path}\n  293.0 KiB, sha256 ${small.sha256}, verified against the CID\n`)
      // Progress is not a TTY here: one line per change of state, on stderr only.
      expect(result.stderr).toMatch(/^Download [0-9a-f]{16}: /)
      expect(result.stderr).toContain(`Complete: ${path}`)
    }))

  it.scopedLive("get --json: exactly one JSON object on stdout, with the contract's fields", () =>
    Effect.gen(function*() {
      const { env, home, server } = yield* setup
      const output = NodePath.join(home, "out", "file.bin")
      const result = yield* run(["get", small.cid, "-o", output, "--sha256", small.sha256, "--json"], env)
      expect(result.code).toBe(0)
      const json = JSON.parse(result.stdout)
      expect(json).toMatchObject({
        cid: small.cid,
        path: output,
        status: "success",
        bytes: small.bytes.length,
        totalBytes: small.bytes.length,
        sha256: small.sha256,
        attempts: 0,
        gateway: server.origin,
        error: null
      })
      expect(json.id).toMatch(/^[0-9a-f]{16}$/)
      expect(NodeFs.readFileSync(output).equals(small.bytes)).toBe(true)
    }))

  it.scopedLive("--gateway overrides IPFS_DL_GATEWAYS and may repeat", () =>
    Effect.gen(function*() {
      const { env, server } = yield* setup
      const refused = yield* TestGateway.closedPort
      const result = yield* run(
        ["get", small.cid, "--gateway", refused, "--gateway", `${server.origin}/ipfs/`, "--json"],
        { ...env, IPFS_DL_GATEWAYS: "http://127.0.0.1:9" }
      )
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout).gateway).toBe(server.origin)
      expect(result.stderr).toContain(`Cannot reach ${refused}`)
    }))

  it.scopedLive("exit 2 for a malformed CID, a bad hash or an unknown id, with one sentence and nothing recorded", () =>
    Effect.gen(function*() {
      const { env, home } = yield* setup
      const badCid = yield* run(["get", "not-a-cid"], env)
      expect(badCid.code).toBe(2)
      expect(badCid.stderr).toMatch(/^"not-a-cid" is not a valid CID: .*\n$/)
      expect(badCid.stderr).not.toContain("    at ")

      const badHash = yield* run(["get", small.cid, "--sha256", "zz"], env)
      expect(badHash.code).toBe(2)
      expect(badHash.stderr).toBe(`"sha256:zz" is not a valid hash: it is not hexadecimal\n`)

      const unknown = yield* run(["status", "0123456789abcdef", "--json"], env)
      expect(unknown.code).toBe(2)
      expect(JSON.parse(unknown.stdout)).toEqual({
        error: { type: "DownloadNotFound", message: `No download has the id "0123456789abcdef"` }
      })

      const file = NodePath.join(home, "a-file")
      NodeFs.writeFileSync(file, "")
      const badHome = yield* run(["list"], { ...env, IPFS_DL_HOME: NodePath.join(file, "home") })
      expect(badHome.code).toBe(2)
      expect(badHome.stderr).toMatch(/^Cannot use the data directory .* \(IPFS_DL_HOME\): .*\n$/)

      const list = yield* run(["list", "--json"], env)
      expect(list.code).toBe(0)
      expect(JSON.parse(list.stdout)).toEqual([])
    }))

  it.scopedLive("exit 1 when the download cannot complete, saying why and what to run next", () =>
    Effect.gen(function*() {
      const { env } = yield* setup
      const missing = TestGateway.generate(10, 404)
      const result = yield* run(["get", missing.cid], env)
      expect(result.code).toBe(1)
      const id = idFrom(result.stderr)!
      expect(result.stderr).toContain(
        `Download ${id} failed: the content was not found on any gateway. Run \`ipfs-dl resume ${id}\` to try again.\n`
      )
      const status = yield* run(["status", id, "--json"], env)
      expect(JSON.parse(status.stdout)).toMatchObject({ id, status: "failed" })
    }))

  it.scopedLive("kill -9 mid-way, then resume <id> completes with the right sha256", () =>
    Effect.gen(function*() {
      const { env, home, server } = yield* setup
      server.rate(2 * MiB)
      const { child, exited, output } = yield* spawn(["get", large.cid], env)
      const path = NodePath.join(home, "downloads", large.cid)
      yield* waitForFile(`${path}.part`, MiB)
      child.kill("SIGKILL")
      const killed = yield* Effect.promise(() => exited)
      expect(killed.signal).toBe("SIGKILL")
      const id = idFrom(output.stderr)!
      const onDisk = fileSize(`${path}.part`)!

      server.rate(undefined)
      const resumed = yield* run(["resume", id, "--json"], env)
      expect(resumed.code).toBe(0)
      expect(JSON.parse(resumed.stdout)).toMatchObject({ id, status: "success", sha256: large.sha256 })
      expect(server.requests.at(-1)!.range).toBe(`bytes=${onDisk}-`)
    }))

  it.scopedLive("get repeated continues the unfinished download instead of restarting it", () =>
    Effect.gen(function*() {
      const { env, home, server } = yield* setup
      server.rate(2 * MiB)
      const first = yield* spawn(["get", large.cid], env)
      const path = NodePath.join(home, "downloads", large.cid)
      yield* waitForFile(`${path}.part`, MiB)
      first.child.kill("SIGKILL")
      yield* Effect.promise(() => first.exited)
      const onDisk = fileSize(`${path}.part`)!

      server.rate(undefined)
      const again = yield* run(["get", large.cid, "--json"], env)
      expect(again.code).toBe(0)
      expect(JSON.parse(again.stdout).id).toBe(idFrom(first.output.stderr))
      expect(server.requests.at(-1)!.range).toBe(`bytes=${onDisk}-`)
      const sha256 = Crypto.createHash("sha256").update(NodeFs.readFileSync(path)).digest("hex")
      expect(sha256).toBe(large.sha256)

      // Complete and verified: a third get answers at once, without a request.
      const requests = server.requests.length
      const third = yield* run(["get", large.cid, "--json"], env)
      expect(third.code).toBe(0)
      expect(server.requests.length).toBe(requests)
    }))

  it.scopedLive("Ctrl-C pauses the download, keeps the partial file and exits 130", () =>
    Effect.gen(function*() {
      const { env, home, server } = yield* setup
      server.rate(2 * MiB)
      const { child, exited, output } = yield* spawn(["get", large.cid, "--json"], env)
      const path = NodePath.join(home, "downloads", large.cid)
      yield* waitForFile(`${path}.part`, MiB / 2)
      child.kill("SIGINT")
      const result = yield* Effect.promise(() => exited)
      expect(result.code).toBe(130)
      const id = idFrom(output.stderr)!
      expect(result.stderr).toContain(`Paused download ${id}. Run \`ipfs-dl resume ${id}\` to continue.`)
      expect(JSON.parse(result.stdout)).toMatchObject({ id, status: "paused", error: "interrupted" })
      expect(fileSize(`${path}.part`)).toBeGreaterThanOrEqual(MiB / 2)

      const status = yield* run(["status", id], env)
      expect(status.stdout).toContain("status    paused: interrupted")
    }))

  it.scopedLive("list and cancel", () =>
    Effect.gen(function*() {
      const { env } = yield* setup
      yield* run(["get", small.cid], env)
      const missing = TestGateway.generate(10, 405)
      const failed = yield* run(["get", missing.cid], env)
      const failedId = idFrom(failed.stderr)!

      const successes = yield* run(["list", "--status", "success", "--json"], env)
      expect(JSON.parse(successes.stdout).map((d: { cid: string }) => d.cid)).toEqual([small.cid])
      const table = yield* run(["list"], env)
      expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+STATUS\s+PROGRESS\s+CID\s+PATH$/)

      const cancelled = yield* run(["cancel", failedId], env)
      expect(cancelled.code).toBe(2)
      expect(cancelled.stderr).toBe(`Cannot cancel download ${failedId}: it is failed\n`)
    }))
})
