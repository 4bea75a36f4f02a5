/** How the app writes times: one place, in the user's locale. */
export function formatTime(iso: string | null, options: { empty?: string; todayAsTime?: boolean } = {}): string {
  if (!iso) return options.empty ?? 'Never';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  if (options.todayAsTime && date.toDateString() === new Date().toDateString()) return date.toLocaleTimeString();
  return date.toLocaleString();
}
