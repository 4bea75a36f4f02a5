/** Troubleshoot: connectivity checks, versions, logs. */
import { expect, type Page } from '@playwright/test';

export class TroubleshootPage {
  constructor(readonly page: Page) {}

  async expectAllChecksPassed(): Promise<void> {
    const results = this.page.getByRole('table', { name: 'Diagnostic results' });
    await expect(results).toBeVisible();
    for (const check of ['Cloud reachable', 'Agent connected', 'Clock in sync']) {
      await expect(results.getByRole('row').filter({ hasText: check })).toContainText('Passed');
    }
    await expect(this.page.getByText(/^All checks passed/)).toBeVisible();
  }

  async exportLogs(): Promise<string> {
    await this.page.getByRole('button', { name: 'Export logs' }).click();
    const toast = this.page.getByText(/^Logs exported to /).first();
    await expect(toast).toBeVisible();
    return (await toast.textContent())!.replace(/^Logs exported to /, '');
  }
}
