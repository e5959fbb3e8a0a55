// The offline demo: a local gateway on 127.0.0.1 that misbehaves, and the real `ipfs-dl get` against it.
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as LoopbackGateway from "../dist/testing/LoopbackGateway.js"

const root = Path.dirname(Path.dirname(fileURLToPath(import.meta.url)))
const MiB = 1024 * 1024
const size = 48 * MiB

const demo = Effect.gen(function*() {
  const home = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ipfs-dl-demo-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(home, { recursive: true, force: true })))

  process.stderr.write(`Generating ${size / MiB} MiB of content… `)
  const content = LoopbackGateway.generate(size, 2024)
  process.stderr.write(`its CID is ${content.cid}\n`)

  const refusing = yield* LoopbackGateway.closedPort
  const flaky = yield* LoopbackGateway.make
  flaky.add(content)
  flaky.rate(12 * MiB)
  flaky.script(
    { kind: "reset", afterBytes: Math.round(size * 0.6) }, // the connection drops at 60%
    { kind: "stall", afterBytes: 4 * MiB } // then the gateway goes silent
  )
  process.stderr.write(
    `Gateways: ${refusing} refuses connections; ${flaky.origin} drops the connection at 60%, then stalls.\n\n`
  )

  const output = Path.join(home, "demo.bin")
  const code = yield* Effect.async((resume) => {
    const child = ChildProcess.spawn(process.execPath, [Path.join(root, "dist/cli/ipfs-dl.js"), "get", content.cid, "-o", output], {
      stdio: "inherit",
      env: {
        ...process.env,
        IPFS_DL_HOME: home,
        IPFS_DL_GATEWAYS: `${refusing},${flaky.origin}`,
        IPFS_DL_TIMEOUT_MS: "2000"
      }
    })
    child.on("exit", (exitCode) => resume(Effect.succeed(exitCode ?? 1)))
  })
  const sent = flaky.bytesSent()
  process.stderr.write(
    `\nipfs-dl exited ${code}. The gateway sent ${(sent / MiB).toFixed(1)} MiB for a ${size / MiB} MiB file ` +
      `in ${flaky.requests.length} requests: ${flaky.requests.map((r) => r.range ?? "whole").join(", ")}.\n` +
      `Expected sha256 ${content.sha256}.\n`
  )
  return code
})

Effect.runPromise(Effect.scoped(demo)).then((code) => process.exit(code))
