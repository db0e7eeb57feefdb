import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError, errorMessage, type ConfigProblem } from '../errors.js';
import { DEFAULT_CONFIG_FILE, HOST } from '../layout.js';
import type { GeneratedRecord } from '../state.js';
import { fileSystemError } from '../write.js';

/** Which config file a load reads, and reading it: -c FILE, the remembered one, ./cluster.yaml. */

/** The absolute path `-c` names; an empty one is refused rather than read as the current directory. */
export function configFileArg(file: string | undefined, cwd: string): string | undefined {
  if (file === undefined) return undefined;
  if (file.trim() === '') throw new ConfigError([{ path: '-c', message: 'needs the path of a config file, and got an empty string', hint: 'give -c cluster.yaml, or leave out -c' }]);
  return resolve(cwd, file);
}

/** The text of a config file; a missing, unreadable or wrong kind of file is a config error naming it. */
export function readConfigText(file: string, how: string): string {
  try {
    if (statSync(file).isDirectory()) {
      throw new ConfigError([{ path: how, message: `${file} is a directory, not a config file`, hint: `give the file in it, e.g. ${join(file, DEFAULT_CONFIG_FILE)}` }]);
    }
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError([{ path: how, message: `config file ${file} does not exist`, hint: how === '-c' ? 'create one with `kubeadm-vagrant init`, or leave out -c to use defaults' : 'put it back, or give the config file with -c FILE' }]);
    }
    throw new ConfigError([{ path: how, message: errorMessage(fileSystemError(err, 'read', file)), hint: 'check the file and its permissions' }]);
  }
}

/**
 * The config file a directory was generated from, as a path to read now. generated.json records it
 * relative to the directory, so a moved or copied directory reads its own; an older version
 * recorded it absolute: such a path outside the directory, with a file of the same name inside it,
 * means the directory was moved or copied, and the file inside is the one (`movedFrom` says so).
 */
export function rememberedConfigFile(record: GeneratedRecord | undefined, dir: string): { file: string; movedFrom?: string } | undefined {
  if (!record?.file) return undefined;
  if (!isAbsolute(record.file)) return { file: resolve(dir, record.file) };
  const inside = relative(dir, record.file);
  if (!inside.startsWith('..') && !isAbsolute(inside)) return { file: record.file };
  const local = join(dir, basename(record.file));
  return existsSync(local) ? { file: local, movedFrom: record.file } : { file: record.file };
}

/** The remembered config file as generated.json stores it: relative to the cluster directory. */
export function rememberedPath(file: string, dir: string): string {
  return relative(dir, file);
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
export function fileHashOrUndefined(file: string): string | undefined {
  try {
    return sha256(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The config file a load reads: -c FILE; else, in the cluster directory itself, the file it was
 * generated from (then ./cluster.yaml); else (-o elsewhere) ./cluster.yaml, then the file the
 * target directory was generated from. A remembered file that is gone gives way to ./cluster.yaml,
 * with a warning; with no ./cluster.yaml either, it is an error saying so.
 */
export function chooseConfigFile(given: string | undefined, record: GeneratedRecord | undefined, dir: string, cwd: string): { file?: string; how: string; warnings: ConfigProblem[] } {
  if (given) return { file: given, how: '-c', warnings: [] };
  const implicit = resolve(cwd, DEFAULT_CONFIG_FILE);
  const local: { file: string; how: string; warnings: ConfigProblem[] } | undefined = existsSync(implicit) ? { file: implicit, how: DEFAULT_CONFIG_FILE, warnings: [] } : undefined;
  const found = rememberedConfigFile(record, dir);
  const how = `the config file ${dir} was generated from`;
  const warnings: ConfigProblem[] = [];
  if (found?.movedFrom) {
    warnings.push({
      path: HOST.generatedFile,
      message: `names ${found.movedFrom} (an older version recorded it absolute), outside this directory: the directory was moved or copied, so ${found.file} is read`,
      hint: 'the next `generate` (or `up`) records the config file relative to the directory',
    });
  }
  let remembered = found ? { file: found.file, how, warnings } : undefined;
  if (found && !existsSync(found.file)) {
    const gone = `${found.file}, the config file ${dir} was generated from (${HOST.generatedFile}), is gone`;
    if (!local) throw new ConfigError([{ path: how, message: `${gone}, and there is no ./${DEFAULT_CONFIG_FILE}`, hint: `put it back, give the config file with -c FILE, or write ./${DEFAULT_CONFIG_FILE} (\`kubeadm-vagrant init\`)` }]);
    remembered = undefined;
    local.warnings.push({ path: DEFAULT_CONFIG_FILE, message: `${gone}: ${implicit} is read instead`, hint: 'the next `generate` (or `up`) remembers this file' });
  }
  return (dir === cwd ? (remembered ?? local) : (local ?? remembered)) ?? { how: DEFAULT_CONFIG_FILE, warnings: [] };
}
