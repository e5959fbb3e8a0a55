#!/usr/bin/env node
/**
 * The `ipfs-dl` executable. Expected failures end with one sentence on stderr
 * and the contract's exit code; Ctrl-C pauses the download and exits 130.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit } from "effect"
import { exitCodes, run } from "./Commands.js"

const program = Effect.suspend(() => run(process.argv)).pipe(
  Effect.as(exitCodes.success),
  Effect.catchAll((error) =>
    error._tag === "CliExit"
      ? Console.error(error.message).pipe(Effect.as(error.code))
      // @effect/cli has already printed what was wrong with the arguments.
      : Effect.succeed(exitCodes.invalid)
  ),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) return onExit(exit.value as number)
    if (Cause.isInterruptedOnly(exit.cause)) return onExit(exitCodes.interrupted)
    process.stderr.write(`ipfs-dl: unexpected error\n${Cause.pretty(exit.cause)}\n`)
    onExit(1)
  }
})
