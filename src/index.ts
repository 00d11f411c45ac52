/** berth as a library: the same operations the CLI runs, each taking options and returning data. */
export { loadConfig, parseConfig } from './config/load.js';
export { type BerthConfig, configSchema, jsonSchema } from './config/schema.js';
export { loadTasks, type Task } from './config/tasks.js';
export {
  type AgentView,
  CONTRACT_VERSION,
  type CommandName,
  type EntryView,
  type ErrorView,
  envelopeSchema,
  type ResultOf,
  resultSchemas,
  resultsJsonSchema,
  type TaskView,
  type ToolResultOf,
  toolResultSchemas,
} from './contract.js';
export { installClaudeHooks, runClaudeHook } from './core/agent/agent-hooks.js';
export { watchClaude } from './core/agent/claude-watch.js';
export { dbReset, dbRestore, dbSnapshot, dbSnapshots } from './core/agent/db.js';
export { agentDiff } from './core/agent/diff.js';
export { reloadEgress } from './core/agent/egress.js';
export { agentEnvText, agentEnvView, execCaptured, execInAgent } from './core/agent/exec.js';
export { heartbeat } from './core/agent/heartbeat.js';
export { listAgents, show } from './core/agent/list.js';
export { logTails, streamLogs } from './core/agent/logs.js';
export { drainPool, fillPool, poolMembers } from './core/agent/pool.js';
export { PROVISION_STEPS, type ProvisionOptions, provision } from './core/agent/provision.js';
export { sync } from './core/agent/sync.js';
export { type TeardownResult, teardown } from './core/agent/teardown.js';
export { errorView } from './core/agent/views.js';
export {
  listWorktreeFiles,
  READ_FILE_BYTES,
  readWorktreeFile,
  writeWorktreeFile,
} from './core/agent/worktree-files.js';
export { type FleetCancelResult, fleetCancel } from './core/fleet/cancel.js';
export { type FleetQueueOptions, type FleetQueueResult, fleetQueue } from './core/fleet/queue-host.js';
export { type FleetStatus, fleetStatus, fleetWait, watchFleet } from './core/fleet/status.js';
export { fleetSubmit, fleetTaskOf, loadFleetTasks } from './core/fleet/submit.js';
export { type FleetWorkerOptions, type FleetWorkerResult, fleetWorker } from './core/fleet/worker.js';
export { type GcAction, type GcResult, gc } from './core/gc.js';
export { type HostInitOptions, type HostInitResult, hostInit } from './core/host/init.js';
export type { ExitPolicy } from './core/task/history.js';
export { completeTask, runTask } from './core/task/task.js';
export { up } from './core/task/up.js';
export { upTasks } from './core/task/up-tasks.js';
export { BerthError, EnvironmentError, ExitCode, UsageError } from './errors.js';
export { berthMcpServer } from './mcp/server.js';
export { DEFAULT_IMAGES, type ImageRole, type ImageStatus, offlineImage } from './plan/images.js';
