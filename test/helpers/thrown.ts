/** What a call throws synchronously (undefined if it returns): for verifiers that refuse at once. */
export function thrownBy(call: () => unknown): unknown {
  try {
    call()
  } catch (err) {
    return err
  }
  return undefined
}
