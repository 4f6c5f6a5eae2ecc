export type ProviderType = 'github' | 'gitlab' | 'oauth2';

/** The git credentials an agent uses with an access token, mapped per provider type as the reference does. */
export function gitCredentials(type: ProviderType, accessToken: string): { username: string; password: string } {
  if (type === 'gitlab') return { username: 'oauth2', password: accessToken };
  return { username: accessToken, password: '' };
}
