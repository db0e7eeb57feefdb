import type { RenderedFile } from '../../src/render/render.js';

/** A rendered file's text: every file but a machine's seed image is text; one of bytes is a test's mistake. */
export function textOf(file: Pick<RenderedFile, 'path' | 'content'>): string {
  if (typeof file.content !== 'string') throw new Error(`${file.path} is bytes, not text`);
  return file.content;
}
