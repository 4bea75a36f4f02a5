/**
 * Reordering a group's run queue in the app (the model portal's Run queue tab: Change priority,
 * Move to top) and a run's queue events. A co-owner opens the queue with three runs waiting
 * (the group is in maintenance), raises one to High and moves another to the top, and sees the
 * order and "Next to run" follow; the queue events tell who did what; a run that left the queue
 * meanwhile is refused with a clear message. A User-level member may change the priority of
 * their own run only, and is never offered Move to top. Once maintenance ends, the run at the
 * top starts on the co-owner's machine and its events say where. Every new screen, the open menu
 * and the events dialog are scanned with axe-core. Accounts, the group, flows and runs are made
 * through the REST API (as the owner would elsewhere).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Locator } from '@playwright/test';
import { test, expect, startWorld, type Machine, type World } from './fixtures/runtime.ts';
import { checkScreen } from './pages/checks.ts';
import { MachineGroupsPage } from './pages/machine-groups-page.ts';
import { MachineSettingsPage } from './pages/machine-settings-page.ts';
import { RunsView, toastsGone } from './pages/runs-page.ts';
import { AppShell } from './pages/shell.ts';
import { SignInPage, type Account } from './pages/sign-in-page.ts';

const OWNER: Account = { email: 'rita@example.com', password: 'owner password 1', displayName: 'Rita Runner' };
const CO_OWNER: Account = { email: 'carol@example.com', password: 'co-owner password 1', displayName: 'Carol Coowner' };
const MEMBER: Account = { email: 'uli@example.com', password: 'member password 1', displayName: 'Uli User' };
const GROUP = 'Month-end bots';
const MACHINE = 'Carol PC';
const CLOSE = 'Close the ledger';
const PAY = 'Pay suppliers';
const SEND = 'Send invoices';

test.describe.configure({ mode: 'serial' });

let world: World & { close(): Promise<void> };
let carol: Machine;
let ownerToken: string;
let groupId: string;
const flowIds = new Map<string, string>();
const runIds = new Map<string, string>();
let connectionId: string;

const gate = (name: string) => path.join(world.root, `gate-${name}`);

async function tokenOf(account: Account): Promise<string> {
  const { access_token } = await world.api<{ access_token: string }>('POST', '/auth/token', {
    body: { grant_type: 'password', email: account.email, password: account.password },
  });
  return access_token;
}

async function queue(token: string, flow: string, connection: string, name = flow): Promise<string> {
  const { id } = await world.api<{ id: string }>('POST', '/runs', {
    token,
    body: { desktopFlowId: flowIds.get(flow)!, connectionId: connection, runMode: 'Unattended', priority: 'Normal', inputs: { gate: gate(name) } },
  });
  runIds.set(name, id);
  return id;
}

/** Text that ends with this sentence (an event's time comes first). */
const endsWith = (text: string) => new RegExp(`${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** The flow names of a run table's rows, top to bottom. */
async function order(view: RunsView, table: string): Promise<string[]> {
  return (await view.table(table).rows.locator('td:nth-child(2)').allInnerTexts()).map((t) => t.trim());
}

test.beforeAll(async ({ browser }) => {
  world = await startWorld(browser);
  await world.api('POST', '/setup', { body: OWNER });
  ownerToken = await tokenOf(OWNER);
  const coOwner = await world.api<{ id: string }>('POST', '/users', { token: ownerToken, body: { ...CO_OWNER, roles: ['MachineOwner'] } });
  const member = await world.api<{ id: string }>('POST', '/users', { token: ownerToken, body: { ...MEMBER, roles: ['MachineUser'] } });
  ({ id: groupId } = await world.api<{ id: string }>('POST', '/machine-groups', { token: ownerToken, body: { name: GROUP, description: 'Close, pay, invoice' } }));
  await world.api('PUT', `/machine-groups/${groupId}/access/${coOwner.id}`, { token: ownerToken, body: { access: 'CoOwner' } });
  await world.api('PUT', `/machine-groups/${groupId}/access/${member.id}`, { token: ownerToken, body: { access: 'User' } });
  // Runs wait while the group is in maintenance: the queue can be reordered at leisure.
  await world.api('PATCH', `/machine-groups/${groupId}`, { token: ownerToken, body: { maintenance: true } });

  // The co-owner's machine joins the group: the first machine sets the group password (and its
  // key, which connections are sealed to).
  carol = await world.machine('carol-pc');
  await new SignInPage(carol.page).signIn(CO_OWNER);
  await new MachineSettingsPage(carol.page).register(MACHINE);
  await new AppShell(carol.page).goTo('Machine groups');
  await new MachineGroupsPage(carol.page).joinFirst(GROUP, 'month-end password 1');

  ({ id: connectionId } = await world.api<{ id: string }>('POST', '/connections', {
    token: ownerToken,
    body: { name: 'month-end robot', target: { type: 'MachineGroup', id: groupId }, username: 'robot', password: 'robot secret 1' },
  }));
  for (const name of [CLOSE, PAY, SEND]) {
    const flow = await world.api<{ id: string }>('POST', '/desktop-flows', {
      token: ownerToken,
      body: {
        name,
        runtime: 'node',
        script: [
          "import { existsSync, readFileSync } from 'node:fs';",
          "const { gate } = JSON.parse(readFileSync(0, 'utf8'));",
          'while (!existsSync(gate)) await new Promise((r) => setTimeout(r, 50));',
        ].join('\n'),
      },
    });
    flowIds.set(name, flow.id);
  }
  // Queued in this order, all Normal: they start in this order.
  for (const name of [CLOSE, PAY, SEND]) await queue(ownerToken, name, connectionId);
});

test.afterAll(async () => {
  await world?.close();
});

test.afterEach(() => {
  expect(world.problems(), 'page or console errors').toEqual([]);
});

async function openQueue(machine: Machine): Promise<{ view: RunsView; details: Locator }> {
  await new AppShell(machine.page).goTo('Machine groups');
  const details = await new MachineGroupsPage(machine.page).openDetails(GROUP);
  return { view: await RunsView.groupQueue(machine.page, details), details };
}

test('a co-owner sees the queued runs in the order they will start, the first one marked Next to run', async () => {
  const { view, details } = await openQueue(carol);
  const queued = view.table('Queued runs');
  await expect(queued.rows).toHaveCount(3);
  expect(await order(view, 'Queued runs')).toEqual([CLOSE, PAY, SEND]);
  await expect(queued.rows.nth(0)).toContainText('Next to run');
  await expect(queued.rows.filter({ hasText: 'Next to run' })).toHaveCount(1);
  // A co-owner is offered every queue action on every queued run.
  expect(await view.menuOffers(queued.row(SEND), SEND)).toEqual(['Queue events', 'High priority', 'Normal priority', 'Move to top']);
  await toastsGone(carol.page);
  await checkScreen(carol.page, 'queue-01-run-queue-co-owner');
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});

test('raised to High, a run goes first; moved to the top, another goes ahead of it — the order and Next to run follow at once', async () => {
  const { view, details } = await openQueue(carol);
  const queued = view.table('Queued runs');
  await expect(queued.rows).toHaveCount(3);

  await view.changePriority(queued.row(SEND), SEND, 'High');
  await new AppShell(carol.page).expectToast(`${SEND} is now High priority and next to run`);
  await expect.poll(() => order(view, 'Queued runs')).toEqual([SEND, CLOSE, PAY]);
  await expect(queued.rows.nth(0)).toContainText('Next to run');
  await expect(queued.rows.nth(0)).toContainText('High');

  // The menu open, as a keyboard or screen reader user meets it.
  const menu = await view.openMenu(queued.row(PAY), PAY);
  await expect(menu.getByRole('menuitemradio', { name: 'Normal priority' })).toBeChecked();
  await toastsGone(carol.page);
  await checkScreen(carol.page, 'queue-02-run-menu');
  await menu.getByRole('menuitem', { name: 'Move to top' }).click();
  await new AppShell(carol.page).expectToast(`${PAY} was moved to the top of the queue`);
  await expect.poll(() => order(view, 'Queued runs')).toEqual([PAY, SEND, CLOSE]);
  const top = queued.rows.nth(0);
  await expect(top).toContainText('Next to run');
  await expect(top).toContainText('Moved to top');
  await expect(queued.rows.filter({ hasText: 'Next to run' })).toHaveCount(1);
  await expect(queued.rows.nth(1)).not.toContainText('Next to run');
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});

test("a run's queue events say who queued it, who moved it and when", async () => {
  const { view, details } = await openQueue(carol);
  const events = await view.openEvents(view.table('Queued runs').row(PAY), PAY);
  await expect(events.root).toContainText('Next to run');
  await expect(events.events).toHaveText([`Queued by ${OWNER.displayName} (Normal)`, `Moved to top by ${CO_OWNER.displayName}`].map(endsWith));
  // Each event has its time.
  await expect(events.events.first().locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);
  await toastsGone(carol.page);
  await checkScreen(carol.page, 'queue-03-queue-events');
  await events.close();
  const raised = await view.openEvents(view.table('Queued runs').row(SEND), SEND);
  await expect(raised.events.nth(1)).toContainText(`Priority changed to High by ${CO_OWNER.displayName}`);
  await raised.close();
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});

test('a run that left the queue meanwhile cannot be reordered: a clear message, and the queue is read again', async () => {
  const { view, details } = await openQueue(carol);
  const queued = view.table('Queued runs');
  const menu = await view.openMenu(queued.row(CLOSE), CLOSE);
  // Someone cancels it while the menu is open.
  await world.api('POST', `/runs/${runIds.get(CLOSE)}/cancel`, { token: ownerToken });
  await menu.getByRole('menuitemradio', { name: 'High priority' }).click();
  const alert = view.scope.getByRole('alert').filter({ hasText: `Could not change the priority of ${CLOSE}` });
  await expect(alert).toContainText('The run is no longer waiting in the queue');
  await expect(queued.rows).toHaveCount(2);
  await expect(view.table('Recently ended runs').row(CLOSE)).toContainText('Cancelled');
  await toastsGone(carol.page);
  await checkScreen(carol.page, 'queue-04-run-not-queued');
  await alert.getByRole('button', { name: 'Dismiss the message' }).click();
  await expect(alert).toHaveCount(0);
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});

test('a member with User access changes the priority of their own run only, and is never offered Move to top', async () => {
  const memberToken = await tokenOf(MEMBER);
  const { id: theirConnection } = await world.api<{ id: string }>('POST', '/connections', {
    token: memberToken,
    body: { name: 'uli robot', target: { type: 'MachineGroup', id: groupId }, username: 'uli-robot', password: 'robot secret 2' },
  });
  await queue(memberToken, CLOSE, theirConnection, 'uli');

  const uli = await world.machine('uli-pc');
  await new SignInPage(uli.page).signIn(MEMBER);
  const { view, details } = await openQueue(uli);
  const queued = view.table('Queued runs');
  await expect(queued.rows).toHaveCount(3);
  expect(await order(view, 'Queued runs')).toEqual([PAY, SEND, CLOSE]);
  // Others' runs: only their queue events, no Cancel.
  expect(await view.menuOffers(queued.row(PAY), PAY)).toEqual(['Queue events']);
  await expect(queued.row(PAY).getByRole('button', { name: /^Cancel/ })).toHaveCount(0);
  // Their own run: Change priority and Cancel, but not Move to top.
  const mine = queued.row(CLOSE);
  expect(await view.menuOffers(mine, CLOSE)).toEqual(['Queue events', 'High priority', 'Normal priority']);
  await expect(mine.getByRole('button', { name: `Cancel the run of ${CLOSE}` })).toBeVisible();

  await view.changePriority(mine, CLOSE, 'High');
  await new AppShell(uli.page).expectToast(`${CLOSE} is now High priority`);
  // High, but queued after the other High run, and behind the run moved to the top.
  await expect(queued.row(CLOSE)).toContainText('High');
  expect(await order(view, 'Queued runs')).toEqual([PAY, SEND, CLOSE]);
  await toastsGone(uli.page);
  await checkScreen(uli.page, 'queue-05-run-queue-member');
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});

test("maintenance ends: the run at the top starts on the co-owner's machine, and its events follow it to the end", async () => {
  await world.api('PATCH', `/machine-groups/${groupId}`, { token: ownerToken, body: { maintenance: false } });
  const { view, details } = await openQueue(carol);
  const running = view.table('Running runs').row(PAY);
  await expect(running).toContainText(`On ${MACHINE} (this machine)`);
  const events = await view.openEvents(running, PAY);
  await expect(events.events.nth(2)).toContainText(`Starting on ${MACHINE} (attempt 1)`);
  await expect(events.events.nth(3)).toContainText(`Started on ${MACHINE}`);
  writeFileSync(gate(PAY), '');
  await expect(events.events.nth(4)).toContainText('Finished: Succeeded');
  await events.close();
  // Next: the High run queued first.
  await expect(view.table('Running runs').row(SEND)).toBeVisible();
  for (const name of [SEND, 'uli']) writeFileSync(gate(name), '');
  await details.getByRole('button', { name: 'Close', exact: true }).click();
});
