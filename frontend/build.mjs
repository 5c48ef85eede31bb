// Bundles src/upload.js into ../static/js/upload.js: one minified IIFE, served
// by Django as a static file, so the portal needs no Node at run time.
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

await build({
  entryPoints: [here('src/upload.js')],
  outfile: here('../static/js/upload.js'),
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2022'],
  legalComments: 'eof',
  logLevel: 'info',
})
