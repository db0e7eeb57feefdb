/** Reading and writing a config object's fields by path (dotted paths split into keys). */

/** A field's value, or undefined when it (or a section on the way) is absent. */
export function getIn(obj: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((cur, k) => (typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined), obj);
}

/** Sets a field, making the sections on the way. */
export function setIn(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/** A copy of the object without the fields at `paths` (fields that failed their own checks). */
export function without(obj: Record<string, unknown>, paths: readonly (readonly PropertyKey[])[]): Record<string, unknown> {
  const copy = structuredClone(obj);
  for (const path of paths) {
    const parent = getIn(copy, path.slice(0, -1).map(String));
    if (typeof parent === 'object' && parent !== null && path.length > 0) delete (parent as Record<string, unknown>)[String(path[path.length - 1])];
  }
  return copy;
}

/** Whether two values are the same as JSON (a remembered value against the file's). */
export const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
