/**
 * `kubeadm token list -o json` prints one indented JSON object per token, one after another (not
 * an array): `{"kind": "BootstrapToken", "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
 * "token": "abcdef.0123456789abcdef", "description"?, "ttl"?, "expires"?, "usages"?, "groups"?}`.
 * `expires` is RFC 3339 and absent for a token that never expires.
 */

export interface TokenInfo {
  /** The public token ID; the secret half is never kept. */
  id: string;
  expires: Date | undefined;
  usages: string[];
  description: string;
  groups: string[];
}

/** Splits concatenated JSON values (`{..}{..}` or `{..}\n{..}`) at their top-level boundaries. */
export function splitJsonStream(text: string): string[] {
  const values: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' || ch === ']') {
      if (--depth === 0) values.push(text.slice(start, i + 1));
      if (depth < 0) throw new Error('kubeadm token list: unbalanced JSON');
    } else if (depth === 0 && !/\s/.test(ch ?? '')) throw new Error('kubeadm token list: text outside JSON objects');
  }
  if (depth !== 0 || inString) throw new Error('kubeadm token list: truncated JSON');
  return values;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function toTokenInfo(raw: unknown): TokenInfo {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('kubeadm token list: an entry is not an object');
  const o = raw as Record<string, unknown>;
  const id = typeof o.token === 'string' ? o.token.split('.')[0] ?? '' : '';
  if (!/^[a-z0-9]{6}$/.test(id)) throw new Error('kubeadm token list: an entry has no valid token ID');
  const expires = typeof o.expires === 'string' ? new Date(o.expires) : undefined;
  if (expires && Number.isNaN(expires.getTime())) throw new Error(`kubeadm token list: token ${id} has an unreadable expiry`);
  return {
    id,
    expires,
    usages: strings(o.usages),
    description: typeof o.description === 'string' ? o.description : '',
    groups: strings(o.groups),
  };
}

/**
 * Reads the token list; errors never quote the input, since it carries token secrets
 * (JSON.parse's own messages would).
 */
export function parseTokenList(stdout: string): TokenInfo[] {
  return splitJsonStream(stdout).flatMap((chunk) => {
    let value: unknown;
    try {
      value = JSON.parse(chunk);
    } catch {
      throw new Error('kubeadm token list: an entry is not valid JSON');
    }
    // kubeadm prints objects; an array or a List wrapper is read too, in case a version does.
    if (Array.isArray(value)) return value.map(toTokenInfo);
    const items = typeof value === 'object' && value !== null ? (value as { items?: unknown }).items : undefined;
    return Array.isArray(items) ? items.map(toTokenInfo) : [toTokenInfo(value)];
  });
}
