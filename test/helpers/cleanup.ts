import { afterAll } from 'vitest';
import { removeTestCaches } from './artifacts.js';

// Set up for every test file (vitest.config.ts setupFiles): what the shared helpers made in /tmp goes when the file ends.
afterAll(removeTestCaches);
