import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { buildImage, type Engine, engineWords, inspectImage } from '../../adapters/docker.js';
import { entryContent, exists, listFiles } from '../../adapters/files.js';
import type { BerthConfig } from '../../config/schema.js';
import { EnvironmentError, UsageError } from '../../errors.js';
import { AGENT_BUILD_IMAGE, AGENT_BUILD_REPOSITORY, LABEL_IMAGE } from '../../plan/images.js';

type AgentBuild = NonNullable<BerthConfig['agent']['build']>;

/**
 * agent.build's tag: a hash of the Dockerfile's path, the build arguments and every file of the context
 * (names and contents) in the trusted working tree, so the same inputs reuse the image and any change
 * builds a new one.
 */
export function agentBuildTag(tree: string, build: AgentBuild): string {
  const dockerfile = posix.relative(build.context, build.dockerfile);
  if (dockerfile.startsWith('../') || !exists(join(tree, build.dockerfile))) {
    throw new UsageError(
      'agent-build',
      `agent.build.dockerfile: ${build.dockerfile} ${dockerfile.startsWith('../') ? `is outside the build context ${build.context}` : 'does not exist'}`,
      { hint: 'name a Dockerfile inside the build context' },
    );
  }
  const contextDir = join(tree, build.context);
  const hash = createHash('sha256').update(JSON.stringify({ dockerfile, args: build.args }));
  for (const file of listFiles(contextDir)) {
    // A link is sent to the engine as a link (never followed): its target is what it holds.
    const entry = entryContent(join(contextDir, file));
    if (entry.kind === 'other')
      throw new UsageError(
        'agent-build',
        `agent.build.context: ${posix.join(build.context, file)} is not a file, a folder or a link`,
        {
          hint: 'remove it from the build context',
        },
      );
    hash.update(`\0${file}\0${entry.kind}\0`);
    hash.update(
      createHash('sha256')
        .update(entry.kind === 'link' ? entry.target : entry.bytes)
        .digest('hex'),
    );
  }
  return `${AGENT_BUILD_REPOSITORY}:${hash.digest('hex').slice(0, 16)}`;
}

/**
 * agent.build (from berth.yaml or a devcontainer.json) as an image: `docker build` of the context in the
 * trusted working tree, tagged by agentBuildTag and labelled with the repository (gc removes the ones no
 * container uses and the config no longer builds).
 */
export async function agentBuildImage(
  docker: Engine,
  tree: string,
  build: AgentBuild,
  labels: Record<string, string>,
  logFile: string,
  progress: (line: string) => void,
): Promise<string> {
  const tag = agentBuildTag(tree, build);
  if (await inspectImage(docker, tag)) return tag;
  progress(`building the agent image ${tag} from ${build.dockerfile} (log: ${logFile})`);
  const contextDir = join(tree, build.context);
  try {
    await buildImage(docker, {
      contextDir,
      files: listFiles(contextDir),
      tag,
      dockerfile: posix.relative(build.context, build.dockerfile),
      buildArgs: build.args,
      labels: { ...labels, [LABEL_IMAGE]: AGENT_BUILD_IMAGE },
      logFile,
    });
  } catch (error) {
    throw new EnvironmentError(
      'agent-build',
      `building the agent image from ${build.dockerfile} failed (${engineWords(error)})`,
      {
        logFile,
        hint: `see the log, fix the Dockerfile, and provision again`,
      },
    );
  }
  return tag;
}
