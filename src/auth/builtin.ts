import type { Plugin } from '../hooks.js';
import type { ResolvedOptions } from '../options.js';
import { scramSha256, scramUsersFile } from './scram.js';

/** The plugins that options switch on, registered before the user's own plugins. */
export function builtinPlugins(options: ResolvedOptions): Plugin[] {
  const plugins: Plugin[] = [];
  if (options.scramUsersFile !== '') plugins.push(scramSha256(scramUsersFile(options.scramUsersFile)));
  return plugins;
}
