import { parseVagrantVersion } from './parsers.js';
import { execProbe, okOutput, type ProbeResults } from './types.js';

/** `vagrant --version`, which the Vagrant check and the providers' version checks all read. */
export const VAGRANT_VERSION = execProbe('vagrant', ['--version']);

/** The Vagrant version, when `vagrant --version` answered. */
export function vagrantVersion(seen: ProbeResults): string | undefined {
  const out = okOutput(seen, VAGRANT_VERSION);
  return out === undefined ? undefined : parseVagrantVersion(out);
}
