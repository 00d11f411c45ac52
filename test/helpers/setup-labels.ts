import { TEST_LABELS } from '../helpers/repo.js';

process.env.BERTH_LABELS = TEST_LABELS;
