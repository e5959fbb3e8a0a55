/** Builds the package once before the suite: child-process tests run the built code, as users do. */
import { execFileSync } from "node:child_process"

export default function setup() {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
}
