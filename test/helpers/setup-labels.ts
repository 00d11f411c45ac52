import { TEST_LABELS } from './repo.js';

process.env.BERTH_LABELS = TEST_LABELS;
