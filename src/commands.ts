// Every command, by id. oclif's "explicit" discovery loads this map from the CLI bundle, so starting
// the CLI reads one file instead of globbing and importing a tree of modules (see scripts/bundle.js).
import BadgeInspect from './commands/badge/inspect.js'
import BadgeIssue from './commands/badge/issue.js'
import BadgeKeep from './commands/badge/keep.js'
import BadgeVerify from './commands/badge/verify.js'
import GuardSign from './commands/guard/sign.js'
import GuardVerify from './commands/guard/verify.js'
import CardBuild from './commands/card/build.js'
import CardSign from './commands/card/sign.js'
import CardValidate from './commands/card/validate.js'
import CardVerify from './commands/card/verify.js'
import GatewayStart from './commands/gateway/start.js'
import KeyGen from './commands/key/gen.js'
import KeyShow from './commands/key/show.js'
import TokenMint from './commands/token/mint.js'
import TokenVerify from './commands/token/verify.js'
import TrustAdd from './commands/trust/add.js'
import TrustList from './commands/trust/list.js'
import TrustRemove from './commands/trust/remove.js'

export const COMMANDS = {
  'badge:inspect': BadgeInspect,
  'badge:issue': BadgeIssue,
  'badge:keep': BadgeKeep,
  'badge:verify': BadgeVerify,
  'card:build': CardBuild,
  'card:sign': CardSign,
  'card:validate': CardValidate,
  'card:verify': CardVerify,
  'gateway:start': GatewayStart,
  'guard:sign': GuardSign,
  'guard:verify': GuardVerify,
  'key:gen': KeyGen,
  'key:show': KeyShow,
  'token:mint': TokenMint,
  'token:verify': TokenVerify,
  'trust:add': TrustAdd,
  'trust:list': TrustList,
  'trust:remove': TrustRemove,
}
