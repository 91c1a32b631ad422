#!/usr/bin/env node
/**
 * End-to-end test of the web console in a real browser: playwright-core driving the OS's Chromium, headless.
 * It starts nothing but the browser: the console must already run (the Python test starts it with an admin).
 *
 *   CONSOLE_URL=http://127.0.0.1:8080 CONSOLE_USER=admin CONSOLE_PASSWORD=... npm run e2e
 *
 * Optional: CHROMIUM (default /usr/bin/chromium), E2E_SCREENSHOTS (default e2e/screenshots),
 * E2E_DATASET (default the repository's data/medical_sft_sample.json), E2E_JOB_TIMEOUT_S (default 900),
 * E2E_PHASE (`main`, the default, or `after-restart`), E2E_STATE (default E2E_SCREENSHOTS/state.json).
 *
 * Phase `main`: sign in; upload a dataset and see its preview; create an SFT job on the embedded model and watch it
 * reach COMPLETED with points on the loss chart; reload the page (the state is in the URL and on the server); serve
 * the embedded model with that job's adapter (a serve job), ask both the same question in the chat playground and
 * see both answers side by side, then stop the server; start a second, longer job and stop it (STOPPED); see the
 * jobs list and the dashboard; start a third long job and leave it RUNNING. What was made (names, job ids, chart points) goes to E2E_STATE.
 * Phase `after-restart` (run after the console was stopped and started again on the same data folder, in a new
 * browser): sign in again and find everything: the dataset and its preview, the COMPLETED job with the same loss
 * chart, its status history and log, its adapter among the models, the STOPPED job, the third job still RUNNING
 * (re-attached, its chart still growing), then stop it; the dashboard counts them.
 * A screenshot is taken at each step; on failure, failure-PHASE.png and the page's console messages. Exit status 0 when
 * every step passed.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..', '..', '..', '..');
const baseUrl = (process.env.CONSOLE_URL || '').replace(/\/+$/, '');
const user = process.env.CONSOLE_USER;
const password = process.env.CONSOLE_PASSWORD;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shotsDir = resolve(process.env.E2E_SCREENSHOTS || join(here, 'screenshots'));
const datasetFile = resolve(process.env.E2E_DATASET || join(repoRoot, 'data', 'medical_sft_sample.json'));
const jobTimeoutMs = Number(process.env.E2E_JOB_TIMEOUT_S || 900) * 1000;
const phase = process.env.E2E_PHASE || 'main';
const statePath = resolve(process.env.E2E_STATE || join(shotsDir, 'state.json'));

function fail(message) {
  console.error(`e2e: ${message}`);
  process.exit(2);
}

if (!baseUrl || !user || !password) fail('set CONSOLE_URL, CONSOLE_USER and CONSOLE_PASSWORD (a running console and one of its users).');
if (!existsSync(executablePath)) fail(`no Chromium at ${executablePath}: install it (apt-get install -y chromium) or set CHROMIUM.`);
if (!existsSync(datasetFile)) fail(`no dataset file ${datasetFile} (set E2E_DATASET).`);
if (!['main', 'after-restart'].includes(phase)) fail(`E2E_PHASE is "${phase}": use main or after-restart.`);
if (phase === 'after-restart' && !existsSync(statePath)) fail(`no ${statePath}: run the main phase first (it writes it).`);
mkdirSync(shotsDir, { recursive: true });
// this run's screenshots only: the main phase clears the folder, the later phase adds its own
if (phase === 'main') for (const name of readdirSync(shotsDir)) if (/\.(png|log)$/.test(name)) rmSync(join(shotsDir, name));

/** What the main phase made, for the after-restart phase to find again. */
const made = phase === 'main' ? { stamp: Date.now().toString(36) } : JSON.parse(readFileSync(statePath, 'utf8'));
const stamp = made.stamp;
const datasetName = `e2e_sft_${stamp}`;
const started = Date.now();
const consoleMessages = [];
let page;
let stepName = 'start';

function log(message) {
  console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}`);
}

async function step(name, body) {
  stepName = name;
  log(`${name} …`);
  await body();
  log(`${name}: ok`);
}

async function shot(name) {
  await page.waitForTimeout(300); // let charts and transitions settle
  const path = join(shotsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  log(`screenshot ${path}`);
}

/** Fill an input by its data-testid (on the input itself or on a wrapper around it). */
async function fillField(testId, value) {
  const element = page.locator(`[data-testid="${testId}"]`).first();
  const tag = await element.evaluate((node) => node.tagName);
  const target = tag === 'INPUT' || tag === 'TEXTAREA' ? element : element.locator('input, textarea').first();
  await target.fill(String(value));
}

async function jobStatus() {
  return page.locator('[data-testid="job-detail"]').getAttribute('data-status');
}

async function waitForStatus(wanted, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    const status = await jobStatus().catch(() => null);
    if (status !== last) {
      log(`  status ${status}`);
      last = status;
    }
    if (wanted.includes(status)) return status;
    if (status === 'FAILED' && !wanted.includes('FAILED')) {
      const error = await page.locator('[data-testid="job-error"]').innerText().catch(() => '');
      throw new Error(`the job FAILED:\n${error}`);
    }
    await page.waitForTimeout(1000);
  }
  throw new Error(`the job did not become ${wanted.join(' or ')} within ${timeoutMs / 1000} s (last: ${last})`);
}

async function createTrainJob({ name, maxSteps, shotName }) {
  await page.goto(`${baseUrl}/jobs/new?kind=train&dataset=${encodeURIComponent(datasetName)}&model=embedded`);
  await page.locator('[data-testid="job-create"]').waitFor();
  await fillField('field-name', name);
  await fillField('field-model', 'embedded');
  await fillField('field-template', 'shuzhiqihuang');
  await page.locator('[data-testid="field-length-mode"] label', { has: page.locator('input[value="steps"]') }).click();
  await fillField('field-max_steps', maxSteps);
  await fillField('field-cutoff_len', 128);
  await fillField('field-logging_steps', 1);
  await fillField('field-per_device_train_batch_size', 2);
  await fillField('field-learning_rate', 0.002);
  await fillField('field-advanced', 'save_steps: 1000\n');
  if (shotName) await shot(shotName);
  await page.locator('[data-testid="job-submit"]').click();
  await page.waitForURL(/\/jobs\/\d+$/, { timeout: 30000 }).catch(async (error) => {
    const alert = await page.locator('[data-testid="error-alert"]').innerText().catch(() => '');
    throw new Error(`the job was not created: ${alert || error.message}`);
  });
  const id = Number(new URL(page.url()).pathname.split('/').pop());
  await page.locator('[data-testid="job-detail"]').waitFor();
  log(`  job #${id} created`);
  return id;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Chromium's sandbox needs user namespaces, which a root user in a container usually lacks
  args: typeof process.getuid === 'function' && process.getuid() === 0 ? ['--no-sandbox'] : [],
});

/** Phase `main`: make everything, leave a third job RUNNING, and write down what was made. */
async function mainPhase() {
await step('upload a dataset and see its preview', async () => {
  await page.goto(`${baseUrl}/datasets`);
  await fillField('dataset-name', datasetName);
  await page.locator('input[type=file]').setInputFiles(datasetFile);
  await page.waitForURL(/\/datasets\/\d+/, { timeout: 60000 }).catch(async (error) => {
    const alert = await page.locator('[data-testid="error-alert"]').innerText().catch(() => '');
    throw new Error(`the upload failed: ${alert || error.message}`);
  });
  await page.locator('[data-testid="seg-learned"]').first().waitFor({ timeout: 120000 });
  await page.locator('[data-testid="seg-masked"]').first().waitFor();
  await page.locator('[data-testid="token-stats"]').waitFor();
  const rows = await page.locator('[data-testid="preview-row"]').count();
  if (rows < 1) throw new Error('the preview shows no rows');
  log(`  preview: ${rows} rows`);
  await shot('02-dataset-preview');
  await page.goto(`${baseUrl}/datasets`);
  await page.getByText(datasetName).first().waitFor();
  await shot('03-datasets');
});

let firstJob;
await step('train on the embedded model to COMPLETED, with a live loss chart', async () => {
  firstJob = await createTrainJob({ name: `e2e-sft-${stamp}`, maxSteps: 6, shotName: '04-job-create' });
  await waitForStatus(['RUNNING', 'COMPLETED'], jobTimeoutMs);
  await waitForStatus(['COMPLETED'], jobTimeoutMs);
  const chart = page.locator('[data-testid="loss-chart"]');
  await chart.waitFor({ timeout: 30000 });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points') ?? 0) >= 2, null, { timeout: 30000 });
  const points = Number(await chart.getAttribute('data-points'));
  const dots = await chart.locator('.recharts-line-dot, .recharts-dot').count();
  if (dots < 1) throw new Error('the loss chart draws no points');
  log(`  loss chart: ${points} points, ${dots} dots drawn`);
  await page.locator('[data-testid="status-history"]').waitFor();
  Object.assign(made, { firstJob, firstJobName: `e2e-sft-${stamp}`, firstJobPoints: points });
  await shot('05-job-completed');
});

await step('the log viewer, and a reload keeps the page (state in the URL)', async () => {
  await page.goto(`${baseUrl}/jobs/${firstJob}?tab=logs`);
  await page.locator('[data-testid="log-line"]').first().waitFor();
  const total = await page.locator('[data-testid="log-line"]').count();
  await fillField('log-search', 'loss');
  await page.waitForURL(/q=loss/);
  await page.reload();
  await page.locator('[data-testid="log-viewer"]').waitFor();
  if (!page.url().includes('tab=logs') || !page.url().includes('q=loss')) throw new Error(`the reload lost the state: ${page.url()}`);
  await page.locator('[data-testid="log-match"]').first().waitFor();
  const matches = await page.locator('[data-testid="log-line"]').count();
  const texts = await page.locator('[data-testid="log-line"]').allInnerTexts();
  if (!texts.every((text) => text.toLowerCase().includes('loss'))) throw new Error('the search shows lines without "loss"');
  log(`  log: ${total} lines, ${matches} with "loss" after the reload`);
  await shot('06-job-logs');
});

await step('the chat playground: the base and the tuned adapter answer the same question side by side', async () => {
  const adapterName = `e2e-sft-${stamp}`;
  await page.goto(`${baseUrl}/jobs/new?kind=serve`);
  await page.locator('[data-testid="job-create"]').waitFor();
  await fillField('field-name', `e2e-serve-${stamp}`);
  await fillField('field-model', 'embedded');
  await fillField('field-template', 'shuzhiqihuang');
  await page.locator('[data-testid="field-adapters"]').click();
  await page.locator('.ant-select-item-option', { hasText: `${adapterName} (` }).first().click();
  await page.keyboard.press('Escape');
  await fillField('field-max_new_tokens', 24);
  await page.locator('[data-testid="job-submit"]').click();
  await page.waitForURL(/\/jobs\/\d+$/, { timeout: 30000 });
  const serveJob = Number(new URL(page.url()).pathname.split('/').pop());
  log(`  serve job #${serveJob} created`);
  await waitForStatus(['RUNNING'], jobTimeoutMs);
  await page.locator('[data-testid="job-open-playground"]').click();
  await page.waitForURL(/\/playground\?job=\d+/);
  await page.locator('[data-testid="playground"]').waitFor();
  // the server loads its model, then the input opens (the page polls the server's state)
  await page.locator('[data-testid="playground-input"]:not([disabled])').waitFor({ timeout: 240000 });
  const left = await page.locator('[data-testid="playground-model-left"]').innerText();
  const right = await page.locator('[data-testid="playground-model-right"]').innerText();
  if (!left.includes('embedded') || !right.includes(adapterName)) throw new Error(`the panes show ${left} | ${right}, not the base and ${adapterName}`);
  await fillField('playground-input', '头痛发热怎么办？');
  await page.locator('[data-testid="playground-send"]').click();
  for (const side of ['left', 'right']) {
    const answer = page.locator(`[data-testid="playground-pane-${side}"] [data-testid="playground-answer"]`).first();
    await answer.waitFor({ timeout: 240000 });
    if (!(await answer.innerText()).trim()) throw new Error(`the ${side} pane's answer is empty`);
  }
  const errors = await page.locator('[data-testid="playground-error"]').count();
  if (errors) throw new Error(`${errors} pane(s) show an error`);
  log(`  playground: ${left.trim()} | ${right.trim()} both answered`);
  await shot('16-playground');
  await page.goto(`${baseUrl}/jobs/${serveJob}`);
  await page.locator('[data-testid="job-stop"]').click();
  await page.locator('.ant-popconfirm .ant-btn-primary, .ant-popover .ant-btn-primary').first().click();
  await waitForStatus(['STOPPED'], 120000);
  made.serveJob = serveJob;
});

await step('a second, longer job: its loss chart grows while it runs, then stop it', async () => {
  made.stoppedJob = await createTrainJob({ name: `e2e-sft-long-${stamp}`, maxSteps: 100000 });
  await waitForStatus(['RUNNING'], jobTimeoutMs);
  // the live chart: points appear while the job runs, without reloading the page
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points') ?? 0) >= 3, null, { timeout: jobTimeoutMs });
  const before = Number(await page.locator('[data-testid="loss-chart"]').getAttribute('data-points'));
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points') ?? 0) > n, before, { timeout: 120000 });
  log(`  live loss chart: ${before} → ${await page.locator('[data-testid="loss-chart"]').getAttribute('data-points')} points while RUNNING`);
  await shot('07-job-running');
  await page.locator('[data-testid="job-stop"]').click();
  await page.locator('.ant-popconfirm .ant-btn-primary, .ant-popover .ant-btn-primary').first().click();
  await waitForStatus(['STOPPED'], 120000);
  await page.waitForTimeout(3500); // the toasts fade
  await shot('08-job-stopped');
});

await step('the jobs list', async () => {
  await page.goto(`${baseUrl}/jobs`);
  await page.locator('[data-testid="status-tag"][data-status="COMPLETED"]').first().waitFor();
  await page.locator('[data-testid="status-tag"][data-status="STOPPED"]').first().waitFor();
  await shot('09-jobs');
});

await step('the dashboard', async () => {
  await page.goto(`${baseUrl}/`);
  await page.locator('[data-testid="dashboard"]').waitFor();
  await page.locator('[data-testid="system-load"] .ant-progress').first().waitFor();
  await page.getByText(`e2e-sft-${stamp}`).first().waitFor();
  await shot('10-dashboard');
});

await step('the English interface', async () => {
  await page.locator('[data-testid="lang-switch"]').click();
  await page.getByText('Recent jobs').waitFor();
  await shot('11-dashboard-en');
  await page.locator('[data-testid="lang-switch"]').click(); // back to Chinese for whoever looks next
});

await step('a third job, left RUNNING while the console restarts', async () => {
  made.runningJob = await createTrainJob({ name: `e2e-sft-restart-${stamp}`, maxSteps: 100000 });
  await waitForStatus(['RUNNING'], jobTimeoutMs);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points') ?? 0) >= 2, null, { timeout: jobTimeoutMs });
  made.runningJobPoints = Number(await page.locator('[data-testid="loss-chart"]').getAttribute('data-points'));
  writeFileSync(statePath, JSON.stringify(made, null, 2) + '\n');
  log(`  job #${made.runningJob} RUNNING with ${made.runningJobPoints} points; state in ${statePath}`);
});
}

/** The number of points the loss chart of the open job page shows, once it shows at least `atLeast`. */
async function chartPoints(atLeast, timeoutMs = 60000) {
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points') ?? 0) >= n, atLeast, { timeout: timeoutMs });
  return Number(await page.locator('[data-testid="loss-chart"]').getAttribute('data-points'));
}

/** The statuses of the open job's history, oldest first (data-status: independent of the interface's language). */
async function historyStatuses() {
  return page.locator('[data-testid="status-history"] [data-testid="status-tag"]').evaluateAll((tags) => tags.map((tag) => tag.getAttribute('data-status')));
}

/** Phase `after-restart`: a new browser against the restarted console finds everything the main phase made. */
async function afterRestartPhase() {
  await step('after the restart: the dataset and its preview', async () => {
    await page.goto(`${baseUrl}/datasets`);
    await page.getByRole('link', { name: datasetName }).first().click();
    await page.waitForURL(/\/datasets\/\d+/);
    await page.locator('[data-testid="seg-learned"]').first().waitFor({ timeout: 120000 });
    await page.locator('[data-testid="token-stats"]').waitFor();
    log(`  preview: ${await page.locator('[data-testid="preview-row"]').count()} rows`);
  });

  await step('after the restart: the jobs keep their states', async () => {
    await page.goto(`${baseUrl}/jobs`);
    const table = page.locator('[data-testid="jobs-table"]');
    for (const [id, status] of [[made.firstJob, 'COMPLETED'], [made.stoppedJob, 'STOPPED'], [made.runningJob, 'RUNNING']]) {
      const row = table.locator('tr', { has: page.locator(`a[href="/jobs/${id}"]`) }).first();
      await row.locator(`[data-testid="status-tag"][data-status="${status}"]`).waitFor();
      log(`  job #${id}: ${status}`);
    }
    await shot('12-jobs-after-restart');
  });

  await step('after the restart: the completed job, its loss chart, history and log', async () => {
    await page.goto(`${baseUrl}/jobs/${made.firstJob}`);
    await waitForStatus(['COMPLETED'], 30000);
    const points = await chartPoints(1);
    if (points !== made.firstJobPoints) throw new Error(`the loss chart has ${points} points after the restart, ${made.firstJobPoints} before`);
    const history = await historyStatuses();
    for (const status of ['PENDING', 'RUNNING', 'COMPLETED']) if (!history.includes(status)) throw new Error(`the status history lacks ${status}: ${history}`);
    await shot('13-job-after-restart');
    await page.goto(`${baseUrl}/jobs/${made.firstJob}?tab=logs`);
    await page.locator('[data-testid="log-line"]').first().waitFor();
    log(`  ${points} loss points, ${await page.locator('[data-testid="log-line"]').count()} log lines`);
  });

  await step("after the restart: the completed job's adapter is among the models", async () => {
    await page.goto(`${baseUrl}/models`);
    await page.getByText(made.firstJobName, { exact: true }).first().waitFor();
  });

  await step('after the restart: the job that ran through it is re-attached, still training, and stops', async () => {
    await page.goto(`${baseUrl}/jobs/${made.runningJob}`);
    await waitForStatus(['RUNNING'], 30000);
    const before = await chartPoints(made.runningJobPoints);
    const after = await chartPoints(before + 1, 120000); // new steps keep arriving: the process was not restarted
    const history = await historyStatuses();
    if (history.filter((status) => status === 'RUNNING').length !== 1) throw new Error(`the job was started again instead of re-attached: ${history}`);
    log(`  loss chart ${made.runningJobPoints} (before the restart) → ${before} → ${after} points`);
    await shot('14-job-reattached');
    await page.locator('[data-testid="job-stop"]').click();
    await page.locator('.ant-popconfirm .ant-btn-primary, .ant-popover .ant-btn-primary').first().click();
    await waitForStatus(['STOPPED'], 120000);
  });

  await step('after the restart: the dashboard counts them', async () => {
    await page.goto(`${baseUrl}/`);
    await page.locator('[data-testid="dashboard"]').waitFor();
    await page.getByText(made.firstJobName).first().waitFor();
    await page.waitForTimeout(3500); // the toasts fade
    await shot('15-dashboard-after-restart');
  });
}

let failed = null;
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', deviceScaleFactor: 1 });
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.on('console', (message) => consoleMessages.push(`[${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => consoleMessages.push(`[pageerror] ${error.message}`));

  await step('sign in', async () => {
    await page.goto(`${baseUrl}/login`);
    await page.locator('[data-testid="login-form"]').waitFor();
    await fillField('login-username', user);
    if (phase === 'main') {
      await fillField('login-password', `${password}-wrong`);
      await page.locator('[data-testid="login-submit"]').click();
      await page.locator('[data-testid="login-error"]').waitFor(); // a wrong password is refused, with a message
    }
    await fillField('login-password', password);
    if (phase === 'main') await shot('01-login');
    await page.locator('[data-testid="login-submit"]').click();
    await page.locator('[data-testid="dashboard"]').waitFor();
  });

  if (phase === 'main') await mainPhase();
  else await afterRestartPhase();
} catch (error) {
  failed = error;
  console.error(`e2e: step "${stepName}" failed: ${error?.stack || error}`);
  if (page) {
    await page.screenshot({ path: join(shotsDir, `failure-${phase}.png`), fullPage: true }).catch(() => undefined);
    console.error(`e2e: page ${page.url()}; screenshot ${join(shotsDir, `failure-${phase}.png`)}`);
  }
} finally {
  writeFileSync(join(shotsDir, `browser-console-${phase}.log`), consoleMessages.join('\n') + '\n');
  await browser.close();
}

if (failed) process.exit(1);
log(`phase ${phase}: all steps passed; screenshots in ${shotsDir}`);
