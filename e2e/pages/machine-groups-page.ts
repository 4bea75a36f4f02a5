/** Machine groups: the list, its row actions and menu, and the dialogs they open. */
import { expect, type Locator, type Page } from '@playwright/test';

/** The list's columns, in order (the last one holds the actions). */
const COLUMNS = ['Name', 'Description', 'Machines', 'Running', 'Queued', 'Your access', 'Owner'] as const;
export type Column = (typeof COLUMNS)[number];

export type GroupMenuItem = 'View details' | 'Edit group password' | 'Manage access' | 'Edit details' | 'Leave group' | 'Delete';

export class MachineGroupsPage {
  constructor(readonly page: Page) {}

  get list(): Locator {
    return this.page.getByRole('table', { name: 'Machine groups' });
  }

  async expectShown(): Promise<void> {
    await expect(this.page.getByRole('heading', { level: 1, name: 'Machine groups' })).toBeVisible();
    await expect(this.list).toBeVisible();
  }

  row(group: string): Locator {
    return this.list.getByRole('row').filter({ has: this.page.getByRole('button', { name: group, exact: true }) });
  }

  cell(group: string, column: Column): Locator {
    return this.row(group).getByRole('cell').nth(COLUMNS.indexOf(column));
  }

  async refresh(): Promise<void> {
    await this.page.getByRole('button', { name: 'Refresh' }).click();
  }

  dialog(title: string | RegExp): Locator {
    return this.page.getByRole('dialog', { name: title });
  }

  // ── create ──

  async create(name: string, description = ''): Promise<void> {
    await this.page.getByRole('button', { name: 'Create a new group' }).click();
    const dialog = this.dialog('Create a new group');
    await dialog.getByRole('textbox', { name: 'Name' }).fill(name);
    if (description) await dialog.getByRole('textbox', { name: 'Description' }).fill(description);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect(dialog).toBeHidden();
    await expect(this.row(name)).toBeVisible();
  }

  // ── join / change group / leave ──

  /** Opens the Join dialog of a group (title "Add this machine to …" or "Change machine group"). */
  async openJoin(group: string): Promise<Locator> {
    await this.row(group).getByRole('button', { name: `Join ${group}` }).click();
    const dialog = this.page.getByRole('dialog');
    await expect(dialog).toBeVisible();
    return dialog;
  }

  /** The first machine of a group creates its password (with confirmation and the warning). */
  async joinFirst(group: string, password: string): Promise<void> {
    const dialog = await this.openJoin(group);
    await expect(dialog).toHaveAccessibleName(`Add this machine to ${group}`);
    await expect(dialog.getByText('This group has no password yet')).toBeVisible();
    await expect(dialog.getByText('it cannot be recovered')).toBeVisible();
    await dialog.getByRole('textbox', { name: 'New password' }).fill(password);
    await dialog.getByRole('textbox', { name: 'Confirm password' }).fill(password);
    await dialog.getByRole('button', { name: 'Add machine' }).click();
    await expect(dialog).toBeHidden();
    await this.expectCurrent(group);
  }

  /** Types the group password into an open Join dialog and submits it. */
  async submitPassword(dialog: Locator, password: string, submit: 'Add machine' | 'Change group' = 'Add machine'): Promise<void> {
    await dialog.getByRole('textbox', { name: 'Group password' }).fill(password);
    await dialog.getByRole('button', { name: submit }).click();
  }

  async expectCurrent(group: string): Promise<void> {
    await expect(this.row(group)).toHaveAttribute('aria-current', 'true');
    await expect(this.row(group)).toContainText('Current group');
    await expect(this.page.getByText(`This machine is in ${group}.`)).toBeVisible();
  }

  async leave(group: string): Promise<void> {
    await this.row(group).getByRole('button', { name: 'Leave group' }).click();
    const dialog = this.dialog(`Leave ${group}?`);
    await dialog.getByRole('button', { name: 'Leave group' }).click();
    await expect(dialog).toBeHidden();
    await expect(this.row(group)).not.toHaveAttribute('aria-current', 'true');
    await expect(this.page.getByText('This machine is not in a group.')).toBeVisible();
  }

  // ── the group's menu ──

  async openMenu(group: string): Promise<Locator> {
    await this.row(group).getByRole('button', { name: `More actions for ${group}` }).click();
    const menu = this.page.getByRole('menu');
    await expect(menu).toBeVisible();
    return menu;
  }

  async menuItems(group: string): Promise<string[]> {
    const menu = await this.openMenu(group);
    // The label only (a disabled item also shows why, as secondary content).
    const names = (await menu.getByRole('menuitem').locator('.fui-MenuItem__content').allInnerTexts()).map((t) => t.trim());
    await this.page.keyboard.press('Escape');
    await expect(menu).toBeHidden();
    return names;
  }

  async choose(group: string, item: GroupMenuItem): Promise<void> {
    const menu = await this.openMenu(group);
    await menu.getByRole('menuitem', { name: item }).click();
  }

  async editPassword(group: string, password: string): Promise<void> {
    await this.choose(group, 'Edit group password');
    const dialog = this.dialog('Edit group password');
    await dialog.getByRole('textbox', { name: 'New password' }).fill(password);
    await dialog.getByRole('textbox', { name: 'Confirm password' }).fill(password);
    await dialog.getByRole('button', { name: 'Change' }).click();
    await expect(dialog).toBeHidden();
  }

  async delete(group: string): Promise<void> {
    await this.choose(group, 'Delete');
    const dialog = this.dialog(`Delete ${group}?`);
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await expect(dialog).toBeHidden();
    await expect(this.row(group)).toHaveCount(0);
  }

  async openDetails(group: string): Promise<Locator> {
    await this.row(group).getByRole('button', { name: group, exact: true }).click();
    const dialog = this.dialog(group);
    await expect(dialog).toBeVisible();
    return dialog;
  }

  async openManageAccess(group: string): Promise<ManageAccessDialog> {
    await this.choose(group, 'Manage access');
    const dialog = new ManageAccessDialog(this.page, this.dialog(`Manage access: ${group}`));
    await expect(dialog.people).toBeVisible();
    return dialog;
  }
}

export class ManageAccessDialog {
  constructor(
    readonly page: Page,
    readonly root: Locator,
  ) {}

  get people(): Locator {
    return this.root.getByRole('table', { name: /^People with access to / });
  }

  entry(displayName: string): Locator {
    return this.people.getByRole('row').filter({ hasText: displayName });
  }

  /** Searches for a person, picks them and gives them an access level. */
  async add(search: string, option: string | RegExp, access: 'Co-owner' | 'User'): Promise<void> {
    await this.root.getByRole('combobox', { name: 'Add people' }).fill(search);
    await this.page.getByRole('option', { name: option }).click();
    const level = this.root.getByRole('combobox', { name: 'Access', exact: true });
    await level.click();
    await this.page.getByRole('option', { name: access, exact: true }).click();
    await this.root.getByRole('button', { name: 'Add' }).click();
  }

  async close(): Promise<void> {
    await this.root.getByRole('button', { name: 'Close' }).click();
    await expect(this.root).toBeHidden();
  }
}
