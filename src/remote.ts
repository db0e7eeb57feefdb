import { shellQuote } from './shell.js';
import { ADMIN_KUBECTL, GUEST } from './layout.js';

const ADMIN = GUEST.adminKubeconfig;

/**
 * The commands sent to the control plane over SSH, as pure functions so tests can snapshot them.
 * All run with sudo; kubeadm and kubectl use the admin kubeconfig kubeadm wrote.
 */
const quote = shellQuote;

export const remote = {
  tokenList: (): string => `kubeadm token list --kubeconfig=${ADMIN} -o json`,
  /** Always with the token to make (drawn on the host), so that asking again is safe. */
  tokenCreate: (ttl: string, description: string, value: string): string =>
    `kubeadm token create ${quote(value)} --kubeconfig=${ADMIN} --ttl ${quote(ttl)} --description ${quote(description)}`,
  tokenDelete: (id: string): string => `kubeadm token delete --kubeconfig=${ADMIN} ${quote(id)}`,
  catAdminConf: (): string => `cat ${ADMIN}`,
  /**
   * `node remove` forces (the node is going, and with it any pod no controller makes again); an
   * upgrade does not: a pod without a controller stops the drain, with kubectl naming it.
   */
  drain: (hostname: string, timeoutS: number, { force = true }: { force?: boolean } = {}): string =>
    `${ADMIN_KUBECTL} drain ${quote(hostname)} --ignore-daemonsets --delete-emptydir-data${force ? ' --force' : ''} --timeout=${timeoutS}s`,
  uncordon: (hostname: string): string => `${ADMIN_KUBECTL} uncordon ${quote(hostname)}`,
  deleteNode: (hostname: string): string => `${ADMIN_KUBECTL} delete node ${quote(hostname)} --ignore-not-found --timeout=60s`,
};
