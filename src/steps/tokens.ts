import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration, ttlProblem } from '../config/duration.js';
import type { LoadOptions } from '../config/load.js';
import { CommandError, errorMessage, OperationError, UsageError } from '../errors.js';
import { remote } from '../remote.js';
import { readStoredToken, storeToken } from '../secrets.js';
import { connect, type ExecResult, type SshSession } from '../ssh/client.js';
import { generateToken, tokenId } from '../token.js';
import { parseTokenList, type TokenInfo } from '../verify/index.js';
import { DEFAULT_SSH_LIMITS, openCluster, requireControlPlane, sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';
import type { Progress } from './progress.js';

/** A fresh token for joining nodes lives this long: long enough to join, short enough not to linger. */
export const JOIN_TOKEN_TTL = '2h';
/** A token that expires sooner than this is replaced before nodes join with it. */
export const TOKEN_MIN_REMAINING_MS = 60 * 60_000;
const DESCRIPTION = 'kubeadm-vagrant';

export interface JoinTokenPolicy {
  /** TTL of a fresh join token. */
  ttl: string;
  /** A token with less time left than this is replaced. */
  minRemainingMs: number;
}

/**
 * Fresh join tokens live 2h and are replaced within their last hour; a config whose tokenTTL is
 * shorter is honoured: fresh tokens get that TTL and are replaced within the last half of it.
 */
export function joinTokenPolicy(configTTL: string): JoinTokenPolicy {
  const ttlMs = parseDuration(configTTL) ?? Infinity;
  const joinMs = parseDuration(JOIN_TOKEN_TTL)!;
  return ttlMs < joinMs ? { ttl: configTTL, minRemainingMs: Math.min(TOKEN_MIN_REMAINING_MS, ttlMs / 2) } : { ttl: JOIN_TOKEN_TTL, minRemainingMs: TOKEN_MIN_REMAINING_MS };
}

/** Opens a session on the control plane, runs fn, closes; a failure to connect says the cluster is not reachable. */
export async function onControlPlane<T>(cluster: Cluster, limits: SshLimits, fn: (s: SshSession) => Promise<T>): Promise<T> {
  let session: SshSession;
  try {
    session = await connect(sshTarget(cluster.plan.controlPlane), sshOptions(cluster, limits));
  } catch (err) {
    throw new OperationError(`the control plane ${cluster.plan.controlPlane.name} (${cluster.plan.controlPlane.ip}) is not reachable: ${errorMessage(err)}`);
  }
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/**
 * Runs a command with sudo on the control plane and returns its stdout; a non-zero exit is a
 * CommandError with the last lines of stderr, unless `tolerate` accepts the result.
 */
export async function sudo(session: SshSession, command: string, label: string, opts: { timeoutMs?: number; tolerate?: (r: ExecResult) => boolean } = {}): Promise<string> {
  const r = await session.exec(command, { sudo: true, label, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  if (r.code !== 0 && !opts.tolerate?.(r)) throw new CommandError(`${label} failed on the control plane (exit ${r.code})`, { command: label, output: r.stderr.trim().split('\n').slice(-5).join('\n') });
  return r.stdout;
}

/**
 * What kubectl and kubeadm print when the API server is too slow or restarting, not when the
 * request is wrong: the same command can succeed when asked again (a slow control plane, e.g.
 * under software emulation, answers a write with its own timeout now and then). kubectl says "The
 * connection to the server HOST:PORT was refused" when nothing listens (an API server restarting),
 * and "connection reset by peer" when the one it talked to went away mid-request.
 */
export const API_UNAVAILABLE =
  /Timeout: request did not complete within requested timeout|TLS handshake timeout|context deadline exceeded|etcdserver: request timed out|connection refused|The connection to the server \S+ was refused|connection reset by peer|apiserver is shutting down|Client\.Timeout exceeded|i\/o timeout/;

/**
 * sudo() asked again, every `pauseMs`, while it fails with API_UNAVAILABLE in its output, for up to
 * `timeoutMs` in all (each try gets what is left of it); any other failure, or the last, is thrown.
 * For idempotent commands only (drain, delete node). `tolerate` learns whether an earlier try was
 * answered as unavailable (and so may have done the work after all).
 */
export async function sudoUntilAnswered(
  session: SshSession,
  command: string,
  label: string,
  opts: { timeoutMs: number; tolerate?: (r: ExecResult, retried: boolean) => boolean; pauseMs?: number; onRetry?: (why: string) => void },
): Promise<string> {
  const deadline = Date.now() + opts.timeoutMs;
  const pauseMs = opts.pauseMs ?? 15_000;
  const tolerate = opts.tolerate;
  for (let retried = false; ; retried = true) {
    try {
      return await sudo(session, command, label, { timeoutMs: Math.max(1_000, deadline - Date.now()), ...(tolerate ? { tolerate: (r: ExecResult) => tolerate(r, retried) } : {}) });
    } catch (err) {
      const output = err instanceof OperationError ? (err.details.output ?? '') : '';
      const why = API_UNAVAILABLE.exec(output);
      if (!why || Date.now() + pauseMs >= deadline) throw err;
      opts.onRetry?.(`${label}: the API server answered "${why[0]}"; asking again`);
      await sleep(pauseMs);
    }
  }
}

/** How long a read or an idempotent write waits for an API server that answers it is unavailable, on hardware; times the plan's slowdown. */
export const API_PATIENCE_MS = 180_000;

/** API_PATIENCE_MS for this cluster's machines (longer under software emulation). */
export function apiPatienceMs(cluster: Cluster): number {
  return API_PATIENCE_MS * cluster.plan.slowdown;
}

/** The bootstrap tokens, asked again while the API server answers it is unavailable (up to `patienceMs`). */
export async function listTokens(session: SshSession, patienceMs: number): Promise<TokenInfo[]> {
  return parseTokenList(await sudoUntilAnswered(session, remote.tokenList(), 'kubeadm token list', { timeoutMs: patienceMs }));
}

/** kubeadm token create's answer when the token's ID is taken. */
const TOKEN_EXISTS = /a token with id "[a-z0-9]{6}" already exists/;

/**
 * Creates a token on the cluster, a fresh random one or a given one (a token fixed in the config),
 * and returns it. The token is drawn here, not by kubeadm, so asking again is safe: a try answered
 * with the API server's timeout may have made the secret all the same, and the next try's "already
 * exists" then means ours (a first try's "already exists" stays an error). kubeadm itself asks for
 * one minute only (timeouts.kubernetesAPICall), too short for a control plane under emulation.
 */
export async function createToken(session: SshSession, ttl: string, opts: { patienceMs: number; value?: string; pauseMs?: number }): Promise<string> {
  const value = opts.value ?? generateToken();
  const out = await sudoUntilAnswered(session, remote.tokenCreate(ttl, DESCRIPTION, value), 'kubeadm token create', {
    timeoutMs: opts.patienceMs,
    tolerate: (r, retried) => retried && TOKEN_EXISTS.test(r.stderr),
    ...(opts.pauseMs !== undefined ? { pauseMs: opts.pauseMs } : {}),
  });
  if (out.trim() !== '' && out.trim() !== value) throw new OperationError('kubeadm token create printed something other than the token it was given');
  return value;
}

/**
 * Deletes a token that exists, asked again while the API server answers it is unavailable; "not
 * found" then means an earlier try whose answer timed out deleted it.
 */
export async function deleteToken(session: SshSession, id: string, patienceMs: number): Promise<void> {
  if (!/^[a-z0-9]{6}$/.test(id)) throw new UsageError(`"${id}" is not a token ID: give the six characters before the dot, as \`token list\` shows them`);
  const known = await listTokens(session, patienceMs);
  if (!known.some((t) => t.id === id)) throw new UsageError(`no token with ID ${id} on cluster; \`kubeadm-vagrant token list\` shows the tokens`);
  await deleteListedToken(session, id, patienceMs);
}

function deleteListedToken(session: SshSession, id: string, patienceMs: number): Promise<string> {
  return sudoUntilAnswered(session, remote.tokenDelete(id), `kubeadm token delete ${id}`, { timeoutMs: patienceMs, tolerate: (r) => /not found/i.test(r.stderr) });
}

/** Whether a token (by its ID) exists on the cluster and stays valid for at least `minRemainingMs`. */
export function tokenStillGood(tokens: readonly TokenInfo[], token: string, now: Date, minRemainingMs = TOKEN_MIN_REMAINING_MS): boolean {
  const t = tokens.find((x) => x.id === tokenId(token));
  if (!t) return false;
  return t.expires === undefined || t.expires.getTime() - now.getTime() >= minRemainingMs;
}

/**
 * Makes sure the token the join configs carry is valid on the cluster for a while yet (see
 * joinTokenPolicy); otherwise creates a fresh one with a short TTL and stores it (0600). A token
 * fixed in the config (KUBETOKEN, kubernetes.token) is recreated with the same value instead,
 * since the config wins. Returns the token to join with.
 */
export async function ensureJoinToken(cluster: Cluster, limits: SshLimits, now = new Date()): Promise<{ token: string; fresh: boolean; ttl: string }> {
  const configured = cluster.loaded.config.kubernetes.token;
  const policy = joinTokenPolicy(cluster.loaded.config.kubernetes.tokenTTL);
  return onControlPlane(cluster, limits, async (session) => {
    const patience = apiPatienceMs(cluster);
    const tokens = await listTokens(session, patience);
    const current = configured || readStoredToken(cluster.dir) || '';
    if (current && tokenStillGood(tokens, current, now, policy.minRemainingMs)) return { token: current, fresh: false, ttl: policy.ttl };
    if (configured) {
      if (tokens.some((t) => t.id === tokenId(configured))) await deleteListedToken(session, tokenId(configured), patience);
      return { token: await createToken(session, policy.ttl, { patienceMs: patience, value: configured }), fresh: true, ttl: policy.ttl };
    }
    const token = await createToken(session, policy.ttl, { patienceMs: patience });
    storeToken(cluster.dir, token);
    return { token, fresh: true, ttl: policy.ttl };
  });
}

/** ensureJoinToken with a progress line; true when a fresh token was made (the join configs must be rendered again). */
export async function checkJoinToken(cluster: Cluster, limits: SshLimits, progress: Progress): Promise<boolean> {
  const p = progress.phase('join token: check on the control plane');
  try {
    const { fresh, ttl } = await ensureJoinToken(cluster, limits);
    p.done(true, fresh ? `created a fresh token (TTL ${ttl})` : 'the current token stays valid long enough to join');
    return fresh;
  } catch (err) {
    p.done(false, errorMessage(err));
    throw err;
  }
}

/** `token create`: a bootstrap token on the live cluster; returns the token and the cluster's join endpoint and CA pin. */
export async function tokenCreate(opts: { load: LoadOptions; ttl: string; limits?: SshLimits }): Promise<{ token: string; joinCommand: string }> {
  const problem = ttlProblem(opts.ttl);
  if (problem) throw new UsageError(`--ttl ${opts.ttl}: ${problem}`);
  const cluster = openCluster(opts.load);
  requireControlPlane(cluster, 'token create');
  const token = await onControlPlane(cluster, opts.limits ?? DEFAULT_SSH_LIMITS, (s) => createToken(s, opts.ttl, { patienceMs: apiPatienceMs(cluster) }));
  const joinCommand = `kubeadm join ${cluster.plan.network.masterIP}:6443 --token ${token} --discovery-token-ca-cert-hash ${cluster.plan.secrets.caCertHash}`;
  return { token, joinCommand };
}

/** `token list`: the bootstrap tokens on the live cluster (IDs only). */
export async function tokenList(opts: { load: LoadOptions; limits?: SshLimits }): Promise<TokenInfo[]> {
  const cluster = openCluster(opts.load);
  requireControlPlane(cluster, 'token list');
  return onControlPlane(cluster, opts.limits ?? DEFAULT_SSH_LIMITS, (s) => listTokens(s, apiPatienceMs(cluster)));
}

/** `token delete ID`. */
export async function tokenDelete(opts: { load: LoadOptions; id: string; limits?: SshLimits }): Promise<void> {
  const cluster = openCluster(opts.load);
  requireControlPlane(cluster, 'token delete');
  await onControlPlane(cluster, opts.limits ?? DEFAULT_SSH_LIMITS, (s) => deleteToken(s, opts.id, apiPatienceMs(cluster)));
}
