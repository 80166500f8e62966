import { Help, type Interfaces } from '@oclif/core'

/**
 * oclif lists a topic only once it has a command. The six topics are the toolkit's map, so the root
 * help shows every declared topic, including those whose commands come in later releases.
 */
export default class CapiscioHelp extends Help {
  protected override get sortedTopics(): Interfaces.Topic[] {
    const shown = super.sortedTopics
    const names = new Set(shown.map((t) => t.name))
    const declared = Object.keys(this.config.pjson.oclif.topics ?? {})
    const extra = this.config.topics.filter((t) => declared.includes(t.name) && !names.has(t.name))
    return [...shown, ...extra].sort((a, b) => a.name.localeCompare(b.name))
  }
}
