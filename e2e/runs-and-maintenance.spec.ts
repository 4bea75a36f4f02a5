/**
 * Runs in the app (issue 5, "App and CLI"): a desktop flow queued on a group waits while a
 * co-owner has the group in maintenance, in the order it will start; a co-owner cancels one;
 * maintenance ends and the run goes to this machine (its agent runs inside the browser-mode
 * host), shows Running with its log followed live, then Succeeded — in the group's Run queue and
 * in this machine's Runs. The machine's owner puts the machine in maintenance. Every new screen
 * and dialog is scanned with axe-core. The flow and its connection are made through the REST API.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, expect, startWorld, type Machine, type World } from './fixtures/runtime.ts';
import { checkScreen } from './pages/checks.ts';
import { MachineGroupsPage } from './pages/machine-groups-page.ts';
import { MachineSettingsPage } from './pages/machine-settings-page.ts';
import { MaintenanceSwitch, RunsView, toastsGone } from './pages/runs-page.ts';
import { AppShell } from './pages/shell.ts';
import { SignInPage, type Account } from './pages/sign-in-page.ts';

const OWNER: Account = { email: 'rita@example.com', password: 'owner password 1', displayName: 'Rita Runner' };
const GROUP = 'Ledger bots';
const MACHINE = 'Ledger PC';
const FLOW = 'Close the ledger';

test.describe.configure({ mode: 'serial' });

let world: World & { close(): Promise<void> };
let pc: Machine;
let token: string;
let groupId: string;
/** Queues a run of the flow on the group; it runs until its gate file exists. */
let queue: (priority: 'High' | 'Normal', gate: string) => Promise<string>;

test.beforeAll(async ({ browser }) => {
  world = await startWorld(browser);
  await world.api('POST', '/setup', { body: OWNER });
  pc = await world.machine('ledger-pc');
  await new SignInPage(pc.page).signIn(OWNER);
  await new MachineSettingsPage(pc.page).register(MACHINE);
  await new AppShell(pc.page).goTo('Machine groups');
  const groups = new MachineGroupsPage(pc.page);
  await groups.create(GROUP, 'Month-end close');
  await groups.joinFirst(GROUP, 'ledger password 1');

  ({ access_token: token } = await world.api<{ access_token: string }>('POST', '/auth/token', {
    body: { grant_type: 'password', email: OWNER.email, password: OWNER.password },
  }));
  const [group] = (await world.api<{ id: string; name: string }[]>('GET', '/machine-groups', { token })).filter((g) => g.name === GROUP);
  groupId = group!.id;
  const connection = await world.api<{ id: string }>('POST', '/connections', {
    token,
    body: { name: 'ledger robot', target: { type: 'MachineGroup', id: group!.id }, username: 'robot', password: 'robot secret 1' },
  });
  const flow = await world.api<{ id: string }>('POST', '/desktop-flows', {
    token,
    body: {
      name: FLOW,
      runtime: 'node',
      script: [
        "import { existsSync, readFileSync } from 'node:fs';",
        "const { gate } = JSON.parse(readFileSync(0, 'utf8'));",
        "console.log('opening the ledger');",
        'while (!existsSync(gate)) await new Promise((r) => setTimeout(r, 50));',
        "console.log('ledger closed');",
      ].join('\n'),
    },
  });
  queue = async (priority, gate) =>
    (
      await world.api<{ id: string }>('POST', '/runs', {
        token,
        body: { desktopFlowId: flow.id, connectionId: connection.id, runMode: 'Unattended', priority, inputs: { gate } },
      })
    ).id;
});

test.afterAll(async () => {
  await world?.close();
});

test.afterEach(() => {
  expect(world.problems(), 'page or console errors').toEqual([]);
});

const gate = (name: string) => path.join(world.root, `gate-${name}`);

test('a co-owner puts the group in maintenance, confirmed with Activate: the group and its machine say so', async () => {
  const groups = new MachineGroupsPage(pc.page);
  const details = await groups.openDetails(GROUP);
  const maintenance = new MaintenanceSwitch(pc.page, details);
  const prompt = await maintenance.openActivation();
  await expect(prompt).toContainText(`No new runs start on the machines of ${GROUP}; running runs finish.`);
  await toastsGone(pc.page);
  await checkScreen(pc.page, 'runs-01-activate-group-maintenance');
  await prompt.getByRole('button', { name: 'Activate' }).click();
  await expect(prompt).toBeHidden();
  await expect(maintenance.control).toBeChecked();
  await new AppShell(pc.page).expectToast(`Maintenance mode is on for ${GROUP}`);
  const machines = details.getByRole('table', { name: `Machines in ${GROUP}` });
  await expect(machines.getByRole('row').filter({ hasText: `${MACHINE} (this machine)` })).toContainText('Maintenance');
  await details.getByRole('button', { name: 'Close', exact: true }).click();
  await expect(groups.row(GROUP)).toContainText('In maintenance');
});

test('queued runs wait for the maintenance, in the order they will start; a co-owner cancels one', async () => {
  await queue('Normal', gate('normal'));
  await queue('High', gate('high'));
  const groups = new MachineGroupsPage(pc.page);
  const details = await groups.openDetails(GROUP);
  const runs = await RunsView.groupQueue(pc.page, details);
  const queued = runs.table('Queued runs');
  await expect(queued.rows).toHaveCount(2);
  // High first although it was queued second; each says why it waits.
  await expect(queued.rows.nth(0)).toContainText('High');
  await expect(queued.rows.nth(1)).toContainText('Normal');
  await expect(queued.rows.nth(0)).toContainText('The target is in maintenance');
  await expect(runs.scope.getByText('No run is running on this group.')).toBeVisible();
  await toastsGone(pc.page);
  await checkScreen(pc.page, 'runs-02-run-queue');

  await queued.row('Normal').getByRole('button', { name: `Cancel the run of ${FLOW}` }).click();
  await new AppShell(pc.page).expectToast(`The run of ${FLOW} was cancelled`);
  await expect(queued.rows).toHaveCount(1);
  await expect(queued.rows.nth(0)).toContainText('High');
  await expect(runs.table('Recently ended runs').row('Cancelled')).toHaveCount(1);
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});

test('maintenance ends: the run starts on this machine, shows Running with its log followed live, then Succeeded', async () => {
  const groups = new MachineGroupsPage(pc.page);
  const details = await groups.openDetails(GROUP);
  await new MaintenanceSwitch(pc.page, details).deactivate();
  await new AppShell(pc.page).expectToast(`Maintenance mode is off for ${GROUP}`);
  const runs = await RunsView.groupQueue(pc.page, details);
  const running = runs.table('Running runs').row(FLOW);
  await expect(running).toContainText('Running');
  await expect(running).toContainText(`On ${MACHINE} (this machine)`);
  await expect(runs.table('Queued runs').table).toHaveCount(0);

  const log = await runs.openLog(running, FLOW);
  await expect(log.lines).toContainText('opening the ledger');
  await expect(log.root).toContainText('Following the log while the run is active');
  await toastsGone(pc.page);
  await checkScreen(pc.page, 'runs-03-run-log-live');
  writeFileSync(gate('high'), '');
  await expect(log.lines).toContainText('ledger closed');
  await expect(log.root).toContainText('Succeeded');
  await log.close();

  await expect(runs.table('Recently ended runs').row('Succeeded')).toContainText(`Ran on ${MACHINE} (this machine)`);
  await expect(runs.scope.getByText('No run is running on this group.')).toBeVisible();
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});

test("this machine's recent runs, with their logs, on Machine settings", async () => {
  await new AppShell(pc.page).goTo('Machine settings');
  const runs = await RunsView.machineRuns(pc.page);
  await expect(runs.scope.getByText('Nothing is running on this machine.')).toBeVisible();
  await toastsGone(pc.page);
  const recent = runs.table('Recent runs on this machine');
  // The cancelled run never reached a machine: only the one that ran here is listed.
  await expect(recent.rows).toHaveCount(1);
  await expect(recent.rows.nth(0)).toContainText('Succeeded');
  await checkScreen(pc.page, 'runs-04-machine-runs');
  const log = await runs.openLog(recent.rows.nth(0), FLOW);
  await expect(log.lines).toContainText('opening the ledger');
  await expect(log.lines).toContainText('ledger closed');
  await checkScreen(pc.page, 'runs-05-run-log');
  await log.close();
});

test("the machine's owner puts it in maintenance: a run waits, the group's details show it, it runs once maintenance ends", async () => {
  const runs = await RunsView.machineRuns(pc.page);
  const maintenance = new MaintenanceSwitch(pc.page, runs.scope);
  const prompt = await maintenance.openActivation();
  await expect(prompt).toContainText(`No new runs start on ${MACHINE}; a running run finishes.`);
  await toastsGone(pc.page);
  await checkScreen(pc.page, 'runs-06-activate-machine-maintenance');
  await prompt.getByRole('button', { name: 'Activate' }).click();
  await expect(prompt).toBeHidden();
  await new AppShell(pc.page).expectToast(`Maintenance mode is on for ${MACHINE}`);
  await expect(runs.scope.getByText('Machine status: Maintenance')).toBeVisible();

  await queue('Normal', gate('third'));
  await new AppShell(pc.page).goTo('Machine groups');
  const details = await new MachineGroupsPage(pc.page).openDetails(GROUP);
  await expect(details.getByRole('table', { name: `Machines in ${GROUP}` }).getByRole('row').filter({ hasText: MACHINE })).toContainText('Maintenance');
  const queue2 = await RunsView.groupQueue(pc.page, details);
  await expect(queue2.table('Queued runs').rows.nth(0)).toContainText('The target is in maintenance');
  await details.getByRole('button', { name: 'Close', exact: true }).click();

  await new AppShell(pc.page).goTo('Machine settings');
  const mine = await RunsView.machineRuns(pc.page);
  await new MaintenanceSwitch(pc.page, mine.scope).deactivate();
  const current = mine.table('Current runs on this machine').row(FLOW);
  await expect(current).toContainText('Running');
  // Its owner may stop it from here.
  await current.getByRole('button', { name: `Cancel the run of ${FLOW}` }).click();
  await new AppShell(pc.page).expectToast(/was cancelled|is being stopped/);
  await expect(mine.table('Recent runs on this machine').rows.nth(0)).toContainText('Cancelled');
  await expect(mine.scope.getByText('Nothing is running on this machine.')).toBeVisible();
});

test('someone with User access sees the queue and the maintenance, but no switch and no Cancel for others\u2019 runs', async () => {
  const colleague: Account = { email: 'uli@example.com', password: 'colleague password 1', displayName: 'Uli User' };
  const user = await world.api<{ id: string }>('POST', '/users', { token, body: { ...colleague, roles: ['MachineUser'] } });
  await world.api('PUT', `/machine-groups/${groupId}/access/${user.id}`, { token, body: { access: 'User' } });
  await world.api('PATCH', `/machine-groups/${groupId}`, { token, body: { maintenance: true } });
  await queue('Normal', gate('fourth'));

  const theirs = await world.machine('uli-pc');
  await new SignInPage(theirs.page).signIn(colleague);
  await new AppShell(theirs.page).goTo('Machine groups');
  const groups = new MachineGroupsPage(theirs.page);
  await expect(groups.cell(GROUP, 'Your access')).toHaveText('User');
  await expect(groups.row(GROUP)).toContainText('In maintenance');
  const details = await groups.openDetails(GROUP);
  await expect(details.getByRole('switch', { name: 'Maintenance mode' })).toHaveCount(0);
  await expect(details.getByRole('definition').filter({ hasText: 'On: no new runs start on its machines' })).toBeVisible();
  const runs = await RunsView.groupQueue(theirs.page, details);
  const queued = runs.table('Queued runs');
  await expect(queued.rows).toHaveCount(1);
  await expect(queued.rows.nth(0)).toContainText('The target is in maintenance');
  await expect(queued.rows.nth(0).getByRole('button', { name: /^Cancel/ })).toHaveCount(0);
  // Logs of runs on a group you can see are readable.
  await runs.openLog(runs.table('Recently ended runs').row('Succeeded').first(), FLOW).then((log) => log.close());
  await toastsGone(theirs.page);
  await checkScreen(theirs.page, 'runs-07-run-queue-as-user');
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});
