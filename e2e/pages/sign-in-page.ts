/** Sign in, or "Set up this server" on a fresh server. */
import { expect, type Locator, type Page } from '@playwright/test';

export interface Account {
  email: string;
  password: string;
  displayName: string;
}

export class SignInPage {
  constructor(readonly page: Page) {}

  get serverAddress(): Locator {
    return this.page.getByRole('textbox', { name: 'Server address' });
  }

  async expectSetUpOffered(): Promise<void> {
    await expect(this.page.getByRole('heading', { level: 1, name: 'Set up this server' })).toBeVisible();
    await expect(this.page.getByText('This server is new: set it up below.')).toBeVisible();
  }

  async expectSignInOffered(): Promise<void> {
    await expect(this.page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
  }

  async setUp(account: Account): Promise<void> {
    await this.expectSetUpOffered();
    const form = this.page.getByRole('form', { name: 'First administrator' });
    await form.getByRole('textbox', { name: 'Display name' }).fill(account.displayName);
    await form.getByRole('textbox', { name: 'Email' }).fill(account.email);
    await form.getByRole('textbox', { name: 'Password', exact: true }).fill(account.password);
    await form.getByRole('textbox', { name: 'Confirm password' }).fill(account.password);
    await form.getByRole('button', { name: 'Set up this server' }).click();
  }

  async signIn(account: Pick<Account, 'email' | 'password'>): Promise<void> {
    await this.expectSignInOffered();
    const form = this.page.getByRole('form', { name: 'Your account' });
    await form.getByRole('textbox', { name: 'Email' }).fill(account.email);
    await form.getByRole('textbox', { name: 'Password', exact: true }).fill(account.password);
    await form.getByRole('button', { name: 'Sign in' }).click();
  }
}
