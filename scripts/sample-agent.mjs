// A stand-in A2A agent for the demo: answers every request with what it was told, including the
// identity the gateway verified (X-Capiscio-Subject). It listens on loopback only.
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 3000)
createServer((req, res) => {
  let body = ''
  req.on('data', (d) => (body += d))
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        agent: 'sample',
        task: req.url,
        caller: req.headers['x-capiscio-subject'] ?? null,
        level: req.headers['x-capiscio-trust-level'] ?? null,
        received: body,
      }) + '\n',
    )
  })
}).listen(port, '127.0.0.1', () => process.stderr.write(`sample agent on http://127.0.0.1:${port}\n`))
