import { cidrRange, contains } from '../net.js';
import type { ProviderDef } from './types.js';

/** VirtualBox 6.1.28+ on Linux allows host-only addresses only here unless /etc/vbox/networks.conf says otherwise. */
export const VIRTUALBOX_HOSTONLY_RANGE = '192.168.56.0/21';
/** The file that widens the host-only ranges, and the first VirtualBox that reads it. */
export const NETWORKS_CONF = '/etc/vbox/networks.conf';

export const virtualbox: ProviderDef<'virtualbox', undefined> = {
  id: 'virtualbox',
  title: 'VirtualBox',
  natNetwork: { cidr: '10.0.2.0/24', what: "VirtualBox's NAT network" },
  runsInParallel: false,
  options: undefined,
  check: ({ masterIP, nodeNetwork }) => {
    const warnings = [];
    if (masterIP && nodeNetwork && !contains(cidrRange(VIRTUALBOX_HOSTONLY_RANGE)!, masterIP)) {
      warnings.push({
        path: 'network.masterIP',
        message: `${masterIP} is outside ${VIRTUALBOX_HOSTONLY_RANGE}, the only host-only range VirtualBox 6.1.28+ allows on Linux by default`,
        hint: `either use an address in ${VIRTUALBOX_HOSTONLY_RANGE} (e.g. 192.168.56.10), or allow the range in ${NETWORKS_CONF} with a line such as "* ${nodeNetwork}"`,
      });
    }
    return { errors: [], warnings };
  },
};
