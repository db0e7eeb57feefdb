import { expect } from 'vitest';

/** What `p` rejects with, asserted to be an instance of `type` (a resolve fails the test). */
export async function rejectionOf<E>(p: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as E;
}

/** What `fn` throws, asserted to be an instance of `type` (returning fails the test). */
export function thrownBy<E>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(type);
  return err as E;
}
