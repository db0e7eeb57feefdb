import { readFileSync, statSync } from 'node:fs';
import { isMap, isScalar, parseDocument } from 'yaml';
import { writeFileAtomic } from '../write.js';

/**
 * Sets workers.count in a config text, keeping the user's comments and layout: when the field
 * exists only its value's characters change; otherwise the field is added.
 */
export function setWorkerCountText(text: string, count: number): string {
  const doc = parseDocument(text);
  const workers = doc.get('workers', true);
  if (workers !== undefined && !isMap(workers)) throw new Error('workers is not a mapping');
  const node = doc.getIn(['workers', 'count'], true);
  if (isScalar(node) && node.range) {
    const [start, end] = node.range;
    return text.slice(0, start) + String(count) + text.slice(end);
  }
  doc.setIn(['workers', 'count'], count);
  return doc.toString();
}

/** Rewrites the file in place, keeping its mode (a cluster.yaml that holds a token may be 0600). */
export function setWorkerCount(file: string, count: number): void {
  writeFileAtomic(file, setWorkerCountText(readFileSync(file, 'utf8'), count), statSync(file).mode & 0o777);
}
