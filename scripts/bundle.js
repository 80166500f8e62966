// Bundles the CLI (oclif + every command + the library) into dist/cli.js. Node then parses one file
// at start-up instead of resolving ~200 CommonJS modules, which is most of a cold start's cost.
// Heavy, rarely used dependencies stay outside the bundle and load on first use.
import { build } from 'esbuild'

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // typescript: only oclif's development-mode tsconfig reader wants it; it is never loaded in production.
  external: ['cosmiconfig', '@inquirer/prompts', 'typescript'],
  banner: {
    // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
    js: "import { createRequire as __capiscioCreateRequire } from 'node:module'; const require = __capiscioCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
})
