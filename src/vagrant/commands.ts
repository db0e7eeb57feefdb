/** Vagrant invocations as data: `--dry-run` prints them, tests snapshot them, the runner runs them. */
export interface ExternalCommand {
  command: string;
  args: string[];
  /** One line for people and logs (secrets never appear in arguments). */
  title: string;
}

export function vagrant(args: string[]): ExternalCommand {
  return { command: 'vagrant', args, title: `vagrant ${args.join(' ')}` };
}

/**
 * `vagrant up --no-provision` for some machines (all when empty): creates missing machines and
 * starts halted ones. Provisioning is left to `vagrant provision`, because vagrant-libvirt
 * 0.11's `up` runs the provisioners of a machine that is already running twice.
 */
export function vagrantUp(opts: { provider: string; machines?: string[]; parallel: boolean }): ExternalCommand {
  return vagrant(['up', `--provider=${opts.provider}`, opts.parallel ? '--parallel' : '--no-parallel', '--no-provision', ...(opts.machines ?? [])]);
}

/** `vagrant provision MACHINE --provision-with=...`: exactly these provisioners, once, on a running machine. */
export function vagrantProvision(machine: string, provisionWith: readonly string[]): ExternalCommand {
  return vagrant(['provision', machine, `--provision-with=${provisionWith.join(',')}`]);
}

export function vagrantStatus(machines: string[] = []): ExternalCommand {
  const args = ['status', '--machine-readable', ...machines];
  return vagrant(args);
}

export function vagrantDestroy(machines: string[] = []): ExternalCommand {
  const args = ['destroy', '--force', ...machines];
  return vagrant(args);
}

/** A machine-readable record: `timestamp,target,type,data...` with Vagrant's escapes undone. */
function machineRecord(line: string): { target: string; type: string; data: string[] } | undefined {
  const m = /^\d{9,},([^,]*),([^,]+),(.*)$/.exec(line.trim());
  if (!m) return undefined;
  const unescape = (s: string) => s.replaceAll('%!(VAGRANT_COMMA)', ',').replaceAll('\\n', '\n');
  return { target: m[1]!, type: m[2]!, data: m[3]!.split(',').map(unescape) };
}

/**
 * A line of `--machine-readable` output as a person reads it: the text of `ui` records (which
 * may hold several lines), nothing for records only a program needs (state, metadata, and
 * error-exit, which repeats the ui error); any other line as it is.
 */
export function readableLines(line: string): string[] {
  const r = machineRecord(line);
  if (!r) return [line];
  return r.type === 'ui' ? r.data.slice(1).join(',').split('\n') : [];
}

/** The message of the `error-exit` record Vagrant's machine-readable output ends with when it fails. */
export function machineReadableError(line: string): { errorClass: string; message: string } | undefined {
  const r = machineRecord(line);
  if (r?.type !== 'error-exit') return undefined;
  return { errorClass: r.data[0] ?? '', message: r.data.slice(1).join(',') };
}

export interface MachineStatus {
  name: string;
  /** Vagrant's state: running, shutoff, not_created, poweroff, ... */
  state: string;
  provider?: string;
}

/**
 * Parses `vagrant status --machine-readable`: lines `timestamp,target,type,data...`, where data
 * commas are written `%!(VAGRANT_COMMA)` and newlines `\n`.
 */
export function parseMachineReadable(output: string): MachineStatus[] {
  const machines = new Map<string, MachineStatus>();
  for (const line of output.split('\n')) {
    const fields = line.trim().split(',');
    if (fields.length < 4) continue;
    const [, target, type, ...rest] = fields;
    if (!target) continue;
    const data = rest.join(',').replaceAll('%!(VAGRANT_COMMA)', ',').replaceAll('\\n', '\n');
    const entry = machines.get(target) ?? { name: target, state: 'unknown' };
    if (type === 'state') entry.state = data;
    else if (type === 'provider-name') entry.provider = data;
    else continue;
    machines.set(target, entry);
  }
  return [...machines.values()];
}
