/**
 * The page in a real browser: headless Chromium from Debian, driven by
 * playwright-core. A machine without /usr/bin/chromium fails this test.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { chromium } from "playwright-core"
import * as TestGateway from "../src/testing/LoopbackGateway.js"
import { serve } from "./support/Serve.js"

const content = TestGateway.generate(3 * 1024 * 1024, 71)
const larger = TestGateway.generate(12 * 1024 * 1024, 72)

/** The screenshot the README shows; refreshed when UPDATE_SCREENSHOTS=1. */
const screenshotPath = process.env.UPDATE_SCREENSHOTS === "1"
  ? NodePath.resolve("docs/page.png")
  : NodePath.join(process.env.TMPDIR ?? "/tmp", `ipfs-dl-page-${process.pid}.png`)

const launch = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
  ),
  (browser) => Effect.promise(() => browser.close())
)

describe("the page", () => {
  it.scopedLive("starts a download from the form and shows its bar reaching 100%", () =>
    Effect.gen(function*() {
      expect(NodeFs.existsSync("/usr/bin/chromium"), "Debian's chromium must be installed at /usr/bin/chromium").toBe(true)
      const { gateway, origin } = yield* serve()
      gateway.add(content)
      gateway.rate(2 * 1024 * 1024)
      const browser = yield* launch
      const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1100, height: 420 } }))

      yield* Effect.promise(async () => {
        await page.goto(`${origin}/`)
        await page.fill("input[name=cid]", "not-a-cid")
        await page.click("button[type=submit]")
        await page.locator("#message.error", { hasText: "is not a valid CID" }).waitFor({ timeout: 10_000 })

        await page.fill("input[name=cid]", content.cid)
        await page.fill("input[name=filename]", "model.bin")
        await page.click("button[type=submit]")
        const row = page.locator("tbody tr", { hasText: "model.bin" })
        // Part-way: the bar moves while bytes arrive.
        await row.locator("[role=progressbar]:not([aria-valuenow='0']):not([aria-valuenow='100'])").waitFor({ timeout: 10_000 })
        await row.locator("[role=progressbar][aria-valuenow='100']").waitFor({ timeout: 20_000 })
        await row.locator(".status", { hasText: "success" }).waitFor({ timeout: 10_000 })
      })
      const details = yield* Effect.promise(() => page.locator("tbody tr", { hasText: "model.bin" }).locator(".size").textContent())
      expect(details).toContain("3.0 MiB of 3.0 MiB (100%)")

      // A second, larger download, caught part-way for the screenshot: a live bar with speed and ETA.
      gateway.add(larger)
      yield* Effect.promise(async () => {
        await page.fill("input[name=cid]", larger.cid)
        await page.fill("input[name=filename]", "dataset.tar")
        await page.click("button[type=submit]")
        const row = page.locator("tbody tr", { hasText: "dataset.tar" })
        await row.locator(".size", { hasText: "ETA" }).waitFor({ timeout: 10_000 })
        // Evaluated in the page, hence a string: the test is compiled without the DOM's types.
        await page.waitForFunction(
          `Number([...document.querySelectorAll("tbody tr")].find((r) => r.textContent.includes("dataset.tar"))
            ?.querySelector("[role=progressbar]")?.getAttribute("aria-valuenow")) >= 40`,
          undefined,
          { timeout: 20_000 }
        )
      })
      yield* Effect.promise(() => page.screenshot({ path: screenshotPath }))
      expect(NodeFs.readFileSync(screenshotPath).subarray(1, 4).toString()).toBe("PNG")
    }), 60_000)
})
