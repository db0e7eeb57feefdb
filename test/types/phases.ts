/**
 * Phase ids are the table's, and nothing else (src/phases.ts): a renamed or misspelt phase used
 * anywhere outside the table does not type-check.
 */
import { phaseDef, type PhaseId } from '../../src/phases.js';
import { recordPassed, type ClusterState } from '../../src/state.js';
import type { UpStepOptions } from '../../src/steps/up-steps.js';

export const known: PhaseId = 'control-plane';
// @ts-expect-error a phase the table does not have
export const misspelt: PhaseId = 'control-plan';
// @ts-expect-error up --until takes the table's ids only
export const until: UpStepOptions = { until: 'kubeadm-init' };
// @ts-expect-error phaseDef of an id the table does not have
phaseDef('master');
// @ts-expect-error state.json records the table's ids only
export const state: ClusterState = { nodePhases: { master: ['machines', 'init'] } };
// @ts-expect-error recordPassed takes a phase of the table
recordPassed({}, 'done', ['master']);
