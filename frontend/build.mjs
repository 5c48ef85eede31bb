// Bundles src/upload.js into ../static/js/upload.js: one minified IIFE, served
// by Django as a static file, so the portal needs no Node at run time.
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

// `node build.mjs OUTFILE` writes elsewhere (the test suite checks the committed bundle is fresh).
const outfile = process.argv[2] ?? here('../static/js/upload.js')

await build({
  entryPoints: [here('src/upload.js')],
  outfile,
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2022'],
  legalComments: 'eof',
  logLevel: process.argv[2] ? 'warning' : 'info',
})
