/** Builds the package once before the suite: child-process tests run the built `ipfs-dl`, as users do. */
import { execSync } from "node:child_process"

export default function setup() {
  execSync("npm run build --silent", { stdio: "inherit" })
}
