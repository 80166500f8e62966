import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { InFlight, type Linked } from '../../../src/lib/gateway/in-flight.js'

interface Item extends Linked<Item> {
  n: number
}

const item = (n: number): Item => ({ n })
const ns = (list: InFlight<Item>) => list.items().map((i) => i.n)

describe('InFlight', () => {
  it('lists what was added, newest first, and counts it', () => {
    const list = new InFlight<Item>()
    expect(list.size).toBe(0)
    expect(ns(list)).toEqual([])
    for (const n of [1, 2, 3]) list.add(item(n))
    expect(list.size).toBe(3)
    expect(ns(list)).toEqual([3, 2, 1])
  })

  it('removes the head, the middle and the tail, and drops the removed item’s links', () => {
    const list = new InFlight<Item>()
    const [a, b, c, d] = [1, 2, 3, 4].map(item) as [Item, Item, Item, Item]
    for (const i of [a, b, c, d]) list.add(i)
    list.delete(c) // middle
    expect(ns(list)).toEqual([4, 2, 1])
    list.delete(d) // head
    expect(ns(list)).toEqual([2, 1])
    list.delete(a) // tail
    expect(ns(list)).toEqual([2])
    expect(list.size).toBe(1)
    for (const i of [a, c, d]) expect([i.prev, i.next]).toEqual([undefined, undefined])
  })

  it('leaves the list alone when an item is removed twice or was never added', () => {
    const list = new InFlight<Item>()
    const [a, b] = [item(1), item(2)]
    list.add(a)
    list.add(b)
    list.delete(a)
    list.delete(a)
    list.delete(item(9))
    expect(ns(list)).toEqual([2])
    expect(list.size).toBe(1)
  })

  it('gives a copy that may be gone through while items are removed', () => {
    const list = new InFlight<Item>()
    for (const n of [1, 2, 3]) list.add(item(n))
    for (const i of list.items()) list.delete(i)
    expect(list.size).toBe(0)
    expect(ns(list)).toEqual([])
  })

  it('agrees with a Set under any sequence of adds and removes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(15)), { maxLength: 200 }), (ops) => {
        const items = Array.from({ length: 16 }, (_, n) => item(n))
        const list = new InFlight<Item>()
        const model = new Set<Item>()
        for (const [add, n] of ops) {
          const i = items[n]!
          if (add && !model.has(i)) {
            list.add(i)
            model.add(i)
          } else if (!add) {
            list.delete(i)
            model.delete(i)
          }
        }
        expect(list.size).toBe(model.size)
        expect(new Set(list.items())).toEqual(model)
      }),
    )
  })
})
