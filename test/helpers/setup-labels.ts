import { TEST_LABEL_PAIR } from './docker.js';

process.env.BERTH_LABELS = TEST_LABEL_PAIR;
