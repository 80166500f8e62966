// What every bench section measures with: throughput on a fixed set of inputs, in interleaved
// rounds after a warm-up, reported as the median, and only over inputs every contender accepted.

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function seconds(fn) {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

/** Runs fn over every input and throws unless every one was accepted: a bench never measures failures. */
export function loop(name, inputs, fn) {
  return async () => {
    let ok = 0
    for (const t of inputs) if (await fn(t)) ok++
    if (ok !== inputs.length) throw new Error(`${name} accepted ${ok} of ${inputs.length} inputs`)
  }
}

/** Median throughput (per second, over n inputs) of each contender, in interleaved rounds after a warm-up. */
export async function race(rounds, n, contenders) {
  for (const c of contenders) await c.run()
  const rates = contenders.map(() => [])
  for (let r = 0; r < rounds; r++)
    for (const [i, c] of contenders.entries()) rates[i].push(n / (await seconds(c.run)))
  return rates.map(median)
}
