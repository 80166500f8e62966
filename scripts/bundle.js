// Bundles the CLI (oclif + every command + the library) into dist/cli/. Node then parses a few files
// at start-up instead of resolving ~200 CommonJS modules, which is most of a cold start's cost.
// Code loaded with import() (the gateway, and with it undici, prom-client and ioredis) is split
// into chunks of its own, so commands that do not use it never parse it. ajv and sodium-native stay
// in node_modules: the library require()s them on first use (the first 0.3 card check, the first
// Ed25519 verify), so the other commands never load them.
import { build } from 'esbuild'

await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // typescript: only oclif's development-mode tsconfig reader wants it; it is never loaded in production.
  external: ['cosmiconfig', '@inquirer/prompts', 'typescript', 'ioredis', 'sodium-native', 'ajv'],
  banner: {
    // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
    js: "import { createRequire as __capiscioCreateRequire } from 'node:module'; const require = __capiscioCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
})
