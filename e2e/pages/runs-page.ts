/**
 * Runs in the app: a group's Run queue tab (in its details), this machine's Runs section (on
 * Machine settings), a run's log dialog, and the maintenance switch with its "Activate" prompt.
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
