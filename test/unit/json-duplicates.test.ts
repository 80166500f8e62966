import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { firstDuplicateName } from '../../src/lib/json-duplicates.js'

describe('firstDuplicateName', () => {
  it('finds none in what JSON.stringify writes, whatever the values (strings with quotes, escapes, brackets)', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        (value) => firstDuplicateName(JSON.stringify(value, null, 1)) === undefined,
      ),
    )
  })

  it('finds a name given twice in one object at any depth, decoded, and not across objects or in strings', () => {
    expect(firstDuplicateName('{"name":"a","name":"b"}')).toBe('name')
    expect(firstDuplicateName('{"a":{"x":1,"y":[{"z":1},{"z":2}],"x":2}}')).toBe('x')
    expect(firstDuplicateName('{"a":1,"\\u0061":2}')).toBe('a')
    expect(firstDuplicateName('{"a":{"b":1},"b":2}')).toBeUndefined()
    expect(firstDuplicateName('[{"a":1},{"a":1}]')).toBeUndefined()
    expect(firstDuplicateName('{"a":"\\"a\\":1,","b":["a","a"]}')).toBeUndefined()
    expect(firstDuplicateName('{"__proto__":1,"__proto__":2}')).toBe('__proto__')
  })

  it('finds the duplicate that is put into any generated object', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }),
        fc.jsonValue(),
        (object, extra) => {
          const text = JSON.stringify(object)
          const name = Object.keys(object)[0]!
          const twice = `${text.slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(extra)}}`
          return firstDuplicateName(twice) === name
        },
      ),
    )
  })
})
