export { type HostInitOptions, type HostInitResult, hostInit } from './core/host-init.js';
export { BerthError, EnvironmentError, ExitCode, UsageError } from './errors.js';
export { DEFAULT_IMAGES, type ImageRole, type ImageStatus, offlineImage } from './plan/images.js';
