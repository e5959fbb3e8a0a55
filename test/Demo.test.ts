/** The offline demo keeps working: it runs the real `ipfs-dl get` through every fault it stages. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"

describe("npm run demo", () => {
  it.live("recovers from a refused gateway, a dropped connection and a stall, and verifies the file", () =>
    Effect.async<{ code: number | null; stderr: string; stdout: string }>((resume) => {
      const child = ChildProcess.execFile(process.execPath, ["demo/demo.mjs"], (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : child.exitCode, stdout, stderr }))
      )
    }).pipe(Effect.map((result) => {
      expect(result.code).toBe(0)
      expect(result.stderr).toContain("ECONNREFUSED; trying the next gateway")
      expect(result.stderr).toContain("resuming from the bytes on disk")
      expect(result.stderr).toContain("sent no data for 2000 ms; retried after 1.0 s")
      expect(result.stdout).toContain("verified against the CID")
      // Nothing fetched twice: the gateway sent the file's size, in three requests.
      expect(result.stderr).toMatch(/sent 48\.0 MiB for a 48 MiB file in 3 requests/)
    })), 60_000)
})
