/**
 * End-to-end environment for tests that start real Vagrant machines (vagrant-libvirt, qemu TCG).
 *
 * Isolation: every environment gets
 *  - its own network namespace (`ip netns add kv-e2e-...`), so libvirt's bridges, dnsmasq, the
 *    192.168.121.0/24 management network and the private networks never exist on the host;
 *  - its own mount namespace, held by one long-lived "anchor" process started with
 *    `ip netns exec NS unshare --mount --propagation private`, in which /run/libvirt,
 *    /etc/libvirt, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt are bind mounts of
 *    directories in the environment's temp dir. Every later command (virtlogd, libvirtd, virsh,
 *    vagrant) enters both namespaces of the anchor with `nsenter --target <anchor> --mount --net`,
 *    so they all see the same private libvirt socket, configuration and state, while a libvirtd
 *    on the host (or in another test's environment) sees none of it.
 *  - its own VAGRANT_HOME in the temp dir (boxes added by a test never reach ~/.vagrant.d).
 * Inside, the default URI qemu:///system reaches the environment's own libvirtd; it is also set
 * as LIBVIRT_DEFAULT_URI, which vagrant-libvirt honours when the Vagrantfile sets no uri.
 *
 * Every wait is bounded; stop() is idempotent, safe after a partial start, and ends only
 * processes that live in the environment's own network namespace, by PID.
 *
 * No vitest import: usable from scripts as well as from tests.
 */
import { execa, type ResultPromise } from 'execa';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, type LongLived, type ProcessHost, safeKill, type SpawnOptions, spawnLongLived, terminate } from '../helpers/processes.js';

export interface E2eEnvironmentOptions {
  /** Parent of the environment's temp dir. Default: $KUBEADM_VAGRANT_E2E_DIR or the OS temp dir. */
  baseDir?: string;
  /** Bound for starting the namespaces and both daemons. Default 90 s. */
  startTimeoutMs?: number;
  /** Keep the temp dir (logs, Vagrant data) after stop(). Default: $KUBEADM_VAGRANT_E2E_KEEP === '1'. */
  keepWorkDir?: boolean;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

export interface ExecOptions {
  /** Working directory (a host path; the namespaces share the host's file system). Default: workDir. */
  cwd?: string;
  /** Added to the environment's own variables (VAGRANT_HOME, LIBVIRT_DEFAULT_URI, ...). */
  env?: Record<string, string>;
  /** Bound for the command; it is killed (TERM, then KILL after 10 s) when it runs longer. Default 10 min. */
  timeoutMs?: number;
  /** Written to the command's standard input. */
  input?: string;
  /** Throw when the command fails or times out. Default true. */
  reject?: boolean;
  /** Also append stdout and stderr, as they come, to this file. */
  logFile?: string;
}

export interface ExecResult {
  /** The command line as run inside the namespaces (without the nsenter prefix). */
  command: string;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved. */
  all: string;
  durationMs: number;
  timedOut: boolean;
  failed: boolean;
}

export interface LibvirtVolume {
  pool: string;
  name: string;
}

export interface LibvirtInventory {
  domains: string[];
  networks: string[];
  pools: string[];
  volumes: LibvirtVolume[];
}

export interface StopReport {
  /** What stop() found left over and destroyed. */
  leftovers: LibvirtInventory;
  /** PIDs it had to end (daemons, anchor, and anything else left in the namespace). */
  killedPids: number[];
  /** Problems met on the way (stop() never throws). */
  errors: string[];
  durationMs: number;
}

export class E2eCommandError extends Error {
  constructor(readonly result: ExecResult) {
    super(
      `${result.timedOut ? 'timed out' : `failed (exit ${result.exitCode ?? '?'})`}: ${result.command}\n` +
        tail(result.all, 40),
    );
  }
}

const PREFIX = 'kv-e2e-';
const STATE_FILE = 'state.json';
const DEFAULT_EXEC_TIMEOUT_MS = 10 * 60_000;
const LIBVIRT_PATHS = ['/run/libvirt', '/etc/libvirt', '/var/lib/libvirt', '/var/log/libvirt', '/var/cache/libvirt'] as const;

interface StateFile {
  name: string;
  ownerPid: number;
  netnsInode?: number;
  pids: Record<string, number>;
}

type Phase = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

export class E2eEnvironment implements ProcessHost {
  /** Network namespace name (also the temp dir's prefix). */
  readonly name: string;
  private readonly opts: Required<Omit<E2eEnvironmentOptions, 'log'>> & { log: (line: string) => void };
  private phase: Phase = 'new';
  private dir: string | undefined;
  private netnsCreated = false;
  private netnsInode: number | undefined;
  private anchor: ResultPromise | undefined;
  private readonly pids: Record<string, number> = {};
  private readonly daemons: ResultPromise[] = [];
  /** What spawn() started and has not been stopped yet, by its key in pids. */
  private readonly spawned = new Map<string, LongLived>();
  private spawnCount = 0;
  private priorityTimer: NodeJS.Timeout | undefined;
  /** The qemu processes prioritize() has given its priority so far (not counting a set back to 0). */
  readonly prioritized = new Set<number>();
  private static readonly live = new Set<E2eEnvironment>();
  private static exitHookInstalled = false;

  constructor(options: E2eEnvironmentOptions = {}) {
    this.name = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
    this.opts = {
      baseDir: options.baseDir ?? process.env.KUBEADM_VAGRANT_E2E_DIR ?? tmpdir(),
      startTimeoutMs: options.startTimeoutMs ?? 90_000,
      keepWorkDir: options.keepWorkDir ?? process.env.KUBEADM_VAGRANT_E2E_KEEP === '1',
      log: options.log ?? (() => {}),
    };
  }

  /** The environment's temp dir (exists between start() and stop()). */
  get workDir(): string {
    if (!this.dir) throw new Error('E2eEnvironment: not started');
    return this.dir;
  }
  get vagrantHome(): string {
    return join(this.workDir, 'vagrant-home');
  }
  /** libvirtd's and virtlogd's logs, and the guests' serial/qemu logs under qemu/. */
  get libvirtLogDir(): string {
    return join(this.workDir, 'var-log-libvirt');
  }
  /** Logs of the daemons' own stdout/stderr and of exec() calls given a logFile. */
  get logDir(): string {
    return join(this.workDir, 'logs');
  }
  /** Variables every exec() gets (on top of this process's environment). */
  get env(): Record<string, string> {
    return {
      VAGRANT_HOME: this.vagrantHome,
      VAGRANT_DEFAULT_PROVIDER: 'libvirt',
      VAGRANT_CHECKPOINT_DISABLE: '1',
      VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1',
      LIBVIRT_DEFAULT_URI: 'qemu:///system',
    };
  }

  /** Creates the namespaces and temp dir, starts virtlogd and libvirtd. Cleans up itself on failure. */
  async start(): Promise<void> {
    if (this.phase !== 'new') throw new Error(`E2eEnvironment: start() called when ${this.phase}`);
    this.phase = 'starting';
    E2eEnvironment.live.add(this);
    E2eEnvironment.installExitHook();
    const deadline = Date.now() + this.opts.startTimeoutMs;
    try {
      await E2eEnvironment.reapStale(this.opts.baseDir, this.opts.log);
      await mkdir(this.opts.baseDir, { recursive: true });
      this.dir = await mkdtemp(join(this.opts.baseDir, `${this.name}.`));
      await this.prepareDirs();
      this.saveState();

      // The mount point for the private /run/libvirt; libvirt-daemon-system normally creates it.
      if (!existsSync('/run/libvirt')) mkdirSync('/run/libvirt', { mode: 0o755, recursive: true });

      await run('ip', ['netns', 'add', this.name], 10_000);
      this.netnsCreated = true;
      this.netnsInode = statSync(`/run/netns/${this.name}`).ino;
      this.saveState();
      await run('ip', ['-n', this.name, 'link', 'set', 'lo', 'up'], 10_000);

      await this.startAnchor(deadline);
      this.opts.log(`[e2e ${this.name}] namespaces ready (anchor pid ${this.pids.anchor})`);

      this.startDaemon('virtlogd', ['virtlogd', '--pid-file', '/run/libvirt/virtlogd.pid']);
      await waitFor(
        () => existsSync(join(this.workDir, 'run-libvirt', 'virtlogd-sock')),
        deadline,
        'virtlogd socket',
        () => this.daemonExited('virtlogd'),
      );
      this.startDaemon('libvirtd', ['libvirtd', '--pid-file', '/run/libvirt/libvirtd.pid']);
      await waitFor(
        async () => (await this.exec('virsh', ['version'], { timeoutMs: 10_000, reject: false })).exitCode === 0,
        deadline,
        'libvirtd answering virsh',
        () => this.daemonExited('libvirtd'),
      );
      this.phase = 'started';
      this.opts.log(`[e2e ${this.name}] libvirtd ready (pid ${this.pids.libvirtd}), work dir ${this.workDir}`);
    } catch (err) {
      const report = await this.stop();
      if (report.errors.length > 0) this.opts.log(`[e2e ${this.name}] cleanup after failed start: ${report.errors.join('; ')}`);
      throw err;
    }
  }

  /** Runs a command inside the environment's network and mount namespaces. */
  async exec(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const anchorPid = this.pids.anchor;
    if (anchorPid === undefined || !['starting', 'started', 'stopping'].includes(this.phase)) {
      throw new Error(`E2eEnvironment: exec(${cmd}) when ${this.phase}`);
    }
    const cwd = opts.cwd ?? this.workDir;
    const started = Date.now();
    const child = execa(
      'nsenter',
      ['--target', String(anchorPid), '--mount', '--net', `--wd=${cwd}`, '--', cmd, ...args],
      {
        env: { ...this.env, ...opts.env },
        timeout: opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
        forceKillAfterDelay: 10_000,
        reject: false,
        all: true,
        stripFinalNewline: false,
        ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      },
    );
    if (opts.logFile) {
      const out = createWriteStream(opts.logFile, { flags: 'a' });
      child.all?.pipe(out);
    }
    const r = await child;
    const result: ExecResult = {
      command: [cmd, ...args].map(shellQuote).join(' '),
      exitCode: r.exitCode,
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
      all: String(r.all ?? ''),
      durationMs: Date.now() - started,
      timedOut: r.timedOut === true,
      failed: r.failed === true,
    };
    if (result.failed && opts.reject !== false) throw new E2eCommandError(result);
    return result;
  }

  /**
   * Starts a long-lived process (a mirror, a server) inside the environment's network and mount
   * namespaces: `ready` is its first stdout line (or opts.readyLine on opts.readyStream), bounded in
   * time; its output goes to logs/<key>.out; stop() ends it by its PID (nsenter execs the command in
   * place, so the PID is the command's own), and so does this environment's stop().
   */
  spawn(cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): LongLived {
    const anchorPid = this.pids.anchor;
    if (anchorPid === undefined || this.phase !== 'started') throw new Error(`E2eEnvironment: spawn(${cmd}) when ${this.phase}`);
    const key = `spawn-${++this.spawnCount}-${cmd.split('/').pop()}`;
    const { cwd, ...rest } = opts;
    const p = spawnLongLived(['nsenter', '--target', String(anchorPid), '--mount', '--net', `--wd=${cwd ?? this.workDir}`, '--', cmd, ...args], {
      ...rest,
      env: { ...this.env, ...opts.env },
      logFile: opts.logFile ?? join(this.logDir, `${key}.out`),
    });
    this.pids[key] = p.pid;
    this.spawned.set(key, p);
    this.saveState();
    return {
      ...p,
      stop: async (graceMs?: number) => {
        await p.stop(graceMs);
        this.spawned.delete(key);
        delete this.pids[key];
        this.saveState();
      },
    };
  }

  /** `vagrant ARGS` inside the environment. */
  vagrant(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec('vagrant', args, opts);
  }

  /** `vagrant box add --force --name NAME PATH` into this environment's VAGRANT_HOME. */
  async addBox(path: string, name: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.vagrant(['box', 'add', '--force', '--name', name, path], { timeoutMs: opts.timeoutMs ?? 5 * 60_000 });
  }

  /** A fresh directory under workDir for a Vagrant project. */
  async projectDir(label = 'project'): Promise<string> {
    await mkdir(join(this.workDir, 'projects'), { recursive: true });
    return mkdtemp(join(this.workDir, 'projects', `${label}-`));
  }

  /**
   * Keeps every thread of the qemu process of the domain named `domain` at `nice` (Linux's nice is
   * per thread), looking every 5 s until stop(), so that a machine started later is caught too.
   * On a host with fewer cores than the guests have vCPUs, the machine named gets the CPU first:
   * under emulation, a control plane that waits behind a worker's provisioning stops answering
   * its own TLS handshakes within the API server's 10 s, restarts, and cannot start again.
   * Found 2026-12-05: libvirt starts each qemu in a session of its own, so where the kernel has
   * scheduler autogroups (sched(7); this machine's has) each qemu is an autogroup of its own, every
   * autogroup gets an equal share of the CPU, and the threads' nice values order only the threads of
   * that one qemu: in every run until then the control plane and the worker had equal shares. So the
   * autogroup's nice is set too (/proc/PID/autogroup; a qemu's session holds that qemu alone): that
   * is what orders the control plane before the worker. The scheduler still gives an idle share away,
   * so the worker gets every cycle the control plane leaves. The log line names the autogroup.
   * With `when`, the priority holds only while when() is true (asked at each look; one that throws
   * counts as false, and is logged), and the qemu is set back to nice 0 otherwise: a worker at the
   * lower share runs several times slower, so a scenario gives the control plane the CPU only for
   * the moments that need it.
   */
  prioritize(domain: string, nice: number, when: () => boolean = () => true): void {
    if (this.priorityTimer) throw new Error('E2eEnvironment: prioritize() called twice');
    /** The nice each qemu was last set to, by pid: a change is logged. */
    const applied = new Map<number, number>();
    const tick = () => {
      if (this.phase !== 'started' || !this.netnsCreated) return;
      let wanted = 0;
      try {
        if (when()) wanted = nice;
      } catch (err) {
        this.opts.log(`[e2e ${this.name}] prioritize: when() failed, no priority for now: ${err instanceof Error ? err.message : String(err)}`);
      }
      for (const pid of netnsPids(this.name)) {
        if (!this.inOurNetns(pid) || !qemuOf(pid, domain)) continue;
        let threads = 0;
        for (const tid of readdirSafe(`/proc/${pid}/task`).map(Number)) {
          try {
            if (getPriority(tid) !== wanted) setPriority(tid, wanted);
            threads += 1;
          } catch {
            // the thread ended meanwhile
          }
        }
        const autogroup = `/proc/${pid}/autogroup`;
        try {
          const current = /nice (-?\d+)/.exec(readIfExists(autogroup));
          if (current && Number(current[1]) !== wanted) writeFileSync(autogroup, String(wanted));
        } catch {
          // no autogroups in this kernel, or the qemu ended meanwhile
        }
        if (wanted !== 0) this.prioritized.add(pid);
        if (applied.get(pid) !== wanted) {
          applied.set(pid, wanted);
          const group = readIfExists(`/proc/${pid}/autogroup`).trim() || 'no autogroup';
          this.opts.log(`[e2e ${this.name}] qemu of ${domain} (pid ${pid}): ${threads} threads at nice ${wanted} (scheduler ${group})`);
        }
      }
    };
    this.priorityTimer = setInterval(tick, 5_000);
    this.priorityTimer.unref();
  }

  /** The libvirt domains, networks, storage pools and volumes that exist in this environment. */
  async inventory(): Promise<LibvirtInventory> {
    const virsh = async (args: string[]) => (await this.exec('virsh', ['-q', ...args], { timeoutMs: 60_000 })).stdout;
    const names = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean).sort();
    const domains = names(await virsh(['list', '--all', '--name']));
    const networks = names(await virsh(['net-list', '--all', '--name']));
    const pools = names(await virsh(['pool-list', '--all', '--name']));
    const volumes: LibvirtVolume[] = [];
    for (const pool of pools) {
      // An inactive pool cannot list its volumes; its files are in the temp dir anyway.
      const r = await this.exec('virsh', ['-q', 'vol-list', '--pool', pool], { timeoutMs: 60_000, reject: false });
      if (r.exitCode !== 0) continue;
      for (const line of names(r.stdout)) volumes.push({ pool, name: line.split(/\s+/)[0]! });
    }
    return { domains, networks, pools, volumes };
  }

  /**
   * Destroys every libvirt domain, network, volume and pool left in the environment, ends its
   * daemons and every other process still in its network namespace (by PID), deletes the
   * namespace and the temp dir. Idempotent; never throws.
   */
  async stop(): Promise<StopReport> {
    const started = Date.now();
    const report: StopReport = { leftovers: { domains: [], networks: [], pools: [], volumes: [] }, killedPids: [], errors: [], durationMs: 0 };
    if (this.phase === 'stopped' || this.phase === 'new') {
      this.phase = 'stopped';
      return report;
    }
    this.phase = 'stopping';
    clearInterval(this.priorityTimer);
    const note = (what: string, err: unknown) => report.errors.push(`${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);

    // 0. What spawn() started (mirrors, servers): nothing of theirs is needed to destroy the rest.
    for (const [key, p] of this.spawned) {
      const alive = isAlive(p.pid);
      await p.stop();
      if (alive) report.killedPids.push(p.pid);
      delete this.pids[key];
    }
    this.spawned.clear();
    // 1. libvirt objects, while libvirtd still answers.
    if (this.pids.libvirtd !== undefined && this.pids.anchor !== undefined && isAlive(this.pids.libvirtd)) {
      try {
        await this.destroyLibvirtObjects(report, note);
      } catch (err) {
        note('destroying libvirt objects', err);
      }
    }
    // 2. Daemons, then everything else in the namespace (qemu, dnsmasq, stray vagrant/ssh), then the anchor.
    for (const key of ['libvirtd', 'virtlogd']) {
      const pid = this.pids[key];
      if (pid !== undefined && this.inOurNetns(pid)) {
        if (await terminate(pid, 20_000)) report.killedPids.push(pid);
      }
    }
    if (this.netnsCreated) {
      for (const pid of netnsPids(this.name)) {
        if (pid === this.pids.anchor || !this.inOurNetns(pid)) continue;
        if (await terminate(pid, 10_000)) report.killedPids.push(pid);
      }
    }
    if (this.anchor) {
      this.anchor.stdin?.end();
      const pid = this.pids.anchor;
      if (pid !== undefined && (await terminate(pid, 5_000))) report.killedPids.push(pid);
    }
    await Promise.allSettled([this.anchor, ...this.daemons]);
    // 3. The namespace itself.
    if (this.netnsCreated) {
      const r = spawnSync('ip', ['netns', 'delete', this.name], { timeout: 10_000, encoding: 'utf8' });
      if (r.status !== 0 && existsSync(`/run/netns/${this.name}`)) note('ip netns delete', r.stderr || r.error);
      else this.netnsCreated = false;
    }
    // 4. The temp dir (its bind mounts lived only in the private mount namespace, now gone).
    if (this.dir) {
      if (this.opts.keepWorkDir) {
        this.opts.log(`[e2e ${this.name}] kept ${this.dir}`);
      } else {
        try {
          rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
        } catch (err) {
          note(`removing ${this.dir}`, err);
        }
      }
    }
    this.phase = 'stopped';
    E2eEnvironment.live.delete(this);
    report.durationMs = Date.now() - started;
    this.opts.log(
      `[e2e ${this.name}] stopped in ${report.durationMs} ms` +
        (report.killedPids.length ? `, ended pids ${report.killedPids.join(' ')}` : '') +
        (report.errors.length ? `, problems: ${report.errors.join('; ')}` : ''),
    );
    return report;
  }

  /**
   * Cleans up environments under baseDir whose owning process is gone (a test run that was
   * killed): ends the processes still in their namespace, deletes the namespace and the dir.
   */
  static async reapStale(baseDir: string, log: (line: string) => void = () => {}): Promise<string[]> {
    const reaped: string[] = [];
    let entries: string[];
    try {
      entries = (await readdir(baseDir)).filter((e) => e.startsWith(PREFIX));
    } catch {
      return reaped;
    }
    for (const entry of entries) {
      const dir = join(baseDir, entry);
      let state: StateFile;
      try {
        state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as StateFile;
      } catch {
        continue;
      }
      if (!state.name?.startsWith(PREFIX) || isAlive(state.ownerPid)) continue;
      const nsPath = `/run/netns/${state.name}`;
      if (existsSync(nsPath)) {
        const inode = statSync(nsPath).ino;
        for (const pid of netnsPids(state.name)) {
          if (netnsInodeOf(pid) === inode) await terminate(pid, 10_000);
        }
        spawnSync('ip', ['netns', 'delete', state.name], { timeout: 10_000 });
      }
      rmSync(dir, { recursive: true, force: true });
      reaped.push(state.name);
      log(`[e2e] reaped stale environment ${state.name} (owner pid ${state.ownerPid} gone)`);
    }
    return reaped;
  }

  // ---- internals ---------------------------------------------------------------------------

  private async prepareDirs(): Promise<void> {
    const w = this.workDir;
    const dirs: Array<[string, number]> = [
      ['logs', 0o755],
      ['vagrant-home', 0o755],
      ['projects', 0o755],
      ['run-libvirt', 0o755],
      ['etc-libvirt', 0o755],
      ['etc-libvirt/qemu/networks/autostart', 0o755],
      ['etc-libvirt/storage/autostart', 0o755],
      ['var-lib-libvirt', 0o755],
      ['var-lib-libvirt/images', 0o711],
      ['var-lib-libvirt/boot', 0o711],
      ['var-lib-libvirt/dnsmasq', 0o755],
      ['var-lib-libvirt/network', 0o755],
      ['var-log-libvirt', 0o755],
      ['var-log-libvirt/qemu', 0o755],
      ['var-cache-libvirt', 0o711],
      ['var-cache-libvirt/qemu', 0o711],
    ];
    for (const [d, mode] of dirs) mkdirSync(join(w, d), { recursive: true, mode });
    // The host's daemon configuration, but none of its domains, networks, pools or secrets.
    for (const entry of await readdir('/etc/libvirt', { withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.conf')) {
        await copyFile(join('/etc/libvirt', entry.name), join(w, 'etc-libvirt', entry.name));
      }
    }
    if (existsSync('/etc/libvirt/nwfilter')) {
      mkdirSync(join(w, 'etc-libvirt/nwfilter'), { recursive: true });
      for (const f of readdirSync('/etc/libvirt/nwfilter')) {
        await copyFile(join('/etc/libvirt/nwfilter', f), join(w, 'etc-libvirt/nwfilter', f));
      }
    }
    const logConf = 'log_outputs="3:file:/var/log/libvirt/libvirtd.log"\n';
    await writeFile(join(w, 'etc-libvirt', 'libvirtd.conf'), `${readIfExists(join(w, 'etc-libvirt', 'libvirtd.conf'))}\n# kubeadm-vagrant e2e\n${logConf}`);
    await writeFile(join(w, 'etc-libvirt', 'virtlogd.conf'), `${readIfExists(join(w, 'etc-libvirt', 'virtlogd.conf'))}\n# kubeadm-vagrant e2e\nlog_outputs="3:file:/var/log/libvirt/virtlogd.log"\n`);
  }

  private async startAnchor(deadline: number): Promise<void> {
    const w = this.workDir;
    const binds: Record<(typeof LIBVIRT_PATHS)[number], string> = {
      '/run/libvirt': join(w, 'run-libvirt'),
      '/etc/libvirt': join(w, 'etc-libvirt'),
      '/var/lib/libvirt': join(w, 'var-lib-libvirt'),
      '/var/log/libvirt': join(w, 'var-log-libvirt'),
      '/var/cache/libvirt': join(w, 'var-cache-libvirt'),
    };
    const script = [
      'set -eu',
      ...Object.entries(binds).map(([target, source]) => `mkdir -p ${shellQuote(target)} && mount --bind ${shellQuote(source)} ${shellQuote(target)}`),
      'echo ready',
      // Lives until its stdin closes (stop(), or this Node process exiting).
      'read -r _ || true',
    ].join('\n');
    this.anchor = execa('ip', ['netns', 'exec', this.name, 'unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      buffer: false,
    });
    const pid = this.anchor.pid;
    if (pid === undefined) throw new Error('could not start the namespace anchor');
    this.pids.anchor = pid;
    this.saveState();
    const stderrChunks: string[] = [];
    this.anchor.stderr?.on('data', (c: Buffer) => stderrChunks.push(c.toString()));
    let ready = false;
    let exited = false;
    this.anchor.stdout?.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) ready = true;
    });
    void this.anchor.then(() => {
      exited = true;
    });
    await waitFor(() => ready, deadline, 'the namespace anchor', () => (exited ? `anchor exited: ${stderrChunks.join('').trim()}` : undefined));
    // ip netns exec and unshare exec in place, so the PID is the shell's; make sure of it.
    if (netnsInodeOf(pid) !== this.netnsInode) throw new Error(`anchor pid ${pid} is not in netns ${this.name}`);
  }

  private startDaemon(key: 'virtlogd' | 'libvirtd', argv: string[]): void {
    const logFile = join(this.logDir, `${key}.out`);
    const child = execa('nsenter', ['--target', String(this.pids.anchor), '--mount', '--net', '--', ...argv], {
      stdin: 'ignore',
      stdout: { file: logFile, append: true },
      stderr: { file: logFile, append: true },
      reject: false,
      env: this.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${key}`);
    // Without a PID namespace, nsenter execs the daemon in place: the child's PID is the daemon's.
    this.pids[key] = child.pid;
    this.daemons.push(child);
    this.saveState();
  }

  private daemonExited(key: string): string | undefined {
    const pid = this.pids[key];
    if (pid !== undefined && !isAlive(pid)) {
      return `${key} exited: ${tail(readIfExists(join(this.logDir, `${key}.out`)), 20)}`;
    }
    return undefined;
  }

  private async destroyLibvirtObjects(report: StopReport, note: (what: string, err: unknown) => void): Promise<void> {
    const inv = await this.inventory();
    report.leftovers = inv;
    const virsh = async (args: string[]) => {
      const r = await this.exec('virsh', args, { timeoutMs: 60_000, reject: false });
      if (r.exitCode !== 0) note(`virsh ${args.join(' ')}`, r.all.trim());
    };
    for (const d of inv.domains) {
      await this.exec('virsh', ['destroy', d], { timeoutMs: 60_000, reject: false }); // fails when already shut off
      await virsh(['undefine', d, '--managed-save', '--snapshots-metadata', '--nvram']);
    }
    for (const v of inv.volumes) await virsh(['vol-delete', '--pool', v.pool, v.name]);
    for (const n of inv.networks) {
      await this.exec('virsh', ['net-destroy', n], { timeoutMs: 60_000, reject: false });
      await virsh(['net-undefine', n]);
    }
    for (const p of inv.pools) {
      await this.exec('virsh', ['pool-destroy', p], { timeoutMs: 60_000, reject: false });
      await virsh(['pool-undefine', p]);
    }
  }

  private inOurNetns(pid: number): boolean {
    return this.netnsInode !== undefined && netnsInodeOf(pid) === this.netnsInode;
  }

  private saveState(): void {
    if (!this.dir) return;
    const state: StateFile = { name: this.name, ownerPid: process.pid, pids: this.pids, ...(this.netnsInode !== undefined ? { netnsInode: this.netnsInode } : {}) };
    writeFileSync(join(this.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** On a plain process exit without stop(): end what this process started, synchronously. */
  private static installExitHook(): void {
    if (E2eEnvironment.exitHookInstalled) return;
    E2eEnvironment.exitHookInstalled = true;
    process.on('exit', () => {
      for (const env of E2eEnvironment.live) env.stopSync();
    });
  }

  private stopSync(): void {
    if (this.netnsCreated) {
      for (const pid of netnsPids(this.name)) {
        if (this.inOurNetns(pid)) safeKill(pid, 'SIGKILL');
      }
      spawnSync('ip', ['netns', 'delete', this.name], { timeout: 10_000 });
    }
    if (this.dir && !this.opts.keepWorkDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** start(), fn(env), stop() — stop() also when fn throws. */
export async function withE2eEnvironment<T>(fn: (env: E2eEnvironment) => Promise<T>, options?: E2eEnvironmentOptions): Promise<T> {
  const env = new E2eEnvironment(options);
  try {
    await env.start();
    return await fn(env);
  } finally {
    await env.stop();
  }
}

// ---- helpers ---------------------------------------------------------------------------------

async function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  const r = await execa(cmd, args, { timeout: timeoutMs, reject: false, all: true });
  if (r.failed) throw new Error(`${cmd} ${args.join(' ')}: ${String(r.all ?? '').trim() || r.shortMessage}`);
}

async function waitFor(
  check: () => boolean | Promise<boolean>,
  deadline: number,
  what: string,
  fatal?: () => string | undefined,
): Promise<void> {
  for (;;) {
    if (await check()) return;
    const why = fatal?.();
    if (why) throw new Error(`waiting for ${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function netnsPids(name: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', name], { timeout: 10_000, encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
}

/** Whether pid is a qemu whose `-name guest=NAME,...` is domain. */
function qemuOf(pid: number, domain: string): boolean {
  const argv = readIfExists(`/proc/${pid}/cmdline`).split('\0');
  if (!/qemu-system-/.test(argv[0] ?? '')) return false;
  const i = argv.indexOf('-name');
  return i >= 0 && (argv[i + 1] ?? '').split(',').includes(`guest=${domain}`);
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function netnsInodeOf(pid: number): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
