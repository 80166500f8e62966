// The CLI entry that scripts/bundle.js turns into dist/cli.js: oclif and the commands in one file.
export { execute } from '@oclif/core'
export { COMMANDS } from './commands.js'
export { default as CapiscioHelp } from './help.js'
