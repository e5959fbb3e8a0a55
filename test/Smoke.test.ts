import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import { build, tempHome } from "./support/Stack.js"
import * as TestGateway from "./support/TestGateway.js"

describe("smoke", () => {
  it.scoped("downloads a raw CID and verifies it against the CID", () =>
    Effect.gen(function*() {
      const gateway = yield* TestGateway.make
      const content = TestGateway.generate(300_000)
      gateway.add(content)
      const home = yield* tempHome
      const { downloader } = yield* build({ home, gateways: [gateway.origin] })
      const record = yield* downloader.download({ cid: content.cid })
      expect(record.status).toBe("success")
      expect(record.hash).toBe(content.sha256)
      expect(NodeFs.readFileSync(record.downloadPath).equals(content.bytes)).toBe(true)
    }))
})
