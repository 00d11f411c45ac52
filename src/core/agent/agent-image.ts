import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { buildImage, type Engine, engineWords, inspectImage } from '../../adapters/docker.js';
import { exists, listFiles, readBytes } from '../../adapters/files.js';
import type { BerthConfig } from '../../config/schema.js';
import { EnvironmentError, UsageError } from '../../errors.js';
import { AGENT_BUILD_REPOSITORY, LABEL_IMAGE } from '../../plan/images.js';

/** The repository of the agent images berth builds from a repository's Dockerfile (agent.build). */

type AgentBuild = NonNullable<BerthConfig['agent']['build']>;

/**
 * agent.build (from berth.yaml or a devcontainer.json) as an image: `docker build` of the context in the
 * trusted working tree, tagged by a hash of the Dockerfile's path, the build arguments and every file of
 * the context (names and contents), so the same inputs reuse the image and any change builds a new one.
 */
export async function agentBuildImage(
  docker: Engine,
  tree: string,
  build: AgentBuild,
  logFile: string,
  progress: (line: string) => void,
): Promise<string> {
  const dockerfile = posix.relative(build.context, build.dockerfile);
  if (dockerfile.startsWith('../') || !exists(join(tree, build.dockerfile))) {
    throw new UsageError(
      'agent-build',
      `agent.build.dockerfile: ${build.dockerfile} ${dockerfile.startsWith('../') ? `is outside the build context ${build.context}` : 'does not exist'}`,
      { hint: 'name a Dockerfile inside the build context' },
    );
  }
  const contextDir = join(tree, build.context);
  const files = listFiles(contextDir);
  const hash = createHash('sha256').update(JSON.stringify({ dockerfile, args: build.args }));
  for (const file of files) {
    hash.update(`\0${file}\0`);
    hash.update(
      createHash('sha256')
        .update(readBytes(join(contextDir, file)))
        .digest('hex'),
    );
  }
  const tag = `${AGENT_BUILD_REPOSITORY}:${hash.digest('hex').slice(0, 16)}`;
  if (await inspectImage(docker, tag)) return tag;
  progress(`building the agent image ${tag} from ${build.dockerfile} (log: ${logFile})`);
  try {
    await buildImage(docker, {
      contextDir,
      files,
      tag,
      dockerfile,
      buildArgs: build.args,
      labels: { [LABEL_IMAGE]: 'agent-build' },
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
