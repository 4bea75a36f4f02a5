/**
 * Keyboard-only use (issue 4): a person without a mouse reaches Machine groups, creates a group
 * and opens its Join dialog and menu with Tab, Shift+Tab, Enter, Space, Escape and typing, and
 * focus always lands where they expect: in a dialog's first field when it opens, back on the
 * button that opened it when it closes.
 */
import type { Locator, Page } from '@playwright/test';
import { test, expect, startWorld, type Machine, type World } from './fixtures/runtime.ts';
import { MachineGroupsPage } from './pages/machine-groups-page.ts';
import { MachineSettingsPage } from './pages/machine-settings-page.ts';
import { SignInPage, type Account } from './pages/sign-in-page.ts';

const OWNER: Account = { email: 'kim@example.com', password: 'owner password 1', displayName: 'Kim Keys' };
const GROUP = 'Keyboard bots';

test.describe.configure({ mode: 'serial' });

let world: World & { close(): Promise<void> };
let pc: Machine;

test.beforeAll(async ({ browser }) => {
  world = await startWorld(browser);
  await world.api('POST', '/setup', { body: OWNER });
  pc = await world.machine('keyboard-pc');
  await new SignInPage(pc.page).signIn(OWNER);
  await new MachineSettingsPage(pc.page).register('Keyboard PC');
});

test.afterAll(async () => {
  await world?.close();
});

test.afterEach(() => {
  expect(world.problems(), 'page or console errors').toEqual([]);
});

/** Presses Tab (or Shift+Tab) until `target` has the focus, as a keyboard user moves through the page. */
async function tabTo(page: Page, target: Locator, options: { backwards?: boolean; max?: number } = {}): Promise<void> {
  const key = options.backwards ? 'Shift+Tab' : 'Tab';
  for (let i = 0; i < (options.max ?? 40); i++) {
    await page.keyboard.press(key);
    if (await target.evaluate((element) => element === document.activeElement).catch(() => false)) return;
  }
  const focused = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 160) ?? 'nothing');
  throw new Error(`${key} never reached ${target.toString()}; focus is on ${focused}`);
}

test('keyboard only: create a group, open its Join dialog and its menu; focus goes where expected', async () => {
  const page = pc.page;
  const groups = new MachineGroupsPage(page);

  // Tab through the navigation, Enter opens a page.
  // A fresh load: focus starts at the top of the window, before the navigation.
  const nav = page.getByRole('navigation', { name: 'Main' });
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Machine settings' })).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(nav.getByRole('button', { name: 'Machine settings' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(nav.getByRole('button', { name: 'Machine groups' })).toBeFocused();
  await page.keyboard.press('Enter');
  await groups.expectShown();

  // Create a new group: Space opens the dialog with the focus in its first field.
  const create = page.getByRole('button', { name: 'Create a new group' });
  await tabTo(page, create);
  await page.keyboard.press('Space');
  const dialog = groups.dialog('Create a new group');
  await expect(dialog).toBeVisible();
  const name = dialog.getByRole('textbox', { name: 'Name' });
  await expect(name).toBeFocused();
  await page.keyboard.type(GROUP);
  await page.keyboard.press('Tab');
  await expect(dialog.getByRole('textbox', { name: 'Description' })).toBeFocused();
  await page.keyboard.type('Made without a mouse');
  await page.keyboard.press('Shift+Tab');
  await expect(name).toBeFocused();
  // Enter in a field submits the form.
  await page.keyboard.press('Enter');
  await expect(dialog).toBeHidden();
  await expect(groups.row(GROUP)).toBeVisible();
  await expect(create).toBeFocused();

  // Join: Enter on the row's Join button opens the dialog on its first field; Escape closes it
  // without joining, and the focus is back on Join.
  const join = groups.row(GROUP).getByRole('button', { name: `Join ${GROUP}` });
  await tabTo(page, join);
  await page.keyboard.press('Enter');
  const joinDialog = groups.dialog(`Add this machine to ${GROUP}`);
  await expect(joinDialog).toBeVisible();
  const password = joinDialog.getByRole('textbox', { name: 'New password' });
  await expect(password).toBeFocused();
  await page.keyboard.type('keyboard password 1');
  await page.keyboard.press('Tab');
  await expect(joinDialog.getByRole('textbox', { name: 'Confirm password' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(joinDialog).toBeHidden();
  await expect(join).toBeFocused();
  await expect(groups.row(GROUP)).not.toHaveAttribute('aria-current', 'true');

  // The group's menu: Enter opens it on its first item, arrows move, Escape returns to the button.
  const more = groups.row(GROUP).getByRole('button', { name: `More actions for ${GROUP}` });
  await tabTo(page, more);
  await page.keyboard.press('Enter');
  const menu = page.getByRole('menu');
  await expect(menu.getByRole('menuitem', { name: 'View details' })).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(menu.getByRole('menuitem').nth(1)).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(menu).toBeHidden();
  await expect(more).toBeFocused();

  // And back: Shift+Tab reaches Join again.
  await tabTo(page, join, { backwards: true, max: 5 });
});
