// npm run bench [-- --sizes 256,1024 --runs 3 --resume-size 64 --skip-resume]
//
// Downloads the same CID from a loopback gateway with `ipfs-dl get` (sha256 verified) and with
// the peers found on this machine (curl, wget, wget2, aria2c), alternating runs; then measures
// what a kill -9 at half way costs each tool, and the library's own small costs. Writes a table
// to stdout, bench/results/latest.json and bench/results/chart.svg.
import { Effect, Layer } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { ContentId, DownloadStore, Hasher, LoopbackGateway, Storage } from "../dist/index.js"
import * as NodeContext from "@effect/platform-node/NodeContext"

const root = Path.dirname(Path.dirname(fileURLToPath(import.meta.url)))
const cli = Path.join(root, "dist/cli/ipfs-dl.js")
const MiB = 1024 * 1024

const flag = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`)
  return index === -1 ? fallback : process.argv[index + 1]
}
const sizes = flag("sizes", "256,1024").split(",").map(Number)
const runs = Number(flag("runs", "3"))
const resumeSize = Number(flag("resume-size", "64"))
const skipResume = process.argv.includes("--skip-resume")

const which = (command) => ChildProcess.spawnSync("sh", ["-c", `command -v ${command}`]).status === 0
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
const log = (text) => process.stderr.write(`${text}\n`)

/** Random content and its raw CID. */
const makeContent = (size) => {
  const bytes = Buffer.allocUnsafe(size)
  for (let offset = 0; offset < size; offset += 64 * MiB) {
    Crypto.randomFillSync(bytes, offset, Math.min(64 * MiB, size - offset))
  }
  const sha256 = Crypto.createHash("sha256").update(bytes).digest("hex")
  return { bytes, sha256, cid: ContentId.rawFromSha256(sha256) }
}

/** How each tool downloads, and how it resumes. */
const tools = [
  {
    name: "ipfs-dl",
    partial: (out) => `${out}.part`,
    command: (url, out, home) => ({
      file: process.execPath,
      args: [cli, "get", url.split("/ipfs/")[1], "-o", out, "--gateway", url.split("/ipfs/")[0]],
      env: { IPFS_DL_HOME: home }
    }),
    resume: (url, out, home) => tools[0].command(url, out, home)
  },
  {
    name: "curl",
    partial: (out) => out,
    command: (url, out) => ({ file: "curl", args: ["-sS", "-o", out, url] }),
    resume: (url, out) => ({ file: "curl", args: ["-sS", "-C", "-", "-o", out, url] })
  },
  {
    name: "wget",
    partial: (out) => out,
    command: (url, out) => ({ file: "wget", args: ["-q", "-O", out, url] }),
    resume: (url, out) => ({ file: "wget", args: ["-q", "-c", "-O", out, url] })
  },
  {
    name: "wget2",
    partial: (out) => out,
    command: (url, out) => ({ file: "wget2", args: ["-q", "--no-robots", "-O", out, url] }),
    resume: (url, out) => ({ file: "wget2", args: ["-q", "--no-robots", "-c", "-O", out, url] })
  },
  {
    name: "aria2c",
    partial: (out) => out,
    command: (url, out) => ({
      file: "aria2c",
      // No preallocation, so that the file grows as bytes arrive, as with the other tools.
      args: ["-q", "--allow-overwrite=true", "--file-allocation=none", "-d", Path.dirname(out), "-o", Path.basename(out), url]
    }),
    resume: (url, out) => ({
      file: "aria2c",
      args: ["-q", "-c", "--file-allocation=none", "-d", Path.dirname(out), "-o", Path.basename(out), url]
    })
  }
]
const present = tools.filter((tool) => tool.name === "ipfs-dl" || which(tool.command("", "").file))
const missing = tools.filter((tool) => !present.includes(tool)).map((tool) => tool.name)

/** Runs a command under /usr/bin/time: wall seconds and peak RSS in KiB. */
const timed = ({ file, args, env = {} }) =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn("/usr/bin/time", ["-f", "%e %M", file, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("close", (code) => {
      const last = stderr.trim().split("\n").at(-1).split(" ")
      if (code !== 0) return reject(new Error(`${file} exited ${code}: ${stderr}`))
      resolve({ seconds: Number(last[0]), rssKiB: Number(last[1]) })
    })
  })

const scratch = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ipfs-dl-bench-"))

const throughputBench = async (gateway) => {
  const results = []
  for (const sizeMiB of sizes) {
    log(`\n${sizeMiB} MiB: generating content…`)
    const content = makeContent(sizeMiB * MiB)
    gateway.add(content)
    const url = `${gateway.origin}/ipfs/${content.cid}`
    const samples = Object.fromEntries(present.map((tool) => [tool.name, []]))
    for (let run = 1; run <= runs; run++) {
      for (const tool of present) {
        const dir = scratch()
        const out = Path.join(dir, "out.bin")
        const measured = await timed(tool.command(url, out, Path.join(dir, "home")))
        const size = Fs.statSync(out).size
        if (size !== content.bytes.length) throw new Error(`${tool.name} wrote ${size} bytes`)
        if (run === 1) {
          const sha256 = Crypto.createHash("sha256").update(Fs.readFileSync(out)).digest("hex")
          if (sha256 !== content.sha256) throw new Error(`${tool.name} wrote different bytes`)
        }
        Fs.rmSync(dir, { recursive: true, force: true })
        samples[tool.name].push(measured)
        log(`  run ${run} ${tool.name.padEnd(8)} ${measured.seconds.toFixed(2)} s  ${(measured.rssKiB / 1024).toFixed(0)} MiB RSS`)
      }
    }
    const curlSeconds = samples.curl ? median(samples.curl.map((s) => s.seconds)) : undefined
    for (const tool of present) {
      const seconds = median(samples[tool.name].map((s) => s.seconds))
      results.push({
        tool: tool.name,
        sizeMiB,
        seconds,
        mibPerSecond: sizeMiB / seconds,
        peakRssMiB: Math.max(...samples[tool.name].map((s) => s.rssKiB)) / 1024,
        ratioToCurl: curlSeconds === undefined ? null : seconds / curlSeconds,
        runs: samples[tool.name]
      })
    }
  }
  return results
}

/** Kill -9 at about half way on a slow gateway, then resume: how many bytes came twice. */
const resumeBench = async (gateway) => {
  const content = makeContent(resumeSize * MiB)
  gateway.add(content)
  const url = `${gateway.origin}/ipfs/${content.cid}`
  const results = []
  for (const tool of present) {
    const dir = scratch()
    const out = Path.join(dir, "out.bin")
    const home = Path.join(dir, "home")
    const before = gateway.bytesSent()
    gateway.rate(16 * MiB)
    const { file, args, env = {} } = tool.command(url, out, home)
    const child = ChildProcess.spawn(file, args, { env: { ...process.env, ...env }, stdio: "ignore" })
    const partial = tool.partial(out)
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        const size = Fs.existsSync(partial) ? Fs.statSync(partial).size : 0
        if (size >= content.bytes.length / 2) {
          clearInterval(timer)
          child.kill("SIGKILL")
          resolve()
        }
      }, 5)
    })
    await new Promise((resolve) => child.on("close", resolve))
    const onDisk = Fs.existsSync(partial) ? Fs.statSync(partial).size : 0
    gateway.rate(undefined)
    await timed(tool.resume(url, out, home))
    const sent = gateway.bytesSent() - before
    const sha256 = Crypto.createHash("sha256").update(Fs.readFileSync(out)).digest("hex")
    results.push({
      tool: tool.name,
      sizeMiB: resumeSize,
      onDiskAtKillMiB: onDisk / MiB,
      sentMiB: sent / MiB,
      refetchedMiB: (sent - content.bytes.length) / MiB,
      intact: sha256 === content.sha256
    })
    log(`  ${tool.name.padEnd(8)} killed with ${(onDisk / MiB).toFixed(1)} MiB on disk; gateway sent ${(sent / MiB).toFixed(1)} MiB in all`)
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  return results
}

/** The library's small costs: record creation, resume detection, hashing, `ipfs-dl status`. */
const libraryBench = async () => {
  const dir = scratch()
  const program = Effect.gen(function*() {
    const store = yield* DownloadStore.DownloadStore
    const storage = yield* Storage.Storage
    const hasher = yield* Hasher.Hasher
    const creations = 500
    let start = performance.now()
    let last
    for (let i = 0; i < creations; i++) {
      last = yield* store.create({ cid: `bafkbench${i}`, downloadPath: Path.join(dir, `f${i}`), expectedHash: null })
    }
    const createMs = (performance.now() - start) / creations

    Fs.writeFileSync(`${last.downloadPath}.part`, Buffer.alloc(MiB))
    const detections = 2000
    start = performance.now()
    for (let i = 0; i < detections; i++) {
      yield* storage.size(`${last.downloadPath}.part`)
      yield* store.getDownload(last.id)
    }
    const detectMs = (performance.now() - start) / detections

    const data = Crypto.randomBytes(256 * MiB)
    const digests = yield* hasher.make(["sha256"])
    start = performance.now()
    for (let pass = 0; pass < 4; pass++) {
      for (let offset = 0; offset < data.length; offset += 4 * MiB) digests.update(data.subarray(offset, offset + 4 * MiB))
    }
    digests.digest()
    const hashSeconds = (performance.now() - start) / 1000
    return { createMs, detectMs, hashGiBPerSecond: 1 / hashSeconds, id: last.id }
  })
  const layer = Layer.mergeAll(
    DownloadStore.layerSqlite(Path.join(dir, "ipfs-dl.db")),
    Storage.layer.pipe(Layer.provide(NodeContext.layer)),
    Hasher.layer
  )
  const measured = await Effect.runPromise(program.pipe(Effect.provide(layer)))

  const statusRuns = []
  for (let i = 0; i < 10; i++) {
    statusRuns.push(await timed({ file: process.execPath, args: [cli, "status", measured.id], env: { IPFS_DL_HOME: dir } }))
  }
  Fs.rmSync(dir, { recursive: true, force: true })
  return {
    recordCreationMs: measured.createMs,
    resumeDetectionMs: measured.detectMs,
    hashGiBPerSecond: measured.hashGiBPerSecond,
    statusMs: median(statusRuns.map((r) => r.seconds)) * 1000,
    statusPeakRssMiB: Math.max(...statusRuns.map((r) => r.rssKiB)) / 1024
  }
}

/** Bars of throughput and peak RSS per tool, for the largest size. */
const chart = (throughput) => {
  const size = Math.max(...throughput.map((r) => r.sizeMiB))
  const rows = throughput.filter((r) => r.sizeMiB === size)
  const width = 760
  const rowHeight = 34
  const left = 90
  const half = (width - left - 40) / 2
  const maxSpeed = Math.max(...rows.map((r) => r.mibPerSecond))
  const maxRss = Math.max(...rows.map((r) => r.peakRssMiB))
  const height = 70 + rows.length * rowHeight
  const bars = rows.map((r, i) => {
    const y = 50 + i * rowHeight
    const speed = (r.mibPerSecond / maxSpeed) * (half - 70)
    const rss = (r.peakRssMiB / maxRss) * (half - 70)
    const color = r.tool === "ipfs-dl" ? "#2456d6" : "#8a93a3"
    return `<text x="${left - 8}" y="${y + 17}" text-anchor="end">${r.tool}</text>` +
      `<rect x="${left}" y="${y + 4}" width="${speed.toFixed(1)}" height="20" fill="${color}"/>` +
      `<text x="${left + speed + 6}" y="${y + 18}">${r.mibPerSecond.toFixed(0)} MiB/s</text>` +
      `<rect x="${left + half + 20}" y="${y + 4}" width="${rss.toFixed(1)}" height="20" fill="${color}" opacity="0.6"/>` +
      `<text x="${left + half + 26 + rss}" y="${y + 18}">${r.peakRssMiB.toFixed(0)} MiB</text>`
  }).join("\n")
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13" fill="#1d2330">
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="28" font-weight="bold">Throughput, ${size} MiB over loopback (median of ${runs})</text>
<text x="${left + half + 20}" y="28" font-weight="bold">Peak RSS</text>
${bars}
</svg>
`
}

const main = async () => {
  log(`Tools: ${present.map((t) => t.name).join(", ")}${missing.length ? `; not found, skipped: ${missing.join(", ")}` : ""}`)
  const results = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const gateway = yield* LoopbackGateway.make
    const throughput = yield* Effect.promise(() => throughputBench(gateway))
    const resume = skipResume ? [] : yield* Effect.promise(() => {
      log(`\nResume cost: kill -9 at half of ${resumeSize} MiB on a gateway limited to 16 MiB/s`)
      return resumeBench(gateway)
    })
    return { throughput, resume }
  })))
  log("\nLibrary costs…")
  const library = await libraryBench()

  const machine = { cpus: Os.cpus().length, cpu: Os.cpus()[0]?.model, memoryGiB: Math.round(Os.totalmem() / 2 ** 30), node: process.version }
  const report = { date: new Date().toISOString(), machine, runs, missing, ...results, library }
  const dir = Path.join(root, "bench/results")
  Fs.mkdirSync(dir, { recursive: true })
  Fs.writeFileSync(Path.join(dir, "latest.json"), JSON.stringify(report, null, 2) + "\n")
  Fs.writeFileSync(Path.join(dir, "chart.svg"), chart(results.throughput))

  const lines = ["", "| size | tool | wall (median) | throughput | peak RSS | × curl |", "|---|---|---|---|---|---|"]
  for (const r of results.throughput) {
    lines.push(`| ${r.sizeMiB} MiB | ${r.tool} | ${r.seconds.toFixed(2)} s | ${r.mibPerSecond.toFixed(0)} MiB/s | ${r.peakRssMiB.toFixed(0)} MiB | ${r.ratioToCurl?.toFixed(2) ?? "-"} |`)
  }
  if (results.resume.length > 0) {
    lines.push("", `| resume after kill -9 at half (${resumeSize} MiB) | on disk at kill | gateway sent | fetched twice | file intact |`, "|---|---|---|---|---|")
    for (const r of results.resume) {
      lines.push(`| ${r.tool} | ${r.onDiskAtKillMiB.toFixed(1)} MiB | ${r.sentMiB.toFixed(1)} MiB | ${r.refetchedMiB.toFixed(2)} MiB | ${r.intact ? "yes" : "NO"} |`)
    }
  }
  lines.push(
    "",
    "| library | measured |",
    "|---|---|",
    `| record creation | ${library.recordCreationMs.toFixed(3)} ms |`,
    `| resume detection (stat + read the record) | ${library.resumeDetectionMs.toFixed(3)} ms |`,
    `| sha256 hashing | ${library.hashGiBPerSecond.toFixed(2)} GiB/s |`,
    `| \`ipfs-dl status <id>\`, end to end | ${library.statusMs.toFixed(0)} ms (peak RSS ${library.statusPeakRssMiB.toFixed(0)} MiB) |`
  )
  console.log(lines.join("\n"))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
