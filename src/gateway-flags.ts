import { Flags } from '@oclif/core'

import { GATEWAY_SETTINGS, gatewayFlagName, type SettingDef } from './lib/gateway/settings.js'

/** `--max-body 10mb [default: 10mb]`: the default shown in the help, since a flag's own default would hide the env and config values. */
const describe = (d: SettingDef) => (d.default === undefined ? d.help : `${d.help} [default: ${d.default}]`)

/** One oclif flag for a setting of the table. No flag has a default of its own: the resolver applies it after the environment and the config file. */
function flagFor(d: SettingDef) {
  const common = { description: describe(d), ...(d.helpValue && { helpValue: d.helpValue }) }
  switch (d.kind) {
    case 'integer':
      return Flags.integer({ ...common, min: d.min, max: d.max })
    case 'boolean':
      // --no-… turns off what the environment or the config file turned on.
      return Flags.boolean({ ...common, allowNo: true })
    case 'list':
      return Flags.string({ ...common, multiple: true })
    case 'enum':
      return Flags.string({ ...common, options: [...d.values!] })
    default:
      return Flags.string(common)
  }
}

/** The `gateway start` flags, one per setting of the table, by the setting's flag name. */
export const gatewayFlags = Object.fromEntries(
  Object.entries(GATEWAY_SETTINGS).map(([key, d]) => [gatewayFlagName(key as never), flagFor(d)]),
) as Record<string, ReturnType<typeof flagFor>>
