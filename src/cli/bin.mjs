#!/usr/bin/env node
// The `hookinbox` command. The sources are TypeScript, so tsx is registered before they are imported.
import { register } from 'tsx/esm/api'

register()

const { main, USAGE } = await import('./send.ts')
const [command, ...rest] = process.argv.slice(2)

if (command === 'send') {
  process.exitCode = await main(rest)
} else if (command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write(`${USAGE}\n`)
} else {
  process.stderr.write(
    `${command === undefined ? 'a command is needed' : `unknown command "${command}"`}: the command is send\n\n${USAGE}\n`,
  )
  process.exitCode = 2
}
