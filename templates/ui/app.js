// berth ui: renders the state the server streams; every text goes in as text, never as HTML.
const token = new URLSearchParams(location.search).get('token') ?? '';
const $ = (id) => document.getElementById(id);

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) element.append(child);
  }
  return element;
}

// `span` comes from berth's plan/duration.ts, put in front of this script: ages read as `berth ls` has them.
function ago(iso) {
  const milliseconds = Date.now() - Date.parse(iso);
  return milliseconds >= 0 ? `${span(milliseconds)} ago` : `in ${span(-milliseconds)}`;
}

function expiryText(expiresAt) {
  const when = ago(expiresAt);
  return when.startsWith('in ') ? `expires ${when}` : `expired ${when}`;
}

const api = (path) => `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;

async function call(method, path) {
  const response = await fetch(path, { method, headers: { 'x-berth-token': token } });
  const body = await response.json().catch(() => ({ error: `berth: error: ${response.status}` }));
  if (!response.ok) throw new Error(body.error ?? `berth: error: ${response.status}`);
  return body;
}

// Nothing is known until the server's first state: the page says it is loading, not that nothing is there.
let state;

function route() {
  const [, view, repo, name] = location.hash.split('/');
  if (view === 'agent' && repo && name) return { view: 'agent', repo, name: decodeURIComponent(name) };
  if (view === 'fleet') return { view: 'fleet' };
  return { view: 'agents' };
}

function portLinks(ports) {
  return Object.entries(ports).map(([service, port]) =>
    service === 'postgres' || service === 'redis'
      ? h('span', { class: 'port mono', title: `${service} on 127.0.0.1:${port}` }, `${service}:${port}`)
      : h(
          'a',
          { class: 'port mono', href: `http://127.0.0.1:${port}/`, target: '_blank', rel: 'noreferrer' },
          `${service}:${port}`,
        ),
  );
}

/** The last task, as `berth show` tells it: how it ended, when, its command and its commits. */
function taskText(task) {
  if (!task) return 'none yet';
  const how = task.completedAt
    ? 'completed'
    : task.state === 'finished' && task.exitCode !== null
      ? `exited with ${task.exitCode}`
      : task.state;
  const when = task.state === 'running' ? `started ${ago(task.startedAt)}` : `ended ${ago(task.endedAt)}`;
  const command = task.command ? `: ${task.command.join(' ')}` : '';
  return `${how}, ${when}${command}; ${task.commits} commit(s); on exit: ${task.onExit} -> ${task.result}`;
}

function card(repo, entry) {
  const agent = entry.agent;
  const task = entry.task;
  return h(
    'article',
    { class: 'card', 'data-agent': agent.name },
    h(
      'div',
      { class: 'top' },
      h('a', { class: 'name', href: `#/agent/${repo.id}/${encodeURIComponent(agent.name)}` }, agent.name),
      h(
        'span',
        { class: `badge ${agent.state}` },
        agent.step ? `${agent.state}: ${agent.step}` : agent.state,
      ),
      h(
        'span',
        { class: `badge ${agent.health === 'ok' ? 'healthy' : 'unhealthy'}`, title: 'health' },
        agent.health,
      ),
    ),
    h('div', { class: 'branch mono' }, agent.branch),
    h('div', { class: 'ports' }, portLinks(agent.ports)),
    h('div', { class: 'meta' }, `${expiryText(agent.expiry.expiresAt)} · made ${ago(agent.createdAt)}`),
    h(
      'div',
      { class: 'meta' },
      task
        ? `last task: ${task.state}${task.exitCode === null ? '' : ` (exit ${task.exitCode})`}`
        : 'no task yet',
    ),
  );
}

function renderAgents() {
  const section = $('agents');
  if (!state) return section.replaceChildren(h('p', { class: 'empty' }, 'loading the agents…'));
  const repos = state.repos.map((repo) => {
    const entries = repo.agents.filter((entry) => entry.agent);
    return h(
      'div',
      { class: 'repo' },
      h('h2', {}, repo.name, h('small', {}, repo.root)),
      repo.error ? h('p', { class: 'empty' }, repo.error) : null,
      entries.length === 0
        ? h('p', { class: 'empty' }, 'no agents: berth provision <name> makes one')
        : h(
            'div',
            { class: 'grid' },
            entries.map((entry) => card(repo, entry)),
          ),
    );
  });
  section.replaceChildren(
    ...(repos.length ? repos : [h('p', { class: 'empty' }, 'no repository has agents on this host yet')]),
  );
}

function renderFleet() {
  const fleet = state?.fleet;
  $('tab-fleet').hidden = !fleet;
  if (!fleet) return;
  const section = $('fleet');
  if (fleet.error) return section.replaceChildren(h('p', { class: 'empty' }, fleet.error));
  if (!fleet.status) return section.replaceChildren(h('p', { class: 'empty' }, 'reading the queue…'));
  const { counts, hosts, tasks } = fleet.status;
  const row = (cells) =>
    h(
      'tr',
      {},
      cells.map((cell) => h('td', {}, cell)),
    );
  const head = (cells) =>
    h(
      'tr',
      {},
      cells.map((cell) => h('th', {}, cell)),
    );
  section.replaceChildren(
    h(
      'div',
      { class: 'counts' },
      Object.entries(counts).map(([key, value]) => h('span', { class: 'badge' }, `${key} ${value}`)),
    ),
    h('h3', {}, 'Hosts'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        head(['host', 'slots', 'running', 'seen']),
        hosts.map((host) =>
          row([
            host.name + (host.state && host.state !== 'working' ? ` (${host.state})` : ''),
            String(host.slots),
            host.running.join(', ') || '-',
            ago(host.seenAt),
          ]),
        ),
      ),
    ),
    h('h3', {}, 'Tasks'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        head(['task', 'state', 'host', 'step', 'attempts', 'outcome']),
        tasks.map((task) =>
          row([
            task.name,
            task.stalled ? `${task.state} (stalled)` : task.state,
            task.host ?? '-',
            task.step ?? '-',
            String(task.attempts),
            task.outcome
              ? `exit ${task.outcome.exitCode}, ${task.outcome.commits} commits → ${task.outcome.branch}`
              : (task.failedReason ?? '-'),
          ]),
        ),
      ),
    ),
  );
}

// The open agent: its detail, and the log it follows.
let open;
let logStream;

function closeLog() {
  logStream?.close();
  logStream = undefined;
}

function followLog(source) {
  closeLog();
  const log = $('log');
  log.textContent = '';
  for (const button of $('log-tabs').children)
    button.setAttribute('aria-selected', String(button.dataset.source === source));
  logStream = new EventSource(
    api(`/api/repos/${open.repo}/agents/${encodeURIComponent(open.name)}/logs/${source}`),
  );
  logStream.addEventListener('text', (event) => {
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent = (log.textContent + JSON.parse(event.data)).slice(-200_000);
    if (atEnd) log.scrollTop = log.scrollHeight;
  });
  logStream.addEventListener('failure', (event) => {
    log.textContent = JSON.parse(event.data);
    closeLog();
  });
}

function message(text, kind) {
  const line = $('message');
  line.textContent = text;
  line.className = kind;
}

async function showDetail() {
  const wanted = route();
  const panel = $('detail');
  if (wanted.view !== 'agent') {
    panel.hidden = true;
    open = undefined;
    closeLog();
    return;
  }
  const same = open && open.repo === wanted.repo && open.name === wanted.name;
  open = { repo: wanted.repo, name: wanted.name };
  panel.hidden = false;
  $('detail-title').textContent = wanted.name;
  if (!same) {
    message('', '');
    $('detail-body').replaceChildren(h('p', { class: 'empty' }, 'loading…'));
    $('log-tabs').replaceChildren();
    $('log').textContent = '';
  }
  await refreshDetail(!same);
}

async function refreshDetail(startLog) {
  if (!open) return;
  const { repo, name } = open;
  let detail;
  try {
    detail = await call('GET', `/api/repos/${repo}/agents/${encodeURIComponent(name)}`);
  } catch (error) {
    if (open?.name === name) {
      $('detail-state').textContent = 'gone';
      $('detail-state').className = 'badge missing';
      $('detail-body').replaceChildren(h('p', { class: 'empty' }, error.message));
    }
    return;
  }
  if (open?.name !== name || open.repo !== repo) return;
  const agent = detail.entry.agent;
  $('detail-state').textContent = agent ? agent.state : 'gone';
  $('detail-state').className = `badge ${agent ? agent.state : 'missing'}`;
  const diff = detail.diff;
  const env = detail.env;
  $('detail-body').replaceChildren(
    agent
      ? h(
          'table',
          {},
          [
            ['branch', agent.branch],
            ['base', agent.baseRef],
            ['health', agent.health],
            ['worktree', agent.worktree],
            ['database', agent.urls.database ?? 'none (postgres.enabled is false)'],
            [
              'services',
              Object.entries(agent.services)
                .map(([service, state]) => `${service} ${state}`)
                .join(', '),
            ],
            ...Object.entries(agent.urls)
              .filter(([service]) => service !== 'database' && service !== 'redis')
              .map(([service, url]) => [service, url]),
            ['time to live', expiryText(agent.expiry.expiresAt)],
            ['last task', taskText(detail.entry.task)],
            ...(agent.claude
              ? [['Claude Code', `session ${agent.claude.sessionId} (${agent.claude.kind} worktree)`]]
              : []),
          ].map(([key, value]) => h('tr', {}, h('th', {}, key), h('td', { class: 'mono' }, value))),
        )
      : null,
    h('div', { class: 'ports' }, agent ? portLinks(agent.ports) : []),
    h('h3', {}, 'Commits'),
    diff.error
      ? h('p', { class: 'empty' }, diff.error)
      : h(
          'div',
          {},
          diff.commits.length === 0
            ? h('p', { class: 'empty' }, `no commits on ${diff.branch} yet`)
            : h(
                'ul',
                { class: 'commits' },
                diff.commits.map((c) => h('li', {}, h('code', {}, c.sha.slice(0, 9)), ' ', c.subject)),
              ),
          diff.stat ? h('p', { class: 'mono' }, diff.stat) : null,
        ),
    h('h3', {}, 'Environment'),
    env.error
      ? h('p', { class: 'empty' }, env.error)
      : h(
          'table',
          { class: 'env' },
          Object.entries(env.env).map(([key, value]) =>
            h('tr', {}, h('th', { class: 'mono' }, key), h('td', { class: 'mono' }, value)),
          ),
        ),
  );
  if (startLog && detail.logs.length) {
    $('log-tabs').replaceChildren(
      ...detail.logs.map((source) =>
        h(
          'button',
          { type: 'button', role: 'tab', 'data-source': source, onclick: () => followLog(source) },
          source,
        ),
      ),
    );
    followLog(detail.logs.includes('setup') ? 'setup' : detail.logs[0]);
  }
}

async function act(action, button) {
  if (!open) return;
  const { repo, name } = open;
  if (action === 'teardown') {
    $('confirm-text').textContent =
      `Tear down ${name}? Its containers, network and worktree are removed; its branch is kept. berth refuses while the worktree has uncommitted changes.`;
    const dialog = $('confirm');
    dialog.showModal();
    const choice = await new Promise((resolve) =>
      dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }),
    );
    if (choice !== 'ok') return;
  }
  const buttons = document.querySelectorAll('#detail .actions button');
  for (const b of buttons) b.disabled = true;
  message(`${button.textContent.replace('…', '')}: working…`, '');
  try {
    const { result } = await call('POST', `/api/repos/${repo}/agents/${encodeURIComponent(name)}/${action}`);
    const done = {
      heartbeat: () => `renewed: ${expiryText(result.expiresAt)}`,
      sync: () => 'synced with its base; setup ran again',
      'db-reset': () => 'database reset',
      teardown: () =>
        `torn down${result.savedPatch ? `; uncommitted work saved in ${result.savedPatch}` : ''}`,
    }[action];
    message(done(), 'ok');
    if (action !== 'teardown') await refreshDetail(false);
  } catch (error) {
    message(error.message, 'error');
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

for (const button of document.querySelectorAll('#detail .actions button')) {
  button.addEventListener('click', () => act(button.dataset.action, button));
}

function render() {
  const wanted = route();
  $('agents').hidden = wanted.view === 'fleet';
  $('fleet').hidden = wanted.view !== 'fleet';
  $('tab-agents').toggleAttribute('aria-current', wanted.view !== 'fleet');
  $('tab-fleet').toggleAttribute('aria-current', wanted.view === 'fleet');
  if ($('tab-agents').hasAttribute('aria-current')) $('tab-agents').setAttribute('aria-current', 'page');
  if ($('tab-fleet').hasAttribute('aria-current')) $('tab-fleet').setAttribute('aria-current', 'page');
  renderAgents();
  renderFleet();
}

addEventListener('hashchange', () => {
  render();
  void showDetail();
});
addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && open && !$('confirm').open) location.hash = '#/';
});

const events = new EventSource(api('/api/events'));
events.addEventListener('state', (event) => {
  state = JSON.parse(event.data);
  $('live').textContent = 'live';
  $('live').className = 'live on';
  render();
  if (open) void refreshDetail(false);
});
events.addEventListener('error', () => {
  $('live').textContent = 'reconnecting…';
  $('live').className = 'live';
});
render();
void showDetail();
