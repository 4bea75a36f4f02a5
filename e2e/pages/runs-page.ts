/**
 * Runs in the app: a group's Run queue tab (in its details), this machine's Runs section (on
 * Machine settings), a run's log dialog, its menu (Queue events, Change priority, Move to top)
 * and queue events dialog, and the maintenance switch with its "Activate" prompt.
 */
import { expect, type Locator, type Page } from '@playwright/test';

/**
 * Waits until no toast is on screen: a toast fading out mid-scan reads as low contrast to axe,
 * so screens are scanned once the toasts of earlier steps are gone (they last 4 s).
 */
export async function toastsGone(page: Page): Promise<void> {
  await expect(page.locator('[id^="toast-title"]')).toHaveCount(0, { timeout: 10_000 });
}

/** The maintenance switch of a group (in its details) or of this machine (Machine settings). */
export class MaintenanceSwitch {
  constructor(
    readonly page: Page,
    readonly scope: Locator,
  ) {}

  get control(): Locator {
    return this.scope.getByRole('switch', { name: 'Maintenance mode' });
  }

  get confirmation(): Locator {
    return this.page.getByRole('dialog', { name: 'Activate maintenance mode?' });
  }

  /** Switches it on: the prompt asks first, "Activate" confirms. */
  async openActivation(): Promise<Locator> {
    await expect(this.control).not.toBeChecked();
    await this.control.click();
    await expect(this.confirmation).toBeVisible();
    return this.confirmation;
  }

  async activate(): Promise<void> {
    const dialog = await this.openActivation();
    await dialog.getByRole('button', { name: 'Activate' }).click();
    await expect(dialog).toBeHidden();
    await expect(this.control).toBeChecked();
  }

  async deactivate(): Promise<void> {
    await expect(this.control).toBeChecked();
    await this.control.click();
    await expect(this.control).not.toBeChecked();
  }
}

/** One of the run tables: "Running runs", "Queued runs", "Recently ended runs", "Current runs on this machine"… */
export class RunTable {
  constructor(readonly table: Locator) {}

  get rows(): Locator {
    // The header row holds column headers, not cells.
    return this.table.getByRole('row').filter({ has: this.table.page().getByRole('cell') });
  }

  row(text: string | RegExp): Locator {
    return this.rows.filter({ hasText: text });
  }
}

export class RunLogDialog {
  constructor(readonly root: Locator) {}

  get lines(): Locator {
    return this.root.getByRole('log');
  }

  async close(): Promise<void> {
    await this.root.getByRole('button', { name: 'Close', exact: true }).click();
    await expect(this.root).toBeHidden();
  }
}

/** A run's queue events: one sentence per event, oldest first. */
export class RunEventsDialog {
  constructor(readonly root: Locator) {}

  get events(): Locator {
    return this.root.getByRole('list', { name: /^Queue events of / }).getByRole('listitem');
  }

  async close(): Promise<void> {
    await this.root.getByRole('button', { name: 'Close', exact: true }).click();
    await expect(this.root).toBeHidden();
  }
}

/** What shows runs: the Run queue tab of a group's details, or the Runs section of Machine settings. */
export class RunsView {
  constructor(
    readonly page: Page,
    readonly scope: Locator,
  ) {}

  table(name: string): RunTable {
    return new RunTable(this.scope.getByRole('table', { name }));
  }

  async refresh(): Promise<void> {
    await this.scope.getByRole('button', { name: /^Refresh the run/ }).click();
  }

  async openLog(row: Locator, flow: string): Promise<RunLogDialog> {
    await row.getByRole('button', { name: `View the log of ${flow}` }).click();
    const dialog = this.page.getByRole('dialog', { name: `Log: ${flow}` });
    await expect(dialog).toBeVisible();
    return new RunLogDialog(dialog);
  }

  /** Opens a run's menu (its row's "More actions for the run of …"); returns the open menu. */
  async openMenu(row: Locator, flow: string): Promise<Locator> {
    await row.getByRole('button', { name: `More actions for the run of ${flow}` }).click();
    const menu = this.page.getByRole('menu');
    await expect(menu).toBeVisible();
    return menu;
  }

  /** What a run's menu offers: its items' names (menu items and priority choices). */
  async menuOffers(row: Locator, flow: string): Promise<string[]> {
    const menu = await this.openMenu(row, flow);
    const names = (await menu.locator('[role="menuitem"], [role="menuitemradio"]').allInnerTexts()).map((t) => t.trim());
    await this.page.keyboard.press('Escape');
    await expect(menu).toBeHidden();
    return names;
  }

  async changePriority(row: Locator, flow: string, priority: 'High' | 'Normal'): Promise<void> {
    const menu = await this.openMenu(row, flow);
    await menu.getByRole('menuitemradio', { name: `${priority} priority` }).click();
    await expect(menu).toBeHidden();
  }

  async moveToTop(row: Locator, flow: string): Promise<void> {
    const menu = await this.openMenu(row, flow);
    await menu.getByRole('menuitem', { name: 'Move to top' }).click();
    await expect(menu).toBeHidden();
  }

  async openEvents(row: Locator, flow: string): Promise<RunEventsDialog> {
    const menu = await this.openMenu(row, flow);
    await menu.getByRole('menuitem', { name: 'Queue events' }).click();
    const dialog = this.page.getByRole('dialog', { name: `Queue events: ${flow}` });
    await expect(dialog).toBeVisible();
    return new RunEventsDialog(dialog);
  }

  /** A group's details open on Machines; this switches to its Run queue tab. */
  static async groupQueue(page: Page, details: Locator): Promise<RunsView> {
    await details.getByRole('tab', { name: 'Run queue' }).click();
    await expect(details.getByRole('tab', { name: 'Run queue' })).toHaveAttribute('aria-selected', 'true');
    const view = new RunsView(page, details.getByRole('tabpanel'));
    await expect(view.scope.getByRole('heading', { name: /^Queued \(/ })).toBeVisible();
    return view;
  }

  static async machineRuns(page: Page): Promise<RunsView> {
    const section = page.getByRole('region', { name: 'Runs' });
    await expect(section).toBeVisible();
    return new RunsView(page, section);
  }
}
