export async function noop(label: string): Promise<string> {
  return `done ${label}`;
}
